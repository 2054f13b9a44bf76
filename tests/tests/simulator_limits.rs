//! The simulator's limits and semantics, like AWS's (issue 13): payloads up to Lambda's 6 MB
//! pass, larger ones fail as Lambda fails them; a client that disconnects does not cut an
//! invocation short; local DynamoDB refuses what DynamoDB refuses.

use pluto_simulator::lambda::Outcome;
use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_spec::UrlAuth;
use pluto_spec::limits::{DYNAMODB_PARTITION_KEY_MAX_BYTES, MAX_RESPONSE_BYTES};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Running {
    simulator: Simulator,
    function_logs: Arc<Mutex<Vec<String>>>,
}

/// The fixture app with `public` functions behind public URLs, one instance per function.
async fn start(public: &[&str]) -> Running {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let mut architecture = pluto_tests::app::fixture_architecture();
    for function in &mut architecture.functions {
        if public.contains(&function.spec.name.as_str()) {
            function.spec.url = UrlAuth::Public;
            function.spec.cors = None;
        }
    }
    let data_dir = std::env::temp_dir().join(format!(
        "pluto-limits-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut options = SimulatorOptions::new(
        "test",
        PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
        data_dir,
    );
    options.max_instances = 1;
    let function_logs: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = function_logs.clone();
    options.function_logs = Arc::new(move |function: &str, _: u64, line: &str| {
        sink.lock()
            .expect("log lock")
            .push(format!("{function}: {line}"));
    });
    let simulator = Simulator::start(&architecture, options)
        .await
        .expect("the simulator starts");
    Running {
        simulator,
        function_logs,
    }
}

fn error_message(outcome: &Outcome) -> String {
    match outcome {
        Outcome::FunctionError {
            error_type,
            message,
        } => format!("{error_type}: {message}"),
        other => panic!("a function error, not {other:?}"),
    }
}

#[tokio::test]
async fn regression_results_between_2_and_6_mb_are_returned_and_larger_ones_fail_like_lambda() {
    let running = start(&[]).await;
    let three_mb = 3 * 1024 * 1024;
    let outcome = running
        .simulator
        .invoke("huge", json!([three_mb]))
        .await
        .expect("runs");
    let Outcome::Response(Value::String(text)) = outcome else {
        panic!("a 3 MB result: {outcome:?}");
    };
    assert_eq!(text.len(), three_mb);

    let outcome = running
        .simulator
        .invoke("huge", json!([MAX_RESPONSE_BYTES + 1]))
        .await
        .expect("runs");
    let message = error_message(&outcome);
    assert!(
        message.starts_with("Function.ResponseSizeTooLarge: Response payload size exceeded"),
        "{message}"
    );

    // Function::invoke with a 3 MB payload through the local Lambda API.
    let text = "y".repeat(three_mb);
    let outcome = running
        .simulator
        .invoke("relay", json!([text]))
        .await
        .expect("runs");
    assert_eq!(outcome, Outcome::Response(json!(text)));
    // Over 6 MB: Lambda's RequestTooLargeException, which the SDK understands.
    let text = "y".repeat(7 * 1024 * 1024);
    let outcome = running
        .simulator
        .invoke("relay", json!([text]))
        .await
        .expect("runs");
    let message = error_message(&outcome);
    assert!(message.contains("RequestTooLarge"), "{message}");
    running.simulator.stop().await;
}

#[tokio::test]
async fn regression_a_client_disconnect_does_not_kill_the_instance() {
    let running = start(&["sleepy"]).await;
    let url = running.simulator.urls()["sleepy"].clone();
    let client = reqwest::Client::new();
    // The pid of the process that serves a request that does not sleep.
    let serving_pid = || async {
        client
            .post(&url)
            .json(&json!([0]))
            .send()
            .await
            .expect("answers")
            .json::<Value>()
            .await
            .expect("a pid")
    };
    let first_pid = serving_pid().await;
    let gone = client
        .post(&url)
        .json(&json!([1500]))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(gone.is_err(), "the client gives up first");
    // The instance finishes the invocation and serves the next request (no cold start).
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let next_pid = serving_pid().await;
    assert_eq!(first_pid, next_pid, "the same instance serves on");
    let logs = running.function_logs.lock().expect("log lock").join("\n");
    assert!(logs.contains("the caller went away"), "{logs}");
    running.simulator.stop().await;
}

#[tokio::test]
async fn regression_local_dynamodb_refuses_what_dynamodb_refuses() {
    let running = start(&[]).await;
    let set = |key: String, value: String| {
        let simulator = &running.simulator;
        async move {
            simulator
                .invoke("kv-set", json!([key, value]))
                .await
                .expect("runs")
        }
    };
    let empty = error_message(&set(String::new(), "v".to_owned()).await);
    assert!(
        empty.contains("ValidationException") && empty.contains("empty string value"),
        "{empty}"
    );
    let long_key = "k".repeat(DYNAMODB_PARTITION_KEY_MAX_BYTES + 1);
    let long = error_message(&set(long_key, "v".to_owned()).await);
    assert!(long.contains("Size of hashkey"), "{long}");
    let big = error_message(&set("history".to_owned(), "v".repeat(500 * 1024)).await);
    assert!(
        big.contains("Item size has exceeded the maximum allowed size"),
        "{big}"
    );
    // What fits is stored.
    assert_eq!(
        set("history".to_owned(), "v".repeat(300 * 1024)).await,
        Outcome::Response(Value::Null)
    );
    running.simulator.stop().await;
}

#[tokio::test]
async fn regression_a_body_that_cannot_be_read_is_a_400_not_a_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let running = start(&["echo"]).await;
    let address = running
        .simulator
        .gateway_url()
        .trim_start_matches("http://")
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects");
    let request = format!(
        "POST /echo/ HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\n\
         Content-Type: application/json\r\n\r\nzz-not-a-chunk-size\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("could not be read"), "{answer}");
    running.simulator.stop().await;
}
