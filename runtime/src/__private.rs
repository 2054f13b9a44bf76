//! Support for the code `#[resource]` generates. Not a public API: it changes without notice.

pub use crate::handler::{
    ArgumentValues, FunctionRegistration, HandlerFuture, HandlerValue, InvocationError, Param,
};
pub use inventory;
pub use serde_json::Value;

/// Handler argument types: anything serde can decode from JSON.
#[diagnostic::on_unimplemented(
    message = "handler argument type `{Self}` is not a serde type",
    label = "arguments are decoded from JSON, so this type must implement `serde::Deserialize`",
    note = "add `#[derive(serde::Deserialize)]` to the type, or use a type serde supports (String, numbers, Vec, ...)"
)]
pub trait HandlerArg: serde::de::DeserializeOwned {}

impl<T: serde::de::DeserializeOwned> HandlerArg for T {}

/// Handler result types: anything serde can encode as JSON.
#[diagnostic::on_unimplemented(
    message = "handler return type `{Self}` is not a serde type",
    label = "results are encoded as JSON, so this type must implement `serde::Serialize`",
    note = "add `#[derive(serde::Serialize)]` to the type, or return a type serde supports",
    note = "a streaming handler returns `pluto::TextStream` (or `pluto::Result<TextStream>`), spelled by that name: `#[resource]` reads the name to know the function streams"
)]
pub trait HandlerOutput: serde::Serialize {}

impl<T: serde::Serialize> HandlerOutput for T {}

/// Decodes argument `index`.
pub fn arg<T: HandlerArg>(args: &mut ArgumentValues, index: usize) -> Result<T, InvocationError> {
    args.take(index)
}

/// Encodes a handler's plain return value.
pub fn value_output<T: HandlerOutput>(value: T) -> Result<Value, InvocationError> {
    serde_json::to_value(value).map_err(|error| {
        InvocationError::BadOutput(format!("could not encode the result as JSON: {error}"))
    })
}

/// A streaming handler's plain `TextStream`.
pub fn stream_output(stream: crate::TextStream) -> Result<HandlerValue, InvocationError> {
    Ok(HandlerValue::Stream(stream))
}

/// A streaming handler's `Result<TextStream, E>`.
pub fn stream_result_output<E>(
    result: Result<crate::TextStream, E>,
) -> Result<HandlerValue, InvocationError>
where
    E: Into<crate::Error>,
{
    match result {
        Ok(stream) => Ok(HandlerValue::Stream(stream)),
        Err(error) => Err(InvocationError::from_handler_error(error.into())),
    }
}

/// Encodes a handler's `Result`.
pub fn result_output<T, E>(result: Result<T, E>) -> Result<Value, InvocationError>
where
    T: HandlerOutput,
    E: Into<crate::Error>,
{
    match result {
        Ok(value) => value_output(value),
        Err(error) => Err(InvocationError::from_handler_error(error.into())),
    }
}
