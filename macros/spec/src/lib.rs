//! The option model of `#[resource]`: which kinds of resource exist, which keys each takes, their
//! defaults and limits, the rules for names and environment variables, and the environment-variable
//! contract between deployment and the runtime.
//!
//! This crate is the ONE place that knows these rules. The proc macro (`pluto-macros`) uses
//! [`parse`] to turn attribute tokens into a [`DeclaredSpec`] and to report bad options as compile
//! errors; the deducer uses the same [`parse`] on source files; the runtime uses [`contract`] (with
//! the `parse` feature off, so it does not pull `syn` into Lambda builds).

pub mod contract;
pub mod limits;
pub mod names;
#[cfg(feature = "parse")]
pub mod parse;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The kinds of resource a `#[resource(...)]` attribute can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A SageMaker real-time or serverless inference endpoint (`fn x() -> SageMaker;`).
    Sagemaker,
    /// A key-value store, a DynamoDB table (`fn x() -> KvStore;`).
    KvStore,
    /// A function run by AWS Lambda, optionally behind a Function URL (`async fn x(..) -> ..`).
    Function,
    /// An object store, an S3 bucket (`fn x() -> Bucket;`).
    Bucket,
    /// A secret value, a Secrets Manager secret (`fn x() -> Secret;`).
    Secret,
}

impl ResourceKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [ResourceKind; 5] = [
        Self::Sagemaker,
        Self::KvStore,
        Self::Bucket,
        Self::Secret,
        Self::Function,
    ];

    /// The keyword that selects this kind inside `#[resource(...)]`.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Sagemaker => "sagemaker",
            Self::KvStore => "kv_store",
            Self::Function => "function",
            Self::Bucket => "bucket",
            Self::Secret => "secret",
        }
    }

    /// The runtime handle type a declaration of this kind returns (`None` for functions, which are
    /// ordinary Rust functions).
    pub fn handle_type(self) -> Option<&'static str> {
        match self {
            Self::Sagemaker => Some("SageMaker"),
            Self::KvStore => Some("KvStore"),
            Self::Bucket => Some("Bucket"),
            Self::Secret => Some("Secret"),
            Self::Function => None,
        }
    }

    /// Whether a resource of this kind keeps data that deleting it loses: KV stores, buckets and
    /// secrets.
    pub fn holds_data(self) -> bool {
        matches!(self, Self::KvStore | Self::Bucket | Self::Secret)
    }

    /// Looks a kind up by its keyword.
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.keyword() == keyword)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Sagemaker => "SageMaker endpoint",
            Self::KvStore => "KV store",
            Self::Function => "function",
            Self::Bucket => "bucket",
            Self::Secret => "secret",
        };
        f.write_str(text)
    }
}

/// One declared resource with every option resolved (defaults filled in, limits checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeclaredSpec {
    /// `#[resource(sagemaker(...))]`
    Sagemaker(SagemakerSpec),
    /// `#[resource(kv_store)]`
    KvStore(KvStoreSpec),
    /// `#[resource(function(...))]`
    Function(FunctionSpec),
    /// `#[resource(bucket)]`
    Bucket(BucketSpec),
    /// `#[resource(secret)]`
    Secret(SecretSpec),
}

impl DeclaredSpec {
    /// The kind of this resource.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::Sagemaker(_) => ResourceKind::Sagemaker,
            Self::KvStore(_) => ResourceKind::KvStore,
            Self::Function(_) => ResourceKind::Function,
            Self::Bucket(_) => ResourceKind::Bucket,
            Self::Secret(_) => ResourceKind::Secret,
        }
    }

    /// The logical name: unique in the app, the base of every physical name.
    pub fn name(&self) -> &str {
        match self {
            Self::Sagemaker(spec) => &spec.name,
            Self::KvStore(spec) => &spec.name,
            Self::Function(spec) => &spec.name,
            Self::Bucket(spec) => &spec.name,
            Self::Secret(spec) => &spec.name,
        }
    }
}

/// A SageMaker endpoint serving a container image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagemakerSpec {
    /// Logical name (default: the Rust function's name with `_` turned into `-`).
    pub name: String,
    /// Container image in Amazon ECR, e.g. a Hugging Face TGI image.
    pub image: String,
    /// Dedicated instances or serverless inference.
    pub hosting: Hosting,
    /// Environment of the container, e.g. `HF_MODEL_ID`.
    pub env: BTreeMap<String, EnvValue>,
}

/// How a SageMaker endpoint is hosted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Hosting {
    /// Real-time inference on dedicated instances.
    Instances {
        /// Instance type, default [`limits::DEFAULT_INSTANCE_TYPE`].
        instance_type: String,
        /// Instances started with the endpoint, default 1.
        initial_instance_count: u32,
    },
    /// Serverless inference.
    Serverless {
        /// Memory in MiB: 1024 to 6144 in steps of 1024.
        memory_mb: u32,
        /// Concurrent invocations, 1 to 200.
        max_concurrency: u32,
    },
}

/// A key-value store. Keys and values are strings; see [`contract::KV_KEY_ATTRIBUTE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStoreSpec {
    /// Logical name (default: the Rust function's name with `_` turned into `-`).
    pub name: String,
}

/// An object store: an S3 bucket, private (Block Public Access on, objects owned by the bucket
/// owner, encrypted at rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSpec {
    /// Logical name (default: the Rust function's name with `_` turned into `-`).
    pub name: String,
    /// Whether S3 keeps every version of every object (`versioning = true`); default off.
    #[serde(default)]
    pub versioning: bool,
}

/// A secret value kept in AWS Secrets Manager. Its value is never in the source: it is set with
/// `cargo pluto secret set NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSpec {
    /// Logical name (default: the Rust function's name with `_` turned into `-`).
    pub name: String,
}

/// A function deployed to AWS Lambda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// Logical name (default: the Rust function's name with `_` turned into `-`).
    pub name: String,
    /// Whether and how the function is reachable over HTTP.
    pub url: UrlAuth,
    /// Timeout in seconds, 1 to 900, default 30.
    pub timeout_s: u32,
    /// Memory in MiB, 128 to 10240, default 256.
    pub memory_mb: u32,
    /// Environment variables set on the function.
    pub env: BTreeMap<String, EnvValue>,
    /// CORS settings of the Function URL, from `cors(...)`. `None` (the default) configures no
    /// CORS, so browsers allow only same-origin calls. Only a function with a URL has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
}

/// Cross-origin resource sharing (CORS) settings of a Function URL: which web pages, by origin,
/// may call it from a browser. The fields are those of Lambda's `Cors` (`AllowOrigins`,
/// `AllowMethods`, `AllowHeaders`, `ExposeHeaders`, `MaxAge`, `AllowCredentials`), already checked
/// against AWS's limits ([`limits`]) and normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cors {
    /// Origins allowed to call the URL: `*` alone, or `http(s)://host[:port]` in lowercase, with no
    /// path and no default port. Never empty.
    pub allow_origins: Vec<String>,
    /// Methods allowed in cross-origin requests, upper case: `GET`, `PUT`, `HEAD`, `POST`,
    /// `PATCH`, `DELETE`, or `*` alone. Empty when not declared (send no `AllowMethods`).
    pub allow_methods: Vec<String>,
    /// Request headers a cross-origin request may send, as written (no two equal ignoring case).
    pub allow_headers: Vec<String>,
    /// Response headers a page may read, as written (no two equal ignoring case).
    pub expose_headers: Vec<String>,
    /// How long, in seconds, a browser may cache a preflight response (0 to 86400); `None` leaves
    /// AWS's default (0, no caching).
    pub max_age_s: Option<u32>,
    /// Whether cookies and other credentials may be sent; never together with origin `*`.
    pub allow_credentials: bool,
}

/// Who may call a function's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlAuth {
    /// A Function URL anyone on the internet can call (`AuthType: NONE`). Must be declared.
    Public,
    /// A Function URL that requires SigV4-signed requests (`AuthType: AWS_IAM`). The default.
    Iam,
    /// No Function URL: only other functions (or AWS services) can invoke it.
    None,
}

impl UrlAuth {
    /// Every value, in the order `url = "..."` documents them.
    pub const ALL: [UrlAuth; 3] = [Self::Public, Self::Iam, Self::None];

    /// The values `url = "..."` accepts.
    pub const KEYWORDS: [&'static str; 3] = [
        Self::ALL[0].keyword(),
        Self::ALL[1].keyword(),
        Self::ALL[2].keyword(),
    ];

    /// The keyword that selects this value in `url = "..."`, also how the CLI prints it.
    pub const fn keyword(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Iam => "iam",
            Self::None => "none",
        }
    }

    /// Looks a value of `url = "..."` up.
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|auth| auth.keyword() == keyword)
    }

    /// What the value means, for error messages.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::Public => "anyone may call it",
            Self::Iam => "signed requests only; the default",
            Self::None => "no Function URL",
        }
    }

    /// Whether the function has a Function URL at all.
    pub fn has_url(self) -> bool {
        self != Self::None
    }
}

impl fmt::Display for UrlAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The value of one environment variable in a declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    /// A literal written in the source: `KEY = "value"`.
    Literal(String),
    /// A secret read from the deploying machine's environment at deploy time, never stored by Pluto
    /// nor printed: `KEY = from_env("VAR")`.
    FromDeployEnv(String),
}
