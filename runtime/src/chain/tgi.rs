//! The JSON format of the Hugging Face Text Generation Inference (TGI) container, as SageMaker's
//! `huggingface-pytorch-tgi-inference` image serves it: requests, answers and error bodies.
//! Both directions are (de)serializable, so a local simulator can serve the same format.

use super::error::ChainError;
use super::llm::GenerationParams;
use serde::{Deserialize, Serialize};

/// A TGI generation request: `{"inputs": "...", "parameters": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TgiRequest {
    /// The prompt.
    pub inputs: String,
    /// How to generate; absent means the server's defaults.
    #[serde(default)]
    pub parameters: TgiParameters,
}

/// The `parameters` of a [`TgiRequest`]. Every field is optional: absent fields are not sent, and
/// a request with any subset of them deserializes (unknown fields are ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TgiParameters {
    /// The most tokens to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<u32>,
    /// Sampling temperature; TGI requires it to be strictly positive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass, in (0, 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Top-k sampling, at least 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Repetition penalty, strictly positive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f32>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Sampler seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Whether to sample (`false`: greedy decoding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub do_sample: Option<bool>,
    /// Whether to prepend the prompt to the generated text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_full_text: Option<bool>,
}

impl TgiRequest {
    /// The request generating from `prompt` with `params` (see [`TgiParameters::from`]).
    pub fn new(prompt: impl Into<String>, params: &GenerationParams) -> Self {
        Self {
            inputs: prompt.into(),
            parameters: TgiParameters::from(params),
        }
    }
}

impl From<&GenerationParams> for TgiParameters {
    /// Translates `params` into what TGI accepts.
    ///
    /// TGI rejects a temperature of 0, and samples as soon as `temperature`, `top_p` or `top_k`
    /// is set, whatever `do_sample` says. So greedy parameters (temperature 0) send
    /// `do_sample: false` and none of temperature, `top_p`, `top_k` and `seed`; sampling
    /// parameters send `do_sample: true` with the temperature. A `top_p` of 1 or more and a
    /// `top_k` of 0 mean "no filtering", which TGI rejects as values, so they are left out.
    fn from(params: &GenerationParams) -> Self {
        let sample = !params.is_greedy();
        Self {
            max_new_tokens: Some(params.max_new_tokens),
            temperature: sample.then_some(params.temperature),
            top_p: params.top_p.filter(|&top_p| sample && top_p < 1.0),
            top_k: params.top_k.filter(|&top_k| sample && top_k > 0),
            repetition_penalty: params.repetition_penalty,
            stop: params.stop.clone(),
            seed: params.seed.filter(|_| sample),
            do_sample: Some(sample),
            return_full_text: Some(params.return_full_text),
        }
    }
}

/// One generation in a TGI answer: `{"generated_text": "..."}`. The container answers a list of
/// them, `[{"generated_text": "..."}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgiGeneration {
    /// The generated text (after the prompt, when `return_full_text` was set).
    pub generated_text: String,
}

/// A TGI error body: `{"error": "...", "error_type": "validation"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgiError {
    /// The message.
    pub error: String,
    /// Its kind: `validation`, `generation`, `overloaded`, `incomplete_generation`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

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
    use serde_json::{Value, json};

    /// The request as it goes on the wire, read back as JSON (so `0.7f32` compares as `0.7`).
    fn wire(request: &TgiRequest) -> Value {
        serde_json::from_slice(&serde_json::to_vec(request).unwrap()).unwrap()
    }

    #[test]
    fn greedy_request_sends_no_temperature_and_no_sampling_knobs() {
        let params = GenerationParams::default()
            .max_new_tokens(64)
            .top_p(0.9)
            .top_k(40)
            .seed(3)
            .repetition_penalty(1.2)
            .stop("</s>");
        assert_eq!(
            wire(&TgiRequest::new("Hello", &params)),
            json!({
                "inputs": "Hello",
                "parameters": {
                    "max_new_tokens": 64,
                    "repetition_penalty": 1.2,
                    "stop": ["</s>"],
                    "do_sample": false,
                    "return_full_text": false
                }
            })
        );
    }

    #[test]
    fn sampling_request_sends_temperature_and_do_sample() {
        let params = GenerationParams::default()
            .temperature(0.7)
            .top_p(0.95)
            .top_k(50)
            .seed(42)
            .return_full_text(true);
        assert_eq!(
            wire(&TgiRequest::new("Once upon a time", &params)),
            json!({
                "inputs": "Once upon a time",
                "parameters": {
                    "max_new_tokens": 256,
                    "temperature": 0.7,
                    "top_p": 0.95,
                    "top_k": 50,
                    "seed": 42,
                    "do_sample": true,
                    "return_full_text": true
                }
            })
        );
    }

    #[test]
    fn values_tgi_rejects_are_left_out() {
        let params = GenerationParams::default()
            .temperature(1.0)
            .top_p(1.0)
            .top_k(0);
        assert_eq!(
            wire(&TgiRequest::new("x", &params))["parameters"],
            json!({"max_new_tokens": 256, "temperature": 1.0, "do_sample": true, "return_full_text": false})
        );
    }

    #[test]
    fn server_side_accepts_any_subset_of_parameters() {
        let request: TgiRequest = serde_json::from_str(r#"{"inputs": "hi"}"#).unwrap();
        assert_eq!(request.inputs, "hi");
        assert_eq!(request.parameters, TgiParameters::default());

        let request: TgiRequest = serde_json::from_str(
            r#"{"inputs": "hi", "parameters": {"temperature": 0.5, "stop": ["\n"], "details": true, "truncate": 100}}"#,
        )
        .unwrap();
        assert_eq!(
            request.parameters,
            TgiParameters {
                temperature: Some(0.5),
                stop: vec!["\n".to_owned()],
                ..TgiParameters::default()
            }
        );
        // What the client sends, the server reads back unchanged.
        let sent = TgiRequest::new("p", &GenerationParams::default().temperature(0.25).top_k(5));
        let received: TgiRequest =
            serde_json::from_slice(&serde_json::to_vec(&sent).unwrap()).unwrap();
        assert_eq!(received, sent);
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
