//! Name resolution, as rustc does it for the paths the deducer follows: the one place that turns
//! a path written somewhere in the crate into the item it names.
//!
//! Every module's scope holds its own items and its imports. `use` trees of every form (single,
//! nested groups, `as` renames, `self`, globs, `pub use` re-exports and chains of them) are
//! resolved to a fixpoint, with 2018-edition paths: relative to the module, `crate::`, `self::`,
//! `super::`, or an external crate. Blocks add their own items and `use`s ([`BlockScope`]);
//! locals are the walker's business (it checks them first). Visibility is not checked: the crate
//! compiles, so a path that resolves at all resolves to the item rustc chose.
//!
//! A path that leaves the package resolves to [`Def::Extern`] with its full path
//! (`use std::sync::Arc as Shared; Shared::new` is `std::sync::Arc::new`); names no scope has
//! (the preludes: `Some`, `Box`, `drop`) resolve to themselves as external paths.

use crate::source::{Package, is_cfg_test};
use pluto_spec::parse::rust_name;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use syn::{Item, UseTree};

/// Rust's namespaces: a name can mean a type or module, a value, and a macro at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// Modules, structs, enums, traits, type aliases.
    Type,
    /// Functions, constants, statics, tuple-struct constructors.
    Value,
    /// Macros (`macro_rules!`, attribute macros).
    Macro,
}

const NAMESPACES: [Namespace; 3] = [Namespace::Type, Namespace::Value, Namespace::Macro];

/// What kind of item of the package a [`Def::Local`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefKind {
    /// A function (free, nested, or a bodiless `#[resource]` declaration).
    Fn,
    /// A struct or union (its name is a type, and for tuple structs a constructor too).
    Struct,
    /// An enum.
    Enum,
    /// A trait.
    Trait,
    /// A `const` or `static`.
    Static,
    /// A type alias.
    TypeAlias,
    /// A `macro_rules!` macro.
    Macro,
    /// `Type::name` where `Type` is a local type: an associated function, constant or variant.
    Associated,
}

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Def {
    /// A module of the package: its full path, crate name first.
    Module(Vec<String>),
    /// An item of the package: its full path (crate, modules, name) and kind.
    Local(Vec<String>, DefKind),
    /// Something outside the package, by its full written path (`["std", "sync", "Arc"]`).
    Extern(Vec<String>),
}

impl Def {
    /// The full path.
    pub fn path(&self) -> &[String] {
        match self {
            Def::Module(path) | Def::Local(path, _) | Def::Extern(path) => path,
        }
    }

    /// Whether this is the external item `target` (a full path such as `["pluto", "resource"]`).
    /// Items of `pluto` also match through its modules (`pluto::chain::llm::SageMakerLlm`).
    pub fn is_extern(&self, target: &[&str]) -> bool {
        let Def::Extern(path) = self else {
            return false;
        };
        if path.iter().map(String::as_str).eq(target.iter().copied()) {
            return true;
        }
        // `pluto::x::y::Name` for `pluto::Name`: the runtime re-exports from its modules.
        match (path.first(), target.first(), target.len()) {
            (Some(first), Some(&"pluto"), 2..) if first == "pluto" => {
                let tail = &target[1..];
                path.len() > target.len()
                    && path[path.len() - tail.len()..]
                        .iter()
                        .map(String::as_str)
                        .eq(tail.iter().copied())
            }
            _ => false,
        }
    }

    fn child(&self, segment: &str) -> Def {
        let mut path = self.path().to_vec();
        path.push(segment.to_owned());
        match self {
            Def::Extern(_) => Def::Extern(path),
            _ => Def::Local(path, DefKind::Associated),
        }
    }
}

/// One `use` of a module or block, flattened from its tree.
#[derive(Debug, Clone)]
struct UseEntry {
    /// The imported path, as written.
    path: Vec<String>,
    /// Written with a leading `::` (an external crate).
    absolute: bool,
    /// The name it is bound to (`None` for a glob, `_` is never bound).
    alias: Option<String>,
}

impl UseEntry {
    fn is_glob(&self) -> bool {
        self.alias.is_none()
    }
}

/// The names one module (or block) brings into scope.
#[derive(Debug, Default, Clone)]
struct Scope {
    /// Items declared here and names imported by name, per namespace.
    names: HashMap<(Namespace, String), Def>,
    /// Modules, enums and external paths glob-imported here.
    globs: Vec<Def>,
    /// `use`s not resolved yet (taken out as they resolve).
    pending: Vec<UseEntry>,
}

/// The names a block declares: its items and its `use`s, resolved where the block is.
#[derive(Debug, Default, Clone)]
pub struct BlockScope {
    scope: Scope,
}

impl BlockScope {
    /// Whether the block declares or imports nothing.
    pub fn is_empty(&self) -> bool {
        self.scope.names.is_empty() && self.scope.globs.is_empty()
    }
}

/// A name looked up in a module: (module path, namespace, name).
type LookupKey = (Vec<String>, Namespace, String);

/// Every module scope of the package, resolved.
#[derive(Debug, Default)]
pub struct DefMap {
    /// Module scopes by full module path (crate first).
    modules: HashMap<Vec<String>, Scope>,
    /// Crate names of the package's targets (a binary can name its library crate).
    crates: HashSet<String>,
    /// `macro_rules!` names defined anywhere in the package, with their full paths.
    macros: HashMap<String, Vec<Vec<String>>>,
    /// Names already looked up in a module (once imports are resolved): glob chains are walked
    /// once per name, not once per path written.
    cache: RefCell<HashMap<LookupKey, Vec<Def>>>,
    /// Whether imports are resolved (the cache is filled only then).
    resolved: bool,
}

impl DefMap {
    /// Builds the scopes of every module of every target and resolves their imports.
    pub fn new(package: &Package) -> Self {
        let mut map = DefMap::default();
        for target in &package.targets {
            map.crates.insert(target.crate_name.clone());
            for module in &target.modules {
                let mut path = vec![target.crate_name.clone()];
                path.extend(module.path.iter().cloned());
                let mut scope = Scope::default();
                for item in &module.items {
                    declare_item(&mut scope, &path, item, &mut map.macros);
                }
                map.modules.insert(path, scope);
            }
        }
        map.resolve_imports();
        map.resolved = true;
        map
    }

    /// Resolves pending `use`s until no more resolve; what is left names other crates.
    fn resolve_imports(&mut self) {
        loop {
            let mut progressed = false;
            let module_paths: Vec<Vec<String>> = self.modules.keys().cloned().collect();
            for module in module_paths {
                let pending = match self.modules.get_mut(&module) {
                    Some(scope) => std::mem::take(&mut scope.pending),
                    None => continue,
                };
                let mut still = Vec::new();
                for entry in pending {
                    match self.resolve_use(&module, &[], &entry, false) {
                        Some(bindings) => {
                            progressed = true;
                            if let Some(scope) = self.modules.get_mut(&module) {
                                bind(scope, &entry, bindings);
                            }
                        }
                        None => still.push(entry),
                    }
                }
                if let Some(scope) = self.modules.get_mut(&module) {
                    scope.pending = still;
                }
            }
            if !progressed {
                break;
            }
        }
        // What is left cannot be resolved inside the package: external paths (or paths into
        // items that macros generate, which are followed as external too).
        let module_paths: Vec<Vec<String>> = self.modules.keys().cloned().collect();
        for module in module_paths {
            let pending = match self.modules.get_mut(&module) {
                Some(scope) => std::mem::take(&mut scope.pending),
                None => continue,
            };
            for entry in pending {
                if let Some(bindings) = self.resolve_use(&module, &[], &entry, true)
                    && let Some(scope) = self.modules.get_mut(&module)
                {
                    bind(scope, &entry, bindings);
                }
            }
        }
    }

    /// The scope a block adds, given the scopes around it: its items (`fn`s keyed under
    /// `function`, the full path of the function the block is in) and its `use`s.
    pub fn block_scope(
        &self,
        module: &[String],
        outer: &[BlockScope],
        function: &[String],
        items: &[&Item],
    ) -> BlockScope {
        let mut scope = Scope::default();
        let mut ignored = HashMap::new();
        for item in items {
            declare_item(&mut scope, function, item, &mut ignored);
        }
        // Block items other than functions are keyed under the module (as rustc's defs are
        // keyed under the function, but the deducer only indexes nested functions by it).
        let pending = std::mem::take(&mut scope.pending);
        let mut block = BlockScope { scope };
        for entry in pending {
            let mut scopes = outer.to_vec();
            scopes.push(block.clone());
            if let Some(bindings) = self.resolve_use(module, &scopes, &entry, true) {
                bind(&mut block.scope, &entry, bindings);
            }
        }
        block
    }

    /// What `path`, written in `module` inside the blocks `blocks` (outermost first), names in
    /// namespace `namespace`: the first definition rustc would pick, then further candidates
    /// (several glob imports of external crates can each provide a name).
    pub fn resolve(
        &self,
        module: &[String],
        blocks: &[BlockScope],
        path: &[String],
        namespace: Namespace,
    ) -> Vec<Def> {
        self.resolve_path(module, blocks, path, false, namespace, true)
    }

    /// Like [`DefMap::resolve`] for a path written with a leading `::`.
    pub fn resolve_absolute(&self, path: &[String], namespace: Namespace) -> Vec<Def> {
        self.resolve_path(&[], &[], path, true, namespace, true)
    }

    /// The `macro_rules!` macros of the package named `name` (full paths).
    pub fn macros_named(&self, name: &str) -> &[Vec<String>] {
        self.macros.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether `path` is a module of the package.
    pub fn is_module(&self, path: &[String]) -> bool {
        self.modules.contains_key(path)
    }

    fn resolve_use(
        &self,
        module: &[String],
        blocks: &[BlockScope],
        entry: &UseEntry,
        final_pass: bool,
    ) -> Option<Vec<(Namespace, Def)>> {
        if entry.is_glob() {
            let target = self
                .resolve_path(
                    module,
                    blocks,
                    &entry.path,
                    entry.absolute,
                    Namespace::Type,
                    final_pass,
                )
                .into_iter()
                .next()?;
            return Some(vec![(Namespace::Type, target)]);
        }
        let mut bindings = Vec::new();
        for namespace in NAMESPACES {
            if let Some(def) = self
                .resolve_path(
                    module,
                    blocks,
                    &entry.path,
                    entry.absolute,
                    namespace,
                    final_pass,
                )
                .into_iter()
                .next()
            {
                bindings.push((namespace, def));
            }
        }
        (!bindings.is_empty()).then_some(bindings)
    }

    /// Resolves a path; `assume_extern` turns a first segment no scope has into an external
    /// crate or prelude name (off while imports are still being resolved).
    fn resolve_path(
        &self,
        module: &[String],
        blocks: &[BlockScope],
        path: &[String],
        absolute: bool,
        namespace: Namespace,
        assume_extern: bool,
    ) -> Vec<Def> {
        let Some((first, rest)) = path.split_first() else {
            return Vec::new();
        };
        let first_namespace = if rest.is_empty() {
            namespace
        } else {
            Namespace::Type
        };
        let starts: Vec<Def> = if absolute {
            vec![self.crate_or_extern(first)]
        } else {
            match first.as_str() {
                "crate" => vec![Def::Module(module.iter().take(1).cloned().collect())],
                "self" if !rest.is_empty() || namespace == Namespace::Type => {
                    vec![Def::Module(module.to_vec())]
                }
                "super" => {
                    let mut parent = module.to_vec();
                    parent.pop();
                    vec![Def::Module(parent)]
                }
                _ => {
                    let found =
                        self.lookup_scoped(module, blocks, first, first_namespace, assume_extern);
                    if !found.is_empty() {
                        found
                    } else if self.crates.contains(first) {
                        vec![Def::Module(vec![first.clone()])]
                    } else if assume_extern {
                        vec![Def::Extern(vec![first.clone()])]
                    } else {
                        Vec::new()
                    }
                }
            }
        };
        let mut out = Vec::new();
        for start in starts {
            let mut current = vec![start];
            for (index, segment) in rest.iter().enumerate() {
                let segment_namespace = if index + 1 == rest.len() {
                    namespace
                } else {
                    Namespace::Type
                };
                let mut next = Vec::new();
                for def in current {
                    next.extend(self.step(&def, segment, segment_namespace, assume_extern));
                }
                current = next;
            }
            out.extend(current);
        }
        out
    }

    /// `def::segment`.
    fn step(
        &self,
        def: &Def,
        segment: &str,
        namespace: Namespace,
        assume_extern: bool,
    ) -> Vec<Def> {
        match def {
            Def::Module(module) => {
                if segment == "super" {
                    let mut parent = module.clone();
                    parent.pop();
                    return vec![Def::Module(parent)];
                }
                if segment == "self" {
                    return vec![def.clone()];
                }
                let found = self.lookup_module(module, segment, namespace, assume_extern);
                if found.is_empty() && assume_extern && !self.modules.contains_key(module) {
                    // A module the loader could not read: keep the path.
                    return vec![def.child(segment)];
                }
                found
            }
            Def::Extern(_) => vec![def.child(segment)],
            Def::Local(_, kind) => match kind {
                DefKind::Struct
                | DefKind::Enum
                | DefKind::Trait
                | DefKind::TypeAlias
                | DefKind::Associated => vec![def.child(segment)],
                _ => Vec::new(),
            },
        }
    }

    /// A name as the first segment of a path: blocks (innermost first), then the module.
    fn lookup_scoped(
        &self,
        module: &[String],
        blocks: &[BlockScope],
        name: &str,
        namespace: Namespace,
        externs: bool,
    ) -> Vec<Def> {
        for block in blocks.iter().rev() {
            if let Some(def) = block.scope.names.get(&(namespace, name.to_owned())) {
                return vec![def.clone()];
            }
        }
        for block in blocks.iter().rev() {
            let found = self.lookup_in_globs(
                &block.scope.globs,
                name,
                namespace,
                externs,
                &mut HashSet::new(),
            );
            if !found.is_empty() {
                return found;
            }
        }
        self.lookup_module(module, name, namespace, externs)
    }

    /// [`DefMap::lookup_in_module`] from the top, cached once imports are resolved.
    fn lookup_module(
        &self,
        module: &[String],
        name: &str,
        namespace: Namespace,
        externs: bool,
    ) -> Vec<Def> {
        if !self.resolved || !externs {
            return self.lookup_in_module(module, name, namespace, externs, &mut HashSet::new());
        }
        let key = (module.to_vec(), namespace, name.to_owned());
        if let Some(found) = self.cache.borrow().get(&key) {
            return found.clone();
        }
        let found = self.lookup_in_module(module, name, namespace, externs, &mut HashSet::new());
        self.cache.borrow_mut().insert(key, found.clone());
        found
    }

    /// A name in a module's scope: its items and named imports, then its glob imports
    /// (`externs`: including globs of external crates, which may hold any name).
    fn lookup_in_module(
        &self,
        module: &[String],
        name: &str,
        namespace: Namespace,
        externs: bool,
        visited: &mut HashSet<Vec<String>>,
    ) -> Vec<Def> {
        if !visited.insert(module.to_vec()) {
            return Vec::new();
        }
        let Some(scope) = self.modules.get(module) else {
            return Vec::new();
        };
        if let Some(def) = scope.names.get(&(namespace, name.to_owned())) {
            return vec![def.clone()];
        }
        if namespace == Namespace::Macro
            && let Some(paths) = self.macros.get(name)
        {
            // `macro_rules!` macros are in scope textually; any of the package's will do.
            return paths
                .iter()
                .map(|path| Def::Local(path.clone(), DefKind::Macro))
                .collect();
        }
        self.lookup_in_globs(&scope.globs, name, namespace, externs, visited)
    }

    fn lookup_in_globs(
        &self,
        globs: &[Def],
        name: &str,
        namespace: Namespace,
        externs: bool,
        visited: &mut HashSet<Vec<String>>,
    ) -> Vec<Def> {
        // Globs of the package's own modules first: they are known to hold the name or not;
        // an external glob may hold any name.
        let mut extern_defs = Vec::new();
        for glob in globs {
            match glob {
                Def::Module(target) => {
                    let found = self.lookup_in_module(target, name, namespace, externs, visited);
                    if !found.is_empty() {
                        return found;
                    }
                }
                Def::Local(_, DefKind::Enum) => {
                    if namespace != Namespace::Macro {
                        return vec![glob.child(name)];
                    }
                }
                Def::Extern(_) => extern_defs.push(glob.child(name)),
                Def::Local(..) => {}
            }
        }
        if externs { extern_defs } else { Vec::new() }
    }

    fn crate_or_extern(&self, name: &str) -> Def {
        if self.crates.contains(name) {
            Def::Module(vec![name.to_owned()])
        } else {
            Def::Extern(vec![name.to_owned()])
        }
    }
}

/// Binds what `entry` resolved to in `scope`.
fn bind(scope: &mut Scope, entry: &UseEntry, bindings: Vec<(Namespace, Def)>) {
    match &entry.alias {
        None => scope.globs.extend(bindings.into_iter().map(|(_, def)| def)),
        Some(alias) if alias == "_" => {}
        Some(alias) => {
            for (namespace, def) in bindings {
                // An item declared here wins over an import of the same name.
                scope.names.entry((namespace, alias.clone())).or_insert(def);
            }
        }
    }
}

/// Adds what `item`, declared in the module or function `parent`, brings into `scope`.
fn declare_item(
    scope: &mut Scope,
    parent: &[String],
    item: &Item,
    macros: &mut HashMap<String, Vec<Vec<String>>>,
) {
    let child = |name: String| {
        let mut path = parent.to_vec();
        path.push(name);
        path
    };
    let mut declare = |namespace: Namespace, name: String, def: Def| {
        scope.names.insert((namespace, name), def);
    };
    match item {
        Item::Fn(function) => {
            if function
                .attrs
                .iter()
                .any(|attr| is_cfg_test(std::slice::from_ref(attr)))
            {
                return;
            }
            let name = rust_name(&function.sig.ident);
            declare(
                Namespace::Value,
                name.clone(),
                Def::Local(child(name), DefKind::Fn),
            );
        }
        Item::Verbatim(tokens) => {
            // Bodiless `fn x() -> KvStore;` declarations, which syn keeps verbatim.
            if let Ok(function) = syn::parse2::<pluto_spec::parse::FnItem>(tokens.clone()) {
                let name = rust_name(&function.sig.ident);
                declare(
                    Namespace::Value,
                    name.clone(),
                    Def::Local(child(name), DefKind::Fn),
                );
            }
        }
        Item::Mod(module) if !is_cfg_test(&module.attrs) => {
            let name = rust_name(&module.ident);
            declare(Namespace::Type, name.clone(), Def::Module(child(name)));
        }
        Item::Struct(structure) => {
            let name = rust_name(&structure.ident);
            let def = Def::Local(child(name.clone()), DefKind::Struct);
            if !matches!(structure.fields, syn::Fields::Named(_)) {
                declare(Namespace::Value, name.clone(), def.clone());
            }
            declare(Namespace::Type, name, def);
        }
        Item::Union(_)
        | Item::Enum(_)
        | Item::Trait(_)
        | Item::Type(_)
        | Item::Const(_)
        | Item::Static(_) => {
            let (namespace, ident, kind) = match item {
                Item::Union(union) => (Namespace::Type, &union.ident, DefKind::Struct),
                Item::Enum(enumeration) => (Namespace::Type, &enumeration.ident, DefKind::Enum),
                Item::Trait(trait_item) => (Namespace::Type, &trait_item.ident, DefKind::Trait),
                Item::Type(alias) => (Namespace::Type, &alias.ident, DefKind::TypeAlias),
                Item::Const(constant) => (Namespace::Value, &constant.ident, DefKind::Static),
                Item::Static(item) => (Namespace::Value, &item.ident, DefKind::Static),
                _ => return,
            };
            let name = rust_name(ident);
            declare(namespace, name.clone(), Def::Local(child(name), kind));
        }
        Item::Macro(item_macro) => {
            if item_macro.mac.path.is_ident("macro_rules")
                && let Some(ident) = &item_macro.ident
            {
                let name = rust_name(ident);
                let path = child(name.clone());
                macros.entry(name.clone()).or_default().push(path.clone());
                declare(Namespace::Macro, name, Def::Local(path, DefKind::Macro));
            }
        }
        Item::ExternCrate(extern_crate) => {
            let original = rust_name(&extern_crate.ident);
            let name = match &extern_crate.rename {
                Some((_, rename)) => rust_name(rename),
                None => original.clone(),
            };
            let def = if original == "self" {
                Def::Module(parent.iter().take(1).cloned().collect())
            } else {
                Def::Extern(vec![original])
            };
            declare(Namespace::Type, name, def);
        }
        Item::Use(item_use) => {
            flatten_use(
                &item_use.tree,
                item_use.leading_colon.is_some(),
                Vec::new(),
                &mut scope.pending,
            );
        }
        _ => {}
    }
}

/// Flattens a `use` tree into one entry per imported name or glob.
fn flatten_use(tree: &UseTree, absolute: bool, prefix: Vec<String>, out: &mut Vec<UseEntry>) {
    match tree {
        UseTree::Path(path) => {
            let mut prefix = prefix;
            prefix.push(rust_name(&path.ident));
            flatten_use(&path.tree, absolute, prefix, out);
        }
        UseTree::Name(name) => {
            let ident = rust_name(&name.ident);
            if ident == "self" {
                if let Some(last) = prefix.last().cloned() {
                    out.push(UseEntry {
                        path: prefix,
                        absolute,
                        alias: Some(last),
                    });
                }
            } else {
                let mut path = prefix;
                path.push(ident.clone());
                out.push(UseEntry {
                    path,
                    absolute,
                    alias: Some(ident),
                });
            }
        }
        UseTree::Rename(rename) => {
            let ident = rust_name(&rename.ident);
            let mut path = prefix;
            if ident != "self" {
                path.push(ident);
            }
            out.push(UseEntry {
                path,
                absolute,
                alias: Some(rust_name(&rename.rename)),
            });
        }
        UseTree::Glob(_) => out.push(UseEntry {
            path: prefix,
            absolute,
            alias: None,
        }),
        UseTree::Group(group) => {
            for tree in &group.items {
                flatten_use(tree, absolute, prefix.clone(), out);
            }
        }
    }
}

/// The segments of a `syn::Path`, without a leading `::`.
pub fn segments(path: &syn::Path) -> Vec<String> {
    path.segments
        .iter()
        .map(|segment| rust_name(&segment.ident))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Module, Target};

    /// A package of one target from `(module path, source)` pairs.
    fn package(modules: &[(&str, &str)]) -> Package {
        Package {
            name: "app".to_owned(),
            root: std::path::PathBuf::new(),
            targets: vec![Target {
                crate_name: "app".to_owned(),
                modules: modules
                    .iter()
                    .map(|(path, source)| Module {
                        path: path
                            .split("::")
                            .filter(|segment| !segment.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        file: 0,
                        items: syn::parse_file(source).expect("valid Rust").items,
                    })
                    .collect(),
            }],
        }
    }

    fn path(text: &str) -> Vec<String> {
        text.split("::").map(str::to_owned).collect()
    }

    fn value(map: &DefMap, module: &str, written: &str) -> Option<String> {
        let module = if module.is_empty() {
            path("app")
        } else {
            path(&format!("app::{module}"))
        };
        map.resolve(&module, &[], &path(written), Namespace::Value)
            .first()
            .map(|def| def.path().join("::"))
    }

    #[test]
    fn imports_of_every_form_resolve_to_the_declaring_module() {
        let map = DefMap::new(&package(&[
            (
                "",
                "mod infra; mod api; use infra::sessions; use infra::{cache, nested::{deep as renamed}}; \
                 use self::infra::sessions as db; use api::*;",
            ),
            (
                "infra",
                "pub fn sessions() {} pub fn cache() {} pub mod nested { pub fn deep() {} }",
            ),
            ("infra::nested", "pub fn deep() {}"),
            (
                "api",
                "pub use crate::infra::cache as api_cache; pub use super::infra::nested::*;",
            ),
        ]));
        assert_eq!(
            value(&map, "", "sessions").as_deref(),
            Some("app::infra::sessions")
        );
        assert_eq!(
            value(&map, "", "db").as_deref(),
            Some("app::infra::sessions")
        );
        assert_eq!(
            value(&map, "", "cache").as_deref(),
            Some("app::infra::cache")
        );
        assert_eq!(
            value(&map, "", "renamed").as_deref(),
            Some("app::infra::nested::deep")
        );
        assert_eq!(
            value(&map, "", "api_cache").as_deref(),
            Some("app::infra::cache")
        );
        assert_eq!(
            value(&map, "", "deep").as_deref(),
            Some("app::infra::nested::deep")
        );
        assert_eq!(
            value(&map, "api", "api_cache").as_deref(),
            Some("app::infra::cache")
        );
        assert_eq!(
            value(&map, "", "crate::api::api_cache").as_deref(),
            Some("app::infra::cache")
        );
    }

    #[test]
    fn items_shadow_globs_and_unknown_names_are_external() {
        let map = DefMap::new(&package(&[
            (
                "",
                "mod a; use a::*; use std::sync::Arc as Shared; fn helper() {}",
            ),
            ("a", "pub fn helper() {} pub fn only_here() {}"),
        ]));
        assert_eq!(value(&map, "", "helper").as_deref(), Some("app::helper"));
        assert_eq!(
            value(&map, "", "only_here").as_deref(),
            Some("app::a::only_here")
        );
        assert_eq!(
            value(&map, "", "Shared::new").as_deref(),
            Some("std::sync::Arc::new")
        );
        assert_eq!(value(&map, "", "Some").as_deref(), Some("Some"));
        assert_eq!(
            value(&map, "a", "super::helper").as_deref(),
            Some("app::helper")
        );
    }

    #[test]
    fn chains_of_re_exports_resolve_in_any_order() {
        let map = DefMap::new(&package(&[
            ("", "mod z; mod y; mod x; use x::end;"),
            ("x", "pub use crate::y::middle as end;"),
            ("y", "pub use crate::z::*;"),
            ("z", "pub fn middle() {}"),
        ]));
        assert_eq!(value(&map, "", "end").as_deref(), Some("app::z::middle"));
    }

    #[test]
    fn block_scopes_add_items_and_uses() {
        let map = DefMap::new(&package(&[
            ("", "mod infra;"),
            ("infra", "pub fn sessions() {}"),
        ]));
        let block: syn::Block =
            syn::parse_str("{ use crate::infra::sessions as s; fn inner() {} }").expect("block");
        let items: Vec<&Item> = block
            .stmts
            .iter()
            .filter_map(|statement| match statement {
                syn::Stmt::Item(item) => Some(item),
                _ => None,
            })
            .collect();
        let scope = map.block_scope(&path("app"), &[], &path("app::handler"), &items);
        let resolved = |written: &str| {
            map.resolve(
                &path("app"),
                std::slice::from_ref(&scope),
                &path(written),
                Namespace::Value,
            )
            .first()
            .map(|def| def.path().join("::"))
        };
        assert_eq!(resolved("s").as_deref(), Some("app::infra::sessions"));
        assert_eq!(resolved("inner").as_deref(), Some("app::handler::inner"));
    }
}
