//! The simulator's Function URL gateway in front of real function processes (the fixture app):
//! payload-2.0 events in and out, instance reuse and scale-out, and how timeouts, crashes and
//! oversized requests are answered while the simulator keeps serving.

use pluto_simulator::gateway::{ExposedFunction, Gateway, RequestRecord};
use pluto_simulator::lambda::{FunctionConfig, FunctionPool};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Simulated {
    url: String,
    requests: Arc<Mutex<Vec<RequestRecord>>>,
    server: tokio::task::JoinHandle<()>,
    pools: Vec<Arc<FunctionPool>>,
}

impl Simulated {
    /// Serves the fixture app's `functions` through a gateway on a free loopback port.
    async fn start(functions: &[&str], timeout: Duration, max_instances: usize) -> Self {
        let logs: pluto_simulator::lambda::LogSink = Arc::new(|_: &str, _: u64, _: &str| {});
        let mut pools = Vec::new();
        let mut map = BTreeMap::new();
        for function in functions {
            let config = FunctionConfig {
                name: (*function).to_owned(),
                binary: PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
                env: vec![("AWS_REGION".into(), "us-east-1".into())],
                timeout,
                memory_mb: 128,
                max_instances,
            };
            let pool = Arc::new(FunctionPool::new(config, logs.clone()));
            pools.push(pool.clone());
            map.insert(
                (*function).to_owned(),
                ExposedFunction {
                    pool,
                    auth: pluto_spec::UrlAuth::Public,
                    cors: None,
                },
            );
        }
        let requests: Arc<Mutex<Vec<RequestRecord>>> = Arc::default();
        let sink = requests.clone();
        let gateway = Arc::new(Gateway::new(
            map,
            Arc::new(move |record: &RequestRecord| {
                sink.lock().expect("log lock").push(record.clone())
            }),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, gateway.router()).await;
        });
        Self {
            url,
            requests,
            server,
            pools,
        }
    }

    async fn stop(self) {
        self.server.abort();
        for pool in &self.pools {
            pool.shutdown().await;
        }
    }
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn requests_become_events_and_answers_become_responses() {
    let simulated = Simulated::start(&["add", "greet", "echo"], Duration::from_secs(10), 2).await;
    assert_eq!(
        post(&format!("{}/add", simulated.url), json!([2, 40])).await,
        (200, json!(42))
    );
    let response = reqwest::get(format!("{}/greet?name=Ada", simulated.url))
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!("hello Ada")
    );
    // A binary content type arrives base64-encoded and is decoded by the runtime.
    let response = reqwest::Client::new()
        .post(format!("{}/echo/any/path", simulated.url))
        .header("content-type", "application/octet-stream")
        .body(r#"["bytes"]"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!("bytes")
    );
    let records = simulated.requests.lock().expect("records").clone();
    assert_eq!(records.len(), 3);
    assert_eq!(
        (
            records[2].function.as_str(),
            records[2].path.as_str(),
            records[2].status
        ),
        ("echo", "/any/path", 200)
    );
    simulated.stop().await;
}

#[tokio::test]
async fn bad_inputs_get_4xx_and_unknown_functions_404() {
    let simulated = Simulated::start(&["add"], Duration::from_secs(10), 1).await;
    let (status, body) = post(&format!("{}/add", simulated.url), json!(["x", 1])).await;
    assert_eq!(status, 400, "{body}");
    let response = reqwest::Client::new()
        .post(format!("{}/add", simulated.url))
        .body(vec![b' '; 6 * 1024 * 1024 + 1])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 413);
    let (status, body) = post(&format!("{}/nope", simulated.url), json!([])).await;
    assert_eq!(status, 404);
    assert!(
        body["Message"]
            .as_str()
            .expect("message")
            .contains("these do: add"),
        "{body}"
    );
    simulated.stop().await;
}

#[tokio::test]
async fn a_timed_out_request_is_a_502_and_the_instance_is_replaced() {
    let simulated = Simulated::start(&["sleepy"], Duration::from_millis(800), 1).await;
    let url = format!("{}/sleepy", simulated.url);
    let (status, first_pid) = post(&url, json!([0])).await;
    assert_eq!(status, 200);
    assert_eq!(
        post(&url, json!([30_000])).await,
        (502, json!({"Message": "Internal Server Error"}))
    );
    let (status, second_pid) = post(&url, json!([0])).await;
    assert_eq!(status, 200);
    assert_ne!(
        first_pid, second_pid,
        "a new instance serves after the timeout"
    );
    let records = simulated.requests.lock().expect("records").clone();
    assert!(
        records[1]
            .problem
            .as_deref()
            .is_some_and(|p| p.starts_with("Task timed out after 0.80 seconds")),
        "{records:?}"
    );
    simulated.stop().await;
}

#[tokio::test]
async fn a_crashed_instance_is_a_502_and_is_replaced() {
    let simulated = Simulated::start(&["crash", "echo"], Duration::from_secs(10), 1).await;
    assert_eq!(
        post(&format!("{}/crash", simulated.url), json!([3]))
            .await
            .0,
        502
    );
    let records = simulated.requests.lock().expect("records").clone();
    assert!(
        records[0]
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("exited")),
        "{records:?}"
    );
    assert_eq!(
        post(&format!("{}/echo", simulated.url), json!(["alive"])).await,
        (200, json!("alive"))
    );
    simulated.stop().await;
}

#[tokio::test]
async fn a_panic_is_a_500_from_the_handler_and_the_instance_keeps_serving() {
    let simulated = Simulated::start(&["panics"], Duration::from_secs(10), 1).await;
    let url = format!("{}/panics", simulated.url);
    let (status, body) = post(&url, json!(["boom"])).await;
    assert_eq!(
        (status, body),
        (500, json!({"error": "function `panics` panicked: boom"}))
    );
    assert_eq!(post(&url, json!(["again"])).await.0, 500);
    simulated.stop().await;
}

#[tokio::test]
async fn concurrent_requests_start_more_instances_up_to_the_limit() {
    let simulated = Simulated::start(&["sleepy"], Duration::from_secs(20), 3).await;
    let url = format!("{}/sleepy", simulated.url);
    let requests = (0..6).map(|_| post(&url, json!([400])));
    let answers = futures_util::future::join_all(requests).await;
    let pids: BTreeSet<u64> = answers
        .iter()
        .map(|(status, pid)| {
            assert_eq!(*status, 200);
            pid.as_u64().expect("a pid")
        })
        .collect();
    assert!(
        pids.len() > 1,
        "concurrent requests are served by several instances"
    );
    assert!(
        pids.len() <= 3,
        "never more instances than the limit: {pids:?}"
    );
    simulated.stop().await;
}
