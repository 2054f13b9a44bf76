//! The deducer: static analysis of a Pluto app crate into its [`Architecture`] — the resources
//! it declares, its functions, and the least-privilege grants each function needs, with the call
//! chains that need them.
//!
//! `#[resource]` declarations are parsed with the same option model as the macro
//! (`pluto_spec::parse`), so the two can never disagree.

pub mod diagnostics;
pub mod discover;
pub mod expand;
pub mod resolve;
pub mod source;

/// The model the deducer produces (`pluto-model`), re-exported for the deducer's users.
pub use pluto_model::architecture;
pub use pluto_model::{
    ARCHITECTURE_VERSION, Architecture, CallChain, CallStep, Escape, Function, Grant, GrantSummary,
    Operation, Param, Resource, ResourceRef, ResourceSpec, ResponseMode, SourceLocation,
};

pub mod access;

use access::AccessAnalysis;
use diagnostics::{DeduceError, Diagnostic, Severity};
use discover::Declaration;
use pluto_spec::DeclaredSpec;
use source::PackageSelector;

/// What [`deduce`] found: the architecture, and warnings worth showing.
#[derive(Debug, Clone)]
pub struct Deduction {
    /// The app's architecture.
    pub architecture: Architecture,
    /// Warnings (errors make [`deduce`] fail instead).
    pub warnings: Vec<Diagnostic>,
    /// The directory of the app's `Cargo.toml` (where `.pluto/` lives).
    pub package_root: std::path::PathBuf,
}

/// Chains of calls kept per grant.
const MAX_CHAINS_PER_GRANT: usize = 3;

/// Stack of the thread [`deduce`] analyses on: syntax trees and call chains nest deeply, and
/// the analysis recurses through both (only the pages used are ever committed).
pub const ANALYSIS_STACK_BYTES: usize = 512 * 1024 * 1024;

/// Reads the app crate and deduces its architecture.
///
/// Fails with every error found ([`DeduceError::Invalid`]) rather than the first one.
pub fn deduce(selector: &PackageSelector) -> Result<Deduction, DeduceError> {
    let selector = selector.clone();
    std::thread::Builder::new()
        .name("pluto-deducer".to_owned())
        .stack_size(ANALYSIS_STACK_BYTES)
        .spawn(move || deduce_here(&selector))
        .map_err(|error| DeduceError::Thread(error.to_string()))?
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Where the item with full path `target` is named in the crate's code (module-level names).
fn references(
    package: &source::Package,
    files: &source::SourceFiles,
    defs: &resolve::DefMap,
    target: &[String],
) -> Vec<SourceLocation> {
    use syn::visit::Visit;
    struct Finder<'a> {
        defs: &'a resolve::DefMap,
        module: Vec<String>,
        target: &'a [String],
        found: Vec<proc_macro2::Span>,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_path(&mut self, path: &'ast syn::Path) {
            let written = resolve::segments(path);
            let named = self
                .defs
                .resolve(&self.module, &[], &written, resolve::Namespace::Value)
                .iter()
                .any(|def| def.path() == self.target);
            if named {
                self.found.push(syn::spanned::Spanned::span(path));
            }
            syn::visit::visit_path(self, path);
        }
        fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {}
    }
    let mut out = Vec::new();
    for target_crate in &package.targets {
        for module in &target_crate.modules {
            let mut module_path = vec![target_crate.crate_name.clone()];
            module_path.extend(module.path.iter().cloned());
            let mut finder = Finder {
                defs,
                module: module_path,
                target,
                found: Vec::new(),
            };
            for item in &module.items {
                finder.visit_item(item);
            }
            out.extend(
                finder
                    .found
                    .into_iter()
                    .map(|span| files.location(module.file, span)),
            );
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Warnings for `.url()` calls (exact ones) on functions declared with `url = "none"`: they
/// would fail every time they run.
fn urls_of_functions_without_one(functions: &[Function]) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for function in functions {
        for grant in &function.grants {
            if grant.operation != Operation::FunctionUrl || grant.escaped.is_some() {
                continue;
            }
            let has_none = functions.iter().any(|target| {
                target.spec.name == grant.resource.name && !target.spec.url.has_url()
            });
            let place = grant
                .provenance
                .first()
                .and_then(|chain| chain.steps.last())
                .map_or_else(|| function.source.clone(), |step| step.location.clone());
            if has_none {
                found.push(Diagnostic::warning(
                    place,
                    format!(
                        "function `{}` reads the URL of function `{}`, which has none (url = \"{}\")",
                        function.spec.name,
                        grant.resource.name,
                        pluto_spec::UrlAuth::None
                    ),
                    Some(format!(
                        "`.url()` fails there every time: declare `url = \"{}\"` or `url = \"{}\"` on `{}`",
                        pluto_spec::UrlAuth::Iam,
                        pluto_spec::UrlAuth::Public,
                        grant.resource.name
                    )),
                ));
            }
        }
    }
    found
}

fn deduce_here(selector: &PackageSelector) -> Result<Deduction, DeduceError> {
    let (package, files, mut diagnostics) = source::load(selector)?;
    let defs = resolve::DefMap::new(&package);
    let (declarations, found) = discover::discover(&package, &files, &defs);
    diagnostics.extend(found);
    if declarations.is_empty()
        && let Some(root) = package
            .targets
            .iter()
            .find_map(|target| target.modules.first())
    {
        diagnostics.push(Diagnostic::warning(
            SourceLocation {
                file: files.get(root.file).relative.clone(),
                line: 1,
                column: 1,
            },
            format!(
                "package `{}` declares no resource and no function: there is nothing to run or deploy",
                package.name
            ),
            Some(
                "mark the handlers with #[resource(function)] and the stores, buckets, secrets and \
                 models they use with #[resource(kv_store)], #[resource(bucket)], \
                 #[resource(secret)] or #[resource(sagemaker(...))]"
                    .to_owned(),
            ),
        ));
    }
    let mut analysis = AccessAnalysis::new(&package, &files, &defs, &declarations);
    let mut resources = Vec::new();
    let mut functions = Vec::new();
    let handlers: Vec<&Declaration> = declarations
        .iter()
        .filter(|declaration| matches!(declaration.spec, DeclaredSpec::Function(_)))
        .collect();
    let mut handler_reaches = analysis.handlers_reaches(&handlers).into_iter();
    diagnostics.extend(analysis.errors());
    for declaration in &declarations {
        let rust_path = declaration.rust_path_text();
        match &declaration.spec {
            DeclaredSpec::Function(spec) => {
                let reaches = handler_reaches.next().unwrap_or_default();
                let handler = CallStep {
                    call: spec.name.clone(),
                    location: declaration.location.clone(),
                };
                functions.push(Function {
                    spec: spec.clone(),
                    rust_path,
                    params: declaration.params.clone(),
                    response: declaration.response,
                    source: declaration.location.clone(),
                    grants: access::merge(reaches, handler, MAX_CHAINS_PER_GRANT),
                });
            }
            DeclaredSpec::Sagemaker(spec) => resources.push(Resource {
                spec: ResourceSpec::Sagemaker(spec.clone()),
                rust_path,
                source: declaration.location.clone(),
            }),
            DeclaredSpec::KvStore(spec) => resources.push(Resource {
                spec: ResourceSpec::KvStore(spec.clone()),
                rust_path,
                source: declaration.location.clone(),
            }),
            DeclaredSpec::Bucket(spec) => resources.push(Resource {
                spec: ResourceSpec::Bucket(spec.clone()),
                rust_path,
                source: declaration.location.clone(),
            }),
            DeclaredSpec::Secret(spec) => resources.push(Resource {
                spec: ResourceSpec::Secret(spec.clone()),
                rust_path,
                source: declaration.location.clone(),
            }),
        }
    }
    for resource in &resources {
        let used = functions.iter().any(|function| {
            function.grants.iter().any(|grant| {
                grant.resource.kind == resource.spec.kind()
                    && grant.resource.name == resource.spec.name()
            })
        });
        if !used {
            let declared = declarations
                .iter()
                .find(|declaration| declaration.rust_path_text() == resource.rust_path);
            let places = declared
                .map(|declaration| references(&package, &files, &defs, &declaration.rust_path))
                .unwrap_or_default();
            let hint = if places.is_empty() {
                "it is still created; remove the declaration if it is not needed".to_owned()
            } else {
                let places: Vec<String> = places.iter().map(ToString::to_string).collect();
                format!(
                    "it is referenced at {}, in code no function reaches; it is still created",
                    places.join(", ")
                )
            };
            diagnostics.push(Diagnostic::warning(
                resource.source.clone(),
                format!(
                    "{} `{}` is declared but no function uses it",
                    resource.spec.kind(),
                    resource.spec.name()
                ),
                Some(hint),
            ));
        }
    }
    diagnostics.extend(urls_of_functions_without_one(&functions));
    resources.sort_by(|a, b| (a.spec.name(), a.spec.kind()).cmp(&(b.spec.name(), b.spec.kind())));
    functions.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    diagnostics.sort();
    diagnostics.dedup();
    if diagnostics
        .iter()
        .any(|diagnostic| diagnostic.severity == Severity::Error)
    {
        return Err(DeduceError::Invalid(diagnostics));
    }
    let architecture = Architecture {
        version: ARCHITECTURE_VERSION,
        project: package.name,
        resources,
        functions,
    };
    Ok(Deduction {
        architecture,
        warnings: diagnostics,
        package_root: package.root,
    })
}
