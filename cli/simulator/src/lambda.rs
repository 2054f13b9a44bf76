//! Functions as real Lambda processes.
//!
//! Each function instance is a process of the app binary with the Lambda environment, talking to
//! a Lambda Runtime API (`/2018-06-01/runtime/...`: `invocation/next`, `response`, `error`,
//! `init/error`) that this module serves on its own loopback port, so the simulator always knows
//! which process handles which request. A [`FunctionPool`] starts instances on demand up to a
//! limit, reuses idle ones, and replaces an instance that timed out (it is killed, as Lambda
//! does) or crashed.
//!
//! A function may also answer with a **streamed response**, as Lambda's response streaming
//! does: `POST .../response` with `Lambda-Runtime-Function-Response-Mode: streaming` and a
//! chunked body, which for `Content-Type: application/vnd.awslambda.http-integration-response`
//! starts with a JSON prelude (`statusCode`, `headers`, `cookies`) and 8 NUL bytes; an error
//! mid-stream comes as the trailers `Lambda-Runtime-Function-Error-Type` and
//! `Lambda-Runtime-Function-Error-Body` (base64 of `{"errorType", "errorMessage"}`). The caller
//! gets [`Outcome::Streamed`] as soon as the prelude is in, and reads the chunks while the
//! function still writes them. The invocation (and its instance) lasts until the body ends; the
//! function's timeout covers the whole stream (when it fires the instance is killed and the
//! caller's body ends with [`StreamError::TimedOut`]); a caller that drops the body makes the
//! Runtime API stop reading and close the function's connection, so its next write fails.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use http_body_util::BodyExt;
use pluto_spec::limits::MAX_RESPONSE_BYTES;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

/// Instance numbers, unique in this process (across functions and reloads), so a log line's
/// `(function, instance)` names one process.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// Where function output goes: `(function, instance, line)`.
pub type LogSink = Arc<dyn Fn(&str, u64, &str) + Send + Sync>;

/// Where an invocation came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvocationSource {
    /// A request to the function's URL.
    Url,
    /// `Lambda:Invoke`: by function `caller`, or by the developer's key (`None`).
    Invoke {
        /// The calling function (logical name).
        caller: Option<String>,
    },
    /// The dev console's invoke form, or `cargo pluto invoke`.
    Console,
}

/// What happens to an invocation, as observers (the dev console) see it. Every invocation that
/// reaches an instance is `Started`, then `Answered`; a streamed one is `StreamEnded` too.
#[derive(Debug)]
#[non_exhaustive]
pub enum InvocationEvent<'a> {
    /// Instance `instance` took the event.
    Started {
        /// The Lambda request id (`lambda-runtime-aws-request-id`).
        request_id: &'a str,
        /// The function (logical name).
        function: &'a str,
        /// The instance running it.
        instance: u64,
        /// Where it came from.
        source: &'a InvocationSource,
        /// The event.
        event: &'a Value,
    },
    /// The function answered: a response, an error, a timeout, a crash, or the head of a
    /// streamed response (its end is [`InvocationEvent::StreamEnded`]).
    Answered {
        /// The Lambda request id.
        request_id: &'a str,
        /// The function.
        function: &'a str,
        /// The answer.
        outcome: &'a Outcome,
        /// From start to answer.
        latency: Duration,
    },
    /// A streamed response ended: completely (`error: None`) or cut.
    StreamEnded {
        /// The Lambda request id.
        request_id: &'a str,
        /// The function.
        function: &'a str,
        /// Why it was cut.
        error: Option<&'a StreamError>,
        /// From start to end.
        latency: Duration,
    },
}

/// Receives every [`InvocationEvent`] of a pool.
pub type InvocationLog = Arc<dyn Fn(&InvocationEvent<'_>) + Send + Sync>;

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
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The function posted a response.
    Response(Value),
    /// The function streams its response: the head is known, the body comes chunk by chunk
    /// while the function writes it.
    Streamed(StreamedResponse),
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

/// The `Content-Type` of a streamed response that starts with an HTTP prelude (status, headers,
/// cookies) and [`PRELUDE_DELIMITER`], as Lambda's response streaming for Function URLs has it.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";

/// The 8 NUL bytes between the JSON prelude of an HTTP-integration stream and its body.
pub const PRELUDE_DELIMITER: [u8; 8] = [0; 8];

/// How many chunks the Runtime API reads ahead of a caller that does not read: a small window,
/// so a slow caller slows the function down (back-pressure) and a gone one is noticed at once.
const STREAM_WINDOW_CHUNKS: usize = 8;

/// Status, headers and cookies of a streamed response: the prelude of an HTTP-integration
/// stream, or `200` with the `Content-Type` the function posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    /// The HTTP status (`statusCode`, default 200).
    pub status: u16,
    /// The headers, in the prelude's order.
    pub headers: Vec<(String, String)>,
    /// The `Set-Cookie` values.
    pub cookies: Vec<String>,
}

/// Why a streamed response ended before its end: the caller's body then ends with this error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The function reported an error mid-stream (the error trailers).
    #[error("{error_type}: {message}")]
    Function {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// The function's timeout fired mid-stream; the instance was killed.
    #[error("Task timed out after {:.2} seconds", .0.as_secs_f64())]
    TimedOut(Duration),
    /// The instance exited, or its connection broke, mid-stream.
    #[error("{0}")]
    Crashed(String),
    /// Collected for a buffered caller, the body grew over the limit.
    #[error("Response payload size exceeded maximum allowed payload size ({0} bytes).")]
    TooLarge(usize),
}

/// A response the function is still streaming: its [`StreamHead`] and the chunks of its body,
/// each as the function wrote it. Dropping it (the caller went away) makes the Runtime API stop
/// reading and close the function's connection.
pub struct StreamedResponse {
    /// Status, headers and cookies.
    pub head: StreamHead,
    chunks: mpsc::Receiver<Result<Bytes, StreamError>>,
}

impl std::fmt::Debug for StreamedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedResponse")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl PartialEq for StreamedResponse {
    /// Never equal: a stream is not a value (like NaN, it is not even equal to itself).
    fn eq(&self, _other: &Self) -> bool {
        false
    }
}

impl StreamedResponse {
    /// The next chunk; `None` at the end of a complete body, an error when it was cut (then it
    /// is the last item).
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, StreamError>> {
        self.chunks.recv().await
    }

    /// The chunks as a stream, for an HTTP body (`axum::body::Body::from_stream`).
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<Bytes, StreamError>> + Send + 'static {
        futures_util::stream::unfold(self.chunks, |mut chunks| async move {
            chunks.recv().await.map(|item| (item, chunks))
        })
    }

    /// The whole body, as a buffered caller (a `BUFFERED` Function URL, `Invoke`) gets it: the
    /// first error, or [`StreamError::TooLarge`] once it grows over `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, StreamError> {
        let mut body = Vec::new();
        while let Some(chunk) = self.next_chunk().await {
            body.extend_from_slice(&chunk?);
            if body.len() > limit {
                return Err(StreamError::TooLarge(limit));
            }
        }
        Ok(Bytes::from(body))
    }
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
    /// A hot reload replaced the pool before this invocation got an instance: run it on the
    /// function's current pool ([`FunctionPool::retire`]); the event comes back for that.
    #[error("function `{function}` was replaced by a reload")]
    Retired {
        /// The function.
        function: String,
        /// The event, not run.
        event: Box<Value>,
    },
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
    invocations: InvocationLog,
    /// Set by [`FunctionPool::retire`].
    retired: std::sync::atomic::AtomicBool,
    idle: Mutex<Vec<Instance>>,
    slots: Semaphore,
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
        Self::observed(config, logs, Arc::new(|_: &InvocationEvent<'_>| {}))
    }

    /// A pool whose invocations are reported to `invocations`.
    pub fn observed(config: FunctionConfig, logs: LogSink, invocations: InvocationLog) -> Self {
        let slots = Semaphore::new(config.max_instances.max(1));
        Self {
            inner: Arc::new(PoolInner {
                config,
                logs,
                invocations,
                retired: std::sync::atomic::AtomicBool::new(false),
                idle: Mutex::new(Vec::new()),
                slots,
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
    /// dropped (the caller disconnected), it still runs to its end and the log says so. A
    /// streamed answer ([`Outcome::Streamed`]) returns as soon as its head is known; the
    /// invocation and its instance last until its body ends.
    pub async fn invoke(&self, event: Value) -> Result<Outcome, LambdaError> {
        self.invoke_from(
            new_request_id(),
            InvocationSource::Invoke { caller: None },
            event,
        )
        .await
    }

    /// [`FunctionPool::invoke`] with the request id and source the caller chose (the gateway
    /// and the console name requests by their id).
    pub async fn invoke_from(
        &self,
        request_id: String,
        source: InvocationSource,
        event: Value,
    ) -> Result<Outcome, LambdaError> {
        let inner = self.inner.clone();
        let (answer, answered) = oneshot::channel();
        tokio::spawn(async move { inner.invoke(request_id, source, event, answer).await });
        let watch = CallerWatch {
            pool: &self.inner,
            answered: false,
        };
        let result = answered.await;
        watch.answered();
        result.unwrap_or_else(|_| {
            Err(LambdaError::Task(
                "the invocation's task ended without an answer".to_owned(),
            ))
        })
    }

    /// Stops every idle instance.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }

    /// Retires the pool after a hot reload: like [`FunctionPool::shutdown`] (invocations running
    /// finish here, then their instances stop), but an invocation still waiting for an instance
    /// gets [`LambdaError::Retired`] with its event, to run on the new pool.
    pub async fn retire(&self) {
        self.inner.retired.store(true, Ordering::Release);
        self.inner.shutdown().await;
    }
}

impl PoolInner {
    async fn invoke(
        &self,
        request_id: String,
        source: InvocationSource,
        event: Value,
        answer: oneshot::Sender<Result<Outcome, LambdaError>>,
    ) {
        let Ok(_slot) = self.slots.acquire().await else {
            let error = if self.retired.load(Ordering::Acquire) {
                LambdaError::Retired {
                    function: self.config.name.clone(),
                    event: Box::new(event),
                }
            } else {
                LambdaError::ShuttingDown(self.config.name.clone())
            };
            let _ = answer.send(Err(error));
            return;
        };
        let reused = self.idle.lock().await.pop();
        let mut instance = match reused {
            Some(instance) => instance,
            None => match self.start_instance().await {
                Ok(instance) => instance,
                Err(error) => {
                    let _ = answer.send(Err(error));
                    return;
                }
            },
        };
        let started = tokio::time::Instant::now();
        let function = self.config.name.as_str();
        (self.invocations)(&InvocationEvent::Started {
            request_id: &request_id,
            function,
            instance: instance.id,
            source: &source,
            event: &event,
        });
        let deadline = started + self.config.timeout;
        match instance.invoke(request_id.clone(), event, deadline).await {
            Reply::Done(outcome) => {
                (self.invocations)(&InvocationEvent::Answered {
                    request_id: &request_id,
                    function,
                    outcome: &outcome,
                    latency: started.elapsed(),
                });
                self.settle_instance(instance, &outcome).await;
                let _ = answer.send(Ok(outcome));
            }
            Reply::Stream(pending) => {
                let PendingStream {
                    response,
                    last_word,
                    end,
                } = pending;
                let outcome = Outcome::Streamed(response);
                (self.invocations)(&InvocationEvent::Answered {
                    request_id: &request_id,
                    function,
                    outcome: &outcome,
                    latency: started.elapsed(),
                });
                let _ = answer.send(Ok(outcome));
                let fate = instance.supervise_stream(end, deadline).await;
                let error = match &fate {
                    StreamFate::Failed(error) | StreamFate::Lost(error) => Some(error.clone()),
                    StreamFate::Completed | StreamFate::CallerGone => None,
                };
                (self.invocations)(&InvocationEvent::StreamEnded {
                    request_id: &request_id,
                    function,
                    error: error.as_ref(),
                    latency: started.elapsed(),
                });
                self.settle_stream(instance, fate, &last_word).await;
            }
        }
    }

    /// Keeps `instance` for the next invocation after `outcome`, or kills it.
    async fn settle_instance(&self, mut instance: Instance, outcome: &Outcome) {
        match outcome {
            // Stopped while this invocation ran: its instance goes too.
            _ if self.slots.is_closed() => instance.kill().await,
            Outcome::Response(_) | Outcome::FunctionError { .. } | Outcome::Streamed(_) => {
                self.idle.lock().await.push(instance)
            }
            Outcome::TimedOut(_) | Outcome::Crashed(_) => {
                (self.logs)(
                    &self.config.name,
                    instance.id,
                    &format!("instance replaced: {}", describe(outcome)),
                );
                instance.kill().await;
            }
        }
    }

    /// Ends a streamed invocation as `fate` says: keeps or kills the instance, logs what went
    /// wrong, and ends the caller's body with the error through `last_word`.
    async fn settle_stream(
        &self,
        mut instance: Instance,
        fate: StreamFate,
        last_word: &mpsc::Sender<Result<Bytes, StreamError>>,
    ) {
        let log = |line: &str| (self.logs)(&self.config.name, instance.id, line);
        let error = match fate {
            StreamFate::Completed => None,
            StreamFate::CallerGone => {
                log("the caller went away mid-stream; the response connection was closed");
                None
            }
            StreamFate::Failed(error) => {
                log(&format!("the response stream failed: {error}"));
                Some(error)
            }
            StreamFate::Lost(error) => {
                log(&format!("instance replaced: {error} mid-stream"));
                instance.kill().await;
                let _ = last_word.send(Err(error)).await;
                return;
            }
        };
        if self.slots.is_closed() {
            instance.kill().await;
        } else {
            self.idle.lock().await.push(instance);
        }
        if let Some(error) = error {
            let _ = last_word.send(Err(error)).await;
        }
    }

    /// Stops every idle instance.
    async fn shutdown(&self) {
        self.slots.close();
        for mut instance in self.idle.lock().await.drain(..) {
            instance.kill().await;
        }
    }

    async fn start_instance(&self) -> Result<Instance, LambdaError> {
        let id = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        Instance::start(&self.config, id, self.logs.clone()).await
    }
}

/// The `X-Amzn-Trace-Id` of invocation `request_id`, as the Runtime API hands it to the function
/// (`Lambda-Runtime-Trace-Id`) and the function's AWS SDK calls carry it back: its `Root` holds
/// the request id, so the local AWS APIs know which invocation made a call.
pub fn trace_id(request_id: &str) -> String {
    format!("Root=1-00000000-{:0>24}", request_id.replace('-', ""))
}

/// The request id in a trace id made by [`trace_id`] (`Root=1-00000000-<32 hex digits>`).
pub fn request_id_of_trace(trace: &str) -> Option<String> {
    let root = trace
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))?;
    let hex = root.strip_prefix("1-00000000-")?;
    if hex.len() != 32 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// A request id like Lambda's (a random UUID): nothing else on this machine can guess the id
/// of an invocation in flight and answer it.
pub fn new_request_id() -> String {
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
        Outcome::Streamed(_) => "streamed".to_owned(),
        Outcome::FunctionError { error_type, .. } => format!("failed with {error_type}"),
    }
}

/// One process and its private Runtime API.
struct Instance {
    id: u64,
    /// The function's timeout.
    timeout: Duration,
    child: Child,
    api: Arc<RuntimeApi>,
    server: tokio::task::JoinHandle<()>,
}

/// State of an instance's Runtime API.
struct RuntimeApi {
    function_arn: String,
    next: Mutex<mpsc::Receiver<Invocation>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    sender: mpsc::Sender<Invocation>,
    init_error: Mutex<Option<String>>,
}

struct Invocation {
    request_id: String,
    event: Value,
    deadline_ms: u128,
    reply: oneshot::Sender<Reply>,
}

/// What the Runtime API tells the invocation: the outcome, or that a streamed response began.
enum Reply {
    Done(Outcome),
    Stream(PendingStream),
}

/// A streamed response as the Runtime API hands it over: the caller's part, the supervisor's
/// way to end the caller's body with an error, and how the function's body ended.
struct PendingStream {
    response: StreamedResponse,
    last_word: mpsc::Sender<Result<Bytes, StreamError>>,
    end: oneshot::Receiver<BodyEnd>,
}

/// How the function's streamed body ended, as the Runtime API saw it.
enum BodyEnd {
    /// Completely, without an error trailer.
    Completed,
    /// With the error trailers.
    Failed(StreamError),
    /// The caller dropped the body; the function's connection was closed.
    CallerGone,
    /// The connection broke (the process died, most likely).
    Broken(String),
}

/// What a streamed invocation came to, for its instance.
enum StreamFate {
    Completed,
    CallerGone,
    /// An error the function reported: the instance stays.
    Failed(StreamError),
    /// A timeout or a crash: the instance is killed.
    Lost(StreamError),
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
            timeout: config.timeout,
            child,
            api,
            server,
        })
    }

    /// Hands `event` to the process; returns what it answered, or `TimedOut` at `deadline`.
    async fn invoke(
        &mut self,
        request_id: String,
        event: Value,
        deadline: tokio::time::Instant,
    ) -> Reply {
        let (reply, answer) = oneshot::channel();
        let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
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
            return Reply::Done(Outcome::Crashed(
                "the instance's Runtime API is closed".to_owned(),
            ));
        }
        tokio::select! {
            answer = answer => answer.unwrap_or_else(|_| Reply::Done(Outcome::Crashed("the request was dropped".to_owned()))),
            status = self.child.wait() => Reply::Done(Outcome::Crashed(self.exit_reason(status).await)),
            () = tokio::time::sleep_until(deadline) => Reply::Done(Outcome::TimedOut(self.timeout)),
        }
    }

    /// Waits until a streamed body ends, the process exits, or `deadline` (the function's
    /// timeout, counted from the invocation's start) passes.
    async fn supervise_stream(
        &mut self,
        end: oneshot::Receiver<BodyEnd>,
        deadline: tokio::time::Instant,
    ) -> StreamFate {
        let timeout = self.timeout;
        tokio::select! {
            end = end => match end {
                Ok(BodyEnd::Completed) => StreamFate::Completed,
                Ok(BodyEnd::CallerGone) => StreamFate::CallerGone,
                Ok(BodyEnd::Failed(error)) => StreamFate::Failed(error),
                Ok(BodyEnd::Broken(why)) => StreamFate::Lost(StreamError::Crashed(format!("the response stream broke: {why}"))),
                Err(_) => StreamFate::Lost(StreamError::Crashed("the Runtime API dropped the response stream".to_owned())),
            },
            status = self.child.wait() => StreamFate::Lost(StreamError::Crashed(self.exit_reason(status).await)),
            () = tokio::time::sleep_until(deadline) => StreamFate::Lost(StreamError::TimedOut(timeout)),
        }
    }

    /// Why the process exited: its initialisation error, or its exit status.
    async fn exit_reason(&self, status: std::io::Result<std::process::ExitStatus>) -> String {
        let init_error = self.api.init_error.lock().await.clone();
        let status = status.map_or_else(|error| error.to_string(), |status| status.to_string());
        match init_error {
            Some(error) => format!("initialisation failed: {error}"),
            None => format!("the process exited ({status})"),
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
            pluto_spec::contract::RUNTIME_REQUEST_ID_HEADER,
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
            pluto_spec::contract::RUNTIME_TRACE_ID_HEADER,
            trace_id(&invocation.request_id),
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
    settle_with(api, id, Reply::Done(outcome)).await
}

async fn settle_with(api: &RuntimeApi, id: &str, reply: Reply) -> StatusCode {
    match api.in_flight.lock().await.remove(id) {
        Some(sender) => {
            let _ = sender.send(reply);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

/// The header that makes a response a streamed one.
const RESPONSE_MODE_HEADER: &str = "lambda-runtime-function-response-mode";
/// The trailer naming a mid-stream error's type.
const ERROR_TYPE_TRAILER: &str = "lambda-runtime-function-error-type";
/// The trailer carrying a mid-stream error's body (base64 of `{"errorType", "errorMessage"}`).
const ERROR_BODY_TRAILER: &str = "lambda-runtime-function-error-body";

async fn respond(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let streaming = request
        .headers()
        .get(RESPONSE_MODE_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|mode| mode.eq_ignore_ascii_case("streaming"));
    if streaming {
        return respond_streaming(&api, &id, request).await;
    }
    let too_large = || Outcome::FunctionError {
        error_type: "Function.ResponseSizeTooLarge".to_owned(),
        message: format!(
            "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
        ),
    };
    let body = match axum::body::to_bytes(request.into_body(), MAX_RESPONSE_BYTES + 1).await {
        Ok(body) => body,
        Err(error) if crate::gateway::is_length_limit(&error) => {
            // What Lambda does: the invocation fails with this error, and the runtime is told 413.
            settle(&api, &id, too_large()).await;
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        }
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    if body.len() > MAX_RESPONSE_BYTES {
        settle(&api, &id, too_large()).await;
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    settle(&api, &id, Outcome::Response(value))
        .await
        .into_response()
}

/// The error a function reported in the trailers of a streamed response, if any.
fn trailer_error(trailers: &HeaderMap) -> Option<StreamError> {
    let error_type = trailers.get(ERROR_TYPE_TRAILER)?;
    let error_type = String::from_utf8_lossy(error_type.as_bytes()).into_owned();
    let body: Value = trailers
        .get(ERROR_BODY_TRAILER)
        .and_then(|body| {
            base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .ok()
        })
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or(Value::Null);
    let message = body
        .get("errorMessage")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some(StreamError::Function {
        error_type: body
            .get("errorType")
            .and_then(Value::as_str)
            .map_or(error_type, str::to_owned),
        message,
    })
}

/// The head of an HTTP-integration stream from its JSON prelude.
fn parse_prelude(prelude: &[u8]) -> Result<StreamHead, String> {
    let prelude: Map<String, Value> = serde_json::from_slice(prelude)
        .map_err(|error| format!("the response stream's prelude is not a JSON object: {error}"))?;
    let status = match prelude.get("statusCode") {
        None | Some(Value::Null) => 200,
        Some(code) => code
            .as_u64()
            .and_then(|code| u16::try_from(code).ok())
            .filter(|code| (100..=599).contains(code))
            .ok_or_else(|| format!("the prelude's statusCode {code} is not an HTTP status"))?,
    };
    let headers = match prelude.get("headers") {
        Some(Value::Object(headers)) => headers
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (name.clone(), value)
            })
            .collect(),
        _ => Vec::new(),
    };
    let cookies = match prelude.get("cookies") {
        Some(Value::Array(cookies)) => cookies
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(StreamHead {
        status,
        headers,
        cookies,
    })
}

/// Where the 8 NUL bytes ending an HTTP-integration prelude start in `bytes`.
fn prelude_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(PRELUDE_DELIMITER.len())
        .position(|window| window == PRELUDE_DELIMITER)
}

/// The answer to the function's `POST .../response` when the caller went away: its connection
/// is closed at once, so its next write fails.
fn close_connection(status: StatusCode) -> Response {
    let mut response = status.into_response();
    response
        .headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    response
}

/// Reads a streamed response: its head (the prelude, or the content type), then every chunk,
/// handed to the caller as it arrives, then how it ended.
async fn respond_streaming(api: &RuntimeApi, id: &str, request: Request) -> Response {
    if !api.in_flight.lock().await.contains_key(id) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let content_type = request
        .headers()
        .get("content-type")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let integration = content_type.as_deref().is_some_and(|content_type| {
        content_type.eq_ignore_ascii_case(HTTP_INTEGRATION_CONTENT_TYPE)
    });
    let plain_head = || StreamHead {
        status: 200,
        headers: content_type
            .iter()
            .map(|content_type| ("content-type".to_owned(), content_type.clone()))
            .collect(),
        cookies: Vec::new(),
    };
    let mut body: Body = request.into_body();
    // The head: for an HTTP-integration stream, everything up to the 8 NULs.
    let mut pending = Vec::new();
    let mut ended = false;
    let head = loop {
        match body.frame().await {
            None => {
                ended = true;
                break if integration && !pending.is_empty() {
                    let prelude = std::mem::take(&mut pending);
                    parse_prelude(&prelude)
                } else {
                    Ok(plain_head())
                };
            }
            Some(Err(error)) => {
                let outcome = Outcome::Crashed(format!(
                    "the response stream broke before its head: {error}"
                ));
                return settle(api, id, outcome).await.into_response();
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    pending.extend_from_slice(&data);
                    if !integration {
                        if pending.is_empty() {
                            continue;
                        }
                        break Ok(plain_head());
                    }
                    if let Some(end) = prelude_end(&pending) {
                        let rest = pending.split_off(end + PRELUDE_DELIMITER.len());
                        pending.truncate(end);
                        let head = parse_prelude(&pending);
                        pending = rest;
                        break head;
                    }
                    if pending.len() > MAX_RESPONSE_BYTES {
                        break Err(format!(
                            "the response stream sent {MAX_RESPONSE_BYTES} bytes without ending its prelude with 8 NUL bytes"
                        ));
                    }
                }
                Err(frame) => {
                    if let Some(StreamError::Function {
                        error_type,
                        message,
                    }) = frame.into_trailers().ok().as_ref().and_then(trailer_error)
                    {
                        let outcome = Outcome::FunctionError {
                            error_type,
                            message,
                        };
                        return settle(api, id, outcome).await.into_response();
                    }
                }
            },
        }
    };
    let head = match head {
        Ok(head) => head,
        Err(message) => {
            let outcome = Outcome::FunctionError {
                error_type: "Runtime.InvalidStreamingPrelude".to_owned(),
                message,
            };
            return close_connection(settle(api, id, outcome).await);
        }
    };
    let (chunk_sender, chunks) = mpsc::channel(STREAM_WINDOW_CHUNKS);
    let (end_sender, end) = oneshot::channel();
    let reply = Reply::Stream(PendingStream {
        response: StreamedResponse { head, chunks },
        last_word: chunk_sender.clone(),
        end,
    });
    if settle_with(api, id, reply).await != StatusCode::ACCEPTED {
        return close_connection(StatusCode::BAD_REQUEST);
    }
    let first = (!pending.is_empty()).then(|| Bytes::from(pending));
    let (fate, answer) = forward_chunks(&mut body, first, ended, &chunk_sender).await;
    let _ = end_sender.send(fate);
    answer
}

/// Hands the caller `first` and then every chunk of `body` until it ends; says how it ended and
/// what to answer the function.
async fn forward_chunks(
    body: &mut Body,
    first: Option<Bytes>,
    ended: bool,
    chunks: &mpsc::Sender<Result<Bytes, StreamError>>,
) -> (BodyEnd, Response) {
    if let Some(first) = first
        && chunks.send(Ok(first)).await.is_err()
    {
        return (BodyEnd::CallerGone, close_connection(StatusCode::ACCEPTED));
    }
    if ended {
        return (BodyEnd::Completed, StatusCode::ACCEPTED.into_response());
    }
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            // The caller dropped the body while the function was quiet: do not wait for its
            // next write to notice.
            () = chunks.closed() => {
                return (BodyEnd::CallerGone, close_connection(StatusCode::ACCEPTED));
            }
        };
        match frame {
            None => return (BodyEnd::Completed, StatusCode::ACCEPTED.into_response()),
            Some(Err(error)) => {
                return (
                    BodyEnd::Broken(error.to_string()),
                    close_connection(StatusCode::BAD_REQUEST),
                );
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if data.is_empty() => {}
                Ok(data) => {
                    if chunks.send(Ok(data)).await.is_err() {
                        return (BodyEnd::CallerGone, close_connection(StatusCode::ACCEPTED));
                    }
                }
                Err(frame) => {
                    if let Some(error) = frame.into_trailers().ok().as_ref().and_then(trailer_error)
                    {
                        return (BodyEnd::Failed(error), StatusCode::ACCEPTED.into_response());
                    }
                }
            },
        }
    }
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
