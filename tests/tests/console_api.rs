//! The dev console's HTTP API (`/_pluto/api/...`) on the fixture app, without a browser: the
//! app document, a request's record with its event, answer, log lines and AWS calls (a denied
//! one with the missing grant and the deducer's explanation), the invoke endpoint (buffered and
//! streamed), the KV data, and the guards that keep other web pages from changing anything
//! (JSON only, same origin only).

#![allow(clippy::unwrap_used)]

use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_spec::UrlAuth;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Running {
    simulator: Simulator,
    api: String,
    client: reqwest::Client,
    data_dir: PathBuf,
}

impl Running {
    async fn start(name: &str) -> Self {
        let mut architecture = pluto_tests::app::fixture_architecture();
        for function in &mut architecture.functions {
            function.spec.url = UrlAuth::Public;
        }
        let data_dir =
            std::env::temp_dir().join(format!("pluto-console-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        let console = pluto_console::Console::new(&architecture, "test");
        let mut options = SimulatorOptions::new(
            "test",
            PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
            data_dir.clone(),
        );
        options.max_instances = 2;
        console.instrument(&mut options);
        let simulator = Simulator::start(&architecture, options)
            .await
            .expect("the simulator starts");
        console.attach(&simulator);
        let api = format!(
            "{}api",
            simulator.console_url().expect("the console is served")
        );
        Self {
            simulator,
            api,
            client: reqwest::Client::new(),
            data_dir,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/{path}", self.api))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/{path}", self.api))
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Invokes `function` through the console with `args`; its JSON answer.
    async fn invoke(&self, function: &str, args: Value) -> Value {
        self.post(&format!("invoke/{function}"), &args)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The request `id` once `done` says it is complete (its records arrive asynchronously).
    async fn request_when(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, detail) = self.get(&format!("requests/{id}")).await;
            if status == 200 && done(&detail) {
                return detail;
            }
            assert!(
                Instant::now() < deadline,
                "request {id} never got there: {detail:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.simulator.stop().await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

#[tokio::test]
async fn the_console_records_requests_invokes_functions_and_edits_kv_data() {
    let running = Running::start("records").await;

    // The app document: every function with its URL, params and grants with provenance.
    let (status, app) = running.get("app").await;
    assert_eq!(status, 200);
    assert_eq!(app["project"], "pluto-tests");
    assert_eq!(app["build"]["state"], "serving");
    let kv_set = app["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|function| function["name"] == "kv-set")
        .unwrap();
    assert_eq!(
        kv_set["params"][0],
        json!({"name": "key", "type": "String"})
    );
    assert_eq!(kv_set["grants"][0]["iam_action"], "dynamodb:PutItem");
    assert!(
        kv_set["grants"][0]["provenance"][0]
            .as_str()
            .unwrap()
            .contains("handlers.rs:79"),
        "{kv_set:#}"
    );

    // A buffered invoke through the console, then the KV item it wrote, edited in the console,
    // is what the function reads next.
    let invoked: Value = running
        .invoke("kv-set", json!({"key": "k1", "value": "from the function"}))
        .await;
    assert_eq!(invoked["ok"], true, "{invoked:#}");
    let id = invoked["request_id"].as_str().unwrap().to_owned();
    let detail = running
        .request_when(&id, |detail| {
            detail["aws_calls"]
                .as_array()
                .is_some_and(|calls| !calls.is_empty())
        })
        .await;
    assert_eq!(detail["source"], "console");
    assert_eq!(
        detail["event"],
        json!({"key": "k1", "value": "from the function"})
    );
    assert_eq!(detail["aws_calls"][0]["iam_action"], "dynamodb:PutItem");
    assert_eq!(detail["aws_calls"][0]["allowed"], true);

    let (_, items) = running.get("kv/notes").await;
    assert_eq!(
        items["items"],
        json!([{"key": "k1", "value": "from the function"}])
    );
    let put = running
        .client
        .put(format!("{}/kv/notes/k1", running.api))
        .header("content-type", "application/json")
        .body(json!({"value": "edited in the console"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 204);
    let read: Value = running.invoke("kv-get", json!({"key": "k1"})).await;
    assert_eq!(read["result"], "edited in the console", "{read:#}");
    let deleted = running
        .client
        .delete(format!("{}/kv/notes/k1", running.api))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let (_, items) = running.get("kv/notes").await;
    assert_eq!(items["items"], json!([]));
    let (status, _) = running.get("kv/nowhere").await;
    assert_eq!(status, 404);

    // A request through the Function URL: method, path, status and the function's log lines.
    let response = running
        .client
        .post(running.simulator.urls()["crash"].clone())
        .body(r#"{"code": 3}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 502);
    let (_, list) = running.get("requests").await;
    let crash = list
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|request| request["function"] == "crash")
        .unwrap()
        .clone();
    let detail = running
        .request_when(crash["id"].as_str().unwrap(), |detail| {
            detail["logs"]
                .as_array()
                .is_some_and(|logs| !logs.is_empty())
                && detail["status"] == 502
        })
        .await;
    assert_eq!(detail["method"], "POST");
    assert_eq!(detail["path"], "/crash/");
    assert_eq!(detail["state"], "error");
    assert!(
        detail["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exit"),
        "{detail:#}"
    );

    // A denied call: the missing grant and why the deducer did not give it.
    let denied: Value = running
        .invoke("sneaky-write", json!({"table": "pluto-tests-test-notes"}))
        .await;
    let detail = running
        .request_when(denied["request_id"].as_str().unwrap(), |detail| {
            detail["denied"] == 1
        })
        .await;
    let call = &detail["aws_calls"][0];
    assert_eq!(call["allowed"], false);
    assert_eq!(call["missing_grant"], "set on notes");
    assert!(
        call["explanation"]
            .as_str()
            .unwrap()
            .contains("no grant on KV store `notes`"),
        "{call:#}"
    );

    // A streaming function's text comes as it is made.
    let started = Instant::now();
    let mut streamed = running
        .post("invoke/stream-count", &json!({"n": 3, "delay_ms": 300}))
        .send()
        .await
        .unwrap();
    assert!(
        streamed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let first = streamed.chunk().await.unwrap().unwrap();
    let first_at = started.elapsed();
    let mut text = String::from_utf8_lossy(&first).into_owned();
    while let Some(chunk) = streamed.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        first_at + Duration::from_millis(400) < started.elapsed(),
        "the first chunk came at {first_at:?}, the end at {:?}",
        started.elapsed()
    );
    assert_eq!(text, "0 1 2 ");

    // Unknown functions are named.
    let unknown = running
        .post("invoke/nope", &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kv-set")
    );
    running.stop().await;
}

#[tokio::test]
async fn regression_other_web_pages_cannot_change_anything_through_the_console() {
    let running = Running::start("guards").await;
    // A form post (no JSON content type) from any page: refused before anything runs.
    let form = running
        .client
        .post(format!("{}/invoke/kv-set", running.api))
        .header("content-type", "text/plain")
        .body(r#"{"key": "k", "value": "v"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 415);
    // A JSON request a page on another origin made (after a preflight the console never
    // answers, or from a browser that skipped it).
    let foreign = running
        .post("invoke/kv-set", &json!({"key": "k", "value": "v"}))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status().as_u16(), 403);
    let delete = running
        .client
        .delete(format!("{}/kv/notes/k", running.api))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status().as_u16(), 415);
    // Nothing ran.
    let (_, requests) = running.get("requests").await;
    assert_eq!(requests, json!([]));
    let (_, items) = running.get("kv/notes").await;
    assert_eq!(items["items"], json!([]));
    // A page on the app's own origin (a function's URL) is another origin: the console has a
    // port of its own.
    let gateway = running.simulator.gateway_url().to_owned();
    assert!(
        !running.api.starts_with(&gateway),
        "{} vs {gateway}",
        running.api
    );
    let from_a_function_page = running
        .post("invoke/kv-set", &json!({"key": "k", "value": "v"}))
        .header("origin", gateway)
        .send()
        .await
        .unwrap();
    assert_eq!(from_a_function_page.status().as_u16(), 403);
    // A page that points its own DNS name at this machine (DNS rebinding) names its host: even
    // reading is refused.
    for path in ["app", "kv/notes", "events", "requests"] {
        let rebound = running
            .client
            .get(format!("{}/{path}", running.api))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status().as_u16(), 403, "{path}");
    }
    // The console's own page may.
    let host = running
        .api
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let own = running
        .post("invoke/kv-set", &json!({"key": "k", "value": "v"}))
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 200);
    running.stop().await;
}
