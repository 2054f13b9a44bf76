//! The `Llm` trait (prompt in, text out), its `GenerationParams`, and `SageMakerLlm`, which
//! implements it on a SageMaker endpoint serving the Hugging Face TGI container.

use super::error::ChainError;
use super::tgi::{TgiRequest, parse_tgi_response};
use crate::{RawRequest, SageMaker};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;

/// A text-completion model: a prompt in, the generated continuation out.
///
/// Implement it with an `async fn` whose future is `Send`:
///
/// ```
/// use pluto::chain::{ChainError, GenerationParams, Llm};
///
/// /// Answers every prompt with its length.
/// struct Counter;
///
/// impl Llm for Counter {
///     async fn generate(&self, prompt: &str, _params: &GenerationParams) -> Result<String, ChainError> {
///         Ok(prompt.len().to_string())
///     }
/// }
/// ```
pub trait Llm {
    /// Generates the continuation of `prompt` (without the prompt itself).
    fn generate(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> impl Future<Output = Result<String, ChainError>> + Send;
}

impl<L: Llm + ?Sized> Llm for &L {
    fn generate(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> impl Future<Output = Result<String, ChainError>> + Send {
        (**self).generate(prompt, params)
    }
}

impl<L: Llm + ?Sized> Llm for Arc<L> {
    fn generate(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> impl Future<Output = Result<String, ChainError>> + Send {
        (**self).generate(prompt, params)
    }
}

/// How to generate: length, sampling and stop sequences.
///
/// The default generates up to 256 new tokens greedily (temperature 0: always the most likely
/// token, so the same prompt gives the same answer). Set a temperature above 0 to sample.
///
/// ```
/// use pluto::chain::GenerationParams;
///
/// let params = GenerationParams::default().max_new_tokens(64).temperature(0.7).top_p(0.9).stop("\n\n");
/// assert!(!params.is_greedy());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationParams {
    /// The most tokens to generate.
    pub max_new_tokens: u32,
    /// Sampling temperature; 0 (or less) means greedy decoding.
    pub temperature: f32,
    /// Nucleus sampling: sample among the most likely tokens whose probabilities add up to this.
    pub top_p: Option<f32>,
    /// Sample among this many most likely tokens.
    pub top_k: Option<u32>,
    /// Penalty for repeating tokens (1.0 = none).
    pub repetition_penalty: Option<f32>,
    /// Stop generating at any of these strings.
    pub stop: Vec<String>,
    /// Seed of the sampler, for reproducible sampling.
    pub seed: Option<u64>,
    /// Asks the container to return the prompt followed by the generated text. [`SageMakerLlm`]
    /// strips the echoed prompt either way.
    pub return_full_text: bool,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 256,
            temperature: 0.0,
            top_p: None,
            top_k: None,
            repetition_penalty: None,
            stop: Vec::new(),
            seed: None,
            return_full_text: false,
        }
    }
}

impl GenerationParams {
    /// Sets the most tokens to generate.
    pub fn max_new_tokens(mut self, max_new_tokens: u32) -> Self {
        self.max_new_tokens = max_new_tokens;
        self
    }

    /// Sets the sampling temperature (0 for greedy decoding).
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = temperature;
        self
    }

    /// Sets nucleus sampling's probability mass.
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets how many most likely tokens to sample among.
    pub fn top_k(mut self, top_k: u32) -> Self {
        self.top_k = Some(top_k);
        self
    }

    /// Sets the repetition penalty.
    pub fn repetition_penalty(mut self, penalty: f32) -> Self {
        self.repetition_penalty = Some(penalty);
        self
    }

    /// Adds a stop sequence.
    pub fn stop(mut self, sequence: impl Into<String>) -> Self {
        self.stop.push(sequence.into());
        self
    }

    /// Sets the sampler's seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets whether the container should echo the prompt.
    pub fn return_full_text(mut self, return_full_text: bool) -> Self {
        self.return_full_text = return_full_text;
        self
    }

    /// Whether these parameters ask for greedy decoding (temperature 0, negative or NaN).
    pub fn is_greedy(&self) -> bool {
        self.temperature.is_nan() || self.temperature <= 0.0
    }
}

/// An [`Llm`] on a SageMaker endpoint serving the Hugging Face TGI container
/// (`huggingface-pytorch-tgi-inference`), e.g. TinyLlama or Llama 2 deployed from JumpStart.
///
/// It sends [`TgiRequest`] JSON through [`SageMaker::invoke_raw`] and reads the answer with
/// [`parse_tgi_response`]. If the answer starts with the prompt (the container echoes it when
/// `return_full_text` is set), the prompt is removed, so [`Llm::generate`] always returns only
/// the continuation.
///
/// ```no_run
/// use pluto::chain::{GenerationParams, Llm, SageMakerLlm};
///
/// // `llama` is a `SageMaker` handle, from a `#[resource(sagemaker(...))] fn llama() -> SageMaker;`.
/// # async fn example(llama: pluto::SageMaker) -> Result<(), pluto::chain::ChainError> {
/// let llm = SageMakerLlm::new(llama).with_custom_attributes("accept_eula=true");
/// let text = llm.generate("The capital of France is", &GenerationParams::default()).await?;
/// # let _ = text;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SageMakerLlm {
    endpoint: SageMaker,
    custom_attributes: Option<String>,
}

impl SageMakerLlm {
    /// A model on `endpoint`.
    pub fn new(endpoint: SageMaker) -> Self {
        Self {
            endpoint,
            custom_attributes: None,
        }
    }

    /// Sends `X-Amzn-SageMaker-Custom-Attributes` with each request, e.g. `accept_eula=true`
    /// for Meta's Llama models.
    pub fn with_custom_attributes(mut self, attributes: impl Into<String>) -> Self {
        self.custom_attributes = Some(attributes.into());
        self
    }

    /// The endpoint.
    pub fn endpoint(&self) -> SageMaker {
        self.endpoint
    }

    /// The request [`Llm::generate`] sends for `prompt`.
    pub fn request(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> Result<RawRequest, ChainError> {
        let body =
            serde_json::to_vec(&TgiRequest::new(prompt, params)).map_err(ChainError::Encode)?;
        Ok(RawRequest {
            custom_attributes: self.custom_attributes.clone(),
            ..RawRequest::json(body)
        })
    }
}

impl Llm for SageMakerLlm {
    async fn generate(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> Result<String, ChainError> {
        let request = self.request(prompt, params)?;
        let response = self.endpoint.invoke_raw(request).await?;
        let text = parse_tgi_response(&response.body)?;
        Ok(strip_echo(prompt, text))
    }
}

/// `text` without a leading copy of `prompt`.
fn strip_echo(prompt: &str, mut text: String) -> String {
    if !prompt.is_empty() && text.starts_with(prompt) {
        text.drain(..prompt.len());
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_params_are_greedy_with_256_tokens() {
        let params = GenerationParams::default();
        assert_eq!(params.max_new_tokens, 256);
        assert!(params.is_greedy());
        assert!(!params.return_full_text);
        assert!(params.stop.is_empty());
        assert!(
            GenerationParams::default()
                .temperature(f32::NAN)
                .is_greedy()
        );
        assert!(GenerationParams::default().temperature(-1.0).is_greedy());
        assert!(!GenerationParams::default().temperature(0.1).is_greedy());
    }

    #[test]
    fn setters_set_fields() {
        let params = GenerationParams::default()
            .max_new_tokens(10)
            .temperature(0.5)
            .top_p(0.9)
            .top_k(40)
            .repetition_penalty(1.1)
            .stop("</s>")
            .stop("\n\n")
            .seed(7)
            .return_full_text(true);
        assert_eq!(
            params,
            GenerationParams {
                max_new_tokens: 10,
                temperature: 0.5,
                top_p: Some(0.9),
                top_k: Some(40),
                repetition_penalty: Some(1.1),
                stop: vec!["</s>".to_owned(), "\n\n".to_owned()],
                seed: Some(7),
                return_full_text: true,
            }
        );
    }

    #[test]
    fn params_deserialize_with_defaults() {
        let params: GenerationParams = serde_json::from_str(r#"{"temperature": 0.5}"#).unwrap();
        assert_eq!(params, GenerationParams::default().temperature(0.5));
    }

    #[test]
    fn request_is_tgi_json_with_custom_attributes() {
        let llm = SageMakerLlm::new(SageMaker::__declared("llama"))
            .with_custom_attributes("accept_eula=true");
        assert_eq!(llm.endpoint().name(), "llama");
        let request = llm
            .request("Hi", &GenerationParams::default().max_new_tokens(8))
            .unwrap();
        assert_eq!(request.content_type, "application/json");
        assert_eq!(request.accept.as_deref(), Some("application/json"));
        assert_eq!(
            request.custom_attributes.as_deref(),
            Some("accept_eula=true")
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"inputs": "Hi", "parameters": {"max_new_tokens": 8, "do_sample": false, "return_full_text": false}})
        );
        let plain = SageMakerLlm::new(SageMaker::__declared("llama"));
        assert_eq!(
            plain
                .request("Hi", &GenerationParams::default())
                .unwrap()
                .custom_attributes,
            None
        );
    }

    #[test]
    fn echoed_prompt_is_stripped() {
        assert_eq!(strip_echo("Q: 2+2?\nA:", "Q: 2+2?\nA: 4".to_owned()), " 4");
        assert_eq!(strip_echo("Q: 2+2?\nA:", " 4".to_owned()), " 4");
        assert_eq!(strip_echo("", "text".to_owned()), "text");
        assert_eq!(strip_echo("Q: 2+2?\nA:", "Q: 2+2?".to_owned()), "Q: 2+2?");
    }
}
