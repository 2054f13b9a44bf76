//! Errors of the resource clients.

use pluto_spec::ResourceKind;

/// An error from a resource handle (`KvStore`, `SageMaker`, `Function`, `Bucket`, `Secret`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The function running this code was not given access to the resource: deployment sets an
    /// environment variable for each resource a function is granted, and it is missing.
    #[error(
        "{function} uses {kind} `{resource}`, but was not given access to it ({env_var} is not set). \
         `cargo pluto run` and `cargo pluto deploy` grant each function the resources its code \
         reaches; if this call is reached through code the deducer cannot see, run `cargo pluto \
         deduce` to check the grants. Outside Pluto, set {env_var} to the resource's AWS name."
    )]
    NotGranted {
        /// The resource's kind.
        kind: ResourceKind,
        /// The resource's logical name.
        resource: String,
        /// Which function was running (`PLUTO_HANDLER`), or a description when none was.
        function: String,
        /// The variable that was missing.
        env_var: String,
    },
    /// The function reads the URL of a function whose URL it was not given.
    #[error(
        "{function} reads the URL of function `{resource}`, but {env_var} is not set: `{resource}` \
         may have no URL (url = \"none\"; `cargo pluto deduce` warns about that), or this `.url()` \
         call is reached through code the deducer cannot see (run `cargo pluto deduce` to check \
         the grants). Outside Pluto, set {env_var} to the function's URL."
    )]
    NoUrl {
        /// The function whose URL was asked for.
        resource: String,
        /// Which function was running (`PLUTO_HANDLER`), or a description when none was.
        function: String,
        /// The variable that was missing.
        env_var: String,
    },
    /// The AWS call failed.
    #[error("{operation} on {kind} `{resource}` failed: {message}")]
    Aws {
        /// The resource's kind.
        kind: ResourceKind,
        /// The resource's logical name.
        resource: String,
        /// The API operation, e.g. `dynamodb:GetItem`.
        operation: &'static str,
        /// The SDK's error with all its causes.
        message: String,
    },
    /// A value could not be turned into or read from JSON.
    #[error("{kind} `{resource}`: {context}: {source}")]
    Json {
        /// The resource's kind.
        kind: ResourceKind,
        /// The resource's logical name.
        resource: String,
        /// What was being converted.
        context: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// An invoked function ran and failed.
    #[error("function `{resource}` failed: {error_type}: {message}")]
    FunctionFailed {
        /// The invoked function's logical name.
        resource: String,
        /// The error type the function reported.
        error_type: String,
        /// The error message the function reported.
        message: String,
    },
    /// The secret has no value yet (or is not deployed): it is set with `cargo pluto secret set`.
    #[error(
        "secret `{resource}` has no value: set it with `cargo pluto secret set {resource} --stack \
         {stack}` (reads the value from stdin or a hidden prompt; add `--deployed` for the stack \
         on AWS)"
    )]
    SecretUnset {
        /// The secret's logical name.
        resource: String,
        /// The stack the function runs in (`PLUTO_STACK`).
        stack: String,
    },
    /// A value the resource returned is not what Pluto stores or expects.
    #[error("{kind} `{resource}`: {message}")]
    Unexpected {
        /// The resource's kind.
        kind: ResourceKind,
        /// The resource's logical name.
        resource: String,
        /// What was wrong.
        message: String,
    },
}
