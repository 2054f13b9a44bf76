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
