//! `SageMaker`: the handle of a SageMaker inference endpoint (`sagemaker:InvokeEndpoint`).

use crate::client::{describe_sdk_error, physical_name, sagemaker_runtime};
use crate::error::ClientError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use pluto_model::Operation;
use pluto_spec::ResourceKind;
use serde::Serialize;
use serde::de::DeserializeOwned;

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
            .map_err(|error| ClientError::Aws {
                kind: ResourceKind::Sagemaker,
                resource: self.name.to_owned(),
                operation: Operation::SagemakerInvoke.iam_action().unwrap_or_default(),
                message: describe_sdk_error(&error),
            })?;
        Ok(RawResponse {
            body: output.body.map(Blob::into_inner).unwrap_or_default(),
            content_type: output.content_type,
            custom_attributes: output.custom_attributes,
        })
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
