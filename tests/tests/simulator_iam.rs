//! The simulator started as `cargo pluto run` starts it (`Simulator::start` on the fixture app's
//! deduced architecture): functions get exactly their grants, an access the deducer did not
//! grant is denied the way AWS denies it, KV data survives a restart, `Function::url()` gives the
//! local URLs, and the gateway honours IAM auth and CORS as Function URLs do.

use pluto_model::naming::StackNames;
use pluto_simulator::lambda::Outcome;
use pluto_simulator::{Simulator, SimulatorOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

struct Running {
    simulator: Simulator,
    aws_log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    async fn start(data_dir: &Path) -> Self {
        let aws_log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = aws_log.clone();
        let mut options = SimulatorOptions::new(
            "test",
            PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
            data_dir.to_path_buf(),
        );
        options.max_instances = 1;
        options.log = Arc::new(move |line: &str| sink.lock().expect("log").push(line.to_owned()));
        let simulator = Simulator::start(&pluto_tests::app::fixture_architecture(), options)
            .await
            .expect("the simulator starts");
        Self { simulator, aws_log }
    }

    async fn call(&self, function: &str, payload: Value) -> Outcome {
        self.simulator
            .invoke(function, payload)
            .await
            .expect("the invocation runs")
    }

    async fn stop(self) {
        self.simulator.stop().await;
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pluto-simulator-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[tokio::test]
async fn granted_operations_work_and_data_survives_a_restart() {
    let data = scratch_dir("restart");
    let simulator = Running::start(&data).await;
    assert_eq!(
        simulator
            .call("kv-set", json!(["greeting", "bonjour"]))
            .await,
        Outcome::Response(Value::Null)
    );
    assert_eq!(
        simulator.call("kv-get", json!(["greeting"])).await,
        Outcome::Response(json!("bonjour"))
    );
    simulator.stop().await;

    let restarted = Running::start(&data).await;
    assert_eq!(
        restarted.call("kv-get", json!(["greeting"])).await,
        Outcome::Response(json!("bonjour"))
    );
    assert_eq!(
        restarted.call("kv-delete", json!(["greeting"])).await,
        Outcome::Response(Value::Null)
    );
    assert_eq!(
        restarted.call("kv-get", json!(["greeting"])).await,
        Outcome::Response(Value::Null)
    );
    restarted.stop().await;
}

#[tokio::test]
async fn an_access_the_deducer_did_not_grant_is_denied_like_aws_and_explained() {
    let simulator = Running::start(&scratch_dir("denied")).await;
    let table = StackNames::new("pluto-tests", "test")
        .expect("names")
        .table("notes");
    let Outcome::FunctionError { message, .. } =
        simulator.call("sneaky-write", json!([table])).await
    else {
        panic!("the write must fail");
    };
    assert!(message.contains("AccessDeniedException"), "{message}");
    assert!(
        message.contains(&format!("is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/{table}")),
        "{message}"
    );
    let log = simulator.aws_log.lock().expect("log").join("\n");
    assert!(
        log.contains("denied: function `sneaky-write` has no grant for `set` on KV store `notes`"),
        "{log}"
    );
    simulator.stop().await;
}

#[tokio::test]
async fn functions_invoke_each_other_through_the_local_lambda_api() {
    let simulator = Running::start(&scratch_dir("invoke")).await;
    assert_eq!(
        simulator.call("relay", json!(["ping"])).await,
        Outcome::Response(json!("ping"))
    );
    simulator.stop().await;
}

#[tokio::test]
async fn function_url_gives_the_local_urls_including_a_functions_own() {
    let simulator = Running::start(&scratch_dir("urls")).await;
    let urls = simulator.simulator.urls().clone();
    let gateway = simulator.simulator.gateway_url().to_owned();
    assert_eq!(
        urls["echo"],
        format!("{gateway}/echo/"),
        "ends in `/` as deployed"
    );
    assert_eq!(
        simulator.call("echo-url", json!([])).await,
        Outcome::Response(json!(urls["echo"]))
    );
    assert_eq!(
        simulator.call("self-link", json!([])).await,
        Outcome::Response(json!(urls["self-link"]))
    );
    simulator.stop().await;
}

#[tokio::test]
async fn iam_urls_refuse_unsigned_requests_and_cors_is_answered_as_declared() {
    let simulator = Running::start(&scratch_dir("gateway")).await;
    let urls = simulator.simulator.urls().clone();
    let client = reqwest::Client::new();

    // `echo` is IAM-auth (the default): unsigned is 403 like AWS, signed reaches the function.
    let unsigned = client
        .post(&urls["echo"])
        .json(&json!(["hi"]))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(unsigned.status(), 403);
    assert_eq!(
        unsigned.json::<Value>().await.expect("json"),
        json!({"Message": "Forbidden"})
    );
    let signed = client
        .post(&urls["echo"])
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=local/20261129/us-east-1/lambda/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00",
        )
        .json(&json!(["hi"]))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(signed.status(), 200);
    assert_eq!(signed.json::<Value>().await.expect("json"), json!("hi"));

    // `self-link` declares CORS for https://app.example: the gateway answers preflights itself.
    let preflight = client
        .request(reqwest::Method::OPTIONS, &urls["self-link"])
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(preflight.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header(&preflight, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(
        header(&preflight, "access-control-allow-methods").as_deref(),
        Some("GET")
    );
    assert_eq!(
        header(&preflight, "access-control-allow-headers").as_deref(),
        Some("content-type")
    );
    assert_eq!(
        header(&preflight, "access-control-max-age").as_deref(),
        Some("60")
    );
    let other_origin = client
        .request(reqwest::Method::OPTIONS, &urls["self-link"])
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(header(&other_origin, "access-control-allow-origin"), None);

    let response = client
        .get(&urls["self-link"])
        .header("origin", "https://app.example")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(
        header(&response, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        header(&response, "access-control-expose-headers").as_deref(),
        Some("x-request-id")
    );
    // Signed with a function's own local credentials, the call needs that function's grant on
    // the URL (`lambda:InvokeFunctionUrl`), as IAM checks it deployed: `echo-url` reads echo's
    // URL (so may call it), `relay` does not.
    let signed_by = |function: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential={}/20261129/us-east-1/lambda/aws4_request, \
             SignedHeaders=host, Signature=00",
            pluto_simulator::aws::access_key_id(function)
        )
    };
    let granted = client
        .post(&urls["echo"])
        .header("authorization", signed_by("echo-url"))
        .json(&json!(["hi"]))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(granted.status(), 200);
    let denied = client
        .post(&urls["echo"])
        .header("authorization", signed_by("relay"))
        .json(&json!(["hi"]))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(denied.status(), 403);
    let log = simulator.aws_log.lock().expect("log").join("\n");
    assert!(
        log.contains("denied: function `relay` has no grant for `url` on function `echo`"),
        "{log}"
    );

    // A function without CORS settings gets no CORS headers.
    let plain = client
        .post(&urls["echo"])
        .header("origin", "https://app.example")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=local/x")
        .json(&json!(["hi"]))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(header(&plain, "access-control-allow-origin"), None);
    simulator.stop().await;
}
