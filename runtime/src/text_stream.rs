//! `TextStream`: what a streaming handler returns, text sent to the client as it is produced.
//!
//! A handler whose return type is spelled `TextStream` (or `pluto::Result<TextStream>`) is a
//! streaming function: `#[resource]` and the deducer read that from the signature, so the
//! function's URL is deployed in response-streaming mode. See `docs/runtime-contract.md`.

use futures_util::{Stream, TryStreamExt};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Text a handler sends as it is produced: each `Ok` item is a chunk the client receives at
/// once; an `Err` item ends the response with an error. Return it from a function:
///
/// ```no_run
/// use pluto::chain::{Llm, SageMakerLlm};
/// use pluto::{SageMaker, TextStream, resource};
///
/// #[resource(sagemaker(image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04"))]
/// fn llama() -> SageMaker;
///
/// #[resource(function(url = "public"))]
/// async fn complete(prompt: String) -> pluto::Result<TextStream> {
///     let tokens = SageMakerLlm::new(llama()).stream(&prompt, &Default::default()).await?;
///     Ok(TextStream::from(tokens))
/// }
/// # fn main() {}
/// ```
///
/// An error returned before the stream (the `?` above), or a first item that is an `Err`, is
/// answered like a buffered handler's error, with its HTTP status; after the first chunk the
/// status is sent, so an error ends the body and is reported in Lambda's error trailers.
pub struct TextStream {
    inner: Pin<Box<dyn Stream<Item = Result<String, crate::Error>> + Send>>,
}

impl TextStream {
    /// The chunks of `stream`: any stream of `Result`s of text (`String`, `&'static str`, ...)
    /// and errors (anything `?` converts into [`pluto::Error`](crate::Error)).
    pub fn new<S, T, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Into<String> + 'static,
        E: Into<crate::Error> + 'static,
    {
        Self {
            inner: Box::pin(stream.map_ok(Into::into).map_err(Into::into)),
        }
    }

    /// A stream of one chunk.
    pub fn once(text: impl Into<String>) -> Self {
        let text: String = text.into();
        Self::new(futures_util::stream::once(async move {
            Ok::<_, crate::Error>(text)
        }))
    }

    /// A stream of no chunks: an empty answer.
    pub fn empty() -> Self {
        Self::new(futures_util::stream::empty::<Result<String, crate::Error>>())
    }
}

impl Stream for TextStream {
    type Item = Result<String, crate::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl From<crate::chain::TokenStream> for TextStream {
    /// The tokens of a model or chain, as they are generated.
    fn from(tokens: crate::chain::TokenStream) -> Self {
        Self::new(tokens)
    }
}

impl fmt::Debug for TextStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextStream").finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::chain::ChainError;
    use futures_util::StreamExt;

    async fn items(stream: TextStream) -> Vec<Result<String, String>> {
        stream
            .map(|item| item.map_err(|error| error.to_string()))
            .collect()
            .await
    }

    #[tokio::test]
    async fn constructors_yield_their_chunks() {
        assert_eq!(items(TextStream::once("hi")).await, [Ok("hi".to_owned())]);
        assert!(items(TextStream::empty()).await.is_empty());
        let mixed = futures_util::stream::iter([Ok("a"), Err(std::io::Error::other("boom"))]);
        assert_eq!(
            items(TextStream::new(mixed)).await,
            [Ok("a".to_owned()), Err("boom".to_owned())]
        );
        let tokens: crate::chain::TokenStream = Box::pin(futures_util::stream::iter([
            Ok(" Par".to_owned()),
            Err(ChainError::ModelReported {
                message: "overloaded".to_owned(),
                error_type: None,
            }),
        ]));
        assert_eq!(
            items(TextStream::from(tokens)).await,
            [
                Ok(" Par".to_owned()),
                Err("the model returned an error: overloaded".to_owned())
            ]
        );
        assert_eq!(format!("{:?}", TextStream::empty()), "TextStream { .. }");
    }
}
