//! The JSON format of the Hugging Face Text Generation Inference (TGI) container, as SageMaker's
//! `huggingface-pytorch-tgi-inference` image serves it: requests, answers and error bodies, and
//! its streaming format (server-sent events `data:{json}`, decoded by [`TgiStreamDecoder`]).
//! The types are `pluto_model::llm`'s, shared with the simulator's local model (both directions
//! are (de)serializable); this module reads answers into [`ChainError`]s.

use super::error::ChainError;
use super::stream::TokenStream;
use crate::sagemaker::PayloadStream;
use futures_util::StreamExt;
use pluto_model::llm::{TGI_SSE_DATA_PREFIX, TgiStreamEvent};
use serde::Deserialize;
use std::collections::VecDeque;

pub use pluto_model::llm::{TgiError, TgiGeneration, TgiParameters, TgiRequest};

#[derive(Deserialize)]
#[serde(untagged)]
enum TgiAnswer {
    List(Vec<TgiGeneration>),
    Error(TgiError),
    One(TgiGeneration),
}

/// Reads a TGI answer and returns the first generated text.
///
/// Accepts `[{"generated_text": ...}]` and a bare `{"generated_text": ...}`. An error body
/// becomes [`ChainError::ModelReported`] quoting its message; anything else (not JSON, an empty
/// list, other fields) is [`ChainError::MalformedOutput`] quoting the start of the body.
pub fn parse_tgi_response(body: &[u8]) -> Result<String, ChainError> {
    match serde_json::from_slice::<TgiAnswer>(body) {
        Ok(TgiAnswer::List(generations)) => generations
            .into_iter()
            .next()
            .map(|generation| generation.generated_text)
            .ok_or_else(|| ChainError::malformed("no generation in the list", body)),
        Ok(TgiAnswer::One(generation)) => Ok(generation.generated_text),
        Ok(TgiAnswer::Error(error)) => Err(ChainError::ModelReported {
            message: error.error,
            error_type: error.error_type,
        }),
        Err(_) if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() => {
            Err(ChainError::malformed("not JSON", body))
        }
        Err(_) => Err(ChainError::malformed(
            r#"expected [{"generated_text": ...}] or {"error": ...}"#,
            body,
        )),
    }
}

/// One event of a TGI stream: a token, or an error.
#[derive(Deserialize)]
#[serde(untagged)]
enum TgiStreamItem {
    Token(TgiStreamEvent),
    Error(TgiError),
}

/// Decodes TGI's streaming format, server-sent events (`data:{json}` lines, events separated by
/// blank lines, `\n` or `\r\n` line ends), from byte slices split anywhere: inside a line, inside
/// `data:`, inside a UTF-8 character. It yields the text of each token that is not `special`
/// (`</s>` and the like are not part of the answer).
///
/// ```
/// use pluto::chain::TgiStreamDecoder;
///
/// let mut decoder = TgiStreamDecoder::new();
/// let mut tokens = decoder.feed(b"data:{\"token\":{\"id\":1,\"text\":\" Par")?;
/// tokens.extend(decoder.feed(b"is\",\"special\":false}}\n\nda")?);
/// tokens.extend(decoder.feed(b"ta:{\"token\":{\"text\":\"</s>\",\"special\":true}}\n\n")?);
/// tokens.extend(decoder.finish()?);
/// assert_eq!(tokens, [" Paris"]);
/// # Ok::<(), pluto::chain::ChainError>(())
/// ```
///
/// An error event (`data:{"error": ..., "error_type": ...}`) is [`ChainError::ModelReported`];
/// anything else that is not an event (a line that is not `data:`, `event:`, `id:`, `retry:` or
/// a `:` comment, data that is not a token's JSON) is [`ChainError::MalformedOutput`]. A bare
/// JSON error body, as a server sends when it refuses the request, is read as an error event.
#[derive(Debug, Default)]
pub struct TgiStreamDecoder {
    /// Bytes after the last line end.
    partial_line: Vec<u8>,
    /// The `data:` lines of the event being read.
    data: Vec<String>,
}

impl TgiStreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes of the stream and returns the texts of the tokens they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, ChainError> {
        let mut tokens = Vec::new();
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            self.partial_line.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            let mut line = std::mem::take(&mut self.partial_line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&line, &mut tokens)?;
        }
        self.partial_line.extend_from_slice(rest);
        Ok(tokens)
    }

    /// The stream ended: returns the tokens of a last event that had no blank line after it.
    pub fn finish(mut self) -> Result<Vec<String>, ChainError> {
        let mut tokens = Vec::new();
        let mut line = std::mem::take(&mut self.partial_line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if !line.is_empty() {
            self.line(&line, &mut tokens)?;
        }
        self.dispatch(&mut tokens)?;
        Ok(tokens)
    }

    fn line(&mut self, line: &[u8], tokens: &mut Vec<String>) -> Result<(), ChainError> {
        if line.is_empty() {
            return self.dispatch(tokens);
        }
        let text =
            std::str::from_utf8(line).map_err(|_| ChainError::malformed("not UTF-8", line))?;
        if let Some(data) = text.strip_prefix(TGI_SSE_DATA_PREFIX) {
            self.data
                .push(data.strip_prefix(' ').unwrap_or(data).to_owned());
            return Ok(());
        }
        if text.starts_with(':')
            || ["event:", "id:", "retry:"]
                .iter()
                .any(|field| text.starts_with(field))
        {
            return Ok(());
        }
        if let Ok(error) = serde_json::from_str::<TgiError>(text) {
            return Err(model_reported(error));
        }
        Err(ChainError::malformed(
            "not a server-sent event of a TGI stream",
            line,
        ))
    }

    fn dispatch(&mut self, tokens: &mut Vec<String>) -> Result<(), ChainError> {
        if self.data.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.data).join("\n");
        match serde_json::from_str::<TgiStreamItem>(&data) {
            Ok(TgiStreamItem::Token(event)) => {
                if !event.token.special && !event.token.text.is_empty() {
                    tokens.push(event.token.text);
                }
                Ok(())
            }
            Ok(TgiStreamItem::Error(error)) => Err(model_reported(error)),
            Err(_) => Err(ChainError::malformed(
                r#"expected data:{"token": ...} or data:{"error": ...}"#,
                data.as_bytes(),
            )),
        }
    }
}

fn model_reported(error: TgiError) -> ChainError {
    ChainError::ModelReported {
        message: error.error,
        error_type: error.error_type,
    }
}

/// The tokens of a TGI stream's body, as [`TokenStream`] items. Decoding stops at the first
/// error (passed on as the last item); dropping the stream drops `payload`.
pub(crate) fn decode_tgi_stream(payload: PayloadStream) -> TokenStream {
    struct State {
        payload: Option<PayloadStream>,
        decoder: Option<TgiStreamDecoder>,
        ready: VecDeque<String>,
    }
    let state = State {
        payload: Some(payload),
        decoder: Some(TgiStreamDecoder::new()),
        ready: VecDeque::new(),
    };
    Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move {
            loop {
                if let Some(token) = state.ready.pop_front() {
                    return Some((Ok(token), state));
                }
                let payload = state.payload.as_mut()?;
                let decoded = match payload.next().await {
                    Some(Ok(bytes)) => match state.decoder.as_mut() {
                        Some(decoder) => decoder.feed(&bytes),
                        None => Ok(Vec::new()),
                    },
                    Some(Err(error)) => Err(ChainError::Model(error)),
                    None => {
                        state.payload = None;
                        state
                            .decoder
                            .take()
                            .map_or_else(|| Ok(Vec::new()), TgiStreamDecoder::finish)
                    }
                };
                match decoded {
                    Ok(tokens) => state.ready.extend(tokens),
                    Err(error) => {
                        state.payload = None;
                        state.decoder = None;
                        return Some((Err(error), state));
                    }
                }
            }
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pluto_model::llm::{TgiStreamDetails, TgiStreamToken};

    fn token_event(text: &str, special: bool) -> TgiStreamEvent {
        TgiStreamEvent {
            token: TgiStreamToken {
                id: 7,
                text: text.to_owned(),
                logprob: -0.5,
                special,
            },
            generated_text: None,
            details: None,
        }
    }

    /// A realistic stream body: tokens (one with a multibyte character), TGI's own JSON spelling
    /// of a middle event, then the special end token with the details.
    fn realistic_body() -> String {
        let mut last = token_event("</s>", true);
        last.generated_text = Some(" Paris, où l'été…".to_owned());
        last.details = Some(TgiStreamDetails {
            finish_reason: "eos_token".to_owned(),
            generated_tokens: 5,
            seed: None,
        });
        [
            token_event(" Paris", false).to_sse(),
            token_event(", où", false).to_sse(),
            "data:{\"index\":3,\"token\":{\"id\":3681,\"text\":\" l'été\",\"logprob\":-0.2,\"special\":false},\"generated_text\":null,\"details\":null,\"top_tokens\":null}\n\n".to_owned(),
            token_event("…", false).to_sse(),
            last.to_sse(),
        ]
        .concat()
    }

    fn decode_in(pieces: &[&[u8]]) -> Result<Vec<String>, ChainError> {
        let mut decoder = TgiStreamDecoder::new();
        let mut tokens = Vec::new();
        for piece in pieces {
            tokens.extend(decoder.feed(piece)?);
        }
        tokens.extend(decoder.finish()?);
        Ok(tokens)
    }

    #[test]
    fn stream_decoding_yields_the_same_tokens_at_every_split_point() {
        let body = realistic_body();
        let bytes = body.as_bytes();
        let expected = [" Paris", ", où", " l'été", "…"];
        assert_eq!(decode_in(&[bytes]).unwrap(), expected);
        for first in 0..=bytes.len() {
            assert_eq!(
                decode_in(&[&bytes[..first], &bytes[first..]]).unwrap(),
                expected,
                "split at byte {first}"
            );
        }
        for first in (0..=bytes.len()).step_by(7) {
            for second in first..=bytes.len() {
                let pieces = [&bytes[..first], &bytes[first..second], &bytes[second..]];
                assert_eq!(decode_in(&pieces).unwrap(), expected, "{first}/{second}");
            }
        }
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_in(&single).unwrap(), expected);
    }

    #[test]
    fn stream_decoding_accepts_crlf_comments_spaces_and_an_unterminated_last_event() {
        let body = "data: {\"token\":{\"text\":\"a\"}}\r\n\r\n: keep-alive\r\nevent: message\r\nid: 2\r\ndata:{\"token\":{\"text\":\"b\",\"special\":false}}";
        for first in 0..=body.len() {
            assert_eq!(
                decode_in(&[&body.as_bytes()[..first], &body.as_bytes()[first..]]).unwrap(),
                ["a", "b"],
                "split at {first}"
            );
        }
        assert_eq!(decode_in(&[b""]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn stream_error_events_are_model_reported_errors() {
        let error = TgiError {
            error: "Request failed during generation: CUDA out of memory".to_owned(),
            error_type: Some("generation".to_owned()),
        };
        let body = format!("{}{}", token_event("Hi", false).to_sse(), error.to_sse());
        let mut decoder = TgiStreamDecoder::new();
        let split = body.len() - 10;
        assert_eq!(decoder.feed(&body.as_bytes()[..split]).unwrap(), ["Hi"]);
        let failure = decoder.feed(&body.as_bytes()[split..]).unwrap_err();
        assert!(
            matches!(&failure, ChainError::ModelReported { message, error_type: Some(kind) }
                if message.contains("CUDA out of memory") && kind == "generation"),
            "{failure:?}"
        );
        // A bare JSON error body, as a server refusing the request sends.
        let refused =
            decode_in(&[br#"{"error": "Model is overloaded", "error_type": "overloaded"}"#])
                .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the model returned an error (overloaded): Model is overloaded"
        );
    }

    #[test]
    fn stream_garbage_is_malformed_output() {
        for garbage in [
            &b"<html>502 Bad Gateway</html>\n\n"[..],
            b"data:not json\n\n",
            b"data:{\"generated_text\": \"x\"}\n\n",
            b"data:\xff\xfe\n\n",
        ] {
            let error = decode_in(&[garbage]).unwrap_err();
            assert!(
                matches!(error, ChainError::MalformedOutput { .. }),
                "{:?}: {error:?}",
                String::from_utf8_lossy(garbage)
            );
        }
        let error = decode_in(&[b"<html>"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed model output (not a server-sent event of a TGI stream): `<html>`"
        );
    }

    #[tokio::test]
    async fn decoded_streams_yield_tokens_then_end_at_the_first_error() {
        let body = realistic_body().into_bytes();
        let parts: Vec<Result<Vec<u8>, crate::ClientError>> =
            body.chunks(5).map(|chunk| Ok(chunk.to_vec())).collect();
        let tokens: Vec<String> = decode_tgi_stream(Box::pin(futures_util::stream::iter(parts)))
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(tokens.concat(), " Paris, où l'été…");

        let parts = vec![
            Ok(token_event("a", false).to_sse().into_bytes()),
            Ok(b"data:oops\n\n".to_vec()),
            Ok(token_event("b", false).to_sse().into_bytes()),
        ];
        let items: Vec<_> = decode_tgi_stream(Box::pin(futures_util::stream::iter(parts)))
            .collect()
            .await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap(), "a");
        assert!(matches!(items[1], Err(ChainError::MalformedOutput { .. })));
    }

    #[test]
    fn parses_list_and_single_object_answers() {
        assert_eq!(
            parse_tgi_response(br#"[{"generated_text": " Paris."}]"#).unwrap(),
            " Paris."
        );
        assert_eq!(
            parse_tgi_response(br#"[{"generated_text": "a", "details": {"finish_reason": "length"}}, {"generated_text": "b"}]"#)
                .unwrap(),
            "a"
        );
        assert_eq!(
            parse_tgi_response(br#"{"generated_text": "only"}"#).unwrap(),
            "only"
        );
        // A simulator can serialize the answer with the same types.
        let body = serde_json::to_vec(&[TgiGeneration {
            generated_text: "ok".to_owned(),
        }])
        .unwrap();
        assert_eq!(parse_tgi_response(&body).unwrap(), "ok");
    }

    #[test]
    fn error_bodies_quote_the_message() {
        let error = parse_tgi_response(
            br#"{"error": "Input validation error: `temperature` must be strictly positive", "error_type": "validation"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&error, ChainError::ModelReported { error_type: Some(kind), .. } if kind == "validation")
        );
        assert_eq!(
            error.to_string(),
            "the model returned an error (validation): Input validation error: `temperature` must be strictly positive"
        );
        let error = parse_tgi_response(br#"{"error": "Model is overloaded"}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the model returned an error: Model is overloaded"
        );
        let body = serde_json::to_vec(&TgiError {
            error: "boom".to_owned(),
            error_type: Some("generation".to_owned()),
        })
        .unwrap();
        assert!(
            matches!(parse_tgi_response(&body), Err(ChainError::ModelReported { message, .. }) if message == "boom")
        );
    }

    #[test]
    fn malformed_answers_quote_a_prefix() {
        let error = parse_tgi_response(b"<html>502 Bad Gateway</html>").unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed model output (not JSON): `<html>502 Bad Gateway</html>`"
        );

        let error = parse_tgi_response(b"[]").unwrap_err();
        assert!(error.to_string().contains("no generation"), "{error}");

        let error = parse_tgi_response(br#"{"outputs": "x"}"#).unwrap_err();
        assert!(
            matches!(&error, ChainError::MalformedOutput { prefix, .. } if prefix == r#"{"outputs": "x"}"#)
        );

        let long = format!(r#"[{{"text": "{}"}}]"#, "x".repeat(1000));
        match parse_tgi_response(long.as_bytes()).unwrap_err() {
            ChainError::MalformedOutput { prefix, .. } => {
                assert_eq!(prefix.chars().count(), 201);
                assert!(prefix.starts_with(r#"[{"text": "xxx"#) && prefix.ends_with('…'));
            }
            other => panic!("{other:?}"),
        }
    }
}
