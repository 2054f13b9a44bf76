//! Helpers shared by the deducer's integration tests.

use pluto_deducer::source::PackageSelector;
use pluto_deducer::{Architecture, Operation};
use std::path::Path;

/// The package whose `Cargo.toml` is at `dir` (relative to the deducer crate).
pub(crate) fn package(dir: &str) -> PackageSelector {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join("Cargo.toml");
    PackageSelector {
        manifest_path: Some(manifest),
        package: None,
        bin: None,
    }
}

/// `(resource, operation, conservative)` of each grant of `function`.
pub(crate) fn grants(
    architecture: &Architecture,
    function: &str,
) -> Vec<(String, Operation, bool)> {
    architecture
        .function(function)
        .unwrap_or_else(|| panic!("no function {function}"))
        .grants
        .iter()
        .map(|grant| {
            (
                grant.resource.name.clone(),
                grant.operation,
                grant.escaped.is_some(),
            )
        })
        .collect()
}
