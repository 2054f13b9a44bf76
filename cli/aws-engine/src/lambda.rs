//! Lambda: a function's configuration and code, its Function URL (auth type, CORS, invoke mode:
//! `RESPONSE_STREAM` for a function that streams, `BUFFERED` otherwise) and, for public
//! URLs, the two resource-policy statements AWS requires since October 2025
//! (`lambda:InvokeFunctionUrl` with `FunctionUrlAuthType: NONE`, and `lambda:InvokeFunction` only
//! when invoked through the URL).

use crate::connect::Aws;
use crate::desired::{
    DesiredFunction, DesiredUrl, LAMBDA_HANDLER, LAMBDA_RUNTIME, PUBLIC_INVOKE_SID, PUBLIC_URL_SID,
    check_same_stack,
};
use crate::error::{EngineError, aws_error, found, is_transient};
use crate::plan::{FieldChange, env_changes, tag_change};
use crate::role::parse_policy;
use crate::wait::{WaitPolicy, retry_while};
use aws_config::retry::RetryConfig;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Cors, Environment, FunctionUrlAuthType, InvokeMode, LastUpdateStatus, Runtime,
    State,
};
use pluto_model::{Operation, ResponseMode};
use pluto_spec::Cors as DeclaredCors;
use pluto_spec::contract;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// A function as Lambda reports it. Its `Debug` shows only the names of env variables: their
/// values may be secrets.
#[derive(Clone, PartialEq)]
pub(crate) struct LiveFunction {
    /// ARN.
    pub arn: String,
    /// Execution role ARN.
    pub role: String,
    /// Runtime.
    pub runtime: String,
    /// Handler.
    pub handler: String,
    /// Memory in MiB.
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_s: u32,
    /// Architecture.
    pub architecture: String,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Base64 SHA-256 of the code zip.
    pub code_sha256: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Function URL.
    pub url: Option<LiveUrl>,
    /// Statement ids of the resource policy.
    pub statements: BTreeSet<String>,
}

impl std::fmt::Debug for LiveFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFunction")
            .field("arn", &self.arn)
            .field("role", &self.role)
            .field("memory_mb", &self.memory_mb)
            .field("timeout_s", &self.timeout_s)
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .field("code_sha256", &self.code_sha256)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A Function URL as Lambda reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveUrl {
    /// The URL.
    pub url: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// CORS, in the declaration's shape.
    pub cors: Option<DeclaredCors>,
    /// `InvokeMode` as reported (`BUFFERED`, `RESPONSE_STREAM`; absent means buffered).
    pub invoke_mode: Option<String>,
}

impl LiveUrl {
    /// How the URL answers; `None` for an `InvokeMode` Pluto does not know.
    fn response(&self) -> Option<ResponseMode> {
        ResponseMode::from_invoke_mode(self.invoke_mode.as_deref())
    }

    /// The invoke mode as a plan shows it: Lambda's spelling, or what was reported if unknown.
    fn shown_invoke_mode(&self) -> String {
        match self.response() {
            Some(mode) => mode.invoke_mode().to_owned(),
            None => format!("{:?}", self.invoke_mode.as_deref().unwrap_or_default()),
        }
    }
}

/// `Lambda function NAME`.
pub(crate) fn object(name: &str) -> String {
    format!("Lambda function {name}")
}

/// `Function URL of NAME`.
pub(crate) fn url_object(name: &str) -> String {
    format!("Function URL of {name}")
}

fn not_found<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("ResourceNotFoundException")
}

/// Reads the function, its URL and its policy's statement ids; `None` when it does not exist.
pub(crate) async fn read(aws: &Aws, name: &str) -> Result<Option<LiveFunction>, EngineError> {
    let result = aws.lambda.get_function().function_name(name).send().await;
    let Some(output) = found("lambda:GetFunction", object(name), result, not_found)? else {
        return Ok(None);
    };
    let Some(config) = output.configuration() else {
        return Ok(None);
    };
    let url = read_url(aws, name).await?;
    let statements = read_statements(aws, name).await?;
    Ok(Some(LiveFunction {
        arn: config.function_arn().unwrap_or_default().to_owned(),
        role: config.role().unwrap_or_default().to_owned(),
        runtime: config
            .runtime()
            .map(|runtime| runtime.as_str().to_owned())
            .unwrap_or_default(),
        handler: config.handler().unwrap_or_default().to_owned(),
        memory_mb: config
            .memory_size()
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0),
        timeout_s: config
            .timeout()
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(0),
        architecture: config
            .architectures()
            .first()
            .map(|arch| arch.as_str().to_owned())
            .unwrap_or_else(|| "x86_64".to_owned()),
        env: config
            .environment()
            .and_then(|env| env.variables())
            .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        code_sha256: config.code_sha256().unwrap_or_default().to_owned(),
        tags: output
            .tags()
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        url,
        statements,
    }))
}

/// The function's URL, or `None`.
async fn read_url(aws: &Aws, name: &str) -> Result<Option<LiveUrl>, EngineError> {
    let result = aws
        .lambda
        .get_function_url_config()
        .function_name(name)
        .send()
        .await;
    Ok(found(
        "lambda:GetFunctionUrlConfig",
        url_object(name),
        result,
        not_found,
    )?
    .map(|url| LiveUrl {
        url: url.function_url().to_owned(),
        auth_type: url.auth_type().as_str().to_owned(),
        cors: url.cors().map(|cors| DeclaredCors {
            allow_origins: cors.allow_origins().to_vec(),
            allow_methods: cors.allow_methods().to_vec(),
            allow_headers: cors.allow_headers().to_vec(),
            expose_headers: cors.expose_headers().to_vec(),
            max_age_s: cors.max_age().and_then(|age| u32::try_from(age).ok()),
            allow_credentials: cors.allow_credentials().unwrap_or(false),
        }),
        invoke_mode: url.invoke_mode().map(|mode| mode.as_str().to_owned()),
    }))
}

/// Statement ids of the function's resource policy.
async fn read_statements(aws: &Aws, name: &str) -> Result<BTreeSet<String>, EngineError> {
    let result = aws.lambda.get_policy().function_name(name).send().await;
    let policy = found("lambda:GetPolicy", object(name), result, not_found)?
        .map(|policy| parse_policy(policy.policy().unwrap_or_default()))
        .unwrap_or_default();
    Ok(policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|statement| statement["Sid"].as_str().map(str::to_owned))
        .collect())
}

/// Which parts of a function differ: configuration, code, URL, permissions, tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FunctionDiff {
    pub(crate) configuration: Vec<FieldChange>,
    pub(crate) code: Vec<FieldChange>,
    pub(crate) tags: Option<FieldChange>,
    pub(crate) url: Vec<FieldChange>,
}

fn desired_env(function: &DesiredFunction) -> BTreeMap<String, (String, String)> {
    function
        .env
        .iter()
        .map(|(key, entry)| (key.clone(), (entry.value.clone(), entry.shown())))
        .collect()
}

/// Compares a function with what Lambda reports.
pub(crate) fn diff(desired: &DesiredFunction, live: &LiveFunction) -> FunctionDiff {
    let mut configuration = Vec::new();
    let mut field = |name: &str, old: String, new: String| {
        if old != new {
            configuration.push(FieldChange::new(name, old, new));
        }
    };
    field("role", live.role.clone(), desired.role.arn.clone());
    field("runtime", live.runtime.clone(), LAMBDA_RUNTIME.to_owned());
    field("handler", live.handler.clone(), LAMBDA_HANDLER.to_owned());
    field(
        "memory_mb",
        live.memory_mb.to_string(),
        desired.memory_mb.to_string(),
    );
    field(
        "timeout_s",
        live.timeout_s.to_string(),
        desired.timeout_s.to_string(),
    );
    // A live value is shown only where it cannot be a secret: Pluto's own variables, and keys
    // declared as literals now. Anything else (a secret, a key no longer declared, or one set
    // outside Pluto) may hold a secret, so only its presence is shown.
    configuration.extend(env_changes(
        &desired_env(desired),
        &live.env,
        &|key, value| match desired.env.get(key) {
            Some(entry) if entry.secret => "(secret)".to_owned(),
            Some(_) => format!("{value:?}"),
            None if key.starts_with(contract::RESERVED_ENV_PREFIX) => format!("{value:?}"),
            None => "(hidden)".to_owned(),
        },
    ));

    let mut code = Vec::new();
    if live.architecture != desired.code.architecture {
        code.push(FieldChange::new(
            "architecture",
            live.architecture.clone(),
            desired.code.architecture.clone(),
        ));
    }
    if live.code_sha256 != desired.code.code_sha256 {
        code.push(FieldChange::new(
            "code",
            format!("sha256 {}", live.code_sha256),
            format!("sha256 {}", desired.code.code_sha256),
        ));
    }

    FunctionDiff {
        configuration,
        code,
        tags: tag_change(&desired.tags, &live.tags),
        url: url_diff(desired.url.as_ref(), live),
    }
}

fn render_cors(cors: Option<&DeclaredCors>) -> String {
    match cors {
        None => "(none)".to_owned(),
        Some(cors) => format!(
            "origins {:?}, methods {:?}, headers {:?}, expose {:?}, max_age {:?}, credentials {}",
            cors.allow_origins,
            cors.allow_methods,
            cors.allow_headers,
            cors.expose_headers,
            cors.max_age_s,
            cors.allow_credentials
        ),
    }
}

/// The URL's changes, including its permissions.
fn url_diff(desired: Option<&DesiredUrl>, live: &LiveFunction) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let live_auth = live
        .url
        .as_ref()
        .map_or("(no URL)".to_owned(), |url| url.auth_type.clone());
    let desired_auth = desired.map_or("(no URL)".to_owned(), |url| url.auth_type().to_owned());
    if live_auth != desired_auth {
        changes.push(FieldChange::new("url auth", live_auth, desired_auth));
    }
    if let (Some(desired), Some(live_url)) = (desired, &live.url) {
        if normalised_cors(desired.cors.as_ref()) != normalised_cors(live_url.cors.as_ref()) {
            changes.push(FieldChange::new(
                "cors",
                render_cors(live_url.cors.as_ref()),
                render_cors(desired.cors.as_ref()),
            ));
        }
        if live_url.response() != Some(desired.response) {
            changes.push(FieldChange::new(
                "invoke mode",
                live_url.shown_invoke_mode(),
                desired.response.invoke_mode(),
            ));
        }
    }
    let public = desired.is_some_and(|url| url.public);
    for sid in [PUBLIC_URL_SID, PUBLIC_INVOKE_SID] {
        let present = live.statements.contains(sid);
        if present != public {
            changes.push(FieldChange::new(
                format!("permission {sid}"),
                if present { "present" } else { "absent" },
                if public { "present" } else { "absent" },
            ));
        }
    }
    changes
}

/// CORS as compared: no configuration and an empty one are the same, and header names are
/// compared in lower case (Lambda stores them so).
fn normalised_cors(cors: Option<&DeclaredCors>) -> Option<DeclaredCors> {
    let mut cors = cors
        .filter(|cors| **cors != DeclaredCors::default())
        .cloned()?;
    for headers in [&mut cors.allow_headers, &mut cors.expose_headers] {
        for header in headers.iter_mut() {
            header.make_ascii_lowercase();
        }
    }
    Some(cors)
}

fn environment(function: &DesiredFunction) -> Environment {
    Environment::builder()
        .set_variables(Some(
            function
                .env
                .iter()
                .map(|(key, entry)| (key.clone(), entry.value.clone()))
                .collect(),
        ))
        .build()
}

async fn zip_bytes(function: &DesiredFunction) -> Result<Blob, EngineError> {
    tokio::fs::read(&function.code.zip_path)
        .await
        .map(Blob::new)
        .map_err(|source| EngineError::Artifact {
            path: function.code.zip_path.clone(),
            source,
        })
}

fn architecture(function: &DesiredFunction) -> Architecture {
    Architecture::from(function.code.architecture.as_str())
}

/// The function's secret env values, to keep out of error messages.
fn secrets(function: &DesiredFunction) -> impl Iterator<Item = &str> {
    function
        .env
        .values()
        .filter(|entry| entry.secret)
        .map(|entry| entry.value.as_str())
}

/// Whether an error means IAM has not yet made a new role assumable.
fn role_not_ready<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("InvalidParameterValueException")
        && error
            .message()
            .is_some_and(|message| message.contains("cannot be assumed"))
}

/// Creates the function (retrying while its new role is not assumable yet) and waits until it is
/// active. If it exists already (an earlier attempt created it and its answer was lost, so the
/// SDK's retry was refused) and is the stack's, it is brought to the desired configuration, code
/// and tags instead, and returned as it was found (its URL and permissions are still to converge).
pub(crate) async fn create(
    aws: &Aws,
    function: &DesiredFunction,
    wait: &WaitPolicy,
) -> Result<Option<LiveFunction>, EngineError> {
    let code = zip_bytes(function).await?;
    let created = retry_while(
        wait.role_propagation,
        wait.role_retry_interval,
        || {
            aws.lambda
                .create_function()
                .function_name(&function.name)
                .role(&function.role.arn)
                .runtime(Runtime::from(LAMBDA_RUNTIME))
                .handler(LAMBDA_HANDLER)
                .architectures(architecture(function))
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(code.clone())
                        .build(),
                )
                .memory_size(i32::try_from(function.memory_mb).unwrap_or(i32::MAX))
                .timeout(i32::try_from(function.timeout_s).unwrap_or(i32::MAX))
                .environment(environment(function))
                .description(format!("Pluto function `{}`", function.logical))
                .set_tags(Some(function.tags.clone().into_iter().collect()))
                .send()
        },
        |error| error.as_service_error().is_some_and(role_not_ready),
    )
    .await;
    let existing = match created {
        Ok(_) => None,
        Err(error) if error.as_service_error().is_some_and(conflict) => {
            match read(aws, &function.name).await? {
                Some(live) => Some(live),
                None => {
                    return Err(
                        aws_error("lambda:CreateFunction", object(&function.name), error)
                            .without_secrets(secrets(function)),
                    );
                }
            }
        }
        Err(error) => {
            return Err(
                aws_error("lambda:CreateFunction", object(&function.name), error)
                    .without_secrets(secrets(function)),
            );
        }
    };
    if let Some(live) = &existing {
        check_same_stack(object(&function.name), &function.tags, &live.tags)?;
    }
    wait_ready(aws, &function.name, wait).await?;
    if let Some(live) = &existing {
        let diff = diff(function, live);
        if !diff.code.is_empty() || !diff.configuration.is_empty() || diff.tags.is_some() {
            update(aws, function, &diff, live, wait).await?;
        }
    }
    Ok(existing)
}

/// Lambda's answer to creating what exists (a function, a URL, a statement id).
fn conflict<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("ResourceConflictException")
        && error.message().is_some_and(|message| {
            message.contains("already exist") || message.contains("exists for this")
        })
}

/// Waits until the function is active and no update is in progress.
pub(crate) async fn wait_ready(
    aws: &Aws,
    name: &str,
    wait: &WaitPolicy,
) -> Result<(), EngineError> {
    let started = Instant::now();
    let mut polls = crate::wait::Polls::new(wait);
    loop {
        let config = aws
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|error| aws_error("lambda:GetFunctionConfiguration", object(name), error))?;
        let state = config.state().cloned();
        let update = config.last_update_status().cloned();
        match (&state, &update) {
            (Some(State::Failed), _) | (_, Some(LastUpdateStatus::Failed)) => {
                return Err(EngineError::FailedState {
                    object: object(name),
                    reason: config
                        .state_reason()
                        .or(config.last_update_status_reason())
                        .unwrap_or("no reason given")
                        .to_owned(),
                });
            }
            (Some(State::Pending), _) | (_, Some(LastUpdateStatus::InProgress)) => {}
            _ => return Ok(()),
        }
        if started.elapsed() > wait.function_timeout {
            return Err(EngineError::Timeout {
                object: object(name),
                state: "active",
                waited_s: started.elapsed().as_secs(),
                last: format!("{state:?} / {update:?}"),
            });
        }
        polls.pause().await;
    }
}

/// Applies the configuration and code changes of `diff`, waiting after each.
pub(crate) async fn update(
    aws: &Aws,
    function: &DesiredFunction,
    diff: &FunctionDiff,
    live: &LiveFunction,
    wait: &WaitPolicy,
) -> Result<(), EngineError> {
    let name = &function.name;
    if !diff.code.is_empty() {
        aws.lambda
            .update_function_code()
            .function_name(name)
            .zip_file(zip_bytes(function).await?)
            .architectures(architecture(function))
            .send()
            .await
            .map_err(|error| aws_error("lambda:UpdateFunctionCode", object(name), error))?;
        wait_ready(aws, name, wait).await?;
    }
    if !diff.configuration.is_empty() {
        update_configuration(aws, function, wait).await?;
    }
    if diff.tags.is_some() {
        let stale: Vec<String> = live
            .tags
            .keys()
            .filter(|key| !function.tags.contains_key(*key))
            .cloned()
            .collect();
        if !stale.is_empty() {
            aws.lambda
                .untag_resource()
                .resource(&live.arn)
                .set_tag_keys(Some(stale))
                .send()
                .await
                .map_err(|error| aws_error("lambda:UntagResource", object(name), error))?;
        }
        aws.lambda
            .tag_resource()
            .resource(&live.arn)
            .set_tags(Some(function.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|error| aws_error("lambda:TagResource", object(name), error))?;
    }
    Ok(())
}

/// Sets the function's whole configuration (role, runtime, memory, timeout, environment) as
/// desired, retrying while a new role is not yet assumable, and waits until it is applied.
pub(crate) async fn update_configuration(
    aws: &Aws,
    function: &DesiredFunction,
    wait: &WaitPolicy,
) -> Result<(), EngineError> {
    let name = &function.name;
    retry_while(
        wait.role_propagation,
        wait.role_retry_interval,
        || {
            aws.lambda
                .update_function_configuration()
                .function_name(name)
                .role(&function.role.arn)
                .runtime(Runtime::from(LAMBDA_RUNTIME))
                .handler(LAMBDA_HANDLER)
                .memory_size(i32::try_from(function.memory_mb).unwrap_or(i32::MAX))
                .timeout(i32::try_from(function.timeout_s).unwrap_or(i32::MAX))
                .environment(environment(function))
                .send()
        },
        |error| error.as_service_error().is_some_and(role_not_ready),
    )
    .await
    .map_err(|error| {
        aws_error("lambda:UpdateFunctionConfiguration", object(name), error)
            .without_secrets(secrets(function))
    })?;
    wait_ready(aws, name, wait).await
}

fn cors(declared: Option<&DeclaredCors>) -> Option<Cors> {
    let declared = normalised_cors(declared)?;
    Some(
        Cors::builder()
            .set_allow_origins(Some(declared.allow_origins))
            .set_allow_methods(Some(declared.allow_methods))
            .set_allow_headers(Some(declared.allow_headers))
            .set_expose_headers(Some(declared.expose_headers))
            .set_max_age(declared.max_age_s.and_then(|age| i32::try_from(age).ok()))
            .allow_credentials(declared.allow_credentials)
            .build(),
    )
}

/// Makes the URL and its permissions match the declaration; returns the URL, if any.
pub(crate) async fn converge_url(
    aws: &Aws,
    function: &DesiredFunction,
    live: Option<&LiveFunction>,
) -> Result<Option<String>, EngineError> {
    let name = &function.name;
    let live_url = live.and_then(|live| live.url.as_ref());
    let statements = live.map(|live| live.statements.clone()).unwrap_or_default();
    let public = function.url.as_ref().is_some_and(|url| url.public);

    // Permissions go before a URL turns public... and are removed before it stops being public.
    if !public {
        remove_public_permissions(aws, name, &statements).await?;
    }
    let url = match (&function.url, live_url) {
        (None, None) => None,
        (None, Some(_)) => {
            let result = aws
                .lambda
                .delete_function_url_config()
                .function_name(name)
                .send()
                .await;
            found(
                "lambda:DeleteFunctionUrlConfig",
                url_object(name),
                result,
                not_found,
            )?;
            None
        }
        (Some(desired), None) => {
            let result = aws
                .lambda
                .create_function_url_config()
                .function_name(name)
                .auth_type(FunctionUrlAuthType::from(desired.auth_type()))
                .set_cors(cors(desired.cors.as_ref()))
                .invoke_mode(invoke_mode(desired))
                .send()
                .await;
            match result {
                Ok(created) => Some(created.function_url().to_owned()),
                // Created by an earlier attempt whose answer was lost: make it right.
                Err(error) if error.as_service_error().is_some_and(conflict) => {
                    match read_url(aws, name).await? {
                        Some(current) => Some(update_url(aws, name, desired, &current).await?),
                        None => {
                            return Err(aws_error(
                                "lambda:CreateFunctionUrlConfig",
                                url_object(name),
                                error,
                            ));
                        }
                    }
                }
                Err(error) => {
                    return Err(aws_error(
                        "lambda:CreateFunctionUrlConfig",
                        url_object(name),
                        error,
                    ));
                }
            }
        }
        (Some(desired), Some(current)) => Some(update_url(aws, name, desired, current).await?),
    };
    if public {
        add_public_permissions(aws, name, &statements).await?;
    }
    Ok(url)
}

/// The URL's `InvokeMode` as Lambda's API takes it.
fn invoke_mode(desired: &DesiredUrl) -> InvokeMode {
    InvokeMode::from(desired.response.invoke_mode())
}

/// Updates the URL if its auth type, CORS or invoke mode differ from the declaration; returns
/// the URL.
async fn update_url(
    aws: &Aws,
    name: &str,
    desired: &DesiredUrl,
    current: &LiveUrl,
) -> Result<String, EngineError> {
    let same_auth = current.auth_type == desired.auth_type();
    let same_cors =
        normalised_cors(current.cors.as_ref()) == normalised_cors(desired.cors.as_ref());
    let same_mode = current.response() == Some(desired.response);
    if same_auth && same_cors && same_mode {
        return Ok(current.url.clone());
    }
    Ok(aws
        .lambda
        .update_function_url_config()
        .function_name(name)
        .auth_type(FunctionUrlAuthType::from(desired.auth_type()))
        .cors(cors(desired.cors.as_ref()).unwrap_or_else(|| Cors::builder().build()))
        .invoke_mode(invoke_mode(desired))
        .send()
        .await
        .map_err(|error| aws_error("lambda:UpdateFunctionUrlConfig", url_object(name), error))?
        .function_url()
        .to_owned())
}

async fn add_public_permissions(
    aws: &Aws,
    name: &str,
    present: &BTreeSet<String>,
) -> Result<(), EngineError> {
    if !present.contains(PUBLIC_URL_SID) {
        add_permission(aws, name, PUBLIC_URL_SID, || {
            aws.lambda
                .add_permission()
                .function_name(name)
                .statement_id(PUBLIC_URL_SID)
                .action("lambda:InvokeFunctionUrl")
                .principal("*")
                .function_url_auth_type(FunctionUrlAuthType::None)
        })
        .await?;
    }
    if !present.contains(PUBLIC_INVOKE_SID) {
        add_permission(aws, name, PUBLIC_INVOKE_SID, || {
            aws.lambda
                .add_permission()
                .function_name(name)
                .statement_id(PUBLIC_INVOKE_SID)
                .action(Operation::FunctionInvoke.iam_action().unwrap_or_default())
                .principal("*")
                .invoked_via_function_url(true)
        })
        .await?;
    }
    Ok(())
}

/// Adds the statement `sid` to the function's resource policy. AWS refuses a statement id that
/// exists, but some emulators add a second statement with the same id, so this call is not left
/// to the SDK's blind retry: after a transient failure (which may have come after the statement
/// was added, e.g. a lost answer), the policy is read, and the statement is added again only if it
/// is not there. Attempts and backoff follow the connection's retry settings.
async fn add_permission(
    aws: &Aws,
    name: &str,
    sid: &str,
    request: impl Fn()
        -> aws_sdk_lambda::operation::add_permission::builders::AddPermissionFluentBuilder,
) -> Result<(), EngineError> {
    let attempts = aws.retry.max_attempts().max(1);
    let mut pause = aws.retry.initial_backoff();
    let mut attempt = 1;
    loop {
        let result = request()
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        match result {
            Ok(_) => return Ok(()),
            // An earlier attempt added it.
            Err(error) if error.as_service_error().is_some_and(conflict) => return Ok(()),
            Err(error) if attempt < attempts && is_transient(&error) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(aws.retry.max_backoff());
                attempt += 1;
                if read_statements(aws, name).await?.contains(sid) {
                    return Ok(());
                }
            }
            Err(error) => return Err(aws_error("lambda:AddPermission", object(name), error)),
        }
    }
}

async fn remove_public_permissions(
    aws: &Aws,
    name: &str,
    present: &BTreeSet<String>,
) -> Result<(), EngineError> {
    for sid in [PUBLIC_URL_SID, PUBLIC_INVOKE_SID] {
        if present.contains(sid) {
            let result = aws
                .lambda
                .remove_permission()
                .function_name(name)
                .statement_id(sid)
                .send()
                .await;
            found("lambda:RemovePermission", object(name), result, not_found)?;
        }
    }
    Ok(())
}

/// Deletes the function (its URL and policy go with it). Missing is fine.
pub(crate) async fn delete(aws: &Aws, name: &str) -> Result<(), EngineError> {
    let result = aws
        .lambda
        .delete_function()
        .function_name(name)
        .send()
        .await;
    found("lambda:DeleteFunction", object(name), result, not_found)?;
    Ok(())
}

/// Names and ARNs of every function whose name starts with `prefix`.
pub(crate) async fn list_candidates(
    aws: &Aws,
    prefix: &str,
) -> Result<Vec<(String, String)>, EngineError> {
    let mut found = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .lambda
            .list_functions()
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| aws_error("lambda:ListFunctions", "Lambda functions", error))?;
        found.extend(page.functions().iter().filter_map(|function| {
            let name = function.function_name()?;
            name.starts_with(prefix).then(|| {
                (
                    name.to_owned(),
                    function.function_arn().unwrap_or_default().to_owned(),
                )
            })
        }));
        match page.next_marker {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    Ok(found)
}

/// A function's tags.
pub(crate) async fn read_tags(
    aws: &Aws,
    name: &str,
    arn: &str,
) -> Result<BTreeMap<String, String>, EngineError> {
    let output = aws
        .lambda
        .list_tags()
        .resource(arn)
        .send()
        .await
        .map_err(|error| aws_error("lambda:ListTags", object(name), error))?;
    Ok(output
        .tags()
        .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_recognised_by_code_and_message() {
        let error = |code: &str, message: &str| {
            aws_smithy_types::error::ErrorMetadata::builder()
                .code(code)
                .message(message)
                .build()
        };
        assert!(conflict(&error(
            "ResourceConflictException",
            "Function already exist: app-dev-chat"
        )));
        assert!(conflict(&error(
            "ResourceConflictException",
            "The statement id (PlutoPublicUrl) provided already exists. Please provide a new \
             statement id, or remove the existing statement."
        )));
        assert!(conflict(&error(
            "ResourceConflictException",
            "Failed to create function url config for [functionArn = x]. Error message: \
             FunctionUrlConfig exists for this Lambda function"
        )));
        // An update in progress is a conflict too, but not "it exists".
        assert!(!conflict(&error(
            "ResourceConflictException",
            "The operation cannot be performed at this time. An update is in progress for \
             resource: x"
        )));
    }

    fn live_with_url(invoke_mode: Option<&str>) -> LiveFunction {
        LiveFunction {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:app-dev-chat".to_owned(),
            role: String::new(),
            runtime: LAMBDA_RUNTIME.to_owned(),
            handler: LAMBDA_HANDLER.to_owned(),
            memory_mb: 128,
            timeout_s: 30,
            architecture: "x86_64".to_owned(),
            env: BTreeMap::new(),
            code_sha256: String::new(),
            tags: BTreeMap::new(),
            url: Some(LiveUrl {
                url: "https://chat.lambda-url.us-east-1.on.aws/".to_owned(),
                auth_type: "AWS_IAM".to_owned(),
                cors: None,
                invoke_mode: invoke_mode.map(str::to_owned),
            }),
            statements: BTreeSet::new(),
        }
    }

    fn iam_url(response: ResponseMode) -> DesiredUrl {
        DesiredUrl {
            public: false,
            cors: None,
            response,
        }
    }

    #[test]
    fn invoke_mode_changes_are_planned_with_lambdas_spelling() {
        let buffered = live_with_url(Some("BUFFERED"));
        assert_eq!(
            url_diff(Some(&iam_url(ResponseMode::Stream)), &buffered),
            [FieldChange::new(
                "invoke mode",
                "BUFFERED",
                "RESPONSE_STREAM"
            )]
        );
        assert_eq!(
            url_diff(Some(&iam_url(ResponseMode::Buffered)), &buffered),
            []
        );
        let streaming = live_with_url(Some("RESPONSE_STREAM"));
        assert_eq!(
            url_diff(Some(&iam_url(ResponseMode::Stream)), &streaming),
            []
        );
        assert_eq!(
            url_diff(Some(&iam_url(ResponseMode::Buffered)), &streaming),
            [FieldChange::new(
                "invoke mode",
                "RESPONSE_STREAM",
                "BUFFERED"
            )]
        );
    }

    #[test]
    fn an_absent_invoke_mode_is_buffered_and_an_unknown_one_is_shown_as_reported() {
        let absent = live_with_url(None);
        assert_eq!(
            url_diff(Some(&iam_url(ResponseMode::Buffered)), &absent),
            []
        );
        assert_eq!(
            url_diff(Some(&iam_url(ResponseMode::Stream)), &absent),
            [FieldChange::new(
                "invoke mode",
                "BUFFERED",
                "RESPONSE_STREAM"
            )]
        );
        // moto 5.2.1, unpatched, reports `Buffered`: not Lambda's spelling, so it is corrected.
        let misspelt = live_with_url(Some("Buffered"));
        assert_eq!(
            url_diff(Some(&iam_url(ResponseMode::Buffered)), &misspelt),
            [FieldChange::new("invoke mode", "\"Buffered\"", "BUFFERED")]
        );
    }

    #[test]
    fn cors_headers_compare_in_lower_case_as_lambda_stores_them() {
        let declared = DeclaredCors {
            allow_origins: vec!["https://example.com".to_owned()],
            allow_headers: vec!["Content-Type".to_owned()],
            expose_headers: vec!["X-Request-Id".to_owned()],
            ..DeclaredCors::default()
        };
        let stored = DeclaredCors {
            allow_headers: vec!["content-type".to_owned()],
            expose_headers: vec!["x-request-id".to_owned()],
            ..declared.clone()
        };
        assert_eq!(
            normalised_cors(Some(&declared)),
            normalised_cors(Some(&stored))
        );
        assert_eq!(normalised_cors(Some(&DeclaredCors::default())), None);
    }
}
