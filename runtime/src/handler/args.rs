//! Turning a request (JSON payload or query string) into the arguments of a handler.

use super::{FunctionRegistration, InvocationError, Param};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a request has no valid arguments.
#[derive(Debug)]
pub(crate) enum ArgsError {
    BadRequest(String),
    TooLarge(String),
}

#[derive(Debug)]
enum ArgValue {
    /// A JSON value from a body or payload.
    Json(Value),
    /// A query-string value: a string, or JSON text.
    Text(String),
    /// Not given: only `Option` (or `()`) parameters accept that.
    Missing,
}

/// The arguments of one invocation, one per parameter, decoded by the generated code.
#[derive(Debug)]
pub struct ArgumentValues {
    function: &'static FunctionRegistration,
    values: Vec<ArgValue>,
}

impl ArgumentValues {
    /// Arguments from a JSON payload: an array in parameter order, an object keyed by parameter
    /// names, `null` for none, or a bare scalar for a single-parameter function.
    pub(crate) fn from_json(
        function: &'static FunctionRegistration,
        payload: Value,
    ) -> Result<Self, ArgsError> {
        let params = function.params;
        let values = match payload {
            Value::Array(items) => {
                if items.len() != params.len() {
                    return Err(ArgsError::BadRequest(format!(
                        "`{}` takes {} but the request passed {} argument{}",
                        function.name,
                        describe_params(params),
                        items.len(),
                        if items.len() == 1 { "" } else { "s" },
                    )));
                }
                items.into_iter().map(ArgValue::Json).collect()
            }
            Value::Object(mut map) => {
                if let Some(unknown) = map
                    .keys()
                    .find(|key| !params.iter().any(|p| p.name == key.as_str()))
                {
                    return Err(ArgsError::BadRequest(format!(
                        "unknown argument `{unknown}`: `{}` takes {}",
                        function.name,
                        describe_params(params)
                    )));
                }
                params
                    .iter()
                    .map(|param| {
                        map.remove(param.name)
                            .map_or(ArgValue::Missing, ArgValue::Json)
                    })
                    .collect()
            }
            Value::Null => params.iter().map(|_| ArgValue::Missing).collect(),
            scalar if params.len() == 1 => vec![ArgValue::Json(scalar)],
            _ => {
                return Err(ArgsError::BadRequest(format!(
                    "expected a JSON array of arguments (e.g. [\"hi\"]) or an object keyed by \
                     parameter names; `{}` takes {}",
                    function.name,
                    describe_params(params)
                )));
            }
        };
        Ok(Self { function, values })
    }

    /// Arguments from query-string pairs, keyed by parameter names.
    pub(crate) fn from_query(
        function: &'static FunctionRegistration,
        pairs: Vec<(String, String)>,
    ) -> Result<Self, ArgsError> {
        let params = function.params;
        let mut values: Vec<ArgValue> = params.iter().map(|_| ArgValue::Missing).collect();
        for (key, value) in pairs {
            let Some(index) = params.iter().position(|p| p.name == key) else {
                return Err(ArgsError::BadRequest(format!(
                    "unknown query parameter `{key}`: `{}` takes {}",
                    function.name,
                    describe_params(params)
                )));
            };
            if !matches!(values[index], ArgValue::Missing) {
                return Err(ArgsError::BadRequest(format!(
                    "query parameter `{key}` is given twice"
                )));
            }
            values[index] = ArgValue::Text(value);
        }
        Ok(Self { function, values })
    }

    /// Decodes argument `index` into `T`. Used by the code `#[resource(function)]` generates.
    #[doc(hidden)]
    pub fn take<T: DeserializeOwned>(&mut self, index: usize) -> Result<T, InvocationError> {
        let param = self.function.params[index];
        let value = std::mem::replace(&mut self.values[index], ArgValue::Missing);
        let decoded = match value {
            ArgValue::Json(value) => T::deserialize(value).map_err(|error| error.to_string()),
            ArgValue::Text(text) => {
                T::deserialize(Value::String(text.clone())).or_else(|string_error| {
                    serde_json::from_str::<T>(&text).map_err(|_| string_error.to_string())
                })
            }
            ArgValue::Missing => {
                return T::deserialize(Value::Null).map_err(|_| {
                    InvocationError::BadRequest(format!(
                        "missing argument `{}` ({}) of `{}`",
                        param.name, param.ty, self.function.name
                    ))
                });
            }
        };
        decoded.map_err(|error| {
            InvocationError::BadRequest(format!(
                "argument `{}` (#{}) of `{}` should be {}: {error}",
                param.name,
                index + 1,
                self.function.name,
                param.ty
            ))
        })
    }
}

fn describe_params(params: &[Param]) -> String {
    match params {
        [] => "no arguments".to_owned(),
        _ => {
            let list = params
                .iter()
                .map(|p| format!("{}: {}", p.name, p.ty))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{} argument{} ({list})",
                params.len(),
                if params.len() == 1 { "" } else { "s" }
            )
        }
    }
}
