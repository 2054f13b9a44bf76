//! The simulator's Function URL gateway in front of real function processes (the fixture app):
//! payload-2.0 events in and out, instance reuse and scale-out, how timeouts, crashes and
//! oversized requests are answered while the simulator keeps serving, and how web pages in the
//! developer's browser are kept from driving local functions.

use pluto_simulator::gateway::RequestRecord;
use pluto_simulator::simulator::HEADER_READ_TIMEOUT;
use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_spec::{Cors, UrlAuth};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

struct Simulated {
    url: String,
    requests: Arc<Mutex<Vec<RequestRecord>>>,
    simulator: Simulator,
}

impl Simulated {
    /// Serves the fixture app through `Simulator::start`, with only `functions` behind public
    /// URLs, each with this timeout.
    async fn start(functions: &[&str], timeout_s: u32, max_instances: usize) -> Self {
        Self::start_with_cors(functions, timeout_s, max_instances, None).await
    }

    /// As [`Simulated::start`], the URLs with these CORS settings.
    async fn start_with_cors(
        functions: &[&str],
        timeout_s: u32,
        max_instances: usize,
        cors: Option<Cors>,
    ) -> Self {
        let mut architecture = pluto_tests::app::fixture_architecture();
        for function in &mut architecture.functions {
            let exposed = functions.contains(&function.spec.name.as_str());
            function.spec.url = if exposed {
                UrlAuth::Public
            } else {
                UrlAuth::None
            };
            function.spec.cors = if exposed { cors.clone() } else { None };
            function.spec.timeout_s = timeout_s;
        }
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let data_dir = std::env::temp_dir().join(format!(
            "pluto-gateway-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let requests: Arc<Mutex<Vec<RequestRecord>>> = Arc::default();
        let sink = requests.clone();
        let mut options = SimulatorOptions::new(
            "test",
            PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
            data_dir,
        );
        options.max_instances = max_instances;
        options.request_log = Arc::new(move |record: &RequestRecord| {
            sink.lock().expect("log lock").push(record.clone())
        });
        let simulator = Simulator::start(&architecture, options)
            .await
            .expect("the simulator starts");
        Self {
            url: simulator.gateway_url().to_owned(),
            requests,
            simulator,
        }
    }

    async fn stop(self) {
        self.simulator.stop().await;
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
    let simulated = Simulated::start(&["add", "greet", "echo"], 10, 2).await;
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
    let simulated = Simulated::start(&["add"], 10, 1).await;
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
    let simulated = Simulated::start(&["sleepy"], 1, 1).await;
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
            .is_some_and(|p| p.starts_with("Task timed out after 1.00 seconds")),
        "{records:?}"
    );
    simulated.stop().await;
}

#[tokio::test]
async fn a_crashed_instance_is_a_502_and_is_replaced() {
    let simulated = Simulated::start(&["crash", "echo"], 10, 1).await;
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
    let simulated = Simulated::start(&["panics"], 10, 1).await;
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
    let simulated = Simulated::start(&["sleepy"], 20, 3).await;
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

#[tokio::test]
async fn regression_browser_attacks_foreign_host_and_origin_are_refused() {
    let cors = Cors {
        allow_origins: vec!["https://app.example".to_owned()],
        ..Cors::default()
    };
    let simulated = Simulated::start_with_cors(&["kv-set", "kv-get"], 10, 1, Some(cors)).await;
    let client = reqwest::Client::new();
    let set = format!("{}/kv-set", simulated.url);
    let port = simulated.url.rsplit(':').next().expect("a port").to_owned();

    // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1.
    let rebound = client
        .post(&set)
        .header("host", format!("evil.example:{port}"))
        .header("content-type", "text/plain")
        .body(r#"["stolen", "by a rebinding page"]"#)
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(rebound.status(), 403);
    let body: Value = rebound.json().await.expect("JSON");
    assert!(
        body["Message"]
            .as_str()
            .is_some_and(|m| m.contains("evil.example")),
        "{body}"
    );
    // CSRF: a page on another origin POSTs text/plain (no preflight needed).
    let csrf = client
        .post(&set)
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(r#"["stolen", "by a cross-site page"]"#)
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(csrf.status(), 403);
    let body: Value = csrf.json().await.expect("JSON");
    assert!(
        body["Message"]
            .as_str()
            .is_some_and(|m| m.contains("https://evil.example") && m.contains("cors(")),
        "{body}"
    );
    assert_eq!(
        post(&format!("{}/kv-get", simulated.url), json!(["stolen"])).await,
        (200, Value::Null),
        "the function was not invoked"
    );
    {
        let records = simulated.requests.lock().expect("records");
        let problems: Vec<&str> = records
            .iter()
            .filter_map(|record| record.problem.as_deref())
            .collect();
        assert!(
            problems[0].contains("DNS rebinding") && records[0].status == 403,
            "{problems:?}"
        );
        assert!(
            problems[1]
                .contains("a web page on https://evil.example tried to call function `kv-set`"),
            "{problems:?}"
        );
    }

    // A no-cors GET from another site carries no Origin, but Sec-Fetch-Site tells.
    let image = client
        .get(format!("{}/kv-get?key=stolen", simulated.url))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(image.status(), 403);
    let typed = client
        .get(format!("{}/kv-get?key=k", simulated.url))
        .header("sec-fetch-site", "none")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(
        typed.status(),
        200,
        "a URL typed in the address bar is the user's own"
    );

    // The gateway's own origin (any loopback name, its port) and the declared one may call.
    for origin in [
        simulated.url.clone(),
        format!("http://localhost:{port}"),
        "https://app.example".to_owned(),
    ] {
        let allowed = client
            .post(&set)
            .header("origin", &origin)
            .header("content-type", "text/plain")
            .body(r#"["k", "v"]"#)
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(allowed.status(), 200, "{origin}");
    }
    // A loopback page on another port is another origin.
    let other_port = client
        .post(&set)
        .header("origin", "http://127.0.0.1:1")
        .body(r#"["k", "v"]"#)
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(other_port.status(), 403);
    // `localhost` and `[::1]` are loopback names too.
    let by_name = client
        .post(&set)
        .header("host", format!("localhost:{port}"))
        .body(r#"["k", "v"]"#)
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(by_name.status(), 200);
    simulated.stop().await;
}

#[tokio::test]
async fn regression_gateway_errors_are_json() {
    let simulated = Simulated::start(&["echo"], 10, 1).await;
    for (path, status) in [("/", 404), ("/hello/%FF", 404), ("/echo/%FF", 400)] {
        let response = reqwest::get(format!("{}{path}", simulated.url))
            .await
            .expect("GET");
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        let body: Value = response.json().await.expect("JSON");
        assert!(body["Message"].is_string(), "{path}: {body}");
    }
    simulated.stop().await;
}

#[tokio::test]
async fn regression_slowloris_connections_are_closed_after_the_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let simulated = Simulated::start(&["echo"], 10, 1).await;
    let trickle = |address: String| async move {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connects");
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .expect("writes");
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(
            HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5),
            stream.read_to_end(&mut rest),
        )
        .await;
        (closed.is_ok(), started.elapsed())
    };
    let gateway = simulated.url.trim_start_matches("http://").to_owned();
    let aws = simulated
        .simulator
        .aws_endpoint()
        .trim_start_matches("http://")
        .to_owned();
    let (gateway, aws) = tokio::join!(trickle(gateway), trickle(aws));
    for (closed, after) in [gateway, aws] {
        assert!(closed, "the connection is still open after {after:?}");
        assert!(
            after >= HEADER_READ_TIMEOUT - std::time::Duration::from_secs(1),
            "closed too early: {after:?}"
        );
    }
    simulated.stop().await;
}
