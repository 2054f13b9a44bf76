//! Handler dispatch, in process: Function URL events (payload 2.0) and direct invocations go
//! through `pluto::handler::handle` exactly as the Lambda loop sends them.

use pluto::handler::{InvocationError, find, handle};
use pluto_tests::events::{UrlEvent, response_parts};
use serde_json::{Value, json};

#[path = "../src/bin/fixture-app/handlers.rs"]
mod handlers;

async fn url(function: &str, event: UrlEvent) -> (u16, Value) {
    let registration = find(function).expect("function is registered");
    let response = handle(registration, event.build())
        .await
        .expect("URL events always get a response");
    assert_eq!(
        response["headers"]["content-type"], "application/json",
        "{response}"
    );
    response_parts(&response)
}

async fn direct(function: &str, payload: Value) -> Result<Value, InvocationError> {
    handle(find(function).expect("function is registered"), payload).await
}

fn error_text(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no `error` in {body}"))
}

#[tokio::test]
async fn json_array_body_is_positional_arguments() {
    assert_eq!(
        url("add", UrlEvent::post_json(&json!([2, 40]))).await,
        (200, json!(42))
    );
    assert_eq!(
        url("echo", UrlEvent::post_json(&json!(["hi"]))).await,
        (200, json!("hi"))
    );
}

#[tokio::test]
async fn json_object_body_is_arguments_by_name() {
    assert_eq!(
        url("add", UrlEvent::post_json(&json!({"b": 1, "a": 2}))).await,
        (200, json!(3))
    );
    let (status, body) = url(
        "shift",
        UrlEvent::post_json(&json!({"point": {"x": 1, "y": 2}, "dx": 10})),
    )
    .await;
    assert_eq!((status, body), (200, json!({"x": 11, "y": 2})));
}

#[tokio::test]
async fn bare_scalar_is_the_only_argument_of_a_single_parameter_function() {
    assert_eq!(
        url("echo", UrlEvent::post_json(&json!("solo"))).await,
        (200, json!("solo"))
    );
    let (status, body) = url("add", UrlEvent::post_json(&json!(5))).await;
    assert_eq!(status, 400);
    assert!(
        error_text(&body).contains("expected a JSON array of arguments"),
        "{body}"
    );
}

#[tokio::test]
async fn get_with_query_parameters_decodes_strings_and_json() {
    assert_eq!(
        url("echo", UrlEvent::get(&[("text", "hello world & more")])).await,
        (200, json!("hello world & more"))
    );
    assert_eq!(
        url("add", UrlEvent::get(&[("a", "20"), ("b", "22")])).await,
        (200, json!(42))
    );
    // A string parameter keeps digits as text rather than failing on a number.
    assert_eq!(
        url("echo", UrlEvent::get(&[("text", "42")])).await,
        (200, json!("42"))
    );
    assert_eq!(
        url("greet", UrlEvent::get(&[("name", "ada")])).await,
        (200, json!("hello ada"))
    );
}

#[tokio::test]
async fn regression_missing_query_string_parameters_does_not_break_dispatch() {
    // The original Pluto failed on events without `queryStringParameters`, which AWS omits when
    // the URL has no query string.
    let event = UrlEvent::post_json(&json!(["x"])).build();
    assert!(event.get("queryStringParameters").is_none());
    assert_eq!(
        url("echo", UrlEvent::post_json(&json!(["x"]))).await,
        (200, json!("x"))
    );
    assert_eq!(url("ping", UrlEvent::get(&[])).await, (200, json!("pong")));
    assert_eq!(
        url("greet", UrlEvent::get(&[])).await,
        (200, json!("hello stranger"))
    );
}

#[tokio::test]
async fn null_query_string_parameters_are_accepted() {
    let mut event = UrlEvent::get(&[]).build();
    event["queryStringParameters"] = Value::Null;
    let response = handle(find("ping").expect("registered"), event)
        .await
        .expect("a response");
    assert_eq!(response_parts(&response), (200, json!("pong")));
}

#[tokio::test]
async fn base64_bodies_are_decoded() {
    let event = UrlEvent::post_text(r#"["über"]"#)
        .content_type("application/octet-stream")
        .base64();
    assert_eq!(url("echo", event).await, (200, json!("über")));
    let (status, body) = url(
        "echo",
        UrlEvent::post_text("").raw_body("not base64!!", true),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error_text(&body).contains("marked base64"), "{body}");
}

#[tokio::test]
async fn empty_bodies_mean_no_arguments() {
    assert_eq!(
        url("ping", UrlEvent::post_text("")).await,
        (200, json!("pong"))
    );
    assert_eq!(
        url("ping", UrlEvent::post_text("  \n")).await,
        (200, json!("pong"))
    );
    let (status, body) = url("echo", UrlEvent::post_text("")).await;
    assert_eq!(status, 400);
    assert_eq!(
        error_text(&body),
        "missing argument `text` (String) of `echo`"
    );
}

#[tokio::test]
async fn non_json_body_is_a_400_that_says_what_to_send() {
    let (status, body) = url("echo", UrlEvent::post_text("hello")).await;
    assert_eq!(status, 400);
    let message = error_text(&body);
    assert!(
        message.starts_with("the request body is not JSON"),
        "{message}"
    );
    assert!(message.contains(r#"{"query": "hi"}"#), "{message}");
}

#[tokio::test]
async fn wrong_arity_is_a_400_naming_the_parameters() {
    let (status, body) = url("add", UrlEvent::post_json(&json!([1]))).await;
    assert_eq!(status, 400);
    assert_eq!(
        error_text(&body),
        "`add` takes 2 arguments (a: i64, b: i64) but the request passed 1 argument"
    );
}

#[tokio::test]
async fn wrong_type_is_a_400_naming_the_argument_and_expected_type() {
    let (status, body) = url("add", UrlEvent::post_json(&json!([1, "two"]))).await;
    assert_eq!(status, 400);
    let message = error_text(&body);
    assert!(
        message
            .starts_with("argument `b` (#2) of `add` should be i64: invalid type: string \"two\""),
        "{message}"
    );
    let (status, body) = url("shift", UrlEvent::post_json(&json!([{"x": 1}, 2]))).await;
    assert_eq!(status, 400);
    assert!(
        error_text(&body)
            .contains("argument `point` (#1) of `shift` should be Point: missing field `y`"),
        "{body}"
    );
    let (status, body) = url("add", UrlEvent::get(&[("a", "1"), ("b", "x")])).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn unknown_missing_and_repeated_arguments_are_400s() {
    let (status, body) = url("add", UrlEvent::post_json(&json!({"a": 1, "c": 2}))).await;
    assert_eq!(status, 400);
    assert!(
        error_text(&body).starts_with("unknown argument `c`"),
        "{body}"
    );
    let (status, body) = url("add", UrlEvent::post_json(&json!({"a": 1}))).await;
    assert_eq!(status, 400);
    assert_eq!(error_text(&body), "missing argument `b` (i64) of `add`");
    let (status, body) = url("add", UrlEvent::get(&[("a", "1"), ("a", "2")])).await;
    assert_eq!(status, 400);
    assert_eq!(error_text(&body), "query parameter `a` is given twice");
    let (status, body) = url("add", UrlEvent::get(&[("z", "1")])).await;
    assert_eq!(status, 400);
    assert!(
        error_text(&body).starts_with("unknown query parameter `z`"),
        "{body}"
    );
}

#[tokio::test]
async fn oversized_request_is_a_413_and_oversized_response_a_500() {
    let big = "y".repeat(pluto_spec_limit() + 1);
    let (status, body) = url("echo", UrlEvent::post_json(&json!([big]))).await;
    assert_eq!(status, 413);
    assert!(
        error_text(&body).contains("Lambda accepts at most"),
        "{body}"
    );
    let (status, body) = url("huge", UrlEvent::post_json(&json!([pluto_spec_limit()]))).await;
    assert_eq!(status, 500);
    assert!(
        error_text(&body).contains("Lambda returns at most"),
        "{body}"
    );
}

fn pluto_spec_limit() -> usize {
    6 * 1024 * 1024
}

#[tokio::test]
async fn handler_errors_are_500s_and_http_errors_keep_their_status() {
    assert_eq!(
        url("fails", UrlEvent::post_json(&json!([]))).await,
        (500, json!({"error": "the database is on fire"}))
    );
    assert_eq!(
        url("teapot", UrlEvent::get(&[])).await,
        (418, json!({"error": "I'm a teapot"}))
    );
}

#[tokio::test]
async fn a_panic_is_a_500_and_the_next_request_is_served() {
    let (status, body) = url("panics", UrlEvent::post_json(&json!(["boom"]))).await;
    assert_eq!(status, 500);
    assert_eq!(error_text(&body), "function `panics` panicked: boom");
    assert_eq!(
        url("echo", UrlEvent::post_json(&json!(["still here"]))).await,
        (200, json!("still here"))
    );
}

#[tokio::test]
async fn direct_invocations_take_arrays_or_objects_and_return_plain_results() {
    assert_eq!(direct("add", json!([1, 2])).await, Ok(json!(3)));
    assert_eq!(direct("add", json!({"a": 1, "b": 2})).await, Ok(json!(3)));
    assert_eq!(direct("ping", Value::Null).await, Ok(json!("pong")));
    let error = direct("add", json!(["x", 2]))
        .await
        .expect_err("bad argument");
    assert_eq!(error.error_type(), "Pluto.BadRequest");
    let error = direct("fails", json!([])).await.expect_err("handler error");
    assert_eq!(
        (error.error_type(), error.message()),
        ("Pluto.HandlerError", "the database is on fire")
    );
    let error = direct("panics", json!(["direct"]))
        .await
        .expect_err("panic");
    assert_eq!(error.error_type(), "Pluto.Panic");
}

#[test]
fn registrations_describe_parameters() {
    let shift = find("shift").expect("registered");
    assert_eq!(shift.rust_path, "dispatch::handlers::shift");
    let params: Vec<(&str, &str)> = shift.params.iter().map(|p| (p.name, p.ty)).collect();
    assert_eq!(params, [("point", "Point"), ("dx", "i64")]);
}
