//! `cargo pluto invoke FUNCTION [ARGS_JSON]`: calls one function of the app with its handler's
//! arguments and prints what it returns. By default through the running `cargo pluto run` of the
//! stack (its console's invoke API: a streaming function's text is printed as it arrives); with
//! `--deployed`, Lambda `Invoke` of the function deployed in the stack on AWS.
//!
//! Also what `invoke` and `logs` share: choosing between the simulator and the deployed stack
//! ([`TargetArgs`]), connecting to AWS as `deploy` does, and naming the app's functions when a
//! name is not one of them.

use crate::error::CliError;
use crate::local_run::RunInfo;
use crate::project::ProjectArgs;
use aws_config::retry::RetryConfig;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::RequestId;
use pluto_aws_engine::{EngineError, Timeouts};
use pluto_model::naming::StackNames;
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

/// Where `invoke` and `logs` go: the running `cargo pluto run` of the stack, or the stack
/// deployed on AWS.
///
/// The switch is `--deployed`, not `--stack NAME`: `--stack` already names the stack in every
/// command (`run`, `deploy`, ...; default `dev`), and it names the same stack here either way.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TargetArgs {
    /// Use the stack `--stack` deployed on AWS instead of the running `cargo pluto run` of it.
    /// (A flag rather than `--stack NAME`: `--stack` names the stack for both, as in every
    /// command.)
    #[arg(long)]
    pub(crate) deployed: bool,
    /// With --deployed: the AWS region (default: the standard chain: AWS_REGION, then the
    /// profile's region).
    #[arg(long, value_name = "REGION", requires = "deployed")]
    region: Option<String>,
    /// With --deployed: send every AWS call to this endpoint instead (e.g. an emulator such as
    /// moto).
    #[arg(long, value_name = "URL", requires = "deployed")]
    endpoint_url: Option<String>,
}

impl TargetArgs {
    /// The AWS configuration `deploy` would use (same chain, region, endpoint, retries and
    /// timeouts), after checking, as `deploy` does, that it has a region and credentials AWS
    /// accepts.
    pub(crate) async fn aws_config(&self) -> Result<aws_config::SdkConfig, CliError> {
        let options = crate::deploy::AwsArgs {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
        .connect_options()?;
        let config = pluto_aws_engine::load_config(&options).await;
        pluto_aws_engine::from_config(&config).await?;
        Ok(config)
    }
}

/// Arguments of `cargo pluto invoke`.
#[derive(Debug, clap::Args)]
pub(crate) struct InvokeArgs {
    /// The function, by its name in the app (`#[resource(function(name = ...))]`, else the
    /// handler's name), e.g. `chatbot`.
    #[arg(value_name = "FUNCTION")]
    function: String,
    /// The handler's arguments as a JSON object by parameter name, e.g. '{"query":"hi"}';
    /// `-` reads it from standard input.
    #[arg(value_name = "ARGS_JSON", default_value = "{}")]
    args_json: String,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn run(args: &InvokeArgs) -> Result<(), CliError> {
    let arguments = arguments(&args.args_json)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    if args.target.deployed {
        runtime.block_on(invoke_deployed(args, &arguments))
    } else {
        runtime.block_on(invoke_local(args, &arguments))
    }
}

/// The arguments as JSON text: `ARGS_JSON` (or standard input for `-`), checked to be an object.
fn arguments(given: &str) -> Result<String, CliError> {
    let text = if given == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| CliError::Read {
                what: "the arguments from standard input".to_owned(),
                source,
            })?;
        text
    } else {
        given.to_owned()
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(object)) => Ok(Value::Object(object).to_string()),
        Ok(other) => Err(CliError::BadArguments(format!(
            "got {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))),
        Err(error) => Err(CliError::BadArguments(error.to_string())),
    }
}

/// Prints a function's result on stdout: a string as it is, anything else as JSON.
fn print_result(result: &Value) {
    match result {
        Value::String(text) => println!("{text}"),
        other => println!(
            "{}",
            serde_json::to_string_pretty(other).unwrap_or_default()
        ),
    }
}

/// The type and message of `{"type": ..., "message": ...}` (the console's errors) or
/// `{"errorType": ..., "errorMessage": ...}` (Lambda's).
fn error_parts(error: &Value) -> (String, String) {
    let field = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| error.get(name).and_then(Value::as_str))
            .map(str::to_owned)
    };
    (
        field(["type", "errorType"]).unwrap_or_else(|| "Error".to_owned()),
        field(["message", "errorMessage"]).unwrap_or_else(|| error.to_string()),
    )
}

/// A client for the console's API: loopback, no proxy, generous timeouts (functions may run long).
pub(crate) fn console_client() -> Result<reqwest::Client, CliError> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|error| CliError::Console {
            url: String::new(),
            problem: format!("cannot be called: {error}"),
        })
}

/// The functions of the app a running `cargo pluto run` serves (from its console's `api/app`).
pub(crate) async fn running_functions(run: &RunInfo) -> Result<Vec<String>, CliError> {
    let url = format!("{}api/app", run.console_url);
    let failed = |problem: String| CliError::Console {
        url: url.clone(),
        problem,
    };
    let app: Value = console_client()?
        .get(&url)
        .send()
        .await
        .map_err(|error| failed(format!("did not answer: {error}")))?
        .json()
        .await
        .map_err(|error| failed(format!("answered no app description: {error}")))?;
    Ok(app["functions"]
        .as_array()
        .map(|functions| {
            functions
                .iter()
                .filter_map(|function| function["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// The error for a function name that is not in `functions`.
pub(crate) fn unknown_function(function: &str, functions: &[String]) -> CliError {
    CliError::UnknownFunction {
        function: function.to_owned(),
        available: if functions.is_empty() {
            "none".to_owned()
        } else {
            functions.join(", ")
        },
    }
}

/// Why AWS has no Lambda function for `function` of the deployed stack: the app has no such
/// function (it is deduced to know), or the stack does not have it deployed.
pub(crate) fn missing_on_aws(
    project: &ProjectArgs,
    names: &StackNames,
    function: &str,
) -> CliError {
    let functions: Vec<String> = match project.deduce() {
        Ok(deduction) => deduction
            .architecture
            .functions
            .iter()
            .map(|function| function.spec.name.clone())
            .collect(),
        Err(error) => return error,
    };
    if functions.iter().any(|name| name == function) {
        CliError::NotDeployed {
            function: function.to_owned(),
            stack: names.stack().to_owned(),
            physical: names.function(function),
        }
    } else {
        unknown_function(function, &functions)
    }
}

/// An AWS call that failed, with AWS's code and message.
pub(crate) fn aws_failure<E, R>(
    operation: &'static str,
    object: String,
    error: &SdkError<E, R>,
) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("unknown error"),
            service.message().unwrap_or_default()
        ),
        None => DisplayErrorContext(error).to_string(),
    };
    CliError::Engine(EngineError::Aws {
        operation,
        object,
        message,
    })
}

/// `invoke` through the console of the running `cargo pluto run`.
async fn invoke_local(args: &InvokeArgs, arguments: &str) -> Result<(), CliError> {
    let (_, package_root) = args.project.package_name()?;
    let run = RunInfo::read(&args.project.stack_dir(&package_root))?;
    let url = format!("{}api/invoke/{}", run.console_url, args.function);
    let failed = |problem: String| CliError::Console {
        url: url.clone(),
        problem,
    };
    let mut response = console_client()?
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(arguments.to_owned())
        .send()
        .await
        .map_err(|error| failed(format!("did not answer: {error}")))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(request_id) = response
        .headers()
        .get(pluto_console::REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
    {
        eprintln!("[pluto] request {request_id}");
    }
    if status.is_success() && content_type.starts_with("text/plain") {
        // A streaming function: its text as it arrives.
        let mut stdout = std::io::stdout().lock();
        let mut ends_with_newline = true;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| failed(format!("cut the stream: {error}")))?
        {
            if let Some(last) = chunk.last() {
                ends_with_newline = *last == b'\n';
            }
            // A closed stdout (e.g. `| head`) ends the output, not the command.
            if stdout
                .write_all(&chunk)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return Ok(());
            }
        }
        if !ends_with_newline {
            let _ = writeln!(stdout);
        }
        return Ok(());
    }
    let body = response
        .bytes()
        .await
        .map_err(|error| failed(format!("did not answer in full: {error}")))?;
    let answer: Value = serde_json::from_slice(&body).map_err(|_| {
        failed(format!(
            "answered {status} with no JSON: {}",
            String::from_utf8_lossy(&body)
        ))
    })?;
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(unknown_function(
            &args.function,
            &running_functions(&run).await?,
        ));
    }
    let failure = |error: &Value| {
        let (error_type, message) = error_parts(error);
        CliError::FunctionFailed {
            function: args.function.clone(),
            error_type,
            message,
        }
    };
    match answer.get("ok").and_then(Value::as_bool) {
        Some(true) if status.is_success() => {
            print_result(&answer["result"]);
            Ok(())
        }
        Some(_) => Err(failure(&answer["error"])),
        // An error before the first byte of a stream.
        None if status == reqwest::StatusCode::BAD_GATEWAY => Err(failure(&answer["error"])),
        None => {
            let (error_type, message) = error_parts(&answer["error"]);
            Err(failed(format!(
                "answered {status}: {error_type}: {message}"
            )))
        }
    }
}

/// `invoke --deployed`: Lambda `Invoke` of the function deployed in the stack.
async fn invoke_deployed(args: &InvokeArgs, arguments: &str) -> Result<(), CliError> {
    let (project, _) = args.project.package_name()?;
    let names = StackNames::new(&project, &args.project.stack).map_err(CliError::BadStack)?;
    let physical = names.function(&args.function);
    let config = args.target.aws_config().await?;
    // One attempt: a retried Invoke could run the function twice. Time for the longest function
    // Lambda runs (15 minutes).
    let invoke_timeouts = Timeouts {
        read: Duration::from_secs(16 * 60),
        attempt: Duration::from_secs(16 * 60),
        operation: Duration::from_secs(16 * 60),
        ..Timeouts::default()
    };
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&config)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(invoke_timeouts.config())
            .build(),
    );
    let output = match lambda
        .invoke()
        .function_name(&physical)
        .payload(aws_sdk_lambda::primitives::Blob::new(arguments.as_bytes()))
        .send()
        .await
    {
        Ok(output) => output,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_resource_not_found_exception()) =>
        {
            return Err(missing_on_aws(&args.project, &names, &args.function));
        }
        Err(error) => {
            return Err(aws_failure(
                "lambda:Invoke",
                format!("Lambda function {physical}"),
                &error,
            ));
        }
    };
    if let Some(request_id) = output.request_id() {
        eprintln!("[pluto] request {request_id}");
    }
    let payload = output
        .payload()
        .map(|payload| payload.as_ref().to_vec())
        .unwrap_or_default();
    let parsed = serde_json::from_slice::<Value>(&payload);
    if let Some(kind) = output.function_error() {
        let (error_type, message) = match &parsed {
            Ok(error) => error_parts(error),
            Err(_) => (
                kind.to_owned(),
                String::from_utf8_lossy(&payload).into_owned(),
            ),
        };
        return Err(CliError::FunctionFailed {
            function: args.function.clone(),
            error_type,
            message,
        });
    }
    match parsed {
        Ok(result) => print_result(&result),
        Err(_) => println!("{}", String::from_utf8_lossy(&payload)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn arguments_must_be_a_json_object() {
        assert_eq!(
            arguments(r#"{"query": "hi"}"#).unwrap(),
            r#"{"query":"hi"}"#
        );
        assert_eq!(arguments("{}").unwrap(), "{}");
        let error = arguments(r#"["hi"]"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the arguments are not a JSON object: got an array"
        );
        assert!(arguments("{query: hi}").is_err());
    }

    #[test]
    fn errors_of_the_console_and_of_lambda_read_alike() {
        let console = serde_json::json!({"type": "Pluto.HandlerError", "message": "boom"});
        let lambda = serde_json::json!({"errorType": "Pluto.HandlerError", "errorMessage": "boom"});
        assert_eq!(error_parts(&console), error_parts(&lambda));
        assert_eq!(
            error_parts(&console),
            ("Pluto.HandlerError".to_owned(), "boom".to_owned())
        );
    }
}
