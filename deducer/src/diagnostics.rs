//! What the deducer reports about an app: errors that stop deployment (bad declarations,
//! duplicate names, missing module files) and warnings, each at a `file:line:col` with a hint.

use crate::architecture::SourceLocation;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The app cannot be deployed as written.
    Error,
    /// Worth a look; deployment goes on.
    Warning,
}

/// One finding, in the style of rustc: message, place, hint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where.
    pub location: SourceLocation,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(
        location: SourceLocation,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            location,
            message: message.into(),
            hint,
        }
    }

    /// A warning.
    pub fn warning(
        location: SourceLocation,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            location,
            message: message.into(),
            hint,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{label}: {}\n  --> {}", self.message, self.location)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n   = help: {hint}")?;
        }
        Ok(())
    }
}

/// Why deduction failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum DeduceError {
    /// `cargo metadata` failed.
    #[error("cargo metadata failed: {0}")]
    #[diagnostic(help(
        "run it from the app's directory, or pass --manifest-path path/to/Cargo.toml"
    ))]
    Metadata(String),
    /// `-p` named no member of the workspace.
    #[error("there is no package `{name}` in this workspace")]
    #[diagnostic(help("the packages are: {available}"))]
    NoSuchPackage {
        /// The requested name.
        name: String,
        /// The workspace's packages.
        available: String,
    },
    /// A virtual workspace and no `-p`.
    #[error("this is a workspace of several packages: which one is the app?")]
    #[diagnostic(help("choose one with -p NAME: {available}"))]
    AmbiguousPackage {
        /// The workspace's packages.
        available: String,
    },
    /// The analysis thread could not be started.
    #[error("could not start the analysis thread: {0}")]
    #[diagnostic(help(
        "the deducer needs a thread with a large stack; check the process's thread and memory limits"
    ))]
    Thread(String),
    /// The app has errors.
    #[error("{}", summarize(.0))]
    #[diagnostic(help("fix the errors above and run again"))]
    Invalid(Vec<Diagnostic>),
}

fn summarize(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    format!(
        "{}\n\nthe app has {} error{}",
        errors.join("\n\n"),
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    )
}
