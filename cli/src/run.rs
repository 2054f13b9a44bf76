//! `cargo pluto run`: the whole app on this machine. Deduces it, builds it for the host, starts
//! the local AWS APIs (with the deduced IAM enforced), a real local model for SageMaker
//! endpoints, every function as Lambda processes and the Function URL gateway; prints the URLs,
//! streams function logs with a prefix and one line per request; Ctrl-C stops everything.

use crate::error::CliError;
use crate::project::{ProjectArgs, write_atomically};
use pluto_local_model::{LocalModel, TextGeneration, resolve_model};
use pluto_model::naming::StackNames;
use pluto_simulator::aws::LocalAws;
use pluto_simulator::gateway::{Gateway, RequestRecord};
use pluto_simulator::lambda::{FunctionConfig, FunctionPool, LogSink};
use pluto_spec::{ResourceSpec, UrlAuth};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `cargo pluto run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Port of the Function URL gateway on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 9000)]
    port: u16,
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
    let architecture = deduction.architecture.clone();
    let stack_dir = args.project.stack_dir(&deduction.package_root);
    let json = serde_json::to_string_pretty(&architecture).unwrap_or_default();
    write_atomically(&stack_dir.join("arch.json"), &format!("{json}\n"))?;
    let names =
        StackNames::new(&architecture.project, &args.project.stack).map_err(CliError::BadStack)?;

    let binary = build_app(&deduction.package_root, args.release)?;

    let model = load_model_if_needed(&architecture, args.model.as_deref())?;

    let log: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|line: &str| eprintln!("[pluto] {line}"));
    let aws = Arc::new(
        LocalAws::new(
            architecture.clone(),
            names,
            &stack_dir.join("kv.redb"),
            model,
            log.clone(),
        )
        .map_err(|error| CliError::Simulator(error.to_string()))?,
    );
    let aws_listener = bind(0).await?;
    let aws_endpoint = format!(
        "http://{}",
        aws_listener.local_addr().map_err(CliError::Listen)?
    );
    let aws_router = aws.clone().router();
    tokio::spawn(async move {
        let _ = axum::serve(aws_listener, aws_router).await;
    });

    let function_logs: LogSink = Arc::new(|function: &str, instance: u64, line: &str| {
        eprintln!("[{function}#{instance}] {line}")
    });
    let mut pools: HashMap<String, Arc<FunctionPool>> = HashMap::new();
    let mut exposed = BTreeMap::new();
    for function in &architecture.functions {
        let name = function.spec.name.clone();
        let config = FunctionConfig {
            name: name.clone(),
            binary: binary.clone(),
            env: aws.function_env(&name, &aws_endpoint),
            timeout: Duration::from_secs(u64::from(function.spec.timeout_s)),
            memory_mb: function.spec.memory_mb,
            max_instances: args.max_instances,
        };
        let pool = Arc::new(FunctionPool::new(config, function_logs.clone()));
        if function.spec.url != UrlAuth::None {
            exposed.insert(name.clone(), pool.clone());
        }
        pools.insert(name, pool);
    }
    aws.set_functions(pools.clone());
    for pool in pools.values() {
        pool.warm_up()
            .await
            .map_err(|error| CliError::Simulator(error.to_string()))?;
    }

    let request_log = Arc::new(|record: &RequestRecord| {
        let problem = record
            .problem
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        eprintln!(
            "[gateway] {} {} {} -> {} in {:.1} ms{problem}",
            record.function,
            record.method,
            record.path,
            record.status,
            record.latency.as_secs_f64() * 1e3
        );
    });
    let gateway = Arc::new(Gateway::new(exposed.clone(), request_log));
    let listener = bind(args.port).await?;
    let address = listener.local_addr().map_err(CliError::Listen)?;
    let router = gateway.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    print_summary(
        &architecture,
        &exposed,
        &format!("http://{address}"),
        &aws_endpoint,
        &stack_dir,
    );
    tokio::signal::ctrl_c().await.map_err(CliError::Listen)?;
    eprintln!("\n[pluto] stopping");
    for pool in pools.values() {
        pool.shutdown().await;
    }
    Ok(())
}

async fn bind(port: u16) -> Result<tokio::net::TcpListener, CliError> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| CliError::Port { port, source })
}

/// Builds the app's binary for the host with cargo (its progress shows on stderr).
fn build_app(package_root: &Path, release: bool) -> Result<PathBuf, CliError> {
    let manifest = package_root.join("Cargo.toml");
    eprintln!("[pluto] building {}", manifest.display());
    let mut command =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .args([
            "build",
            "--bins",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest);
    if release {
        command.arg("--release");
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(CliError::Build)?;
    if !output.status.success() {
        return Err(CliError::BuildFailed);
    }
    let manifest_text = manifest
        .canonicalize()
        .unwrap_or(manifest)
        .display()
        .to_string();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["manifest_path"].as_str() == Some(manifest_text.as_str()))
        .filter_map(|message| message["executable"].as_str().map(PathBuf::from))
        .next_back()
        .ok_or(CliError::NoBinary)
}

fn load_model_if_needed(
    architecture: &pluto_deducer::Architecture,
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
    architecture: &pluto_deducer::Architecture,
    exposed: &BTreeMap<String, Arc<FunctionPool>>,
    gateway: &str,
    aws_endpoint: &str,
    stack_dir: &Path,
) {
    println!("\nFunctions");
    for function in &architecture.functions {
        let url = if exposed.contains_key(&function.spec.name) {
            format!("{gateway}/{}", function.spec.name)
        } else {
            "(no URL)".to_owned()
        };
        let auth = match function.spec.url {
            UrlAuth::Public => "public",
            UrlAuth::Iam => "iam (not checked locally)",
            UrlAuth::None => "none",
        };
        println!("  {:<20} {url}  [{auth}]", function.spec.name);
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
        "\nLocal AWS APIs at {aws_endpoint}; data in {}",
        stack_dir.display()
    );
    println!("Press Ctrl-C to stop.\n");
}
