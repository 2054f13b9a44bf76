//! Connecting to AWS: the standard credential and region chain (plus `--region` and
//! `--endpoint-url`), the caller's account from STS, one client per service, and a log of every
//! API call the engine makes (for progress, tests and the benchmark).
//!
//! Every call is retried by the SDK's standard retry: throttling, 5xx answers and connections
//! that fail or close without an answer, up to [`MAX_ATTEMPTS`] attempts with exponential backoff
//! (what the configuration says, when [`from_config`] is given one). The retry quota (the token
//! bucket that stops retries when most calls fail) is the connection's own, not shared by every
//! client in the process.

use crate::error::{EngineError, aws_error};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_iam::config::retry::RetryPartition;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use pluto_model::iam::AwsTarget;
use std::sync::{Arc, Mutex};

/// Attempts per API call: throttling and 5xx answers are retried with exponential backoff.
pub const MAX_ATTEMPTS: u32 = 6;

/// Where to connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Region; `None` takes it from the standard chain (AWS_REGION, profile).
    pub region: Option<String>,
    /// Endpoint for every service (e.g. an emulator on loopback); `None` for AWS itself.
    pub endpoint_url: Option<String>,
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
    /// Whether the call changes something: everything but `Get*`, `List*`, `Describe*` and
    /// `GetCallerIdentity`.
    pub fn is_mutating(&self) -> bool {
        !["Get", "List", "Describe"]
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
    /// Every call made through these clients.
    pub calls: CallLog,
    /// The principal deploying, e.g. `arn:aws:iam::123456789012:user/alice`.
    pub caller_arn: String,
    /// The clients' retry settings, also used by the few calls the engine retries itself.
    pub retry: RetryConfig,
}

/// Loads configuration from the standard chain, checks the credentials and asks STS who we are.
pub async fn connect(options: &ConnectOptions) -> Result<Aws, EngineError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    from_config(&loader.load().await).await
}

/// Connects with an already loaded configuration (which must carry region and credentials).
pub async fn from_config(config: &aws_config::SdkConfig) -> Result<Aws, EngineError> {
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
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(config)
                .interceptor(calls.clone())
                .retry_partition(retry_partition.clone())
                .build(),
        ),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(config)
                .interceptor(calls.clone())
                .retry_partition(retry_partition.clone())
                .build(),
        ),
        sagemaker: aws_sdk_sagemaker::Client::from_conf(
            aws_sdk_sagemaker::config::Builder::from(config)
                .interceptor(calls.clone())
                .retry_partition(retry_partition.clone())
                .build(),
        ),
        calls,
        caller_arn,
        retry,
    })
}
