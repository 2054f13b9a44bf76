//! The simulator started as `cargo pluto run` starts it (`Simulator::start` on the fixture app's
//! deduced architecture): functions get exactly their grants, an access the deducer did not
//! grant is denied the way AWS denies it, every call to the local AWS APIs must be signed with
//! the calling function's own random credentials, KV data survives a restart, `Function::url()`
//! gives the local URLs, and the gateway honours IAM auth (real signatures) and CORS as Function
//! URLs do.

use pluto_model::naming::StackNames;
use pluto_simulator::aws::sigv4::{Credentials, sign_request};
use pluto_simulator::lambda::Outcome;
use pluto_simulator::{Simulator, SimulatorOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

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

/// A POST of `body` as JSON to `url`, signed for `service` with `credentials` at `time` (SigV4
/// in headers, as the AWS SDK signs), with `extra` headers (signed too).
fn signed_post(
    client: &reqwest::Client,
    url: &str,
    service: &str,
    credentials: &Credentials,
    body: &Value,
    extra: &[(&str, &str)],
    time: SystemTime,
) -> reqwest::RequestBuilder {
    let body = serde_json::to_vec(body).expect("JSON");
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra);
    let signature = sign_request(credentials, service, "POST", url, &headers, &body, time)
        .expect("the request signs");
    let mut request = client.post(url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    for (name, value) in signature {
        request = request.header(name, value);
    }
    request
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
    let developer = simulator.simulator.developer_credentials().clone();
    let signed = signed_post(
        &client,
        &urls["echo"],
        "lambda",
        &developer,
        &json!(["hi"]),
        &[],
        SystemTime::now(),
    )
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
        let credentials = simulator
            .simulator
            .function_credentials(function)
            .expect("the function's credentials")
            .clone();
        signed_post(
            &client,
            &urls["echo"],
            "lambda",
            &credentials,
            &json!(["hi"]),
            &[],
            SystemTime::now(),
        )
    };
    let granted = signed_by("echo-url")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(granted.status(), 200);
    let denied = signed_by("relay")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(denied.status(), 403);
    let log = simulator.aws_log.lock().expect("log").join("\n");
    assert!(
        log.contains("denied: function `relay` has no grant for `url` on function `echo`"),
        "{log}"
    );

    // A function without CORS settings gets no CORS headers, and a page on another origin may
    // not call it at all.
    let plain = signed_post(
        &client,
        &urls["echo"],
        "lambda",
        &developer,
        &json!(["hi"]),
        &[("origin", "https://app.example")],
        SystemTime::now(),
    )
    .send()
    .await
    .expect("the gateway answers");
    assert_eq!(plain.status(), 403);
    assert_eq!(header(&plain, "access-control-allow-origin"), None);
    simulator.stop().await;
}

/// A DynamoDB `GetItem` of `key` in `table`, as the SDK sends it (JSON 1.0).
fn get_item(table: &str, key: &str) -> Value {
    let mut item_key = serde_json::Map::new();
    item_key.insert(
        pluto_spec::contract::KV_KEY_ATTRIBUTE.to_owned(),
        json!({ "S": key }),
    );
    json!({"TableName": table, "Key": item_key})
}

const GET_ITEM: (&str, &str) = ("x-amz-target", "DynamoDB_20120810.GetItem");

#[tokio::test]
async fn regression_local_iam_bypass_forged_and_unsigned_calls_are_refused() {
    let simulator = Running::start(&scratch_dir("forged")).await;
    let endpoint = simulator.simulator.aws_endpoint().to_owned();
    let url = format!("{endpoint}/");
    let table = StackNames::new("pluto-tests", "test")
        .expect("names")
        .table("notes");
    let client = reqwest::Client::new();
    let get_item_signed_by = |credentials: &Credentials, time: SystemTime| {
        signed_post(
            &client,
            &url,
            "dynamodb",
            credentials,
            &get_item(&table, "k"),
            &[GET_ITEM],
            time,
        )
    };
    let reader = simulator
        .simulator
        .function_credentials("kv-get")
        .expect("kv-get's credentials")
        .clone();
    // Credentials are random, AWS-shaped, and new on every run (not derived from the name).
    assert!(reader.access_key_id.starts_with("ASIA"), "{reader:?}");
    assert_eq!(reader.access_key_id.len(), 20);
    assert_eq!(reader.secret_access_key.len(), 40);
    assert!(!reader.access_key_id.contains("KVGET"), "{reader:?}");
    let dynamodb_error = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON");
        (status, body)
    };
    let coral = |kind: &str, message: &str| json!({"__type": format!("com.amazon.coral.service#{kind}"), "message": message});

    // Unsigned.
    let unsigned = client
        .post(&url)
        .header(GET_ITEM.0, GET_ITEM.1)
        .json(&get_item(&table, "k"))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(
        dynamodb_error(unsigned).await,
        (
            400,
            coral(
                "MissingAuthenticationTokenException",
                "Request is missing Authentication Token"
            )
        )
    );
    // Signed with a made-up key.
    let stranger = Credentials::generate("AKIA");
    let forged = get_item_signed_by(&stranger, SystemTime::now())
        .send()
        .await
        .expect("the API answers");
    assert_eq!(
        dynamodb_error(forged).await,
        (
            400,
            coral(
                "UnrecognizedClientException",
                "The security token included in the request is invalid."
            )
        )
    );
    // A function's key with a wrong secret (what anyone who knows only the key could do).
    let impostor = Credentials {
        access_key_id: reader.access_key_id.clone(),
        secret_access_key: stranger.secret_access_key.clone(),
    };
    let wrong = get_item_signed_by(&impostor, SystemTime::now())
        .send()
        .await
        .expect("the API answers");
    let (status, body) = dynamodb_error(wrong).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#InvalidSignatureException"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The request signature we calculated does not match")),
        "{body}"
    );
    // The right key, signed 20 minutes ago.
    let old = get_item_signed_by(&reader, SystemTime::now() - Duration::from_secs(20 * 60))
        .send()
        .await
        .expect("the API answers");
    let (status, body) = dynamodb_error(old).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#InvalidSignatureException"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Signature expired: ") && m.ends_with(" - 15 min.)")),
        "{body}"
    );
    // The right key and signature, but another body than the one signed.
    let mut tampered = get_item_signed_by(&reader, SystemTime::now())
        .build()
        .expect("request");
    *tampered.body_mut() = Some(
        serde_json::to_vec(&get_item(&table, "other"))
            .expect("JSON")
            .into(),
    );
    let (status, body) = dynamodb_error(client.execute(tampered).await.expect("answer")).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (
            400,
            Some("com.amazon.coral.service#InvalidSignatureException")
        ),
        "{body}"
    );
    // The REST APIs answer 403 with `x-amzn-errortype`.
    let function = StackNames::new("pluto-tests", "test")
        .expect("names")
        .function("echo");
    let invoke = client
        .post(format!(
            "{endpoint}/2015-03-31/functions/{function}/invocations"
        ))
        .json(&json!(["hi"]))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(invoke.status(), 403);
    assert_eq!(
        invoke.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    // A host name other than a loopback one (DNS rebinding) is refused before anything else.
    let rebound = signed_post(
        &client,
        &url,
        "dynamodb",
        &reader,
        &get_item(&table, "k"),
        &[GET_ITEM, ("host", "evil.example")],
        SystemTime::now(),
    )
    .send()
    .await
    .expect("the API answers");
    let (status, body) = dynamodb_error(rebound).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#AccessDeniedException"
    );

    // The real SDK: with the function's credentials it works; with made-up ones AWS's error.
    let sdk = |credentials: &Credentials| {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                &credentials.access_key_id,
                &credentials.secret_access_key,
                None,
                None,
                "test",
            ))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    };
    let item = sdk(&reader)
        .get_item()
        .table_name(&table)
        .key(
            pluto_spec::contract::KV_KEY_ATTRIBUTE,
            aws_sdk_dynamodb::types::AttributeValue::S("nothing".to_owned()),
        )
        .send()
        .await
        .expect("a function's own credentials work");
    assert_eq!(item.item(), None);
    let error = sdk(&stranger)
        .get_item()
        .table_name(&table)
        .key(
            pluto_spec::contract::KV_KEY_ATTRIBUTE,
            aws_sdk_dynamodb::types::AttributeValue::S("nothing".to_owned()),
        )
        .send()
        .await
        .expect_err("made-up credentials are refused");
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&error),
        Some("UnrecognizedClientException")
    );
    // Functions' own calls (through the runtime's SDK clients) still work.
    assert_eq!(
        simulator.call("kv-get", json!(["nothing"])).await,
        Outcome::Response(Value::Null)
    );
    let log = simulator.aws_log.lock().expect("log").join("\n");
    assert!(
        log.contains("refused a dynamodb call to /: the request is not signed"),
        "{log}"
    );
    assert!(
        log.contains("is not one this run of the simulator handed out"),
        "{log}"
    );
    assert!(
        log.contains("signed with function `kv-get`'s key, but the signature does not match"),
        "{log}"
    );
    simulator.stop().await;
}

#[tokio::test]
async fn regression_iam_urls_need_a_valid_signature() {
    let simulator = Running::start(&scratch_dir("iam-urls")).await;
    let url = simulator.simulator.urls()["echo"].clone();
    let client = reqwest::Client::new();
    let developer = simulator.simulator.developer_credentials().clone();
    assert!(developer.access_key_id.starts_with("AKIA"), "{developer:?}");
    let post = |credentials: &Credentials, time: SystemTime| {
        signed_post(
            &client,
            &url,
            "lambda",
            credentials,
            &json!(["hi"]),
            &[],
            time,
        )
        .send()
    };
    let ok = post(&developer, SystemTime::now()).await.expect("answer");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.expect("JSON"), json!("hi"));

    let forbidden = json!({"Message": "Forbidden"});
    let wrong_secret = Credentials {
        access_key_id: developer.access_key_id.clone(),
        secret_access_key: "x".repeat(40),
    };
    for (credentials, time) in [
        (wrong_secret, SystemTime::now()),
        (Credentials::generate("AKIA"), SystemTime::now()),
        (
            developer.clone(),
            SystemTime::now() - Duration::from_secs(20 * 60),
        ),
    ] {
        let refused = post(&credentials, time).await.expect("answer");
        assert_eq!(refused.status(), 403);
        assert_eq!(refused.json::<Value>().await.expect("JSON"), forbidden);
    }
    // Signed for another service than Lambda.
    let other_service = signed_post(
        &client,
        &url,
        "dynamodb",
        &developer,
        &json!(["hi"]),
        &[],
        SystemTime::now(),
    )
    .send()
    .await
    .expect("answer");
    assert_eq!(other_service.status(), 403);
    // A fake `Authorization` header, as any page could send, is not a signature.
    let fake = client
        .post(&url)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/20261129/us-east-1/lambda/aws4_request, \
                 SignedHeaders=host, Signature=00",
                developer.access_key_id
            ),
        )
        .json(&json!(["hi"]))
        .send()
        .await
        .expect("answer");
    assert_eq!(fake.status(), 403);

    // curl's own SigV4 signer, as the docs show it (when this curl has it); curl encodes the
    // path once where the SDK encodes it twice, and both verify.
    let user = developer.curl_user();
    for target in [url.clone(), format!("{url}a%20path?q=1")] {
        let curl = tokio::process::Command::new("curl")
            .args(["-s", "--aws-sigv4", "aws:amz:us-east-1:lambda", "--user"])
            .arg(&user)
            .args([
                "-H",
                "content-type: application/json",
                "-d",
                r#"["from curl"]"#,
            ])
            .arg(&target)
            .output()
            .await;
        match curl {
            Ok(output) if output.status.success() => {
                assert_eq!(
                    String::from_utf8_lossy(&output.stdout),
                    r#""from curl""#,
                    "{target}: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            other => eprintln!("curl is not usable here, skipping its check: {other:?}"),
        }
    }
    simulator.stop().await;
}

/// A valid signature with one's own key, and a second `Credential=` naming a function with the
/// grant in front of it: the Authorization header is not signed, so a reader taking the first
/// key would act for the victim.
#[tokio::test]
async fn regression_a_second_credential_field_cannot_borrow_another_functions_grants() {
    let simulator = Running::start(&scratch_dir("borrowed")).await;
    let url = format!("{}/", simulator.simulator.aws_endpoint());
    let table = StackNames::new("pluto-tests", "test")
        .expect("names")
        .table("notes");
    let victim = simulator
        .simulator
        .function_credentials("kv-get")
        .expect("kv-get's credentials")
        .access_key_id
        .clone();
    let developer = simulator.simulator.developer_credentials().clone();
    let client = reqwest::Client::new();
    let honest = signed_post(
        &client,
        &url,
        "dynamodb",
        &developer,
        &get_item(&table, "k"),
        &[GET_ITEM],
        SystemTime::now(),
    )
    .build()
    .expect("a request");
    let signed = honest
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .expect("signed")
        .to_owned();
    let borrowed = signed.replacen(
        "AWS4-HMAC-SHA256 ",
        &format!("AWS4-HMAC-SHA256 Credential={victim}/20261129/us-east-1/dynamodb/aws4_request, "),
        1,
    );
    let mut attack = honest;
    attack
        .headers_mut()
        .insert("authorization", borrowed.parse().expect("a header value"));
    let response = client.execute(attack).await.expect("the API answers");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["__type"], "com.amazon.coral.service#IncompleteSignatureException",
        "{body}"
    );
    simulator.stop().await;
}
