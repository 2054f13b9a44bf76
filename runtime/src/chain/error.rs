//! `ChainError`: what can go wrong in a prompt template, a model call or a chain.

use crate::ClientError;

/// An error from a prompt template, a model or a chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A `{` in a template has no matching `}`.
    #[error("prompt template: unclosed `{{` at byte {position} (write `{{{{` for a literal brace)")]
    UnclosedBrace {
        /// Byte offset of the `{` in the template.
        position: usize,
    },
    /// A `}` in a template closes nothing.
    #[error("prompt template: stray `}}` at byte {position} (write `}}}}` for a literal brace)")]
    StrayBrace {
        /// Byte offset of the `}` in the template.
        position: usize,
    },
    /// A `{...}` placeholder does not hold a valid variable name.
    #[error(
        "prompt template: invalid variable name `{name}` at byte {position} (names match \
         [A-Za-z_][A-Za-z0-9_]*; write `{{{{` and `}}}}` for literal braces)"
    )]
    InvalidVariable {
        /// The text between the braces (shortened when long).
        name: String,
        /// Byte offset of the `{` in the template.
        position: usize,
    },
    /// The values given to a template do not match its variables.
    #[error("prompt template: {}", describe_mismatch(.missing, .unknown))]
    VariableMismatch {
        /// Variables of the template that were given no value.
        missing: Vec<String>,
        /// Names that were given a value but are not variables of the template.
        unknown: Vec<String>,
    },
    /// The same variable was given two values.
    #[error("prompt template: variable `{name}` was given more than one value")]
    DuplicateVariable {
        /// The variable.
        name: String,
    },
    /// A chain was given a template that lacks the variables it fills in, or has others.
    #[error("{chain} needs a template with exactly the variables {}; this one has {}", quoted(.expected), quoted(.found))]
    TemplateVariables {
        /// The chain, e.g. `StuffQaChain`.
        chain: &'static str,
        /// The variables the chain fills in.
        expected: Vec<String>,
        /// The variables the template has.
        found: Vec<String>,
    },
    /// Calling the model endpoint failed.
    #[error("model call failed: {0}")]
    Model(#[from] ClientError),
    /// The model answered with an error body (e.g. TGI's `{"error": ..., "error_type": ...}`).
    #[error("the model returned an error{}: {message}", parenthesized(.error_type))]
    ModelReported {
        /// The model's error message.
        message: String,
        /// Its kind, when given (TGI: `validation`, `generation`, `overloaded`, ...).
        error_type: Option<String>,
    },
    /// The model's answer is not in the expected format.
    #[error("malformed model output ({reason}): `{prefix}`")]
    MalformedOutput {
        /// What was wrong.
        reason: String,
        /// The start of the body, for diagnosis.
        prefix: String,
    },
    /// The request to the model could not be encoded.
    #[error("could not encode the model request: {0}")]
    Encode(#[source] serde_json::Error),
    /// Any other error, from an [`Llm`](super::Llm) implemented outside this crate.
    #[error(transparent)]
    Other(crate::Error),
}

impl ChainError {
    /// A [`ChainError::MalformedOutput`] quoting the first 200 characters of `body`.
    pub(crate) fn malformed(reason: impl Into<String>, body: &[u8]) -> Self {
        Self::MalformedOutput {
            reason: reason.into(),
            prefix: shorten(&String::from_utf8_lossy(body), 200),
        }
    }
}

/// `text` cut to at most `max` characters, with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn quoted(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parenthesized(text: &Option<String>) -> String {
    text.as_deref()
        .map(|text| format!(" ({text})"))
        .unwrap_or_default()
}

fn describe_mismatch(missing: &[String], unknown: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("no value for {}", quoted(missing)));
    }
    if !unknown.is_empty() {
        parts.push(format!("unknown variable(s) {}", quoted(unknown)));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_variables() {
        let error = ChainError::VariableMismatch {
            missing: vec!["name".to_owned()],
            unknown: vec!["nmae".to_owned()],
        };
        assert_eq!(
            error.to_string(),
            "prompt template: no value for `name`; unknown variable(s) `nmae`"
        );
        let error = ChainError::ModelReported {
            message: "Input validation error: `inputs` must have less than 2048 tokens".to_owned(),
            error_type: Some("validation".to_owned()),
        };
        assert_eq!(
            error.to_string(),
            "the model returned an error (validation): Input validation error: `inputs` must have \
             less than 2048 tokens"
        );
    }

    #[test]
    fn shorten_cuts_on_characters() {
        assert_eq!(shorten("héllo", 2), "hé…");
        assert_eq!(shorten("héllo", 5), "héllo");
        assert_eq!(shorten("", 3), "");
    }
}
