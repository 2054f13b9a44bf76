//! The Lambda check on real ELF files: a host-built binary passes, a binary linked against
//! glibc 2.36 is refused (also through `build`), and the wrong architecture or a non-ELF file is
//! refused.

mod common;

use common::TinyCrate;
use pluto_build::{Arch, BuildError, BuildRequest, LAMBDA_GLIBC, Toolchain, build, check_binary};

/// This machine's architecture (the tests build for it with plain cargo).
fn host() -> Arch {
    Arch::host().expect("the tests run on x86_64 or aarch64")
}

#[test]
fn host_binary_needs_at_most_glibc_2_34() {
    let app = TinyCrate::hello("elf-hello");
    let binary = app.host_build("elf-hello");
    let max = check_binary(&binary, host()).unwrap();
    let max = max.expect("a glibc binary needs some GLIBC_ version");
    assert!(max >= (2, 2) && max <= LAMBDA_GLIBC, "max glibc {max:?}");
}

#[test]
fn binary_needing_glibc_2_36_is_refused() {
    let app = TinyCrate::needs_glibc_2_36("elf-new-glibc");
    let binary = app.host_build("elf-new-glibc");
    let error = check_binary(&binary, host()).unwrap_err();
    let BuildError::GlibcTooNew { needs, path, .. } = &error else {
        panic!("expected GlibcTooNew, got {error:?}");
    };
    assert_eq!(needs, "GLIBC_2.36");
    assert_eq!(path, &binary);
    let message = error.to_string();
    assert!(
        message.contains("GLIBC_2.36") && message.contains("2.34"),
        "{message}"
    );
    let help = miette::Diagnostic::help(&error).unwrap().to_string();
    assert!(
        help.contains("cargo install --locked cargo-zigbuild"),
        "{help}"
    );
    assert!(help.contains("pip install ziglang"), "{help}");
}

#[test]
fn build_with_plain_cargo_refuses_a_binary_needing_glibc_2_36() {
    let app = TinyCrate::needs_glibc_2_36("elf-build-new-glibc");
    let error = build(&BuildRequest {
        manifest_path: app.manifest(),
        bin: None,
        arch: host(),
        profile: "release".to_string(),
        out_dir: app.out_dir(),
        toolchain: Some(Toolchain::Cargo),
    })
    .unwrap_err();
    let BuildError::GlibcTooNew { needs, advice, .. } = &error else {
        panic!("expected GlibcTooNew, got {error:?}");
    };
    assert_eq!(needs, "GLIBC_2.36");
    assert!(
        advice.contains("plain cargo") && advice.contains("cargo-zigbuild"),
        "{advice}"
    );
    assert!(
        !app.out_dir().join("bootstrap.zip").exists(),
        "no zip for a refused binary"
    );
}

#[test]
fn wrong_architecture_is_refused() {
    let app = TinyCrate::hello("elf-arch");
    let binary = app.host_build("elf-arch");
    let other = match host() {
        Arch::X86_64 => Arch::Arm64,
        Arch::Arm64 => Arch::X86_64,
    };
    let error = check_binary(&binary, other).unwrap_err();
    let BuildError::WrongMachine {
        expected, found, ..
    } = &error
    else {
        panic!("expected WrongMachine, got {error:?}");
    };
    assert_eq!(*expected, other);
    assert!(found.starts_with(host().lambda_name()), "{found}");
    assert!(error.to_string().contains(other.lambda_name()), "{error}");
}

#[test]
fn non_elf_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bootstrap");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let error = check_binary(&script, Arch::X86_64).unwrap_err();
    assert!(matches!(error, BuildError::NotElf { .. }), "{error:?}");

    let missing = dir.path().join("missing");
    let error = check_binary(&missing, Arch::X86_64).unwrap_err();
    assert!(matches!(error, BuildError::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("missing"), "{error}");
}
