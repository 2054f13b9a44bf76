//! Builds a Pluto app's binary: for this machine ([`build_host`], to run it locally), or for AWS
//! Lambda's `provided.al2023` runtime, packed into the deployment zip Lambda takes ([`build`]).
//! Both choose the binary target the same way (see [`build_host`]) and read the executable's path
//! from cargo's JSON messages.
//!
//! ```no_run
//! # fn main() -> Result<(), pluto_build::BuildError> {
//! let binary = pluto_build::build_host(&pluto_build::HostBuild {
//!     manifest_path: "app/Cargo.toml".into(),
//!     release: true,
//!     ..Default::default()
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! [`build`] does three things:
//!
//! 1. **Compile.** With `cargo zigbuild` (when it and zig are installed) for
//!    `x86_64-unknown-linux-gnu.2.34` or `aarch64-unknown-linux-gnu.2.34`, so the binary links
//!    against the glibc 2.34 that `provided.al2023` has, whatever this machine's glibc is. Without
//!    them, with plain `cargo build` when this machine has the function's architecture, in which
//!    case the binary works on Lambda only if this machine's glibc symbols are old enough, which
//!    step 2 checks. cargo's own output goes to stderr as usual.
//! 2. **Check** the executable ([`check_binary`]): a 64-bit ELF for the function's architecture,
//!    needing no glibc symbol version newer than [`LAMBDA_GLIBC`] (a static musl binary needs
//!    none and is fine).
//! 3. **Zip** it ([`package`]): one entry `bootstrap`, mode 0755, fixed timestamp, deflate, so
//!    the same binary always gives the same zip, written atomically to `<out_dir>/bootstrap.zip`.
//!    When the binary is the same as last time (recorded in `<out_dir>/bootstrap.json`) and the
//!    zip is intact, the zip is left as it is ([`Artifact::reused`]).
//!
//! ```no_run
//! # fn main() -> Result<(), pluto_build::BuildError> {
//! let artifact = pluto_build::build(&pluto_build::BuildRequest {
//!     manifest_path: "app/Cargo.toml".into(),
//!     bin: None,
//!     arch: pluto_build::Arch::X86_64,
//!     profile: "release".into(),
//!     out_dir: "app/.pluto/dev/build".into(),
//!     toolchain: None,
//! })?;
//! println!("{} ({} bytes), CodeSha256 {}", artifact.zip_path.display(), artifact.zip_bytes, artifact.code_sha256);
//! # Ok(())
//! # }
//! ```

mod cargo;
mod elf;
mod error;
mod package;

pub use elf::check_binary;
pub use error::BuildError;
pub use package::{MANIFEST_FILE, ZIP_ENTRY, ZIP_FILE, bootstrap_zip, code_sha256, package};

use std::fmt;
use std::path::{Path, PathBuf};

/// The newest glibc symbol version Lambda's `provided.al2023` runtime provides (Amazon Linux
/// 2023 ships glibc 2.34).
pub const LAMBDA_GLIBC: (u32, u32) = (2, 34);

/// A Lambda instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// `x86_64`.
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

impl Arch {
    /// The name in Lambda's API (`Architectures`): `x86_64` or `arm64`.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The Rust target triple (without a glibc version suffix).
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The triple given to `cargo zigbuild`: the Rust target with the glibc version of
    /// `provided.al2023`, e.g. `x86_64-unknown-linux-gnu.2.34`.
    pub fn zigbuild_target(self) -> String {
        format!(
            "{}.{}.{}",
            self.rust_target(),
            LAMBDA_GLIBC.0,
            LAMBDA_GLIBC.1
        )
    }

    /// The architecture of the machine this runs on, if Lambda has it.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.lambda_name())
    }
}

/// How the binary was (or is to be) compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Toolchain {
    /// `cargo zigbuild --target <arch>-unknown-linux-gnu.2.34`: links against glibc 2.34 on any
    /// machine, and cross-compiles.
    Zigbuild,
    /// Plain `cargo build` for this machine (only when it has the function's architecture).
    Cargo,
}

impl fmt::Display for Toolchain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Toolchain::Zigbuild => "cargo-zigbuild",
            Toolchain::Cargo => "cargo",
        })
    }
}

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The app package's `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// The binary target; `None` means the package's only one, else its `default-run`, else the
    /// one named like the package (an error if it has none, or several and none of those).
    pub bin: Option<String>,
    /// The Lambda architecture.
    pub arch: Arch,
    /// The cargo profile, normally `release`.
    pub profile: String,
    /// Where `bootstrap.zip` (and `bootstrap.json`) go, e.g. `<app>/.pluto/<stack>/build`.
    pub out_dir: PathBuf,
    /// Force a toolchain; `None` picks cargo-zigbuild when it and zig are installed, else plain
    /// cargo when this machine has `arch`.
    pub toolchain: Option<Toolchain>,
}

/// A built, checked and zipped function binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `<out_dir>/bootstrap.zip`.
    pub zip_path: PathBuf,
    /// Its size.
    pub zip_bytes: u64,
    /// The executable cargo built (in cargo's target directory).
    pub binary_path: PathBuf,
    /// The executable's size.
    pub binary_bytes: u64,
    /// SHA-256 of the zip, lowercase hex.
    pub sha256_hex: String,
    /// base64 of SHA-256 of the zip: what Lambda's `GetFunction` reports as `CodeSha256`.
    pub code_sha256: String,
    /// How the binary was compiled.
    pub toolchain: Toolchain,
    /// The highest `GLIBC_x.y` symbol version the binary needs; `None` for a static binary.
    pub max_glibc: Option<(u32, u32)>,
    /// `true` when the zip was left as it was because the binary had not changed.
    pub reused: bool,
}

/// Compiles the request's binary for Lambda, checks it and zips it (see the [crate] docs).
///
/// cargo's progress and errors go to this process's stderr.
pub fn build(request: &BuildRequest) -> Result<Artifact, BuildError> {
    let cargo = cargo::cargo_program();
    let (package, bin) =
        cargo::select_binary(&cargo, &request.manifest_path, request.bin.as_deref())?;
    let plan = cargo::plan(&cargo, request)?;
    let binary = cargo::Compile {
        package: &package,
        bin: &bin,
        profile: &request.profile,
        zigbuild: (plan.toolchain == Toolchain::Zigbuild).then_some(request.arch),
        target_dir: None,
        offline: false,
        quiet: false,
        keep_errors: false,
    }
    .run(&cargo)?;
    package::package_checked(
        &binary,
        request.arch,
        plan.toolchain,
        &request.out_dir,
        &plan.glibc_advice(),
    )
}

/// The binary target of the package at `manifest_path` that [`build`] and [`build_host`] build:
/// `asked` if the package has it, else its only one, else its `default-run`, else the one named
/// like the package; else [`BuildError::SeveralBinaries`] naming them (or
/// [`BuildError::NoBinary`]). The deducer reads this one binary (and the library), so what is
/// deduced is what is built.
pub fn choose_binary(manifest_path: &Path, asked: Option<&str>) -> Result<String, BuildError> {
    let (_, bin) = cargo::select_binary(&cargo::cargo_program(), manifest_path, asked)?;
    Ok(bin)
}

/// A build of the app for this machine, to run it here (`cargo pluto run`, the tests).
///
/// `HostBuild { manifest_path, ..HostBuild::default() }` is a debug build of the package's binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostBuild {
    /// The app package's `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// The binary target; `None` chooses as [`BuildRequest::bin`] does.
    pub bin: Option<String>,
    /// Build with the `release` profile instead of `dev`.
    pub release: bool,
    /// cargo's target directory (`--target-dir`); `None`: the package's own (its workspace's).
    pub target_dir: Option<PathBuf>,
    /// Build with `--offline`.
    pub offline: bool,
    /// Build with `--quiet`: no progress lines on stderr, only errors and warnings.
    pub quiet: bool,
    /// Also keep cargo's error output for [`BuildError::CargoFailed`] (for the dev console,
    /// which shows a failed rebuild's errors); it still goes to stderr.
    pub keep_errors: bool,
}

/// Compiles the app's binary for this machine with plain `cargo build` and returns the
/// executable's path (in cargo's target directory). Cheap when it is up to date.
///
/// The binary target is chosen as for [`build`]: `bin` if given, else the package's only one,
/// else its `default-run`, else the one named like the package; else a
/// [`BuildError::SeveralBinaries`] naming them. cargo's output goes to this process's stderr.
pub fn build_host(request: &HostBuild) -> Result<PathBuf, BuildError> {
    let cargo = cargo::cargo_program();
    let (package, bin) =
        cargo::select_binary(&cargo, &request.manifest_path, request.bin.as_deref())?;
    cargo::Compile {
        package: &package,
        bin: &bin,
        profile: if request.release { "release" } else { "dev" },
        zigbuild: None,
        target_dir: request.target_dir.as_deref(),
        offline: request.offline,
        quiet: request.quiet,
        keep_errors: request.keep_errors,
    }
    .run(&cargo)
}
