//! The `Llm` trait (prompt in, text out, buffered or streamed) and `SageMakerLlm`, which
//! implements it on a SageMaker endpoint serving the Hugging Face TGI container. Its
//! `GenerationParams` are `pluto_model::llm`'s, shared with the simulator's local model.

use super::error::ChainError;
use super::stream::{self, EchoFilter, TokenStream};
use super::tgi::{TgiRequest, decode_tgi_stream, parse_tgi_response};
use crate::{RawRequest, SageMaker};
use std::future::Future;
use std::sync::Arc;

pub use pluto_model::llm::GenerationParams;

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

    /// Generates the continuation of `prompt` as a stream of text chunks, sent as the model
    /// produces them; joined, they are what [`Llm::generate`] returns. The future resolves once
    /// the model has accepted the request (errors before that are its `Err`); later failures
    /// are `Err` items of the stream.
    ///
    /// The default calls [`Llm::generate`] and yields its answer as one chunk.
    fn stream(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> impl Future<Output = Result<TokenStream, ChainError>> + Send {
        let generated = self.generate(prompt, params);
        async move { Ok(stream::once(generated.await?)) }
    }
}

impl<L: Llm + ?Sized> Llm for &L {
    fn generate(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> impl Future<Output = Result<String, ChainError>> + Send {
        (**self).generate(prompt, params)
    }

    fn stream(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> impl Future<Output = Result<TokenStream, ChainError>> + Send {
        (**self).stream(prompt, params)
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

    fn stream(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> impl Future<Output = Result<TokenStream, ChainError>> + Send {
        (**self).stream(prompt, params)
    }
}

/// An [`Llm`] on a SageMaker endpoint serving the Hugging Face TGI container
/// (`huggingface-pytorch-tgi-inference`), e.g. TinyLlama or Llama 2 deployed from JumpStart.
///
/// It sends [`TgiRequest`] JSON through [`SageMaker::invoke_raw`] and reads the answer with
/// [`parse_tgi_response`]. If the answer starts with the prompt (the container echoes it when
/// `return_full_text` is set), the prompt is removed, so [`Llm::generate`] always returns only
/// the continuation. [`Llm::stream`] sends the same request with `"stream": true` through
/// [`SageMaker::invoke_stream`] and decodes the container's server-sent events with
/// [`TgiStreamDecoder`](super::TgiStreamDecoder), dropping an echoed prompt across chunks too.
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

    /// The request [`Llm::stream`] sends for `prompt`: [`SageMakerLlm::request`]'s, with
    /// `"stream": true`, which makes the TGI container answer with server-sent events.
    pub fn stream_request(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> Result<RawRequest, ChainError> {
        let mut body =
            serde_json::to_value(TgiRequest::new(prompt, params)).map_err(ChainError::Encode)?;
        if let Some(fields) = body.as_object_mut() {
            fields.insert("stream".to_owned(), serde_json::Value::Bool(true));
        }
        let body = serde_json::to_vec(&body).map_err(ChainError::Encode)?;
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

    async fn stream(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> Result<TokenStream, ChainError> {
        let request = self.stream_request(prompt, params)?;
        let payload = self.endpoint.invoke_stream(request).await?;
        Ok(stream::filter(
            decode_tgi_stream(payload),
            EchoFilter::new(prompt),
        ))
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
    fn stream_request_asks_for_server_sent_events() {
        let llm = SageMakerLlm::new(SageMaker::__declared("llama"))
            .with_custom_attributes("accept_eula=true");
        let request = llm
            .stream_request("Hi", &GenerationParams::default().max_new_tokens(8))
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
            serde_json::json!({"inputs": "Hi", "stream": true, "parameters": {"max_new_tokens": 8, "do_sample": false, "return_full_text": false}})
        );
        // The simulator reads it as an ordinary request.
        let read: TgiRequest = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(read.inputs, "Hi");
    }

    #[tokio::test]
    async fn default_stream_is_the_generation_in_one_chunk() {
        use futures_util::StreamExt;
        struct Fixed(&'static str);
        impl Llm for Fixed {
            async fn generate(&self, _: &str, _: &GenerationParams) -> Result<String, ChainError> {
                Ok(self.0.to_owned())
            }
        }
        let params = GenerationParams::default();
        let chunks: Vec<String> = Fixed(" Paris.")
            .stream("?", &params)
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(chunks, [" Paris."]);
        let by_reference = &Fixed("");
        assert_eq!(
            by_reference
                .stream("?", &params)
                .await
                .unwrap()
                .count()
                .await,
            0
        );
        let shared = Arc::new(Fixed("x"));
        assert_eq!(shared.stream("?", &params).await.unwrap().count().await, 1);
    }

    #[test]
    fn echoed_prompt_is_stripped() {
        assert_eq!(strip_echo("Q: 2+2?\nA:", "Q: 2+2?\nA: 4".to_owned()), " 4");
        assert_eq!(strip_echo("Q: 2+2?\nA:", " 4".to_owned()), " 4");
        assert_eq!(strip_echo("", "text".to_owned()), "text");
        assert_eq!(strip_echo("Q: 2+2?\nA:", "Q: 2+2?".to_owned()), "Q: 2+2?");
    }
}
