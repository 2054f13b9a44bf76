//! The Function URL gateway: HTTP requests to `http://127.0.0.1:PORT/<function>/<path>` become
//! payload-format-2.0 events for the function, and its answers become HTTP responses (status,
//! headers, cookies, base64 bodies), as Lambda Function URLs do.
//!
//! A function that fails, times out or crashes is answered `502 {"Message":"Internal Server
//! Error"}`, like a Function URL; the simulator log says what happened. Functions declared with
//! `url = "none"` are not exposed. Every error the gateway itself answers (unknown function, a
//! path that is not UTF-8, refusals) has the Function URL shape `{"Message": ...}`.
//!
//! What the declaration says of each URL is honoured as AWS does:
//! - **IAM auth** (`url = "iam"`, the default): a request must carry a valid SigV4 signature
//!   (service `lambda`, region `us-east-1`) made with this run's developer credential (which
//!   `cargo pluto run` prints) or a function's credentials (then that function needs its
//!   `function_url` grant); otherwise `403 {"Message":"Forbidden"}` and the log says why.
//! - **CORS** (`cors(...)`): preflight requests (`OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`) are answered by the gateway, without calling the function
//!   and without auth, and responses to an allowed `Origin` carry `Access-Control-Allow-Origin`,
//!   `-Expose-Headers` and `-Allow-Credentials`. Without `cors(...)` no CORS header is added and
//!   `OPTIONS` reaches the function like any method.
//!
//! **Streamed responses**: a function whose URL streams (`ResponseMode::Stream`, a handler
//! returning `TextStream`) and whose process posts a streamed response gets its status, headers
//! and cookies from the stream's prelude at once, then every chunk forwarded as it arrives
//! (chunked, unbuffered). An error or a timeout mid-stream aborts the response (the chunked body
//! ends without its last chunk, so clients see the cut). A buffered function whose process
//! streams is answered whole, as a `BUFFERED` Function URL does.
//!
//! And, because the gateway runs on a developer's machine next to their browser, web pages
//! cannot drive local functions: a request to a host name other than `127.0.0.1`, `localhost`
//! or `[::1]` (DNS rebinding) is refused, and so is a request whose `Origin` is neither the
//! gateway's own nor one the function's `cors(...)` allows (a cross-site `POST` of `text/plain`
//! needs no preflight, so CORS alone would not stop it).

use crate::aws::sigv4::ReceivedRequest;
use crate::aws::{LOCAL_REGION, LocalAws, is_loopback_host, request_host};
use crate::lambda::{
    FunctionPool, InvocationSource, LambdaError, Outcome, StreamHead, StreamedResponse,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use pluto_model::ResponseMode;
use pluto_spec::limits::{MAX_PAYLOAD_BYTES, MAX_RESPONSE_BYTES};
use pluto_spec::{Cors, UrlAuth};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// One line of the request log: function, method, path, status, latency.
pub type RequestLog = Arc<dyn Fn(&RequestRecord) + Send + Sync>;

/// What the gateway logs about each request.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The request's id: the Lambda request id of its invocation (and the event's
    /// `requestContext.requestId`), also given to requests refused before any invocation.
    pub request_id: String,
    /// The function.
    pub function: String,
    /// HTTP method.
    pub method: String,
    /// Path within the function's URL.
    pub path: String,
    /// Status answered.
    pub status: u16,
    /// Time from request to response.
    pub latency: std::time::Duration,
    /// What went wrong: why a request was refused (403s), or what happened to the function
    /// (502s, and streams cut short).
    pub problem: Option<String>,
    /// For a streamed response: whether this record is its start (the head went out) or its
    /// cut (it ended in error, or the client went away; `problem` says which).
    pub stream: Option<StreamProgress>,
}

/// Where a streamed response was when its [`RequestRecord`] was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamProgress {
    /// Status and headers went out; the body follows chunk by chunk. `latency` is the time to
    /// the head.
    Started,
    /// The body went out whole; `latency` is the time to its end (the full answer).
    Ended {
        /// Chunks sent.
        chunks: u64,
        /// Body bytes sent.
        bytes: u64,
    },
    /// The body ended before its end; `latency` is the time to the cut.
    Cut {
        /// Chunks sent before the cut.
        chunks: u64,
        /// Body bytes sent before the cut.
        bytes: u64,
    },
}

/// A function reachable over HTTP, with its URL's settings.
#[derive(Debug, Clone)]
pub struct ExposedFunction {
    /// Its instances.
    pub pool: Arc<FunctionPool>,
    /// Who may call it: [`UrlAuth::Iam`] needs a signed request.
    pub auth: UrlAuth,
    /// The URL's CORS settings, if declared.
    pub cors: Option<Cors>,
    /// Whether the URL streams (`RESPONSE_STREAM`) or buffers the function's answers.
    pub response: ResponseMode,
}

/// The functions reachable over HTTP.
pub struct Gateway {
    /// Replaced by a hot reload ([`Gateway::replace_functions`]).
    functions: std::sync::RwLock<Arc<BTreeMap<String, ExposedFunction>>>,
    /// Verifies signatures of calls to IAM-auth URLs, and checks those signed with a function's
    /// credentials against its grants.
    aws: Option<Arc<LocalAws>>,
    log: RequestLog,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("functions", &self.functions().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Gateway {
    /// A gateway for `functions` (by logical name).
    pub fn new(functions: BTreeMap<String, ExposedFunction>, log: RequestLog) -> Self {
        Self {
            functions: std::sync::RwLock::new(Arc::new(functions)),
            aws: None,
            log,
        }
    }

    /// The functions reachable now.
    fn functions(&self) -> Arc<BTreeMap<String, ExposedFunction>> {
        match self.functions.read() {
            Ok(functions) => functions.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A hot reload: new requests go to `functions`; requests in flight finish where they are.
    pub fn replace_functions(&self, functions: BTreeMap<String, ExposedFunction>) {
        match self.functions.write() {
            Ok(mut current) => *current = Arc::new(functions),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(functions),
        }
    }

    /// Verifies the signatures of calls to IAM-auth URLs with the credentials of `aws`, and
    /// checks calls signed with a function's credentials against that function's grants, as IAM
    /// does deployed ([`LocalAws::authorize_url_call`]). Without it, IAM-auth URLs refuse every
    /// request.
    #[must_use]
    pub fn with_grants_of(mut self, aws: Arc<LocalAws>) -> Self {
        self.aws = Some(aws);
        self
    }

    /// The axum router serving the gateway.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .fallback(handle)
            // Bigger than Lambda's limit, so oversized bodies reach the 413 below.
            .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES * 2))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                refuse_foreign_hosts,
            ))
            .with_state(self)
    }

    fn record(&self, request: &RequestTarget, status: StatusCode, problem: Option<String>) {
        self.record_stream(request, status, problem, None);
    }

    fn record_stream(
        &self,
        request: &RequestTarget,
        status: StatusCode,
        problem: Option<String>,
        stream: Option<StreamProgress>,
    ) {
        (self.log)(&RequestRecord {
            request_id: request.request_id.clone(),
            function: request.function.clone(),
            method: request.method.clone(),
            path: request.path.clone(),
            status: status.as_u16(),
            latency: request.started.elapsed(),
            problem,
            stream,
        });
    }
}

/// What the log says of a request: method, function and path (percent-decoded where they are
/// UTF-8), and when it arrived.
#[derive(Clone)]
struct RequestTarget {
    /// The Lambda request id its invocation gets.
    request_id: String,
    method: String,
    function: String,
    path: String,
    started: Instant,
}

impl RequestTarget {
    fn of(request: &Request) -> Self {
        let (function, path) = split_path(request.uri().path());
        Self {
            request_id: crate::lambda::new_request_id(),
            method: request.method().to_string(),
            function: percent_decode(function).unwrap_or_else(|| function.to_owned()),
            path: percent_decode(path).unwrap_or_else(|| path.to_owned()),
            started: Instant::now(),
        }
    }
}

/// `/fn/a/b` → (`fn`, `/a/b`); `/fn` and `/fn/` → (`fn`, `/`); `/` → (``, `/`). Still
/// percent-encoded.
fn split_path(path: &str) -> (&str, &str) {
    let path = path.strip_prefix('/').unwrap_or(path);
    match path.find('/') {
        Some(slash) => (&path[..slash], &path[slash..]),
        None => (path, "/"),
    }
}

/// Percent-decodes `text` (malformed escapes are kept as written); `None` when the result is
/// not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(value) => {
                decoded.push(value);
                index += 3;
            }
            None => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// `{"Message": message}` with `status`, the shape of Function URL errors.
fn message(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "Message": message }))).into_response()
}

/// Refuses (403, logged) requests whose `Host` is not a loopback name: the gateway listens on
/// 127.0.0.1, so another name is a web page that rebound its DNS name to this machine.
async fn refuse_foreign_hosts(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request_host(request.headers(), request.uri()).map(str::to_owned);
    if host.as_deref().is_some_and(is_loopback_host) {
        return next.run(request).await;
    }
    let target = RequestTarget::of(&request);
    let host = host.unwrap_or_else(|| "(none)".to_owned());
    let response = message(
        StatusCode::FORBIDDEN,
        &format!(
            "Forbidden: the local gateway answers only requests to 127.0.0.1, localhost or [::1], not to `{host}`"
        ),
    );
    gateway.record(
        &target,
        StatusCode::FORBIDDEN,
        Some(format!(
            "refused: the request names host `{host}`, not 127.0.0.1, localhost or [::1]; a web \
             page that points its own DNS name at this machine (DNS rebinding) sends its name, so \
             the gateway answers only loopback names"
        )),
    );
    response
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let target = RequestTarget::of(&request);
    let functions = gateway.functions();
    let Some(exposed) = functions.get(&target.function).cloned() else {
        let known: Vec<&str> = functions.keys().map(String::as_str).collect();
        let text = if target.function.is_empty() {
            format!(
                "no function here: function URLs are /<function>/...; these functions have one: {}",
                known.join(", ")
            )
        } else {
            format!(
                "no function `{}` has a URL here; these do: {}",
                target.function,
                known.join(", ")
            )
        };
        gateway.record(&target, StatusCode::NOT_FOUND, None);
        return message(StatusCode::NOT_FOUND, &text);
    };
    let (_, raw_path) = split_path(request.uri().path());
    if percent_decode(raw_path).is_none() {
        gateway.record(
            &target,
            StatusCode::BAD_REQUEST,
            Some("the path is not UTF-8 once percent-decoded".to_owned()),
        );
        return message(
            StatusCode::BAD_REQUEST,
            "Bad Request: the path is not UTF-8 once percent-decoded",
        );
    }
    let origin = request
        .headers()
        .get("origin")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let answered = answer(&gateway, &exposed, &target, request, origin.as_deref()).await;
    let mut response = match answered {
        Answered::Whole(response, problem) => {
            gateway.record(&target, response.status(), problem);
            response
        }
        Answered::Stream(streamed) => {
            let status = head_status(&streamed.head);
            gateway.record_stream(&target, status, None, Some(StreamProgress::Started));
            streaming_response(gateway.clone(), target, streamed)
        }
    };
    if let (Some(cors), Some(origin)) = (&exposed.cors, &origin) {
        add_cors_headers(response.headers_mut(), cors, origin);
    }
    response
}

/// Whether a page on `origin` may call a function with `cors`, through the gateway reached as
/// `host`: its own origin (`http://` and a loopback name with the gateway's port) may, and so
/// may any origin the function's `cors(...)` allows.
fn origin_may_call(origin: &str, host: &str, cors: Option<&Cors>) -> bool {
    let port = |authority: &str| {
        authority
            .parse::<axum::http::uri::Authority>()
            .ok()
            .and_then(|authority| authority.port_u16())
    };
    let own = origin
        .strip_prefix("http://")
        .is_some_and(|authority| is_loopback_host(authority) && port(authority) == port(host));
    own || cors.is_some_and(|cors| allowed_origin(cors, origin).is_some())
}

/// What the gateway answers a request: a whole response (and what went wrong, for the log), or
/// a stream to forward.
enum Answered {
    Whole(Response, Option<String>),
    Stream(StreamedResponse),
}

/// The answer to one request to an exposed function.
async fn answer(
    gateway: &Gateway,
    exposed: &ExposedFunction,
    target: &RequestTarget,
    request: Request,
    origin: Option<&str>,
) -> Answered {
    let (function, path) = (target.function.as_str(), target.path.as_str());
    if let (Some(cors), Some(origin)) = (&exposed.cors, origin)
        && request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key("access-control-request-method")
    {
        return Answered::Whole(preflight(cors, origin), None);
    }
    let host = request_host(request.headers(), request.uri())
        .unwrap_or_default()
        .to_owned();
    if let Some(origin) = origin
        && !origin_may_call(origin, &host, exposed.cors.as_ref())
    {
        let explanation = format!(
            "a web page on {origin} tried to call function `{function}`; the local gateway \
             refuses calls from other origins (a page in this machine's browser could otherwise \
             drive local functions) unless the function allows them: declare \
             cors(allow_origins = [\"{origin}\"]) on it"
        );
        return Answered::Whole(
            message(StatusCode::FORBIDDEN, &format!("Forbidden: {explanation}")),
            Some(format!("refused: {explanation}")),
        );
    }
    // A page's request that carries no `Origin` (a no-cors GET such as `<img src=...>`):
    // browsers still say it came from another site. Only a function allowing every origin
    // takes it.
    let fetched_by_another_site = request
        .headers()
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| site == "cross-site" || site == "same-site");
    let allows_every_origin = exposed
        .cors
        .as_ref()
        .is_some_and(|cors| cors.allow_origins.iter().any(|allowed| allowed == "*"));
    if origin.is_none() && fetched_by_another_site && !allows_every_origin {
        let explanation = format!(
            "a web page on another site made the browser call function `{function}` (no Origin, \
             Sec-Fetch-Site says so); the local gateway refuses that unless the function allows \
             every origin: cors(allow_origins = [\"*\"])"
        );
        return Answered::Whole(
            message(StatusCode::FORBIDDEN, &format!("Forbidden: {explanation}")),
            Some(format!("refused: {explanation}")),
        );
    }
    let (parts, body) = request.into_parts();
    let too_large = || {
        Answered::Whole(
            payload_too_large(),
            Some("request body over 6 MB".to_owned()),
        )
    };
    let bytes = match axum::body::to_bytes(body, MAX_PAYLOAD_BYTES * 2).await {
        Ok(bytes) => bytes,
        // Over the read limit: the body is too large. Anything else is a body that could not
        // be read (the client went away or sent a broken chunked body), which is no 413.
        Err(error) if is_length_limit(&error) => return too_large(),
        Err(error) => {
            return Answered::Whole(
                message(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: the request body could not be read",
                ),
                Some(format!("the request body could not be read: {error}")),
            );
        }
    };
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return too_large();
    }
    if exposed.auth == UrlAuth::Iam {
        let received = ReceivedRequest {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            body: &bytes,
        };
        let verdict = match &gateway.aws {
            Some(aws) => aws.authorize_url_call(&received, function),
            None => Err(
                "the gateway was started without the simulator's credentials, so it \
                         cannot verify signatures"
                    .to_owned(),
            ),
        };
        if let Err(problem) = verdict {
            return Answered::Whole(forbidden(), Some(problem));
        }
    }
    let event = build_event(
        &parts.method,
        &parts.uri,
        &parts.headers,
        path,
        &bytes,
        &target.request_id,
    );
    let mut outcome = exposed
        .pool
        .invoke_from(target.request_id.clone(), InvocationSource::Url, event)
        .await;
    // A reload replaced the function while this request waited for an instance: the new
    // version answers it.
    if let Err(LambdaError::Retired { event, .. }) = outcome {
        outcome = match gateway.functions().get(function) {
            Some(current) => {
                current
                    .pool
                    .invoke_from(target.request_id.clone(), InvocationSource::Url, *event)
                    .await
            }
            None => Err(LambdaError::ShuttingDown(function.to_owned())),
        };
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return Answered::Whole(bad_gateway(), Some(error.to_string())),
    };
    let problem = match outcome {
        Outcome::Response(value) => return Answered::Whole(to_http(value), None),
        Outcome::Streamed(streamed) if exposed.response.is_stream() => {
            return Answered::Stream(streamed);
        }
        // A buffered URL answers the whole body at once, within Lambda's response limit.
        Outcome::Streamed(streamed) => {
            let head = streamed.head.clone();
            match streamed.collect(MAX_RESPONSE_BYTES).await {
                Ok(body) => return Answered::Whole(head_response(&head, Body::from(body)), None),
                Err(error) => error.to_string(),
            }
        }
        Outcome::FunctionError {
            error_type,
            message,
        } => format!("{error_type}: {message}"),
        Outcome::TimedOut(after) => {
            format!("Task timed out after {:.2} seconds", after.as_secs_f64())
        }
        Outcome::Crashed(why) => why,
    };
    Answered::Whole(bad_gateway(), Some(problem))
}

/// The status of a stream's head (502 for a status HTTP cannot carry).
fn head_status(head: &StreamHead) -> StatusCode {
    StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// A response with the status, headers and cookies of `head`, and `body`.
fn head_response(head: &StreamHead, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = head_status(head);
    let headers = response.headers_mut();
    for (name, value) in &head.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    for cookie in &head.cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append("set-cookie", value);
        }
    }
    response
}

/// Follows a streamed body for the request log: counts what went out, and records a cut (an
/// error from the function, or the client going away) when it happens.
struct StreamWatch {
    gateway: Arc<Gateway>,
    target: RequestTarget,
    status: StatusCode,
    chunks: u64,
    bytes: u64,
    finished: bool,
}

impl StreamWatch {
    /// The body went out whole.
    fn complete(&mut self) {
        self.finished = true;
        self.gateway.record_stream(
            &self.target,
            self.status,
            None,
            Some(StreamProgress::Ended {
                chunks: self.chunks,
                bytes: self.bytes,
            }),
        );
    }

    fn cut(&mut self, problem: String) {
        self.finished = true;
        self.gateway.record_stream(
            &self.target,
            self.status,
            Some(problem),
            Some(StreamProgress::Cut {
                chunks: self.chunks,
                bytes: self.bytes,
            }),
        );
    }
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        if !self.finished {
            self.cut("the client went away mid-stream".to_owned());
        }
    }
}

/// The response forwarding `streamed`: its head at once, then each chunk as the function writes
/// it; an error mid-stream ends the body with that error, so hyper cuts the response (no last
/// chunk) and the client sees it was incomplete.
fn streaming_response(
    gateway: Arc<Gateway>,
    target: RequestTarget,
    streamed: StreamedResponse,
) -> Response {
    let head = streamed.head.clone();
    let watch = StreamWatch {
        gateway,
        target,
        status: head_status(&head),
        chunks: 0,
        bytes: 0,
        finished: false,
    };
    let chunks =
        futures_util::stream::unfold((streamed, watch), |(mut streamed, mut watch)| async move {
            match streamed.next_chunk().await {
                Some(Ok(chunk)) => {
                    watch.chunks += 1;
                    watch.bytes += u64::try_from(chunk.len()).unwrap_or(u64::MAX);
                    Some((Ok(chunk), (streamed, watch)))
                }
                Some(Err(error)) => {
                    watch.cut(format!("the stream was cut: {error}"));
                    Some((Err(error), (streamed, watch)))
                }
                None => {
                    watch.complete();
                    None
                }
            }
        });
    head_response(&head, Body::from_stream(chunks))
}

/// How to sign a request to a local IAM-auth URL with curl, with `credentials` (`KEY:SECRET`,
/// e.g. [`crate::aws::sigv4::Credentials::curl_user`] of
/// [`crate::Simulator::developer_credentials`]).
pub fn signing_hint(credentials: &str) -> String {
    format!("curl --aws-sigv4 \"aws:amz:{LOCAL_REGION}:lambda\" --user {credentials} <url>")
}

fn forbidden() -> Response {
    message(StatusCode::FORBIDDEN, "Forbidden")
}

/// The `Access-Control-Allow-Origin` value for `origin`, when the settings allow it.
fn allowed_origin(cors: &Cors, origin: &str) -> Option<String> {
    let origin_lower = origin.to_ascii_lowercase();
    if cors.allow_origins.iter().any(|allowed| allowed == "*") {
        return Some(if cors.allow_credentials {
            origin.to_owned()
        } else {
            "*".to_owned()
        });
    }
    cors.allow_origins
        .contains(&origin_lower)
        .then(|| origin.to_owned())
}

fn insert_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// Adds the CORS headers a Function URL adds to a response for an allowed `origin`.
fn add_cors_headers(headers: &mut HeaderMap, cors: &Cors, origin: &str) {
    let Some(allowed) = allowed_origin(cors, origin) else {
        return;
    };
    insert_header(headers, "access-control-allow-origin", &allowed);
    insert_header(headers, "vary", "Origin");
    if !cors.expose_headers.is_empty() {
        insert_header(
            headers,
            "access-control-expose-headers",
            &cors.expose_headers.join(","),
        );
    }
    if cors.allow_credentials {
        insert_header(headers, "access-control-allow-credentials", "true");
    }
}

/// The answer to a CORS preflight: `200` with what the settings allow (no CORS header at all
/// for an origin they do not list, so the browser refuses the call).
fn preflight(cors: &Cors, origin: &str) -> Response {
    let mut response = StatusCode::OK.into_response();
    if allowed_origin(cors, origin).is_none() {
        return response;
    }
    let headers = response.headers_mut();
    add_cors_headers(headers, cors, origin);
    if !cors.allow_methods.is_empty() {
        insert_header(
            headers,
            "access-control-allow-methods",
            &cors.allow_methods.join(","),
        );
    }
    if !cors.allow_headers.is_empty() {
        insert_header(
            headers,
            "access-control-allow-headers",
            &cors.allow_headers.join(","),
        );
    }
    if let Some(max_age) = cors.max_age_s {
        insert_header(headers, "access-control-max-age", &max_age.to_string());
    }
    response
}

/// Whether reading a body failed because it was over the limit given to `to_bytes`.
pub(crate) fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

fn payload_too_large() -> Response {
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(json!({"Message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation"})))
        .into_response()
}

fn bad_gateway() -> Response {
    (
        StatusCode::BAD_GATEWAY,
        axum::Json(json!({"Message": "Internal Server Error"})),
    )
        .into_response()
}

fn is_text(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get("content-type").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let content_type = content_type.to_ascii_lowercase();
    content_type.starts_with("text/")
        || content_type.contains("json")
        || content_type.contains("xml")
        || content_type.contains("javascript")
        || content_type.contains("x-www-form-urlencoded")
        || content_type.contains("charset=")
}

/// The payload-2.0 event for one request.
pub fn build_event(
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    path: &str,
    body: &Bytes,
    request_id: &str,
) -> Value {
    let mut header_map: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        header_map
            .entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = uri.query().unwrap_or_default().to_owned();
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in form_urlencoded_pairs(&raw_query) {
        parameters
            .entry(key)
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let host = header_map
        .get("host")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": clf_time(now.as_secs()),
            "timeEpoch": u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !parameters.is_empty() {
        event["queryStringParameters"] = json!(parameters);
    }
    if !body.is_empty() {
        if is_text(headers) && std::str::from_utf8(body).is_ok() {
            event["body"] = json!(String::from_utf8_lossy(body));
        } else {
            event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
            event["isBase64Encoded"] = json!(true);
        }
    }
    event
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// `22/Nov/2026:17:05:00 +0000`, the `time` of Function URL events.
fn clf_time(epoch_seconds: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = i64::try_from(epoch_seconds / 86_400).unwrap_or_default();
    let seconds = epoch_seconds % 86_400;
    let (year, month, day) = crate::aws::sigv4::civil_from_days(days);
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or_default()];
    format!(
        "{day:02}/{month_name}/{year}:{:02}:{:02}:{:02} +0000",
        seconds / 3600,
        (seconds % 3600) / 60,
        seconds % 60
    )
}

/// A function's answer as an HTTP response: a `{statusCode, headers, cookies, body,
/// isBase64Encoded}` object, or any other JSON value as a 200 `application/json` body.
pub fn to_http(value: Value) -> Response {
    let Value::Object(object) = value else {
        return json_200(&value);
    };
    let Some(status) = object.get("statusCode").and_then(Value::as_u64) else {
        return json_200(&Value::Object(object));
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let body = object
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = if object.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        match base64::engine::general_purpose::STANDARD.decode(body) {
            Ok(bytes) => bytes,
            Err(_) => return bad_gateway(),
        }
    } else {
        body.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(Value::Object(map)) = object.get("headers") {
        insert_headers(headers, map);
    }
    if let Some(Value::Array(cookies)) = object.get("cookies") {
        for cookie in cookies.iter().filter_map(Value::as_str) {
            if let Ok(value) = HeaderValue::from_str(cookie) {
                headers.append("set-cookie", value);
            }
        }
    }
    response
}

fn insert_headers(headers: &mut HeaderMap, map: &Map<String, Value>) {
    for (name, value) in map {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&text),
        ) {
            headers.insert(name, value);
        }
    }
}

fn json_200(value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_is_in_common_log_format() {
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(1_795_367_100), "22/Nov/2026:17:05:00 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
    }

    #[tokio::test]
    async fn structured_responses_keep_status_headers_cookies_and_base64_bodies() {
        let response = to_http(json!({
            "statusCode": 201,
            "headers": {"content-type": "text/plain", "x-count": 3},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": base64::engine::general_purpose::STANDARD.encode("créé"),
            "isBase64Encoded": true,
        }));
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(response.headers()["x-count"], "3");
        let cookies: Vec<&str> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(std::str::from_utf8(&body).expect("utf-8"), "créé");
        let plain = to_http(json!(["not", "structured"]));
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(plain.headers()["content-type"], "application/json");
    }

    #[test]
    fn paths_split_into_function_and_path_and_decode() {
        assert_eq!(split_path("/"), ("", "/"));
        assert_eq!(split_path("/echo"), ("echo", "/"));
        assert_eq!(split_path("/echo/"), ("echo", "/"));
        assert_eq!(split_path("/echo/a/b"), ("echo", "/a/b"));
        assert_eq!(
            percent_decode("/a%20b%2Fc%zz%"),
            Some("/a b/c%zz%".to_owned())
        );
        assert_eq!(percent_decode("/%FF"), None);
    }

    #[test]
    fn only_the_gateways_own_origin_and_declared_ones_may_call() {
        let cors = Cors {
            allow_origins: vec!["https://app.example".to_owned()],
            ..Cors::default()
        };
        let host = "127.0.0.1:9000";
        for own in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            assert!(origin_may_call(own, host, None), "{own}");
        }
        for foreign in [
            "https://evil.example",
            "http://127.0.0.1:3000",
            "https://127.0.0.1:9000",
            "null",
            "http://evil.example:9000",
        ] {
            assert!(!origin_may_call(foreign, host, None), "{foreign}");
        }
        assert!(origin_may_call("https://app.example", host, Some(&cors)));
        assert!(!origin_may_call("https://evil.example", host, Some(&cors)));
        assert!(is_loopback_host("LOCALHOST:1"));
        assert!(!is_loopback_host("127.0.0.1.evil.example"));
        assert!(!is_loopback_host("evil@127.0.0.1"));
    }

    #[test]
    fn query_strings_are_percent_decoded() {
        assert_eq!(
            form_urlencoded_pairs("q=hello+world%21&n=1&empty=&flag"),
            [
                ("q".to_owned(), "hello world!".to_owned()),
                ("n".to_owned(), "1".to_owned()),
                ("empty".to_owned(), String::new()),
                ("flag".to_owned(), String::new())
            ]
        );
    }
}
