//! Connecting to AWS: the standard credential and region chain (plus `--region` and
//! `--endpoint-url`), the caller's account from STS, one client per service, and a log of every
//! API call the engine makes (for progress, tests and the benchmark).
//!
//! Every call is retried by the SDK's standard retry: throttling, 5xx answers, connections that
//! fail or close without an answer, and attempts that time out, up to [`MAX_ATTEMPTS`] attempts
//! with exponential backoff (what the configuration says, when [`from_config`] is given one). The
//! retry quota (the token bucket that stops retries when most calls fail) is the connection's
//! own, not shared by every client in the process.
//!
//! No call can hang: every client has the connection's [`Timeouts`] (connect, read, attempt and
//! operation), so an endpoint that accepts a connection and never answers fails the call, naming
//! it, after the attempts' timeouts or the operation's, whichever comes first. Waiting for an
//! object to become ready is polling (short calls, see [`crate::wait`]), never one long call; the
//! only calls that may legitimately take long are those that upload a function's code, whose
//! timeouts grow with the size of the upload ([`Timeouts::for_upload`]).

use crate::error::{EngineError, aws_error};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_iam::config::retry::RetryPartition;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, Input,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::timeout::TimeoutConfig;
use pluto_model::iam::AwsTarget;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Attempts per API call: throttling and 5xx answers are retried with exponential backoff.
pub const MAX_ATTEMPTS: u32 = 6;

/// The slowest upload a code upload is given time for: 64 KiB/s (half a megabit per second).
/// An upload that stalls completely is stopped sooner by the SDK's stalled-stream protection.
pub const MIN_UPLOAD_BYTES_PER_S: u64 = 64 * 1024;

/// How long an AWS API call may take, on every client of a connection. Real AWS answers the
/// engine's calls in well under a second (waiting for an object is polling), so the limits are
/// far above normal use, and only an endpoint that does not answer reaches them. A call that
/// runs out of time fails with [`EngineError::NoAnswer`], naming the call and its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection (TCP and TLS). Retried like a dropped connection.
    pub connect: Duration,
    /// From sending a request to the start of its answer, per attempt. Retried like a lost
    /// answer.
    pub read: Duration,
    /// One attempt, from start to the last byte of the answer. Retried.
    pub attempt: Duration,
    /// The whole call: every attempt and the pauses between them. Not retried: the call fails.
    pub operation: Duration,
}

impl Default for Timeouts {
    /// Connect 5 s, read 60 s, attempt 90 s, operation 3 minutes.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(60),
            attempt: Duration::from_secs(90),
            operation: Duration::from_secs(180),
        }
    }
}

impl Timeouts {
    /// As the SDK's timeout configuration.
    pub fn config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }

    /// The timeouts of a call that uploads `bytes` (a function's code: base64 in the request,
    /// so a third more is sent): the read and attempt timeouts get the time the upload takes at
    /// [`MIN_UPLOAD_BYTES_PER_S`], the operation twice that (so one upload can be retried).
    pub fn for_upload(&self, bytes: u64) -> Self {
        let sent = bytes.saturating_mul(4) / 3;
        let upload = Duration::from_millis(sent.saturating_mul(1000) / MIN_UPLOAD_BYTES_PER_S);
        Self {
            connect: self.connect,
            read: self.read + upload,
            attempt: self.attempt + upload,
            operation: self.operation + upload * 2,
        }
    }
}

/// Where to connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Region; `None` takes it from the standard chain (AWS_REGION, profile).
    pub region: Option<String>,
    /// Endpoint for every service (e.g. an emulator on loopback); `None` for AWS itself. Check it
    /// with [`check_endpoint_url`] first: the SDK's own error for a malformed one is cryptic.
    pub endpoint_url: Option<String>,
    /// How long calls may take.
    pub timeouts: Timeouts,
}

/// Checks that `url` can be the endpoint of every service: an `http://` or `https://` URL with a
/// host, and optionally a port and a path. `Err` says what is wrong with it.
///
/// # Errors
/// When `url` has no scheme, another scheme than http(s), no host, or does not parse as a URL.
pub fn check_endpoint_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("it has no scheme (`http://` or `https://`)".to_owned());
    };
    if !["http", "https"]
        .iter()
        .any(|known| scheme.eq_ignore_ascii_case(known))
    {
        return Err(format!("its scheme is `{scheme}`, not http or https"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') {
        return Err("it has no host".to_owned());
    }
    // `HOST:PORT` or `[IPv6]:PORT`.
    let port = match host.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':'),
        None => host.rsplit_once(':').map(|(_, port)| port),
    };
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("its port `{port}` is not a number from 0 to 65535"));
    }
    // As the SDK will set it on every request.
    aws_smithy_runtime_api::http::Request::empty()
        .uri_mut()
        .set_endpoint(url)
        .map_err(|error| match std::error::Error::source(&error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        })
}

/// Gives calls that upload a function's code ([`Timeouts::for_upload`]) time for the upload.
/// Set before the call's timeouts are read (the operation's included).
#[derive(Debug, Clone)]
struct UploadTimeouts(Timeouts);

impl Intercept for UploadTimeouts {
    fn name(&self) -> &'static str {
        "PlutoUploadTimeouts"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = uploaded_bytes(context.input()) {
            cfg.interceptor_state()
                .store_put(self.0.for_upload(bytes).config());
        }
        Ok(())
    }
}

/// The size of the code a Lambda call uploads, if it uploads any.
fn uploaded_bytes(input: &Input) -> Option<u64> {
    use aws_sdk_lambda::operation::create_function::CreateFunctionInput;
    use aws_sdk_lambda::operation::update_function_code::UpdateFunctionCodeInput;
    let zip = if let Some(input) = input.downcast_ref::<CreateFunctionInput>() {
        input.code().and_then(|code| code.zip_file())
    } else if let Some(input) = input.downcast_ref::<UpdateFunctionCodeInput>() {
        input.zip_file()
    } else {
        None
    }?;
    u64::try_from(zip.as_ref().len()).ok()
}

/// One API call the engine sent (each attempt counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// Service, e.g. `Lambda`.
    pub service: String,
    /// Operation, e.g. `CreateFunction`.
    pub operation: String,
}

impl ApiCall {
    /// Whether the call changes something: everything but `Get*`, `List*`, `Describe*`,
    /// `Head*` (S3's existence checks), `Scan` (a table's emptiness check) and
    /// `GetCallerIdentity`.
    pub fn is_mutating(&self) -> bool {
        !["Get", "List", "Describe", "Head", "Scan"]
            .iter()
            .any(|prefix| self.operation.starts_with(prefix))
    }
}

/// Every API call sent through a [`Aws`] connection, in order.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<ApiCall>>>,
}

impl CallLog {
    /// The calls so far.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.calls
            .lock()
            .map(|calls| calls.clone())
            .unwrap_or_default()
    }

    fn record(&self, call: ApiCall) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "PlutoCallLog"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.record(ApiCall {
                service: metadata.service().to_owned(),
                operation: metadata.name().to_owned(),
            });
        }
        Ok(())
    }
}

/// A connection to one account and region.
#[derive(Debug, Clone)]
pub struct Aws {
    /// Partition, region and account: what ARNs are built from.
    pub target: AwsTarget,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SageMaker (control plane).
    pub sagemaker: aws_sdk_sagemaker::Client,
    /// S3 (path-style addressing when an endpoint override is set, as emulators need).
    pub s3: aws_sdk_s3::Client,
    /// Secrets Manager.
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    /// Every call made through these clients.
    pub calls: CallLog,
    /// The principal deploying, e.g. `arn:aws:iam::123456789012:user/alice`.
    pub caller_arn: String,
    /// The clients' retry settings, also used by the few calls the engine retries itself.
    pub retry: RetryConfig,
    /// The clients' timeouts.
    pub timeouts: Timeouts,
}

/// Loads configuration from the standard chain, checks the credentials and asks STS who we are.
pub async fn connect(options: &ConnectOptions) -> Result<Aws, EngineError> {
    from_config_with_timeouts(&load_config(options).await, options.timeouts).await
}

/// The AWS configuration [`connect`] uses: the standard chain with `options`' region, endpoint,
/// retries and timeouts (for other clients of the same account, e.g. `cargo pluto invoke
/// --deployed`). Not checked: [`from_config`] checks region and credentials.
pub async fn load_config(options: &ConnectOptions) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(options.timeouts.config());
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// Connects with an already loaded configuration (which must carry region and credentials), with
/// the default [`Timeouts`] on every client.
pub async fn from_config(config: &aws_config::SdkConfig) -> Result<Aws, EngineError> {
    from_config_with_timeouts(config, Timeouts::default()).await
}

/// Connects with an already loaded configuration (which must carry region and credentials), with
/// `timeouts` on every client (instead of the configuration's own).
pub async fn from_config_with_timeouts(
    config: &aws_config::SdkConfig,
    timeouts: Timeouts,
) -> Result<Aws, EngineError> {
    let region = config
        .region()
        .map(|region| region.to_string())
        .ok_or(EngineError::NoRegion)?;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| EngineError::NoCredentials("no credential provider".to_owned()))?;
    provider.provide_credentials().await.map_err(|error| {
        EngineError::NoCredentials(
            aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
        )
    })?;

    let calls = CallLog::default();
    let retry = config
        .retry_config()
        .cloned()
        .unwrap_or_else(RetryConfig::standard);
    // One token bucket for all of this connection's clients.
    let retry_partition = RetryPartition::custom("pluto").build();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(config)
            .interceptor(calls.clone())
            .retry_partition(retry_partition.clone())
            .timeout_config(timeouts.config())
            .build(),
    );
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| aws_error("sts:GetCallerIdentity", "the caller", error))?;
    let caller_arn = identity.arn().unwrap_or_default().to_owned();
    let account = identity.account().unwrap_or_default().to_owned();
    // arn:PARTITION:sts::ACCOUNT:...
    let partition = caller_arn.split(':').nth(1).unwrap_or("aws").to_owned();
    let target = AwsTarget::new(&partition, &region, &account)?;

    Ok(Aws {
        target,
        iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(config)
                .interceptor(calls.clone())
                .retry_partition(retry_partition.clone())
                .timeout_config(timeouts.config())
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(config)
                .interceptor(calls.clone())
                .interceptor(UploadTimeouts(timeouts))
                .retry_partition(retry_partition.clone())
                .timeout_config(timeouts.config())
                .build(),
        ),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(config)
                .interceptor(calls.clone())
                .retry_partition(retry_partition.clone())
                .timeout_config(timeouts.config())
                .build(),
        ),
        sagemaker: aws_sdk_sagemaker::Client::from_conf(
            aws_sdk_sagemaker::config::Builder::from(config)
                .interceptor(calls.clone())
                .retry_partition(retry_partition.clone())
                .timeout_config(timeouts.config())
                .build(),
        ),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(config)
                .interceptor(calls.clone())
                .retry_partition(retry_partition.clone())
                .timeout_config(timeouts.config())
                // Emulators (moto, `--endpoint-url`) serve buckets under the path, not as hosts.
                .force_path_style(config.endpoint_url().is_some())
                .build(),
        ),
        secretsmanager: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(config)
                .interceptor(calls.clone())
                .retry_partition(retry_partition.clone())
                .timeout_config(timeouts.config())
                .build(),
        ),
        calls,
        caller_arn,
        retry,
        timeouts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_must_be_http_urls_with_a_host() {
        for good in [
            "http://127.0.0.1:5000",
            "https://sts.us-east-1.amazonaws.com",
            "http://localhost:4566/",
            "HTTP://[::1]:5000/prefix",
        ] {
            assert_eq!(check_endpoint_url(good), Ok(()), "{good}");
        }
        for (bad, reason) in [
            ("notaurl", "no scheme"),
            ("127.0.0.1:5000", "no scheme"),
            ("ftp://example.com", "`ftp`, not http or https"),
            ("http://", "no host"),
            ("http://:5000", "no host"),
            ("http://exa mple.com", "not a valid URI"),
            ("http://localhost:port", "port `port` is not a number"),
            ("http://localhost:70000", "port `70000`"),
            ("http://[::1]:x/", "port `x`"),
        ] {
            let error = check_endpoint_url(bad).expect_err(bad);
            assert!(error.contains(reason), "{bad}: {error}");
        }
    }

    #[test]
    fn uploads_get_time_for_their_size() {
        let timeouts = Timeouts::default();
        assert_eq!(timeouts.for_upload(0), timeouts);
        // 48 MiB of zip is 64 MiB sent: 1024 s at 64 KiB/s.
        let upload = timeouts.for_upload(48 << 20);
        assert_eq!(upload.connect, timeouts.connect);
        assert_eq!(upload.read, timeouts.read + Duration::from_secs(1024));
        assert_eq!(upload.attempt, timeouts.attempt + Duration::from_secs(1024));
        assert_eq!(
            upload.operation,
            timeouts.operation + Duration::from_secs(2048)
        );
        let config = timeouts.config();
        assert_eq!(config.connect_timeout(), Some(Duration::from_secs(5)));
        assert_eq!(config.read_timeout(), Some(Duration::from_secs(60)));
        assert_eq!(
            config.operation_attempt_timeout(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(config.operation_timeout(), Some(Duration::from_secs(180)));
    }
}
