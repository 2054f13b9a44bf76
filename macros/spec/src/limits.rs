//! Defaults and limits of every `#[resource]` option, with the AWS rule each one comes from.

use std::ops::RangeInclusive;

/// Lambda function timeout in seconds (AWS: 1 to 900).
pub const FUNCTION_TIMEOUT_S: RangeInclusive<u32> = 1..=900;
/// Default Lambda timeout.
pub const DEFAULT_FUNCTION_TIMEOUT_S: u32 = 30;
/// Lambda memory in MiB (AWS: 128 to 10240).
pub const FUNCTION_MEMORY_MB: RangeInclusive<u32> = 128..=10_240;
/// Default Lambda memory.
pub const DEFAULT_FUNCTION_MEMORY_MB: u32 = 256;

/// Origins in a Function URL's CORS settings (AWS `Cors.AllowOrigins`: at most 100 items).
pub const CORS_MAX_ORIGINS: usize = 100;
/// Length of one CORS origin (AWS: 1 to 253 characters).
pub const CORS_ORIGIN_MAX_LEN: usize = 253;
/// Methods AWS accepts in `Cors.AllowMethods` (at most 6 characters each, so not `OPTIONS`:
/// preflight requests are answered by the Function URL itself).
pub const CORS_METHODS: &[&str] = &["GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"];
/// Methods in a Function URL's CORS settings (AWS `Cors.AllowMethods`: at most 6 items).
pub const CORS_MAX_METHODS: usize = 6;
/// Headers in `allow_headers` or in `expose_headers` (AWS: at most 100 items each).
pub const CORS_MAX_HEADERS: usize = 100;
/// Length of one CORS header name (AWS: at most 1024 characters).
pub const CORS_HEADER_MAX_LEN: usize = 1024;
/// How long a browser may cache a preflight response, in seconds (AWS `Cors.MaxAge`: 0 to 86400).
pub const CORS_MAX_AGE_S: RangeInclusive<u32> = 0..=86_400;

/// Default SageMaker instance type: available in every region and accepted by the AWS API
/// emulators the tests use.
pub const DEFAULT_INSTANCE_TYPE: &str = "ml.m5.xlarge";
/// Instances a SageMaker endpoint starts with. AWS has no fixed maximum (it is a quota); 100 catches
/// typos such as an extra zero.
pub const INSTANCE_COUNT: RangeInclusive<u32> = 1..=100;
/// Serverless inference memory in MiB (AWS: 1024 to 6144, in steps of 1024).
pub const SERVERLESS_MEMORY_MB: RangeInclusive<u32> = 1024..=6144;
/// Serverless inference memory step.
pub const SERVERLESS_MEMORY_STEP_MB: u32 = 1024;
/// Default serverless inference memory.
pub const DEFAULT_SERVERLESS_MEMORY_MB: u32 = 2048;
/// Serverless inference concurrency (AWS: 1 to 200).
pub const SERVERLESS_MAX_CONCURRENCY: RangeInclusive<u32> = 1..=200;
/// Default serverless inference concurrency.
pub const DEFAULT_SERVERLESS_MAX_CONCURRENCY: u32 = 5;

/// Longest logical resource name. Physical names add the project and stack and must still fit
/// Lambda's 64 and SageMaker's 63 characters, shortened with a hash by the engine when needed.
pub const NAME_MAX_LEN: usize = 48;

/// Largest request or response body a function handles: Lambda's 6 MB limit for synchronous
/// invocations.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Largest response a function may return synchronously: the figure Lambda's error names
/// (`Response payload size exceeded maximum allowed payload size (6291556 bytes).`).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// Largest DynamoDB item, attribute names and values included (400 KB).
pub const DYNAMODB_ITEM_MAX_BYTES: usize = 400 * 1024;

/// Largest DynamoDB partition key value.
pub const DYNAMODB_PARTITION_KEY_MAX_BYTES: usize = 2048;

/// Largest DynamoDB request body (16 MB).
pub const DYNAMODB_REQUEST_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Largest SageMaker real-time `InvokeEndpoint` request or response (6 MB; serverless endpoints
/// take 4 MB).
pub const SAGEMAKER_PAYLOAD_MAX_BYTES: usize = 6 * 1024 * 1024;

/// Environment variables Lambda reserves for itself; a function cannot set them.
pub const LAMBDA_RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Largest secret value Secrets Manager stores (`SecretString`, 64 KiB); `cargo pluto secret set`
/// refuses a larger one locally too.
pub const SECRET_VALUE_MAX_BYTES: usize = 65_536;
