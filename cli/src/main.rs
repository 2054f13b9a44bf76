//! `cargo pluto`: the command line of Pluto.
//!
//! Cargo runs `cargo-pluto pluto <args>` for `cargo pluto <args>`. Each subcommand lives in its
//! own module; errors are reported by miette with what to do about them.

mod bucket;
mod deduce;
mod deploy;
mod error;
mod graph;
mod invoke;
mod local_run;
mod logs;
mod new;
mod project;
mod run;
mod secret;
mod watch;

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
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new app: one public function and one KV store, ready for `cargo pluto run`.
    New(new::NewArgs),
    /// Show the resources, functions and permissions Pluto deduces from the code.
    Deduce(deduce::DeduceArgs),
    /// Draw the app's architecture as Mermaid and Graphviz DOT.
    Graph(graph::GraphArgs),
    /// Run the whole app locally: functions behind Function URLs, local AWS APIs with the
    /// deduced permissions enforced, a real local model for SageMaker endpoints.
    Run(run::RunArgs),
    /// Show what `deploy` would change: creates, updates (old -> new) and deletes, read from AWS.
    Plan(deploy::PlanArgs),
    /// Build the app for AWS Lambda and deploy it: least-privilege IAM roles, Lambda functions
    /// behind Function URLs, DynamoDB tables, SageMaker endpoints.
    Deploy(deploy::DeployArgs),
    /// Delete every AWS object of the stack (found by name and tags; no local state needed).
    Destroy(deploy::DestroyArgs),
    /// Call a function with its handler's arguments as JSON and print what it returns: through
    /// the running `cargo pluto run` of the stack, or with --deployed, on AWS.
    Invoke(invoke::InvokeArgs),
    /// Print a function's log lines (--follow: as they are written): those of the running
    /// `cargo pluto run` of the stack, or with --deployed, its CloudWatch Logs.
    Logs(logs::LogsArgs),
    /// Upload a folder's files into a bucket (`#[resource(bucket)]`), one object each: into the
    /// running `cargo pluto run` of the stack, or with --deployed, the bucket on AWS.
    Bucket(bucket::BucketArgs),
    /// Set a secret's value (`#[resource(secret)]`) for `cargo pluto run`, or with --deployed,
    /// in the stack on AWS; read from standard input or a hidden prompt, never printed.
    Secret(secret::SecretArgs),
}

fn main() -> miette::Result<()> {
    let Cargo::Pluto(args) = Cargo::parse();
    match args.command {
        Command::New(args) => new::run(&args)?,
        Command::Deduce(args) => deduce::run(&args)?,
        Command::Graph(args) => graph::run(&args)?,
        Command::Run(args) => run::run(&args)?,
        Command::Plan(args) => deploy::plan(&args)?,
        Command::Deploy(args) => deploy::deploy(&args)?,
        Command::Destroy(args) => deploy::destroy(&args)?,
        Command::Invoke(args) => invoke::run(&args)?,
        Command::Logs(args) => logs::run(&args)?,
        Command::Bucket(args) => bucket::run(&args)?,
        Command::Secret(args) => secret::run(&args)?,
    }
    Ok(())
}
