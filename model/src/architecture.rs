//! The `Architecture`: what the deducer found in an app, and the one contract between analysis
//! and provisioning (the local simulator and the AWS engine read it; nothing else of the source).
//!
//! It is serde-serialisable, versioned ([`ARCHITECTURE_VERSION`]) and deterministic: every list is
//! sorted, so the same source always gives the same `.pluto/<stack>/arch.json`.

pub use crate::operation::Operation;
use pluto_spec::{BucketSpec, FunctionSpec, KvStoreSpec, ResourceKind, SagemakerSpec, SecretSpec};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the `Architecture` format; bumped on every incompatible change.
pub const ARCHITECTURE_VERSION: u32 = 4;

/// An app as the deducer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// [`ARCHITECTURE_VERSION`] of the writer.
    pub version: u32,
    /// The app's package name (the base of physical names).
    pub project: String,
    /// Declared SageMaker endpoints, KV stores, buckets and secrets, sorted by name.
    pub resources: Vec<Resource>,
    /// Declared functions, sorted by name.
    pub functions: Vec<Function>,
}

/// The file engines and the CLI write an architecture to, in `.pluto/<stack>/`.
pub const ARCHITECTURE_FILE: &str = "arch.json";

impl Architecture {
    /// The architecture as pretty JSON with a final newline: the bytes of
    /// [`ARCHITECTURE_FILE`].
    pub fn to_json(&self) -> String {
        match serde_json::to_string_pretty(self) {
            Ok(json) => format!("{json}\n"),
            // Every field is a string, number, list or map with string keys.
            Err(error) => format!("{{\"error\": \"{error}\"}}\n"),
        }
    }

    /// The resource (not a function: see [`Architecture::function`]) with this kind and name.
    pub fn find(&self, target: &ResourceRef) -> Option<&ResourceSpec> {
        self.resources
            .iter()
            .map(|resource| &resource.spec)
            .find(|spec| spec.kind() == target.kind && spec.name() == target.name)
    }

    /// The function with this name.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions
            .iter()
            .find(|function| function.spec.name == name)
    }

    /// How many grants are exact and how many conservative.
    pub fn grant_summary(&self) -> GrantSummary {
        let grants = self.functions.iter().flat_map(|function| &function.grants);
        let conservative = grants
            .clone()
            .filter(|grant| grant.escaped.is_some())
            .count();
        let total = grants.count();
        GrantSummary {
            functions: self.functions.len(),
            grants: total,
            exact: total - conservative,
            conservative,
        }
    }
}

/// Counts of an app's functions and grants: `14 functions, 20 grants: 18 exact, 2 conservative`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantSummary {
    /// Functions.
    pub functions: usize,
    /// Grants of all functions.
    pub grants: usize,
    /// Grants needed by a call the deducer followed.
    pub exact: usize,
    /// Grants given because a handle escaped where the deducer could not follow it.
    pub conservative: usize,
}

impl fmt::Display for GrantSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |count: usize, word: &str| {
            format!("{count} {word}{}", if count == 1 { "" } else { "s" })
        };
        write!(
            f,
            "{}, {}: {} exact, {} conservative",
            plural(self.functions, "function"),
            plural(self.grants, "grant"),
            self.exact,
            self.conservative
        )
    }
}

/// What a declared resource that is not a function is: functions are [`Function`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResourceSpec {
    /// `#[resource(sagemaker(...))]`
    Sagemaker(SagemakerSpec),
    /// `#[resource(kv_store)]`
    KvStore(KvStoreSpec),
    /// `#[resource(bucket)]`
    Bucket(BucketSpec),
    /// `#[resource(secret)]`
    Secret(SecretSpec),
}

impl ResourceSpec {
    /// The kind of this resource.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::Sagemaker(_) => ResourceKind::Sagemaker,
            Self::KvStore(_) => ResourceKind::KvStore,
            Self::Bucket(_) => ResourceKind::Bucket,
            Self::Secret(_) => ResourceKind::Secret,
        }
    }

    /// The logical name: unique in the app, the base of every physical name.
    pub fn name(&self) -> &str {
        match self {
            Self::Sagemaker(spec) => &spec.name,
            Self::KvStore(spec) => &spec.name,
            Self::Bucket(spec) => &spec.name,
            Self::Secret(spec) => &spec.name,
        }
    }

    /// Whether the resource keeps the app's data (a KV store's items, a bucket's objects, a
    /// secret's value): deleting it loses data, which `destroy` refuses without `--delete-data`.
    pub fn holds_data(&self) -> bool {
        self.kind().holds_data()
    }
}

/// A declared resource that is not a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// The resolved declaration (kind, name, options).
    pub spec: ResourceSpec,
    /// Path of the declaring Rust function, e.g. `my_app::llm::llama`.
    pub rust_path: String,
    /// Where it is declared.
    pub source: SourceLocation,
}

/// A declared function (a Lambda function).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// The resolved declaration (name, URL auth, timeout, memory, env).
    pub spec: FunctionSpec,
    /// Path of the Rust handler, e.g. `my_app::chat`.
    pub rust_path: String,
    /// Handler parameters, in order: what requests pass.
    pub params: Vec<Param>,
    /// Whether it answers at once or streams (returns `pluto::TextStream`).
    #[serde(default)]
    pub response: ResponseMode,
    /// Where it is declared.
    pub source: SourceLocation,
    /// What it may do, sorted by resource then operation.
    pub grants: Vec<Grant>,
}

/// How a function answers: the whole result at once, or a stream of chunks as they come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// The handler returns a value; the response is sent when it is complete.
    #[default]
    Buffered,
    /// The handler returns `pluto::TextStream` (or `pluto::Result<pluto::TextStream>`): the
    /// response is sent chunk by chunk, and its Function URL streams.
    Stream,
}

impl ResponseMode {
    /// The `InvokeMode` of the function's URL in Lambda: `BUFFERED` or `RESPONSE_STREAM`.
    pub fn invoke_mode(self) -> &'static str {
        match self {
            Self::Buffered => "BUFFERED",
            Self::Stream => "RESPONSE_STREAM",
        }
    }

    /// The mode of a Lambda `InvokeMode` (`None` when absent: Lambda's default, buffered).
    pub fn from_invoke_mode(mode: Option<&str>) -> Option<Self> {
        match mode {
            None | Some("BUFFERED") => Some(Self::Buffered),
            Some("RESPONSE_STREAM") => Some(Self::Stream),
            Some(_) => None,
        }
    }

    /// Whether the function streams.
    pub fn is_stream(self) -> bool {
        self == Self::Stream
    }
}

impl fmt::Display for ResponseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Buffered => "buffered",
            Self::Stream => "stream",
        })
    }
}

/// One handler parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Name, as requests spell it.
    pub name: String,
    /// Rust type, as written.
    pub ty: String,
}

/// A resource named by kind and logical name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceRef {
    /// Kind.
    pub kind: ResourceKind,
    /// Logical name.
    pub name: String,
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind, self.name)
    }
}

/// Permission for one function to perform one operation on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The resource.
    pub resource: ResourceRef,
    /// The operation.
    pub operation: Operation,
    /// The call chains that need it (at least one), shortest first.
    pub provenance: Vec<CallChain>,
    /// Set when the grant is conservative: the handle escaped into code the deducer cannot see,
    /// so every operation of that resource was granted.
    pub escaped: Option<Escape>,
}

/// A chain of calls from a handler to a client operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallChain {
    /// Steps from the handler (first) to the operation (last).
    pub steps: Vec<CallStep>,
}

impl fmt::Display for CallChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, step) in self.steps.iter().enumerate() {
            if index > 0 {
                f.write_str(" -> ")?;
            }
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

/// One step of a [`CallChain`]: a call made at a place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallStep {
    /// What is called there: a function path or `resource().operation`.
    pub call: String,
    /// Where the call is.
    pub location: SourceLocation,
}

impl fmt::Display for CallStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.call, self.location)
    }
}

/// Where a handle escaped analysis.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Escape {
    /// What it escaped into, e.g. `a call to other_crate::store`.
    pub into: String,
    /// Where.
    pub location: SourceLocation,
}

/// A place in the app's source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourceLocation {
    /// Path relative to the package root, with `/` separators.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}
