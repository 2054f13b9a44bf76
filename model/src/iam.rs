//! IAM, engine-neutral: the one mapping from an [`Operation`] to the IAM actions it needs, the ARNs
//! of a stack's resources, and the policy documents every engine attaches (a function's execution
//! policy, a SageMaker endpoint's execution policy, and the trust policies of both roles).
//!
//! Policies are least privilege: each statement names exact ARNs built from
//! [`StackNames`], never a wildcard, except where AWS offers no resource-level permission at all
//! (`ecr:GetAuthorizationToken` and `cloudwatch:PutMetricData`, see
//! [`sagemaker_execution_policy`]). Output is deterministic: the same inputs give byte-identical
//! JSON.

use crate::architecture::Function;
use crate::naming::StackNames;
use crate::operation::Operation;
use pluto_spec::{ResourceKind, SagemakerSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Actions a function needs on its own log group. `logs:CreateLogGroup` is included, on that one
/// group only: Lambda creates the group on first write when it is missing (engines should still
/// create it first, with a retention), and without the permission it drops the logs silently.
pub const FUNCTION_LOG_ACTIONS: [&str; 3] = [
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
];

/// Actions SageMaker needs on an endpoint's log group, as AWS documents for model hosting.
pub const ENDPOINT_LOG_ACTIONS: [&str; 4] = [
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
];

/// Actions that pull an image from one ECR repository.
pub const ECR_PULL_ACTIONS: [&str; 3] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
];

/// The CloudWatch namespace of a SageMaker endpoint's instance metrics; the execution policy lets
/// it publish there and nowhere else.
pub const SAGEMAKER_METRICS_NAMESPACE: &str = "/aws/sagemaker/Endpoints";

/// Why a policy cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IamError {
    /// The partition is not one this crate knows.
    #[error("AWS partition `{partition}` is not supported: use `aws`, `aws-cn` or `aws-us-gov`")]
    InvalidPartition {
        /// The partition as given.
        partition: String,
    },
    /// The region is malformed or not in the partition.
    #[error("AWS region `{region}` {problem}")]
    InvalidRegion {
        /// The region as given.
        region: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The account is not 12 digits.
    #[error("AWS account `{account}` is not an account ID: account IDs are exactly 12 digits")]
    InvalidAccount {
        /// The account as given.
        account: String,
    },
    /// A SageMaker endpoint's image is not an ECR image reference.
    #[error("SageMaker endpoint `{endpoint}`: {message}")]
    InvalidImage {
        /// Logical name of the endpoint.
        endpoint: String,
        /// What is wrong, from [`pluto_spec::names::parse_ecr_image`].
        message: String,
    },
}

/// Where a stack is deployed: the partition, region and account its ARNs name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsTarget {
    partition: String,
    region: String,
    account: String,
}

impl AwsTarget {
    /// A validated target.
    ///
    /// `partition` is `aws`, `aws-cn` or `aws-us-gov`; `region` looks like `us-east-1` and belongs
    /// to the partition (`cn-…` for `aws-cn`, `us-gov-…` for `aws-us-gov`); `account` is 12
    /// digits.
    pub fn new(partition: &str, region: &str, account: &str) -> Result<Self, IamError> {
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(IamError::InvalidPartition {
                partition: partition.to_owned(),
            });
        }
        check_region(partition, region)?;
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IamError::InvalidAccount {
                account: account.to_owned(),
            });
        }
        Ok(Self {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
        })
    }

    /// The partition, e.g. `aws`.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The region, e.g. `us-east-1`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The 12-digit account ID.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// `arn:{partition}:{service}:{region}:{account}:{resource}`.
    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }

    /// ARN of the DynamoDB table of KV store `logical`.
    pub fn table_arn(&self, names: &StackNames, logical: &str) -> String {
        self.table_arn_named(&names.table(logical))
    }

    /// ARN of the DynamoDB table with this physical name.
    pub fn table_arn_named(&self, table: &str) -> String {
        self.arn("dynamodb", &format!("table/{table}"))
    }

    /// ARN of SageMaker endpoint `logical`. SageMaker ARNs are lowercase whatever the name's case.
    pub fn endpoint_arn(&self, names: &StackNames, logical: &str) -> String {
        self.physical_arn(ResourceKind::Sagemaker, &names.endpoint(logical))
    }

    /// ARN of the (unqualified) Lambda function of function `logical`.
    pub fn function_arn(&self, names: &StackNames, logical: &str) -> String {
        self.physical_arn(ResourceKind::Function, &names.function(logical))
    }

    /// ARN of the resource of this kind and logical name.
    pub fn resource_arn(&self, names: &StackNames, kind: ResourceKind, logical: &str) -> String {
        self.physical_arn(kind, &names.resource(kind, logical))
    }

    /// ARN of the resource of this kind with this physical name (also one the app does not
    /// declare, as a denial names it).
    pub fn physical_arn(&self, kind: ResourceKind, physical: &str) -> String {
        match kind {
            ResourceKind::KvStore => self.table_arn_named(physical),
            ResourceKind::Sagemaker => self.arn(
                "sagemaker",
                &format!("endpoint/{}", physical.to_ascii_lowercase()),
            ),
            ResourceKind::Function => self.arn("lambda", &format!("function:{physical}")),
            // S3 ARNs name neither region nor account: bucket names are global.
            ResourceKind::Bucket => format!("arn:{}:s3:::{physical}", self.partition),
            // Secrets Manager appends `-` and 6 random characters to a secret's name in its ARN;
            // `??????` matches exactly those, so the policy names this secret and no other.
            ResourceKind::Secret => {
                self.arn("secretsmanager", &format!("secret:{physical}-??????"))
            }
        }
    }

    /// The ARN IAM checks `operation` against on the resource of this physical name: the
    /// resource's own ARN, or for object operations on a bucket its objects (`bucket/*`).
    pub fn operation_arn(&self, operation: Operation, physical: &str) -> String {
        let arn = self.physical_arn(operation.resource_kind(), physical);
        if operation.on_objects() {
            format!("{arn}/*")
        } else {
            arn
        }
    }

    /// ARN of the session of a role assumed by `session`, as AWS names the caller in a denial.
    pub fn assumed_role_arn(&self, role: &str, session: &str) -> String {
        format!(
            "arn:{}:sts::{}:assumed-role/{role}/{session}",
            self.partition, self.account
        )
    }

    /// ARN of a CloudWatch Logs group and its streams: `arn:…:log-group:{group}:*`, the form IAM
    /// matches for both the group's own actions and its log streams.
    pub fn log_group_arn(&self, group: &str) -> String {
        self.arn("logs", &format!("log-group:{group}:*"))
    }

    /// ARN of the IAM role of function `logical` (IAM ARNs have no region).
    pub fn function_role_arn(&self, names: &StackNames, logical: &str) -> String {
        self.role_arn(&names.function_role(logical))
    }

    /// ARN of the IAM role SageMaker assumes for endpoint `logical`.
    pub fn sagemaker_role_arn(&self, names: &StackNames, logical: &str) -> String {
        self.role_arn(&names.sagemaker_role(logical))
    }

    fn role_arn(&self, role: &str) -> String {
        format!("arn:{}:iam::{}:role/{role}", self.partition, self.account)
    }

    /// ARN of an ECR repository, in the image's own account and region (ECR images may live in
    /// another account, e.g. AWS's Deep Learning Containers).
    pub fn ecr_repository_arn(&self, image: &pluto_spec::names::EcrImage) -> String {
        format!(
            "arn:{}:ecr:{}:{}:repository/{}",
            self.partition, image.region, image.account, image.repository
        )
    }
}

/// Checks a region name against the partition.
fn check_region(partition: &str, region: &str) -> Result<(), IamError> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = (3..=4).contains(&parts.len())
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let problem = if !well_formed {
        Some("is not a region name: regions look like `us-east-1` or `eu-central-2`".to_owned())
    } else {
        let china = region.starts_with("cn-");
        let gov = region.starts_with("us-gov-");
        match partition {
            "aws-cn" if !china => Some("is not in partition `aws-cn` (regions `cn-…`)".to_owned()),
            "aws-us-gov" if !gov => {
                Some("is not in partition `aws-us-gov` (regions `us-gov-…`)".to_owned())
            }
            "aws" if china || gov => Some(format!(
                "is not in partition `aws`: use partition `{}`",
                if china { "aws-cn" } else { "aws-us-gov" }
            )),
            _ => None,
        }
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(IamError::InvalidRegion {
            region: region.to_owned(),
            problem,
        }),
    }
}

/// The policy language version; `2012-10-17` is the current one (and the only one with policy
/// variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PolicyVersion {
    /// `2012-10-17`.
    #[default]
    #[serde(rename = "2012-10-17")]
    V2012_10_17,
}

/// An IAM policy document, serialised exactly as AWS expects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    pub version: PolicyVersion,
    /// The statements, in a deterministic order.
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    /// A `2012-10-17` document with these statements.
    pub fn new(statement: Vec<Statement>) -> Self {
        Self {
            version: PolicyVersion::V2012_10_17,
            statement,
        }
    }
}

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Statement ID: ASCII letters and digits only, unique in its document.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Effect,
    /// Who may assume a role: set in trust policies only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub principal: Option<Principal>,
    /// Actions, always a list.
    pub action: Vec<String>,
    /// Resources: a list of ARNs, or `"*"` where the actions support no resource-level
    /// permission. Absent in trust policies.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<OneOrMany>,
    /// Conditions: operator → condition key → value(s).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub condition: Option<BTreeMap<String, BTreeMap<String, OneOrMany>>>,
}

/// A policy value that is one string or a list of strings (`"*"` or `["arn:…", …]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single string.
    One(String),
    /// A list.
    Many(Vec<String>),
}

/// The principal of a trust-policy statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// An AWS service principal, e.g. `lambda.amazonaws.com`.
    #[serde(rename = "Service")]
    pub service: String,
}

/// An `Allow` statement with a Sid, these actions and these resources.
fn allow(sid: &str, actions: &[&str], resource: OneOrMany) -> Statement {
    Statement {
        sid: Some(sid.to_owned()),
        effect: Effect::Allow,
        principal: None,
        action: actions.iter().map(|a| (*a).to_owned()).collect(),
        resource: Some(resource),
        condition: None,
    }
}

/// `KvStore`, `SageMaker` or `Function`: the first part of a granted resource's Sid. No prefix is
/// a prefix of another, nor of the other Sids (`Logs`, `Ecr…`, `Metrics`).
fn sid_prefix(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::KvStore => "KvStore",
        ResourceKind::Sagemaker => "SageMaker",
        ResourceKind::Function => "Function",
        ResourceKind::Bucket => "Bucket",
        ResourceKind::Secret => "Secret",
    }
}

/// `chat-history` → `ChatHistory`: ASCII letters and digits only, as IAM requires of Sids.
fn camel_case(logical: &str) -> String {
    let mut out = String::with_capacity(logical.len());
    let mut upper = true;
    for c in logical.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

/// The execution policy of a function: one statement per granted resource with the actions of
/// every operation granted on it (sorted, deduplicated) on that resource's exact ARN, then a `Logs`
/// statement on the function's own log group ([`FUNCTION_LOG_ACTIONS`]). A bucket can need two:
/// its objects' actions on `bucket/*`, and `s3:ListBucket` on the bucket, which listing needs and
/// reading too ([`Operation::bucket_actions_needed`]).
///
/// Sids are the kind and the camel-cased logical name (`KvStoreChatHistory`). Two names that
/// camel-case alike (`a-1` and `a1`) both get the first 8 hex digits of the SHA-256 of their
/// logical name appended, so Sids stay unique and still depend only on the name.
///
/// The resource kind of each statement is the one of its operation, so an action is never paired
/// with another service's ARN.
pub fn function_policy(
    function: &Function,
    target: &AwsTarget,
    names: &StackNames,
) -> PolicyDocument {
    // Keyed by kind, logical name and whether the actions act on a bucket's objects: object
    // actions name `bucket/*`, `s3:ListBucket` the bucket, so a bucket can need two statements.
    let mut granted: BTreeMap<(ResourceKind, &str, bool), (Operation, BTreeSet<&'static str>)> =
        BTreeMap::new();
    for grant in &function.grants {
        if grant.operation.iam_actions().is_empty() {
            continue;
        }
        granted
            .entry((
                grant.operation.resource_kind(),
                grant.resource.name.as_str(),
                grant.operation.on_objects(),
            ))
            .or_insert_with(|| (grant.operation, BTreeSet::new()))
            .1
            .extend(grant.operation.iam_actions().iter().copied());
        let on_bucket = grant.operation.bucket_actions_needed();
        if !on_bucket.is_empty() {
            granted
                .entry((ResourceKind::Bucket, grant.resource.name.as_str(), false))
                .or_insert_with(|| (Operation::BucketList, BTreeSet::new()))
                .1
                .extend(on_bucket.iter().copied());
        }
    }

    let base_sid = |kind: ResourceKind, logical: &str, objects: bool| {
        format!(
            "{}{}{}",
            sid_prefix(kind),
            camel_case(logical),
            if objects { "Objects" } else { "" }
        )
    };
    let mut sid_counts: BTreeMap<String, usize> = BTreeMap::new();
    for (kind, logical, objects) in granted.keys() {
        *sid_counts
            .entry(base_sid(*kind, logical, *objects))
            .or_default() += 1;
    }

    let mut statements = Vec::with_capacity(granted.len() + 1);
    for ((kind, logical, objects), (operation, actions)) in &granted {
        let mut sid = base_sid(*kind, logical, *objects);
        if sid_counts.get(&sid).copied().unwrap_or_default() > 1 {
            sid.push_str(&crate::naming::hash_hex(logical));
        }
        let actions: Vec<&str> = actions.iter().copied().collect();
        let physical = names.resource(*kind, logical);
        statements.push(allow(
            &sid,
            &actions,
            OneOrMany::Many(vec![target.operation_arn(*operation, &physical)]),
        ));
    }
    let log_group = names.function_log_group(&function.spec.name);
    statements.push(allow(
        "Logs",
        &FUNCTION_LOG_ACTIONS,
        OneOrMany::Many(vec![target.log_group_arn(&log_group)]),
    ));
    PolicyDocument::new(statements)
}

/// A trust policy letting one AWS service assume the role.
fn trust_policy(sid: &str, service: &str) -> PolicyDocument {
    PolicyDocument::new(vec![Statement {
        sid: Some(sid.to_owned()),
        effect: Effect::Allow,
        principal: Some(Principal {
            service: service.to_owned(),
        }),
        action: vec!["sts:AssumeRole".to_owned()],
        resource: None,
        condition: None,
    }])
}

/// The trust (assume-role) policy of a function's role: Lambda may assume it.
pub fn lambda_trust_policy() -> PolicyDocument {
    trust_policy("LambdaAssumeRole", "lambda.amazonaws.com")
}

/// The trust (assume-role) policy of a SageMaker execution role: SageMaker may assume it.
pub fn sagemaker_trust_policy() -> PolicyDocument {
    trust_policy("SageMakerAssumeRole", "sagemaker.amazonaws.com")
}

/// The execution policy SageMaker uses for endpoint `spec`: only what its container needs.
///
/// - `EcrPull`: [`ECR_PULL_ACTIONS`] on the image's repository.
/// - `EcrAuthorizationToken`: `ecr:GetAuthorizationToken` on `"*"`. This is the one unavoidable
///   wildcard resource: the action has no resource-level permission (the token is a registry
///   login; what it can pull is still limited by `EcrPull`).
/// - `Logs`: [`ENDPOINT_LOG_ACTIONS`] on the endpoint's own log group.
/// - `Metrics`: `cloudwatch:PutMetricData`, which also has no resource-level permission, so its
///   resource is `"*"` narrowed by a condition to the namespace
///   [`SAGEMAKER_METRICS_NAMESPACE`].
///
/// Nothing like `AmazonSageMakerFullAccess`. Fails when the image is not an ECR reference.
pub fn sagemaker_execution_policy(
    spec: &SagemakerSpec,
    target: &AwsTarget,
    names: &StackNames,
) -> Result<PolicyDocument, IamError> {
    let image = pluto_spec::names::parse_ecr_image(&spec.image).map_err(|message| {
        IamError::InvalidImage {
            endpoint: spec.name.clone(),
            message,
        }
    })?;
    let log_group = names.endpoint_log_group(&spec.name);
    let mut metrics = allow(
        "Metrics",
        &["cloudwatch:PutMetricData"],
        OneOrMany::One("*".to_owned()),
    );
    metrics.condition = Some(BTreeMap::from([(
        "StringEquals".to_owned(),
        BTreeMap::from([(
            "cloudwatch:namespace".to_owned(),
            OneOrMany::One(SAGEMAKER_METRICS_NAMESPACE.to_owned()),
        )]),
    )]));
    Ok(PolicyDocument::new(vec![
        allow(
            "EcrPull",
            &ECR_PULL_ACTIONS,
            OneOrMany::Many(vec![target.ecr_repository_arn(&image)]),
        ),
        allow(
            "EcrAuthorizationToken",
            &["ecr:GetAuthorizationToken"],
            OneOrMany::One("*".to_owned()),
        ),
        allow(
            "Logs",
            &ENDPOINT_LOG_ACTIONS,
            OneOrMany::Many(vec![target.log_group_arn(&log_group)]),
        ),
        metrics,
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::architecture::{Grant, Operation, ResourceRef, SourceLocation};
    use pluto_spec::{FunctionSpec, Hosting, UrlAuth};
    use serde_json::json;

    fn target() -> AwsTarget {
        AwsTarget::new("aws", "us-east-1", "123456789012").unwrap()
    }

    fn names() -> StackNames {
        StackNames::new("chat_bot", "dev").unwrap()
    }

    fn grant(kind: ResourceKind, name: &str, operation: Operation) -> Grant {
        Grant {
            resource: ResourceRef {
                kind,
                name: name.to_owned(),
            },
            operation,
            provenance: Vec::new(),
            escaped: None,
        }
    }

    fn function(name: &str, grants: Vec<Grant>) -> Function {
        Function {
            spec: FunctionSpec {
                name: name.to_owned(),
                url: UrlAuth::Iam,
                timeout_s: 30,
                memory_mb: 256,
                env: BTreeMap::new(),
                cors: None,
            },
            rust_path: format!("chat_bot::{name}"),
            params: Vec::new(),
            response: crate::architecture::ResponseMode::Buffered,
            source: SourceLocation {
                file: "src/main.rs".to_owned(),
                line: 1,
                column: 1,
            },
            grants,
        }
    }

    fn llama() -> SagemakerSpec {
        SagemakerSpec {
            name: "llama".to_owned(),
            image: "763104351884.dkr.ecr.us-west-2.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04".to_owned(),
            hosting: Hosting::Instances {
                instance_type: "ml.g5.2xlarge".to_owned(),
                initial_instance_count: 1,
            },
            env: BTreeMap::new(),
        }
    }

    #[test]
    fn targets_are_validated() {
        for (partition, region) in [
            ("aws", "us-east-1"),
            ("aws", "eu-central-2"),
            ("aws", "ap-southeast-1"),
            ("aws", "il-central-1"),
            ("aws-cn", "cn-north-1"),
            ("aws-us-gov", "us-gov-west-1"),
        ] {
            let target = AwsTarget::new(partition, region, "123456789012").unwrap();
            assert_eq!(
                (target.partition(), target.region(), target.account()),
                (partition, region, "123456789012")
            );
        }
        let error = AwsTarget::new("aws-iso", "us-east-1", "123456789012").unwrap_err();
        assert!(matches!(error, IamError::InvalidPartition { .. }));
        assert!(
            error
                .to_string()
                .contains("`aws`, `aws-cn` or `aws-us-gov`")
        );
        for region in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-123",
            "u-east-1",
            "us--1",
            "us-east-1a",
        ] {
            let error = AwsTarget::new("aws", region, "123456789012").unwrap_err();
            assert!(
                error.to_string().contains("regions look like `us-east-1`"),
                "{region:?}: {error}"
            );
        }
        for (partition, region) in [
            ("aws", "cn-north-1"),
            ("aws", "us-gov-west-1"),
            ("aws-cn", "us-east-1"),
            ("aws-us-gov", "us-east-1"),
        ] {
            let error = AwsTarget::new(partition, region, "123456789012").unwrap_err();
            assert!(error.to_string().contains("is not in partition"), "{error}");
        }
        for account in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            "-12345678901",
        ] {
            let error = AwsTarget::new("aws", "us-east-1", account).unwrap_err();
            assert_eq!(
                error,
                IamError::InvalidAccount {
                    account: account.to_owned()
                }
            );
            assert!(error.to_string().contains("exactly 12 digits"));
        }
    }

    #[test]
    fn arns_name_the_exact_resources() {
        let (target, names) = (target(), names());
        assert_eq!(
            target.table_arn(&names, "history"),
            "arn:aws:dynamodb:us-east-1:123456789012:table/chat-bot-dev-history"
        );
        assert_eq!(
            target.endpoint_arn(&names, "llama"),
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/chat-bot-dev-llama"
        );
        assert_eq!(
            target.function_arn(&names, "qa"),
            "arn:aws:lambda:us-east-1:123456789012:function:chat-bot-dev-qa"
        );
        assert_eq!(
            target.log_group_arn(&names.function_log_group("qa")),
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/chat-bot-dev-qa:*"
        );
        assert_eq!(
            target.function_role_arn(&names, "qa"),
            "arn:aws:iam::123456789012:role/chat-bot-dev-qa-fn"
        );
        assert_eq!(
            target.sagemaker_role_arn(&names, "llama"),
            "arn:aws:iam::123456789012:role/chat-bot-dev-llama-sm"
        );
        for kind in ResourceKind::ALL {
            let direct = match kind {
                ResourceKind::KvStore => target.table_arn(&names, "x"),
                ResourceKind::Sagemaker => target.endpoint_arn(&names, "x"),
                ResourceKind::Function => target.function_arn(&names, "x"),
                ResourceKind::Bucket => format!("arn:aws:s3:::{}", names.bucket("x")),
                ResourceKind::Secret => format!(
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-??????",
                    names.secret("x")
                ),
            };
            assert_eq!(target.resource_arn(&names, kind, "x"), direct);
        }
        let china = AwsTarget::new("aws-cn", "cn-north-1", "123456789012").unwrap();
        assert_eq!(
            china.table_arn(&names, "history"),
            "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/chat-bot-dev-history"
        );
        let image = pluto_spec::names::parse_ecr_image(&llama().image).unwrap();
        assert_eq!(
            target.ecr_repository_arn(&image),
            "arn:aws:ecr:us-west-2:763104351884:repository/huggingface-pytorch-tgi-inference"
        );
    }

    #[test]
    fn function_policy_has_one_statement_per_resource_and_its_logs() {
        use Operation::*;
        use ResourceKind::*;
        let function = function(
            "chat",
            vec![
                grant(Sagemaker, "llama", SagemakerInvoke),
                grant(KvStore, "history", KvSet),
                grant(KvStore, "history", KvGet),
                grant(KvStore, "history", KvDelete),
                grant(KvStore, "cache", KvGet),
                grant(Function, "qa", FunctionInvoke),
            ],
        );
        let policy = function_policy(&function, &target(), &names());
        assert_eq!(
            serde_json::to_value(&policy).unwrap(),
            json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "SageMakerLlama",
                        "Effect": "Allow",
                        "Action": ["sagemaker:InvokeEndpoint"],
                        "Resource": ["arn:aws:sagemaker:us-east-1:123456789012:endpoint/chat-bot-dev-llama"]
                    },
                    {
                        "Sid": "KvStoreCache",
                        "Effect": "Allow",
                        "Action": ["dynamodb:GetItem"],
                        "Resource": ["arn:aws:dynamodb:us-east-1:123456789012:table/chat-bot-dev-cache"]
                    },
                    {
                        "Sid": "KvStoreHistory",
                        "Effect": "Allow",
                        "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"],
                        "Resource": ["arn:aws:dynamodb:us-east-1:123456789012:table/chat-bot-dev-history"]
                    },
                    {
                        "Sid": "FunctionQa",
                        "Effect": "Allow",
                        "Action": ["lambda:InvokeFunction"],
                        "Resource": ["arn:aws:lambda:us-east-1:123456789012:function:chat-bot-dev-qa"]
                    },
                    {
                        "Sid": "Logs",
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/chat-bot-dev-chat:*"]
                    }
                ]
            })
        );
    }

    #[test]
    fn each_operation_alone_gives_exactly_its_action() {
        for operation in Operation::ALL {
            let kind = operation.resource_kind();
            let function = function("f", vec![grant(kind, "r", operation)]);
            let policy = function_policy(&function, &target(), &names());
            if operation.iam_actions().is_empty() {
                assert_eq!(policy.statement.len(), 1, "{operation:?}: only the logs");
                continue;
            }
            // A read also needs `s3:ListBucket` on the bucket, in a statement before the objects'.
            let needed = operation.bucket_actions_needed();
            assert_eq!(policy.statement.len(), 2 + usize::from(!needed.is_empty()));
            if !needed.is_empty() {
                let bucket = &policy.statement[0];
                assert_eq!(bucket.action, needed);
                assert_eq!(
                    bucket.resource,
                    Some(OneOrMany::Many(vec![
                        target().physical_arn(kind, &names().resource(kind, "r"))
                    ]))
                );
            }
            let statement = &policy.statement[usize::from(!needed.is_empty())];
            assert_eq!(statement.action, operation.iam_actions());
            assert_eq!(
                statement.resource,
                Some(OneOrMany::Many(vec![
                    target().operation_arn(operation, &names().resource(kind, "r"))
                ]))
            );
            let objects = if operation.on_objects() {
                "Objects"
            } else {
                ""
            };
            assert_eq!(
                statement.sid.as_deref(),
                Some(format!("{}R{objects}", sid_prefix(kind)).as_str())
            );
        }
    }

    #[test]
    fn bucket_object_actions_name_its_objects_and_listing_the_bucket() {
        use Operation::*;
        use ResourceKind::*;
        let names = names();
        let function = function(
            "qa",
            vec![
                grant(Bucket, "docs", BucketGet),
                grant(Bucket, "docs", BucketList),
                grant(Bucket, "docs", BucketPut),
                grant(Secret, "hf-token", SecretGet),
            ],
        );
        let policy = function_policy(&function, &target(), &names);
        let bucket = names.bucket("docs");
        assert_eq!(
            serde_json::to_value(&policy).unwrap()["Statement"],
            json!([
                {
                    "Sid": "BucketDocs",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": [format!("arn:aws:s3:::{bucket}")]
                },
                {
                    "Sid": "BucketDocsObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": [format!("arn:aws:s3:::{bucket}/*")]
                },
                {
                    "Sid": "SecretHfToken",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue"],
                    "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:chat-bot-dev-hf-token-??????"]
                },
                {
                    "Sid": "Logs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/chat-bot-dev-qa:*"]
                }
            ])
        );
    }

    #[test]
    fn a_function_without_grants_only_writes_its_logs_and_the_json_is_exact() {
        let policy = function_policy(&function("hello", Vec::new()), &target(), &names());
        // Exact text, key order included.
        assert_eq!(
            serde_json::to_string(&policy).unwrap(),
            concat!(
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"Logs","Effect":"Allow","#,
                r#""Action":["logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"#,
                r#""Resource":["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/chat-bot-dev-hello:*"]}]}"#
            )
        );
    }

    #[test]
    fn repeated_grants_are_merged_and_output_is_deterministic() {
        use Operation::*;
        use ResourceKind::*;
        let a = function(
            "f",
            vec![
                grant(KvStore, "kv", KvGet),
                grant(KvStore, "kv", KvGet),
                grant(KvStore, "kv", KvSet),
            ],
        );
        let mut reversed = a.clone();
        reversed.grants.reverse();
        let policy = function_policy(&a, &target(), &names());
        assert_eq!(
            policy.statement[0].action,
            ["dynamodb:GetItem", "dynamodb:PutItem"]
        );
        assert_eq!(
            serde_json::to_string(&policy).unwrap(),
            serde_json::to_string(&function_policy(&reversed, &target(), &names())).unwrap()
        );
    }

    #[test]
    fn sids_are_alphanumeric_and_unique_even_for_look_alike_names() {
        use Operation::*;
        use ResourceKind::*;
        let function = function(
            "f",
            vec![
                grant(KvStore, "a-1", KvGet),
                grant(KvStore, "a1", KvGet),
                grant(KvStore, "chat-history-2", KvGet),
                grant(Function, "a1", FunctionInvoke),
            ],
        );
        let policy = function_policy(&function, &target(), &names());
        let sids: Vec<&str> = policy
            .statement
            .iter()
            .filter_map(|s| s.sid.as_deref())
            .collect();
        assert_eq!(
            sids,
            vec![
                format!("KvStoreA1{}", crate::naming::hash_hex("a-1")).as_str(),
                format!("KvStoreA1{}", crate::naming::hash_hex("a1")).as_str(),
                "KvStoreChatHistory2",
                "FunctionA1",
                "Logs",
            ]
        );
        let unique: BTreeSet<&&str> = sids.iter().collect();
        assert_eq!(unique.len(), sids.len());
        assert!(
            sids.iter()
                .all(|sid| sid.chars().all(|c| c.is_ascii_alphanumeric()))
        );
    }

    #[test]
    fn function_policies_never_use_a_wildcard_resource() {
        let grants = Operation::ALL
            .into_iter()
            .map(|operation| grant(operation.resource_kind(), "r", operation))
            .collect();
        let policy = function_policy(&function("f", grants), &target(), &names());
        for statement in &policy.statement {
            let Some(OneOrMany::Many(arns)) = &statement.resource else {
                panic!("{statement:?} should list ARNs");
            };
            // The only wildcards: a log group's streams, a bucket's objects (`bucket/*`, one
            // bucket), and a secret's random 6-character ARN suffix (`-??????`, one secret).
            let bucket_objects = format!("arn:aws:s3:::{}/*", names().bucket("r"));
            assert!(arns.iter().all(|arn| !arn.contains('*')
                || arn.ends_with(":log-group:/aws/lambda/chat-bot-dev-f:*")
                || *arn == bucket_objects));
            assert!(
                arns.iter()
                    .all(|arn| !arn.contains('?') || arn.ends_with(":secret:chat-bot-dev-r-??????"))
            );
            assert!(statement.condition.is_none() && statement.principal.is_none());
        }
    }

    #[test]
    fn trust_policies_let_only_their_service_assume_the_role() {
        assert_eq!(
            serde_json::to_string(&lambda_trust_policy()).unwrap(),
            concat!(
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"LambdaAssumeRole","Effect":"Allow","#,
                r#""Principal":{"Service":"lambda.amazonaws.com"},"Action":["sts:AssumeRole"]}]}"#
            )
        );
        assert_eq!(
            serde_json::to_string(&sagemaker_trust_policy()).unwrap(),
            concat!(
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"SageMakerAssumeRole","Effect":"Allow","#,
                r#""Principal":{"Service":"sagemaker.amazonaws.com"},"Action":["sts:AssumeRole"]}]}"#
            )
        );
    }

    #[test]
    fn sagemaker_execution_policy_pulls_its_image_and_writes_its_logs_and_metrics() {
        let policy = sagemaker_execution_policy(&llama(), &target(), &names()).unwrap();
        assert_eq!(
            serde_json::to_value(&policy).unwrap(),
            json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "EcrPull",
                        "Effect": "Allow",
                        "Action": [
                            "ecr:BatchCheckLayerAvailability",
                            "ecr:BatchGetImage",
                            "ecr:GetDownloadUrlForLayer"
                        ],
                        "Resource": ["arn:aws:ecr:us-west-2:763104351884:repository/huggingface-pytorch-tgi-inference"]
                    },
                    {
                        "Sid": "EcrAuthorizationToken",
                        "Effect": "Allow",
                        "Action": ["ecr:GetAuthorizationToken"],
                        "Resource": "*"
                    },
                    {
                        "Sid": "Logs",
                        "Effect": "Allow",
                        "Action": [
                            "logs:CreateLogGroup",
                            "logs:CreateLogStream",
                            "logs:DescribeLogStreams",
                            "logs:PutLogEvents"
                        ],
                        "Resource": ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/chat-bot-dev-llama:*"]
                    },
                    {
                        "Sid": "Metrics",
                        "Effect": "Allow",
                        "Action": ["cloudwatch:PutMetricData"],
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}
                        }
                    }
                ]
            })
        );
        let text = serde_json::to_string(&policy).unwrap();
        assert!(text.contains(r#""Resource":"*","Condition":{"StringEquals":{"cloudwatch:namespace":"/aws/sagemaker/Endpoints"}}"#), "{text}");
    }

    #[test]
    fn sagemaker_execution_policy_rejects_images_outside_ecr() {
        let mut spec = llama();
        spec.image = "ghcr.io/huggingface/text-generation-inference:latest".to_owned();
        let error = sagemaker_execution_policy(&spec, &target(), &names()).unwrap_err();
        assert!(
            matches!(error, IamError::InvalidImage { ref endpoint, .. } if endpoint == "llama")
        );
        assert!(error.to_string().contains("Amazon ECR"), "{error}");
    }

    #[test]
    fn policies_round_trip_through_json() {
        let policies = [
            lambda_trust_policy(),
            sagemaker_execution_policy(&llama(), &target(), &names()).unwrap(),
            function_policy(
                &function(
                    "f",
                    vec![grant(ResourceKind::KvStore, "kv", Operation::KvGet)],
                ),
                &target(),
                &names(),
            ),
        ];
        for policy in policies {
            let text = serde_json::to_string(&policy).unwrap();
            let back: PolicyDocument = serde_json::from_str(&text).unwrap();
            assert_eq!(back, policy);
        }
    }
}
