//! A minimal Lambda Runtime API (`/2018-06-01/runtime/...`) on loopback, enough to drive a real
//! app process: it hands out queued events on `invocation/next` and collects what the process
//! posts back to `response`, `error` and `init/error`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};

/// What the function process answered to one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Posted to `/invocation/{id}/response`.
    Response(Value),
    /// Posted to `/invocation/{id}/error` (`{"errorType", "errorMessage"}`).
    Error(Value),
}

impl Outcome {
    /// The response, or a panic naming the error.
    pub fn response(self) -> Value {
        match self {
            Self::Response(value) => value,
            Self::Error(error) => {
                panic!("expected a response, the function reported an error: {error}")
            }
        }
    }

    /// The error, or a panic naming the response.
    pub fn error(self) -> Value {
        match self {
            Self::Error(error) => error,
            Self::Response(value) => panic!("expected an error, the function responded: {value}"),
        }
    }
}

struct Shared {
    queue: Mutex<mpsc::Receiver<(String, Value)>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_errors: Mutex<Vec<Value>>,
}

/// A running fake Runtime API.
pub struct RuntimeApi {
    address: String,
    sender: mpsc::Sender<(String, Value)>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("address", &self.address)
            .finish()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Starts the API on a free loopback port.
    pub async fn start() -> Self {
        let (sender, receiver) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            queue: Mutex::new(receiver),
            pending: Mutex::new(HashMap::new()),
            init_errors: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("local address").to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            address,
            sender,
            shared,
            next_id: AtomicU64::new(1),
            server,
        }
    }

    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends one event and waits (up to 60 s) for the function's answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let (answer, receiver) = oneshot::channel();
        self.shared.pending.lock().await.insert(id.clone(), answer);
        self.sender
            .send((id.clone(), event))
            .await
            .expect("the API is running");
        match tokio::time::timeout(Duration::from_secs(60), receiver).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "no answer to {id} within 60 s; init errors: {:?}",
                self.shared.init_errors.lock().await
            ),
        }
    }

    /// Errors the process reported at initialisation.
    pub async fn init_errors(&self) -> Vec<Value> {
        self.shared.init_errors.lock().await.clone()
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let Some((id, event)) = shared.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|now| now.as_millis() + 60_000)
        .unwrap_or_default();
    let values = [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:fixture".into(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".into(),
        ),
        ("content-type", "application/json".into()),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, event.to_string()).into_response()
}

async fn settle(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.pending.lock().await.remove(id) {
        Some(sender) => {
            let _ = sender.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(&shared, &id, Outcome::Response(json_or_text(&body))).await
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(&shared, &id, Outcome::Error(json_or_text(&body))).await
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    shared.init_errors.lock().await.push(json_or_text(&body));
    StatusCode::ACCEPTED
}
