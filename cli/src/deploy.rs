//! `cargo pluto plan`, `deploy` and `destroy`: build the app for Lambda, plan against what AWS
//! reports, ask, apply with live progress, and print (and write) the stack's outputs.

use crate::error::CliError;
use crate::project::{ProjectArgs, write_atomically};
use comfy_table::{Table, presets};
use pluto_aws_engine::{
    Code, ConnectOptions, DesiredStack, Engine, Event, LockError, LockEvent, LockHolder,
    LockOptions, Outputs, PreparedChange, Progress, StackLock,
};
use pluto_build::{Arch, BuildRequest};
use pluto_model::naming::StackNames;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where to reach AWS.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AwsArgs {
    /// AWS region (default: the standard chain: AWS_REGION, then the profile's region).
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// Send every AWS call to this endpoint instead (e.g. an emulator such as moto).
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
}

impl AwsArgs {
    /// Where to connect, with the endpoint URL checked (an http(s) URL with a host), so that a
    /// malformed one is refused before any call, saying what is wrong.
    pub(crate) fn connect_options(&self) -> Result<ConnectOptions, CliError> {
        if let Some(url) = &self.endpoint_url {
            pluto_aws_engine::connect::check_endpoint_url(url).map_err(|reason| {
                CliError::BadEndpointUrl {
                    url: url.clone(),
                    reason,
                }
            })?;
        }
        Ok(ConnectOptions {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            ..ConnectOptions::default()
        })
    }
}

/// How to apply a plan.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ApplyArgs {
    /// Apply without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print the plan, then the outputs, as JSON lines on stdout (one document per line;
    /// progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// Declared resources worked on at once; 1 works one after the other.
    #[arg(long, default_value_t = 8, value_name = "N")]
    concurrency: usize,
    /// When another deploy or destroy of the stack holds its lock, wait up to this long for it
    /// instead of failing at once.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    lock_wait: u64,
    /// Remove the stack's lock if someone else holds it (e.g. a killed run) and go ahead. Make
    /// sure that run is really gone first.
    #[arg(long)]
    break_lock: bool,
}

impl ApplyArgs {
    fn lock_options(&self, operation: &str) -> LockOptions {
        LockOptions {
            wait: Duration::from_secs(self.lock_wait),
            break_existing: self.break_lock,
            ..LockOptions::new(operation)
        }
    }
}

/// What may happen to data: consent to delete it, and how long deleted secrets stay recoverable.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DataArgs {
    /// Delete resources that hold data: empty and delete non-empty buckets (every object
    /// version), delete secrets that have a value and tables that hold items. Without it, a
    /// plan that would delete data is refused before anything changes, saying what would be
    /// lost.
    #[arg(long)]
    delete_data: bool,
    /// Days Secrets Manager keeps a deleted secret, recoverable (7 to 30). A deploy that
    /// declares it again within them restores it.
    #[arg(
        long,
        default_value_t = pluto_aws_engine::secrets::DEFAULT_RECOVERY_WINDOW_DAYS,
        value_parser = clap::value_parser!(u32).range(
            i64::from(pluto_aws_engine::secrets::MIN_RECOVERY_WINDOW_DAYS)
                ..=i64::from(pluto_aws_engine::secrets::DEFAULT_RECOVERY_WINDOW_DAYS)
        ),
        value_name = "DAYS"
    )]
    secret_recovery_days: u32,
}

/// How to build the app for Lambda.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BuildArgs {
    /// Lambda architecture of the functions.
    #[arg(long, value_enum, default_value_t = ArchArg::X86_64)]
    arch: ArchArg,
    /// Cargo profile to build with.
    #[arg(long, default_value = "release", value_name = "PROFILE")]
    profile: String,
}

/// Arguments of `cargo pluto plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    build: BuildArgs,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Arguments of `cargo pluto deploy`.
#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    build: BuildArgs,
    #[command(flatten)]
    apply: ApplyArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// Arguments of `cargo pluto destroy`.
#[derive(Debug, clap::Args)]
pub(crate) struct DestroyArgs {
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    apply: ApplyArgs,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ArchArg {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "arm64")]
    Arm64,
}

impl From<ArchArg> for Arch {
    fn from(arch: ArchArg) -> Self {
        match arch {
            ArchArg::X86_64 => Arch::X86_64,
            ArchArg::Arm64 => Arch::Arm64,
        }
    }
}

/// Prints each resource's progress as a line on stderr, with the time since the start.
#[derive(Debug)]
struct ProgressLines {
    started: Instant,
    lock: Mutex<()>,
}

impl ProgressLines {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            lock: Mutex::new(()),
        }
    }
}

impl Progress for ProgressLines {
    fn report(&self, resource: &str, event: Event) {
        let text = match event {
            Event::Step(step) => step,
            Event::Waiting {
                object,
                status,
                elapsed,
            } => format!("waiting for {object}: {status} ({} s)", elapsed.as_secs()),
            Event::Done => "done".to_owned(),
            Event::Failed(error) => format!("FAILED: {error}"),
        };
        let _guard = self.lock.lock();
        eprintln!(
            "[{:>6.1}s] {resource}: {text}",
            self.started.elapsed().as_secs_f64()
        );
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

async fn engine(args: &AwsArgs, concurrency: usize) -> Result<Engine, CliError> {
    let aws = pluto_aws_engine::connect(&args.connect_options()?).await?;
    eprintln!(
        "[pluto] AWS account {} in {} as {}",
        aws.target.account(),
        aws.target.region(),
        aws.caller_arn
    );
    let mut engine = Engine::new(aws);
    engine.concurrency = concurrency.max(1);
    Ok(engine)
}

/// Takes the stack's lock, saying on stderr when it waits for or breaks someone else's.
async fn lock(
    engine: &Engine,
    names: &StackNames,
    options: &LockOptions,
) -> Result<StackLock, CliError> {
    let wait_s = options.wait.as_secs();
    let report = move |holder: &LockHolder, event: LockEvent| match event {
        LockEvent::Waiting => {
            eprintln!("[pluto] the stack is locked: {holder}; waiting up to {wait_s} s");
        }
        LockEvent::Breaking => eprintln!("[pluto] breaking the lock held: {holder}"),
        LockEvent::HolderDied => {
            eprintln!("[pluto] taking over the lock of a run that is gone: {holder}");
        }
    };
    Ok(StackLock::acquire(&engine.aws, names, options, &report).await?)
}

/// Releases `lock` after the locked work ended with `result` (whose output is already shown).
/// The work's own error comes first. A failed release is only a warning (the lock lapses with its
/// lease); a lock someone took away meanwhile is an error, since they may have changed the stack
/// at the same time.
fn unlock<T>(
    runtime: &tokio::runtime::Runtime,
    lock: StackLock,
    result: Result<T, CliError>,
) -> Result<T, CliError> {
    let released = runtime.block_on(lock.release());
    match (result, released) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(lost @ LockError::Lost { .. })) => Err(lost.into()),
        (Ok(value), Err(release)) => {
            eprintln!("[pluto] warning: {release}");
            Ok(value)
        }
        (Err(error), Ok(())) => Err(error),
        (Err(error), Err(release)) => {
            eprintln!("[pluto] warning: {release}");
            Err(error)
        }
    }
}

/// Prints the plan: as one line of JSON on stdout, or as text on stderr.
fn show(prepared: &PreparedChange, json: bool) {
    if json {
        let plan = serde_json::to_string(&prepared.plan).unwrap_or_default();
        println!("{plan}");
    } else {
        eprintln!("\n{}\n", prepared.plan);
    }
}

/// Shows the plan and asks; `Ok(false)` when the user declines. A plan that deletes data
/// without `--delete-data` is refused here, before asking.
fn confirm(prepared: &PreparedChange, args: &ApplyArgs, verb: &str) -> Result<bool, CliError> {
    show(prepared, args.json);
    prepared.check_data_loss()?;
    if prepared.plan.is_empty() || args.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsConfirmation(verb.to_owned()));
    }
    eprint!("{verb} these changes? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(CliError::Prompt)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// A deploy ready to plan: the app deduced and built, connected to AWS.
struct Prepared {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    desired: DesiredStack,
    stack_dir: std::path::PathBuf,
    names: StackNames,
}

/// Deduces, connects and builds: everything `plan` and `deploy` share.
fn prepare(
    project: &ProjectArgs,
    aws: &AwsArgs,
    build: &BuildArgs,
    concurrency: usize,
) -> Result<Prepared, CliError> {
    let deduction = project.deduce()?;
    let architecture = &deduction.architecture;
    let stack_dir = project.stack_dir(&deduction.package_root);
    project.write_architecture(&deduction)?;
    let names =
        StackNames::new(&architecture.project, &project.stack).map_err(CliError::BadStack)?;

    let runtime = runtime()?;
    let engine = runtime.block_on(engine(aws, concurrency))?;

    let started = Instant::now();
    let artifact = pluto_build::build(&BuildRequest {
        manifest_path: deduction.package_root.join("Cargo.toml"),
        bin: project.bin.clone(),
        arch: build.arch.into(),
        profile: build.profile.clone(),
        out_dir: stack_dir.join("build"),
        toolchain: None,
    })?;
    eprintln!(
        "[pluto] {} {}: {} zipped ({} binary, {}, glibc {}) in {:.1} s",
        if artifact.reused {
            "unchanged"
        } else {
            "built"
        },
        artifact.zip_path.display(),
        human_bytes(artifact.zip_bytes),
        human_bytes(artifact.binary_bytes),
        artifact.toolchain,
        artifact
            .max_glibc
            .map_or("none (static)".to_owned(), |(major, minor)| format!(
                "<= {major}.{minor}"
            )),
        started.elapsed().as_secs_f64()
    );
    let code = Code {
        zip_path: artifact.zip_path.clone(),
        code_sha256: artifact.code_sha256.clone(),
        architecture: Arch::from(build.arch).lambda_name().to_owned(),
    };
    let desired = DesiredStack::new(
        architecture,
        names.clone(),
        engine.aws.target.clone(),
        &code,
        &|var| std::env::var(var).ok(),
    )?;
    Ok(Prepared {
        runtime,
        engine,
        desired,
        stack_dir,
        names,
    })
}

pub(crate) fn plan(args: &PlanArgs) -> Result<(), CliError> {
    let Prepared {
        runtime,
        engine,
        desired,
        names,
        ..
    } = prepare(&args.project, &args.aws, &args.build, 1)?;
    if let Some(holder) = runtime.block_on(pluto_aws_engine::lock::holder(&engine.aws, &names)) {
        eprintln!("[pluto] note: the stack is locked ({holder}); it may change meanwhile");
    }
    let prepared = runtime.block_on(engine.plan_deploy(desired))?;
    show(&prepared, args.json);
    Ok(())
}

pub(crate) fn deploy(args: &DeployArgs) -> Result<(), CliError> {
    let mut prepared = prepare(
        &args.project,
        &args.aws,
        &args.build,
        args.apply.concurrency,
    )?;
    prepared.engine.secret_recovery_days = args.data.secret_recovery_days;
    let runtime = &prepared.runtime;
    let lock = runtime.block_on(lock(
        &prepared.engine,
        &prepared.names,
        &args.apply.lock_options("deploy"),
    ))?;
    let result = plan_and_apply(&prepared, &lock, &args.apply, &args.data);
    unlock(runtime, lock, result)
}

/// Plans against AWS, asks, applies, and shows and writes the outputs: the work done under the
/// lock.
fn plan_and_apply(
    prepared: &Prepared,
    lock: &StackLock,
    args: &ApplyArgs,
    data: &DataArgs,
) -> Result<(), CliError> {
    let Prepared {
        runtime,
        engine,
        desired,
        stack_dir,
        names,
    } = prepared;
    let planned = runtime
        .block_on(engine.plan_deploy(desired.clone()))?
        .delete_data(data.delete_data);
    if !confirm(&planned, args, "Deploy")? {
        eprintln!("[pluto] nothing deployed");
        return Ok(());
    }
    // The prompt may have waited long enough for someone to break the lock.
    lock.check()?;
    let started = Instant::now();
    let outputs = runtime.block_on(engine.apply(planned, &ProgressLines::new()))?;
    let outputs_json = serde_json::to_string_pretty(&outputs).unwrap_or_default();
    let outputs_path = stack_dir.join("outputs.json");
    write_atomically(&outputs_path, &format!("{outputs_json}\n"))?;
    let calls = engine.aws.calls.calls();
    eprintln!(
        "\n[pluto] deployed stack `{}` in {:.1} s ({} AWS calls, {} changing)",
        names.stack(),
        started.elapsed().as_secs_f64(),
        calls.len(),
        calls.iter().filter(|call| call.is_mutating()).count()
    );
    if args.json {
        println!("{}", serde_json::to_string(&outputs).unwrap_or_default());
    } else {
        println!("{}", render_outputs(&outputs));
    }
    eprintln!("[pluto] wrote {}", outputs_path.display());
    Ok(())
}

/// Plans the destroy, asks, applies and forgets the outputs: the work done under the lock.
fn plan_and_destroy(
    runtime: &tokio::runtime::Runtime,
    engine: &Engine,
    names: &StackNames,
    lock: &StackLock,
    args: &DestroyArgs,
    outputs: &std::path::Path,
) -> Result<(), CliError> {
    let prepared = runtime
        .block_on(engine.plan_destroy(names))?
        .delete_data(args.data.delete_data);
    if prepared.plan.changes.is_empty() {
        eprintln!(
            "[pluto] nothing of stack `{}` of `{}` exists",
            names.stack(),
            names.project()
        );
    } else {
        if !confirm(&prepared, &args.apply, "Destroy")? {
            eprintln!("[pluto] nothing destroyed");
            return Ok(());
        }
        lock.check()?;
        runtime.block_on(engine.apply(prepared, &ProgressLines::new()))?;
        eprintln!("[pluto] destroyed stack `{}`", names.stack());
    }
    if outputs.exists() {
        std::fs::remove_file(outputs).map_err(|source| CliError::Write {
            path: outputs.to_owned(),
            source,
        })?;
    }
    Ok(())
}

pub(crate) fn destroy(args: &DestroyArgs) -> Result<(), CliError> {
    let (project, package_root) = args.project.package_name()?;
    let names = StackNames::new(&project, &args.project.stack).map_err(CliError::BadStack)?;
    let outputs = args.project.stack_dir(&package_root).join("outputs.json");
    let runtime = runtime()?;
    let mut engine = runtime.block_on(engine(&args.aws, args.apply.concurrency))?;
    engine.secret_recovery_days = args.data.secret_recovery_days;
    let lock = runtime.block_on(lock(&engine, &names, &args.apply.lock_options("destroy")))?;
    let result = plan_and_destroy(&runtime, &engine, &names, &lock, args, &outputs);
    unlock(&runtime, lock, result)
}

fn human_bytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / (1024.0 * 1024.0);
    format!("{mib:.1} MiB")
}

/// The outputs table: one row per function, endpoint, table, bucket and secret (its name, never
/// its value).
pub(crate) fn render_outputs(outputs: &Outputs) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(["RESOURCE", "NAME", "AWS NAME", "ACCESS"]);
    for function in &outputs.functions {
        table.add_row([
            "function".to_owned(),
            function.name.clone(),
            function.function_name.clone(),
            match &function.url {
                Some(url) if function.response.is_stream() => {
                    format!("{url} ({}, streaming)", function.url_auth)
                }
                Some(url) => format!("{url} ({})", function.url_auth),
                None => "no URL (invoke only)".to_owned(),
            },
        ]);
    }
    for endpoint in &outputs.endpoints {
        table.add_row([
            "sagemaker".to_owned(),
            endpoint.name.clone(),
            endpoint.endpoint_name.clone(),
            format!("model {}", endpoint.model_name),
        ]);
    }
    for store in &outputs.tables {
        table.add_row([
            "kv_store".to_owned(),
            store.name.clone(),
            store.table_name.clone(),
            "DynamoDB table".to_owned(),
        ]);
    }
    for bucket in &outputs.buckets {
        table.add_row([
            "bucket".to_owned(),
            bucket.name.clone(),
            bucket.bucket_name.clone(),
            if bucket.versioning {
                "S3 bucket, private, versioned".to_owned()
            } else {
                "S3 bucket, private".to_owned()
            },
        ]);
    }
    for secret in &outputs.secrets {
        table.add_row([
            "secret".to_owned(),
            secret.name.clone(),
            secret.secret_name.clone(),
            if secret.has_value {
                "Secrets Manager, value set".to_owned()
            } else {
                format!(
                    "Secrets Manager, NO VALUE: run `cargo pluto secret set {} --deployed`",
                    secret.name
                )
            },
        ]);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pluto_aws_engine::engine::FunctionOutput;
    use pluto_model::ResponseMode;

    #[test]
    fn outputs_mark_the_urls_that_stream() {
        let function = |name: &str, url_auth: &str, response| FunctionOutput {
            name: name.to_owned(),
            function_name: format!("app-dev-{name}"),
            url: Some(format!("https://{name}.lambda-url.us-east-1.on.aws/")),
            url_auth: url_auth.to_owned(),
            response,
            role: format!("app-dev-{name}-fn"),
        };
        let outputs = Outputs {
            functions: vec![
                function("chat", "iam", ResponseMode::Stream),
                function("forget", "public", ResponseMode::Buffered),
            ],
            ..Outputs::default()
        };
        let table = render_outputs(&outputs);
        assert!(
            table.contains("https://chat.lambda-url.us-east-1.on.aws/ (iam, streaming)"),
            "{table}"
        );
        let forget = table
            .lines()
            .find(|line| line.contains("forget"))
            .expect("a row for forget");
        assert!(
            forget
                .trim_end()
                .ends_with("https://forget.lambda-url.us-east-1.on.aws/ (public)"),
            "{table}"
        );
    }

    #[test]
    fn outputs_list_buckets_and_secrets_by_name_only() {
        use pluto_aws_engine::engine::{BucketOutput, SecretOutput};
        let outputs = Outputs {
            buckets: vec![BucketOutput {
                name: "docs".to_owned(),
                bucket_name: "app-dev-docs-1a2b3c4d".to_owned(),
                versioning: true,
            }],
            secrets: vec![
                SecretOutput {
                    name: "api-key".to_owned(),
                    secret_name: "app-dev-api-key".to_owned(),
                    has_value: true,
                },
                SecretOutput {
                    name: "hf-token".to_owned(),
                    secret_name: "app-dev-hf-token".to_owned(),
                    has_value: false,
                },
            ],
            ..Outputs::default()
        };
        let table = render_outputs(&outputs);
        let row = |name: &str| {
            table
                .lines()
                .find(|line| line.contains(name))
                .unwrap_or_else(|| panic!("a row for {name}: {table}"))
                .to_owned()
        };
        assert!(row("docs").contains("app-dev-docs-1a2b3c4d"), "{table}");
        assert!(row("docs").contains("versioned"), "{table}");
        assert!(row("api-key").contains("value set"), "{table}");
        assert!(
            row("hf-token").contains("cargo pluto secret set hf-token --deployed"),
            "{table}"
        );
    }

    #[test]
    fn a_malformed_endpoint_url_is_refused_saying_what_is_wrong() {
        let args = |url: &str| AwsArgs {
            region: None,
            endpoint_url: Some(url.to_owned()),
        };
        let error = args("notaurl").connect_options().expect_err("not a URL");
        assert_eq!(
            error.to_string(),
            "--endpoint-url `notaurl` is not an http(s) URL: it has no scheme (`http://` or \
             `https://`)"
        );
        let help = miette::Diagnostic::help(&error).map(|help| help.to_string());
        assert!(
            help.is_some_and(|help| help.contains("--endpoint-url http://127.0.0.1:5000")),
            "{error:?}"
        );
        let options = args("http://127.0.0.1:5000")
            .connect_options()
            .expect("a URL");
        assert_eq!(
            options.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
    }
}
