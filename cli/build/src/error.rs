//! Why a build (for this machine or for Lambda) failed, each with what to do about it (miette `help`).

use crate::{Arch, LAMBDA_GLIBC};
use std::path::PathBuf;
use std::process::ExitStatus;

/// A failed [`build`](crate::build), [`build_host`](crate::build_host) or
/// [`package`](crate::package).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum BuildError {
    /// `cargo metadata` could not read the app's manifest.
    #[error("could not read the package at {manifest}: {message}")]
    #[diagnostic(
        code(pluto::build::metadata),
        help(
            "check that the path names the app's Cargo.toml and that `cargo metadata` works there"
        )
    )]
    Metadata {
        /// The manifest given.
        manifest: PathBuf,
        /// cargo's error.
        message: String,
    },
    /// The manifest is a virtual workspace manifest (no `[package]`).
    #[error("{manifest} is not a package's manifest")]
    #[diagnostic(
        code(pluto::build::not_a_package),
        help("pass the Cargo.toml of the app's own package, not the workspace's")
    )]
    NotAPackage {
        /// The manifest given.
        manifest: PathBuf,
    },
    /// The package has no binary target.
    #[error("package `{package}` has no binary target")]
    #[diagnostic(
        code(pluto::build::no_binary),
        help("a Pluto app is a binary crate whose main calls pluto::start(): add src/main.rs")
    )]
    NoBinary {
        /// The package.
        package: String,
    },
    /// The package has several binary targets and none was chosen: no `bin` given, no
    /// `default-run`, none named like the package.
    #[error("package `{package}` has several binary targets: {}", .bins.join(", "))]
    #[diagnostic(
        code(pluto::build::several_binaries),
        help(
            "the package has binaries {}: pass `--bin NAME`, or set `default-run = \"NAME\"` in its [package]",
            .bins.join(", ")
        )
    )]
    SeveralBinaries {
        /// The package.
        package: String,
        /// Its binary targets.
        bins: Vec<String>,
    },
    /// The chosen binary target does not exist.
    #[error("package `{package}` has no binary target `{bin}` (it has: {})", .bins.join(", "))]
    #[diagnostic(
        code(pluto::build::unknown_binary),
        help("pass one of the package's binary targets with `--bin <NAME>`")
    )]
    UnknownBinary {
        /// The package.
        package: String,
        /// The name asked for.
        bin: String,
        /// The binary targets it has.
        bins: Vec<String>,
    },
    /// No toolchain on this machine can build a binary Lambda can run.
    #[error("cannot build for Lambda ({arch}): {reason}")]
    #[diagnostic(code(pluto::build::toolchain_missing), help("{advice}"))]
    ToolchainMissing {
        /// The Lambda architecture asked for.
        arch: Arch,
        /// What is missing.
        reason: String,
        /// How to install it.
        advice: String,
    },
    /// The Rust standard library of the target is not installed.
    #[error("the Rust target `{target}` is not installed")]
    #[diagnostic(
        code(pluto::build::target_missing),
        help("install it with `rustup target add {target}`")
    )]
    TargetNotInstalled {
        /// The target triple.
        target: String,
    },
    /// A program (cargo) could not be started.
    #[error("could not run `{program}`: {source}")]
    #[diagnostic(
        code(pluto::build::spawn),
        help("Pluto runs the cargo named by $CARGO, or the one on PATH")
    )]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// cargo ran and failed; its messages went to stderr.
    #[error("the build failed ({status}); cargo's output is above")]
    #[diagnostic(
        code(pluto::build::cargo_failed),
        help("fix the errors cargo reported above and run again")
    )]
    CargoFailed {
        /// cargo's exit status.
        status: ExitStatus,
        /// cargo's error output, when the build asked for it ([`crate::HostBuild::keep_errors`];
        /// it went to this process's stderr too); empty otherwise.
        errors: String,
    },
    /// cargo succeeded but reported no executable for the binary target.
    #[error("cargo built `{bin}` but reported no executable for it")]
    #[diagnostic(
        code(pluto::build::no_executable),
        help(
            "this is a bug in Pluto or an unusual cargo configuration; run the cargo command by hand to see where the binary went"
        )
    )]
    NoExecutable {
        /// The binary target.
        bin: String,
    },
    /// The binary is not a 64-bit ELF file.
    #[error("{path} is not a 64-bit ELF executable ({detail})")]
    #[diagnostic(
        code(pluto::build::not_elf),
        help("Lambda runs Linux ELF binaries; build for a Linux target")
    )]
    NotElf {
        /// The binary.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// The binary is for another CPU than the Lambda architecture.
    #[error("{path} is built for {found}, but the function runs on Lambda {expected}")]
    #[diagnostic(
        code(pluto::build::wrong_machine),
        help(
            "build for the function's architecture (with cargo-zigbuild, which Pluto uses when it is installed)"
        )
    )]
    WrongMachine {
        /// The binary.
        path: PathBuf,
        /// The architecture asked for.
        expected: Arch,
        /// The ELF machine found.
        found: String,
    },
    /// The binary needs a newer glibc than Lambda's `provided.al2023` has.
    #[error(
        "{path} needs {needs}, but Lambda's provided.al2023 has glibc {}.{}: it would fail to start there",
        LAMBDA_GLIBC.0,
        LAMBDA_GLIBC.1
    )]
    #[diagnostic(code(pluto::build::glibc_too_new), help("{advice}"))]
    GlibcTooNew {
        /// The binary.
        path: PathBuf,
        /// The newest requirement found, e.g. `GLIBC_2.36`.
        needs: String,
        /// What to do, depending on how the binary was built.
        advice: String,
    },
    /// Reading or writing a file failed.
    #[error("could not {action} {path}: {source}")]
    #[diagnostic(
        code(pluto::build::io),
        help("check that the path exists and that its directory is writable")
    )]
    Io {
        /// What was being done, e.g. "read" or "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The zip could not be written.
    #[error("could not write the deployment zip: {0}")]
    #[diagnostic(code(pluto::build::zip))]
    Zip(#[from] zip::result::ZipError),
}

impl BuildError {
    /// An [`BuildError::Io`] error.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io {
            action,
            path,
            source,
        }
    }
}
