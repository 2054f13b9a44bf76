//! The AWS APIs the runtime uses, served locally on one loopback port, so app code keeps its one
//! AWS SDK path through `AWS_ENDPOINT_URL`:
//!
//! - DynamoDB `GetItem`, `PutItem`, `DeleteItem` (JSON 1.0 protocol) for `KvStore`, persisted in
//!   an embedded redb database under `.pluto/<stack>/`, so data survives a restart;
//! - SageMaker Runtime `InvokeEndpoint` in the Hugging Face TGI format, answered by the local
//!   model, and `InvokeEndpointWithResponseStream`, which streams the model's tokens as they are
//!   generated (TGI server-sent events in an AWS event stream);
//! - Lambda `Invoke` for `Function::invoke`, answered by the function's own instances;
//! - S3 `PutObject`, `GetObject` (and `HeadObject`), `DeleteObject` and `ListObjectsV2`,
//!   path-style, for `Bucket` ([`s3`]): objects persisted under `.pluto/<stack>/buckets/`
//!   ([`crate::objects`]), bodies streamed to and from disk, never held whole; presigned URLs
//!   (query-string SigV4) carry the permissions of the function that signed them;
//! - Secrets Manager `GetSecretValue` (JSON 1.1 protocol) for `Secret`, answered from the local
//!   secret store outside the project ([`crate::secrets`]); a secret with no value is AWS's
//!   `ResourceNotFoundException`. Values are never logged.
//!
//! DynamoDB and Secrets Manager both `POST /`: `X-Amz-Target` tells them apart (and the
//! signature's scope must name the same service); S3 has every path the other APIs do not.
//!
//! **IAM is enforced**: each function process gets its own random access key and secret per run
//! ([`sigv4::Keyring`]), every call must carry a valid SigV4 signature made with one of them
//! (else AWS's `MissingAuthenticationTokenException`, `UnrecognizedClientException` or
//! `InvalidSignatureException`), and a call to a resource or operation the deducer did not grant
//! that function gets the `AccessDeniedException` AWS returns, the simulator log saying which
//! grant is missing. Only requests to a loopback host name are answered: no web page can reach
//! these APIs through DNS rebinding.

mod event_stream;
pub mod s3;
pub mod sigv4;

use crate::error::SimulatorError;
use crate::lambda::{FunctionPool, InvocationSource, LambdaError, Outcome, StreamError};
use crate::objects::ObjectStore;
use crate::secrets::LocalSecrets;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use pluto_model::iam::AwsTarget;
use pluto_model::llm::{
    Continue, StreamEnd, TextGeneration, TgiRequest, TgiStreamEvent, TgiStreamToken,
};
use pluto_model::naming::StackNames;
use pluto_model::{Architecture, Operation, ResourceRef};
use pluto_spec::ResourceKind;
use pluto_spec::contract::{KV_KEY_ATTRIBUTE, KV_VALUE_ATTRIBUTE};
use pluto_spec::limits::{
    DYNAMODB_REQUEST_MAX_BYTES, MAX_PAYLOAD_BYTES, MAX_RESPONSE_BYTES, SAGEMAKER_PAYLOAD_MAX_BYTES,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::{Value, json};
use sha2::Digest as _;
use sigv4::{Keyring, Principal, ReceivedRequest, Scope};
use std::collections::HashMap;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::SystemTime;

/// A line for the simulator log.
pub type AwsLog = Arc<dyn Fn(&str) + Send + Sync>;

/// One AWS access a function attempted, whether IAM allowed it or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptedAccess {
    /// The calling function (logical name); `None` when the request carried no function's
    /// credentials.
    pub function: Option<String>,
    /// The resource the call named (its physical name); see [`AttemptedAccess::resource`].
    pub physical: String,
    /// The resource, when the app declares one of that physical name.
    pub resource: Option<ResourceRef>,
    /// The operation.
    pub operation: Operation,
    /// Whether the function's grants allowed it.
    pub allowed: bool,
    /// The invocation that made the call (its Lambda request id), from the `X-Amzn-Trace-Id`
    /// the function's AWS SDK sends (see [`crate::lambda::trace_id`]).
    pub request_id: Option<String>,
}

/// Receives every [`AttemptedAccess`], before it is answered (see
/// [`LocalAws::with_access_recorder`]).
pub type AccessRecorder = Arc<dyn Fn(&AttemptedAccess) + Send + Sync>;

/// The account id local ARNs use.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// The region local ARNs use.
pub const LOCAL_REGION: &str = "us-east-1";

/// The local AWS APIs of one running app.
pub struct LocalAws {
    /// The app as deduced; replaced by a hot reload ([`LocalAws::replace`]).
    architecture: std::sync::RwLock<Arc<Architecture>>,
    /// This run's credentials: each function's and the developer's.
    keys: Arc<Keyring>,
    /// Physical name → resource.
    resources: HashMap<String, ResourceRef>,
    /// The KV data; `None` once [`LocalAws::close`]d, so another simulator of the stack can
    /// open it at once.
    database: std::sync::RwLock<Option<Database>>,
    model: Option<Arc<dyn TextGeneration>>,
    /// Function pools by logical name, for `Lambda:Invoke`; replaced by a hot reload.
    functions: std::sync::RwLock<HashMap<String, Arc<FunctionPool>>>,
    /// The buckets' objects, when the app declares a bucket.
    objects: Option<Arc<ObjectStore>>,
    /// The local secret values, or why there is no store (when the app declares a secret).
    secrets: Result<LocalSecrets, String>,
    /// Partition, region and account of local ARNs.
    target: AwsTarget,
    log: AwsLog,
    recorder: Option<AccessRecorder>,
}

impl std::fmt::Debug for LocalAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAws")
            .field("project", &self.architecture().project)
            .finish()
    }
}

impl LocalAws {
    /// Opens (or creates) the KV database at `database_path` and, when `architecture` declares
    /// a bucket, the objects under `buckets_dir`, for `architecture`, whose functions run in
    /// `functions` (by logical name) with the credentials in `keys`; secret values come from
    /// `secrets` (or the error says why there is no store). `names` must be
    /// [`StackNames::in_account`] of [`LOCAL_ACCOUNT`] and [`LOCAL_REGION`], as the functions'.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        architecture: Architecture,
        names: StackNames,
        database_path: &FsPath,
        buckets_dir: &FsPath,
        secrets: Result<LocalSecrets, String>,
        model: Option<Arc<dyn TextGeneration>>,
        functions: HashMap<String, Arc<FunctionPool>>,
        keys: Arc<Keyring>,
        log: AwsLog,
    ) -> Result<Self, SimulatorError> {
        let database = crate::store::open(database_path)?;
        let objects = if architecture
            .resources
            .iter()
            .any(|resource| resource.spec.kind() == ResourceKind::Bucket)
        {
            Some(Arc::new(ObjectStore::open(buckets_dir)?))
        } else {
            None
        };
        let mut resources = HashMap::new();
        for resource in &architecture.resources {
            let (kind, name) = (resource.spec.kind(), resource.spec.name().to_owned());
            let physical = names.resource(kind, &name);
            resources.insert(physical, ResourceRef { kind, name });
        }
        for function in &architecture.functions {
            let name = function.spec.name.clone();
            resources.insert(
                names.function(&name),
                ResourceRef {
                    kind: ResourceKind::Function,
                    name,
                },
            );
        }
        Ok(Self {
            architecture: std::sync::RwLock::new(Arc::new(architecture)),
            keys,
            resources,
            database: std::sync::RwLock::new(Some(database)),
            model,
            functions: std::sync::RwLock::new(functions),
            objects,
            secrets,
            target: local_target(),
            log,
            recorder: None,
        })
    }

    /// Also reports every access a function attempts (function, resource, operation, allowed or
    /// denied) to `recorder`: the differential soundness test compares what handlers really do
    /// with what the deducer granted.
    #[must_use]
    pub fn with_access_recorder(mut self, recorder: AccessRecorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The app whose grants are enforced now.
    pub fn architecture(&self) -> Arc<Architecture> {
        match self.architecture.read() {
            Ok(architecture) => architecture.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A hot reload: from now on, grants are `architecture`'s and `Lambda:Invoke` runs
    /// `functions`. The app's functions and resources must be the same (names, kinds); only
    /// code and grants change.
    pub fn replace(
        &self,
        architecture: Architecture,
        functions: HashMap<String, Arc<FunctionPool>>,
    ) {
        match self.architecture.write() {
            Ok(mut current) => *current = Arc::new(architecture),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(architecture),
        }
        match self.functions.write() {
            Ok(mut current) => *current = functions,
            Err(poisoned) => *poisoned.into_inner() = functions,
        }
    }

    fn function_pool(&self, name: &str) -> Option<Arc<FunctionPool>> {
        match self.functions.read() {
            Ok(functions) => functions.get(name).cloned(),
            Err(poisoned) => poisoned.into_inner().get(name).cloned(),
        }
    }

    /// The physical name of the secret a `SecretId` names: its name, or its ARN
    /// (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX`, or without the suffix).
    fn secret_physical_name(&self, secret_id: &str) -> String {
        let Some((_, name)) = secret_id
            .strip_prefix("arn:")
            .and_then(|arn| arn.split_once(":secret:"))
        else {
            return secret_id.to_owned();
        };
        let is_secret = |name: &str| {
            self.resources
                .get(name)
                .is_some_and(|resource| resource.kind == ResourceKind::Secret)
        };
        if is_secret(name) {
            return name.to_owned();
        }
        match name.rsplit_once('-') {
            Some((base, suffix)) if suffix.len() == 6 && is_secret(base) => base.to_owned(),
            _ => name.to_owned(),
        }
    }

    /// The physical table of KV store `store` (logical name), if the app declares it.
    fn kv_table(&self, store: &str) -> Option<String> {
        self.resources
            .iter()
            .find(|(_, resource)| resource.kind == ResourceKind::KvStore && resource.name == store)
            .map(|(physical, _)| physical.clone())
    }

    /// Runs `body` on the open KV database.
    fn with_database<T>(
        &self,
        body: impl FnOnce(&Database) -> Result<T, String>,
    ) -> Result<T, KvAdminError> {
        let guard = self
            .database
            .read()
            .map_err(|_| KvAdminError::Store("the KV database lock is poisoned".to_owned()))?;
        let database = guard.as_ref().ok_or(KvAdminError::Stopping)?;
        body(database).map_err(KvAdminError::Store)
    }

    /// Every item of KV store `store` as `(key, value)`, sorted by key: the developer's view
    /// (the dev console), not a function's, so no grant is checked. Blocks on the database.
    pub fn kv_items(&self, store: &str) -> Result<Vec<(String, String)>, KvAdminError> {
        let table = self
            .kv_table(store)
            .ok_or_else(|| KvAdminError::UnknownStore(store.to_owned()))?;
        self.with_database(|database| {
            let definition: TableDefinition<'_, &str, &str> = TableDefinition::new(&table);
            let read = database.begin_read().map_err(|e| e.to_string())?;
            let table = match read.open_table(definition) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(error) => return Err(error.to_string()),
            };
            let mut items = Vec::new();
            for entry in table.iter().map_err(|e| e.to_string())? {
                let (key, item) = entry.map_err(|e| e.to_string())?;
                let item: Value = serde_json::from_str(item.value()).map_err(|e| e.to_string())?;
                let value = item[KV_VALUE_ATTRIBUTE]["S"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                items.push((key.value().to_owned(), value));
            }
            Ok(items)
        })
    }

    /// Stores `value` under `key` in KV store `store`, as `KvStore::set` does (the developer's
    /// view; no grant is checked). Blocks on the database.
    pub fn kv_put(&self, store: &str, key: &str, value: &str) -> Result<(), KvAdminError> {
        let table = self
            .kv_table(store)
            .ok_or_else(|| KvAdminError::UnknownStore(store.to_owned()))?;
        let item = json!({
            (KV_KEY_ATTRIBUTE): {"S": key},
            (KV_VALUE_ATTRIBUTE): {"S": value},
        })
        .to_string();
        self.with_database(|database| write_item(database, &table, key, Some(&item)))
    }

    /// Deletes `key` from KV store `store` (the developer's view). Blocks on the database.
    pub fn kv_delete(&self, store: &str, key: &str) -> Result<(), KvAdminError> {
        let table = self
            .kv_table(store)
            .ok_or_else(|| KvAdminError::UnknownStore(store.to_owned()))?;
        self.with_database(|database| write_item(database, &table, key, None))
    }

    /// The physical bucket of bucket `bucket` (logical name) and the object store, if the app
    /// declares it.
    fn bucket_store(&self, bucket: &str) -> Result<(String, Arc<ObjectStore>), KvAdminError> {
        let physical = self
            .resources
            .iter()
            .find(|(_, resource)| resource.kind == ResourceKind::Bucket && resource.name == bucket)
            .map(|(physical, _)| physical.clone())
            .ok_or_else(|| KvAdminError::UnknownBucket(bucket.to_owned()))?;
        let objects = self.objects.clone().ok_or(KvAdminError::Stopping)?;
        Ok((physical, objects))
    }

    /// Every object of bucket `bucket` (logical name) as `(key, metadata)`, in key order: the
    /// developer's view (the dev console, `cargo pluto bucket upload`), so no grant is checked.
    /// Blocks on the index.
    pub fn bucket_objects(
        &self,
        bucket: &str,
    ) -> Result<Vec<(String, crate::objects::ObjectMeta)>, KvAdminError> {
        let (physical, objects) = self.bucket_store(bucket)?;
        let mut all = Vec::new();
        loop {
            let after = all.last().map(|(key, _): &(String, _)| key.clone());
            let (page, more) = objects
                .list(&physical, "", after.as_deref(), s3::MAX_KEYS)
                .map_err(KvAdminError::Store)?;
            all.extend(page);
            if !more {
                return Ok(all);
            }
        }
    }

    /// Stores the file at `source` as object `key` of bucket `bucket` (logical name) with this
    /// content type, copied in a stream (the developer's view; no grant is checked). Blocks.
    pub fn bucket_put_file(
        &self,
        bucket: &str,
        key: &str,
        source: &FsPath,
        content_type: &str,
    ) -> Result<crate::objects::ObjectMeta, KvAdminError> {
        use md5::Digest as _;
        use std::io::{Read as _, Write as _};
        let (physical, objects) = self.bucket_store(bucket)?;
        let unreadable = |error: std::io::Error| {
            KvAdminError::Source(format!("cannot read {}: {error}", source.display()))
        };
        let metadata = std::fs::metadata(source).map_err(unreadable)?;
        if !metadata.is_file() {
            return Err(KvAdminError::Source(format!(
                "{} is not a regular file",
                source.display()
            )));
        }
        if metadata.len() > s3::MAX_OBJECT_BYTES {
            return Err(KvAdminError::Source(format!(
                "{} is larger than an object may be ({} bytes)",
                source.display(),
                s3::MAX_OBJECT_BYTES
            )));
        }
        let mut input = std::fs::File::open(source).map_err(unreadable)?;
        let staged = objects.stage(&physical).map_err(KvAdminError::Store)?;
        let copied = (|| -> Result<(u64, String), KvAdminError> {
            let unwritable = |error: std::io::Error| {
                KvAdminError::Store(format!("cannot write {}: {error}", staged.path.display()))
            };
            let mut output = std::fs::File::create(&staged.path).map_err(unwritable)?;
            let mut md5 = md5::Md5::new();
            let mut buffer = vec![0u8; 64 * 1024];
            let mut size = 0u64;
            loop {
                let read = input.read(&mut buffer).map_err(unreadable)?;
                if read == 0 {
                    break;
                }
                md5.update(&buffer[..read]);
                output.write_all(&buffer[..read]).map_err(unwritable)?;
                size += read as u64;
            }
            output.sync_all().map_err(unwritable)?;
            let etag = md5
                .finalize()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            Ok((size, etag))
        })();
        // A failed copy drops `staged`, which removes its file.
        let (size, etag) = copied?;
        objects
            .commit(staged, key, size, etag, content_type.to_owned())
            .map_err(KvAdminError::Store)
    }

    /// Releases the KV data and the buckets' index (in-flight operations finish first); later
    /// calls fail.
    pub fn close(&self) {
        if let Ok(mut database) = self.database.write() {
            database.take();
        }
        if let Some(objects) = &self.objects {
            objects.close();
        }
    }

    /// The axum router serving the APIs; every request must name a loopback host and be signed
    /// with this run's credentials.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/", post(json_api))
            .route("/endpoints/{name}/invocations", post(sagemaker))
            .route(
                "/endpoints/{name}/invocations-response-stream",
                post(sagemaker_stream),
            )
            .route(
                "/2015-03-31/functions/{name}/invocations",
                post(lambda_invoke),
            )
            .fallback(s3_api)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                authenticate,
            ))
            // Each API checks its own limit (Lambda and SageMaker: 6 MB) with AWS's error.
            .layer(DefaultBodyLimit::max(MAX_API_BODY_BYTES))
            .with_state(self)
    }

    /// Whether `request` to the IAM-auth URL of function `function` may call it: it must carry
    /// a valid SigV4 signature (service `lambda`) made with this run's developer credential or a
    /// function's; signed by a function, that function also needs its `function_url` grant
    /// (`lambda:InvokeFunctionUrl`), as deployed. The error is the reason, for the log.
    pub fn authorize_url_call(
        &self,
        request: &ReceivedRequest<'_>,
        function: &str,
    ) -> Result<(), String> {
        let scope = Scope {
            service: Some("lambda"),
            region: LOCAL_REGION,
        };
        let caller = match self.keys.verify(request, scope, SystemTime::now()) {
            Ok(Principal::Developer) => return Ok(()),
            Ok(Principal::Function(caller)) => caller,
            Err(error) => {
                return Err(format!(
                    "the URL is IAM-auth (url = \"iam\") and {} ({}); sign with the developer \
                     credentials `cargo pluto run` prints ({}), or declare url = \"public\"",
                    error.detail(),
                    error.code(),
                    crate::gateway::signing_hint("KEY:SECRET")
                ));
            }
        };
        let physical = self
            .resources
            .iter()
            .find(|(_, resource)| {
                resource.kind == ResourceKind::Function && resource.name == function
            })
            .map(|(physical, _)| physical.clone())
            .unwrap_or_else(|| function.to_owned());
        let caller = Caller {
            function: Some(caller),
            request_id: trace_request_id(request.headers),
        };
        self.authorize(&caller, Operation::FunctionUrl, &physical)
            .map(|_| ())
            .map_err(|denied| denied.message)
    }

    /// Checks that `caller` was granted `operation` on the resource with physical name
    /// `physical`; the error is the AWS-shaped denial, already logged.
    fn authorize(
        &self,
        caller: &Caller,
        operation: Operation,
        physical: &str,
    ) -> Result<ResourceRef, Denied> {
        let request_id = caller.request_id.clone();
        let caller = caller.function.as_deref();
        let action = operation.iam_action().unwrap_or_default();
        let arn = &self.target.operation_arn(operation, physical);
        let resource = self.resources.get(physical).cloned();
        let architecture = self.architecture();
        let granted = caller.is_some_and(|caller| {
            resource.as_ref().is_some_and(|resource| {
                architecture.function(caller).is_some_and(|function| {
                    // As the deployed policy: a grant also allows the actions its operation needs
                    // besides its own (a bucket read may list, so a missing key is a 404).
                    function.grants.iter().any(|grant| {
                        &grant.resource == resource
                            && (grant.operation == operation
                                || grant.operation.bucket_actions_needed().contains(&action))
                    })
                })
            })
        });
        if let Some(recorder) = &self.recorder {
            recorder(&AttemptedAccess {
                function: caller.map(str::to_owned),
                physical: physical.to_owned(),
                resource: resource.clone(),
                operation,
                allowed: granted,
                request_id,
            });
        }
        let Some(caller) = caller else {
            (self.log)(&format!(
                "denied {action} on {arn}: the request does not carry a Pluto function's credentials"
            ));
            return Err(Denied::new(&self.target, action, arn, "anonymous"));
        };
        match resource {
            Some(resource) if granted => Ok(resource),
            Some(resource) => {
                (self.log)(&format!(
                    "denied: function `{caller}` has no grant for `{}` on {resource}. The deducer found no call that \
                     needs it; run `cargo pluto deduce` to see the function's grants, and call the handle from code \
                     the function reaches",
                    operation.label()
                ));
                Err(Denied::new(&self.target, action, arn, caller))
            }
            None => {
                (self.log)(&format!(
                    "denied: function `{caller}` called {action} on `{physical}`, which the app does not declare"
                ));
                Err(Denied::new(&self.target, action, arn, caller))
            }
        }
    }
}

/// The AWS settings of function process `function` with this run's `keys`: its own credentials,
/// the local region and the endpoint of the local APIs.
///
/// # Panics
/// When `keys` has no credentials for `function` (the simulator makes them for every function).
pub fn credentials_env(keys: &Keyring, function: &str, endpoint: &str) -> Vec<(String, String)> {
    let credentials = keys
        .function(function)
        .unwrap_or_else(|| panic!("the simulator made no credentials for function `{function}`"));
    vec![
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            credentials.access_key_id.clone(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            credentials.secret_access_key.clone(),
        ),
        ("AWS_REGION".to_owned(), LOCAL_REGION.to_owned()),
        ("AWS_ENDPOINT_URL".to_owned(), endpoint.to_owned()),
    ]
}

/// Whether `host` (a `Host` header or URI authority) names this machine's loopback interface:
/// `127.0.0.1`, `localhost` or `[::1]`, with any port. The simulator listens on 127.0.0.1 only,
/// so any other name is a web page's DNS rebinding (or a proxy's), never a local client.
pub fn is_loopback_host(host: &str) -> bool {
    if host.contains('@') {
        return false;
    }
    let Ok(authority) = host.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    let name = authority.host().to_ascii_lowercase();
    matches!(name.as_str(), "127.0.0.1" | "localhost" | "[::1]")
}

/// The host a request names: its `Host` header, else its URI's authority.
pub fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    headers
        .get("host")
        .map(|value| value.to_str().unwrap_or("(not text)"))
        .or_else(|| uri.authority().map(axum::http::uri::Authority::as_str))
}

/// The most a request to the local APIs may carry (DynamoDB takes 16 MB).
const MAX_API_BODY_BYTES: usize = DYNAMODB_REQUEST_MAX_BYTES;

/// The SigV4 service name of the API a request with this method, path and headers calls:
/// `POST /` is DynamoDB or, by its `X-Amz-Target`, Secrets Manager; SageMaker Runtime and Lambda
/// have their paths; every other request is S3 (path-style, `/{bucket}/{key}`).
fn service_of(method: &axum::http::Method, path: &str, headers: &HeaderMap) -> &'static str {
    if path == "/" && method == axum::http::Method::POST {
        let target = headers
            .get("x-amz-target")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if target.starts_with(SECRETS_MANAGER_TARGET) {
            "secretsmanager"
        } else {
            "dynamodb"
        }
    } else if path.starts_with("/endpoints/") {
        "sagemaker"
    } else if path.starts_with("/2015-03-31/functions/") {
        "lambda"
    } else {
        "s3"
    }
}

/// The `X-Amz-Target` prefix of Secrets Manager operations.
const SECRETS_MANAGER_TARGET: &str = "secretsmanager.";

/// An authentication error as the service at `service` answers it: DynamoDB (JSON 1.0) and
/// Secrets Manager (JSON 1.1) with `400 {"__type": "com.amazon.coral.service#...", "message"}`,
/// the REST APIs (Lambda, SageMaker Runtime) with `403` and `x-amzn-errortype` (S3 answers with
/// its XML errors, see [`s3::auth_error`]).
fn auth_error(service: &str, code: &str, message: &str) -> Response {
    let body = json!({"__type": format!("com.amazon.coral.service#{code}"), "message": message});
    match service {
        "dynamodb" => json_1_0(StatusCode::BAD_REQUEST, &body),
        "secretsmanager" => json_1_1(StatusCode::BAD_REQUEST, &body),
        _ => rest_error(StatusCode::FORBIDDEN, code, message),
    }
}

/// Refuses requests to a foreign host name and requests not signed with this run's
/// credentials, as AWS refuses unsigned and badly signed ones; logs why. An S3 request's body is
/// not read here (it is streamed, and checked against its signed hash, by [`s3`]); every other
/// API's body is read whole (at most [`MAX_API_BODY_BYTES`]) and covered by the signature.
async fn authenticate(State(aws): State<Arc<LocalAws>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let service = service_of(request.method(), &path, request.headers());
    let host = request_host(request.headers(), request.uri()).map(str::to_owned);
    if !host.as_deref().is_some_and(is_loopback_host) {
        let host = host.unwrap_or_else(|| "(none)".to_owned());
        (aws.log)(&format!(
            "refused a request to {path} for host `{host}`: the local AWS APIs answer only \
             requests to 127.0.0.1, localhost or [::1] (a web page using DNS rebinding names its \
             own host)"
        ));
        let message =
            format!("The local AWS APIs only answer requests to a loopback host, not `{host}`.");
        return if service == "s3" {
            s3::error(StatusCode::FORBIDDEN, "AccessDenied", &message, &path)
        } else {
            auth_error(service, "AccessDeniedException", &message)
        };
    }
    let scope = Scope {
        service: Some(service),
        region: LOCAL_REGION,
    };
    let refuse = |error: sigv4::AuthError| {
        (aws.log)(&format!(
            "refused a {service} call to {path}: {} ({})",
            error.detail(),
            error.code()
        ));
        if service == "s3" {
            return s3::auth_error(&error, &path);
        }
        let message = if error == sigv4::AuthError::Missing && service == "dynamodb" {
            "Request is missing Authentication Token".to_owned()
        } else {
            error.message()
        };
        auth_error(service, error.code(), &message)
    };
    let (mut parts, body) = request.into_parts();
    let (principal, body) = if service == "s3" {
        let received = ReceivedRequest {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            body: &[],
        };
        let verified = match aws
            .keys
            .verify_streamed(&received, scope, SystemTime::now())
        {
            Ok(verified) => verified,
            Err(error) => return refuse(error),
        };
        parts.extensions.insert(s3::S3Auth {
            chunks: Arc::new(std::sync::Mutex::new(Some(verified.chunks))),
            presigned: !parts.headers.contains_key("authorization"),
        });
        (verified.principal, body)
    } else {
        let bytes = match axum::body::to_bytes(body, MAX_API_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(error) if crate::gateway::is_length_limit(&error) => {
                return rest_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLargeException",
                    &format!("Request must be smaller than {MAX_API_BODY_BYTES} bytes"),
                );
            }
            Err(error) => {
                return rest_error(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    &format!("the request body could not be read: {error}"),
                );
            }
        };
        let received = ReceivedRequest {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            body: &bytes,
        };
        match aws.keys.verify(&received, scope, SystemTime::now()) {
            Ok(principal) => (principal, Body::from(bytes)),
            Err(error) => return refuse(error),
        }
    };
    // The handlers act for the principal the signature proved, never for a key read again
    // from the header (which the signature does not cover).
    let request_id = trace_request_id(&parts.headers);
    parts.extensions.insert(Caller {
        function: match principal {
            Principal::Function(name) => Some(name),
            Principal::Developer => None,
        },
        request_id,
    });
    next.run(Request::from_parts(parts, body)).await
}

/// Every request the other APIs' routes do not take: S3 (or an unknown path of another API).
async fn s3_api(
    State(aws): State<Arc<LocalAws>>,
    Extension(caller): Extension<Caller>,
    request: Request,
) -> Response {
    match request.extensions().get::<s3::S3Auth>().cloned() {
        Some(auth) => s3::handle(aws, caller, auth, request).await,
        None => rest_error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            &format!(
                "the local AWS APIs serve no {} {}",
                request.method(),
                request.uri().path()
            ),
        ),
    }
}

/// `POST /`: DynamoDB or Secrets Manager, by `X-Amz-Target`.
async fn json_api(
    State(aws): State<Arc<LocalAws>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if target.starts_with(SECRETS_MANAGER_TARGET) {
        secrets_manager(&aws, &caller, target, &body)
    } else {
        dynamodb(State(aws), Extension(caller), headers, body).await
    }
}

fn json_1_1(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}

fn secrets_manager_error(kind: &str, message: &str) -> Response {
    json_1_1(
        StatusCode::BAD_REQUEST,
        &json!({"__type": kind, "message": message, "Message": message}),
    )
}

/// Secrets Manager's `GetSecretValue`: the value of the secret named (or whose ARN is given) by
/// `SecretId`, from the local secret store, if the caller was granted `get` on it. Neither the
/// log nor any error carries the value.
fn secrets_manager(aws: &LocalAws, caller: &Caller, target: &str, body: &[u8]) -> Response {
    let operation = target
        .strip_prefix(SECRETS_MANAGER_TARGET)
        .unwrap_or(target);
    if operation != "GetSecretValue" {
        return secrets_manager_error(
            "UnknownOperationException",
            &format!("the local Secrets Manager serves GetSecretValue, not {operation}"),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return secrets_manager_error("SerializationException", "the request body is not JSON");
    };
    let Some(secret_id) = request["SecretId"].as_str() else {
        return secrets_manager_error(
            "InvalidParameterException",
            "GetSecretValue needs a SecretId (the secret's name or ARN)",
        );
    };
    let physical = aws.secret_physical_name(secret_id);
    let resource = match aws.authorize(caller, Operation::SecretGet, &physical) {
        Ok(resource) => resource,
        Err(denied) => return secrets_manager_error("AccessDeniedException", &denied.message),
    };
    let not_found = || {
        secrets_manager_error(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
        )
    };
    if let Some(stage) = request["VersionStage"].as_str()
        && stage != "AWSCURRENT"
    {
        return not_found();
    }
    let secrets = match &aws.secrets {
        Ok(secrets) => secrets,
        Err(why) => {
            return json_1_1(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"__type": "InternalServiceError", "message": why}),
            );
        }
    };
    match secrets.get(&resource.name) {
        Ok(Some(value)) => {
            let arn = aws.target.physical_arn(ResourceKind::Secret, &physical);
            // Secrets Manager's ARNs end in `-` and 6 random characters: here a stable 6.
            let suffix: String = sha2::Sha256::digest(physical.as_bytes())
                .iter()
                .take(3)
                .map(|byte| format!("{byte:02x}"))
                .collect();
            json_1_1(
                StatusCode::OK,
                &json!({
                    "ARN": arn.replace("??????", &suffix),
                    "Name": physical,
                    "VersionId": "00000000-0000-0000-0000-000000000001",
                    "SecretString": value,
                    "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": 0,
                }),
            )
        }
        Ok(None) => {
            (aws.log)(&format!(
                "secret `{}` has no local value: set it with `cargo pluto secret set {}`",
                resource.name, resource.name
            ));
            not_found()
        }
        Err(error) => json_1_1(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"__type": "InternalServiceError", "message": error.to_string()}),
        ),
    }
}

/// Why the developer's view of the KV data ([`LocalAws::kv_items`] and co.) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvAdminError {
    /// The app declares no KV store of that name.
    #[error("the app declares no KV store `{0}`")]
    UnknownStore(String),
    /// The app declares no bucket of that name.
    #[error("the app declares no bucket `{0}`")]
    UnknownBucket(String),
    /// A file to upload could not be read.
    #[error("{0}")]
    Source(String),
    /// The simulator is stopping (the data is released).
    #[error("the simulator is stopping")]
    Stopping,
    /// The database failed.
    #[error("the local KV database failed: {0}")]
    Store(String),
}

/// Who calls the local APIs, set by [`authenticate`].
#[derive(Debug, Clone)]
struct Caller {
    /// The function whose verified signature the request carries (`None`: the developer's key,
    /// which has no grants).
    function: Option<String>,
    /// The invocation the call belongs to, from its `X-Amzn-Trace-Id` (for the dev console's
    /// request view; never for authorization).
    request_id: Option<String>,
}

/// The Lambda request id in a request's `X-Amzn-Trace-Id`, when it names one.
fn trace_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(pluto_spec::contract::TRACE_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(crate::lambda::request_id_of_trace)
}

/// An IAM denial, rendered per protocol.
struct Denied {
    message: String,
}

impl Denied {
    fn new(target: &AwsTarget, action: &str, arn: &str, caller: &str) -> Self {
        let user = target.assumed_role_arn(caller, caller);
        Self {
            message: format!(
                "User: {user} is not authorized to perform: {action} on resource: {arn} because no \
                 identity-based policy allows the {action} action"
            ),
        }
    }
}

/// Partition, region and account of the simulator's ARNs.
pub fn local_target() -> AwsTarget {
    AwsTarget::new("aws", LOCAL_REGION, LOCAL_ACCOUNT).unwrap_or_else(|_| {
        unreachable!("the local partition, region and account are valid constants")
    })
}

fn json_1_0(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

fn dynamodb_error(kind: &str, message: &str) -> Response {
    json_1_0(
        StatusCode::BAD_REQUEST,
        &json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message}),
    )
}

fn rest_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut response = (
        status,
        json!({"message": message, "Message": message}).to_string(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(kind) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

async fn dynamodb(
    State(aws): State<Arc<LocalAws>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation_name) = target.strip_prefix("DynamoDB_20120810.") else {
        return dynamodb_error(
            "UnknownOperationException",
            &format!("unsupported target `{target}`"),
        );
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return dynamodb_error("SerializationException", "the request body is not JSON");
    };
    let action = format!("dynamodb:{operation_name}");
    let Some(operation) = Operation::all_of(ResourceKind::KvStore)
        .find(|operation| operation.iam_action() == Some(action.as_str()))
    else {
        return dynamodb_error(
            "UnknownOperationException",
            &format!(
                "the local simulator serves GetItem, PutItem and DeleteItem, not {operation_name}"
            ),
        );
    };
    // DynamoDB validates the request before it checks permissions.
    let (table, key) = match crate::dynamodb::validate(operation, &request) {
        Ok(valid) => valid,
        Err(rejection) => return dynamodb_error(rejection.kind, &rejection.message),
    };
    if let Err(denied) = aws.authorize(&caller, operation, &table) {
        return dynamodb_error("AccessDeniedException", &denied.message);
    }
    let result =
        tokio::task::spawn_blocking(move || kv_operation(&aws, &table, operation, &key, &request))
            .await;
    match result {
        Ok(Ok(body)) => json_1_0(StatusCode::OK, &body),
        Ok(Err(message)) => dynamodb_error("InternalServerError", &message),
        Err(error) => dynamodb_error("InternalServerError", &error.to_string()),
    }
}

fn kv_operation(
    aws: &LocalAws,
    table: &str,
    operation: Operation,
    key: &str,
    request: &Value,
) -> Result<Value, String> {
    let definition: TableDefinition<'_, &str, &str> = TableDefinition::new(table);
    let guard = aws
        .database
        .read()
        .map_err(|_| "the KV database lock is poisoned".to_owned())?;
    let Some(database) = guard.as_ref() else {
        return Err("the simulator is stopping".to_owned());
    };
    match operation {
        Operation::KvGet => {
            let read = database.begin_read().map_err(|e| e.to_string())?;
            let table = match read.open_table(definition) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(json!({})),
                Err(error) => return Err(error.to_string()),
            };
            match table.get(key).map_err(|e| e.to_string())? {
                Some(item) => {
                    let item: Value =
                        serde_json::from_str(item.value()).map_err(|e| e.to_string())?;
                    Ok(json!({ "Item": item }))
                }
                None => Ok(json!({})),
            }
        }
        Operation::KvSet => {
            write_item(database, table, key, Some(&request["Item"].to_string()))?;
            Ok(json!({}))
        }
        Operation::KvDelete => {
            write_item(database, table, key, None)?;
            Ok(json!({}))
        }
        other => Err(format!("{other:?} is not a KV operation")),
    }
}

/// Stores `item` (a DynamoDB item as JSON) under `key` in `table`, or deletes the key (`None`), in
/// one transaction.
fn write_item(
    database: &Database,
    table: &str,
    key: &str,
    item: Option<&str>,
) -> Result<(), String> {
    let definition: TableDefinition<'_, &str, &str> = TableDefinition::new(table);
    let write = database.begin_write().map_err(|e| e.to_string())?;
    {
        let mut table = write.open_table(definition).map_err(|e| e.to_string())?;
        match item {
            Some(item) => table.insert(key, item).map(|_| ()),
            None => table.remove(key).map(|_| ()),
        }
        .map_err(|e| e.to_string())?;
    }
    write.commit().map_err(|e| e.to_string())
}

/// The model and the request of a call to a SageMaker endpoint, once the call is checked as
/// SageMaker checks it (size, grant, TGI request), or the error to answer.
fn sagemaker_request(
    aws: &LocalAws,
    caller: Caller,
    endpoint: &str,
    body: &Bytes,
) -> Result<(Arc<dyn TextGeneration>, TgiRequest), Box<Response>> {
    if body.len() > SAGEMAKER_PAYLOAD_MAX_BYTES {
        return Err(Box::new(rest_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ValidationError",
            &format!(
                "Request payload of {} bytes is larger than InvokeEndpoint's limit of \
                 {SAGEMAKER_PAYLOAD_MAX_BYTES} bytes",
                body.len()
            ),
        )));
    }
    if let Err(denied) = aws.authorize(&caller, Operation::SagemakerInvoke, endpoint) {
        return Err(Box::new(rest_error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            &denied.message,
        )));
    }
    let Some(model) = aws.model.clone() else {
        return Err(Box::new(model_error(
            "the simulator was started without a local model",
        )));
    };
    match serde_json::from_slice(body) {
        Ok(request) => Ok((model, request)),
        Err(error) => Err(Box::new(rest_error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            &format!(
                "the local endpoint speaks the Hugging Face TGI format ({{\"inputs\", \"parameters\"}}): {error}"
            ),
        ))),
    }
}

/// SageMaker's `ModelError`: the container answered with an error.
fn model_error(message: &str) -> Response {
    rest_error(
        StatusCode::from_u16(424).unwrap_or(StatusCode::BAD_REQUEST),
        "ModelError",
        message,
    )
}

async fn sagemaker(
    State(aws): State<Arc<LocalAws>>,
    Extension(caller): Extension<Caller>,
    Path(endpoint): Path<String>,
    body: Bytes,
) -> Response {
    let (model, request) = match sagemaker_request(&aws, caller, &endpoint, &body) {
        Ok(call) => call,
        Err(response) => return *response,
    };
    let full_text = request.generation_params().return_full_text;
    let answer = tokio::task::spawn_blocking(move || {
        model.generate(&request).map(|text| {
            if full_text {
                format!("{}{text}", request.inputs)
            } else {
                text
            }
        })
    })
    .await;
    match answer {
        Ok(Ok(text)) => {
            let mut response = (
                StatusCode::OK,
                json!([{ "generated_text": text }]).to_string(),
            )
                .into_response();
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            response
        }
        Ok(Err(error)) => model_error(&error.to_string()),
        Err(error) => rest_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            &error.to_string(),
        ),
    }
}

/// What the generating thread tells a response stream.
enum Generated {
    /// A token, as soon as the model has it.
    Token(TgiStreamToken),
    /// The end, with the whole text and the details.
    Finished {
        generated_text: String,
        details: StreamEnd,
    },
    /// The model failed.
    Failed(String),
}

/// How many generated events wait for a slow client: tokens go out as they are made, and a
/// client that reads slowly holds the model back rather than piling events up.
const GENERATED_WINDOW: usize = 4;

/// SageMaker Runtime's `InvokeEndpointWithResponseStream`: the same checks as `InvokeEndpoint`,
/// then the model generates on a blocking thread and each token goes out as a `PayloadPart`
/// event carrying a TGI server-sent event as soon as it is made; the last one has the whole
/// `generated_text` (with the prompt for `return_full_text`) and the `details`. A failure before
/// the first token is answered as `InvokeEndpoint` answers it (`ModelError`); after it, the
/// stream ends with a `ModelStreamError` exception. When the client goes away, the next token
/// finds no one to send to and generation stops.
async fn sagemaker_stream(
    State(aws): State<Arc<LocalAws>>,
    Extension(caller): Extension<Caller>,
    Path(endpoint): Path<String>,
    body: Bytes,
) -> Response {
    let (model, request) = match sagemaker_request(&aws, caller, &endpoint, &body) {
        Ok(call) => call,
        Err(response) => return *response,
    };
    let (sender, mut generated) = tokio::sync::mpsc::channel(GENERATED_WINDOW);
    let generation =
        tokio::task::spawn_blocking(move || generate_stream(&*model, &request, &sender));
    let first = match generated.recv().await {
        Some(Generated::Failed(message)) => return model_error(&message),
        Some(first) => first,
        None => {
            let why = match generation.await {
                Err(error) => error.to_string(),
                Ok(()) => "the model ended without an answer".to_owned(),
            };
            return rest_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", &why);
        }
    };
    let events = futures_util::stream::unfold(
        (Some(first), generated),
        |(next, mut generated)| async move {
            let event = match next {
                Some(event) => event,
                None => generated.recv().await?,
            };
            let bytes = match event {
                Generated::Token(token) => event_stream::payload_part(
                    TgiStreamEvent {
                        token,
                        generated_text: None,
                        details: None,
                    }
                    .to_sse(),
                ),
                Generated::Finished {
                    generated_text,
                    details,
                } => event_stream::payload_part(
                    TgiStreamEvent {
                        // TGI's last event carries a token; this one marks the end (special,
                        // no text), so every real token went out when it was made.
                        token: TgiStreamToken {
                            id: 0,
                            text: String::new(),
                            logprob: 0.0,
                            special: true,
                        },
                        generated_text: Some(generated_text),
                        details: Some(details),
                    }
                    .to_sse(),
                ),
                Generated::Failed(message) => event_stream::model_stream_error(&message),
            };
            Some((Ok::<_, std::convert::Infallible>(bytes), (None, generated)))
        },
    );
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static(event_stream::EVENT_STREAM_CONTENT_TYPE),
    );
    headers.insert(
        "x-amzn-sagemaker-content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        "x-amzn-invoked-production-variant",
        HeaderValue::from_static("AllTraffic"),
    );
    response
}

/// Generates for `request` on this (blocking) thread, sending each token to `events` as it is
/// made; stops as soon as no one receives them.
fn generate_stream(
    model: &dyn TextGeneration,
    request: &TgiRequest,
    events: &tokio::sync::mpsc::Sender<Generated>,
) {
    let mut text = String::new();
    let result = model.generate_stream(request, &mut |token| {
        if !token.special {
            text.push_str(&token.text);
        }
        match events.blocking_send(Generated::Token(token)) {
            Ok(()) => Continue::Continue(()),
            Err(_) => Continue::Break(()),
        }
    });
    let last = match result {
        Ok(details) => Generated::Finished {
            generated_text: if request.generation_params().return_full_text {
                format!("{}{text}", request.inputs)
            } else {
                text
            },
            details,
        },
        Err(error) => Generated::Failed(error.to_string()),
    };
    let _ = events.blocking_send(last);
}

async fn lambda_invoke(
    State(aws): State<Arc<LocalAws>>,
    Extension(caller): Extension<Caller>,
    Path(function): Path<String>,
    body: Bytes,
) -> Response {
    let name = function.rsplit(':').next().unwrap_or(&function).to_owned();
    if body.len() > MAX_PAYLOAD_BYTES {
        return rest_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!(
                "Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
            ),
        );
    }
    let target = match aws.authorize(&caller, Operation::FunctionInvoke, &name) {
        Ok(target) => target,
        Err(denied) => {
            return rest_error(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                &denied.message,
            );
        }
    };
    let Some(pool) = aws.function_pool(&target.name) else {
        return rest_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!(
                "Function not found: {}",
                aws.target.physical_arn(ResourceKind::Function, &name)
            ),
        );
    };
    let payload: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(payload) => payload,
            Err(error) => {
                return rest_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    &error.to_string(),
                );
            }
        }
    };
    let unhandled = |error_type: &str, message: String| {
        (
            Some("Unhandled"),
            json!({"errorType": error_type, "errorMessage": message}).to_string(),
        )
    };
    let source = InvocationSource::Invoke {
        caller: caller.function.clone(),
    };
    let request_id = crate::lambda::new_request_id();
    let mut outcome = pool
        .invoke_from(request_id.clone(), source.clone(), payload)
        .await;
    // A reload replaced the function while this call waited for an instance.
    if let Err(LambdaError::Retired { event, .. }) = outcome {
        outcome = match aws.function_pool(&target.name) {
            Some(pool) => pool.invoke_from(request_id, source, *event).await,
            None => Err(LambdaError::ShuttingDown(target.name.clone())),
        };
    }
    let (function_error, body) = match outcome {
        Ok(Outcome::Response(value)) => (None, value.to_string()),
        Ok(Outcome::FunctionError {
            error_type,
            message,
        }) => unhandled(&error_type, message),
        Ok(Outcome::TimedOut(after)) => unhandled(
            "Sandbox.Timedout",
            format!("Task timed out after {:.2} seconds", after.as_secs_f64()),
        ),
        Ok(Outcome::Crashed(why)) => unhandled("Runtime.ExitError", why),
        // `Invoke` is buffered: a streamed response is collected, within Lambda's limit, and
        // its body (without the HTTP prelude) is the payload.
        Ok(Outcome::Streamed(streamed)) => match streamed.collect(MAX_RESPONSE_BYTES).await {
            Ok(bytes) => (None, String::from_utf8_lossy(&bytes).into_owned()),
            Err(StreamError::Function {
                error_type,
                message,
            }) => unhandled(&error_type, message),
            Err(StreamError::TimedOut(after)) => unhandled(
                "Sandbox.Timedout",
                format!("Task timed out after {:.2} seconds", after.as_secs_f64()),
            ),
            Err(error @ StreamError::TooLarge(_)) => {
                unhandled("Function.ResponseSizeTooLarge", error.to_string())
            }
            Err(error) => unhandled("Runtime.ExitError", error.to_string()),
        },
        Err(error) => {
            return rest_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                &error.to_string(),
            );
        }
    };
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Some(kind) = function_error {
        response
            .headers_mut()
            .insert("x-amz-function-error", HeaderValue::from_static(kind));
    }
    response
}
