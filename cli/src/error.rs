//! Errors of the `cargo pluto` commands, with what to do about each.

use std::path::PathBuf;

/// A failed command.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum CliError {
    /// Deduction failed; the deducer's error says why.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Deduce(#[from] pluto_deducer::diagnostics::DeduceError),
    /// The app has errors, already printed above.
    #[error("the app has {errors} error{}", if *.errors == 1 { "" } else { "s" })]
    #[diagnostic(help("fix the errors above and run again"))]
    InvalidApp {
        /// How many.
        errors: usize,
    },
    /// A stack name that cannot be part of AWS names.
    #[error(transparent)]
    #[diagnostic(help(
        "stack names are lowercase letters, digits and single `-`, e.g. `dev` or `prod-eu`"
    ))]
    BadStack(pluto_deducer::naming::NamingError),
    /// Writing under `.pluto/` failed.
    #[error("could not write {path}: {source}")]
    #[diagnostic(help("check that the app's directory is writable"))]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
