//! The Lambda Runtime API loop: fetch the next event, answer it, forever.
//!
//! This is our own small loop on `lambda_runtime_api_client` rather than `lambda_runtime::run`,
//! because `lambda_runtime` 1.5 writes an error in the middle of a streamed response into the
//! response body, as text, instead of sending the HTTP trailers
//! (`Lambda-Runtime-Function-Error-Type`, `Lambda-Runtime-Function-Error-Body`) that Lambda reads
//! to report the invocation as failed. The protocol:
//!
//! - `GET /2018-06-01/runtime/invocation/next`: the event, its id in `Lambda-Runtime-Aws-Request-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response`: the JSON result; for a streaming
//!   function called through its URL, in streaming mode (see `streaming`);
//! - `POST /2018-06-01/runtime/invocation/{id}/error`: `{"errorType", "errorMessage"}`;
//! - `POST /2018-06-01/runtime/init/error`: the function cannot start.

use super::streaming::{self, ERROR_BODY_TRAILER, ERROR_TYPE_TRAILER, StreamOutcome};
use super::{FunctionRegistration, InvocationError, StartError, handle, url};
use bytes::Bytes;
use http::{Method, Request, Uri, header};
use http_body_util::BodyExt;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{PooledClient, build_request};
use pluto_spec::contract::{
    RUNTIME_REQUEST_ID_HEADER as REQUEST_ID_HEADER, RUNTIME_TRACE_ID_HEADER as TRACE_ID_HEADER,
};
use serde_json::{Value, json};

const NEXT_INVOCATION: &str = "/2018-06-01/runtime/invocation/next";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// A client of the Runtime API at `AWS_LAMBDA_RUNTIME_API` (`host:port`).
pub(super) fn client(address: &str) -> Result<PooledClient, StartError> {
    let base: Uri = format!("http://{address}").parse().map_err(|error| {
        StartError::Lambda(format!(
            "AWS_LAMBDA_RUNTIME_API is `{address}`, not a host:port: {error}"
        ))
    })?;
    Ok(PooledClient::builder().with_endpoint(base).build())
}

/// Serves `function`'s invocations until the Runtime API cannot give the next one.
pub(super) async fn serve(
    client: &PooledClient,
    function: &'static FunctionRegistration,
) -> Result<(), StartError> {
    loop {
        let (request_id, event) = next_event(client).await?;
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                post_error(client, &request_id, &error).await;
                continue;
            }
        };
        if function.streams && url::is_function_url_event(&event) {
            respond_streaming(client, function, &request_id, event).await;
        } else {
            match handle(function, event).await {
                Ok(value) => post_response(client, &request_id, &value).await,
                Err(error) => post_error(client, &request_id, &error).await,
            }
        }
    }
}

/// The next invocation's id and event (or why the event is not JSON).
async fn next_event(
    client: &PooledClient,
) -> Result<(String, Result<Value, InvocationError>), StartError> {
    let request = build_request()
        .method(Method::GET)
        .uri(NEXT_INVOCATION)
        .body(Body::empty())
        .map_err(|error| StartError::Lambda(error.to_string()))?;
    let response = client
        .call(request)
        .await
        .map_err(|error| StartError::Lambda(format!("could not get the next event: {error}")))?;
    let status = response.status();
    let request_id = response
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    crate::trace::set_current(
        response
            .headers()
            .get(TRACE_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
    );
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| StartError::Lambda(format!("could not read the next event: {error}")))?
        .to_bytes();
    if !status.is_success() {
        return Err(StartError::Lambda(format!(
            "the Runtime API answered the next-event request with {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    let request_id = request_id.ok_or_else(|| {
        StartError::Lambda(format!(
            "the Runtime API's next event has no {REQUEST_ID_HEADER} header"
        ))
    })?;
    let event = serde_json::from_slice(&body)
        .map_err(|error| InvocationError::BadRequest(format!("the event is not JSON: {error}")));
    Ok((request_id, event))
}

async fn post_response(client: &PooledClient, request_id: &str, value: &Value) {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(error) => {
            let error = InvocationError::BadOutput(format!("could not encode the result: {error}"));
            return post_error(client, request_id, &error).await;
        }
    };
    let request = build_request()
        .method(Method::POST)
        .uri(format!(
            "/2018-06-01/runtime/invocation/{request_id}/response"
        ))
        .body(Body::from(body));
    send_and_log(client, request, "the response").await;
}

async fn post_error(client: &PooledClient, request_id: &str, error: &InvocationError) {
    let body = json!({"errorType": error.error_type(), "errorMessage": error.message()});
    let request = build_request()
        .method(Method::POST)
        .uri(format!("/2018-06-01/runtime/invocation/{request_id}/error"))
        .header(ERROR_TYPE_HEADER, "unhandled")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()));
    send_and_log(client, request, "the error").await;
}

/// Reports a function that cannot start on `/runtime/init/error`, best effort.
pub(super) async fn post_init_error(client: &PooledClient, error: &StartError) {
    let body = json!({"errorType": "Pluto.StartError", "errorMessage": error.to_string()});
    let request = build_request()
        .method(Method::POST)
        .uri(INIT_ERROR)
        .header(ERROR_TYPE_HEADER, "Runtime.InitError")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()));
    send_and_log(client, request, "the start-up error").await;
}

async fn send_and_log(
    client: &PooledClient,
    request: Result<Request<Body>, http::Error>,
    what: &str,
) {
    let result = match request {
        Ok(request) => client.call(request).await.map(drain),
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(response) => {
            if let Err(status) = response.await {
                eprintln!("pluto: the Runtime API refused {what}: {status}");
            }
        }
        Err(error) => eprintln!("pluto: could not send {what} to the Runtime API: {error}"),
    }
}

/// Reads a Runtime API answer to its end; `Err` with the status and body when it is not a success.
async fn drain<B: BodyExt>(response: http::Response<B>) -> Result<(), String> {
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_else(|_| Bytes::new());
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{status} {}", String::from_utf8_lossy(&body)))
    }
}

/// Answers a Function URL event of a streaming function in Lambda's streaming mode.
async fn respond_streaming(
    client: &PooledClient,
    function: &'static FunctionRegistration,
    request_id: &str,
    event: Value,
) {
    let reply = streaming::prepare(function, event).await;
    let (sender, body) = Body::channel();
    let request = build_request()
        .method(Method::POST)
        .uri(format!(
            "/2018-06-01/runtime/invocation/{request_id}/response"
        ))
        .header("Lambda-Runtime-Function-Response-Mode", "streaming")
        .header(header::TRANSFER_ENCODING, "chunked")
        .header(
            header::CONTENT_TYPE,
            "application/vnd.awslambda.http-integration-response",
        )
        .header(
            header::TRAILER,
            format!("{ERROR_TYPE_TRAILER}, {ERROR_BODY_TRAILER}"),
        )
        .body(body);
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            eprintln!("pluto: could not build the streaming response: {error}");
            return;
        }
    };
    let (outcome, result) = streaming::send(function, reply, sender, client.call(request)).await;
    match (outcome, result) {
        (StreamOutcome::Disconnected, _) => eprintln!(
            "pluto: function `{}`: the response stream was cut (the client went away); stopped it",
            function.name
        ),
        (_, Some(Ok(response))) => {
            if let Err(status) = drain(response).await {
                eprintln!("pluto: the Runtime API refused the streamed response: {status}");
            }
        }
        (_, Some(Err(error))) => {
            eprintln!("pluto: could not stream the response to the Runtime API: {error}");
        }
        (_, None) => {}
    }
}
