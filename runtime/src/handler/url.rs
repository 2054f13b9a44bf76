//! Function URL requests (payload format 2.0) in, HTTP response objects out.

use super::args::{ArgsError, ArgumentValues};
use super::{FunctionRegistration, HandlerValue, InvocationError, join_stream, run};
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{HeaderValue, header};
use base64::Engine;
use pluto_spec::limits::MAX_PAYLOAD_BYTES;
use serde_json::{Value, json};

/// Whether an event is a Function URL request rather than a direct invocation's payload.
pub(super) fn is_function_url_event(event: &Value) -> bool {
    event
        .get("requestContext")
        .and_then(|context| context.get("http"))
        .is_some_and(Value::is_object)
        && event.get("version").and_then(Value::as_str) == Some("2.0")
}

/// The arguments of a Function URL request, and its `Accept` header.
pub(super) fn url_request_arguments(
    function: &'static FunctionRegistration,
    event: Value,
) -> Result<(ArgumentValues, Option<String>), InvocationError> {
    let request = serde_json::from_value::<LambdaFunctionUrlRequest>(event).map_err(|error| {
        InvocationError::BadRequest(format!("malformed Function URL event: {error}"))
    })?;
    let accept = request
        .headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let args = arguments(function, request)?;
    Ok((args, accept))
}

/// Answers a Function URL request with a buffered response; every failure becomes an HTTP
/// error response. (A streaming function's text is joined and answered as `text/plain`; the
/// Lambda loop streams it instead, see `streaming`.)
pub(super) async fn handle_url_event(
    function: &'static FunctionRegistration,
    event: Value,
) -> Value {
    let response = match url_request_arguments(function, event) {
        Err(error) => error_response(&error),
        Ok((args, _)) => match run(function, args).await {
            Ok(HandlerValue::Json(value)) => json_response(&value),
            Ok(HandlerValue::Stream(stream)) => match join_stream(function, stream).await {
                Ok(text) => text_response(text),
                Err(error) => error_response(&error),
            },
            Err(error) => error_response(&error),
        },
    };
    serde_json::to_value(response).unwrap_or_else(|error| {
        json!({"statusCode": 500, "body": format!("{{\"error\": \"could not encode the response: {error}\"}}")})
    })
}

fn arguments(
    function: &'static FunctionRegistration,
    request: LambdaFunctionUrlRequest,
) -> Result<ArgumentValues, ArgsError> {
    let body = decode_body(request.body, request.is_base64_encoded)?;
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(ArgsError::TooLarge(format!(
            "the request body is {} bytes; Lambda accepts at most {MAX_PAYLOAD_BYTES}",
            body.len()
        )));
    }
    if !body.iter().all(u8::is_ascii_whitespace) {
        let payload: Value = serde_json::from_slice(&body).map_err(|error| {
            ArgsError::BadRequest(format!(
                "the request body is not JSON ({error}); send a JSON array of arguments (e.g. [\"hi\"]) \
                 or an object keyed by parameter names (e.g. {{\"query\": \"hi\"}})"
            ))
        })?;
        return ArgumentValues::from_json(function, payload);
    }
    let pairs: Vec<(String, String)> = match request.raw_query_string.as_deref() {
        Some(raw) if !raw.is_empty() => form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect(),
        _ => {
            let mut pairs: Vec<(String, String)> =
                request.query_string_parameters.into_iter().collect();
            pairs.sort();
            pairs
        }
    };
    ArgumentValues::from_query(function, pairs)
}

fn decode_body(body: Option<String>, is_base64: bool) -> Result<Vec<u8>, ArgsError> {
    match body {
        None => Ok(Vec::new()),
        Some(text) if is_base64 => base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|error| {
                ArgsError::BadRequest(format!(
                    "the request body is marked base64 but is not: {error}"
                ))
            }),
        Some(text) => Ok(text.into_bytes()),
    }
}

fn json_response(value: &Value) -> LambdaFunctionUrlResponse {
    match serde_json::to_string(value) {
        Ok(body) if body.len() > MAX_PAYLOAD_BYTES => {
            error_response(&InvocationError::BadOutput(format!(
                "the response is {} bytes; Lambda returns at most {MAX_PAYLOAD_BYTES}",
                body.len()
            )))
        }
        Ok(body) => response(200, body),
        Err(error) => error_response(&InvocationError::BadOutput(format!(
            "could not encode the result: {error}"
        ))),
    }
}

fn text_response(text: String) -> LambdaFunctionUrlResponse {
    let mut response = response(200, text);
    response.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn error_response(error: &InvocationError) -> LambdaFunctionUrlResponse {
    response(
        error.status(),
        json!({ "error": error.message() }).to_string(),
    )
}

fn response(status: u16, body: String) -> LambdaFunctionUrlResponse {
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.body = Some(body);
    response.is_base64_encoded = false;
    response
}
