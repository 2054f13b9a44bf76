//! What the console knows of the running app, and its live feed: the last requests (each with
//! its event, answer, log lines and AWS calls), the local model's last calls and the build
//! status. The simulator's hooks write here; the HTTP handlers read, and every change goes out
//! to the open pages as a server-sent event.

use pluto_model::{Architecture, ResourceRef};
use pluto_simulator::aws::AttemptedAccess;
use pluto_simulator::gateway::{RequestRecord, StreamProgress};
use pluto_simulator::lambda::{InvocationEvent, InvocationSource, Outcome};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// Requests kept (the oldest go first).
pub(crate) const MAX_REQUESTS: usize = 500;
/// Model calls kept.
pub(crate) const MAX_MODEL_CALLS: usize = 100;
/// Log lines kept per request.
const MAX_LOGS_PER_REQUEST: usize = 2_000;
/// AWS calls kept per request.
const MAX_AWS_CALLS_PER_REQUEST: usize = 1_000;
/// Events and answers bigger than this (as JSON) are kept as a preview.
const MAX_KEPT_JSON_BYTES: usize = 64 * 1024;
/// Feed frames buffered for a slow page before it must resynchronise.
const FEED_CAPACITY: usize = 8_192;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// A row of the request list.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestSummary {
    pub(crate) id: String,
    pub(crate) function: String,
    /// `url`, `invoke` or `console`.
    pub(crate) source: &'static str,
    pub(crate) method: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) status: Option<u16>,
    /// `running`, `streaming`, `ok` or `error`.
    pub(crate) state: &'static str,
    pub(crate) latency_ms: Option<f64>,
    pub(crate) started_ms: u64,
    /// Denied AWS calls.
    pub(crate) denied: usize,
    /// AWS calls.
    pub(crate) aws_calls: usize,
    pub(crate) streamed: bool,
}

/// An error an invocation ended with.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorInfo {
    #[serde(rename = "type")]
    pub(crate) error_type: String,
    pub(crate) message: String,
}

/// One line a function printed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogLine {
    pub(crate) at_ms: u64,
    pub(crate) instance: u64,
    pub(crate) line: String,
}

/// One AWS call a request made, allowed or denied.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AwsCall {
    pub(crate) at_ms: u64,
    pub(crate) operation: &'static str,
    pub(crate) iam_action: Option<&'static str>,
    pub(crate) resource: Option<ResourceRef>,
    pub(crate) physical: String,
    pub(crate) allowed: bool,
    /// For a denied call: the grant that is missing (`kv_delete on chat-history`).
    pub(crate) missing_grant: Option<String>,
    /// For a denied call: why the deducer did not grant it, and what to do.
    pub(crate) explanation: Option<String>,
}

/// Everything about one request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestDetail {
    #[serde(flatten)]
    pub(crate) summary: RequestSummary,
    pub(crate) event: Value,
    pub(crate) response: Value,
    pub(crate) error: Option<ErrorInfo>,
    pub(crate) logs: Vec<LogLine>,
    #[serde(rename = "aws_calls")]
    pub(crate) calls: Vec<AwsCall>,
}

/// One call of the local model.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ModelCall {
    pub(crate) at_ms: u64,
    pub(crate) prompt: String,
    pub(crate) output: String,
    pub(crate) prompt_chars: usize,
    pub(crate) tokens: u64,
    pub(crate) ttft_ms: Option<f64>,
    pub(crate) tokens_per_s: Option<f64>,
    pub(crate) duration_ms: f64,
    pub(crate) streamed: bool,
    pub(crate) error: Option<String>,
}

/// Where the running version came from, and whether a newer one is on its way.
#[derive(Debug, Clone, Serialize)]
pub struct BuildStatus {
    /// 1 for the first build, +1 for each reload that went live.
    pub generation: u64,
    /// `serving`, `building` or `failed`.
    pub state: &'static str,
    /// What happened (the build error, for `failed`).
    pub message: String,
    /// Grants that changed with the last reload (`+ chat: kv_delete on chat-history`).
    pub grant_changes: Vec<String>,
    /// When.
    pub at_ms: u64,
}

impl BuildStatus {
    /// The first version serves.
    pub fn serving_first() -> Self {
        Self {
            generation: 1,
            state: "serving",
            message: "serving".to_owned(),
            grant_changes: Vec::new(),
            at_ms: now_ms(),
        }
    }
}

struct State {
    /// Request ids, oldest first.
    order: VecDeque<String>,
    requests: HashMap<String, RequestDetail>,
    /// The request each instance (function, instance id) runs or ran last: its log lines
    /// belong to it.
    instances: HashMap<(String, u64), String>,
    model_calls: VecDeque<ModelCall>,
    build: BuildStatus,
    /// The app whose grants explain denials.
    architecture: Arc<Architecture>,
}

/// The console's memory of the running app, shared by the simulator's hooks and the handlers.
pub(crate) struct Hub {
    state: Mutex<State>,
    feed: broadcast::Sender<Arc<str>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// `event` as kept: itself, or a preview when it is large.
fn kept(value: &Value) -> Value {
    let text = value.to_string();
    if text.len() <= MAX_KEPT_JSON_BYTES {
        return value.clone();
    }
    let mut end = MAX_KEPT_JSON_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    json!({
        "truncated": true,
        "bytes": text.len(),
        "preview": &text[..end],
    })
}

fn source_name(source: &InvocationSource) -> &'static str {
    match source {
        InvocationSource::Url => "url",
        InvocationSource::Invoke { .. } => "invoke",
        InvocationSource::Console => "console",
    }
}

/// The server-sent event `kind` carrying `data`.
fn frame(kind: &str, data: &impl Serialize) -> Arc<str> {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Arc::from(format!("event: {kind}\ndata: {data}\n\n"))
}

impl Hub {
    pub(crate) fn new(architecture: &Architecture) -> Self {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        Self {
            state: Mutex::new(State {
                order: VecDeque::new(),
                requests: HashMap::new(),
                instances: HashMap::new(),
                model_calls: VecDeque::new(),
                build: BuildStatus::serving_first(),
                architecture: Arc::new(architecture.clone()),
            }),
            feed,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The live feed: server-sent event frames.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.feed.subscribe()
    }

    fn publish(&self, frame: Arc<str>) {
        // No page open: nobody to tell.
        let _ = self.feed.send(frame);
    }

    /// Updates request `id` (made if new, for `function`) with `change`, and tells the pages.
    fn update(&self, id: &str, function: &str, change: impl FnOnce(&mut RequestDetail)) {
        let summary = {
            let mut state = self.state();
            if !state.requests.contains_key(id) {
                state.order.push_back(id.to_owned());
                state.requests.insert(
                    id.to_owned(),
                    RequestDetail {
                        summary: RequestSummary {
                            id: id.to_owned(),
                            function: function.to_owned(),
                            source: "url",
                            method: None,
                            path: None,
                            status: None,
                            state: "running",
                            latency_ms: None,
                            started_ms: now_ms(),
                            denied: 0,
                            aws_calls: 0,
                            streamed: false,
                        },
                        event: Value::Null,
                        response: Value::Null,
                        error: None,
                        logs: Vec::new(),
                        calls: Vec::new(),
                    },
                );
                while state.order.len() > MAX_REQUESTS {
                    if let Some(oldest) = state.order.pop_front() {
                        state.requests.remove(&oldest);
                    }
                }
            }
            let Some(detail) = state.requests.get_mut(id) else {
                return;
            };
            change(detail);
            detail.summary.clone()
        };
        self.publish(frame("request", &summary));
    }

    /// An invocation started, answered or ended its stream.
    pub(crate) fn on_invocation(&self, event: &InvocationEvent<'_>) {
        match event {
            InvocationEvent::Started {
                request_id,
                function,
                instance,
                source,
                event,
            } => {
                self.state().instances.insert(
                    ((*function).to_owned(), *instance),
                    (*request_id).to_owned(),
                );
                let source = source_name(source);
                let event = kept(event);
                self.update(request_id, function, |detail| {
                    detail.summary.source = source;
                    detail.event = event;
                });
            }
            InvocationEvent::Answered {
                request_id,
                function,
                outcome,
                latency,
            } => {
                let latency = millis(*latency);
                self.update(request_id, function, |detail| {
                    detail.summary.latency_ms = Some(latency);
                    let mut fail = |error_type: &str, message: String| {
                        detail.summary.state = "error";
                        detail.error = Some(ErrorInfo {
                            error_type: error_type.to_owned(),
                            message,
                        });
                    };
                    match outcome {
                        Outcome::Response(value) => {
                            detail.response = kept(value);
                            if detail.summary.state == "running" {
                                detail.summary.state = "ok";
                            }
                        }
                        Outcome::Streamed(streamed) => {
                            detail.summary.streamed = true;
                            detail.summary.state = "streaming";
                            if detail.summary.status.is_none() {
                                detail.summary.status = Some(streamed.head.status);
                            }
                        }
                        Outcome::FunctionError {
                            error_type,
                            message,
                        } => fail(error_type, message.clone()),
                        Outcome::TimedOut(after) => fail(
                            "Sandbox.Timedout",
                            format!("Task timed out after {:.2} seconds", after.as_secs_f64()),
                        ),
                        Outcome::Crashed(why) => fail("Runtime.ExitError", why.clone()),
                    }
                });
            }
            InvocationEvent::StreamEnded {
                request_id,
                function,
                error,
                latency,
            } => {
                let latency = millis(*latency);
                let error = error.map(|error| ErrorInfo {
                    error_type: "StreamError".to_owned(),
                    message: error.to_string(),
                });
                self.update(request_id, function, |detail| {
                    detail.summary.latency_ms = Some(latency);
                    detail.summary.state = if error.is_some() { "error" } else { "ok" };
                    detail.error = error;
                });
            }
            _ => {}
        }
    }

    /// The gateway answered a request (or refused it before any invocation).
    pub(crate) fn on_request(&self, record: &RequestRecord) {
        let latency = millis(record.latency);
        self.update(&record.request_id, &record.function, |detail| {
            detail.summary.source = "url";
            detail.summary.method = Some(record.method.clone());
            let separator = if record.path.starts_with('/') {
                ""
            } else {
                "/"
            };
            detail.summary.path = Some(format!("/{}{separator}{}", record.function, record.path));
            detail.summary.status = Some(record.status);
            match record.stream {
                Some(StreamProgress::Started) => {
                    detail.summary.streamed = true;
                    if detail.summary.state != "error" {
                        detail.summary.state = "streaming";
                    }
                }
                Some(StreamProgress::Ended { chunks, bytes }) => {
                    detail.summary.latency_ms = Some(latency);
                    if detail.summary.state != "error" {
                        detail.summary.state = "ok";
                    }
                    if detail.response.is_null() {
                        detail.response =
                            json!(format!("(streamed {chunks} chunks, {bytes} bytes)"));
                    }
                }
                Some(StreamProgress::Cut { chunks, bytes }) => {
                    detail.summary.latency_ms = Some(latency);
                    detail.summary.state = "error";
                    detail.error = Some(ErrorInfo {
                        error_type: "StreamCut".to_owned(),
                        message: format!(
                            "{} after {chunks} chunks ({bytes} bytes)",
                            record.problem.as_deref().unwrap_or("the stream was cut")
                        ),
                    });
                }
                None => {
                    detail.summary.latency_ms = Some(latency);
                    if record.status >= 400 {
                        detail.summary.state = "error";
                        if detail.error.is_none() {
                            detail.error = Some(ErrorInfo {
                                error_type: format!("HTTP {}", record.status),
                                message: record.problem.clone().unwrap_or_else(|| {
                                    "the function answered an error status".to_owned()
                                }),
                            });
                        }
                    } else if detail.summary.state != "error" {
                        detail.summary.state = "ok";
                    }
                }
            }
        });
    }

    /// The request `function` is running, when it runs exactly one: where a call without a
    /// trace id (an AWS client the app built itself) belongs.
    fn only_running_request_of(&self, function: &str) -> Option<String> {
        let state = self.state();
        let mut running = state.requests.values().filter(|detail| {
            detail.summary.function == function
                && matches!(detail.summary.state, "running" | "streaming")
        });
        let only = running.next()?;
        running.next().is_none().then(|| only.summary.id.clone())
    }

    pub(crate) fn request_of_instance(&self, function: &str, instance: u64) -> Option<String> {
        self.state()
            .instances
            .get(&(function.to_owned(), instance))
            .cloned()
    }

    /// A function printed `line`.
    pub(crate) fn on_log(&self, function: &str, instance: u64, line: &str) {
        let at_ms = now_ms();
        let request_id = self.request_of_instance(function, instance);
        self.publish(frame(
            "log",
            &json!({
                "function": function,
                "instance": instance,
                "request_id": request_id,
                "at_ms": at_ms,
                "line": line,
            }),
        ));
        let Some(request_id) = request_id else {
            return;
        };
        let mut state = self.state();
        if let Some(detail) = state.requests.get_mut(&request_id)
            && detail.logs.len() < MAX_LOGS_PER_REQUEST
        {
            detail.logs.push(LogLine {
                at_ms,
                instance,
                line: line.to_owned(),
            });
        }
    }

    /// A function called the local AWS APIs.
    pub(crate) fn on_access(&self, access: &AttemptedAccess) {
        let Some(request_id) = access
            .request_id
            .clone()
            .or_else(|| self.only_running_request_of(access.function.as_deref()?))
        else {
            return;
        };
        let function = access.function.clone().unwrap_or_default();
        let architecture = self.state().architecture.clone();
        let (missing_grant, explanation) = if access.allowed {
            (None, None)
        } else {
            let (missing, why) = explain_denial(&architecture, access);
            (Some(missing), Some(why))
        };
        let call = AwsCall {
            at_ms: now_ms(),
            operation: access.operation.label(),
            iam_action: access.operation.iam_action(),
            resource: access.resource.clone(),
            physical: access.physical.clone(),
            allowed: access.allowed,
            missing_grant,
            explanation,
        };
        // Only a request the console knows: an id it dropped already, or one of no invocation
        // (the developer's key), would make a request that never ends.
        if !self.state().requests.contains_key(&request_id) {
            return;
        }
        self.update(&request_id, &function, |detail| {
            detail.summary.aws_calls += 1;
            if !call.allowed {
                detail.summary.denied += 1;
            }
            if detail.calls.len() < MAX_AWS_CALLS_PER_REQUEST {
                detail.calls.push(call);
            }
        });
    }

    /// The local model answered (or failed).
    pub(crate) fn on_model_call(&self, call: ModelCall) {
        self.publish(frame("model", &call));
        let mut state = self.state();
        state.model_calls.push_back(call);
        while state.model_calls.len() > MAX_MODEL_CALLS {
            state.model_calls.pop_front();
        }
    }

    /// A build started, failed or went live (then `architecture` is the new app).
    pub(crate) fn set_build(&self, build: BuildStatus, architecture: Option<&Architecture>) {
        {
            let mut state = self.state();
            state.build = build.clone();
            if let Some(architecture) = architecture {
                state.architecture = Arc::new(architecture.clone());
            }
        }
        self.publish(frame("build", &build));
    }

    pub(crate) fn build(&self) -> BuildStatus {
        self.state().build.clone()
    }

    pub(crate) fn architecture(&self) -> Arc<Architecture> {
        self.state().architecture.clone()
    }

    pub(crate) fn requests(&self) -> Vec<RequestSummary> {
        let state = self.state();
        state
            .order
            .iter()
            .filter_map(|id| state.requests.get(id))
            .map(|detail| detail.summary.clone())
            .collect()
    }

    pub(crate) fn request(&self, id: &str) -> Option<RequestDetail> {
        self.state().requests.get(id).cloned()
    }

    pub(crate) fn model_calls(&self) -> Vec<ModelCall> {
        self.state().model_calls.iter().cloned().collect()
    }
}

/// The grant a denied access lacks (`kv_delete on chat-history`) and why the deducer did not
/// give it, with what to do.
pub(crate) fn explain_denial(
    architecture: &Architecture,
    access: &AttemptedAccess,
) -> (String, String) {
    let operation = access.operation;
    let Some(resource) = &access.resource else {
        return (
            format!("{} on `{}`", operation.label(), access.physical),
            format!(
                "The app declares no resource named `{}`, so no function can be granted {}. \
                 Declare it with #[resource(...)] and use its handle, or fix the name.",
                access.physical,
                operation.iam_action().unwrap_or("it")
            ),
        );
    };
    let missing = format!("{} on {}", operation.label(), resource.name);
    let Some(function_name) = &access.function else {
        return (
            missing,
            "The call did not carry a Pluto function's credentials (the developer's key has no \
             grants)."
                .to_owned(),
        );
    };
    let Some(function) = architecture.function(function_name) else {
        return (
            missing,
            format!("The app has no function `{function_name}`."),
        );
    };
    let others: Vec<String> = function
        .grants
        .iter()
        .filter(|grant| &grant.resource == resource)
        .map(|grant| {
            let chain = grant
                .provenance
                .first()
                .map(|chain| format!(" (from {chain})"))
                .unwrap_or_default();
            format!("{}{chain}", grant.operation.label())
        })
        .collect();
    let has = if others.is_empty() {
        format!("It has no grant on {resource} at all.")
    } else {
        format!("It has only {} on {resource}.", others.join(", "))
    };
    let why = format!(
        "The deducer found no call to `{}` on {resource} reachable from function `{function_name}`'s \
         handler `{}`, so it did not grant {}. {has} Call the resource through its handle from code \
         the handler reaches (a direct call the deducer can follow), then the grant is deduced; \
         `cargo pluto deduce` shows every grant with its call chain.",
        operation.label(),
        function.rust_path,
        operation.iam_action().unwrap_or("the action"),
    );
    (missing, why)
}
