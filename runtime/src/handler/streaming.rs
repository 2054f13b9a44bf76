//! Function URL responses of streaming functions (handlers returning [`TextStream`]), in Lambda's
//! response-streaming protocol: a JSON prelude (`statusCode`, `headers`, `cookies`), eight NUL
//! bytes, then the body, chunk by chunk as the handler yields it, and, when the stream fails after
//! its first chunk, HTTP trailers naming the error.
//!
//! The first item is awaited before the prelude is written, so an error before any text (bad
//! arguments, the handler's `Err`, a first item that is an `Err`) is an ordinary JSON error
//! response with its status. The body's format follows the request's `Accept`: server-sent
//! events (`data: {"text": ...}` per chunk, `event: done` at the end, `event: error` on a
//! failure) when it asks for `text/event-stream`, else the chunks' raw text.

use super::{FunctionRegistration, HandlerValue, InvocationError, next_chunk, run, url};
use crate::TextStream;
use base64::Engine;
use bytes::Bytes;
use futures_util::future::Either;
use http::{HeaderMap, HeaderValue};
use lambda_runtime_api_client::body::sender::Sender;
use serde_json::{Value, json};
use std::future::Future;

/// The trailer naming the error type of a stream that failed after its first chunk.
pub(crate) const ERROR_TYPE_TRAILER: &str = "Lambda-Runtime-Function-Error-Type";
/// The trailer holding the base64 of `{"errorType", "errorMessage"}` of that error.
pub(crate) const ERROR_BODY_TRAILER: &str = "Lambda-Runtime-Function-Error-Body";
/// What separates the prelude from the body.
const PRELUDE_DELIMITER: [u8; 8] = [0; 8];

/// How the chunks are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WireFormat {
    /// Server-sent events: `data: {"text":"<chunk>"}\n\n` per chunk.
    EventStream,
    /// The chunks' text as is.
    PlainText,
}

impl WireFormat {
    /// Server-sent events when `accept` contains `text/event-stream`, else plain text.
    pub(super) fn from_accept(accept: Option<&str>) -> Self {
        if accept.is_some_and(|accept| accept.to_ascii_lowercase().contains("text/event-stream")) {
            Self::EventStream
        } else {
            Self::PlainText
        }
    }

    fn headers(self) -> Value {
        match self {
            Self::EventStream => json!({
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
            }),
            Self::PlainText => json!({"content-type": "text/plain; charset=utf-8"}),
        }
    }

    fn chunk(self, text: String) -> Bytes {
        match self {
            Self::EventStream => Bytes::from(format!("data: {}\n\n", json!({ "text": text }))),
            Self::PlainText => Bytes::from(text),
        }
    }

    fn end(self) -> Option<Bytes> {
        match self {
            Self::EventStream => Some(Bytes::from_static(b"event: done\ndata: {}\n\n")),
            Self::PlainText => None,
        }
    }

    fn error_event(self, message: &str) -> Option<Bytes> {
        match self {
            Self::EventStream => Some(Bytes::from(format!(
                "event: error\ndata: {}\n\n",
                json!({ "error": message })
            ))),
            Self::PlainText => None,
        }
    }
}

/// A streaming response, ready to send: its prelude and first bytes are known.
pub(super) struct StreamingReply {
    /// The prelude with its delimiter.
    pub(super) prelude: Bytes,
    /// The body known so far (the first chunk, an error body, or the end of an empty stream).
    pub(super) first: Option<Bytes>,
    /// The rest of the handler's stream, when it is still going.
    pub(super) rest: Option<(TextStream, WireFormat)>,
}

impl std::fmt::Debug for StreamingReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingReply")
            .field("prelude", &self.prelude)
            .field("first", &self.first)
            .field("streaming", &self.rest.is_some())
            .finish()
    }
}

fn prelude(status: u16, headers: Value) -> Bytes {
    let mut prelude = json!({"statusCode": status, "headers": headers, "cookies": []})
        .to_string()
        .into_bytes();
    prelude.extend_from_slice(&PRELUDE_DELIMITER);
    Bytes::from(prelude)
}

fn error_reply(error: &InvocationError) -> StreamingReply {
    StreamingReply {
        prelude: prelude(error.status(), json!({"content-type": "application/json"})),
        first: Some(Bytes::from(json!({ "error": error.message() }).to_string())),
        rest: None,
    }
}

/// Runs a streaming function for a Function URL event, up to its first chunk.
pub(super) async fn prepare(
    function: &'static FunctionRegistration,
    event: Value,
) -> StreamingReply {
    let (args, accept) = match url::url_request_arguments(function, event) {
        Ok(parsed) => parsed,
        Err(error) => return error_reply(&error),
    };
    let format = WireFormat::from_accept(accept.as_deref());
    let mut stream = match run(function, args).await {
        Ok(HandlerValue::Stream(stream)) => stream,
        Ok(HandlerValue::Json(value)) => {
            // Not generated for streaming functions; answered as text to stay well-formed.
            TextStream::once(value.to_string())
        }
        Err(error) => return error_reply(&error),
    };
    match next_chunk(function, &mut stream).await {
        Some(Err(error)) => error_reply(&error),
        Some(Ok(first)) => StreamingReply {
            prelude: prelude(200, format.headers()),
            first: Some(format.chunk(first)),
            rest: Some((stream, format)),
        },
        None => StreamingReply {
            prelude: prelude(200, format.headers()),
            first: format.end(),
            rest: None,
        },
    }
}

/// How sending a streaming response ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StreamOutcome {
    /// The whole body was sent.
    Completed,
    /// The stream failed after its first chunk; the error went out in the trailers.
    Failed(String),
    /// The Runtime API connection ended before the body did (the client went away): the
    /// handler's stream was dropped.
    Disconnected,
}

/// Sends `reply` through `sender`, the body of the Runtime API request `call`, chunk by chunk.
///
/// If `call` ends first (the connection failed or the server stopped reading), the handler's
/// stream is dropped at once, without being polled again.
pub(super) async fn send<C, T, E>(
    function: &'static FunctionRegistration,
    reply: StreamingReply,
    sender: Sender,
    call: C,
) -> (StreamOutcome, Option<Result<T, E>>)
where
    C: Future<Output = Result<T, E>>,
{
    let pump = std::pin::pin!(pump(function, reply, sender));
    let call = std::pin::pin!(call);
    match futures_util::future::select(pump, call).await {
        Either::Left((outcome, call)) => (outcome, Some(call.await)),
        Either::Right((result, _pump)) => (StreamOutcome::Disconnected, Some(result)),
    }
}

async fn pump(
    function: &'static FunctionRegistration,
    reply: StreamingReply,
    mut sender: Sender,
) -> StreamOutcome {
    if sender.send_data(reply.prelude).await.is_err() {
        return StreamOutcome::Disconnected;
    }
    if let Some(first) = reply.first
        && sender.send_data(first).await.is_err()
    {
        return StreamOutcome::Disconnected;
    }
    let Some((mut stream, format)) = reply.rest else {
        return StreamOutcome::Completed;
    };
    loop {
        match next_chunk(function, &mut stream).await {
            Some(Ok(text)) => {
                if sender.send_data(format.chunk(text)).await.is_err() {
                    return StreamOutcome::Disconnected;
                }
            }
            None => {
                if let Some(end) = format.end()
                    && sender.send_data(end).await.is_err()
                {
                    return StreamOutcome::Disconnected;
                }
                return StreamOutcome::Completed;
            }
            Some(Err(error)) => {
                drop(stream);
                let message = error.message().to_owned();
                eprintln!(
                    "pluto: function `{}`: the response stream failed after its first chunk: {message}",
                    function.name
                );
                if let Some(event) = format.error_event(&message)
                    && sender.send_data(event).await.is_err()
                {
                    return StreamOutcome::Disconnected;
                }
                if sender
                    .send_trailers(error_trailers(&message))
                    .await
                    .is_err()
                {
                    return StreamOutcome::Disconnected;
                }
                return StreamOutcome::Failed(message);
            }
        }
    }
}

/// The trailers reporting a stream error: `Pluto.StreamError` and the base64 of the error body.
pub(super) fn error_trailers(message: &str) -> HeaderMap {
    let error = InvocationError::StreamFailed(message.to_owned());
    let body = json!({"errorType": error.error_type(), "errorMessage": message}).to_string();
    let mut trailers = HeaderMap::new();
    trailers.insert(
        ERROR_TYPE_TRAILER,
        HeaderValue::from_static("Pluto.StreamError"),
    );
    if let Ok(value) =
        HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(body))
    {
        trailers.insert(ERROR_BODY_TRAILER, value);
    }
    trailers
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::handler::{ArgumentValues, HandlerFuture, Param};
    use futures_util::StreamExt;
    use lambda_runtime_api_client::body::Body;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn chunks_then(fail_after: Option<usize>) -> TextStream {
        let items = (0..3).map(move |index| match fail_after {
            Some(limit) if index >= limit => Err(std::io::Error::other("the model crashed")),
            _ => Ok(format!("{index} ")),
        });
        TextStream::new(futures_util::stream::iter(items).take(fail_after.map_or(3, |n| n + 1)))
    }

    fn call_counting(mut args: ArgumentValues) -> HandlerFuture {
        Box::pin(async move {
            let mode: String = args.take(0)?;
            let stream = match mode.as_str() {
                "ok" => chunks_then(None),
                "fails-after-1" => chunks_then(Some(1)),
                "fails-first" => chunks_then(Some(0)),
                "empty" => TextStream::empty(),
                "quotes" => TextStream::once("say \"hi\"\n"),
                _ => {
                    return Err(InvocationError::from_handler_error(Box::new(
                        crate::HttpError::new(429, "slow down"),
                    )));
                }
            };
            Ok(HandlerValue::Stream(stream))
        })
    }

    static COUNTING: FunctionRegistration = FunctionRegistration {
        name: "counting",
        rust_path: "tests::counting",
        params: &[Param {
            name: "mode",
            ty: "String",
        }],
        streams: true,
        call: call_counting,
    };

    fn event(mode: &str, accept: Option<&str>) -> Value {
        let mut headers = json!({"content-type": "application/json"});
        if let Some(accept) = accept {
            headers["accept"] = json!(accept);
        }
        json!({
            "version": "2.0",
            "rawPath": "/",
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "abc",
                "domainName": "abc.lambda-url.us-east-1.on.aws",
                "domainPrefix": "abc",
                "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
                "requestId": "r-1",
                "routeKey": "$default",
                "stage": "$default",
                "time": "22/Nov/2026:17:05:00 +0000",
                "timeEpoch": 1_795_367_100_000_i64
            },
            "routeKey": "$default",
            "body": json!([mode]).to_string(),
            "isBase64Encoded": false,
        })
    }

    /// The body bytes and trailers a streaming response sends.
    async fn sent(mode: &str, accept: Option<&str>) -> (StreamOutcome, String, Option<HeaderMap>) {
        let reply = prepare(&COUNTING, event(mode, accept)).await;
        let (sender, body) = Body::channel();
        // The Runtime API: reads the whole body, then answers.
        let (outcome, result) = send(&COUNTING, reply, sender, body.collect()).await;
        let collected = result.unwrap().unwrap();
        let trailers = collected.trailers().cloned();
        let bytes = collected.to_bytes();
        (
            outcome,
            String::from_utf8(bytes.to_vec()).unwrap(),
            trailers,
        )
    }

    const SSE_PRELUDE: &str = "{\"cookies\":[],\"headers\":{\"cache-control\":\"no-cache\",\"content-type\":\"text/event-stream; charset=utf-8\"},\"statusCode\":200}\0\0\0\0\0\0\0\0";
    const TEXT_PRELUDE: &str = "{\"cookies\":[],\"headers\":{\"content-type\":\"text/plain; charset=utf-8\"},\"statusCode\":200}\0\0\0\0\0\0\0\0";

    #[tokio::test]
    async fn event_stream_accept_gets_server_sent_events() {
        let (outcome, body, trailers) = sent("ok", Some("text/event-stream")).await;
        assert_eq!(outcome, StreamOutcome::Completed);
        assert_eq!(
            body,
            format!(
                "{SSE_PRELUDE}data: {{\"text\":\"0 \"}}\n\ndata: {{\"text\":\"1 \"}}\n\ndata: {{\"text\":\"2 \"}}\n\nevent: done\ndata: {{}}\n\n"
            )
        );
        assert!(trailers.is_none());
        let (_, body, _) = sent("quotes", Some("application/json, Text/Event-Stream")).await;
        assert!(
            body.ends_with("data: {\"text\":\"say \\\"hi\\\"\\n\"}\n\nevent: done\ndata: {}\n\n"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn other_accepts_get_plain_text() {
        for accept in [None, Some("*/*"), Some("application/json")] {
            let (outcome, body, trailers) = sent("ok", accept).await;
            assert_eq!(outcome, StreamOutcome::Completed);
            assert_eq!(body, format!("{TEXT_PRELUDE}0 1 2 "));
            assert!(trailers.is_none());
        }
    }

    #[tokio::test]
    async fn zero_chunks_are_an_empty_body_or_only_the_done_event() {
        assert_eq!(sent("empty", None).await.1, TEXT_PRELUDE);
        assert_eq!(
            sent("empty", Some("text/event-stream")).await.1,
            format!("{SSE_PRELUDE}event: done\ndata: {{}}\n\n")
        );
    }

    #[tokio::test]
    async fn errors_before_the_first_chunk_are_json_error_responses() {
        for (mode, status, message) in [
            ("rate-limited", 429, "slow down"),
            ("fails-first", 500, "the model crashed"),
        ] {
            for accept in [None, Some("text/event-stream")] {
                let (outcome, body, trailers) = sent(mode, accept).await;
                assert_eq!(outcome, StreamOutcome::Completed);
                assert_eq!(
                    body,
                    format!(
                        "{{\"cookies\":[],\"headers\":{{\"content-type\":\"application/json\"}},\"statusCode\":{status}}}\0\0\0\0\0\0\0\0{{\"error\":\"{message}\"}}"
                    )
                );
                assert!(trailers.is_none());
            }
        }
        let reply = prepare(
            &COUNTING,
            json!({"version": "2.0", "requestContext": {"http": {}}, "body": "[1, 2]"}),
        )
        .await;
        assert!(
            String::from_utf8_lossy(&reply.prelude).contains("\"statusCode\":400"),
            "{reply:?}"
        );
    }

    #[tokio::test]
    async fn errors_after_the_first_chunk_end_the_body_with_trailers() {
        let expected_body = base64::engine::general_purpose::STANDARD
            .encode(r#"{"errorMessage":"the model crashed","errorType":"Pluto.StreamError"}"#);
        let (outcome, body, trailers) = sent("fails-after-1", None).await;
        assert_eq!(
            outcome,
            StreamOutcome::Failed("the model crashed".to_owned())
        );
        assert_eq!(body, format!("{TEXT_PRELUDE}0 "));
        let trailers = trailers.unwrap();
        assert_eq!(trailers[ERROR_TYPE_TRAILER], "Pluto.StreamError");
        assert_eq!(trailers[ERROR_BODY_TRAILER], expected_body.as_str());

        let (outcome, body, trailers) = sent("fails-after-1", Some("text/event-stream")).await;
        assert_eq!(
            outcome,
            StreamOutcome::Failed("the model crashed".to_owned())
        );
        assert_eq!(
            body,
            format!(
                "{SSE_PRELUDE}data: {{\"text\":\"0 \"}}\n\nevent: error\ndata: {{\"error\":\"the model crashed\"}}\n\n"
            )
        );
        assert_eq!(trailers.unwrap()[ERROR_TYPE_TRAILER], "Pluto.StreamError");
    }

    #[tokio::test]
    async fn a_disconnect_drops_the_handlers_stream_without_polling_it_again() {
        /// Sets its flag when dropped.
        struct DropFlag(Arc<AtomicBool>);
        impl Drop for DropFlag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        // One chunk, then a model that never answers again.
        let stream = futures_util::stream::once(async { Ok::<_, crate::Error>("first") })
            .chain(futures_util::stream::pending())
            .map(move |item| {
                let _ = &flag;
                item
            });
        let reply = StreamingReply {
            prelude: prelude(200, WireFormat::PlainText.headers()),
            first: None,
            rest: Some((TextStream::new(stream), WireFormat::PlainText)),
        };
        let (sender, mut body) = Body::channel();
        // The Runtime API connection: reads the prelude and the first chunk, then fails.
        let call = async move {
            use http_body_util::BodyExt;
            let mut frames = 0;
            while frames < 2 {
                if body.frame().await.is_some() {
                    frames += 1;
                }
            }
            Err::<(), _>("connection reset")
        };
        let (outcome, result) = send(&COUNTING, reply, sender, call).await;
        assert_eq!(outcome, StreamOutcome::Disconnected);
        assert_eq!(result, Some(Err("connection reset")));
        assert!(
            dropped.load(Ordering::SeqCst),
            "the handler's stream is dropped"
        );
    }
}
