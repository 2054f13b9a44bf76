//! Handler dispatch: one app binary serves any declared function, selected by `PLUTO_HANDLER`.
//!
//! `#[resource(function(...))]` registers each handler at compile time (with `inventory`). Inside
//! Lambda, [`start`] runs the `lambda_runtime` loop and hands every event to [`handle`], which
//! accepts two kinds of event:
//!
//! - **Function URL requests** (payload format 2.0). Arguments come from the body, a JSON array
//!   in parameter order (`["hi"]`, as Pluto does) or a JSON object keyed by parameter names
//!   (`{"query": "hi"}`); a single-parameter function also takes a bare JSON scalar. With no body,
//!   they come from the query string (`?query=hi`; a value is taken as a string when the parameter
//!   accepts one, else parsed as JSON). The answer is the JSON result with status 200, or
//!   `{"error": "..."}` with 400 (not JSON, wrong arity, wrong types, unknown or missing
//!   arguments), 413 (body over 6 MB), 500 (the handler failed or panicked) or the status of an
//!   [`HttpError`] the handler returned.
//! - **Direct invocations** (`Function::invoke`, `aws lambda invoke`): the payload is the
//!   arguments, as above; the result is returned as is, and failures are Lambda function errors
//!   whose `errorType` starts with `Pluto.`.
//!
//! A panicking handler fails only its own request: the process goes on serving.

mod args;
mod url;

use args::ArgsError;
use futures_util::FutureExt;
use pluto_spec::contract::HANDLER_ENV;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

pub use args::ArgumentValues;

/// The future a registered handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, InvocationError>>>>;

/// A declared function as registered by `#[resource(function(...))]`.
#[derive(Debug)]
pub struct FunctionRegistration {
    /// Logical name.
    pub name: &'static str,
    /// Path of the Rust function, e.g. `my_app::chat`.
    pub rust_path: &'static str,
    /// Parameters in order.
    pub params: &'static [Param],
    /// Decodes the arguments, runs the function, encodes its output.
    pub call: fn(ArgumentValues) -> HandlerFuture,
}

/// One parameter of a registered function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Name, as requests spell it.
    pub name: &'static str,
    /// Rust type, as written in the source.
    pub ty: &'static str,
}

inventory::collect!(FunctionRegistration);

/// Every function registered in this binary.
pub fn registered() -> impl Iterator<Item = &'static FunctionRegistration> {
    inventory::iter::<FunctionRegistration>.into_iter()
}

/// The registered function with this logical name.
pub fn find(name: &str) -> Option<&'static FunctionRegistration> {
    registered().find(|registration| registration.name == name)
}

/// An error a handler returns to choose the HTTP status of a Function URL response
/// (`Err(HttpError::new(404, "no such session"))?`). Other errors answer 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    status: u16,
    message: String,
}

impl HttpError {
    /// An error answered with `status` (clamped to 400..=599) and `{"error": message}`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status: status.clamp(400, 599),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvocationError {
    /// The request could not be turned into arguments (HTTP 400).
    BadRequest(String),
    /// The request body is larger than Lambda accepts (HTTP 413).
    PayloadTooLarge(String),
    /// The handler returned an error (HTTP 500, or the status of an [`HttpError`]).
    Handler {
        /// HTTP status to answer with.
        status: u16,
        /// The error and its causes.
        message: String,
    },
    /// The handler panicked (HTTP 500).
    Panicked(String),
    /// The handler's result could not be encoded, or is too large (HTTP 500).
    BadOutput(String),
}

impl InvocationError {
    /// The HTTP status a Function URL answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::PayloadTooLarge(_) => 413,
            Self::Handler { status, .. } => *status,
            Self::Panicked(_) | Self::BadOutput(_) => 500,
        }
    }

    /// The `errorType` of a direct invocation's function error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "Pluto.BadRequest",
            Self::PayloadTooLarge(_) => "Pluto.PayloadTooLarge",
            Self::Handler { .. } => "Pluto.HandlerError",
            Self::Panicked(_) => "Pluto.Panic",
            Self::BadOutput(_) => "Pluto.BadOutput",
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        match self {
            Self::BadRequest(message)
            | Self::PayloadTooLarge(message)
            | Self::Handler { message, .. }
            | Self::Panicked(message)
            | Self::BadOutput(message) => message,
        }
    }

    /// An error returned by a handler: its status if it is an [`HttpError`], else 500.
    pub fn from_handler_error(error: crate::Error) -> Self {
        let status = error
            .downcast_ref::<HttpError>()
            .map_or(500, HttpError::status);
        let message = error_chain(&*error);
        Self::Handler { status, message }
    }
}

impl fmt::Display for InvocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for InvocationError {}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(error: InvocationError) -> Self {
        Self {
            error_type: error.error_type().to_owned(),
            error_message: error.message().to_owned(),
        }
    }
}

impl From<ArgsError> for InvocationError {
    fn from(error: ArgsError) -> Self {
        match error {
            ArgsError::BadRequest(message) => Self::BadRequest(message),
            ArgsError::TooLarge(message) => Self::PayloadTooLarge(message),
        }
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Handles one Lambda event for `function`: a Function URL request (answered with an HTTP
/// response object, errors included) or a direct invocation (answered with the result, or an
/// [`InvocationError`]).
pub async fn handle(
    function: &'static FunctionRegistration,
    event: Value,
) -> Result<Value, InvocationError> {
    if url::is_function_url_event(&event) {
        Ok(url::handle_url_event(function, event).await)
    } else {
        let args = ArgumentValues::from_json(function, event)?;
        run(function, args).await
    }
}

/// Runs a handler on decoded arguments, turning a panic into [`InvocationError::Panicked`].
async fn run(
    function: &'static FunctionRegistration,
    args: ArgumentValues,
) -> Result<Value, InvocationError> {
    let call = function.call;
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| call(args))) {
        Ok(future) => future,
        Err(panic) => return Err(panicked(function, panic.as_ref())),
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(panicked(function, panic.as_ref())),
    }
}

fn panicked(
    function: &FunctionRegistration,
    panic: &(dyn std::any::Any + Send),
) -> InvocationError {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    InvocationError::Panicked(format!("function `{}` panicked: {detail}", function.name))
}

/// Why [`start`] could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// `PLUTO_HANDLER` is not set.
    #[error(
        "{HANDLER_ENV} is not set, so this binary does not know which function to serve. It is a \
         Pluto app with functions: {available}. Run it with `cargo pluto run` (locally) or \
         `cargo pluto deploy` (AWS), which set {HANDLER_ENV} and the Lambda environment."
    )]
    NoHandlerSelected {
        /// The functions this binary has.
        available: String,
    },
    /// `PLUTO_HANDLER` names a function this binary does not have.
    #[error("{HANDLER_ENV} is `{requested}`, but this binary's functions are: {available}")]
    UnknownHandler {
        /// The requested name.
        requested: String,
        /// The functions this binary has.
        available: String,
    },
    /// Two functions share a name.
    #[error(
        "two functions are named `{name}` ({first} and {second}); give one of them another `name = \"...\"`"
    )]
    DuplicateName {
        /// The shared name.
        name: String,
        /// One Rust function.
        first: String,
        /// The other.
        second: String,
    },
    /// The Lambda environment is incomplete.
    #[error(
        "{variable} is not set: the function `{function}` runs inside AWS Lambda or `cargo pluto run`, \
         which provide the Lambda Runtime API"
    )]
    NotInLambda {
        /// The missing variable.
        variable: &'static str,
        /// The selected function.
        function: String,
    },
    /// The async runtime could not start.
    #[error("could not start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// The Lambda runtime loop stopped with an error.
    #[error("the Lambda runtime stopped: {0}")]
    Lambda(String),
}

const LAMBDA_ENVIRONMENT: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Serves the function named by `PLUTO_HANDLER` through the Lambda Runtime API, forever.
///
/// Call it from `main`. It reports a missing or unknown function, duplicate names and a missing
/// Lambda environment on stderr and exits with status 1.
pub fn start() {
    if let Err(error) = try_start() {
        eprintln!("pluto: {error}");
        std::process::exit(1);
    }
}

/// [`start`], returning what went wrong instead of exiting.
pub fn try_start() -> Result<(), StartError> {
    let function = selected_function()?;
    for variable in LAMBDA_ENVIRONMENT {
        if std::env::var_os(variable).is_none() {
            return Err(StartError::NotInLambda {
                variable,
                function: function.name.to_owned(),
            });
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let service =
            lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| {
                handle(function, event.payload)
            });
        lambda_runtime::run(service)
            .await
            .map_err(|error| StartError::Lambda(error.to_string()))
    })
}

fn selected_function() -> Result<&'static FunctionRegistration, StartError> {
    let mut all: Vec<&'static FunctionRegistration> = registered().collect();
    all.sort_by_key(|registration| (registration.name, registration.rust_path));
    for pair in all.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(StartError::DuplicateName {
                name: pair[0].name.to_owned(),
                first: pair[0].rust_path.to_owned(),
                second: pair[1].rust_path.to_owned(),
            });
        }
    }
    let available = if all.is_empty() {
        "(none: declare one with #[resource(function)])".to_owned()
    } else {
        all.iter()
            .map(|registration| registration.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match std::env::var(HANDLER_ENV) {
        Ok(requested) if !requested.is_empty() => {
            find(&requested).ok_or(StartError::UnknownHandler {
                requested,
                available,
            })
        }
        _ => Err(StartError::NoHandlerSelected { available }),
    }
}
