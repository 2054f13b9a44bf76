//! Resource clients against a real AWS API emulator (moto), used from inside a function process
//! exactly as deployed code uses them: the physical names come from the environment contract.

use aws_sdk_dynamodb::types::AttributeValue;
use pluto_simulator::lambda::Outcome;
use pluto_tests::app::FunctionUnderTest;
use pluto_tests::moto::moto;
use serde_json::{Value, json};
use std::path::Path;

fn fixture_app() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fixture-app"))
}

async fn call(handler: &str, env: &[(String, String)], payload: Value) -> Result<Value, Value> {
    let api = FunctionUnderTest::start(fixture_app(), handler, env);
    match api.invoke(payload).await {
        Outcome::Response(value) => Ok(value),
        Outcome::FunctionError {
            error_type,
            message,
        } => Err(json!({"errorType": error_type, "errorMessage": message})),
        other => panic!("the function did not answer: {other:?}"),
    }
}

#[tokio::test]
async fn kv_store_set_get_delete_round_trip_through_dynamodb() {
    let table = "kv-roundtrip-notes";
    let dynamodb = moto().create_kv_table(table).await;
    let env = moto().env_with(&[("PLUTO_KV_STORE_NOTES", table)]);

    assert_eq!(
        call("kv-set", &env, json!(["greeting", "bonjour"])).await,
        Ok(Value::Null)
    );
    let item = dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("greeting".into()))
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the item was written");
    assert_eq!(
        item.get("value"),
        Some(&AttributeValue::S("bonjour".into()))
    );

    assert_eq!(
        call("kv-get", &env, json!(["greeting"])).await,
        Ok(json!("bonjour"))
    );
    assert_eq!(
        call("kv-get", &env, json!(["absent"])).await,
        Ok(Value::Null)
    );
    assert_eq!(
        call("kv-delete", &env, json!(["greeting"])).await,
        Ok(Value::Null)
    );
    assert_eq!(
        call("kv-get", &env, json!(["greeting"])).await,
        Ok(Value::Null)
    );
}

#[tokio::test]
async fn kv_store_json_helpers_store_json_text() {
    let table = "kv-json-notes";
    let dynamodb = moto().create_kv_table(table).await;
    let env = moto().env_with(&[("PLUTO_KV_STORE_NOTES", table)]);
    let point = json!({"x": 3, "y": -4});
    assert_eq!(
        call("kv-point", &env, json!(["p", point])).await,
        Ok(point.clone())
    );
    let item = dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("p".into()))
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the item was written");
    let AttributeValue::S(text) = &item["value"] else {
        panic!("value is a string attribute: {item:?}")
    };
    assert_eq!(
        serde_json::from_str::<Value>(text).expect("JSON text"),
        point
    );
}

#[tokio::test]
async fn a_resource_the_function_was_not_given_fails_naming_resource_function_and_fix() {
    let error = call("kv-get", &moto().env_with(&[]), json!(["k"]))
        .await
        .expect_err("no grant");
    let message = error["errorMessage"].as_str().expect("a message");
    assert!(
        message.contains("function `kv-get` uses KV store `notes`"),
        "{message}"
    );
    assert!(
        message.contains("PLUTO_KV_STORE_NOTES is not set"),
        "{message}"
    );
    assert!(message.contains("cargo pluto deduce"), "{message}");
}

#[tokio::test]
async fn aws_errors_name_the_operation_and_the_resource() {
    let env = moto().env_with(&[("PLUTO_KV_STORE_NOTES", "table-that-does-not-exist")]);
    let error = call("kv-get", &env, json!(["k"]))
        .await
        .expect_err("no table");
    let message = error["errorMessage"].as_str().expect("a message");
    assert!(
        message.starts_with("dynamodb:GetItem on KV store `notes` failed"),
        "{message}"
    );
    assert!(message.contains("ResourceNotFound"), "{message}");
}

#[tokio::test]
async fn sagemaker_invoke_sends_json_and_returns_the_endpoint_answer() {
    let tgi_answer = r#"[{"generated_text": "The capital of France is Paris."}]"#;
    let _queue = moto()
        .queue_sagemaker_results(&[(tgi_answer, "application/json")])
        .await;
    let env = moto().env_with(&[("PLUTO_SAGEMAKER_MODEL", "endpoint-raw")]);
    let answer = call(
        "infer",
        &env,
        json!([{"inputs": "What is the capital of France?"}]),
    )
    .await;
    assert_eq!(
        answer,
        Ok(json!([{"generated_text": "The capital of France is Paris."}]))
    );
}

#[tokio::test]
async fn sagemaker_llm_speaks_the_tgi_format() {
    let tgi_answer = r#"[{"generated_text": " Rust is a systems programming language."}]"#;
    let _queue = moto()
        .queue_sagemaker_results(&[(tgi_answer, "application/json")])
        .await;
    let env = moto().env_with(&[("PLUTO_SAGEMAKER_MODEL", "endpoint-llm")]);
    let answer = call("generate", &env, json!(["What is Rust?"])).await;
    // The model's text comes back as generated (TGI often starts with a space).
    assert_eq!(
        answer,
        Ok(json!(" Rust is a systems programming language."))
    );
}

#[tokio::test]
async fn function_invoke_calls_the_lambda_invoke_api() {
    let lambda = fake_lambda::start().await;
    let mut env = moto().env_with(&[("PLUTO_FUNCTION_ECHO", "app-dev-echo")]);
    env.push(("AWS_ENDPOINT_URL_LAMBDA".into(), lambda.endpoint.clone()));
    assert_eq!(
        call("relay", &env, json!(["ping"])).await,
        Ok(json!({"echoed": ["ping"], "by": "app-dev-echo"}))
    );

    env.retain(|(key, _)| key != "PLUTO_FUNCTION_ECHO");
    env.push(("PLUTO_FUNCTION_ECHO".into(), "broken".into()));
    let error = call("relay", &env, json!(["ping"]))
        .await
        .expect_err("the remote function fails");
    assert_eq!(
        error["errorMessage"],
        "function `echo` failed: Pluto.HandlerError: it broke"
    );
}

/// The Lambda `Invoke` API (moto cannot run functions): echoes the payload, or fails for the
/// function named `broken` the way Lambda reports function errors.
mod fake_lambda {
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::Path;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use serde_json::{Value, json};

    pub(crate) struct FakeLambda {
        pub(crate) endpoint: String,
    }

    pub(crate) async fn start() -> FakeLambda {
        async fn invoke(Path(name): Path<String>, body: Bytes) -> (HeaderMap, String) {
            let mut headers = HeaderMap::new();
            if name == "broken" {
                headers.insert("x-amz-function-error", "Unhandled".parse().expect("header"));
                return (
                    headers,
                    json!({"errorType": "Pluto.HandlerError", "errorMessage": "it broke"})
                        .to_string(),
                );
            }
            let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            (headers, json!({"echoed": payload, "by": name}).to_string())
        }
        let router = Router::new().route("/2015-03-31/functions/{name}/invocations", post(invoke));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeLambda { endpoint }
    }
}

/// An S3 client on moto, by path as the runtime addresses it there.
async fn s3_on_moto() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&moto().sdk_config().await)
            .force_path_style(true)
            .build(),
    )
}

#[tokio::test]
async fn bucket_operations_round_trip_through_s3() {
    let bucket = "clients-bucket-files";
    let s3 = s3_on_moto().await;
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("CreateBucket");
    let env = moto().env_with(&[("PLUTO_BUCKET_FILES", bucket)]);

    assert_eq!(
        call(
            "bucket-put",
            &env,
            json!(["notes/a.txt", "alpha", "text/plain"])
        )
        .await,
        Ok(Value::Null)
    );
    let object = s3
        .get_object()
        .bucket(bucket)
        .key("notes/a.txt")
        .send()
        .await
        .expect("GetObject");
    assert_eq!(object.content_type(), Some("text/plain"));
    assert_eq!(
        object
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .as_ref(),
        b"alpha"
    );
    assert_eq!(
        call("bucket-get", &env, json!(["notes/a.txt"])).await,
        Ok(json!("alpha"))
    );
    assert_eq!(
        call("bucket-get", &env, json!(["absent"])).await,
        Ok(Value::Null)
    );
    let point = json!({"x": 1, "y": 2});
    assert_eq!(
        call("bucket-json", &env, json!(["p.json", point])).await,
        Ok(point)
    );
    // More than one page of keys (S3 pages at 1000), and a prefix that selects some of them.
    assert_eq!(
        call("bucket-fill", &env, json!(["many/", 1001, 1])).await,
        Ok(Value::Null)
    );
    let listed = call("bucket-list", &env, json!(["many/"]))
        .await
        .expect("a listing");
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1001);
    assert_eq!(listed[0], json!(["many/00000", 1]));
    assert_eq!(listed[1000], json!(["many/01000", 1]));
    assert_eq!(
        call("bucket-list", &env, json!(["notes/"])).await,
        Ok(json!([["notes/a.txt", 5]]))
    );
    assert_eq!(
        call("bucket-delete", &env, json!(["notes/a.txt"])).await,
        Ok(Value::Null)
    );
    assert_eq!(
        call("bucket-get", &env, json!(["notes/a.txt"])).await,
        Ok(Value::Null)
    );
    // Deleting a missing key is not an error, as in S3.
    assert_eq!(
        call("bucket-delete", &env, json!(["notes/a.txt"])).await,
        Ok(Value::Null)
    );
}

#[tokio::test]
async fn presigned_urls_let_a_plain_http_client_put_and_get_an_object() {
    let bucket = "clients-bucket-presign";
    s3_on_moto()
        .await
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("CreateBucket");
    let env = moto().env_with(&[("PLUTO_BUCKET_FILES", bucket)]);
    let urls = call("bucket-presign", &env, json!(["shared.txt", 300]))
        .await
        .expect("presigned URLs");
    let (get, put) = (
        urls[0].as_str().expect("a GET URL"),
        urls[1].as_str().expect("a PUT URL"),
    );
    assert!(
        get.contains("X-Amz-Signature=") && get.contains("X-Amz-Expires=300"),
        "{get}"
    );
    let client = reqwest::Client::new();
    let uploaded = client
        .put(put)
        .header("content-type", "text/plain")
        .body("shared text")
        .send()
        .await
        .expect("PUT");
    assert!(uploaded.status().is_success(), "{uploaded:?}");
    let downloaded = client.get(get).send().await.expect("GET");
    assert!(downloaded.status().is_success(), "{downloaded:?}");
    assert_eq!(downloaded.text().await.expect("body"), "shared text");
}

#[tokio::test]
async fn secret_get_reads_the_current_value_and_an_unset_secret_says_how_to_set_it() {
    let secrets = aws_sdk_secretsmanager::Client::new(&moto().sdk_config().await);
    let name = "clients-secret-api-key";
    secrets
        .create_secret()
        .name(name)
        .send()
        .await
        .expect("CreateSecret");
    let env = moto().env_with(&[("PLUTO_SECRET_API_KEY", name), ("PLUTO_STACK", "prod")]);
    let error = call("secret-check", &env, json!(["s3cr3t-value"]))
        .await
        .expect_err("no value yet");
    let message = error["errorMessage"].as_str().expect("a message");
    assert!(
        message.contains("secret `api-key` has no value")
            && message.contains("cargo pluto secret set api-key")
            && message.contains("--stack prod"),
        "{message}"
    );
    secrets
        .put_secret_value()
        .secret_id(name)
        .secret_string("s3cr3t-value")
        .send()
        .await
        .expect("PutSecretValue");
    assert_eq!(
        call("secret-check", &env, json!(["s3cr3t-value"])).await,
        Ok(json!([true, 12]))
    );
}
