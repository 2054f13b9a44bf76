//! Secrets Manager: the secret of a declared `Secret` — created tagged and described, WITHOUT a
//! value. The value is set by `cargo pluto secret set NAME --deployed` ([`put_value`]); it never
//! passes through a plan, a log, an error or the engine's state.
//!
//! Secrets are deleted with a recovery window (30 days unless told otherwise): Secrets Manager
//! keeps a deleted secret, value and all, until the window ends, and a deploy that declares it
//! again in the meantime restores it (`RestoreSecret`) instead of failing on the name.

use crate::connect::Aws;
use crate::desired::{DesiredSecret, check_same_stack};
use crate::error::{EngineError, aws_error, found};
use crate::plan::{FieldChange, tag_change};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use std::collections::BTreeMap;

/// Days Secrets Manager keeps a deleted secret by default (its own default, and the longest).
pub const DEFAULT_RECOVERY_WINDOW_DAYS: u32 = 30;
/// Shortest recovery window Secrets Manager accepts.
pub const MIN_RECOVERY_WINDOW_DAYS: u32 = 7;

/// A secret as Secrets Manager reports it (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveSecret {
    /// ARN (with Secrets Manager's random suffix).
    pub arn: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Scheduled for deletion (in its recovery window).
    pub deleted: bool,
    /// Whether it has a value (any version).
    pub has_value: bool,
}

/// `Secrets Manager secret NAME`.
pub(crate) fn object(name: &str) -> String {
    format!("Secrets Manager secret {name}")
}

fn not_found<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("ResourceNotFoundException")
}

/// Whether Secrets Manager refused a call because the secret is scheduled for deletion.
fn marked_for_deletion<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("InvalidRequestException")
        && error
            .message()
            .is_some_and(|message| message.contains("deleted") || message.contains("deletion"))
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
        .collect()
}

/// Reads the secret (also one scheduled for deletion), or `None`.
pub(crate) async fn read(aws: &Aws, name: &str) -> Result<Option<LiveSecret>, EngineError> {
    let result = aws
        .secretsmanager
        .describe_secret()
        .secret_id(name)
        .send()
        .await;
    let Some(output) = found(
        "secretsmanager:DescribeSecret",
        object(name),
        result,
        not_found,
    )?
    else {
        return Ok(None);
    };
    Ok(Some(LiveSecret {
        arn: output.arn().unwrap_or_default().to_owned(),
        description: output.description().unwrap_or_default().to_owned(),
        tags: tag_map(output.tags()),
        deleted: output.deleted_date().is_some(),
        has_value: output
            .version_ids_to_stages()
            .is_some_and(|versions| !versions.is_empty()),
    }))
}

/// Compares a secret with what Secrets Manager reports (a deleted one is restored).
pub(crate) fn diff(desired: &DesiredSecret, live: &LiveSecret) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    if live.deleted {
        changes.push(FieldChange::new(
            "state",
            "scheduled for deletion",
            "restored",
        ));
    }
    if live.description != desired.description {
        changes.push(FieldChange::new(
            "description",
            format!("{:?}", live.description),
            format!("{:?}", desired.description),
        ));
    }
    changes.extend(tag_change(&desired.tags, &live.tags));
    changes
}

fn tags(secret: &DesiredSecret) -> Vec<Tag> {
    secret
        .tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// Creates the secret, without a value. If it exists already (an earlier attempt created it and
/// its answer was lost) and is the stack's, it is brought to the desired state instead.
pub(crate) async fn create(aws: &Aws, secret: &DesiredSecret) -> Result<(), EngineError> {
    let result = aws
        .secretsmanager
        .create_secret()
        .name(&secret.name)
        .description(&secret.description)
        .set_tags(Some(tags(secret)))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error)
            if error.as_service_error().is_some_and(|error| {
                error.code() == Some("ResourceExistsException") || marked_for_deletion(error)
            }) =>
        {
            let Some(live) = read(aws, &secret.name).await? else {
                return Err(aws_error(
                    "secretsmanager:CreateSecret",
                    object(&secret.name),
                    error,
                ));
            };
            check_same_stack(object(&secret.name), &secret.tags, &live.tags)?;
            update(aws, secret, &live).await
        }
        Err(error) => Err(aws_error(
            "secretsmanager:CreateSecret",
            object(&secret.name),
            error,
        )),
    }
}

/// Applies the changes [`diff`] finds: restores a secret scheduled for deletion, then fixes its
/// description and tags.
pub(crate) async fn update(
    aws: &Aws,
    secret: &DesiredSecret,
    live: &LiveSecret,
) -> Result<(), EngineError> {
    let name = &secret.name;
    if live.deleted {
        aws.secretsmanager
            .restore_secret()
            .secret_id(name)
            .send()
            .await
            .map_err(|error| aws_error("secretsmanager:RestoreSecret", object(name), error))?;
    }
    if live.description != secret.description {
        // Without a value, UpdateSecret changes only the description (no new version).
        aws.secretsmanager
            .update_secret()
            .secret_id(name)
            .description(&secret.description)
            .send()
            .await
            .map_err(|error| aws_error("secretsmanager:UpdateSecret", object(name), error))?;
    }
    if tag_change(&secret.tags, &live.tags).is_some() {
        let stale: Vec<String> = live
            .tags
            .keys()
            .filter(|key| !secret.tags.contains_key(*key))
            .cloned()
            .collect();
        if !stale.is_empty() {
            aws.secretsmanager
                .untag_resource()
                .secret_id(name)
                .set_tag_keys(Some(stale))
                .send()
                .await
                .map_err(|error| aws_error("secretsmanager:UntagResource", object(name), error))?;
        }
        aws.secretsmanager
            .tag_resource()
            .secret_id(name)
            .set_tags(Some(tags(secret)))
            .send()
            .await
            .map_err(|error| aws_error("secretsmanager:TagResource", object(name), error))?;
    }
    Ok(())
}

/// Schedules the secret's deletion after `recovery_days` (7 to 30). Missing, or already
/// scheduled, is fine.
pub(crate) async fn delete(aws: &Aws, name: &str, recovery_days: u32) -> Result<(), EngineError> {
    let result = aws
        .secretsmanager
        .delete_secret()
        .secret_id(name)
        .recovery_window_in_days(i64::from(recovery_days))
        .send()
        .await;
    found(
        "secretsmanager:DeleteSecret",
        object(name),
        result,
        |error| not_found(error) || marked_for_deletion(error),
    )?;
    Ok(())
}

/// Stores `value` as the secret's current value. The value is in no error: AWS's messages are
/// scrubbed of it.
pub(crate) async fn put_value(
    aws: &Aws,
    logical: &str,
    name: &str,
    value: &str,
) -> Result<(), EngineError> {
    let result = aws
        .secretsmanager
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.as_service_error().is_some_and(not_found) => {
            Err(EngineError::SecretNotDeployed {
                logical: logical.to_owned(),
                name: name.to_owned(),
            })
        }
        Err(error) if error.as_service_error().is_some_and(marked_for_deletion) => {
            Err(EngineError::SecretScheduledForDeletion {
                logical: logical.to_owned(),
                name: name.to_owned(),
            })
        }
        Err(error) => Err(
            aws_error("secretsmanager:PutSecretValue", object(name), error)
                .without_secrets([value]),
        ),
    }
}

/// A secret listed by [`list_candidates`].
#[derive(Debug, Clone)]
pub(crate) struct ListedSecret {
    /// Name.
    pub name: String,
    /// Tags (listed with it, so no read per secret is needed).
    pub tags: BTreeMap<String, String>,
}

/// Every secret whose name starts with `prefix` and that is not scheduled for deletion.
pub(crate) async fn list_candidates(
    aws: &Aws,
    prefix: &str,
) -> Result<Vec<ListedSecret>, EngineError> {
    let mut secrets = Vec::new();
    let mut pages = aws
        .secretsmanager
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values(prefix)
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| {
            aws_error(
                "secretsmanager:ListSecrets",
                "Secrets Manager secrets",
                error,
            )
        })?;
        secrets.extend(
            page.secret_list()
                .iter()
                .filter(|entry| entry.deleted_date().is_none())
                .filter_map(|entry| {
                    let name = entry.name()?;
                    name.starts_with(prefix).then(|| ListedSecret {
                        name: name.to_owned(),
                        tags: tag_map(entry.tags()),
                    })
                }),
        );
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_scheduled_for_deletion_is_restored_and_drift_is_shown() {
        let desired = DesiredSecret {
            logical: "api-key".to_owned(),
            name: "app-dev-api-key".to_owned(),
            description: "Pluto: secret".to_owned(),
            tags: BTreeMap::from([("pluto:stack".to_owned(), "dev".to_owned())]),
        };
        let live = LiveSecret {
            arn: "arn:aws:secretsmanager:us-east-1:1:secret:app-dev-api-key-AbCdEf".to_owned(),
            description: desired.description.clone(),
            tags: desired.tags.clone(),
            deleted: false,
            has_value: true,
        };
        assert_eq!(diff(&desired, &live), Vec::new());
        let deleted = LiveSecret {
            deleted: true,
            description: "old".to_owned(),
            ..live
        };
        let fields: Vec<String> = diff(&desired, &deleted)
            .into_iter()
            .map(|change| change.field)
            .collect();
        assert_eq!(fields, ["state", "description"]);
    }
}
