//! `cargo pluto`: the command line of Pluto.
//!
//! Cargo runs `cargo-pluto pluto <args>` for `cargo pluto <args>`. The subcommands (`deduce`,
//! `graph`, `run`, `deploy`, ...) arrive with the deducer, simulator and engine; today the binary
//! answers `--help` and `--version`.

use clap::{Parser, Subcommand};

/// The outer `cargo` layer: `cargo pluto ...` calls this binary with `pluto` as first argument.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", version, propagate_version = true)]
enum Cargo {
    /// Infrastructure from code for Rust: deduce, run and deploy Pluto apps.
    Pluto(PlutoArgs),
}

#[derive(Debug, clap::Args)]
#[command(
    version,
    about = "Infrastructure from code for Rust: deduce, run and deploy Pluto apps",
    long_about = "Pluto reads a Rust crate whose functions and resources are declared with \
                  #[resource], works out the cloud resources and the least-privilege permissions \
                  each function needs, and runs the app locally or deploys it to AWS.",
    arg_required_else_help = true
)]
struct PlutoArgs {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {}

fn main() -> miette::Result<()> {
    let Cargo::Pluto(args) = Cargo::parse();
    match args.command {
        None => Ok(()),
        Some(command) => match command {},
    }
}
