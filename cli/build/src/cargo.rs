//! Running cargo: which package and binary (the same choice for a host and a Lambda build),
//! which toolchain (cargo-zigbuild or plain cargo), and the compile itself, whose JSON messages
//! name the executable.
//!
//! cargo-zigbuild is detected the way it finds zig itself: `cargo zigbuild --help` must run, and
//! zig must answer either as `python3 -m ziglang version` (`$CARGO_ZIGBUILD_PYTHON_PATH`
//! overrides `python3`) or as `zig version` (`$CARGO_ZIGBUILD_ZIG_PATH` overrides `zig`), with
//! version 0.9 or newer. (`cargo zigbuild --version` is no test: cargo-zigbuild 0.24 rejects it.)

use crate::{Arch, BuildError, BuildRequest, LAMBDA_GLIBC, Toolchain};
use cargo_metadata::{Message, MetadataCommand, TargetKind};
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The cargo to run: `$CARGO` (set when running under cargo, e.g. as `cargo pluto`), else the one
/// on PATH.
pub(crate) fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// The app's package.
#[derive(Debug)]
pub(crate) struct Package {
    name: String,
    /// Its manifest, canonicalised (to compare with cargo's messages).
    manifest: PathBuf,
    bins: Vec<String>,
    /// `package.default-run`.
    default_run: Option<String>,
}

/// Reads the package at `manifest` and chooses its binary target ([`Package::choose_bin`]).
pub(crate) fn select_binary(
    cargo: &OsStr,
    manifest: &Path,
    asked: Option<&str>,
) -> Result<(Package, String), BuildError> {
    let package = resolve_package(cargo, manifest)?;
    let bin = package.choose_bin(asked)?;
    Ok((package, bin))
}

/// Reads the package at `manifest` with `cargo metadata --no-deps`.
fn resolve_package(cargo: &OsStr, manifest: &Path) -> Result<Package, BuildError> {
    let canonical = manifest
        .canonicalize()
        .map_err(BuildError::io("read", manifest))?;
    let metadata = MetadataCommand::new()
        .cargo_path(cargo)
        .manifest_path(&canonical)
        .no_deps()
        .exec()
        .map_err(|error| BuildError::Metadata {
            manifest: manifest.to_path_buf(),
            message: error.to_string(),
        })?;
    let package = metadata
        .packages
        .into_iter()
        .find(|package| same_file(package.manifest_path.as_std_path(), &canonical))
        .ok_or_else(|| BuildError::NotAPackage {
            manifest: manifest.to_path_buf(),
        })?;
    let bins = package
        .targets
        .iter()
        .filter(|target| target.kind.contains(&TargetKind::Bin))
        .map(|target| target.name.clone())
        .collect();
    Ok(Package {
        name: package.name.to_string(),
        manifest: canonical,
        bins,
        default_run: package.default_run,
    })
}

impl Package {
    /// The binary target to build: `asked` if the package has it; else its only one; else its
    /// `default-run`; else the one named like the package; else none (an error naming them).
    pub(crate) fn choose_bin(&self, asked: Option<&str>) -> Result<String, BuildError> {
        let wanted = asked.or(self.default_run.as_deref());
        match (wanted, self.bins.as_slice()) {
            (Some(bin), bins) if bins.iter().any(|name| name == bin) => Ok(bin.to_string()),
            (Some(bin), bins) => Err(BuildError::UnknownBinary {
                package: self.name.clone(),
                bin: bin.to_string(),
                bins: bins.to_vec(),
            }),
            (None, []) => Err(BuildError::NoBinary {
                package: self.name.clone(),
            }),
            (None, [only]) => Ok(only.clone()),
            (None, bins) if bins.contains(&self.name) => Ok(self.name.clone()),
            (None, bins) => Err(BuildError::SeveralBinaries {
                package: self.name.clone(),
                bins: bins.to_vec(),
            }),
        }
    }
}

/// The chosen toolchain, and why cargo-zigbuild was not (for the advice of a glibc error).
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) toolchain: Toolchain,
    why_not_zigbuild: Option<String>,
}

impl Plan {
    /// What to tell the user if the binary turns out to need a glibc newer than Lambda's.
    pub(crate) fn glibc_advice(&self) -> String {
        glibc_advice(Some(self.toolchain), self.why_not_zigbuild.as_deref())
    }
}

/// Advice for a binary needing too new a glibc, built with `toolchain` (`None`: unknown).
pub(crate) fn glibc_advice(toolchain: Option<Toolchain>, why_not_zigbuild: Option<&str>) -> String {
    let (major, minor) = LAMBDA_GLIBC;
    let install = format!(
        "install cargo-zigbuild and zig, which link against glibc {major}.{minor} on any machine: \
         `cargo install --locked cargo-zigbuild` and `pip install ziglang`"
    );
    match toolchain {
        Some(Toolchain::Zigbuild) => format!(
            "cargo-zigbuild linked the Rust code against glibc {major}.{minor}, so a dependency \
             must link a prebuilt native library built for a newer glibc: build that library \
             from source (e.g. a `vendored`/`bundled` feature) or use a pure-Rust alternative"
        ),
        Some(Toolchain::Cargo) => format!(
            "the binary was built with plain cargo{}, so it links against this machine's newer \
             glibc; {install}",
            why_not_zigbuild
                .map(|why| format!(" ({why})"))
                .unwrap_or_default()
        ),
        None => format!(
            "build it with `cargo zigbuild --target <arch>-unknown-linux-gnu.{major}.{minor}`; {install}"
        ),
    }
}

/// Picks the toolchain for `request` (see [`BuildRequest::toolchain`]).
pub(crate) fn plan(cargo: &OsStr, request: &BuildRequest) -> Result<Plan, BuildError> {
    let arch = request.arch;
    let zigbuild = zigbuild_status(cargo);
    let host_matches = cfg!(target_os = "linux") && Arch::host() == Some(arch);
    let toolchain = match (request.toolchain, &zigbuild) {
        (Some(Toolchain::Zigbuild) | None, Ok(())) => Toolchain::Zigbuild,
        (Some(Toolchain::Cargo) | None, _) if host_matches => Toolchain::Cargo,
        (Some(Toolchain::Zigbuild), Err(reason)) => {
            return Err(BuildError::ToolchainMissing {
                arch,
                reason: reason.clone(),
                advice: install_advice(arch, false),
            });
        }
        (_, zigbuild) => {
            let host = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
            let reason = match zigbuild {
                Err(why) => format!("this machine is {host}, and {why}"),
                Ok(()) => format!("plain cargo builds for this machine, which is {host}"),
            };
            return Err(BuildError::ToolchainMissing {
                arch,
                reason,
                advice: install_advice(arch, !target_installed(arch, &request.manifest_path)),
            });
        }
    };
    if toolchain == Toolchain::Zigbuild && !target_installed(arch, &request.manifest_path) {
        return Err(BuildError::TargetNotInstalled {
            target: arch.rust_target().to_string(),
        });
    }
    Ok(Plan {
        toolchain,
        why_not_zigbuild: zigbuild.err(),
    })
}

/// How to install what cross-compiling for Lambda needs.
fn install_advice(arch: Arch, add_target: bool) -> String {
    let mut advice = String::from(
        "install cargo-zigbuild and zig, which build for Lambda's glibc on any machine: \
         `cargo install --locked cargo-zigbuild` and `pip install ziglang` (or put `zig` on PATH)",
    );
    if add_target {
        advice.push_str(&format!(
            ", and the Rust target: `rustup target add {}`",
            arch.rust_target()
        ));
    }
    advice
}

/// `Ok` when `cargo zigbuild` and zig both work, else what is missing.
fn zigbuild_status(cargo: &OsStr) -> Result<(), String> {
    let subcommand = Command::new(cargo)
        .args(["zigbuild", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !subcommand.is_ok_and(|status| status.success()) {
        return Err("cargo-zigbuild is not installed (`cargo zigbuild` does not run)".to_string());
    }
    let python =
        std::env::var_os("CARGO_ZIGBUILD_PYTHON_PATH").unwrap_or_else(|| OsString::from("python3"));
    let zig = std::env::var_os("CARGO_ZIGBUILD_ZIG_PATH").unwrap_or_else(|| OsString::from("zig"));
    if zig_version_ok(Command::new(&python).args(["-m", "ziglang", "version"]))
        || zig_version_ok(Command::new(&zig).arg("version"))
    {
        Ok(())
    } else {
        Err(
            "cargo-zigbuild is installed but zig is not (neither `python3 -m ziglang version` \
             nor `zig version` gives 0.9 or newer)"
                .to_string(),
        )
    }
}

/// Whether `command` (a `zig version`) succeeds and prints 0.9 or newer.
fn zig_version_ok(command: &mut Command) -> bool {
    let Ok(output) = command.stdin(Stdio::null()).stderr(Stdio::null()).output() else {
        return false;
    };
    if !output.status.success() {
        return false;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.trim().split(['.', '-', '+']);
    let major = parts.next().and_then(|part| part.parse::<u32>().ok());
    let minor = parts.next().and_then(|part| part.parse::<u32>().ok());
    matches!((major, minor), (Some(major), Some(minor)) if (major, minor) >= (0, 9))
}

/// Whether the standard library for `arch` is installed, by `rustup target list --installed`
/// (run in the app's directory, so its toolchain file counts). `true` when rustup is not there to
/// ask: cargo then says itself what is missing.
fn target_installed(arch: Arch, manifest: &Path) -> bool {
    let mut command = Command::new("rustup");
    command
        .args(["target", "list", "--installed"])
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = manifest.parent().filter(|dir| dir.is_dir()) {
        command.current_dir(dir);
    }
    match command.output() {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|line| line.trim() == arch.rust_target()),
        _ => true,
    }
}

/// One `cargo build` (or `cargo zigbuild`) of one binary target, read through cargo's JSON
/// messages. cargo's progress and rendered errors go to this process's stderr.
#[derive(Debug)]
pub(crate) struct Compile<'a> {
    pub(crate) package: &'a Package,
    pub(crate) bin: &'a str,
    /// The cargo profile (`dev`, `release`, ...).
    pub(crate) profile: &'a str,
    /// `Some`: cross-compile with cargo-zigbuild for Lambda's glibc on this architecture;
    /// `None`: plain `cargo build` for this machine.
    pub(crate) zigbuild: Option<Arch>,
    /// `--target-dir`.
    pub(crate) target_dir: Option<&'a Path>,
    /// `--offline`.
    pub(crate) offline: bool,
    /// `--quiet`: no progress lines (errors still).
    pub(crate) quiet: bool,
    /// Keep cargo's stderr (its last [`KEPT_ERROR_LINES`] lines) for the error, passing it on.
    pub(crate) keep_errors: bool,
}

/// How many lines of cargo's stderr a failed build keeps.
const KEPT_ERROR_LINES: usize = 200;

impl Compile<'_> {
    /// Runs cargo and returns the executable it reports for the binary target.
    pub(crate) fn run(&self, cargo: &OsStr) -> Result<PathBuf, BuildError> {
        let mut command = Command::new(cargo);
        match self.zigbuild {
            Some(arch) => {
                command
                    .arg("zigbuild")
                    .args(["--target", &arch.zigbuild_target()]);
            }
            None => {
                command.arg("build");
            }
        }
        command
            .args(["--profile", self.profile, "--bin", self.bin])
            .arg("--manifest-path")
            .arg(&self.package.manifest)
            .arg("--message-format=json-render-diagnostics");
        if let Some(dir) = self.target_dir {
            command.arg("--target-dir").arg(dir);
        }
        if self.offline {
            command.arg("--offline");
        }
        if self.quiet {
            command.arg("--quiet");
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if self.keep_errors {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        let program = format!(
            "{} {}",
            cargo.to_string_lossy(),
            if self.zigbuild.is_some() {
                "zigbuild"
            } else {
                "build"
            }
        );
        let mut child = command.spawn().map_err(|source| BuildError::Spawn {
            program: program.clone(),
            source,
        })?;
        // cargo's stderr, passed on line by line and kept (the last lines) when asked for.
        let errors = child.stderr.take().map(|stderr| {
            std::thread::spawn(move || {
                let mut kept: std::collections::VecDeque<String> =
                    std::collections::VecDeque::new();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("{line}");
                    kept.push_back(line);
                    if kept.len() > KEPT_ERROR_LINES {
                        kept.pop_front();
                    }
                }
                Vec::from(kept).join("\n")
            })
        });
        let mut executable = None;
        let mut read_error = None;
        if let Some(stdout) = child.stdout.take() {
            for message in Message::parse_stream(BufReader::new(stdout)) {
                match message {
                    Ok(Message::CompilerArtifact(artifact))
                        if artifact.target.name == self.bin
                            && artifact.target.kind.contains(&TargetKind::Bin)
                            && same_file(
                                artifact.manifest_path.as_std_path(),
                                &self.package.manifest,
                            ) =>
                    {
                        if let Some(path) = artifact.executable {
                            executable = Some(path.into_std_path_buf());
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        read_error = Some(error);
                        break;
                    }
                }
            }
        }
        // Always reap cargo, even when its output could not be read.
        let status = child
            .wait()
            .map_err(|source| BuildError::Spawn { program, source })?;
        let errors = errors
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        if !status.success() {
            return Err(BuildError::CargoFailed { status, errors });
        }
        if let Some(source) = read_error {
            return Err(BuildError::Io {
                action: "read the output of",
                path: PathBuf::from(cargo),
                source,
            });
        }
        executable.ok_or_else(|| BuildError::NoExecutable {
            bin: self.bin.to_string(),
        })
    }
}

/// Whether two paths name the same file (`b` already canonical).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || a.canonicalize().is_ok_and(|a| a == b)
}
