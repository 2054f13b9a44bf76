//! Why the simulator could not start, each with what to do about it.

use std::path::PathBuf;

/// A failure of [`crate::Simulator::start`].
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum SimulatorError {
    /// The stack name cannot be part of physical names.
    #[error(transparent)]
    #[diagnostic(help(
        "stack names are lowercase letters, digits and single `-`, e.g. `dev` or `prod-eu`"
    ))]
    BadStack(pluto_model::naming::NamingError),
    /// The KV database could not be opened.
    #[error("could not open the local KV database {path}: {message}")]
    #[diagnostic(help(
        "another `cargo pluto run` of this stack may be running (stop it, or use another --stack), \
         or the directory is not writable"
    ))]
    Database {
        /// Its path.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Another simulator holds this stack's KV data.
    #[error(
        "the stack's KV data {path} is in use: another `cargo pluto run` of this stack is running"
    )]
    #[diagnostic(help(
        "stop the other one (Ctrl-C in its terminal), or run this one as another stack with \
         --stack NAME (its data is kept apart)"
    ))]
    StackInUse {
        /// The database file.
        path: PathBuf,
    },
    /// A loopback port could not be bound.
    #[error("could not listen on 127.0.0.1:{port}: {source}")]
    #[diagnostic(help("choose another port with --port, or --port 0 for any free one"))]
    Listen {
        /// The port (0: any).
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// A `from_env("VAR")` value the app declares is not set.
    #[error("{resource} declares `{key} = from_env(\"{var}\")`, but `{var}` is not set")]
    #[diagnostic(help(
        "set it in the environment of `cargo pluto run` (export {var}=...), as deploying needs it too"
    ))]
    MissingSecret {
        /// The declaring function.
        resource: String,
        /// The variable of the function.
        key: String,
        /// The variable read on this machine.
        var: String,
    },
    /// A function's first instance did not start.
    #[error("function `{function}` did not start: {source}")]
    #[diagnostic(help(
        "the app binary must call pluto::start() in main; its output above says what went wrong"
    ))]
    WarmUp {
        /// The function.
        function: String,
        /// Why.
        source: crate::lambda::LambdaError,
    },
    /// A hot reload found the app's shape changed (functions, URLs or resources).
    #[error("the app's shape changed, which needs a restart: {0}")]
    #[diagnostic(help(
        "stop `cargo pluto run` (Ctrl-C) and start it again; code and grant changes reload live"
    ))]
    ShapeChanged(String),
}
