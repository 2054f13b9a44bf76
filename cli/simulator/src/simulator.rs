//! [`Simulator::start`]: the whole app on this machine from its [`Architecture`], the mirror of
//! the AWS engine's deploy. It owns the local AWS APIs, the function pools, the Function URL
//! gateway and every function's environment (`pluto_model::env::function_env`, the derivation the
//! AWS engine uses too); `cargo pluto run`, the tests and the benches all start apps through it.

use crate::aws::sigv4::{Credentials, Keyring};
use crate::aws::{AccessRecorder, AwsLog, LocalAws, credentials_env};
use crate::error::SimulatorError;
use crate::gateway::{ExposedFunction, Gateway, RequestLog};
use crate::lambda::{
    FunctionConfig, FunctionPool, InvocationLog, InvocationSource, LambdaError, LogSink, Outcome,
};
use crate::secrets::LocalSecrets;
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

/// Where the dev console is served on its port ([`SimulatorOptions::console`]).
pub const CONSOLE_PATH: &str = "/_pluto";

/// The KV database's file in [`SimulatorOptions::data_dir`].
pub const KV_DATABASE_FILE: &str = "kv.redb";

/// The directory of the buckets' objects in [`SimulatorOptions::data_dir`].
pub const BUCKETS_DIR: &str = "buckets";

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
    /// Where the KV data ([`KV_DATABASE_FILE`]) and the buckets' objects ([`BUCKETS_DIR`])
    /// live; they survive restarts.
    pub data_dir: PathBuf,
    /// The root of the local secret store ([`crate::secrets::LocalSecrets::in_root`]); `None`:
    /// the default one ([`crate::secrets::LocalSecrets::default_root`]), as `cargo pluto secret
    /// set` uses.
    pub secrets_dir: Option<PathBuf>,
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
    /// Every invocation of every function: started, answered, stream ended.
    pub invocation_log: InvocationLog,
    /// The dev console's routes, served under [`CONSOLE_PATH`] on a port of its own (an
    /// origin of its own: a page a function serves cannot script it), loopback names only.
    pub console: Option<axum::Router>,
    /// Port of the dev console on 127.0.0.1 (0: any free port).
    pub console_port: u16,
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
            .field("secrets_dir", &self.secrets_dir)
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
            secrets_dir: None,
            gateway_port: 0,
            max_instances: 4,
            model: None,
            deploy_env: Arc::new(|var: &str| std::env::var(var).ok()),
            log: Arc::new(|_: &str| {}),
            function_logs: Arc::new(|_: &str, _: u64, _: &str| {}),
            request_log: Arc::new(|_: &crate::gateway::RequestRecord| {}),
            invocation_log: Arc::new(|_: &crate::lambda::InvocationEvent<'_>| {}),
            console: None,
            console_port: 0,
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
    /// The dev console's URL (ends with `/_pluto/`), when it is served.
    console_url: Option<String>,
    /// Replaced by a hot reload ([`Simulator::reload`]).
    pools: SharedPools,
    gateway: Arc<Gateway>,
    /// What made the pools, to make them again on reload.
    names: StackNames,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    options: SimulatorOptions,
    urls: BTreeMap<String, String>,
    keys: Arc<Keyring>,
    servers: Vec<JoinHandle<()>>,
    /// Closed on stop, so the stack's KV data is free at once (connections may linger).
    aws: Arc<LocalAws>,
}

/// The function pools of a running app, shared with [`SimulatorHandle`]s.
type SharedPools = Arc<std::sync::RwLock<BTreeMap<String, Arc<FunctionPool>>>>;

/// What the dev console needs of a running app, cheap to clone: invoking functions (the
/// current instances, after any reload), the local AWS APIs (KV data) and the app as it runs.
#[derive(Debug, Clone)]
pub struct SimulatorHandle {
    pools: SharedPools,
    aws: Arc<LocalAws>,
    gateway_url: String,
}

impl SimulatorHandle {
    /// The instances of function `name`, as they are now.
    pub fn pool(&self, name: &str) -> Option<Arc<FunctionPool>> {
        let pools = match self.pools.read() {
            Ok(pools) => pools,
            Err(poisoned) => poisoned.into_inner(),
        };
        pools.get(name).cloned()
    }

    /// Invokes function `name` with `event` as request `request_id` from `source`.
    pub async fn invoke_from(
        &self,
        name: &str,
        request_id: String,
        source: InvocationSource,
        event: Value,
    ) -> Result<Outcome, LambdaError> {
        let Some(pool) = self.pool(name) else {
            return Err(LambdaError::ShuttingDown(name.to_owned()));
        };
        match pool
            .invoke_from(request_id.clone(), source.clone(), event)
            .await
        {
            // A reload replaced the pool while this waited for an instance: run it on the new.
            Err(LambdaError::Retired { event, .. }) => match self.pool(name) {
                Some(pool) => pool.invoke_from(request_id, source, *event).await,
                None => Err(LambdaError::ShuttingDown(name.to_owned())),
            },
            answered => answered,
        }
    }

    /// The local AWS APIs.
    pub fn local_aws(&self) -> &Arc<LocalAws> {
        &self.aws
    }

    /// The app as it runs now.
    pub fn architecture(&self) -> Arc<Architecture> {
        self.aws.architecture()
    }

    /// Base URL of the gateway.
    pub fn gateway_url(&self) -> &str {
        &self.gateway_url
    }
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
        // Bucket names hash the account and region, as deployed: the local ones.
        let names = StackNames::new(&architecture.project, &options.stack)
            .map_err(SimulatorError::BadStack)?
            .in_account(crate::aws::LOCAL_ACCOUNT, crate::aws::LOCAL_REGION);
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
        let pools = make_pools(architecture, &names, &urls, &keys, &aws_endpoint, &options)?;

        let secrets = match &options.secrets_dir {
            Some(root) => LocalSecrets::in_root(root, &architecture.project, &options.stack),
            None => LocalSecrets::for_stack(&architecture.project, &options.stack),
        }
        .map_err(|error| error.to_string());
        let mut aws = LocalAws::new(
            architecture.clone(),
            names.clone(),
            &options.data_dir.join(KV_DATABASE_FILE),
            &options.data_dir.join(BUCKETS_DIR),
            secrets,
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

        let gateway = Arc::new(
            Gateway::new(
                exposed_functions(architecture, &pools),
                options.request_log.clone(),
            )
            .with_grants_of(aws.clone()),
        );
        servers.push(tokio::spawn(serve(
            gateway_listener,
            gateway.clone().router(),
        )));
        let console_url = match options.console.clone() {
            Some(console) => {
                let (listener, url) = bind(options.console_port).await?;
                let router = axum::Router::new()
                    .nest_service(CONSOLE_PATH, console)
                    .fallback(|| async {
                        (
                            axum::http::StatusCode::NOT_FOUND,
                            format!("the dev console is at {CONSOLE_PATH}/"),
                        )
                    })
                    .layer(axum::middleware::from_fn(loopback_names_only));
                servers.push(tokio::spawn(serve(listener, router)));
                Some(format!("{url}{CONSOLE_PATH}/"))
            }
            None => None,
        };

        let warm_up = options.warm_up;
        let simulator = Self {
            aws,
            aws_endpoint,
            gateway_url,
            console_url,
            pools: Arc::new(std::sync::RwLock::new(pools.clone())),
            gateway,
            names,
            reloading: tokio::sync::Mutex::new(()),
            options,
            urls,
            keys,
            servers,
        };
        if warm_up && let Err(error) = warm_up_all(&pools).await {
            simulator.stop().await;
            return Err(error);
        }
        Ok(simulator)
    }

    /// A hot reload: runs `binary` with `architecture`'s grants from now on. New instances of
    /// every function start (with [`SimulatorOptions::warm_up`], one each before anything
    /// switches, so a binary that does not start changes nothing); then new requests go to them,
    /// while requests in flight finish on the old instances, which stop once idle. KV data
    /// stays. The app's shape must be the same (its functions, which have URLs, its
    /// resources); otherwise [`SimulatorError::ShapeChanged`] says what changed, and the
    /// simulator must be restarted.
    pub async fn reload(
        &self,
        architecture: &Architecture,
        binary: PathBuf,
    ) -> Result<(), SimulatorError> {
        let _one_at_a_time = self.reloading.lock().await;
        let current = self.aws.architecture();
        if let Some(change) = shape_change(&current, architecture) {
            return Err(SimulatorError::ShapeChanged(change));
        }
        let mut options = self.options.clone();
        options.binary = binary;
        let pools = make_pools(
            architecture,
            &self.names,
            &self.urls,
            &self.keys,
            &self.aws_endpoint,
            &options,
        )?;
        if options.warm_up
            && let Err(error) = warm_up_all(&pools).await
        {
            for pool in pools.values() {
                pool.shutdown().await;
            }
            return Err(error);
        }
        self.gateway
            .replace_functions(exposed_functions(architecture, &pools));
        self.aws.replace(
            architecture.clone(),
            pools
                .iter()
                .map(|(name, pool)| (name.clone(), pool.clone()))
                .collect(),
        );
        let old = match self.pools.write() {
            Ok(mut current) => std::mem::replace(&mut *current, pools),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), pools),
        };
        // Retiring an old pool stops its idle instances now and each busy one when its
        // invocation ends; invocations waiting for an instance move to the new pool.
        for pool in old.values() {
            pool.retire().await;
        }
        Ok(())
    }

    /// Base URL of the Function URL gateway, e.g. `http://127.0.0.1:9000`.
    pub fn gateway_url(&self) -> &str {
        &self.gateway_url
    }

    /// The dev console's URL (`http://127.0.0.1:PORT/_pluto/`), when
    /// [`SimulatorOptions::console`] was given.
    pub fn console_url(&self) -> Option<&str> {
        self.console_url.as_deref()
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

    /// The instances of function `name` (the current ones: a reload replaces them).
    pub fn pool(&self, name: &str) -> Option<Arc<FunctionPool>> {
        self.handle().pool(name)
    }

    /// A handle on the running app for the dev console.
    pub fn handle(&self) -> SimulatorHandle {
        SimulatorHandle {
            pools: self.pools.clone(),
            aws: self.aws.clone(),
            gateway_url: self.gateway_url.clone(),
        }
    }

    fn current_pools(&self) -> BTreeMap<String, Arc<FunctionPool>> {
        match self.pools.read() {
            Ok(pools) => pools.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The local AWS APIs (the dev console reads and edits KV data through them).
    pub fn local_aws(&self) -> &Arc<LocalAws> {
        &self.aws
    }

    /// The app as it runs now (after the last reload).
    pub fn architecture(&self) -> Arc<Architecture> {
        self.aws.architecture()
    }

    /// Invokes function `name` directly (as `Lambda:Invoke` would) with `payload`.
    pub async fn invoke(&self, name: &str, payload: Value) -> Result<Outcome, LambdaError> {
        self.handle()
            .invoke_from(
                name,
                crate::lambda::new_request_id(),
                InvocationSource::Invoke { caller: None },
                payload,
            )
            .await
    }

    /// Invokes function `name` with `event` as request `request_id` from `source` (the dev
    /// console uses its own ids to follow the request).
    pub async fn invoke_from(
        &self,
        name: &str,
        request_id: String,
        source: InvocationSource,
        event: Value,
    ) -> Result<Outcome, LambdaError> {
        self.handle()
            .invoke_from(name, request_id, source, event)
            .await
    }

    /// Stops the servers and every function instance.
    pub async fn stop(self) {
        for server in &self.servers {
            server.abort();
        }
        for pool in self.current_pools().values() {
            pool.shutdown().await;
        }
        self.aws.close();
    }
}

/// Refuses requests that name a host other than a loopback one (a web page using DNS
/// rebinding names its own), as the gateway and the local AWS APIs do.
async fn loopback_names_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let host = crate::aws::request_host(request.headers(), request.uri()).map(str::to_owned);
    if host.as_deref().is_some_and(crate::aws::is_loopback_host) {
        return next.run(request).await;
    }
    (
        axum::http::StatusCode::FORBIDDEN,
        format!(
            "Forbidden: the dev console answers only requests to 127.0.0.1, localhost or [::1], \
             not to `{}`",
            host.unwrap_or_else(|| "(none)".to_owned())
        ),
    )
        .into_response()
}

/// Starts one instance of every pool.
async fn warm_up_all(pools: &BTreeMap<String, Arc<FunctionPool>>) -> Result<(), SimulatorError> {
    for (function, pool) in pools {
        if let Err(source) = pool.warm_up().await {
            return Err(SimulatorError::WarmUp {
                function: function.clone(),
                source,
            });
        }
    }
    Ok(())
}

/// What differs in the shape of `new` from `old` (functions, URLs, resources), which a hot
/// reload cannot change, if anything.
fn shape_change(old: &Architecture, new: &Architecture) -> Option<String> {
    let functions = |architecture: &Architecture| -> Vec<(String, bool)> {
        let mut functions: Vec<(String, bool)> = architecture
            .functions
            .iter()
            .map(|function| (function.spec.name.clone(), function.spec.url.has_url()))
            .collect();
        functions.sort();
        functions
    };
    let resources = |architecture: &Architecture| -> Vec<(ResourceKind, String)> {
        let mut resources: Vec<(ResourceKind, String)> = architecture
            .resources
            .iter()
            .map(|resource| (resource.spec.kind(), resource.spec.name().to_owned()))
            .collect();
        resources.sort();
        resources
    };
    if functions(old) != functions(new) {
        let names = |architecture: &Architecture| {
            functions(architecture)
                .iter()
                .map(|(name, url)| format!("{name}{}", if *url { " (URL)" } else { "" }))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Some(format!(
            "the functions changed: {} -> {}",
            names(old),
            names(new)
        ));
    }
    if resources(old) != resources(new) {
        let names = |architecture: &Architecture| {
            resources(architecture)
                .iter()
                .map(|(kind, name)| format!("{} {name}", kind.keyword()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Some(format!(
            "the resources changed: {} -> {}",
            names(old),
            names(new)
        ));
    }
    // Same resources by name; the local AWS APIs and the model were set up for their settings.
    let changed: Vec<String> = new
        .resources
        .iter()
        .filter(|resource| !old.resources.iter().any(|was| was.spec == resource.spec))
        .map(|resource| {
            format!(
                "{} {}",
                resource.spec.kind().keyword(),
                resource.spec.name()
            )
        })
        .collect();
    if changed.is_empty() {
        None
    } else {
        Some(format!("the settings of {} changed", changed.join(", ")))
    }
}

/// The gateway's view of the functions that have a URL.
fn exposed_functions(
    architecture: &Architecture,
    pools: &BTreeMap<String, Arc<FunctionPool>>,
) -> BTreeMap<String, ExposedFunction> {
    architecture
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
        .collect()
}

/// One pool per function of `architecture`, running `options.binary` with the function's
/// environment: its grants' resources, the URLs it reads, its declared variables, its
/// credentials.
fn make_pools(
    architecture: &Architecture,
    names: &StackNames,
    urls: &BTreeMap<String, String>,
    keys: &Keyring,
    aws_endpoint: &str,
    options: &SimulatorOptions,
) -> Result<BTreeMap<String, Arc<FunctionPool>>, SimulatorError> {
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
        let derived = function_env(architecture, function, names, &|target| {
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
        for (key, value) in credentials_env(keys, name, aws_endpoint) {
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
            Arc::new(FunctionPool::observed(
                config,
                options.function_logs.clone(),
                options.invocation_log.clone(),
            )),
        );
    }

    Ok(pools)
}
