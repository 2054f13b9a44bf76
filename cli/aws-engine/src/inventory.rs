//! Finding every AWS object of a stack without any local state: list each service's objects whose
//! names could be the stack's ([`StackNames::owned_prefix`]), then keep those whose tags say they
//! are (`pluto:project` and `pluto:stack`). This is what `destroy` deletes and what a deploy
//! compares with the declaration to find objects that are no longer declared.
//!
//! Buckets are listed in the connection's region only, and a bucket counts as the stack's only
//! if its name is also the one the stack gives its tagged resource in this account and region
//! (bucket names hash both), so a stack of the same name elsewhere is never touched. Secrets
//! scheduled for deletion are already deleted as far as a stack is concerned: they are not
//! listed.

use crate::connect::Aws;
use crate::desired::{RESOURCE_TAG, owned_by};
use crate::error::EngineError;
use crate::sagemaker::SageMakerObject;
use crate::{dynamodb, lambda, role, s3, sagemaker, secrets};
use futures_util::{FutureExt, StreamExt, TryStreamExt, stream};
use pluto_model::naming::StackNames;
use std::collections::BTreeMap;

/// Tag reads in flight at once.
const TAG_READS_IN_FLIGHT: usize = 8;

/// The kinds of AWS object a stack has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A Lambda function (its URL and permissions go with it).
    Function,
    /// A SageMaker endpoint.
    Endpoint,
    /// A SageMaker endpoint configuration.
    EndpointConfig,
    /// A SageMaker model.
    Model,
    /// A DynamoDB table.
    Table,
    /// An S3 bucket.
    Bucket,
    /// A Secrets Manager secret.
    Secret,
    /// An IAM role.
    Role,
}

impl ObjectKind {
    /// What plans call it.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Function => "Lambda function",
            Self::Endpoint => SageMakerObject::Endpoint.type_name(),
            Self::EndpointConfig => SageMakerObject::Config.type_name(),
            Self::Model => SageMakerObject::Model.type_name(),
            Self::Table => "DynamoDB table",
            Self::Bucket => "S3 bucket",
            Self::Secret => "Secrets Manager secret",
            Self::Role => "IAM role",
        }
    }
}

/// An object that belongs to the stack.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OwnedObject {
    /// Kind (the order of deletion: functions and endpoints first, then the stores, roles last).
    pub kind: ObjectKind,
    /// Physical name.
    pub name: String,
    /// Its `pluto:resource` tag, e.g. `function/chat`.
    pub resource: String,
}

type Candidate = (ObjectKind, String, Option<String>);

/// Every object of the stack, sorted by kind then name.
pub async fn discover(aws: &Aws, names: &StackNames) -> Result<Vec<OwnedObject>, EngineError> {
    let names = &names
        .clone()
        .in_account(aws.target.account(), aws.target.region());
    let prefix = names.owned_prefix();
    let (roles, functions, tables, endpoints, configs, models, buckets, listed_secrets) = tokio::try_join!(
        role::list_owned_candidates(aws, &prefix),
        lambda::list_candidates(aws, &prefix),
        dynamodb::list_candidates(aws, &prefix),
        sagemaker::list_candidates(aws, SageMakerObject::Endpoint, &prefix),
        sagemaker::list_candidates(aws, SageMakerObject::Config, &prefix),
        sagemaker::list_candidates(aws, SageMakerObject::Model, &prefix),
        s3::list_candidates(aws, &prefix).boxed(),
        secrets::list_candidates(aws, &prefix).boxed(),
    )?;
    let mut candidates: Vec<Candidate> = Vec::new();
    candidates.extend(roles.into_iter().map(|name| (ObjectKind::Role, name, None)));
    candidates.extend(
        functions
            .into_iter()
            .map(|(name, arn)| (ObjectKind::Function, name, Some(arn))),
    );
    candidates.extend(
        tables
            .into_iter()
            .map(|name| (ObjectKind::Table, name, None)),
    );
    candidates.extend(
        buckets
            .into_iter()
            .map(|name| (ObjectKind::Bucket, name, None)),
    );
    for (kind, list) in [
        (ObjectKind::Endpoint, endpoints),
        (ObjectKind::EndpointConfig, configs),
        (ObjectKind::Model, models),
    ] {
        candidates.extend(list.into_iter().map(|(name, arn)| (kind, name, Some(arn))));
    }

    let mut owned: Vec<OwnedObject> = stream::iter(candidates)
        .map(|(kind, name, arn)| async move {
            let tags = read_tags(aws, kind, &name, arn.as_deref()).await?;
            let resource = tags.get(RESOURCE_TAG).cloned().unwrap_or_default();
            let ours = owned_by(&tags, names)
                && (kind != ObjectKind::Bucket || is_stack_bucket(names, &resource, &name));
            Ok::<_, EngineError>(ours.then_some(OwnedObject {
                kind,
                resource,
                name,
            }))
        })
        .buffer_unordered(TAG_READS_IN_FLIGHT)
        .try_filter_map(|object| async move { Ok(object) })
        .try_collect()
        .await?;
    owned.extend(
        listed_secrets
            .into_iter()
            .filter(|secret| owned_by(&secret.tags, names))
            .map(|secret| OwnedObject {
                kind: ObjectKind::Secret,
                resource: secret.tags.get(RESOURCE_TAG).cloned().unwrap_or_default(),
                name: secret.name,
            }),
    );
    owned.sort();
    Ok(owned)
}

async fn read_tags(
    aws: &Aws,
    kind: ObjectKind,
    name: &str,
    arn: Option<&str>,
) -> Result<BTreeMap<String, String>, EngineError> {
    match kind {
        ObjectKind::Role => role::read_tags(aws, name).await,
        ObjectKind::Function => lambda::read_tags(aws, name, arn.unwrap_or_default()).await,
        ObjectKind::Table => {
            dynamodb::read_tags(aws, name, &aws.target.table_arn_named(name)).await
        }
        ObjectKind::Bucket => s3::read_tags(aws, name).await,
        // Listed with their tags.
        ObjectKind::Secret => Ok(BTreeMap::new()),
        ObjectKind::Endpoint | ObjectKind::EndpointConfig | ObjectKind::Model => {
            sagemaker::read_tags(
                aws,
                &format!("{} {name}", kind.type_name()),
                arn.unwrap_or_default(),
            )
            .await
        }
    }
}

/// Whether bucket `name`, tagged as the stack's resource `resource` (`bucket/docs`), is the
/// bucket this stack has in this account and region: the name hashes both.
fn is_stack_bucket(names: &StackNames, resource: &str, name: &str) -> bool {
    resource
        .strip_prefix(pluto_spec::ResourceKind::Bucket.keyword())
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|logical| names.bucket(logical) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_the_stacks_only_under_the_name_of_this_account_and_region() {
        let names = StackNames::new("app", "dev")
            .expect("names")
            .in_account("123456789012", "us-east-1");
        let here = names.bucket("docs");
        assert!(is_stack_bucket(&names, "bucket/docs", &here));
        let elsewhere = names.clone().in_account("123456789012", "eu-west-1");
        assert!(!is_stack_bucket(&elsewhere, "bucket/docs", &here));
        assert!(!is_stack_bucket(&names, "bucket/other", &here));
        assert!(!is_stack_bucket(&names, "kv_store/docs", &here));
    }
}
