//! Handler dispatch: one app binary serves any declared function, selected by `PLUTO_HANDLER`.
//!
//! `#[resource(function(...))]` registers each handler at compile time (with `inventory`). Inside
//! Lambda, [`start`] runs the Runtime API loop (our own, on `lambda_runtime_api_client`: see the
//! `runtime_api` module for why) and hands every event to [`handle`], which accepts two kinds of
//! event:
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
//! A handler returning [`TextStream`] streams its answer. Called through its URL, the response is
//! sent in Lambda's response-streaming mode as the handler yields it (the `streaming` module:
//! server-sent events or plain text, errors after the first chunk in trailers); invoked directly,
//! the joined text is returned as a JSON string, and a stream error is a function error
//! `Pluto.StreamError`.
//!
//! A panicking handler fails only its own request: the process goes on serving.

mod args;
mod runtime_api;
mod streaming;
mod url;

use crate::TextStream;
use args::ArgsError;
use futures_util::FutureExt;
use futures_util::StreamExt;
use pluto_spec::contract::HANDLER_ENV;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

pub use args::ArgumentValues;

/// The future a registered handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<HandlerValue, InvocationError>>>>;

/// What a handler answered: a JSON value, or a stream of text.
#[derive(Debug)]
pub enum HandlerValue {
    /// A buffered handler's result, encoded.
    Json(Value),
    /// A streaming handler's [`TextStream`].
    Stream(TextStream),
}

/// A declared function as registered by `#[resource(function(...))]`.
#[derive(Debug)]
pub struct FunctionRegistration {
    /// Logical name.
    pub name: &'static str,
    /// Path of the Rust function, e.g. `my_app::chat`.
    pub rust_path: &'static str,
    /// Parameters in order.
    pub params: &'static [Param],
    /// Whether the handler returns a [`TextStream`] (its answer streams).
    pub streams: bool,
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
    /// A streaming handler's stream failed (HTTP 500 when no text was sent yet).
    StreamFailed(String),
}

impl InvocationError {
    /// The HTTP status a Function URL answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::PayloadTooLarge(_) => 413,
            Self::Handler { status, .. } => *status,
            Self::Panicked(_) | Self::BadOutput(_) | Self::StreamFailed(_) => 500,
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
            Self::StreamFailed(_) => "Pluto.StreamError",
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        match self {
            Self::BadRequest(message)
            | Self::PayloadTooLarge(message)
            | Self::Handler { message, .. }
            | Self::Panicked(message)
            | Self::BadOutput(message)
            | Self::StreamFailed(message) => message,
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
        match run(function, args).await? {
            HandlerValue::Json(value) => Ok(value),
            HandlerValue::Stream(stream) => join_stream(function, stream)
                .await
                .map(Value::String)
                .map_err(|error| InvocationError::StreamFailed(error.message().to_owned())),
        }
    }
}

/// The next non-empty chunk of a handler's stream; an error the stream yields becomes
/// [`InvocationError::Handler`] (with the status of an [`HttpError`]), a panic while polling it
/// [`InvocationError::Panicked`].
async fn next_chunk(
    function: &'static FunctionRegistration,
    stream: &mut TextStream,
) -> Option<Result<String, InvocationError>> {
    loop {
        match AssertUnwindSafe(stream.next()).catch_unwind().await {
            Ok(Some(Ok(text))) if text.is_empty() => {}
            Ok(Some(Ok(text))) => return Some(Ok(text)),
            Ok(Some(Err(error))) => return Some(Err(InvocationError::from_handler_error(error))),
            Ok(None) => return None,
            Err(panic) => return Some(Err(panicked(function, panic.as_ref()))),
        }
    }
}

/// A handler's whole stream, joined; its first error.
async fn join_stream(
    function: &'static FunctionRegistration,
    mut stream: TextStream,
) -> Result<String, InvocationError> {
    let mut text = String::new();
    while let Some(chunk) = next_chunk(function, &mut stream).await {
        text.push_str(&chunk?);
    }
    Ok(text)
}

/// Runs a handler on decoded arguments, turning a panic into [`InvocationError::Panicked`].
async fn run(
    function: &'static FunctionRegistration,
    args: ArgumentValues,
) -> Result<HandlerValue, InvocationError> {
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

/// [`start`], returning what went wrong instead of exiting. When the Runtime API is known
/// (`AWS_LAMBDA_RUNTIME_API`), a function that cannot start also reports it on
/// `/runtime/init/error`.
pub fn try_start() -> Result<(), StartError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").ok();
    let function = match selected_function().and_then(|function| {
        for variable in LAMBDA_ENVIRONMENT {
            if std::env::var_os(variable).is_none() {
                return Err(StartError::NotInLambda {
                    variable,
                    function: function.name.to_owned(),
                });
            }
        }
        Ok(function)
    }) {
        Ok(function) => function,
        Err(error) => {
            if let Some(client) = api.as_deref().and_then(|api| runtime_api::client(api).ok()) {
                runtime.block_on(async {
                    let report = runtime_api::post_init_error(&client, &error);
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), report).await;
                });
            }
            return Err(error);
        }
    };
    let client = runtime_api::client(api.as_deref().unwrap_or_default())?;
    runtime.block_on(runtime_api::serve(&client, function))
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
