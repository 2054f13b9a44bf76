//! [`Simulator::start`]: the whole app on this machine from its [`Architecture`], the mirror of
//! the AWS engine's deploy. It owns the local AWS APIs, the function pools, the Function URL
//! gateway and every function's environment (`pluto_model::env::function_env`, the derivation the
//! AWS engine uses too); `cargo pluto run`, the tests and the benches all start apps through it.

use crate::aws::sigv4::{Credentials, Keyring};
use crate::aws::{AccessRecorder, AwsLog, LocalAws, credentials_env};
use crate::error::SimulatorError;
use crate::gateway::{ExposedFunction, Gateway, RequestLog};
use crate::lambda::{FunctionConfig, FunctionPool, LambdaError, LogSink, Outcome};
use pluto_model::Architecture;
use pluto_model::env::function_env;
use pluto_model::llm::TextGeneration;
use pluto_model::naming::StackNames;
use pluto_spec::{EnvValue, ResourceKind, contract};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The KV database's file in [`SimulatorOptions::data_dir`].
pub const KV_DATABASE_FILE: &str = "kv.redb";

/// How long a client may take to send a request's headers (and a kept-alive connection may stay
/// idle) on the gateway and the local AWS APIs before the connection is closed, so clients that
/// trickle headers (slowloris) cannot hold the simulator's file descriptors.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a variable of the deploying machine's environment (`from_env("VAR")` values).
pub type DeployEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How to run an app locally.
#[derive(Clone)]
pub struct SimulatorOptions {
    /// Stack name (part of every physical name, as deployed).
    pub stack: String,
    /// The app binary, built for this machine.
    pub binary: PathBuf,
    /// Where the KV data lives ([`KV_DATABASE_FILE`]); it survives restarts.
    pub data_dir: PathBuf,
    /// Port of the Function URL gateway on 127.0.0.1 (0: any free port).
    pub gateway_port: u16,
    /// Most instances of one function running at once.
    pub max_instances: usize,
    /// What serves SageMaker endpoints; without one, invoking an endpoint is a `ModelError`.
    pub model: Option<Arc<dyn TextGeneration>>,
    /// Reads `from_env("VAR")` values on this machine (default: the process environment).
    pub deploy_env: DeployEnv,
    /// The simulator's own log lines (denials and their reasons).
    pub log: AwsLog,
    /// Function output, line by line.
    pub function_logs: LogSink,
    /// One record per gateway request.
    pub request_log: RequestLog,
    /// Receives every AWS access a function attempts (see [`LocalAws::with_access_recorder`]).
    pub access_recorder: Option<AccessRecorder>,
    /// Start one instance of every function before returning (a warm start).
    pub warm_up: bool,
    /// Give every function the physical names of every resource, not only of those it was
    /// granted, so an access the deducer missed reaches the IAM check (and is recorded and
    /// denied) instead of failing in the runtime first: for differential tests.
    pub every_resource_name: bool,
}

impl std::fmt::Debug for SimulatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorOptions")
            .field("stack", &self.stack)
            .field("binary", &self.binary)
            .field("data_dir", &self.data_dir)
            .field("gateway_port", &self.gateway_port)
            .field("max_instances", &self.max_instances)
            .field("model", &self.model)
            .field("warm_up", &self.warm_up)
            .finish_non_exhaustive()
    }
}

impl SimulatorOptions {
    /// Options for stack `stack` running `binary` with its data in `data_dir`: any free gateway
    /// port, 4 instances per function, no model, secrets from this process's environment,
    /// silent logs, no warm-up.
    pub fn new(stack: &str, binary: PathBuf, data_dir: PathBuf) -> Self {
        Self {
            stack: stack.to_owned(),
            binary,
            data_dir,
            gateway_port: 0,
            max_instances: 4,
            model: None,
            deploy_env: Arc::new(|var: &str| std::env::var(var).ok()),
            log: Arc::new(|_: &str| {}),
            function_logs: Arc::new(|_: &str, _: u64, _: &str| {}),
            request_log: Arc::new(|_: &crate::gateway::RequestRecord| {}),
            access_recorder: None,
            warm_up: false,
            every_resource_name: false,
        }
    }
}

/// A running app: its local AWS APIs, functions and gateway. [`Simulator::stop`] ends them.
#[derive(Debug)]
pub struct Simulator {
    aws_endpoint: String,
    gateway_url: String,
    pools: BTreeMap<String, Arc<FunctionPool>>,
    urls: BTreeMap<String, String>,
    keys: Arc<Keyring>,
    servers: Vec<JoinHandle<()>>,
    /// Closed on stop, so the stack's KV data is free at once (connections may linger).
    aws: Arc<LocalAws>,
}

/// The local URL of function `name` behind the gateway at `gateway_url`; like a deployed
/// Function URL (`https://<id>.lambda-url.<region>.on.aws/`) it ends in `/`.
pub fn local_function_url(gateway_url: &str, name: &str) -> String {
    format!("{gateway_url}/{name}/")
}

async fn bind(port: u16) -> Result<(TcpListener, String), SimulatorError> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| SimulatorError::Listen { port, source })?;
    let address = listener
        .local_addr()
        .map_err(|source| SimulatorError::Listen { port, source })?;
    Ok((listener, format!("http://{address}")))
}

/// Serves `router` on `listener` over HTTP/1.1, closing connections that do not send a
/// request's headers within [`HEADER_READ_TIMEOUT`] (`axum::serve` sets no such timeout).
async fn serve(listener: TcpListener, router: axum::Router) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, or a connection reset before it was accepted: retry soon.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Simulator {
    /// Starts `architecture` as `options` say: binds the local AWS APIs and the gateway, makes
    /// this run's credentials (random, one per function and one for the developer), derives
    /// each function's environment (its grants' resources, the URLs it reads, its declared
    /// variables, its credentials), and serves. Returns once everything listens (and, with
    /// [`SimulatorOptions::warm_up`], once every function has an instance).
    pub async fn start(
        architecture: &Architecture,
        options: SimulatorOptions,
    ) -> Result<Self, SimulatorError> {
        let names = StackNames::new(&architecture.project, &options.stack)
            .map_err(SimulatorError::BadStack)?;
        let (aws_listener, aws_endpoint) = bind(0).await?;
        let (gateway_listener, gateway_url) = bind(options.gateway_port).await?;
        let keys = Arc::new(Keyring::generate(
            architecture
                .functions
                .iter()
                .map(|function| function.spec.name.as_str()),
        ));
        let urls: BTreeMap<String, String> = architecture
            .functions
            .iter()
            .filter(|function| function.spec.url.has_url())
            .map(|function| {
                let name = function.spec.name.clone();
                let url = local_function_url(&gateway_url, &name);
                (name, url)
            })
            .collect();
        let every_resource: Vec<(String, String)> = if options.every_resource_name {
            architecture
                .resources
                .iter()
                .map(|resource| (resource.spec.kind(), resource.spec.name().to_owned()))
                .chain(
                    architecture
                        .functions
                        .iter()
                        .map(|function| (ResourceKind::Function, function.spec.name.clone())),
                )
                .map(|(kind, name)| {
                    (
                        contract::resource_env_var(kind, &name),
                        names.resource(kind, &name),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };

        let mut pools = BTreeMap::new();
        for function in &architecture.functions {
            let name = &function.spec.name;
            let derived = function_env(architecture, function, &names, &|target| {
                urls.get(target).cloned()
            });
            let mut env = every_resource.clone();
            for (key, value) in derived.vars {
                let value = match value {
                    EnvValue::Literal(value) => value,
                    EnvValue::FromDeployEnv(var) => {
                        (options.deploy_env)(&var).ok_or_else(|| SimulatorError::MissingSecret {
                            resource: format!("function `{name}`"),
                            key: key.clone(),
                            var: var.clone(),
                        })?
                    }
                };
                env.retain(|(existing, _)| *existing != key);
                env.push((key, value));
            }
            // Last, so a declared `AWS_ENDPOINT_URL` cannot take a function past the local
            // APIs (and their IAM checks) to somewhere else.
            for (key, value) in credentials_env(&keys, name, &aws_endpoint) {
                env.retain(|(existing, _)| *existing != key);
                env.push((key, value));
            }
            let config = FunctionConfig {
                name: name.clone(),
                binary: options.binary.clone(),
                env,
                timeout: Duration::from_secs(u64::from(function.spec.timeout_s)),
                memory_mb: function.spec.memory_mb,
                max_instances: options.max_instances,
            };
            pools.insert(
                name.clone(),
                Arc::new(FunctionPool::new(config, options.function_logs.clone())),
            );
        }

        let mut aws = LocalAws::new(
            architecture.clone(),
            names,
            &options.data_dir.join(KV_DATABASE_FILE),
            options.model.clone(),
            pools
                .iter()
                .map(|(name, pool)| (name.clone(), pool.clone()))
                .collect::<HashMap<_, _>>(),
            keys.clone(),
            options.log.clone(),
        )?;
        if let Some(recorder) = options.access_recorder.clone() {
            aws = aws.with_access_recorder(recorder);
        }
        let aws = Arc::new(aws);
        let aws_router = aws.clone().router();
        let mut servers = vec![tokio::spawn(serve(aws_listener, aws_router))];

        let exposed: BTreeMap<String, ExposedFunction> = architecture
            .functions
            .iter()
            .filter(|function| function.spec.url.has_url())
            .filter_map(|function| {
                let pool = pools.get(&function.spec.name)?.clone();
                Some((
                    function.spec.name.clone(),
                    ExposedFunction {
                        pool,
                        auth: function.spec.url,
                        cors: function.spec.cors.clone(),
                        response: function.response,
                    },
                ))
            })
            .collect();
        let gateway_router = Arc::new(
            Gateway::new(exposed, options.request_log.clone()).with_grants_of(aws.clone()),
        )
        .router();
        servers.push(tokio::spawn(serve(gateway_listener, gateway_router)));

        let simulator = Self {
            aws,
            aws_endpoint,
            gateway_url,
            pools,
            urls,
            keys,
            servers,
        };
        if options.warm_up {
            for (function, pool) in &simulator.pools {
                if let Err(source) = pool.warm_up().await {
                    let function = function.clone();
                    simulator.stop().await;
                    return Err(SimulatorError::WarmUp { function, source });
                }
            }
        }
        Ok(simulator)
    }

    /// Base URL of the Function URL gateway, e.g. `http://127.0.0.1:9000`.
    pub fn gateway_url(&self) -> &str {
        &self.gateway_url
    }

    /// Endpoint of the local AWS APIs (`AWS_ENDPOINT_URL` of every function).
    pub fn aws_endpoint(&self) -> &str {
        &self.aws_endpoint
    }

    /// The local URL of each function that has one, by logical name.
    pub fn urls(&self) -> &BTreeMap<String, String> {
        &self.urls
    }

    /// The developer credential of this run: it signs requests to IAM-auth URLs (e.g.
    /// `curl --aws-sigv4 "aws:amz:us-east-1:lambda" --user KEY:SECRET URL`, see
    /// [`crate::gateway::signing_hint`] and [`Credentials::curl_user`]). New on every run.
    pub fn developer_credentials(&self) -> &Credentials {
        self.keys.developer()
    }

    /// The credentials of function `name`'s processes in this run.
    pub fn function_credentials(&self, name: &str) -> Option<&Credentials> {
        self.keys.function(name)
    }

    /// The instances of function `name`.
    pub fn pool(&self, name: &str) -> Option<&Arc<FunctionPool>> {
        self.pools.get(name)
    }

    /// Invokes function `name` directly (as `Lambda:Invoke` would) with `payload`.
    pub async fn invoke(&self, name: &str, payload: Value) -> Result<Outcome, LambdaError> {
        match self.pools.get(name) {
            Some(pool) => pool.invoke(payload).await,
            None => Err(LambdaError::ShuttingDown(name.to_owned())),
        }
    }

    /// Stops the servers and every function instance.
    pub async fn stop(self) {
        for server in &self.servers {
            server.abort();
        }
        for pool in self.pools.values() {
            pool.shutdown().await;
        }
        self.aws.close();
    }
}
