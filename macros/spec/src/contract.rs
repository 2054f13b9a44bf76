//! The environment-variable contract between deployment (the simulator or an engine) and the
//! runtime inside each function process.
//!
//! | variable | set to | read by |
//! | --- | --- | --- |
//! | `PLUTO_HANDLER` | logical name of the function this process serves | `pluto::start()` |
//! | `PLUTO_PROJECT`, `PLUTO_STACK` | project and stack names (informational) | logs |
//! | `PLUTO_KV_STORE_<NAME>` | DynamoDB table name of KV store `<name>` | `KvStore` |
//! | `PLUTO_SAGEMAKER_<NAME>` | endpoint name of SageMaker endpoint `<name>` | `SageMaker` |
//! | `PLUTO_BUCKET_<NAME>` | S3 bucket name of bucket `<name>` | `Bucket` |
//! | `PLUTO_SECRET_<NAME>` | Secrets Manager secret name of secret `<name>` | `Secret` |
//! | `PLUTO_FUNCTION_<NAME>` | Lambda function name (or ARN) of function `<name>` | `Function::invoke` |
//! | `PLUTO_URL_<NAME>` | Function URL of function `<name>` | `Function::url` |
//!
//! `<NAME>` is the logical name upper-cased with `-` turned into `_` ([`env_suffix`]); logical names
//! are lowercase with no `_` ([`crate::names::check_resource_name`]), so the mapping is one-to-one.
//! A variable is set only for the resources a function was granted: a missing one means the
//! function has no access, and the runtime says so.
//!
//! Everything else comes from the standard AWS environment: credentials, `AWS_REGION`, and
//! `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`) to point the SDK at the local simulator or
//! an emulator such as moto.

use crate::ResourceKind;

/// Prefix of every variable Pluto sets; users cannot declare variables with it.
pub const RESERVED_ENV_PREFIX: &str = "PLUTO_";
/// Logical name of the function a process serves.
pub const HANDLER_ENV: &str = "PLUTO_HANDLER";
/// Project name.
pub const PROJECT_ENV: &str = "PLUTO_PROJECT";
/// Stack name.
pub const STACK_ENV: &str = "PLUTO_STACK";
/// The stack every command uses unless told another (`--stack`).
pub const DEFAULT_STACK: &str = "dev";

/// Partition-key attribute of a KV store's DynamoDB table (type `S`).
pub const KV_KEY_ATTRIBUTE: &str = "pk";
/// Attribute holding a KV store entry's value (type `S`).
pub const KV_VALUE_ATTRIBUTE: &str = "value";

/// Seconds the runtime's `Secret::get` reuses a value it read before asking Secrets Manager again:
/// a changed value reaches warm functions within this time.
pub const SECRET_CACHE_TTL_S: u64 = 300;

/// The Lambda Runtime API's header carrying an invocation's request id (`invocation/next`).
pub const RUNTIME_REQUEST_ID_HEADER: &str = "lambda-runtime-aws-request-id";
/// The Lambda Runtime API's header carrying an invocation's X-Ray trace id (`invocation/next`);
/// its `Root` holds the request id locally.
pub const RUNTIME_TRACE_ID_HEADER: &str = "lambda-runtime-trace-id";
/// The header on a function's AWS calls carrying its invocation's trace id (as the AWS SDK sends
/// it in Lambda); the local simulator files each call under the invocation that made it.
pub const TRACE_ID_HEADER: &str = "x-amzn-trace-id";

/// `<NAME>` in the variables above: the logical name upper-cased, `-` turned into `_`.
pub fn env_suffix(logical_name: &str) -> String {
    logical_name
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// The variable holding the physical name of a resource.
pub fn resource_env_var(kind: ResourceKind, logical_name: &str) -> String {
    let kind = match kind {
        ResourceKind::Sagemaker => "SAGEMAKER",
        ResourceKind::KvStore => "KV_STORE",
        ResourceKind::Function => "FUNCTION",
        ResourceKind::Bucket => "BUCKET",
        ResourceKind::Secret => "SECRET",
    };
    format!("{RESERVED_ENV_PREFIX}{kind}_{}", env_suffix(logical_name))
}

/// The variable holding the Function URL of a function.
pub fn function_url_env_var(logical_name: &str) -> String {
    format!("{RESERVED_ENV_PREFIX}URL_{}", env_suffix(logical_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_derived_from_kind_and_name() {
        assert_eq!(
            resource_env_var(ResourceKind::KvStore, "chat-history"),
            "PLUTO_KV_STORE_CHAT_HISTORY"
        );
        assert_eq!(
            resource_env_var(ResourceKind::Sagemaker, "llama"),
            "PLUTO_SAGEMAKER_LLAMA"
        );
        assert_eq!(
            resource_env_var(ResourceKind::Function, "qa"),
            "PLUTO_FUNCTION_QA"
        );
        assert_eq!(function_url_env_var("chatbot"), "PLUTO_URL_CHATBOT");
        assert_eq!(
            resource_env_var(ResourceKind::Bucket, "docs"),
            "PLUTO_BUCKET_DOCS"
        );
        assert_eq!(
            resource_env_var(ResourceKind::Secret, "hf-token"),
            "PLUTO_SECRET_HF_TOKEN"
        );
    }
}
