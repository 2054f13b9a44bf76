//! The console's HTTP side, served under `/_pluto/` on its own port: the page and its
//! assets (compiled in), the JSON API, the live feed (server-sent events) and the invoke, KV
//! and model endpoints. The contract is documented in docs/local-dev.md.
//!
//! Only this machine's browser may change anything: the console's listener refuses foreign host
//! names (DNS rebinding), its port is an origin no function's page shares; here every change must be a JSON request (`Content-Type:
//! application/json`, which a page on another site cannot send without a CORS preflight that is
//! never answered) and, when the browser says where it comes from, from the console's own
//! origin.

use crate::Console;
use crate::app::app_json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures_util::StreamExt;
use pluto_model::ResourceSpec;
use pluto_simulator::lambda::{InvocationSource, Outcome, new_request_id};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const CONSOLE_JS: &str = include_str!("../assets/console.js");
const CONSOLE_CSS: &str = include_str!("../assets/console.css");

/// The console's routes (relative to `/_pluto`).
pub(crate) fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/console.js", get(script))
        .route("/assets/console.css", get(style))
        .route("/api/app", get(app))
        .route("/api/graph.svg", get(graph))
        .route("/api/requests", get(requests))
        .route("/api/requests/{id}", get(request))
        .route("/api/events", get(events))
        .route("/api/invoke/{function}", post(invoke))
        .route("/api/kv", get(kv_stores))
        .route("/api/kv/{store}", get(kv_items))
        .route("/api/kv/{store}/{key}", put(kv_put).delete(kv_delete))
        .route("/api/buckets", get(buckets))
        .route("/api/buckets/{bucket}", get(bucket_objects))
        .route("/api/buckets/{bucket}/upload", post(bucket_upload))
        .route("/api/model", get(model))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(same_origin_json_changes))
        .with_state(console)
}

fn error(status: StatusCode, error_type: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": error_type, "message": message.into()}})),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "no such console page or API; the console is at /_pluto/",
    )
}

/// Changes must be JSON requests from the console's own page (see the module docs).
async fn same_origin_json_changes(request: Request, next: Next) -> Response {
    let method = request.method();
    if method == Method::GET || method == Method::HEAD {
        return next.run(request).await;
    }
    let headers = request.headers();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "console changes are JSON requests: send Content-Type: application/json",
        );
    }
    if let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if origin != format!("http://{host}") {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("the console only takes changes from its own page, not from {origin}"),
            );
        }
    }
    next.run(request).await
}

fn with_type(content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn index() -> Response {
    let mut response = with_type("text/html; charset=utf-8", INDEX_HTML);
    // Everything the page loads is its own: no other origin, no inline script.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

async fn script() -> Response {
    with_type("text/javascript; charset=utf-8", CONSOLE_JS)
}

async fn style() -> Response {
    with_type("text/css; charset=utf-8", CONSOLE_CSS)
}

async fn app(State(console): State<Arc<Console>>) -> Response {
    let architecture = console.hub.architecture();
    let gateway_url = console
        .handle()
        .map(|handle| handle.gateway_url().to_owned());
    axum::Json(app_json(
        &architecture,
        &console.stack,
        gateway_url.as_deref(),
        console.console_url.get().map(String::as_str),
        &console.hub.build(),
    ))
    .into_response()
}

async fn graph(State(console): State<Arc<Console>>) -> Response {
    with_type(
        "image/svg+xml",
        crate::svg::render(&console.hub.architecture()),
    )
}

async fn requests(State(console): State<Arc<Console>>) -> Response {
    axum::Json(console.hub.requests()).into_response()
}

async fn request(State(console): State<Arc<Console>>, Path(id): Path<String>) -> Response {
    match console.hub.request(&id) {
        Some(detail) => axum::Json(detail).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "no request `{id}` (the console keeps the last {})",
                crate::hub::MAX_REQUESTS
            ),
        ),
    }
}

/// The live feed: every change as a server-sent event, a comment every 15 s to keep the
/// connection open, and `event: resync` when this page fell behind (it reloads its lists).
async fn events(State(console): State<Arc<Console>>) -> Response {
    let feed = console.hub.subscribe();
    let frames = futures_util::stream::unfold(feed, |mut feed| async move {
        let frame = match tokio::time::timeout(Duration::from_secs(15), feed.recv()).await {
            Ok(Ok(frame)) => frame.to_string(),
            Ok(Err(RecvError::Lagged(_))) => "event: resync\ndata: {}\n\n".to_owned(),
            Ok(Err(RecvError::Closed)) => return None,
            Err(_) => ": keep-alive\n\n".to_owned(),
        };
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(frame)), feed))
    });
    let mut response = with_type("text/event-stream", Body::from_stream(frames));
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Runs a function with the posted arguments: a buffered function directly (as `Invoke`), a
/// streaming one through a Function URL event, so its text comes as the model makes it.
async fn invoke(
    State(console): State<Arc<Console>>,
    Path(function): Path<String>,
    body: Bytes,
) -> Response {
    let Some(handle) = console.handle() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Starting",
            "the app is still starting",
        );
    };
    let architecture = handle.architecture();
    let Some(declared) = architecture.function(&function) else {
        let known: Vec<&str> = architecture
            .functions
            .iter()
            .map(|function| function.spec.name.as_str())
            .collect();
        return error(
            StatusCode::NOT_FOUND,
            "UnknownFunction",
            format!(
                "no function `{function}`; the app has: {}",
                known.join(", ")
            ),
        );
    };
    let args: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(args @ Value::Object(_)) => args,
            Ok(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadArguments",
                    "the arguments are a JSON object: {\"param\": value, ...}",
                );
            }
            Err(parse) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadArguments",
                    format!("the arguments are not JSON: {parse}"),
                );
            }
        }
    };
    let request_id = new_request_id();
    let started = Instant::now();
    let streams = declared.response.is_stream();
    let event = if streams {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/plain"));
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1"));
        pluto_simulator::gateway::build_event(
            &Method::POST,
            &axum::http::Uri::from_static("/"),
            &headers,
            "",
            &Bytes::from(args.to_string()),
            &request_id,
        )
    } else {
        args
    };
    let outcome = handle
        .invoke_from(
            &function,
            request_id.clone(),
            InvocationSource::Console,
            event,
        )
        .await;
    let duration_ms = (started.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    let answer = |ok: bool, result: Value, error: Value| {
        let mut response = axum::Json(json!({
            "request_id": request_id,
            "ok": ok,
            "result": result,
            "error": error,
            "duration_ms": duration_ms,
        }))
        .into_response();
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(crate::REQUEST_ID_HEADER, id);
        }
        response
    };
    let failed = |error_type: &str, message: String| {
        answer(
            false,
            Value::Null,
            json!({"type": error_type, "message": message}),
        )
    };
    match outcome {
        Ok(Outcome::Response(value)) if streams => {
            // A streaming function that failed before its first byte answers a URL response
            // with an error status.
            let status = value["statusCode"].as_u64().unwrap_or(200);
            let body = value["body"].as_str().unwrap_or_default().to_owned();
            if status >= 400 {
                let message = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|body| body["message"].as_str().map(str::to_owned))
                    .unwrap_or(body);
                failed(&format!("HTTP {status}"), message)
            } else {
                answer(true, Value::String(body), Value::Null)
            }
        }
        Ok(Outcome::Response(value)) => answer(true, value, Value::Null),
        Ok(Outcome::Streamed(streamed)) if streamed.head.status >= 400 => {
            let status = streamed.head.status;
            let body = streamed
                .collect(pluto_spec::limits::MAX_RESPONSE_BYTES)
                .await
                .map(|body| String::from_utf8_lossy(&body).into_owned())
                .unwrap_or_else(|problem| problem.to_string());
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|body| body["message"].as_str().map(str::to_owned))
                .unwrap_or(body);
            failed(&format!("HTTP {status}"), message)
        }
        Ok(Outcome::Streamed(streamed)) => {
            let chunks = streamed
                .into_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other));
            let mut response = with_type("text/plain; charset=utf-8", Body::from_stream(chunks));
            if let Ok(id) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert(crate::REQUEST_ID_HEADER, id);
            }
            response
        }
        Ok(Outcome::FunctionError {
            error_type,
            message,
        }) => failed(&error_type, message),
        Ok(Outcome::TimedOut(after)) => failed(
            "Sandbox.Timedout",
            format!("Task timed out after {:.2} seconds", after.as_secs_f64()),
        ),
        Ok(Outcome::Crashed(why)) => failed("Runtime.ExitError", why),
        Err(problem) => error(StatusCode::BAD_GATEWAY, "InvokeFailed", problem.to_string()),
    }
}

/// The KV stores the app declares.
fn kv_store_names(console: &Console) -> Vec<String> {
    console
        .hub
        .architecture()
        .resources
        .iter()
        .filter(|resource| matches!(resource.spec, ResourceSpec::KvStore(_)))
        .map(|resource| resource.spec.name().to_owned())
        .collect()
}

/// Runs a blocking KV operation of the simulator off the async threads.
async fn on_kv<T: Send + 'static>(
    console: &Console,
    operation: impl FnOnce(
        &pluto_simulator::aws::LocalAws,
    ) -> Result<T, pluto_simulator::aws::KvAdminError>
    + Send
    + 'static,
) -> Result<T, Response> {
    let Some(handle) = console.handle() else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Starting",
            "the app is still starting",
        ));
    };
    let aws = handle.local_aws().clone();
    match tokio::task::spawn_blocking(move || operation(&aws)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(pluto_simulator::aws::KvAdminError::UnknownStore(store))) => Err(error(
            StatusCode::NOT_FOUND,
            "UnknownStore",
            format!("the app declares no KV store `{store}`"),
        )),
        Ok(Err(pluto_simulator::aws::KvAdminError::UnknownBucket(bucket))) => Err(error(
            StatusCode::NOT_FOUND,
            "UnknownBucket",
            format!("the app declares no bucket `{bucket}`"),
        )),
        Ok(Err(pluto_simulator::aws::KvAdminError::Source(problem))) => {
            Err(error(StatusCode::BAD_REQUEST, "UnreadableFile", problem))
        }
        Ok(Err(problem)) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "StoreFailed",
            problem.to_string(),
        )),
        Err(problem) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "StoreFailed",
            problem.to_string(),
        )),
    }
}

async fn kv_stores(State(console): State<Arc<Console>>) -> Response {
    let mut stores = Vec::new();
    for name in kv_store_names(&console) {
        let store = name.clone();
        let items = match on_kv(&console, move |aws| aws.kv_items(&store)).await {
            Ok(items) => items.len(),
            Err(response) => return response,
        };
        stores.push(json!({"name": name, "items": items}));
    }
    axum::Json(stores).into_response()
}

async fn kv_items(State(console): State<Arc<Console>>, Path(store): Path<String>) -> Response {
    let name = store.clone();
    match on_kv(&console, move |aws| aws.kv_items(&name)).await {
        Ok(items) => axum::Json(json!({
            "store": store,
            "items": items
                .into_iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(response) => response,
    }
}

async fn kv_put(
    State(console): State<Arc<Console>>,
    Path((store, key)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let value = match serde_json::from_slice::<Value>(&body) {
        Ok(body) => match body.get("value") {
            Some(Value::String(value)) => value.clone(),
            Some(other) => other.to_string(),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadItem",
                    "send {\"value\": \"...\"}",
                );
            }
        },
        Err(parse) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadItem",
                format!("the body is not JSON: {parse}"),
            );
        }
    };
    match on_kv(&console, move |aws| aws.kv_put(&store, &key, &value)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}

async fn kv_delete(
    State(console): State<Arc<Console>>,
    Path((store, key)): Path<(String, String)>,
) -> Response {
    match on_kv(&console, move |aws| aws.kv_delete(&store, &key)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}

fn bucket_names(console: &Console) -> Vec<String> {
    console
        .hub
        .architecture()
        .resources
        .iter()
        .filter(|resource| matches!(resource.spec, ResourceSpec::Bucket(_)))
        .map(|resource| resource.spec.name().to_owned())
        .collect()
}

/// Every bucket with its object count and bytes.
async fn buckets(State(console): State<Arc<Console>>) -> Response {
    let mut buckets = Vec::new();
    for name in bucket_names(&console) {
        let bucket = name.clone();
        let objects = match on_kv(&console, move |aws| aws.bucket_objects(&bucket)).await {
            Ok(objects) => objects,
            Err(response) => return response,
        };
        let bytes: u64 = objects.iter().map(|(_, meta)| meta.size).sum();
        buckets.push(json!({"name": name, "objects": objects.len(), "bytes": bytes}));
    }
    axum::Json(buckets).into_response()
}

/// The objects of one bucket: key, size, content type, when written.
async fn bucket_objects(
    State(console): State<Arc<Console>>,
    Path(bucket): Path<String>,
) -> Response {
    let name = bucket.clone();
    match on_kv(&console, move |aws| aws.bucket_objects(&name)).await {
        Ok(objects) => axum::Json(json!({
            "bucket": bucket,
            "objects": objects
                .into_iter()
                .map(|(key, meta)| json!({
                    "key": key,
                    "size": meta.size,
                    "content_type": meta.content_type,
                    "modified_ms": meta.modified_ms,
                }))
                .collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(response) => response,
    }
}

/// `{"key", "path", "content_type"}`: stores the local file at `path` (absolute) as object `key`,
/// streamed from disk (what `cargo pluto bucket upload` sends for each file).
async fn bucket_upload(
    State(console): State<Arc<Console>>,
    Path(bucket): Path<String>,
    body: Bytes,
) -> Response {
    #[derive(serde::Deserialize)]
    struct Upload {
        key: String,
        path: std::path::PathBuf,
        content_type: String,
    }
    let upload: Upload = match serde_json::from_slice(&body) {
        Ok(upload) => upload,
        Err(problem) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("expected {{\"key\", \"path\", \"content_type\"}}: {problem}"),
            );
        }
    };
    if upload.key.is_empty() || !upload.path.is_absolute() {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the key must not be empty and the path must be absolute",
        );
    }
    let Upload {
        key,
        path,
        content_type,
    } = upload;
    let stored_key = key.clone();
    match on_kv(&console, move |aws| {
        aws.bucket_put_file(&bucket, &stored_key, &path, &content_type)
    })
    .await
    {
        Ok(meta) => {
            axum::Json(json!({"key": key, "size": meta.size, "etag": meta.etag})).into_response()
        }
        Err(response) => response,
    }
}

async fn model(State(console): State<Arc<Console>>) -> Response {
    let architecture = console.hub.architecture();
    let served_by = console.model_label.get().cloned();
    let endpoints: Vec<Value> = architecture
        .resources
        .iter()
        .filter_map(|resource| match &resource.spec {
            ResourceSpec::Sagemaker(spec) => Some(json!({
                "name": spec.name,
                "stands_for": crate::stands_for(spec),
                "served_by": served_by,
            })),
            ResourceSpec::KvStore(_) | ResourceSpec::Bucket(_) | ResourceSpec::Secret(_) => None,
        })
        .collect();
    axum::Json(json!({"endpoints": endpoints, "calls": console.hub.model_calls()})).into_response()
}
