//! A loopback HTTP/1.1 proxy between the code under test and moto that records every AWS request
//! (service operation, in order) and can inject a fault into chosen ones, to test how the engine
//! handles AWS failures:
//!
//! - an error answer instead of forwarding ([`Fault`], or the service's own throttling or 5xx
//!   error: [`Injection::Throttle`], [`Injection::ServerError`], [`Injection::Unavailable`]),
//!   written in the protocol of the request — awsJson (DynamoDB, SageMaker: `__type`), restJson
//!   (Lambda: `x-amzn-ErrorType`), awsQuery (IAM, STS: an XML `ErrorResponse`), restXml (S3: an
//!   XML `Error`; Secrets Manager is awsJson) — so the SDK reads
//!   its code and classifies it as it would AWS's;
//! - a connection dropped before forwarding ([`Injection::Drop`]): no answer at all, and the
//!   request never reached moto;
//! - a lost response ([`Injection::LoseResponse`]): the request is forwarded and done by moto,
//!   then the connection is dropped without answering, so the client does not know it was done;
//! - silence ([`Injection::NeverAnswer`]): the request is read and then never answered, the
//!   connection held open until the client gives up (an endpoint that hangs); it never reaches
//!   moto.
//!
//! The proxy speaks plain HTTP/1.1 itself (keep-alive, `Content-Length` or chunked request
//! bodies), so it can close a connection without answering; it forwards through `reqwest`.

use axum::http::StatusCode;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One request that reached the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// 0-based position among all requests.
    pub index: usize,
    /// The AWS operation: `X-Amz-Target`'s operation (`CreateTable`), the query API's `Action`
    /// (`CreateRole`), or `METHOD path` for REST APIs (`POST /2015-03-31/functions`).
    pub operation: String,
    /// The signing name of the service (`iam`, `lambda`, `dynamodb`, `sagemaker`, `sts`), from the
    /// request's SigV4 credential scope; empty when unsigned.
    pub service: String,
    /// A hash of method, path, query and body: the same for a retry of a request (and for an
    /// identical request sent again), whatever the signature and invocation headers.
    pub fingerprint: u64,
}

/// An error answer in AWS's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// HTTP status.
    pub status: u16,
    /// AWS error code.
    pub code: String,
    /// Error message.
    pub message: String,
}

impl Fault {
    /// An answer with this status, code and message.
    pub fn new(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// What the proxy does with a request instead of just forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// Answers with this error; the request does not reach moto.
    Answer(Fault),
    /// Answers with the service's throttling error: 400 `Throttling` (IAM, STS), 429
    /// `TooManyRequestsException` (Lambda), 503 `SlowDown` (S3), 400 `ThrottlingException`
    /// (DynamoDB, SageMaker, Secrets Manager).
    Throttle,
    /// Answers with 500 and the service's internal error code (`ServiceFailure` for IAM,
    /// `ServiceException` for Lambda, `InternalServerError` for DynamoDB, `InternalError` for S3,
    /// else `InternalFailure`).
    ServerError,
    /// Answers with 503 `ServiceUnavailable`.
    Unavailable,
    /// Closes the connection without any answer; the request does not reach moto.
    Drop,
    /// Forwards the request to moto (which does it), then closes the connection without passing
    /// the answer on.
    LoseResponse,
    /// Reads the request and never answers: the connection stays open and silent until the
    /// client closes it (or the proxy stops). The request does not reach moto.
    NeverAnswer,
}

impl Injection {
    /// The error answer this injection gives to `seen`, if it answers at all.
    pub fn answer(&self, seen: &Seen) -> Option<Fault> {
        match self {
            Self::Answer(fault) => Some(fault.clone()),
            Self::Throttle => Some(throttling(seen)),
            Self::ServerError => Some(server_error(seen)),
            Self::Unavailable => Some(Fault::new(
                503,
                "ServiceUnavailable",
                "Service is unavailable",
            )),
            Self::Drop | Self::LoseResponse | Self::NeverAnswer => None,
        }
    }
}

impl From<Fault> for Injection {
    fn from(fault: Fault) -> Self {
        Self::Answer(fault)
    }
}

type Rule = dyn Fn(&Seen) -> Option<Injection> + Send + Sync;

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

struct State {
    upstream: String,
    client: reqwest::Client,
    seen: Arc<Mutex<Vec<Seen>>>,
    rule: Box<Rule>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (e.g. moto's endpoint); `rule` picks the requests to fail
    /// and how (a [`Fault`] or an [`Injection`]).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub fn start<I: Into<Injection>>(
        upstream: &str,
        rule: impl Fn(&Seen) -> Option<I> + Send + Sync + 'static,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            seen: seen.clone(),
            rule: Box::new(move |seen| rule(seen).map(Into::into)),
        });
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("a free loopback port for the proxy");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let address: SocketAddr = listener.local_addr().expect("a bound address");
        let (shutdown, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the proxy");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                tokio::spawn(connection(state.clone(), stream));
                            }
                        }
                    }
                }
            });
            // Dropping the runtime ends every connection.
        });
        Self {
            endpoint: format!("http://{address}"),
            seen,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// A proxy that only records.
    pub fn recording(upstream: &str) -> Self {
        Self::start(upstream, |_| None::<Injection>)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    /// How many requests were for `operation`.
    pub fn count(&self, operation: &str) -> usize {
        self.seen()
            .iter()
            .filter(|seen| seen.operation == operation)
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A request as read from the client.
struct Request {
    method: String,
    /// Path and query.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The query API's form parameter `key` (in the body or the query string).
    fn form(&self, key: &str) -> Option<String> {
        let query = self
            .target
            .split_once('?')
            .map_or("", |(_, query)| query)
            .as_bytes();
        [self.body.as_slice(), query]
            .into_iter()
            .find_map(|source| {
                form_urlencoded::parse(source)
                    .find(|(name, _)| name == key)
                    .map(|(_, value)| value.into_owned())
            })
    }

    /// The operation, as [`Seen::operation`] describes.
    fn operation(&self) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().unwrap_or(target).to_owned();
        }
        if let Some(action) = self.form("Action") {
            return action;
        }
        let path = self.target.split('?').next().unwrap_or_default();
        format!("{} {path}", self.method)
    }

    /// `Credential=AKID/DATE/REGION/SERVICE/aws4_request` -> `SERVICE`.
    fn service(&self) -> String {
        self.header("authorization")
            .and_then(|auth| auth.split("Credential=").nth(1))
            .and_then(|credential| credential.split('/').nth(3))
            .unwrap_or_default()
            .to_owned()
    }

    fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.method.hash(&mut hasher);
        self.target.hash(&mut hasher);
        // JSON objects in their canonical (sorted) key order: the SDK writes maps (tags,
        // environments) in hash order, which differs from one run to the next.
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(json) => json.to_string().hash(&mut hasher),
            Err(_) => self.body.hash(&mut hasher),
        }
        hasher.finish()
    }

    /// Whether the client asked to close the connection after this request.
    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// A response to write to the client.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn connection(state: Arc<State>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let Ok(Some(request)) = read_request(&mut reader).await else {
            return;
        };
        let seen = {
            let mut all = state.seen.lock().unwrap_or_else(|e| e.into_inner());
            let seen = Seen {
                index: all.len(),
                operation: request.operation(),
                service: request.service(),
                fingerprint: request.fingerprint(),
            };
            all.push(seen.clone());
            seen
        };
        let answer = match (state.rule)(&seen) {
            None => forward(&state, &request).await,
            Some(Injection::Drop) => return,
            Some(Injection::LoseResponse) => {
                let _ = forward(&state, &request).await;
                return;
            }
            Some(Injection::NeverAnswer) => {
                // Silent until the client gives up and closes the connection.
                let mut ignored = [0; 4096];
                while matches!(reader.read(&mut ignored).await, Ok(read) if read > 0) {}
                return;
            }
            Some(injection) => match injection.answer(&seen) {
                Some(fault) => error_answer(&request, &seen, &fault),
                None => return,
            },
        };
        if write_answer(&mut write, &answer).await.is_err() || request.closes() {
            return;
        }
    }
}

/// Reads one request; `None` when the client closed the connection between requests.
async fn read_request<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(std::io::Error::other(format!("bad request line {line:?}")));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size = line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size, 16).map_err(std::io::Error::other)?;
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = request.body.len();
            request.body.resize(start + size, 0);
            reader.read_exact(&mut request.body[start..]).await?;
            line.clear();
            reader.read_line(&mut line).await?;
        }
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().map_err(std::io::Error::other)?;
        request.body.resize(length, 0);
        reader.read_exact(&mut request.body).await?;
    }
    Ok(Some(request))
}

const HOP_BY_HOP: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "expect",
];

async fn forward(state: &State, request: &Request) -> Answer {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or_default();
    let mut forward = state
        .client
        .request(method, format!("{}{}", state.upstream, request.target))
        .body(request.body.clone());
    for (name, value) in &request.headers {
        if !HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
            forward = forward.header(name, value);
        }
    }
    match forward.send().await {
        Ok(upstream) => {
            let status = upstream.status().as_u16();
            let headers = upstream
                .headers()
                .iter()
                .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect();
            let body = upstream
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            Answer {
                status,
                headers,
                body,
            }
        }
        Err(error) => Answer {
            status: 502,
            headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
            body: error.to_string().into_bytes(),
        },
    }
}

async fn write_answer<W: tokio::io::AsyncWrite + Unpin>(
    write: &mut W,
    answer: &Answer,
) -> std::io::Result<()> {
    let reason = StatusCode::from_u16(answer.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Status");
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", answer.status);
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", answer.body.len()));
    write.write_all(head.as_bytes()).await?;
    write.write_all(&answer.body).await?;
    write.flush().await
}

/// The service's throttling error.
fn throttling(seen: &Seen) -> Fault {
    match seen.service.as_str() {
        "iam" | "sts" => Fault::new(400, "Throttling", "Rate exceeded"),
        "lambda" => Fault::new(429, "TooManyRequestsException", "Rate exceeded"),
        "s3" => Fault::new(503, "SlowDown", "Please reduce your request rate."),
        "dynamodb" => Fault::new(
            400,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        _ => Fault::new(400, "ThrottlingException", "Rate exceeded"),
    }
}

/// The service's internal error.
fn server_error(seen: &Seen) -> Fault {
    let code = match seen.service.as_str() {
        "iam" => "ServiceFailure",
        "lambda" => "ServiceException",
        "dynamodb" => "InternalServerError",
        "s3" => "InternalError",
        _ => "InternalFailure",
    };
    Fault::new(
        500,
        code,
        "We encountered an internal error. Please try again.",
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `fault` in the protocol of `request`.
fn error_answer(request: &Request, seen: &Seen, fault: &Fault) -> Answer {
    let request_id = format!("00000000-0000-4000-8000-{:012x}", seen.index);
    let mut headers = vec![("x-amzn-RequestId".to_owned(), request_id.clone())];
    let body = if let Some(content_type) = request
        .header("x-amz-target")
        .and(request.header("content-type"))
    {
        // awsJson 1.0 / 1.1: the code in `__type`.
        headers.push(("content-type".to_owned(), content_type.to_owned()));
        serde_json::json!({"__type": fault.code, "message": fault.message}).to_string()
    } else if seen.service == "s3" {
        // restXml (S3): an XML `Error` at the root.
        headers.push(("content-type".to_owned(), "application/xml".to_owned()));
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
            xml_escape(&fault.code),
            xml_escape(&fault.message)
        )
    } else if let Some(version) = request.form("Action").and(request.form("Version")) {
        // awsQuery: an XML ErrorResponse.
        headers.push(("content-type".to_owned(), "text/xml".to_owned()));
        let kind = if fault.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        };
        format!(
            "<ErrorResponse xmlns=\"https://{}.amazonaws.com/doc/{version}/\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
            seen.service,
            xml_escape(&fault.code),
            xml_escape(&fault.message)
        )
    } else {
        // restJson: the code in `x-amzn-ErrorType`.
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        headers.push(("x-amzn-ErrorType".to_owned(), fault.code.clone()));
        let kind = if fault.status >= 500 {
            "Service"
        } else {
            "User"
        };
        serde_json::json!({"Type": kind, "message": fault.message}).to_string()
    };
    Answer {
        status: fault.status,
        headers,
        body: body.into_bytes(),
    }
}
