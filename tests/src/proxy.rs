//! A loopback HTTP proxy between the code under test and moto that records every AWS request
//! (service operation, in order) and can answer chosen ones itself with an error, to test how
//! the engine handles AWS failures (IAM propagation delays, throttling, 5xx).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// One request that reached the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// 0-based position among all requests.
    pub index: usize,
    /// The AWS operation: `X-Amz-Target`'s operation (`CreateTable`), the query API's `Action`
    /// (`CreateRole`), or `METHOD path` for REST APIs (`POST /2015-03-31/functions`).
    pub operation: String,
}

/// An error answer the proxy gives instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// HTTP status.
    pub status: u16,
    /// AWS error code (sent as `x-amzn-errortype` and in the body).
    pub code: String,
    /// Error message.
    pub message: String,
}

type Rule = dyn Fn(&Seen) -> Option<Fault> + Send + Sync;

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
    /// Starts a proxy to `upstream` (e.g. moto's endpoint); `rule` picks the requests to fail.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub fn start(
        upstream: &str,
        rule: impl Fn(&Seen) -> Option<Fault> + Send + Sync + 'static,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            seen: seen.clone(),
            rule: Box::new(rule),
        });
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("a free loopback port for the proxy");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let address: SocketAddr = listener.local_addr().expect("a bound address");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the proxy");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let app = axum::Router::new()
                    .fallback(move |request: Request<Body>| handle(state.clone(), request));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            endpoint: format!("http://{address}"),
            seen,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
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

/// The operation of a request, as [`Seen::operation`] describes.
fn operation(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let query = uri.query().unwrap_or_default().as_bytes();
    for source in [body, query] {
        if let Some((_, action)) = form_urlencoded::parse(source).find(|(key, _)| key == "Action") {
            return action.into_owned();
        }
    }
    format!("{method} {}", uri.path())
}

async fn handle(state: Arc<State>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let seen = {
        let mut all = state.seen.lock().unwrap_or_else(|e| e.into_inner());
        let seen = Seen {
            index: all.len(),
            operation: operation(&parts.method, &parts.uri, &parts.headers, &body),
        };
        all.push(seen.clone());
        seen
    };
    if let Some(fault) = (state.rule)(&seen) {
        let body = serde_json::json!({
            "__type": fault.code,
            "code": fault.code,
            "message": fault.message,
            "Message": fault.message,
        });
        return Response::builder()
            .status(StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_REQUEST))
            .header("x-amzn-errortype", &fault.code)
            .header("content-type", "application/x-amz-json-1.1")
            .body(Body::from(body.to_string()))
            .unwrap_or_default();
    }
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let mut forward = state
        .client
        .request(parts.method.clone(), format!("{}{path}", state.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    match forward.send().await {
        Ok(upstream) => {
            let mut response = Response::builder().status(upstream.status());
            for (name, value) in upstream.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    response = response.header(name, value);
                }
            }
            let bytes = upstream.bytes().await.unwrap_or_default();
            response.body(Body::from(bytes)).unwrap_or_default()
        }
        Err(error) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(error.to_string()))
            .unwrap_or_default(),
    }
}
