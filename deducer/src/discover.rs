//! Finding the `#[resource]` declarations of a crate, however the attribute is named in scope
//! (`#[pluto::resource]`, `use pluto::resource as res;`, `use pluto::*;`), with their options
//! parsed by the same option model as the macro.

use crate::architecture::{Param, ResponseMode, SourceLocation};
use crate::diagnostics::Diagnostic;
use crate::resolve::{DefMap, Namespace, segments};
use crate::source::{Package, SourceFiles};
use pluto_spec::parse::{
    FnItem, check_handle_declaration, check_handler, parse_resource_args, rust_name, type_text,
};
use pluto_spec::{DeclaredSpec, ResourceKind};
use std::collections::BTreeMap;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Attribute, Item};

/// The path of the attribute macro.
pub const RESOURCE_ATTRIBUTE: &[&str] = &["pluto", "resource"];

/// One `#[resource]` declaration.
#[derive(Debug, Clone)]
pub struct Declaration {
    /// The resolved options.
    pub spec: DeclaredSpec,
    /// Full Rust path of the declaring function: crate, modules, name.
    pub rust_path: Vec<String>,
    /// Where the function's name is.
    pub location: SourceLocation,
    /// Handler parameters (functions only).
    pub params: Vec<Param>,
    /// How the function answers (functions only): it streams when it returns `TextStream`.
    pub response: ResponseMode,
    /// Target and module indexes in the [`Package`].
    pub module: (usize, usize),
}

impl Declaration {
    /// `crate::module::name`.
    pub fn rust_path_text(&self) -> String {
        self.rust_path.join("::")
    }
}

/// Finds every declaration; bad ones become diagnostics.
pub fn discover(
    package: &Package,
    files: &SourceFiles,
    defs: &DefMap,
) -> (Vec<Declaration>, Vec<Diagnostic>) {
    let mut declarations = Vec::new();
    let mut diagnostics = Vec::new();
    for (target_index, target) in package.targets.iter().enumerate() {
        for (module_index, module) in target.modules.iter().enumerate() {
            let mut module_path = vec![target.crate_name.clone()];
            module_path.extend(module.path.iter().cloned());
            let is_resource = |attr: &Attribute| is_resource_attribute(attr, defs, &module_path);
            for item in &module.items {
                let mut nested = NestedDeclarations {
                    is_resource: &is_resource,
                    files,
                    file: module.file,
                    found: &mut diagnostics,
                };
                match item {
                    Item::Fn(function) => {
                        nested.visit_block(&function.block);
                        if !function.attrs.iter().any(&is_resource) {
                            continue;
                        }
                    }
                    Item::Verbatim(_) => {}
                    other => {
                        nested.visit_item(other);
                        continue;
                    }
                }
                // Only declarations are turned into owned `FnItem`s (bodiless ones are verbatim).
                let Some(function) = as_fn_item(item) else {
                    continue;
                };
                let Some(attribute) = function.attrs.iter().find(|attr| is_resource(attr)) else {
                    continue;
                };
                let location = files.location(module.file, function.sig.ident.span());
                let mut rust_path = vec![target.crate_name.clone()];
                rust_path.extend(module.path.iter().cloned());
                rust_path.push(rust_name(&function.sig.ident));
                match declaration(attribute, &function) {
                    Ok((spec, params, response)) => declarations.push(Declaration {
                        spec,
                        rust_path,
                        location,
                        params,
                        response,
                        module: (target_index, module_index),
                    }),
                    Err(error) => {
                        diagnostics.push(Diagnostic::error(
                            files.location(module.file, error.span()),
                            error.to_string(),
                            Some(
                                "`cargo build` reports the same error from the #[resource] macro"
                                    .to_owned(),
                            ),
                        ));
                    }
                }
            }
        }
    }
    diagnostics.extend(duplicate_names(&declarations));
    (declarations, diagnostics)
}

/// The item as a function, including bodiless `fn x() -> KvStore;` (which syn keeps verbatim).
pub(crate) fn as_fn_item(item: &Item) -> Option<FnItem> {
    match item {
        Item::Fn(function) => Some(FnItem {
            attrs: function.attrs.clone(),
            vis: function.vis.clone(),
            sig: function.sig.clone(),
            body: Some(function.block.clone()),
        }),
        Item::Verbatim(tokens) => syn::parse2::<FnItem>(tokens.clone()).ok(),
        _ => None,
    }
}

/// Whether the attribute, written in `module`, is Pluto's `#[resource]`, however it is imported.
fn is_resource_attribute(attribute: &Attribute, defs: &DefMap, module: &[String]) -> bool {
    let path = attribute.path();
    let written = segments(path);
    let defs = if path.leading_colon.is_some() {
        defs.resolve_absolute(&written, Namespace::Macro)
    } else {
        defs.resolve(module, &[], &written, Namespace::Macro)
    };
    defs.iter().any(|def| def.is_extern(RESOURCE_ATTRIBUTE))
}

fn declaration(
    attribute: &Attribute,
    function: &FnItem,
) -> syn::Result<(DeclaredSpec, Vec<Param>, ResponseMode)> {
    let args = match &attribute.meta {
        syn::Meta::List(list) => list.tokens.clone(),
        _ => proc_macro2::TokenStream::new(),
    };
    let spec = parse_resource_args(args, &function.sig.ident)?;
    let (params, response) = match spec.kind() {
        ResourceKind::Function => {
            let signature = check_handler(function)?;
            let params = signature
                .params
                .iter()
                .map(|param| Param {
                    name: param.name(),
                    ty: type_text(&param.ty),
                })
                .collect();
            let response = if signature.streams {
                ResponseMode::Stream
            } else {
                ResponseMode::Buffered
            };
            (params, response)
        }
        kind => {
            check_handle_declaration(kind, function)?;
            (Vec::new(), ResponseMode::Buffered)
        }
    };
    Ok((spec, params, response))
}

fn duplicate_names(declarations: &[Declaration]) -> Vec<Diagnostic> {
    let mut first_by_name: BTreeMap<&str, &Declaration> = BTreeMap::new();
    let mut diagnostics = Vec::new();
    for declaration in declarations {
        let name = declaration.spec.name();
        match first_by_name.get(name) {
            Some(first) => diagnostics.push(Diagnostic::error(
                declaration.location.clone(),
                format!(
                    "the name `{name}` is already used by the {} declared at {} ({})",
                    first.spec.kind(),
                    first.location,
                    first.rust_path_text()
                ),
                Some(format!(
                    "names are unique across an app's resources and functions: give this one another `name = \"...\"`, e.g. `{name}-2`"
                )),
            )),
            None => {
                first_by_name.insert(name, declaration);
            }
        }
    }
    diagnostics
}

/// Finds `#[resource]` items that are not at module level (inside function bodies or blocks).
struct NestedDeclarations<'a> {
    is_resource: &'a dyn Fn(&Attribute) -> bool,
    files: &'a SourceFiles,
    file: usize,
    found: &'a mut Vec<Diagnostic>,
}

impl<'ast> Visit<'ast> for NestedDeclarations<'_> {
    fn visit_block(&mut self, block: &'ast syn::Block) {
        for statement in &block.stmts {
            if let syn::Stmt::Item(item) = statement
                && let Some(function) = as_fn_item(item)
                && let Some(attribute) = function.attrs.iter().find(|a| (self.is_resource)(a))
            {
                self.found.push(Diagnostic::error(
                    self.files.location(self.file, attribute.span()),
                    format!("`{}` is declared inside a function body", function.sig.ident),
                    Some(
                        "declare resources and functions at module level, where every function can \
                         use them and Pluto can name them"
                            .to_owned(),
                    ),
                ));
            }
        }
        syn::visit::visit_block(self, block);
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // Modules are visited as modules of their own.
    }
}
