//! `build_host`: a build for this machine of one fixture crate per case (tests/fixtures/), each
//! with its own target dir under the workspace's `target/` so that repeated runs are cheap. The
//! binary target is chosen as for a Lambda build: the only one, `--bin`, `default-run`, the one
//! named like the package, or a clear error naming them.

mod common;

use common::{fixture, fixture_target_dir};
use pluto_build::{BuildError, HostBuild, build_host};
use std::path::PathBuf;
use std::process::Command;

fn request(name: &str, bin: Option<&str>) -> HostBuild {
    HostBuild {
        manifest_path: fixture(name),
        bin: bin.map(str::to_owned),
        target_dir: Some(fixture_target_dir(name)),
        quiet: true,
        ..HostBuild::default()
    }
}

/// Runs `binary` and returns its stdout.
fn run(binary: &PathBuf) -> String {
    let output = Command::new(binary)
        .output()
        .unwrap_or_else(|error| panic!("could not run {}: {error}", binary.display()));
    assert!(output.status.success(), "{} failed", binary.display());
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[test]
fn one_binary_app_builds_an_executable_that_runs() {
    let binary = build_host(&request("one-bin", None)).unwrap();
    assert!(
        binary.starts_with(fixture_target_dir("one-bin").join("debug")),
        "{}",
        binary.display()
    );
    assert_eq!(run(&binary), "hello from one-bin\n");

    let release = build_host(&HostBuild {
        release: true,
        ..request("one-bin", None)
    })
    .unwrap();
    assert!(
        release.starts_with(fixture_target_dir("one-bin").join("release")),
        "{}",
        release.display()
    );
    assert_eq!(run(&release), "hello from one-bin\n");
}

#[test]
fn two_binaries_without_bin_is_a_clear_error() {
    let error = build_host(&request("two-bins", None)).unwrap_err();
    let BuildError::SeveralBinaries { package, bins } = &error else {
        panic!("expected SeveralBinaries, got {error:?}");
    };
    assert_eq!(package, "two-bins");
    assert_eq!(bins, &["alpha", "beta"]);
    assert_eq!(
        error.to_string(),
        "package `two-bins` has several binary targets: alpha, beta"
    );
    let help = miette::Diagnostic::help(&error).unwrap().to_string();
    assert!(
        help.starts_with("the package has binaries alpha, beta: pass `--bin NAME`"),
        "{help}"
    );
}

#[test]
fn two_binaries_with_bin_builds_that_one() {
    let binary = build_host(&request("two-bins", Some("beta"))).unwrap();
    assert_eq!(binary.file_name().unwrap(), "beta");
    assert_eq!(run(&binary), "beta\n");

    let error = build_host(&request("two-bins", Some("gamma"))).unwrap_err();
    assert!(
        matches!(&error, BuildError::UnknownBinary { bin, bins, .. } if bin == "gamma" && bins == &["alpha", "beta"]),
        "{error:?}"
    );
}

#[test]
fn default_run_is_honoured() {
    let binary = build_host(&request("default-run", None)).unwrap();
    assert_eq!(run(&binary), "beta\n");
    // An explicit bin still wins.
    let binary = build_host(&request("default-run", Some("alpha"))).unwrap();
    assert_eq!(run(&binary), "alpha\n");
}

#[test]
fn the_binary_named_like_the_package_is_the_default() {
    let binary = build_host(&request("named-like-package", None)).unwrap();
    assert_eq!(run(&binary), "the app\n");
}
