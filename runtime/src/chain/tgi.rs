//! The JSON format of the Hugging Face Text Generation Inference (TGI) container, as SageMaker's
//! `huggingface-pytorch-tgi-inference` image serves it: requests, answers and error bodies.
//! The types are `pluto_model::llm`'s, shared with the simulator's local model (both directions
//! are (de)serializable); this module reads answers into [`ChainError`]s.

use super::error::ChainError;
use serde::Deserialize;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
