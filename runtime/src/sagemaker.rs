//! `SageMaker`: the handle of a SageMaker inference endpoint (`sagemaker:InvokeEndpoint`), with
//! buffered answers ([`SageMaker::invoke_raw`]) and streamed ones ([`SageMaker::invoke_stream`],
//! `InvokeEndpointWithResponseStream`, the same IAM action).

use crate::client::{describe_sdk_error, physical_name, sagemaker_runtime};
use crate::error::ClientError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::ResponseStream;
use pluto_model::Operation;
use pluto_spec::ResourceKind;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::pin::Pin;

/// The body of a streamed answer ([`SageMaker::invoke_stream`]): the bytes of each `PayloadPart`
/// as the endpoint sends them (split anywhere, even inside a UTF-8 character), then the end.
/// A failure the endpoint reports mid-stream (`ModelStreamError`, `InternalStreamFailure`) is an
/// `Err` item, after which the stream ends. Dropping the stream closes the HTTP connection, which
/// tells the endpoint to stop generating.
pub type PayloadStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<Vec<u8>, ClientError>> + Send + 'static>>;

/// A SageMaker endpoint declared with `#[resource(sagemaker(...))] fn name() -> SageMaker;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SageMaker {
    name: &'static str,
}

/// A request to [`SageMaker::invoke_raw`]: bytes plus the headers SageMaker forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// The request body.
    pub body: Vec<u8>,
    /// Its MIME type, e.g. `application/json`.
    pub content_type: String,
    /// The MIME type wanted back, if any.
    pub accept: Option<String>,
    /// `X-Amzn-SageMaker-Custom-Attributes`, e.g. `accept_eula=true`.
    pub custom_attributes: Option<String>,
}

impl RawRequest {
    /// A JSON request with no custom attributes.
    pub fn json(body: Vec<u8>) -> Self {
        Self {
            body,
            content_type: "application/json".to_owned(),
            accept: Some("application/json".to_owned()),
            custom_attributes: None,
        }
    }
}

/// The answer of [`SageMaker::invoke_raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The response body.
    pub body: Vec<u8>,
    /// Its MIME type, when the container said.
    pub content_type: Option<String>,
    /// Custom attributes the container returned.
    pub custom_attributes: Option<String>,
}

impl SageMaker {
    #[doc(hidden)]
    pub const fn __declared(name: &'static str) -> Self {
        Self { name }
    }

    /// The logical name of the endpoint in the app.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The endpoint's name in AWS, as deployment set it for this function.
    pub fn endpoint_name(&self) -> Result<String, ClientError> {
        physical_name(ResourceKind::Sagemaker, self.name)
    }

    /// Sends `input` as JSON and returns the JSON answer.
    pub async fn invoke<T: Serialize + ?Sized>(
        &self,
        input: &T,
    ) -> Result<serde_json::Value, ClientError> {
        self.invoke_as(input).await
    }

    /// Sends `input` as JSON and decodes the JSON answer into `R`.
    pub async fn invoke_as<T, R>(&self, input: &T) -> Result<R, ClientError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let body = serde_json::to_vec(input)
            .map_err(|source| self.json_error("encoding the request", source))?;
        let response = self.invoke_raw(RawRequest::json(body)).await?;
        serde_json::from_slice(&response.body)
            .map_err(|source| self.json_error("decoding the answer", source))
    }

    /// Sends raw bytes with the given content type and custom attributes.
    pub async fn invoke_raw(&self, request: RawRequest) -> Result<RawResponse, ClientError> {
        let endpoint = self.endpoint_name()?;
        let output = sagemaker_runtime()
            .await
            .invoke_endpoint()
            .endpoint_name(endpoint)
            .body(Blob::new(request.body))
            .content_type(request.content_type)
            .set_accept(request.accept)
            .set_custom_attributes(request.custom_attributes)
            .send()
            .await
            .map_err(|error| self.aws_error(&error))?;
        Ok(RawResponse {
            body: output.body.map(Blob::into_inner).unwrap_or_default(),
            content_type: output.content_type,
            custom_attributes: output.custom_attributes,
        })
    }

    /// Sends raw bytes and streams the answer (`InvokeEndpointWithResponseStream`): the call
    /// returns once the endpoint has accepted the request, and the [`PayloadStream`] yields the
    /// body's parts as they are generated. A TGI container streams when the request's JSON has
    /// `"stream": true`; its parts are server-sent events, which
    /// [`chain::SageMakerLlm`](crate::chain::SageMakerLlm) decodes.
    pub async fn invoke_stream(&self, request: RawRequest) -> Result<PayloadStream, ClientError> {
        let endpoint = self.endpoint_name()?;
        let output = sagemaker_runtime()
            .await
            .invoke_endpoint_with_response_stream()
            .endpoint_name(endpoint)
            .body(Blob::new(request.body))
            .content_type(request.content_type)
            .set_accept(request.accept)
            .set_custom_attributes(request.custom_attributes)
            .send()
            .await
            .map_err(|error| self.aws_error(&error))?;
        let handle = *self;
        let parts = futures_util::stream::unfold(Some(output.body), move |receiver| async move {
            let mut receiver = receiver?;
            loop {
                match receiver.recv().await {
                    Ok(Some(ResponseStream::PayloadPart(part))) => {
                        let bytes = part.bytes.map(Blob::into_inner).unwrap_or_default();
                        if !bytes.is_empty() {
                            return Some((Ok(bytes), Some(receiver)));
                        }
                    }
                    // Event kinds newer than this SDK carry no payload bytes.
                    Ok(Some(_)) => {}
                    Ok(None) => return None,
                    Err(error) => return Some((Err(handle.aws_error(&error)), None)),
                }
            }
        });
        Ok(Box::pin(parts))
    }

    fn aws_error(&self, error: &(dyn std::error::Error + 'static)) -> ClientError {
        ClientError::Aws {
            kind: ResourceKind::Sagemaker,
            resource: self.name.to_owned(),
            operation: Operation::SagemakerInvoke.iam_action().unwrap_or_default(),
            message: describe_sdk_error(error),
        }
    }

    fn json_error(&self, context: &str, source: serde_json::Error) -> ClientError {
        ClientError::Json {
            kind: ResourceKind::Sagemaker,
            resource: self.name.to_owned(),
            context: context.to_owned(),
            source,
        }
    }
}
