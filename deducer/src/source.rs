//! Loading an app crate: `cargo metadata` finds the package and its library and binary targets;
//! from each target's root file the module tree is followed through `mod x;` (`x.rs`,
//! `x/mod.rs`, `#[path]`) and inline modules. Modules behind `#[cfg(test)]` are skipped: test code
//! is not deployed.

use crate::architecture::SourceLocation;
use crate::diagnostics::{DeduceError, Diagnostic};
use proc_macro2::Span;
use std::path::{Path, PathBuf};
use syn::{Attribute, Item};

/// The package being deduced.
#[derive(Debug)]
pub struct Package {
    /// Package name from `Cargo.toml`.
    pub name: String,
    /// Directory holding `Cargo.toml`.
    pub root: PathBuf,
    /// Library and binary targets, each with its module tree.
    pub targets: Vec<Target>,
}

/// One library or binary target.
#[derive(Debug)]
pub struct Target {
    /// Crate name (`-` turned into `_`), the first segment of Rust paths.
    pub crate_name: String,
    /// Every module of the target, the root first.
    pub modules: Vec<Module>,
}

/// One module: a file, or an inline `mod x { ... }` inside one.
#[derive(Debug)]
pub struct Module {
    /// Path from the crate root, e.g. `["chat", "prompts"]` (empty for the root).
    pub path: Vec<String>,
    /// Index of the file in [`SourceFiles`].
    pub file: usize,
    /// The module's items.
    pub items: Vec<Item>,
}

/// The text of every file read, for locations and diagnostics.
#[derive(Debug, Default)]
pub struct SourceFiles {
    files: Vec<SourceFile>,
}

/// One file read.
#[derive(Debug)]
pub struct SourceFile {
    /// Path relative to the package root, `/`-separated.
    pub relative: String,
    /// Contents.
    pub text: String,
}

impl SourceFiles {
    /// The file with this index.
    pub fn get(&self, index: usize) -> &SourceFile {
        &self.files[index]
    }

    /// The location of `span` in file `index`.
    pub fn location(&self, index: usize, span: Span) -> SourceLocation {
        let start = span.start();
        SourceLocation {
            file: self.files[index].relative.clone(),
            line: start.line,
            column: start.column + 1,
        }
    }

    fn add(&mut self, relative: String, text: String) -> usize {
        self.files.push(SourceFile { relative, text });
        self.files.len() - 1
    }
}

/// Appended to the crate name of a binary that has the library's name.
pub const BINARY_SUFFIX: &str = "_bin";

/// Where to find the package.
#[derive(Debug, Clone, Default)]
pub struct PackageSelector {
    /// `--manifest-path`; default: the `Cargo.toml` cargo finds from the current directory.
    pub manifest_path: Option<PathBuf>,
    /// `-p NAME` in a workspace.
    pub package: Option<String>,
    /// The binary target that is deployed, when the package has several: only it (and the
    /// library) is read, so functions declared in another binary are not deduced. `None`: every
    /// binary.
    pub bin: Option<String>,
}

/// Finds the package with `cargo metadata` and reads its targets' module trees.
///
/// Module files that cannot be found or parsed are reported in the returned diagnostics; the
/// rest of the crate is still read.
pub fn load(
    selector: &PackageSelector,
) -> Result<(Package, SourceFiles, Vec<Diagnostic>), DeduceError> {
    let location = locate(selector)?;
    Ok(load_targets(
        &location.name,
        &location.root,
        &location.targets,
    ))
}

/// Where a package is, as `cargo metadata` says, without reading its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageLocation {
    /// Package name.
    pub name: String,
    /// Directory of its `Cargo.toml`.
    pub root: PathBuf,
    /// Its lib and bin targets: crate name and root file.
    pub targets: Vec<(String, PathBuf)>,
}

/// Finds the package with `cargo metadata`.
pub fn locate(selector: &PackageSelector) -> Result<PackageLocation, DeduceError> {
    let mut command = cargo_metadata::MetadataCommand::new();
    command.no_deps();
    if let Some(manifest) = &selector.manifest_path {
        command.manifest_path(manifest);
    }
    let metadata = command
        .exec()
        .map_err(|error| DeduceError::Metadata(error.to_string()))?;
    let package = match &selector.package {
        Some(name) => metadata
            .workspace_packages()
            .into_iter()
            .find(|package| package.name.as_str() == name)
            .ok_or_else(|| DeduceError::NoSuchPackage {
                name: name.clone(),
                available: member_names(&metadata),
            })?,
        None => {
            // The package whose manifest was given (or is in the current directory), else the
            // root package of a non-virtual workspace.
            let manifest = match &selector.manifest_path {
                Some(path) => Some(path.clone()),
                None => std::env::current_dir()
                    .ok()
                    .map(|dir| dir.join("Cargo.toml")),
            };
            let canonical = manifest.and_then(|path| path.canonicalize().ok());
            metadata
                .workspace_packages()
                .into_iter()
                .find(|package| {
                    canonical
                        .as_deref()
                        .is_some_and(|path| package.manifest_path.as_std_path() == path)
                })
                .or_else(|| metadata.root_package())
                .ok_or_else(|| DeduceError::AmbiguousPackage {
                    available: member_names(&metadata),
                })?
        }
    };
    let root = package
        .manifest_path
        .parent()
        .map(|dir| dir.as_std_path().to_path_buf())
        .unwrap_or_default();
    let library = package
        .targets
        .iter()
        .find(|target| target.kind.contains(&cargo_metadata::TargetKind::Lib))
        .map(|target| target.name.replace('-', "_"));
    let targets: Vec<(String, PathBuf)> = package
        .targets
        .iter()
        .filter(|target| {
            target.kind.contains(&cargo_metadata::TargetKind::Lib)
                || (target.kind.contains(&cargo_metadata::TargetKind::Bin)
                    && selector
                        .bin
                        .as_ref()
                        .is_none_or(|bin| target.name.as_str() == bin))
        })
        .map(|target| {
            let mut name = target.name.replace('-', "_");
            // A binary named like the library names the library by that name (`app::helper()`
            // in `src/main.rs`): its own items are keyed under `<name>_bin`, never colliding.
            if target.kind.contains(&cargo_metadata::TargetKind::Bin)
                && library.as_deref() == Some(name.as_str())
            {
                name.push_str(BINARY_SUFFIX);
            }
            (name, target.src_path.as_std_path().to_path_buf())
        })
        .collect();
    Ok(PackageLocation {
        name: package.name.to_string(),
        root,
        targets,
    })
}

/// Reads the module trees of `targets` (crate name, root file) of the package in `root`,
/// without asking cargo: what [`load`] does once it knows the targets.
pub fn load_targets(
    name: &str,
    root: &Path,
    targets: &[(String, PathBuf)],
) -> (Package, SourceFiles, Vec<Diagnostic>) {
    let mut files = SourceFiles::default();
    let mut diagnostics = Vec::new();
    let mut loaded = Vec::new();
    for (crate_name, root_file) in targets {
        let mut loader = ModuleLoader {
            root,
            files: &mut files,
            diagnostics: &mut diagnostics,
            modules: Vec::new(),
        };
        loader.load_file(root_file, Vec::new(), None);
        loaded.push(Target {
            crate_name: crate_name.clone(),
            modules: loader.modules,
        });
    }
    (
        Package {
            name: name.to_owned(),
            root: root.to_path_buf(),
            targets: loaded,
        },
        files,
        diagnostics,
    )
}

fn member_names(metadata: &cargo_metadata::Metadata) -> String {
    let names: Vec<String> = metadata
        .workspace_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    names.join(", ")
}

struct ModuleLoader<'a> {
    root: &'a Path,
    files: &'a mut SourceFiles,
    diagnostics: &'a mut Vec<Diagnostic>,
    modules: Vec<Module>,
}

/// Where a module's child `mod x;` files live, and the file/span that declared it (for errors).
struct ModuleContext {
    file: usize,
    children_dir: PathBuf,
}

impl ModuleLoader<'_> {
    fn relative(&self, path: &Path) -> String {
        let relative = path.strip_prefix(self.root).unwrap_or(path);
        relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Reads `path` as the module `module_path`; `declared_at` is the `mod x;` that named it.
    fn load_file(
        &mut self,
        path: &Path,
        module_path: Vec<String>,
        declared_at: Option<(usize, Span)>,
    ) {
        let relative = self.relative(path);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                let message = format!("cannot read {relative}: {error}");
                self.report(declared_at, message, None);
                return;
            }
        };
        let file = self.files.add(relative.clone(), text);
        let syntax = match syn::parse_file(&self.files.get(file).text) {
            Ok(syntax) => syntax,
            Err(error) => {
                let location = self.files.location(file, error.span());
                self.diagnostics.push(Diagnostic::error(
                    location,
                    format!("cannot parse {relative}: {error}"),
                    Some("fix the syntax error; `cargo check` shows it too".to_owned()),
                ));
                return;
            }
        };
        let is_mod_root =
            module_path.is_empty() || path.file_name().is_some_and(|name| name == "mod.rs");
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let children_dir = if is_mod_root {
            dir
        } else {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            dir.join(stem)
        };
        self.add_module(
            module_path,
            ModuleContext { file, children_dir },
            syntax.items,
        );
    }

    fn add_module(&mut self, module_path: Vec<String>, context: ModuleContext, items: Vec<Item>) {
        let mut children = Vec::new();
        for item in &items {
            if let Item::Mod(module) = item {
                if is_cfg_test(&module.attrs) {
                    continue;
                }
                children.push(module.clone());
            }
        }
        let file = context.file;
        self.modules.push(Module {
            path: module_path.clone(),
            file,
            items,
        });
        for module in children {
            let name = pluto_spec::parse::rust_name(&module.ident);
            let mut child_path = module_path.clone();
            child_path.push(name.clone());
            let explicit = path_attribute(&module.attrs);
            match module.content {
                Some((_, items)) => {
                    let children_dir = match &explicit {
                        Some(path) => context.children_dir.join(path),
                        None => context.children_dir.join(&name),
                    };
                    self.add_module(child_path, ModuleContext { file, children_dir }, items);
                }
                None => {
                    let span = module.ident.span();
                    let candidates = match &explicit {
                        Some(path) => vec![self.path_attribute_base(&context).join(path)],
                        None => vec![
                            context.children_dir.join(format!("{name}.rs")),
                            context.children_dir.join(&name).join("mod.rs"),
                        ],
                    };
                    match candidates.iter().find(|candidate| candidate.is_file()) {
                        Some(found) => {
                            self.load_file(&found.clone(), child_path, Some((file, span)))
                        }
                        None => {
                            let wanted: Vec<String> =
                                candidates.iter().map(|c| self.relative(c)).collect();
                            self.report(
                                Some((file, span)),
                                format!("cannot find the file of module `{name}`"),
                                Some(format!("create {}", wanted.join(" or "))),
                            );
                        }
                    }
                }
            }
        }
    }

    /// `#[path]` on a `mod x;` is relative to the directory of the file declaring it.
    fn path_attribute_base(&self, context: &ModuleContext) -> PathBuf {
        let declaring = self.root.join(&self.files.get(context.file).relative);
        declaring
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn report(
        &mut self,
        declared_at: Option<(usize, Span)>,
        message: String,
        hint: Option<String>,
    ) {
        let location = match declared_at {
            Some((file, span)) => self.files.location(file, span),
            None => SourceLocation {
                file: String::new(),
                line: 0,
                column: 0,
            },
        };
        self.diagnostics
            .push(Diagnostic::error(location, message, hint));
    }
}

/// Whether the attributes include `#[cfg(test)]`.
pub(crate) fn is_cfg_test(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "test")
    })
}

fn path_attribute(attrs: &[Attribute]) -> Option<PathBuf> {
    attrs.iter().find_map(|attr| match &attr.meta {
        syn::Meta::NameValue(name_value) if name_value.path.is_ident("path") => {
            match &name_value.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) => Some(PathBuf::from(lit.value())),
                _ => None,
            }
        }
        _ => None,
    })
}
