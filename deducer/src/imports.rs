//! `use` declarations of one module, to resolve the paths written in it: `use pluto::resource as
//! res;` makes `res` mean `pluto::resource`, `use pluto::*;` makes `resource` mean it too.

use std::collections::HashMap;
use syn::{Item, UseTree};

/// The imports of one module.
#[derive(Debug, Default, Clone)]
pub struct Imports {
    names: HashMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
}

impl Imports {
    /// Collects the `use` items among `items`.
    pub fn of(items: &[Item]) -> Self {
        let mut imports = Self::default();
        for item in items {
            if let Item::Use(item_use) = item {
                imports.add(&item_use.tree, Vec::new());
            }
        }
        imports
    }

    fn add(&mut self, tree: &UseTree, prefix: Vec<String>) {
        match tree {
            UseTree::Path(path) => {
                let mut prefix = prefix;
                prefix.push(path.ident.to_string());
                self.add(&path.tree, prefix);
            }
            UseTree::Name(name) => {
                let ident = name.ident.to_string();
                if ident == "self" {
                    if let Some(last) = prefix.last() {
                        self.names.insert(last.clone(), prefix);
                    }
                } else {
                    let mut full = prefix;
                    full.push(ident.clone());
                    self.names.insert(ident, full);
                }
            }
            UseTree::Rename(rename) => {
                let ident = rename.ident.to_string();
                let full = if ident == "self" {
                    prefix
                } else {
                    let mut full = prefix;
                    full.push(ident);
                    full
                };
                self.names.insert(rename.rename.to_string(), full);
            }
            UseTree::Glob(_) => self.globs.push(prefix),
            UseTree::Group(group) => {
                for tree in &group.items {
                    self.add(tree, prefix.clone());
                }
            }
        }
    }

    /// `path` with its first segment replaced by what it was imported as (unchanged if it was not
    /// imported by name).
    pub fn expand(&self, path: &[String]) -> Vec<String> {
        match path.split_first() {
            Some((first, rest)) => match self.names.get(first) {
                Some(full) => full.iter().chain(rest).cloned().collect(),
                None => path.to_vec(),
            },
            None => Vec::new(),
        }
    }

    /// Whether `path`, written in this module, names the item `target` (a full path such as
    /// `["pluto", "resource"]`), directly, through a `use`, or through a glob import of its parent.
    pub fn names(&self, path: &[String], target: &[&str]) -> bool {
        let expanded = self.expand(path);
        if expanded
            .iter()
            .map(String::as_str)
            .eq(target.iter().copied())
        {
            return true;
        }
        if let ([single], Some((last, parent))) = (path, target.split_last()) {
            return single == last
                && !self.names.contains_key(single)
                && self
                    .globs
                    .iter()
                    .any(|glob| glob.iter().map(String::as_str).eq(parent.iter().copied()));
        }
        false
    }

    /// The glob-imported module paths.
    pub fn globs(&self) -> &[Vec<String>] {
        &self.globs
    }
}

/// The segments of a `syn::Path`, without a leading `::`.
pub fn segments(path: &syn::Path) -> Vec<String> {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imports(source: &str) -> Imports {
        Imports::of(&syn::parse_file(source).expect("valid Rust").items)
    }

    fn path(text: &str) -> Vec<String> {
        text.split("::").map(str::to_owned).collect()
    }

    #[test]
    fn resolves_renames_groups_globs_and_self() {
        const RESOURCE: &[&str] = &["pluto", "resource"];
        let renamed = imports("use pluto::resource as res;");
        assert!(renamed.names(&path("res"), RESOURCE));
        assert!(!renamed.names(&path("resource"), RESOURCE));
        let grouped = imports("use pluto::{self as p, KvStore, resource};");
        assert!(grouped.names(&path("resource"), RESOURCE));
        assert!(grouped.names(&path("p::resource"), RESOURCE));
        assert!(grouped.names(&path("pluto::resource"), RESOURCE));
        let glob = imports("use pluto::*;");
        assert!(glob.names(&path("resource"), RESOURCE));
        let shadowed = imports("use pluto::*; use my::resource;");
        assert!(!shadowed.names(&path("resource"), RESOURCE));
        assert!(!imports("").names(&path("resource"), RESOURCE));
    }
}
