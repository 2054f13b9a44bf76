//! The `cargo-pluto` binary as cargo runs it: `cargo-pluto pluto <args>`.

use std::process::Command;

fn cargo_pluto(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-pluto"))
        .args(args)
        .output()
        .expect("cargo-pluto runs")
}

#[test]
fn help_describes_pluto() {
    let output = cargo_pluto(&["pluto", "--help"]);
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Infrastructure from code for Rust"), "{help}");
    assert!(help.contains("Usage: cargo pluto"), "{help}");
}

#[test]
fn version_is_the_crate_version() {
    let output = cargo_pluto(&["pluto", "--version"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("cargo-pluto {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_subcommands_are_rejected() {
    let output = cargo_pluto(&["pluto", "teleport"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("'teleport'"));
}
