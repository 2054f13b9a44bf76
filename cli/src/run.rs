//! `cargo pluto run`: the whole app on this machine. Deduces it, builds it for the host, starts
//! the local AWS APIs (with the deduced IAM enforced), a real local model for SageMaker
//! endpoints, every function as Lambda processes, the Function URL gateway and the dev console
//! (`/_pluto/`); prints the URLs, streams function logs with a prefix (and into
//! `.pluto/<stack>/logs/`) and one line per request; reloads on source changes (see
//! [`crate::watch`]); Ctrl-C stops everything.

use crate::error::CliError;
use crate::local_run::{FunctionLogs, RunInfo};
use crate::project::ProjectArgs;
use crate::watch::{Live, Rebuild};
use pluto_console::Console;
use pluto_local_model::{LocalModel, TextGeneration, resolve_model};
use pluto_model::Architecture;
use pluto_model::ResourceSpec;
use pluto_simulator::gateway::{RequestRecord, StreamProgress};
use pluto_simulator::lambda::LogSink;
use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_spec::UrlAuth;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `cargo pluto run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Port of the Function URL gateway on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// Port of the dev console on 127.0.0.1 (default: the gateway's port + 1, or any free port
    /// with `--port 0`; 0: any free port).
    #[arg(long)]
    console_port: Option<u16>,
    /// A llama-architecture GGUF to serve SageMaker endpoints (default: SmolLM2-135M-Instruct,
    /// fetched once; also `PLUTO_MODEL`).
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Most instances of one function running at once.
    #[arg(long, default_value_t = 4)]
    max_instances: usize,
    /// Build the app with `--release`.
    #[arg(long)]
    release: bool,
    /// Do not watch the sources: no hot reload.
    #[arg(long)]
    no_watch: bool,
}

pub(crate) fn run(args: &RunArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(serve(args))
}

async fn serve(args: &RunArgs) -> Result<(), CliError> {
    let deduction = args.project.deduce()?;
    args.project.write_architecture(&deduction)?;
    let architecture = &deduction.architecture;
    if architecture.functions.is_empty() {
        return Err(CliError::NothingToRun(architecture.project.clone()));
    }
    let stack_dir = args.project.stack_dir(&deduction.package_root);
    // Before building: another `cargo pluto run` of this stack holds its data.
    pluto_simulator::store::check_free(
        &stack_dir.join(pluto_simulator::simulator::KV_DATABASE_FILE),
    )?;

    eprintln!(
        "[pluto] building {}",
        deduction.package_root.join("Cargo.toml").display()
    );
    let built = pluto_build::build_host(&pluto_build::HostBuild {
        manifest_path: deduction.package_root.join("Cargo.toml"),
        bin: args.project.bin.clone(),
        release: args.release,
        ..pluto_build::HostBuild::default()
    })?;
    let binary = crate::watch::pin_binary(&built, &stack_dir, 1)?;
    // Watching starts before the simulator does, so an edit made while it starts is not lost.
    let mut watching = if args.no_watch {
        None
    } else {
        Some(crate::watch::watch_sources(&deduction.package_root)?)
    };

    let mut options = SimulatorOptions::new(&args.project.stack, binary, stack_dir.clone());
    options.gateway_port = args.port;
    options.max_instances = args.max_instances;
    options.model = load_model_if_needed(architecture, args.model.as_deref())?;
    options.warm_up = true;
    options.log = Arc::new(|line: &str| eprintln!("[pluto] {line}"));
    let console = Console::new(architecture, &args.project.stack);
    let log_files = FunctionLogs::open(&stack_dir)?;
    let requests_of = console.clone();
    let function_logs: LogSink = Arc::new(move |function: &str, instance: u64, line: &str| {
        eprintln!("[{function}#{instance}] {line}");
        let request = requests_of.request_of_instance(function, instance);
        log_files.append(function, instance, request.as_deref(), line);
    });
    options.function_logs = function_logs;
    options.request_log = Arc::new(|record: &RequestRecord| {
        let problem = record
            .problem
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        let millis = record.latency.as_secs_f64() * 1e3;
        let outcome = match &record.stream {
            None => format!("{} in {millis:.1} ms", record.status),
            Some(StreamProgress::Started) => {
                format!("{}, streaming; first byte in {millis:.1} ms", record.status)
            }
            Some(StreamProgress::Ended { chunks, bytes }) => {
                format!("stream ended: {chunks} chunks ({bytes} bytes) in {millis:.1} ms")
            }
            Some(StreamProgress::Cut { chunks, bytes }) => {
                format!("stream cut after {chunks} chunks ({bytes} bytes) at {millis:.1} ms")
            }
        };
        eprintln!(
            "[gateway] {} {} {} -> {outcome}{problem}",
            record.function, record.method, record.path,
        );
    });
    options.console_port = args.console_port.unwrap_or(match args.port {
        0 => 0,
        port => port.saturating_add(1),
    });
    console.instrument(&mut options);
    let simulator = Simulator::start(architecture, options).await?;
    console.attach(&simulator);
    let console_url = simulator.console_url().unwrap_or_default().to_owned();
    RunInfo {
        pid: std::process::id(),
        console_url: console_url.clone(),
        gateway_url: simulator.gateway_url().to_owned(),
        aws_endpoint: simulator.aws_endpoint().to_owned(),
        started_ms: crate::local_run::now_ms(),
    }
    .write(&stack_dir)?;

    print_summary(
        architecture,
        &simulator,
        &stack_dir,
        &console_url,
        watching.is_some(),
    );
    let rebuild = Rebuild {
        project: &args.project,
        release: args.release,
        stack_dir: &stack_dir,
    };
    let mut live = Live {
        architecture: architecture.clone(),
        generation: 1,
    };
    // One Ctrl-C future for the whole run, polled while a rebuild works too.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let stopped = loop {
        let change_and_reload = async {
            let Some((_, changes)) = &mut watching else {
                return std::future::pending().await;
            };
            let changed = crate::watch::next_changes(changes).await;
            if changed.is_empty() {
                // The watcher stopped: keep serving what runs.
                return false;
            }
            crate::watch::reload(
                &rebuild,
                &changed,
                &deduction.package_root,
                &simulator,
                &console,
                &mut live,
            )
            .await;
            true
        };
        tokio::select! {
            stopped = &mut ctrl_c => break stopped,
            still_watching = change_and_reload => {
                if !still_watching {
                    watching = None;
                }
            }
        }
    };
    eprintln!("\n[pluto] stopping");
    simulator.stop().await;
    RunInfo::remove(&stack_dir)?;
    stopped.map_err(CliError::Listen)
}

fn load_model_if_needed(
    architecture: &Architecture,
    explicit: Option<&Path>,
) -> Result<Option<Arc<dyn TextGeneration>>, CliError> {
    let endpoints: Vec<&pluto_spec::SagemakerSpec> = architecture
        .resources
        .iter()
        .filter_map(|resource| match &resource.spec {
            ResourceSpec::Sagemaker(spec) => Some(spec),
            _ => None,
        })
        .collect();
    if endpoints.is_empty() {
        return Ok(None);
    }
    let path = resolve_model(explicit).map_err(|error| CliError::Model(error.to_string()))?;
    let started = Instant::now();
    let model = LocalModel::load(&path).map_err(|error| CliError::Model(error.to_string()))?;
    eprintln!(
        "[pluto] loaded {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    for endpoint in endpoints {
        let stands_for = match endpoint.env.get("HF_MODEL_ID") {
            Some(pluto_spec::EnvValue::Literal(id)) => id.clone(),
            _ => endpoint
                .image
                .rsplit('/')
                .next()
                .unwrap_or(&endpoint.image)
                .to_owned(),
        };
        eprintln!(
            "[pluto] SageMaker endpoint `{}` ({stands_for}) is served locally by {}",
            endpoint.name,
            model.info().label()
        );
    }
    Ok(Some(Arc::new(model)))
}

fn print_summary(
    architecture: &Architecture,
    simulator: &Simulator,
    stack_dir: &Path,
    console_url: &str,
    watching: bool,
) {
    println!("\nConsole    {console_url}");
    println!("\nFunctions");
    for function in &architecture.functions {
        let url = simulator
            .urls()
            .get(&function.spec.name)
            .map_or("(no URL)", String::as_str);
        let cors = function
            .spec
            .cors
            .as_ref()
            .map(|cors| format!(", CORS {}", cors.allow_origins.join(" ")))
            .unwrap_or_default();
        let streams = if function.response.is_stream() {
            ", streams: curl -N"
        } else {
            ""
        };
        println!(
            "  {:<20} {url}  [{}{cors}{streams}]",
            function.spec.name, function.spec.url
        );
    }
    if architecture
        .functions
        .iter()
        .any(|function| function.spec.url == UrlAuth::Iam)
    {
        println!(
            "\n  IAM-auth URLs need a SigV4-signed request, as on AWS (403 otherwise); sign with \
             this run's developer key:\n  {}",
            pluto_simulator::gateway::signing_hint(&simulator.developer_credentials().curl_user())
        );
    }
    println!("\nResources");
    for resource in &architecture.resources {
        println!(
            "  {:<10} {}",
            resource.spec.kind().keyword(),
            resource.spec.name()
        );
    }
    println!(
        "\nLocal AWS APIs at {}; data in {}",
        simulator.aws_endpoint(),
        stack_dir.display()
    );
    if watching {
        println!("Watching the sources: saved changes reload live (--no-watch turns it off).");
    }
    println!("Press Ctrl-C to stop.\n");
}
