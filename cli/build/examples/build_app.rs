//! Builds an app for Lambda with [`pluto_build::build`] and prints the artifact and the wall time.
//!
//! ```sh
//! cargo run -p pluto-build --example build_app -- examples/langchain-llama/Cargo.toml \
//!     [--bin NAME] [--arch x86_64|arm64] [--profile release] [--out-dir DIR] [--toolchain zigbuild|cargo]
//! ```
//!
//! The zip goes to `--out-dir`, by default `<app>/.pluto/dev/build`.

use miette::{IntoDiagnostic, miette};
use pluto_build::{Arch, BuildRequest, Toolchain};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> miette::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut manifest_path = None;
    let mut request = BuildRequest {
        manifest_path: PathBuf::new(),
        bin: None,
        arch: Arch::X86_64,
        profile: "release".to_string(),
        out_dir: PathBuf::new(),
        toolchain: None,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| miette!("{arg} needs a value"));
        match arg.as_str() {
            "--bin" => request.bin = Some(value()?),
            "--profile" => request.profile = value()?,
            "--out-dir" => request.out_dir = PathBuf::from(value()?),
            "--arch" => {
                request.arch = match value()?.as_str() {
                    "x86_64" => Arch::X86_64,
                    "arm64" => Arch::Arm64,
                    other => return Err(miette!("unknown --arch {other}: x86_64 or arm64")),
                }
            }
            "--toolchain" => {
                request.toolchain = match value()?.as_str() {
                    "zigbuild" => Some(Toolchain::Zigbuild),
                    "cargo" => Some(Toolchain::Cargo),
                    other => return Err(miette!("unknown --toolchain {other}: zigbuild or cargo")),
                }
            }
            path if manifest_path.is_none() && !path.starts_with('-') => {
                manifest_path = Some(PathBuf::from(path));
            }
            other => return Err(miette!("unexpected argument {other}")),
        }
    }
    request.manifest_path = manifest_path.unwrap_or_else(|| PathBuf::from("Cargo.toml"));
    if request.out_dir.as_os_str().is_empty() {
        let app_dir = request
            .manifest_path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        request.out_dir = app_dir.join(".pluto").join("dev").join("build");
    }

    let started = Instant::now();
    let artifact = pluto_build::build(&request)?;
    let elapsed = started.elapsed();
    let glibc = artifact.max_glibc.map_or_else(
        || "none".to_string(),
        |(major, minor)| format!("{major}.{minor}"),
    );
    println!("zip:          {}", artifact.zip_path.display());
    println!("zip bytes:    {}", artifact.zip_bytes);
    println!("binary:       {}", artifact.binary_path.display());
    println!("binary bytes: {}", artifact.binary_bytes);
    println!("sha256:       {}", artifact.sha256_hex);
    println!("CodeSha256:   {}", artifact.code_sha256);
    println!("toolchain:    {}", artifact.toolchain);
    println!("max glibc:    {glibc}");
    println!("reused:       {}", artifact.reused);
    println!("wall time:    {:.1} s", elapsed.as_secs_f64());
    std::io::Write::flush(&mut std::io::stdout()).into_diagnostic()?;
    Ok(())
}
