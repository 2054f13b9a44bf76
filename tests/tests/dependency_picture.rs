//! The dependency picture in docs/architecture.md is the workspace's real dependency graph:
//! every arrow drawn is a normal dependency between workspace crates, and every such dependency
//! is drawn (`cargo metadata` is the source of truth).

use serde_json::Value;
use std::collections::BTreeSet;

fn drawn_edges() -> BTreeSet<(String, String)> {
    let path = pluto_tests::workspace_root().join("docs/architecture.md");
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{} is readable: {error}", path.display()));
    let section = doc
        .split("## Crates and the direction of every dependency")
        .nth(1)
        .expect("docs/architecture.md has the dependency picture section");
    let diagram = section
        .split("```mermaid")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section has a mermaid diagram");
    diagram
        .lines()
        .filter_map(|line| line.split_once("-->"))
        .map(|(from, to)| (from.trim().to_owned(), to.trim().to_owned()))
        .collect()
}

fn real_edges() -> BTreeSet<(String, String)> {
    let output = std::process::Command::new(env!("CARGO"))
        .current_dir(pluto_tests::workspace_root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let members: BTreeSet<&str> = packages
        .iter()
        .filter_map(|package| package["name"].as_str())
        .collect();
    let mut edges = BTreeSet::new();
    for package in packages {
        let from = package["name"].as_str().unwrap_or_default();
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let to = dependency["name"].as_str().unwrap_or_default();
            if members.contains(to) && dependency["kind"].is_null() {
                edges.insert((from.to_owned(), to.to_owned()));
            }
        }
    }
    edges
}

#[test]
fn the_documented_dependency_picture_is_the_real_graph() {
    let (drawn, real) = (drawn_edges(), real_edges());
    let missing: Vec<_> = real.difference(&drawn).collect();
    let extra: Vec<_> = drawn.difference(&real).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/architecture.md's picture is out of date: add {missing:?}, remove {extra:?}"
    );
}

#[test]
fn engines_link_neither_the_analyser_nor_the_app_runtime() {
    let real = real_edges();
    for engine in ["pluto-simulator", "pluto-aws-engine"] {
        for forbidden in ["pluto-deducer", "pluto", "pluto-local-model"] {
            assert!(
                !real.contains(&(engine.to_owned(), forbidden.to_owned())),
                "{engine} must not depend on {forbidden}"
            );
        }
    }
}
