//! What can go wrong while deploying or destroying, each error saying what to do about it.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
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

    /// An AWS API call got no answer within its timeout ([`crate::connect::Timeouts`]), after
    /// the SDK's retries.
    #[error("{operation} on {object} failed: {message}")]
    #[diagnostic(
        code(pluto::aws::no_answer),
        help(
            "the AWS endpoint did not answer {operation} {within}. Check the network connection; \
             that `--endpoint-url`, if you pass one, is the address of a running AWS API (scheme, \
             host and port); and that the region (`--region`, AWS_REGION or the profile's) is a \
             region that exists. Then run the command again: it reads what exists in AWS and does \
             only what is left"
        )
    )]
    NoAnswer {
        /// The API operation, e.g. `lambda:CreateFunction`.
        operation: &'static str,
        /// What it acted on, e.g. `Lambda function my-app-dev-chat`.
        object: String,
        /// Which timeout ran out, e.g. `no answer from AWS within 60 s (read timeout; still
        /// failing after retries; the call may or may not have taken effect)`.
        message: String,
        /// `within 60 s` (or `in time`, when the SDK did not say how long).
        within: String,
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

    /// The bucket name the stack needs belongs to another AWS account (S3 names are global).
    #[error(
        "S3 bucket {name} exists in another AWS account (bucket names are global across AWS), or \
         this account may not read it: {message}"
    )]
    #[diagnostic(
        code(pluto::aws::bucket_name_taken),
        help(
            "if AWS denied access, check that the deploying identity may read buckets \
             (s3:GetBucketTagging). Otherwise the name is someone else's — rare, since Pluto's \
             bucket names end in a hash of the account and region: rename the bucket \
             (`#[resource(bucket(name = ...))]`) or deploy under another `--stack` name"
        )
    )]
    BucketNameTaken {
        /// The bucket name.
        name: String,
        /// AWS's answer.
        message: String,
    },

    /// `secret set --deployed` on a secret the stack does not have (yet).
    #[error("secret `{logical}` is not deployed: Secrets Manager has no secret {name}")]
    #[diagnostic(
        code(pluto::aws::secret_not_deployed),
        help(
            "deploy first (`cargo pluto deploy` creates the secret, without a value), then set its \
             value again; check `--stack`, `--region` and the AWS account if it was deployed"
        )
    )]
    SecretNotDeployed {
        /// Logical name.
        logical: String,
        /// Secrets Manager name.
        name: String,
    },

    /// `secret set --deployed` on a secret scheduled for deletion (by a destroy).
    #[error("secret `{logical}` ({name}) is scheduled for deletion, so its value cannot be set")]
    #[diagnostic(
        code(pluto::aws::secret_scheduled_for_deletion),
        help(
            "deploy the stack again: the deploy restores the secret (with its old value), then \
             set the value again"
        )
    )]
    SecretScheduledForDeletion {
        /// Logical name.
        logical: String,
        /// Secrets Manager name.
        name: String,
    },

    /// The plan deletes resources that hold data, and the user did not agree to lose it.
    #[error(
        "{operation} refused: it would delete data ({}); nothing was changed",
        .losses.join("; ")
    )]
    #[diagnostic(
        code(pluto::aws::would_delete_data),
        help(
            "copy out what you want to keep, then run `cargo pluto {operation} --delete-data` to \
             delete these resources with their data (buckets are emptied first; secrets are kept \
             for their recovery window). To keep a resource, declare it again"
        )
    )]
    WouldDeleteData {
        /// `deploy` or `destroy`.
        operation: &'static str,
        /// What would be lost, e.g. `bucket docs: S3 bucket app-dev-docs-1a2b3c4d holds 12
        /// objects, 3.4 MiB`.
        losses: Vec<String>,
    },

    /// A secret recovery window Secrets Manager does not accept.
    #[error("a secret recovery window of {days} days is not possible")]
    #[diagnostic(
        code(pluto::aws::recovery_window),
        help(
            "Secrets Manager keeps deleted secrets for 7 to 30 days; pick a number in that range"
        )
    )]
    RecoveryWindow {
        /// The number given.
        days: u32,
    },

    /// Physical names could not be made.
    #[error(transparent)]
    #[diagnostic(code(pluto::aws::naming))]
    Naming(#[from] pluto_model::naming::NamingError),

    /// A policy could not be rendered (bad region, account or image).
    #[error(transparent)]
    #[diagnostic(code(pluto::aws::policy))]
    Iam(#[from] pluto_model::iam::IamError),

    /// The code artifact could not be read.
    #[error("cannot read the code artifact {path}: {source}")]
    #[diagnostic(code(pluto::aws::artifact))]
    Artifact {
        /// The zip.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// Reading the live state (before planning) failed, so nothing was changed.
    #[error("could not read the stack's live state from AWS, so nothing was changed: {error}")]
    #[diagnostic(
        code(pluto::aws::read_failed),
        help(
            "run the command again once AWS answers (after fixing the cause, if it is not a \
             passing fault such as throttling or an outage)"
        )
    )]
    ReadFailed {
        /// The failed read.
        error: Box<EngineError>,
    },

    /// An apply stopped part-way: some resources failed, the others were done. Nothing is rolled
    /// back; the report says, per declared resource, what was done and what was left.
    #[error(
        "{operation} incomplete: {failed} of {total} resources failed; nothing was rolled back{}",
        render_report(.resources)
    )]
    #[diagnostic(
        code(pluto::aws::partial),
        help(
            "run `cargo pluto {operation}` again (after fixing the cause, if it is not a passing \
             fault such as throttling or an outage): it reads what exists in AWS and does only \
             what is left"
        )
    )]
    Partial {
        /// `deploy` or `destroy`.
        operation: &'static str,
        /// How many resources failed.
        failed: usize,
        /// How many resources the plan had (including unchanged ones).
        total: usize,
        /// What happened to each resource, in plan order.
        resources: Vec<ResourceReport>,
    },
}

/// What an apply did to one declared resource.
#[derive(Debug)]
pub struct ResourceReport {
    /// The declared resource, e.g. `function chatbot`.
    pub resource: String,
    /// The steps finished, in order, e.g. `created IAM role app-dev-chatbot-fn`.
    pub done: Vec<String>,
    /// How it ended.
    pub outcome: ResourceOutcome,
}

/// How the apply of one declared resource ended.
#[derive(Debug)]
pub enum ResourceOutcome {
    /// Nothing needed changing; it was not touched.
    Unchanged,
    /// Every planned change was made.
    Done,
    /// A step failed; the resource's later steps were not attempted.
    Failed {
        /// The step that failed, e.g. `creating Lambda function app-dev-chatbot`; `None` when it
        /// failed before its first step.
        step: Option<String>,
        /// The planned changes not made (or not finished), e.g. `create Function URL of
        /// app-dev-chatbot`.
        left: Vec<String>,
        /// Why.
        error: Box<EngineError>,
    },
}

/// One line per resource (failed ones with their error, what was done and what is left).
fn render_report(resources: &[ResourceReport]) -> String {
    let mut text = String::new();
    for report in resources {
        let resource = &report.resource;
        match &report.outcome {
            ResourceOutcome::Unchanged => text.push_str(&format!("\n  {resource}: unchanged")),
            ResourceOutcome::Done => text.push_str(&format!(
                "\n  {resource}: done ({})",
                report.done.join(", ")
            )),
            ResourceOutcome::Failed { step, left, error } => {
                match step {
                    Some(step) => text.push_str(&format!("\n  {resource}: FAILED while {step}")),
                    None => text.push_str(&format!("\n  {resource}: FAILED")),
                }
                text.push_str(&format!("\n      error: {error}"));
                if let Some(help) = miette::Diagnostic::help(error.as_ref()) {
                    text.push_str(&format!("\n      ({help})"));
                }
                if !report.done.is_empty() {
                    text.push_str(&format!(
                        "\n      done before the failure: {}",
                        report.done.join(", ")
                    ));
                }
                if !left.is_empty() {
                    text.push_str(&format!("\n      left to do: {}", left.join(", ")));
                }
            }
        }
    }
    text
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
                        // AWS quotes values inside JSON, where quotes, backslashes and control
                        // characters are escaped.
                        let quoted = serde_json::to_string(secret).unwrap_or_default();
                        let escaped = quoted.trim_start_matches('"').trim_end_matches('"');
                        if !escaped.is_empty() && escaped != secret {
                            message = message.replace(escaped, "(secret)");
                        }
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
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(error) if error.as_service_error().is_some_and(not_found) => Ok(None),
        Err(error) => Err(aws_error(operation, object, error)),
    }
}

/// Turns an SDK error into [`EngineError::Aws`]: AWS's code and message (with the HTTP status and
/// request id), or what happened to a request AWS did not answer.
pub(crate) fn aws_error<E>(
    operation: &'static str,
    object: impl Into<String>,
    error: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> EngineError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(timeout) = timed_out(&error) {
        return EngineError::NoAnswer {
            operation,
            object: object.into(),
            message: timeout.describe(),
            within: timeout.within(),
        };
    }
    EngineError::Aws {
        operation,
        object: object.into(),
        message: describe(&error),
    }
}

/// What [`aws_error`] says about `error`.
pub(crate) fn describe<E>(
    error: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    if let Some(timeout) = timed_out(error) {
        return timeout.describe();
    }
    let retried = if is_transient(error) {
        "; still failing after retries"
    } else {
        ""
    };
    match error {
        SdkError::ServiceError(context) => {
            let err = context.err();
            let mut text = err.code().unwrap_or("unknown error").to_owned();
            if let Some(message) = err.message().filter(|message| !message.is_empty()) {
                text.push_str(&format!(": {message}"));
            }
            text.push_str(&format!(" (HTTP {}", context.raw().status().as_u16()));
            if let Some(id) = err.meta().extra("aws_request_id") {
                text.push_str(&format!(", request id {id}"));
            }
            format!("{text}{retried})")
        }
        SdkError::DispatchFailure(_) => format!(
            "no answer from AWS: {} (the call may or may not have taken effect{retried})",
            error_chain(error)
        ),
        SdkError::TimeoutError(_) => format!(
            "no answer from AWS in time (the call may or may not have taken effect{retried})"
        ),
        SdkError::ResponseError(_) => format!(
            "AWS's answer could not be read: {} (the call may or may not have taken \
             effect{retried})",
            error_chain(error)
        ),
        _ => error_chain(error),
    }
}

/// Which of the [`crate::connect::Timeouts`] ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeoutKind {
    Connect,
    Read,
    Attempt,
    Operation,
    /// A timeout the SDK did not name.
    Other,
}

/// A call that failed because a timeout ran out: which one, and after how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimedOut {
    kind: TimeoutKind,
    after: Option<std::time::Duration>,
}

impl TimedOut {
    /// `within 60 s`, or `in time`.
    fn within(self) -> String {
        match self.after {
            // Tenths of a second: an upload's timeouts have odd milliseconds.
            Some(after) => format!("within {} s", (after.as_secs_f64() * 10.0).round() / 10.0),
            None => "in time".to_owned(),
        }
    }

    /// What [`describe`] says about it.
    fn describe(self) -> String {
        let within = self.within();
        match self.kind {
            TimeoutKind::Connect => format!(
                "could not connect to the AWS endpoint {within} (connect timeout; still failing \
                 after retries)"
            ),
            TimeoutKind::Read => format!(
                "no answer from AWS {within} (read timeout; still failing after retries; the call \
                 may or may not have taken effect)"
            ),
            TimeoutKind::Attempt => format!(
                "no answer from AWS {within} (attempt timeout; still failing after retries; the \
                 call may or may not have taken effect)"
            ),
            TimeoutKind::Operation => format!(
                "no answer from AWS {within} (operation timeout, which covers all attempts; the \
                 call may or may not have taken effect)"
            ),
            TimeoutKind::Other => format!(
                "no answer from AWS {within} (still failing after retries; the call may or may \
                 not have taken effect)"
            ),
        }
    }
}

/// Whether `error` is a timeout that ran out, and which. The SDK says which in its error text:
/// `HTTP connect timeout occurred after 5s`, `HTTP read timeout occurred after 60s`, `operation
/// attempt timeout (single attempt) occurred after 90s`, `operation timeout (all attempts
/// including retries) occurred after 180s`.
fn timed_out<E>(
    error: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> Option<TimedOut>
where
    E: std::error::Error + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match error {
        SdkError::TimeoutError(_) => {}
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {}
        _ => return None,
    }
    let text = error_chain(error);
    let kind = if text.contains("HTTP connect timeout") {
        TimeoutKind::Connect
    } else if text.contains("HTTP read timeout") {
        TimeoutKind::Read
    } else if text.contains("operation attempt timeout") {
        TimeoutKind::Attempt
    } else if text.contains("operation timeout") {
        TimeoutKind::Operation
    } else {
        TimeoutKind::Other
    };
    let after = text
        .split_once("occurred after ")
        .and_then(|(_, rest)| parse_duration(rest));
    Some(TimedOut { kind, after })
}

/// A duration as `Debug` writes it, at the start of `text`: `60s`, `1.5s`, `500ms`, `20µs`.
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..end].parse().ok()?;
    let unit = text[end..]
        .split(|c: char| !c.is_alphabetic())
        .next()
        .unwrap_or_default();
    let seconds = match unit {
        "s" => number,
        "ms" => number / 1e3,
        "µs" | "us" => number / 1e6,
        "ns" => number / 1e9,
        _ => return None,
    };
    std::time::Duration::try_from_secs_f64(seconds).ok()
}

/// An error and its sources, as `a: b: c`, without repeats (the SDK's `Display`s often repeat
/// their source's text).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

/// AWS error codes meaning "throttled" (those the SDK's retry classifier knows).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether a failed call may succeed when sent again — what the SDK's standard retry retries: no
/// (complete) answer (connection failure or loss, timeout), throttling, or a 5xx answer. After
/// such a failure the call may or may not have taken effect.
pub(crate) fn is_transient<E>(
    error: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> bool
where
    E: ProvideErrorMetadata,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::retry::ErrorKind;
    match error {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(failure) => {
            failure.is_io()
                || failure.is_timeout()
                || matches!(
                    failure.as_other(),
                    Some(ErrorKind::TransientError | ErrorKind::ThrottlingError)
                )
        }
        SdkError::ServiceError(context) => {
            matches!(context.raw().status().as_u16(), 429 | 500 | 502 | 503 | 504)
                || context
                    .err()
                    .code()
                    .is_some_and(|code| THROTTLING_CODES.contains(&code))
        }
        _ => false,
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

    #[test]
    fn secrets_are_scrubbed_even_when_aws_quotes_them_json_escaped() {
        let error = EngineError::Aws {
            operation: "lambda:CreateFunction",
            object: "Lambda function f".to_owned(),
            message: r#"String measured: {"TOKEN":"a\"b\\c\nd"}"#.to_owned(),
        }
        .without_secrets(["a\"b\\c\nd"]);
        assert_eq!(
            error.to_string(),
            r#"lambda:CreateFunction on Lambda function f failed: String measured: {"TOKEN":"(secret)"}"#
        );
    }

    type Error = aws_sdk_lambda::operation::add_permission::AddPermissionError;
    type Sdk = aws_smithy_runtime_api::client::result::SdkError<
        Error,
        aws_smithy_runtime_api::http::Response,
    >;

    fn answer(status: u16, code: &str, message: &str) -> Sdk {
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code(code)
            .message(message)
            .custom("aws_request_id", "req-1")
            .build();
        let raw = aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("a status"),
            aws_smithy_types::body::SdkBody::empty(),
        );
        Sdk::service_error(Error::generic(meta), raw)
    }

    fn no_answer() -> Sdk {
        Sdk::dispatch_failure(aws_smithy_runtime_api::client::result::ConnectorError::io(
            std::io::Error::other("connection closed before message completed").into(),
        ))
    }

    #[test]
    fn throttling_5xx_and_lost_connections_are_transient() {
        assert!(is_transient(&answer(400, "Throttling", "Rate exceeded")));
        assert!(is_transient(&answer(429, "TooManyRequestsException", "x")));
        assert!(is_transient(&answer(500, "ServiceException", "x")));
        assert!(is_transient(&answer(503, "ServiceUnavailable", "x")));
        assert!(is_transient(&no_answer()));
        assert!(!is_transient(&answer(
            409,
            "ResourceConflictException",
            "exists"
        )));
        assert!(!is_transient(&answer(400, "ValidationException", "bad")));
    }

    #[test]
    fn aws_errors_are_short_code_message_status_and_request_id() {
        let error = aws_error(
            "lambda:AddPermission",
            "Lambda function f",
            answer(400, "ValidationException", "bad sid"),
        );
        assert_eq!(
            error.to_string(),
            "lambda:AddPermission on Lambda function f failed: ValidationException: bad sid (HTTP \
             400, request id req-1)"
        );
        let error = aws_error(
            "lambda:AddPermission",
            "Lambda function f",
            answer(503, "ServiceUnavailable", "down"),
        );
        assert!(
            error.to_string().ends_with(
                "ServiceUnavailable: down (HTTP 503, request id req-1; still failing after retries)"
            ),
            "{error}"
        );
        let error = aws_error("lambda:AddPermission", "Lambda function f", no_answer());
        let text = error.to_string();
        assert!(
            text.contains("no answer from AWS")
                && text.contains("connection closed before message completed")
                && text.contains("may or may not have taken effect"),
            "{text}"
        );
    }

    fn timed_out_after(text: &str, dispatch: bool) -> Sdk {
        let source: aws_smithy_runtime_api::box_error::BoxError = text.to_owned().into();
        if dispatch {
            Sdk::dispatch_failure(
                aws_smithy_runtime_api::client::result::ConnectorError::timeout(source),
            )
        } else {
            Sdk::timeout_error(source)
        }
    }

    #[test]
    fn timeouts_name_the_call_how_long_it_waited_and_what_to_check() {
        for (text, dispatch, says) in [
            (
                "HTTP read timeout occurred after 60s",
                true,
                "no answer from AWS within 60 s (read timeout",
            ),
            (
                "HTTP connect timeout occurred after 5s",
                true,
                "could not connect to the AWS endpoint within 5 s",
            ),
            (
                "operation attempt timeout (single attempt) occurred after 1.5s",
                false,
                "no answer from AWS within 1.5 s (attempt timeout",
            ),
            (
                "operation timeout (all attempts including retries) occurred after 500ms",
                false,
                "no answer from AWS within 0.5 s (operation timeout",
            ),
        ] {
            let error = timed_out_after(text, dispatch);
            assert!(is_transient(&error), "{text}");
            let error = aws_error("lambda:CreateFunction", "Lambda function f", error);
            assert!(matches!(error, EngineError::NoAnswer { .. }), "{error:?}");
            let message = error.to_string();
            assert!(
                message.starts_with("lambda:CreateFunction on Lambda function f failed: ")
                    && message.contains(says),
                "{message}"
            );
            let help = Diagnostic::help(&error).map(|help| help.to_string());
            assert!(
                help.as_ref().is_some_and(|help| help
                    .contains("did not answer lambda:CreateFunction within")
                    && help.contains("--endpoint-url")
                    && help.contains("--region")),
                "{help:?}"
            );
        }
        let error = aws_error(
            "iam:GetRole",
            "IAM role r",
            timed_out_after("something else", false),
        );
        assert!(
            Diagnostic::help(&error).is_some_and(|help| help.to_string().contains("in time")),
            "{error:?}"
        );
    }

    #[test]
    fn partial_applies_report_each_resource() {
        let error = EngineError::Partial {
            operation: "deploy",
            failed: 1,
            total: 3,
            resources: vec![
                ResourceReport {
                    resource: "function chat".to_owned(),
                    done: vec!["created IAM role a-dev-chat-fn".to_owned()],
                    outcome: ResourceOutcome::Failed {
                        step: Some("creating Lambda function a-dev-chat".to_owned()),
                        left: vec![
                            "create Lambda function a-dev-chat".to_owned(),
                            "create Function URL of a-dev-chat".to_owned(),
                        ],
                        error: Box::new(EngineError::Aws {
                            operation: "lambda:CreateFunction",
                            object: "Lambda function a-dev-chat".to_owned(),
                            message: "Throttling: Rate exceeded (HTTP 400)".to_owned(),
                        }),
                    },
                },
                ResourceReport {
                    resource: "KV store history".to_owned(),
                    done: vec!["created DynamoDB table a-dev-history".to_owned()],
                    outcome: ResourceOutcome::Done,
                },
                ResourceReport {
                    resource: "function old".to_owned(),
                    done: Vec::new(),
                    outcome: ResourceOutcome::Unchanged,
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "deploy incomplete: 1 of 3 resources failed; nothing was rolled back
  function chat: FAILED while creating Lambda function a-dev-chat
      error: lambda:CreateFunction on Lambda function a-dev-chat failed: Throttling: Rate exceeded (HTTP 400)
      done before the failure: created IAM role a-dev-chat-fn
      left to do: create Lambda function a-dev-chat, create Function URL of a-dev-chat
  KV store history: done (created DynamoDB table a-dev-history)
  function old: unchanged"
        );
        let help = Diagnostic::help(&error).map(|help| help.to_string());
        assert!(
            help.is_some_and(|help| help.contains("run `cargo pluto deploy` again")),
            "{error:?}"
        );
    }
}
