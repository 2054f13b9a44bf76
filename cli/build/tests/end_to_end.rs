//! `build` end to end through cargo-zigbuild (which must be installed: scripts/test installs it
//! and zig into .cache/): a tiny crate becomes a Lambda zip whose binary needs glibc <= 2.34,
//! a second build reuses the zip, and the binary target is chosen or refused as for a host build.

mod common;

use common::{TOOLS_HINT, TinyCrate, fixture, zip_entries};
use pluto_build::{
    Arch, Artifact, BuildError, BuildRequest, LAMBDA_GLIBC, Toolchain, build, check_binary,
};
use std::path::Path;

fn request(app: &TinyCrate, arch: Arch, toolchain: Option<Toolchain>) -> BuildRequest {
    BuildRequest {
        manifest_path: app.manifest(),
        bin: None,
        arch,
        profile: "release".to_string(),
        out_dir: app.out_dir(),
        toolchain,
    }
}

/// Builds, failing with how to install the tools when cargo-zigbuild or zig is missing.
fn build_or_explain(request: &BuildRequest) -> Result<Artifact, BuildError> {
    match build(request) {
        Err(error @ BuildError::ToolchainMissing { .. }) => panic!("{error}\n\n{TOOLS_HINT}"),
        result => result,
    }
}

#[test]
fn zigbuild_builds_a_lambda_zip_and_reuses_it() {
    let app = TinyCrate::hello("e2e-hello");
    // Auto-detection must pick cargo-zigbuild when it is installed.
    let first = build_or_explain(&request(&app, Arch::X86_64, None)).unwrap();
    assert_eq!(
        first.toolchain,
        Toolchain::Zigbuild,
        "cargo-zigbuild was not used. {TOOLS_HINT}"
    );
    assert!(!first.reused);
    assert!(
        first.binary_path.starts_with(
            app.dir
                .path()
                .join("target/x86_64-unknown-linux-gnu/release")
        ),
        "{}",
        first.binary_path.display()
    );
    let max = first
        .max_glibc
        .expect("a gnu binary needs some glibc version");
    assert!(max <= LAMBDA_GLIBC, "max glibc {max:?}");
    assert_eq!(
        check_binary(&first.binary_path, Arch::X86_64).unwrap(),
        Some(max)
    );
    let binary = std::fs::read(&first.binary_path).unwrap();
    assert_eq!(&binary[..4], b"\x7fELF");
    assert_eq!(first.binary_bytes, binary.len() as u64);

    assert_eq!(first.zip_path, app.out_dir().join("bootstrap.zip"));
    let entries = zip_entries(&first.zip_path);
    assert_eq!(entries.len(), 1, "exactly one entry");
    assert_eq!(entries[0].0, "bootstrap");
    assert_eq!(entries[0].1, Some(0o100_755));
    assert!(entries[0].2 == binary);

    let second = build_or_explain(&request(&app, Arch::X86_64, None)).unwrap();
    assert!(second.reused, "an unchanged binary reuses its zip");
    assert_eq!(second.sha256_hex, first.sha256_hex);
    assert_eq!(second.code_sha256, first.code_sha256);
}

#[test]
fn zigbuild_links_against_glibc_2_34() {
    // arc4random exists only since glibc 2.36: linking against 2.34 must fail, which shows the
    // binary is not linked against this machine's glibc.
    let app = TinyCrate::needs_glibc_2_36("e2e-new-glibc");
    let error =
        build_or_explain(&request(&app, Arch::X86_64, Some(Toolchain::Zigbuild))).unwrap_err();
    assert!(
        matches!(error, BuildError::CargoFailed { .. }),
        "expected a link failure, got {error:?}"
    );
    assert!(
        error.to_string().contains("cargo's output is above"),
        "{error}"
    );
}

#[test]
fn arm64_needs_its_rust_target() {
    let app = TinyCrate::hello("e2e-arm64");
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    let result = build_or_explain(&request(&app, Arch::Arm64, Some(Toolchain::Zigbuild)));
    if installed
        .lines()
        .any(|line| line == "aarch64-unknown-linux-gnu")
    {
        let artifact = result.unwrap();
        assert!(artifact.max_glibc.is_some_and(|max| max <= LAMBDA_GLIBC));
        assert_eq!(
            check_binary(&artifact.binary_path, Arch::Arm64).unwrap(),
            artifact.max_glibc
        );
    } else {
        let error = result.unwrap_err();
        let BuildError::TargetNotInstalled { target } = &error else {
            panic!("expected TargetNotInstalled, got {error:?}");
        };
        assert_eq!(target, "aarch64-unknown-linux-gnu");
        let help = miette::Diagnostic::help(&error).unwrap().to_string();
        assert!(
            help.contains("rustup target add aarch64-unknown-linux-gnu"),
            "{help}"
        );
    }
}

#[test]
fn binary_target_is_chosen_or_refused() {
    // The same choice as `build_host` (tests/host.rs), made before any toolchain is needed.
    let out_dir = tempfile::tempdir().unwrap();
    let mut request = BuildRequest {
        manifest_path: fixture("two-bins"),
        bin: None,
        arch: Arch::X86_64,
        profile: "release".to_string(),
        out_dir: out_dir.path().to_path_buf(),
        toolchain: None,
    };

    let error = build(&request).unwrap_err();
    let BuildError::SeveralBinaries { package, bins } = &error else {
        panic!("expected SeveralBinaries, got {error:?}");
    };
    assert_eq!(package, "two-bins");
    assert_eq!(bins, &["alpha", "beta"]);
    let help = miette::Diagnostic::help(&error).unwrap().to_string();
    assert!(
        help.contains("alpha, beta") && help.contains("--bin"),
        "{help}"
    );

    request.bin = Some("missing".to_string());
    let error = build(&request).unwrap_err();
    assert!(
        matches!(&error, BuildError::UnknownBinary { bin, .. } if bin == "missing"),
        "{error:?}"
    );

    let lib_only = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(lib_only.path().join("src")).unwrap();
    std::fs::write(
        lib_only.path().join("Cargo.toml"),
        "[package]\nname = \"e2e-lib\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(lib_only.path().join("src/lib.rs"), "").unwrap();
    let error = build(&BuildRequest {
        manifest_path: lib_only.path().join("Cargo.toml"),
        bin: None,
        ..request.clone()
    })
    .unwrap_err();
    assert!(
        matches!(&error, BuildError::NoBinary { package } if package == "e2e-lib"),
        "{error:?}"
    );

    let error = build(&BuildRequest {
        manifest_path: Path::new("/nonexistent/Cargo.toml").to_path_buf(),
        ..request
    })
    .unwrap_err();
    assert!(matches!(error, BuildError::Io { .. }), "{error:?}");
}
