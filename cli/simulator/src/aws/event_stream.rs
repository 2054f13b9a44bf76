//! The AWS event stream messages of SageMaker Runtime's `InvokeEndpointWithResponseStream`, as
//! the AWS SDK reads them (`aws-sdk-sagemakerruntime`'s `ResponseStreamUnmarshaller`): a
//! `PayloadPart` event carries bytes of the model's answer (here TGI server-sent events), a
//! `ModelStreamError` exception ends the stream with an error.

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::Bytes;
use serde_json::json;

/// The `Content-Type` of an event stream response.
pub(crate) const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

fn string_header(name: &'static str, value: &'static str) -> Header {
    Header::new(name, HeaderValue::String(value.into()))
}

fn encode(message: &Message) -> Bytes {
    let mut buffer = Vec::with_capacity(message.payload().len() + 128);
    // Writing fails only for headers or payloads over the format's limits (16 MB), which a
    // token's event never reaches; such a message is then left out rather than sent broken.
    match aws_smithy_eventstream::frame::write_message_to(message, &mut buffer) {
        Ok(()) => Bytes::from(buffer),
        Err(_) => Bytes::new(),
    }
}

/// A `PayloadPart` event carrying `bytes` (its `Bytes` member is the event's payload).
pub(crate) fn payload_part(bytes: impl Into<Bytes>) -> Bytes {
    let message = Message::new(bytes.into())
        .add_header(string_header(":message-type", "event"))
        .add_header(string_header(":event-type", "PayloadPart"))
        .add_header(string_header(":content-type", "application/octet-stream"));
    encode(&message)
}

/// A `ModelStreamError` exception: the model failed mid-stream with `message`.
pub(crate) fn model_stream_error(message: &str) -> Bytes {
    let payload = json!({"Message": message, "ErrorCode": "ModelStreamError"}).to_string();
    let message = Message::new(Bytes::from(payload))
        .add_header(string_header(":message-type", "exception"))
        .add_header(string_header(":exception-type", "ModelStreamError"))
        .add_header(string_header(":content-type", "application/json"));
    encode(&message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
        message
            .headers()
            .iter()
            .find(|header| header.name().as_str() == name)
            .and_then(|header| header.value().as_string().ok())
            .map(|value| value.as_str())
    }

    #[test]
    fn payload_parts_and_errors_read_back_with_the_sdks_headers() {
        let part = read_message_from(payload_part("data:{}\n\n")).expect("a message");
        assert_eq!(part.payload().as_ref(), b"data:{}\n\n");
        assert_eq!(header(&part, ":message-type"), Some("event"));
        assert_eq!(header(&part, ":event-type"), Some("PayloadPart"));
        assert_eq!(
            header(&part, ":content-type"),
            Some("application/octet-stream")
        );
        let error = read_message_from(model_stream_error("boom")).expect("a message");
        assert_eq!(header(&error, ":message-type"), Some("exception"));
        assert_eq!(header(&error, ":exception-type"), Some("ModelStreamError"));
        let payload: serde_json::Value =
            serde_json::from_slice(error.payload()).expect("JSON payload");
        assert_eq!(payload["Message"], "boom");
    }
}
