//! The app binary as a Lambda function process: `pluto::start()` selects the handler from
//! `PLUTO_HANDLER` and serves it through the runtime's Lambda Runtime API loop.

use pluto_tests::app::{FunctionUnderTest, OutcomeExt, run_to_exit};
use pluto_tests::events::{UrlEvent, response_parts};
use serde_json::json;
use std::path::Path;

fn fixture_app() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fixture-app"))
}

#[tokio::test]
async fn serves_function_url_events_and_direct_invocations() {
    let api = FunctionUnderTest::start(fixture_app(), "add", &[]);
    let response = api
        .invoke(UrlEvent::post_json(&json!([40, 2])).build())
        .await
        .response();
    assert_eq!(response_parts(&response), (200, json!(42)));
    assert_eq!(
        api.invoke(json!({"a": 1, "b": 2})).await.response(),
        json!(3)
    );
}

#[tokio::test]
async fn a_panicking_handler_fails_one_request_and_the_process_keeps_serving() {
    let api = FunctionUnderTest::start(fixture_app(), "panics", &[]);
    let response = api
        .invoke(UrlEvent::post_json(&json!(["first"])).build())
        .await
        .response();
    assert_eq!(
        response_parts(&response),
        (500, json!({"error": "function `panics` panicked: first"}))
    );
    let error = api.invoke(json!(["second"])).await.error();
    assert_eq!(error["errorType"], "Pluto.Panic");
    assert_eq!(error["errorMessage"], "function `panics` panicked: second");
    let response = api
        .invoke(UrlEvent::post_json(&json!(["third"])).build())
        .await
        .response();
    assert_eq!(response_parts(&response).0, 500);
    // Had a panic killed the process, the pool would have reported a crash instead of responses.
}

#[tokio::test]
async fn direct_invocation_failures_are_lambda_function_errors() {
    let api = FunctionUnderTest::start(fixture_app(), "fails", &[]);
    let error = api.invoke(json!([])).await.error();
    assert_eq!(
        error,
        json!({"errorType": "Pluto.HandlerError", "errorMessage": "the database is on fire"})
    );
}

#[tokio::test]
async fn start_explains_a_missing_or_unknown_handler_and_a_missing_lambda_environment() {
    let (code, stderr) = run_to_exit(fixture_app(), &[]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("PLUTO_HANDLER is not set"), "{stderr}");
    assert!(
        stderr
            .contains("add, bucket-delete, bucket-fill, bucket-get, bucket-json, bucket-list, bucket-presign, bucket-put, bucket-reader, crash, echo, echo-url, fails"),
        "{stderr}"
    );
    assert!(stderr.contains("cargo pluto run"), "{stderr}");

    let env = [("PLUTO_HANDLER".to_owned(), "nope".to_owned())];
    let (code, stderr) = run_to_exit(fixture_app(), &env).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr
            .contains("PLUTO_HANDLER is `nope`, but this binary's functions are: add, bucket-delete, bucket-fill"),
        "{stderr}"
    );

    let env = [("PLUTO_HANDLER".to_owned(), "echo".to_owned())];
    let (code, stderr) = run_to_exit(fixture_app(), &env).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(
            "AWS_LAMBDA_RUNTIME_API is not set: the function `echo` runs inside AWS Lambda"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn function_urls_come_from_the_environment_contract() {
    let url = "https://abc.lambda-url.us-east-1.on.aws/";
    let env = [("PLUTO_URL_ECHO".to_owned(), url.to_owned())];
    let api = FunctionUnderTest::start(fixture_app(), "echo-url", &env);
    assert_eq!(api.invoke(json!([])).await.response(), json!(url));

    let api = FunctionUnderTest::start(fixture_app(), "echo-url", &[]);
    let error = api.invoke(json!([])).await.error();
    let message = error["errorMessage"].as_str().expect("a message");
    assert!(
        message.contains("function `echo-url` reads the URL of function `echo`"),
        "{message}"
    );
    assert!(message.contains("PLUTO_URL_ECHO is not set"), "{message}");
}
