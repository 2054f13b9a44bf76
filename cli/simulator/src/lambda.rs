//! Functions as real Lambda processes.
//!
//! Each function instance is a process of the app binary with the Lambda environment, talking to
//! a Lambda Runtime API (`/2018-06-01/runtime/...`: `invocation/next`, `response`, `error`,
//! `init/error`) that this module serves on its own loopback port, so the simulator always knows
//! which process handles which request. A [`FunctionPool`] starts instances on demand up to a
//! limit, reuses idle ones, and replaces an instance that timed out (it is killed, as Lambda
//! does) or crashed.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pluto_spec::limits::MAX_RESPONSE_BYTES;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

/// Where function output goes: `(function, instance, line)`.
pub type LogSink = Arc<dyn Fn(&str, u64, &str) + Send + Sync>;

/// How to run one function.
#[derive(Clone)]
pub struct FunctionConfig {
    /// Logical name (`PLUTO_HANDLER`).
    pub name: String,
    /// The app binary.
    pub binary: PathBuf,
    /// Extra environment: the resource-name contract, AWS endpoint and credentials.
    pub env: Vec<(String, String)>,
    /// Lambda timeout.
    pub timeout: Duration,
    /// Lambda memory (reported to the process; not enforced).
    pub memory_mb: u32,
    /// Most instances running at once.
    pub max_instances: usize,
}

impl std::fmt::Debug for FunctionConfig {
    /// Variable names only: values may be secrets (`from_env`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.env.iter().map(|(key, _)| key.as_str()).collect();
        f.debug_struct("FunctionConfig")
            .field("name", &self.name)
            .field("binary", &self.binary)
            .field("env", &keys)
            .field("timeout", &self.timeout)
            .field("memory_mb", &self.memory_mb)
            .field("max_instances", &self.max_instances)
            .finish()
    }
}

/// What an invocation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function posted a response.
    Response(Value),
    /// The function posted an error (`errorType`, `errorMessage`).
    FunctionError {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// The function did not answer within its timeout; the instance was killed.
    TimedOut(Duration),
    /// The instance exited (or failed to initialise) before answering.
    Crashed(String),
}

/// Why an invocation could not even start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LambdaError {
    /// The Runtime API could not listen.
    #[error("could not listen on loopback for the Lambda Runtime API: {0}")]
    Listen(std::io::Error),
    /// The simulator is stopping.
    #[error("function `{0}` is shutting down")]
    ShuttingDown(String),
    /// The task running the invocation failed (it panicked or the runtime is shutting down).
    #[error("the invocation's task failed: {0}")]
    Task(String),
    /// The app binary could not be started.
    #[error("could not start {binary} for function `{function}`: {source}")]
    Spawn {
        /// The function.
        function: String,
        /// The binary.
        binary: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The instances of one function: a cheap handle; an invocation runs on its own task, so a
/// caller that goes away (a client disconnecting from the gateway) does not cut it short.
#[derive(Clone)]
pub struct FunctionPool {
    inner: Arc<PoolInner>,
}

/// What the handles of one pool share.
struct PoolInner {
    config: FunctionConfig,
    logs: LogSink,
    idle: Mutex<Vec<Instance>>,
    slots: Semaphore,
    next_instance: AtomicU64,
}

impl std::fmt::Debug for FunctionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionPool")
            .field("function", &self.inner.config.name)
            .finish()
    }
}

/// Logs, when dropped before [`CallerWatch::answered`], that the caller went away while the
/// invocation goes on (Lambda finishes an invocation whose client disconnected).
struct CallerWatch<'a> {
    pool: &'a PoolInner,
    answered: bool,
}

impl CallerWatch<'_> {
    fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for CallerWatch<'_> {
    fn drop(&mut self) {
        if !self.answered {
            (self.pool.logs)(
                &self.pool.config.name,
                0,
                "the caller went away; the invocation runs to its end, as on Lambda",
            );
        }
    }
}

impl FunctionPool {
    /// A pool with no instance yet (they start on the first requests).
    pub fn new(config: FunctionConfig, logs: LogSink) -> Self {
        let slots = Semaphore::new(config.max_instances.max(1));
        Self {
            inner: Arc::new(PoolInner {
                config,
                logs,
                idle: Mutex::new(Vec::new()),
                slots,
                next_instance: AtomicU64::new(1),
            }),
        }
    }

    /// The function's configuration.
    pub fn config(&self) -> &FunctionConfig {
        &self.inner.config
    }

    /// Starts one instance ahead of the first request (a warm start).
    pub async fn warm_up(&self) -> Result<(), LambdaError> {
        let instance = self.inner.start_instance().await?;
        self.inner.idle.lock().await.push(instance);
        Ok(())
    }

    /// Runs one invocation on an idle instance, or a new one when none is idle and the limit
    /// allows; otherwise waits for one. The invocation runs on its own task: if this future is
    /// dropped (the caller disconnected), it still runs to its end and the log says so.
    pub async fn invoke(&self, event: Value) -> Result<Outcome, LambdaError> {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move { inner.invoke(event).await });
        let watch = CallerWatch {
            pool: &self.inner,
            answered: false,
        };
        let result = task.await;
        watch.answered();
        result.unwrap_or_else(|error| Err(LambdaError::Task(error.to_string())))
    }

    /// Stops every idle instance.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

impl PoolInner {
    async fn invoke(&self, event: Value) -> Result<Outcome, LambdaError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| LambdaError::ShuttingDown(self.config.name.clone()))?;
        let reused = self.idle.lock().await.pop();
        let mut instance = match reused {
            Some(instance) => instance,
            None => self.start_instance().await?,
        };
        let request_id = random_request_id();
        let outcome = instance
            .invoke(request_id, event, self.config.timeout)
            .await;
        match &outcome {
            // Stopped while this invocation ran: its instance goes too.
            _ if self.slots.is_closed() => instance.kill().await,
            Outcome::Response(_) | Outcome::FunctionError { .. } => {
                self.idle.lock().await.push(instance)
            }
            Outcome::TimedOut(_) | Outcome::Crashed(_) => {
                (self.logs)(
                    &self.config.name,
                    instance.id,
                    &format!("instance replaced: {}", describe(&outcome)),
                );
                instance.kill().await;
            }
        }
        Ok(outcome)
    }

    /// Stops every idle instance.
    async fn shutdown(&self) {
        self.slots.close();
        for mut instance in self.idle.lock().await.drain(..) {
            instance.kill().await;
        }
    }

    async fn start_instance(&self) -> Result<Instance, LambdaError> {
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
        Instance::start(&self.config, id, self.logs.clone()).await
    }
}

/// A request id like Lambda's (a random UUID): nothing else on this machine can guess the id
/// of an invocation in flight and answer it.
fn random_request_id() -> String {
    let mut bytes = [0_u8; 16];
    // A failed read of the system's randomness leaves zeros, still a valid (if guessable) id.
    let _ = getrandom::fill(&mut bytes);
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Only the function's own process may use its Runtime API: requests to a name other than this
/// machine's (DNS rebinding) or that a browser sent for a page (`Origin`, `Sec-Fetch-Site`) are
/// refused, so a web page cannot take events or post answers.
async fn only_this_machine(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let loopback =
        crate::aws::request_host(headers, request.uri()).is_some_and(crate::aws::is_loopback_host);
    let from_a_page = headers.contains_key("origin") || headers.contains_key("sec-fetch-site");
    if !loopback || from_a_page {
        return StatusCode::FORBIDDEN.into_response();
    }
    next.run(request).await
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::TimedOut(after) => format!("timed out after {:.2} s", after.as_secs_f64()),
        Outcome::Crashed(why) => format!("crashed: {why}"),
        Outcome::Response(_) => "responded".to_owned(),
        Outcome::FunctionError { error_type, .. } => format!("failed with {error_type}"),
    }
}

/// One process and its private Runtime API.
struct Instance {
    id: u64,
    child: Child,
    api: Arc<RuntimeApi>,
    server: tokio::task::JoinHandle<()>,
}

/// State of an instance's Runtime API.
struct RuntimeApi {
    function_arn: String,
    next: Mutex<mpsc::Receiver<Invocation>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    sender: mpsc::Sender<Invocation>,
    init_error: Mutex<Option<String>>,
}

struct Invocation {
    request_id: String,
    event: Value,
    deadline_ms: u128,
    reply: oneshot::Sender<Outcome>,
}

impl Instance {
    async fn start(config: &FunctionConfig, id: u64, logs: LogSink) -> Result<Self, LambdaError> {
        let (sender, receiver) = mpsc::channel(1);
        let api = Arc::new(RuntimeApi {
            function_arn: crate::aws::local_target()
                .physical_arn(pluto_spec::ResourceKind::Function, &config.name),
            next: Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            sender,
            init_error: Mutex::new(None),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(DefaultBodyLimit::max(MAX_RESPONSE_BYTES * 2))
            .layer(axum::middleware::from_fn(only_this_machine))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(LambdaError::Listen)?;
        let address = listener.local_addr().map_err(LambdaError::Listen)?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let mut command = Command::new(&config.binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &config.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                config.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!(
                    "{}{}",
                    pluto_model::naming::FUNCTION_LOG_GROUP_PREFIX,
                    config.name
                ),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{id}"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(
                config
                    .env
                    .iter()
                    .map(|(key, value)| (key.as_str(), value.as_str())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| LambdaError::Spawn {
            function: config.name.clone(),
            binary: config.binary.clone(),
            source,
        })?;
        for stream in [
            child.stdout.take().map(Either::Out),
            child.stderr.take().map(Either::Err),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            let function = config.name.clone();
            tokio::spawn(async move {
                match stream {
                    Either::Out(out) => forward(BufReader::new(out), &logs, &function, id).await,
                    Either::Err(err) => forward(BufReader::new(err), &logs, &function, id).await,
                }
            });
        }
        Ok(Self {
            id,
            child,
            api,
            server,
        })
    }

    async fn invoke(&mut self, request_id: String, event: Value, timeout: Duration) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|now| (now + timeout).as_millis())
            .unwrap_or_default();
        let invocation = Invocation {
            request_id,
            event,
            deadline_ms,
            reply,
        };
        if self.api.sender.send(invocation).await.is_err() {
            return Outcome::Crashed("the instance's Runtime API is closed".to_owned());
        }
        tokio::select! {
            answer = answer => answer.unwrap_or_else(|_| Outcome::Crashed("the request was dropped".to_owned())),
            status = self.child.wait() => {
                let init_error = self.api.init_error.lock().await.clone();
                let status = status.map_or_else(|error| error.to_string(), |status| status.to_string());
                Outcome::Crashed(match init_error {
                    Some(error) => format!("initialisation failed: {error}"),
                    None => format!("the process exited ({status})"),
                })
            }
            () = tokio::time::sleep(timeout) => Outcome::TimedOut(timeout),
        }
    }

    async fn kill(&mut self) {
        let _ = self.child.kill().await;
        self.server.abort();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // The process is killed by `kill_on_drop`; its Runtime API goes with it.
        self.server.abort();
    }
}

enum Either<O, E> {
    Out(O),
    Err(E),
}

async fn forward<R: tokio::io::AsyncRead + Unpin>(
    reader: BufReader<R>,
    logs: &LogSink,
    function: &str,
    id: u64,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs(function, id, &line);
    }
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    let Some(invocation) = api.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let values = [
        (
            "lambda-runtime-aws-request-id",
            invocation.request_id.clone(),
        ),
        (
            "lambda-runtime-deadline-ms",
            invocation.deadline_ms.to_string(),
        ),
        (
            "lambda-runtime-invoked-function-arn",
            api.function_arn.clone(),
        ),
        (
            "lambda-runtime-trace-id",
            format!(
                "Root=1-00000000-{:0>24}",
                invocation.request_id.replace('-', "")
            ),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    api.in_flight
        .lock()
        .await
        .insert(invocation.request_id, invocation.reply);
    (StatusCode::OK, headers, invocation.event.to_string()).into_response()
}

async fn settle(api: &RuntimeApi, id: &str, outcome: Outcome) -> StatusCode {
    match api.in_flight.lock().await.remove(id) {
        Some(reply) => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn respond(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    if body.len() > MAX_RESPONSE_BYTES {
        // What Lambda does: the invocation fails with this error, and the runtime is told 413.
        let outcome = Outcome::FunctionError {
            error_type: "Function.ResponseSizeTooLarge".to_owned(),
            message: format!(
                "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            ),
        };
        settle(&api, &id, outcome).await;
        return StatusCode::PAYLOAD_TOO_LARGE;
    }
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    settle(&api, &id, Outcome::Response(value)).await
}

async fn fail(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let outcome = Outcome::FunctionError {
        error_type: text("errorType"),
        message: text("errorMessage"),
    };
    settle(&api, &id, outcome).await
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, body: Bytes) -> StatusCode {
    *api.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}
