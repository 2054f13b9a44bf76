//! `Function`: the handle of a declared function, to invoke it from another one
//! (`lambda:InvokeFunction`) or to learn its URL.

use crate::client::{describe_sdk_error, lambda, physical_name};
use crate::error::ClientError;
use aws_sdk_lambda::primitives::Blob;
use pluto_model::Operation;
use pluto_spec::ResourceKind;
use pluto_spec::contract::function_url_env_var;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A function declared with `#[resource(function(...))]`; get its handle with
/// `pluto::function!(rust_fn_name)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    name: &'static str,
}

impl Function {
    #[doc(hidden)]
    pub const fn __declared(name: &'static str) -> Self {
        Self { name }
    }

    /// The logical name of the function in the app.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The function's URL, when it has one and this function was given it.
    pub fn url(&self) -> Result<String, ClientError> {
        let env_var = function_url_env_var(self.name);
        match std::env::var(&env_var) {
            Ok(url) if !url.is_empty() => Ok(url),
            _ => Err(ClientError::NoUrl {
                resource: self.name.to_owned(),
                function: crate::client::current_function_description(),
                env_var,
            }),
        }
    }

    /// Invokes the function synchronously with `args` and returns its JSON result.
    ///
    /// `args` is a tuple of the arguments in order (`("hello",)`; a tuple is sent as a JSON array)
    /// or a map keyed by parameter names.
    pub async fn invoke<A: Serialize + ?Sized>(
        &self,
        args: &A,
    ) -> Result<serde_json::Value, ClientError> {
        self.invoke_as(args).await
    }

    /// Like [`Function::invoke`], decoding the result into `R`.
    pub async fn invoke_as<A, R>(&self, args: &A) -> Result<R, ClientError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let target = physical_name(ResourceKind::Function, self.name)?;
        let payload = serde_json::to_vec(args)
            .map_err(|source| self.json_error("encoding the arguments", source))?;
        let output = lambda()
            .await
            .invoke()
            .function_name(target)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|error| ClientError::Aws {
                kind: ResourceKind::Function,
                resource: self.name.to_owned(),
                operation: Operation::FunctionInvoke.iam_action().unwrap_or_default(),
                message: describe_sdk_error(&error),
            })?;
        let body = output.payload.map(Blob::into_inner).unwrap_or_default();
        if let Some(error_kind) = output.function_error {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct ErrorPayload {
                error_type: Option<String>,
                error_message: Option<String>,
            }
            let reported: Option<ErrorPayload> = serde_json::from_slice(&body).ok();
            let (error_type, message) = match reported {
                Some(payload) => (
                    payload.error_type.unwrap_or(error_kind),
                    payload.error_message.unwrap_or_default(),
                ),
                None => (error_kind, String::from_utf8_lossy(&body).into_owned()),
            };
            return Err(ClientError::FunctionFailed {
                resource: self.name.to_owned(),
                error_type,
                message,
            });
        }
        serde_json::from_slice(&body)
            .map_err(|source| self.json_error("decoding the result", source))
    }

    fn json_error(&self, context: &str, source: serde_json::Error) -> ClientError {
        ClientError::Json {
            kind: ResourceKind::Function,
            resource: self.name.to_owned(),
            context: context.to_owned(),
            source,
        }
    }
}
