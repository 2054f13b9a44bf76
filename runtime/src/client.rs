//! One AWS configuration and one client per service per process, created on first use.
//!
//! The configuration comes from the standard AWS chain: credentials, `AWS_REGION`, and
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`, which is how the same code talks to AWS, the
//! local simulator or moto.

use crate::error::ClientError;
use crate::trace::TraceHeader;
use pluto_spec::ResourceKind;
use pluto_spec::contract::{HANDLER_ENV, resource_env_var};
use tokio::sync::OnceCell;

async fn sdk_config() -> &'static aws_config::SdkConfig {
    static CONFIG: OnceCell<aws_config::SdkConfig> = OnceCell::const_new();
    CONFIG
        .get_or_init(|| aws_config::defaults(aws_config::BehaviorVersion::latest()).load())
        .await
}

pub(crate) async fn dynamodb() -> &'static aws_sdk_dynamodb::Client {
    static CLIENT: OnceCell<aws_sdk_dynamodb::Client> = OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk_config().await)
                    .interceptor(TraceHeader)
                    .build(),
            )
        })
        .await
}

pub(crate) async fn sagemaker_runtime() -> &'static aws_sdk_sagemakerruntime::Client {
    static CLIENT: OnceCell<aws_sdk_sagemakerruntime::Client> = OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            aws_sdk_sagemakerruntime::Client::from_conf(
                aws_sdk_sagemakerruntime::config::Builder::from(sdk_config().await)
                    .interceptor(TraceHeader)
                    .build(),
            )
        })
        .await
}

pub(crate) async fn lambda() -> &'static aws_sdk_lambda::Client {
    static CLIENT: OnceCell<aws_sdk_lambda::Client> = OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(sdk_config().await)
                    .interceptor(TraceHeader)
                    .build(),
            )
        })
        .await
}

pub(crate) async fn s3() -> &'static aws_sdk_s3::Client {
    static CLIENT: OnceCell<aws_sdk_s3::Client> = OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            let config = sdk_config().await;
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    // An endpoint override (the local simulator, moto) serves buckets by path,
                    // `http://127.0.0.1:port/bucket/key`, not as `bucket.127.0.0.1` host names.
                    .force_path_style(config.endpoint_url().is_some())
                    .interceptor(TraceHeader)
                    .build(),
            )
        })
        .await
}

pub(crate) async fn secrets_manager() -> &'static aws_sdk_secretsmanager::Client {
    static CLIENT: OnceCell<aws_sdk_secretsmanager::Client> = OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(sdk_config().await)
                    .interceptor(TraceHeader)
                    .build(),
            )
        })
        .await
}

/// The physical (AWS) name of a resource, from the variable deployment sets for granted resources.
pub(crate) fn physical_name(kind: ResourceKind, logical_name: &str) -> Result<String, ClientError> {
    let env_var = resource_env_var(kind, logical_name);
    match std::env::var(&env_var) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(ClientError::NotGranted {
            kind,
            resource: logical_name.to_owned(),
            function: current_function_description(),
            env_var,
        }),
    }
}

/// `function `x`` when running as a Pluto function, otherwise a description of the situation.
pub(crate) fn current_function_description() -> String {
    match std::env::var(HANDLER_ENV) {
        Ok(name) if !name.is_empty() => format!("function `{name}`"),
        _ => format!("code running outside a Pluto function ({HANDLER_ENV} is not set)"),
    }
}

/// Renders an SDK error with its whole chain of causes (the SDK's `Display` shows only the top).
pub(crate) fn describe_sdk_error(error: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string()
}
