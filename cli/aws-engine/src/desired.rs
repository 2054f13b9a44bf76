//! The desired state of a stack: every AWS object an [`Architecture`] needs, with its exact
//! physical name, configuration, policies and tags. Built without any AWS call, so it is what a
//! plan compares the live state with.

use crate::error::EngineError;
use pluto_model::Architecture;
use pluto_model::ResourceSpec;
use pluto_model::ResponseMode;
use pluto_model::env;
use pluto_model::iam::{self, AwsTarget, PolicyDocument};
use pluto_model::naming::StackNames;
use pluto_spec::{Cors, EnvValue, Hosting, ResourceKind, UrlAuth};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Tag naming the project on every object Pluto creates.
pub const PROJECT_TAG: &str = "pluto:project";
/// Tag naming the stack.
pub const STACK_TAG: &str = "pluto:stack";
/// Tag naming the declared resource an object belongs to, as `{kind}/{logical name}`.
pub const RESOURCE_TAG: &str = "pluto:resource";
/// Name of the one inline policy of every role Pluto creates.
pub const ROLE_POLICY_NAME: &str = "pluto";
/// Lambda runtime of every function: the binary is the `bootstrap`.
pub const LAMBDA_RUNTIME: &str = "provided.al2023";
/// Handler setting of every function (unused by custom runtimes, but required).
pub const LAMBDA_HANDLER: &str = "bootstrap";
/// Statement id of the public URL's `lambda:InvokeFunctionUrl` permission.
pub const PUBLIC_URL_SID: &str = "PlutoPublicUrl";
/// Statement id of the public URL's `lambda:InvokeFunction` permission (via the URL only).
pub const PUBLIC_INVOKE_SID: &str = "PlutoPublicUrlInvoke";
/// Name of the one production variant of every endpoint configuration.
pub const VARIANT_NAME: &str = "main";

/// The built code every function runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The zip holding `bootstrap`.
    pub zip_path: PathBuf,
    /// Base64 of the SHA-256 of the zip, as Lambda reports it (`CodeSha256`).
    pub code_sha256: String,
    /// Lambda architecture: `x86_64` or `arm64`.
    pub architecture: String,
}

/// One environment value; secrets are never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvEntry {
    /// The value.
    pub value: String,
    /// Set for `from_env(...)` values: masked in every output.
    pub secret: bool,
}

impl EnvEntry {
    /// A value that is no secret (a literal, a physical name, a URL).
    pub fn plain(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            secret: false,
        }
    }

    /// What plans and logs show: the value, or `(secret)`.
    pub fn shown(&self) -> String {
        if self.secret {
            "(secret)".to_owned()
        } else {
            format!("{:?}", self.value)
        }
    }
}

impl std::fmt::Debug for EnvEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// An IAM role with its trust policy and one inline policy.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredRole {
    /// Role name.
    pub name: String,
    /// Role ARN.
    pub arn: String,
    /// Who may assume it.
    pub trust: PolicyDocument,
    /// What it may do ([`ROLE_POLICY_NAME`]).
    pub policy: PolicyDocument,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A Lambda function with its role and URL.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredFunction {
    /// Logical name.
    pub logical: String,
    /// Function name.
    pub name: String,
    /// Execution role.
    pub role: DesiredRole,
    /// Memory in MiB.
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_s: u32,
    /// Environment: the declaration's plus the runtime contract (`pluto_model::env`).
    pub env: BTreeMap<String, EnvEntry>,
    /// Functions whose URL this one reads (`PLUTO_URL_<NAME>`). A URL exists only once its
    /// function's URL config does: the plan puts the URLs that exist into `env` and lists the
    /// others in `urls_pending`, which the apply sets once it has created them.
    pub urls_read: Vec<String>,
    /// URLs of `urls_read` not known when planning: set after the URLs are created.
    pub urls_pending: Vec<String>,
    /// Code.
    pub code: Code,
    /// Function URL, if declared.
    pub url: Option<DesiredUrl>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A Function URL.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredUrl {
    /// `NONE` (public) or `AWS_IAM`.
    pub public: bool,
    /// CORS settings.
    pub cors: Option<Cors>,
    /// How it answers: its `InvokeMode` is [`ResponseMode::invoke_mode`], `RESPONSE_STREAM` for
    /// a function that streams, `BUFFERED` otherwise.
    pub response: ResponseMode,
}

impl DesiredUrl {
    /// The auth type as Lambda spells it.
    pub fn auth_type(&self) -> &'static str {
        if self.public { "NONE" } else { "AWS_IAM" }
    }
}

/// A DynamoDB table of a KV store.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredTable {
    /// Logical name.
    pub logical: String,
    /// Table name.
    pub name: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// An S3 bucket: private (Block Public Access, objects owned by the bucket owner), encrypted at
/// rest (SSE-S3), versioned if declared.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredBucket {
    /// Logical name.
    pub logical: String,
    /// Bucket name (globally unique: it hashes the account and region).
    pub name: String,
    /// Whether S3 keeps every version of every object.
    pub versioning: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A Secrets Manager secret. The engine creates it without a value: the value is set with
/// `cargo pluto secret set` ([`crate::Engine::put_secret_value`]) and never passes a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSecret {
    /// Logical name.
    pub logical: String,
    /// Secret name.
    pub name: String,
    /// Description, saying how the value is set.
    pub description: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A SageMaker endpoint with its model, configuration and execution role.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredEndpoint {
    /// Logical name.
    pub logical: String,
    /// Endpoint name.
    pub name: String,
    /// Execution role.
    pub role: DesiredRole,
    /// Model name (revisioned by content).
    pub model_name: String,
    /// Container image.
    pub image: String,
    /// Container environment.
    pub env: BTreeMap<String, EnvEntry>,
    /// Endpoint configuration name (revisioned by content).
    pub config_name: String,
    /// Instances or serverless.
    pub hosting: Hosting,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// Everything a stack needs.
#[derive(Debug, Clone)]
pub struct DesiredStack {
    /// Names of the stack.
    pub names: StackNames,
    /// Account and region.
    pub target: AwsTarget,
    /// Functions, sorted by logical name.
    pub functions: Vec<DesiredFunction>,
    /// Tables, sorted by logical name.
    pub tables: Vec<DesiredTable>,
    /// Endpoints, sorted by logical name.
    pub endpoints: Vec<DesiredEndpoint>,
    /// Buckets, sorted by logical name.
    pub buckets: Vec<DesiredBucket>,
    /// Secrets, sorted by logical name.
    pub secrets: Vec<DesiredSecret>,
}

/// The description of the secret `logical` of stack `names`: what it is and how its value is set.
pub fn secret_description(names: &StackNames, logical: &str) -> String {
    format!(
        "Pluto: secret `{logical}` of stack `{}` of `{}`; set its value with `cargo pluto secret \
         set {logical} --deployed --stack {}`",
        names.stack(),
        names.project(),
        names.stack()
    )
}

/// Tags of an object belonging to the resource `kind`/`logical` of the stack.
pub fn tags(names: &StackNames, kind: ResourceKind, logical: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PROJECT_TAG.to_owned(), names.project().to_owned()),
        (STACK_TAG.to_owned(), names.stack().to_owned()),
        (
            RESOURCE_TAG.to_owned(),
            format!("{}/{logical}", kind.keyword()),
        ),
    ])
}

/// Whether `tags` say the object belongs to this stack.
pub fn owned_by(tags: &BTreeMap<String, String>, names: &StackNames) -> bool {
    tags.get(PROJECT_TAG).map(String::as_str) == Some(names.project())
        && tags.get(STACK_TAG).map(String::as_str) == Some(names.stack())
}

/// Refuses `object`, found to exist already when creating it, unless its `live` tags name the
/// project and stack that the `desired` tags do: then it is the stack's own (typically created by
/// an earlier attempt whose answer was lost) and may be brought to the desired state.
pub(crate) fn check_same_stack(
    object: String,
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> Result<(), EngineError> {
    let same = |key: &str| {
        desired
            .get(key)
            .is_some_and(|value| live.get(key) == Some(value))
    };
    if same(PROJECT_TAG) && same(STACK_TAG) {
        Ok(())
    } else {
        Err(EngineError::NotOwned {
            object,
            project: desired.get(PROJECT_TAG).cloned().unwrap_or_default(),
            stack: desired.get(STACK_TAG).cloned().unwrap_or_default(),
        })
    }
}

/// Resolves `env`; `from_env` values are read through `secret` (normally `std::env::var`).
fn resolve_env(
    env: &BTreeMap<String, EnvValue>,
    resource: &str,
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, EnvEntry>, EngineError> {
    env.iter()
        .map(|(key, value)| {
            let entry = match value {
                EnvValue::Literal(value) => EnvEntry::plain(value.clone()),
                EnvValue::FromDeployEnv(var) => EnvEntry {
                    value: secret(var).ok_or_else(|| EngineError::MissingSecret {
                        resource: resource.to_owned(),
                        key: key.clone(),
                        var: var.clone(),
                    })?,
                    secret: true,
                },
            };
            Ok((key.clone(), entry))
        })
        .collect()
}

/// First 8 hex digits of the SHA-256 of `parts` (each length-prefixed, so no two lists collide).
fn revision(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl DesiredStack {
    /// The desired state of `architecture` as stack `names` in `target`, running `code`. The
    /// names are scoped to the target's account and region ([`StackNames::in_account`]) here, so
    /// bucket names, the policies naming them and the functions' `PLUTO_BUCKET_<NAME>` all agree;
    /// the scoped names are [`DesiredStack::names`].
    pub fn new(
        architecture: &Architecture,
        names: StackNames,
        target: AwsTarget,
        code: &Code,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, EngineError> {
        let names = names.in_account(target.account(), target.region());
        let mut tables = Vec::new();
        let mut endpoints = Vec::new();
        let mut buckets = Vec::new();
        let mut secrets = Vec::new();
        for resource in &architecture.resources {
            match &resource.spec {
                ResourceSpec::KvStore(spec) => tables.push(DesiredTable {
                    logical: spec.name.clone(),
                    name: names.table(&spec.name),
                    tags: tags(&names, ResourceKind::KvStore, &spec.name),
                }),
                ResourceSpec::Bucket(spec) => buckets.push(DesiredBucket {
                    logical: spec.name.clone(),
                    name: names.bucket(&spec.name),
                    versioning: spec.versioning,
                    tags: tags(&names, ResourceKind::Bucket, &spec.name),
                }),
                ResourceSpec::Secret(spec) => secrets.push(DesiredSecret {
                    logical: spec.name.clone(),
                    name: names.secret(&spec.name),
                    description: secret_description(&names, &spec.name),
                    tags: tags(&names, ResourceKind::Secret, &spec.name),
                }),
                ResourceSpec::Sagemaker(spec) => {
                    let role = DesiredRole {
                        name: names.sagemaker_role(&spec.name),
                        arn: target.sagemaker_role_arn(&names, &spec.name),
                        trust: iam::sagemaker_trust_policy(),
                        policy: iam::sagemaker_execution_policy(spec, &target, &names)?,
                        tags: tags(&names, ResourceKind::Sagemaker, &spec.name),
                    };
                    let env = resolve_env(
                        &spec.env,
                        &format!("SageMaker endpoint `{}`", spec.name),
                        secret,
                    )?;
                    let mut model_parts = vec![spec.image.as_str(), role.arn.as_str()];
                    for (key, entry) in &env {
                        model_parts.push(key);
                        model_parts.push(&entry.value);
                    }
                    let model_name = names.model_revision(&spec.name, &revision(&model_parts));
                    let hosting_text = match &spec.hosting {
                        Hosting::Instances {
                            instance_type,
                            initial_instance_count,
                        } => format!("instances {instance_type} {initial_instance_count}"),
                        Hosting::Serverless {
                            memory_mb,
                            max_concurrency,
                        } => format!("serverless {memory_mb} {max_concurrency}"),
                    };
                    let config_name = names.endpoint_config_revision(
                        &spec.name,
                        &revision(&[&model_name, &hosting_text]),
                    );
                    endpoints.push(DesiredEndpoint {
                        logical: spec.name.clone(),
                        name: names.endpoint(&spec.name),
                        tags: role.tags.clone(),
                        role,
                        model_name,
                        image: spec.image.clone(),
                        env,
                        config_name,
                        hosting: spec.hosting.clone(),
                    });
                }
            }
        }

        let mut functions = Vec::new();
        for function in &architecture.functions {
            let spec = &function.spec;
            // URLs are filled in by the plan, from the live state (see `DesiredFunction::urls_read`).
            let function_env = env::function_env(architecture, function, &names, &|_| None);
            let env = resolve_env(
                &function_env.vars,
                &format!("function `{}`", spec.name),
                secret,
            )?;
            let function_tags = tags(&names, ResourceKind::Function, &spec.name);
            functions.push(DesiredFunction {
                logical: spec.name.clone(),
                name: names.function(&spec.name),
                role: DesiredRole {
                    name: names.function_role(&spec.name),
                    arn: target.function_role_arn(&names, &spec.name),
                    trust: iam::lambda_trust_policy(),
                    policy: iam::function_policy(function, &target, &names),
                    tags: function_tags.clone(),
                },
                memory_mb: spec.memory_mb,
                timeout_s: spec.timeout_s,
                env,
                urls_read: function_env.urls_not_yet_known,
                urls_pending: Vec::new(),
                code: code.clone(),
                url: match spec.url {
                    UrlAuth::None => None,
                    UrlAuth::Public => Some(DesiredUrl {
                        public: true,
                        cors: spec.cors.clone(),
                        response: function.response,
                    }),
                    UrlAuth::Iam => Some(DesiredUrl {
                        public: false,
                        cors: spec.cors.clone(),
                        response: function.response,
                    }),
                },
                tags: function_tags,
            });
        }
        Ok(Self {
            names,
            target,
            functions,
            tables,
            endpoints,
            buckets,
            secrets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_change_with_any_part_and_never_collide_by_concatenation() {
        assert_eq!(revision(&["a", "b"]), revision(&["a", "b"]));
        assert_ne!(revision(&["a", "b"]), revision(&["a", "c"]));
        assert_ne!(revision(&["ab", ""]), revision(&["a", "b"]));
        assert_eq!(revision(&["a"]).len(), 8);
    }

    #[test]
    fn secrets_are_masked_and_missing_ones_name_the_variable() {
        let env = BTreeMap::from([
            (
                "TOKEN".to_owned(),
                EnvValue::FromDeployEnv("HF_TOKEN".to_owned()),
            ),
            ("MODEL".to_owned(), EnvValue::Literal("tiny".to_owned())),
        ]);
        let resolved = resolve_env(&env, "x", &|var| {
            (var == "HF_TOKEN").then(|| "hf_abc".to_owned())
        })
        .unwrap();
        assert_eq!(resolved["TOKEN"].value, "hf_abc");
        assert_eq!(resolved["TOKEN"].shown(), "(secret)");
        assert_eq!(format!("{:?}", resolved["TOKEN"]), "(secret)");
        assert_eq!(resolved["MODEL"].shown(), "\"tiny\"");
        let error = resolve_env(&env, "SageMaker endpoint `llama`", &|_| None).unwrap_err();
        assert!(error.to_string().contains("`HF_TOKEN`"), "{error}");
    }
}
