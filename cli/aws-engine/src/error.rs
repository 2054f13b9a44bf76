//! What can go wrong while deploying or destroying, each error saying what to do about it.

use miette::Diagnostic;
use std::path::PathBuf;
use thiserror::Error;

/// An error of the AWS engine.
#[derive(Debug, Error, Diagnostic)]
pub enum EngineError {
    /// No region in `--region`, the environment or the AWS config files.
    #[error("no AWS region is configured")]
    #[diagnostic(
        code(pluto::aws::no_region),
        help(
            "pass `--region us-east-1` (or another region), set AWS_REGION, or set `region` in ~/.aws/config"
        )
    )]
    NoRegion,

    /// The standard credential chain found nothing usable.
    #[error("no usable AWS credentials: {0}")]
    #[diagnostic(
        code(pluto::aws::no_credentials),
        help(
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile from \
             ~/.aws/config (run `aws configure` or `aws sso login`)"
        )
    )]
    NoCredentials(String),

    /// An AWS API call failed.
    #[error("{operation} on {object} failed: {message}")]
    #[diagnostic(code(pluto::aws::call_failed))]
    Aws {
        /// The API operation, e.g. `lambda:CreateFunction`.
        operation: &'static str,
        /// What it acted on, e.g. `Lambda function my-app-dev-chat`.
        object: String,
        /// AWS's error code and message.
        message: String,
    },

    /// A declared secret (`from_env("VAR")`) is not set on the deploying machine.
    #[error("{resource} needs `{key}` from the environment variable `{var}`, which is not set")]
    #[diagnostic(
        code(pluto::aws::missing_secret),
        help(
            "export {var}=... before deploying: Pluto reads it at deploy time and never stores it"
        )
    )]
    MissingSecret {
        /// The declaring resource, e.g. `SageMaker endpoint llama`.
        resource: String,
        /// The environment key in the declaration.
        key: String,
        /// The deploy-time variable.
        var: String,
    },

    /// An AWS object with the name Pluto would use exists but is not tagged as this stack's.
    #[error("{object} already exists and does not belong to stack `{stack}` of `{project}`")]
    #[diagnostic(
        code(pluto::aws::not_owned),
        help(
            "Pluto never takes over objects it did not create. Delete or rename it, or deploy under \
             another `--stack` name"
        )
    )]
    NotOwned {
        /// The object.
        object: String,
        /// The project.
        project: String,
        /// The stack.
        stack: String,
    },

    /// A wait for an object to become ready ran out of time.
    #[error("{object} did not become {state} within {waited_s} s (last status: {last})")]
    #[diagnostic(
        code(pluto::aws::timeout),
        help("look at the object in the AWS console for the reason, then run the deploy again")
    )]
    Timeout {
        /// The object.
        object: String,
        /// The state waited for.
        state: &'static str,
        /// How long.
        waited_s: u64,
        /// Its last reported status.
        last: String,
    },

    /// An object reached a state it cannot leave by itself.
    #[error("{object} failed: {reason}")]
    #[diagnostic(code(pluto::aws::failed_state))]
    FailedState {
        /// The object.
        object: String,
        /// AWS's reason.
        reason: String,
    },

    /// An existing object cannot be changed into the declared one.
    #[error("{object} cannot be updated in place: {reason}")]
    #[diagnostic(code(pluto::aws::immutable))]
    Immutable {
        /// The object.
        object: String,
        /// Why.
        reason: String,
    },

    /// Physical names could not be made.
    #[error(transparent)]
    #[diagnostic(code(pluto::aws::naming))]
    Naming(#[from] pluto_deducer::naming::NamingError),

    /// A policy could not be rendered (bad region, account or image).
    #[error(transparent)]
    #[diagnostic(code(pluto::aws::policy))]
    Iam(#[from] pluto_deducer::iam::IamError),

    /// The code artifact could not be read.
    #[error("cannot read the code artifact {path}: {source}")]
    #[diagnostic(code(pluto::aws::artifact))]
    Artifact {
        /// The zip.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// Some resources were not deployed or destroyed; the rest were.
    #[error(
        "{failed} of {total} resources failed; the others are done (run the command again to retry)"
    )]
    #[diagnostic(code(pluto::aws::partial))]
    Partial {
        /// How many failed.
        failed: usize,
        /// How many were attempted.
        total: usize,
        /// Each failure.
        #[related]
        errors: Vec<EngineError>,
    },
}

impl EngineError {
    /// Replaces each of `secrets` in the error's text with `(secret)`: AWS quotes request values
    /// back in some errors (e.g. Lambda's "environment exceeded 4KB" quotes every variable).
    pub(crate) fn without_secrets<'a>(self, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        match self {
            Self::Aws {
                operation,
                object,
                mut message,
            } => {
                for secret in secrets {
                    if !secret.is_empty() {
                        message = message.replace(secret, "(secret)");
                    }
                }
                Self::Aws {
                    operation,
                    object,
                    message,
                }
            }
            other => other,
        }
    }
}

/// An SDK call's result.
type SdkResult<O, E> = Result<
    O,
    aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
>;

/// A call's output, or `None` when the service answered that the object does not exist
/// (`not_found` tells that answer by the service's error code).
pub(crate) fn found<O, E>(
    operation: &'static str,
    object: impl Into<String>,
    result: SdkResult<O, E>,
    not_found: impl Fn(&E) -> bool,
) -> Result<Option<O>, EngineError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(error) if error.as_service_error().is_some_and(not_found) => Ok(None),
        Err(error) => Err(aws_error(operation, object, error)),
    }
}

/// Turns an SDK error into [`EngineError::Aws`], keeping AWS's code and message.
pub(crate) fn aws_error<E>(
    operation: &'static str,
    object: impl Into<String>,
    error: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> EngineError
where
    E: std::error::Error + Send + Sync + 'static,
{
    EngineError::Aws {
        operation,
        object: object.into(),
        message: aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_from_aws_messages() {
        let error = EngineError::Aws {
            operation: "lambda:CreateFunction",
            object: "Lambda function f".to_owned(),
            message: r#"exceeded the 4KB limit. String measured: {"TOKEN":"hf_abc","A":"b"}"#
                .to_owned(),
        }
        .without_secrets(["hf_abc", ""]);
        assert_eq!(
            error.to_string(),
            r#"lambda:CreateFunction on Lambda function f failed: exceeded the 4KB limit. String measured: {"TOKEN":"(secret)","A":"b"}"#
        );
    }
}
