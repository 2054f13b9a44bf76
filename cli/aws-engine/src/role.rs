//! IAM roles: read one back (trust policy, inline and attached policies, tags), compare it with the
//! desired role, create, update and delete it. A role Pluto manages has exactly one inline policy
//! and nothing attached: anything else found on it is removed (least privilege is enforced, not
//! just initial).

use crate::connect::Aws;
use crate::desired::{DesiredRole, ROLE_POLICY_NAME, check_same_stack};
use crate::error::{EngineError, aws_error, found};
use crate::plan::{FieldChange, tag_change};
use aws_sdk_iam::error::ProvideErrorMetadata;
use serde_json::Value;
use std::collections::BTreeMap;

/// A role as IAM reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveRole {
    /// Trust policy.
    pub trust: Value,
    /// Inline policies by name.
    pub inline: BTreeMap<String, Value>,
    /// ARNs of attached managed policies.
    pub attached: Vec<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// `IAM role NAME`.
pub(crate) fn object(name: &str) -> String {
    format!("IAM role {name}")
}

/// Parses a policy document as IAM returns it: URL-encoded JSON (moto returns it plain).
pub(crate) fn parse_policy(text: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(text))
        .unwrap_or(Value::String(text.to_owned()))
}

/// One line per statement: `Sid: Allow a, b on r`.
pub(crate) fn summarise_policy(policy: &Value) -> String {
    let statements = match &policy["Statement"] {
        Value::Array(statements) => statements.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    let lines: Vec<String> = statements
        .iter()
        .map(|statement| {
            let list = |value: &Value| match value {
                Value::Array(items) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned).unwrap_or(item.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
                Value::String(text) => text.clone(),
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            };
            format!(
                "{}: {} {} on {}",
                statement["Sid"].as_str().unwrap_or("(no sid)"),
                statement["Effect"].as_str().unwrap_or("?"),
                list(&statement["Action"]),
                list(&statement["Resource"]),
            )
        })
        .collect();
    if lines.is_empty() {
        "(none)".to_owned()
    } else {
        format!("[{}]", lines.join("; "))
    }
}

fn is_no_such_entity<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("NoSuchEntity")
}

/// Reads the role, or `None` when it does not exist.
pub(crate) async fn read(aws: &Aws, name: &str) -> Result<Option<LiveRole>, EngineError> {
    let output = found(
        "iam:GetRole",
        object(name),
        aws.iam.get_role().role_name(name).send().await,
        is_no_such_entity,
    )?;
    let Some(role) = output.and_then(|output| output.role) else {
        return Ok(None);
    };
    let trust = role
        .assume_role_policy_document()
        .map(parse_policy)
        .unwrap_or(Value::Null);
    let mut tags: BTreeMap<String, String> = role
        .tags()
        .iter()
        .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
        .collect();
    if tags.is_empty() {
        // GetRole returns tags in AWS; some emulators only through ListRoleTags.
        tags = read_tags(aws, name).await?;
    }
    let names = aws
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|error| aws_error("iam:ListRolePolicies", object(name), error))?;
    let mut inline = BTreeMap::new();
    for policy_name in names.policy_names() {
        let policy = aws
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .send()
            .await
            .map_err(|error| aws_error("iam:GetRolePolicy", object(name), error))?;
        inline.insert(policy_name.clone(), parse_policy(policy.policy_document()));
    }
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|error| aws_error("iam:ListAttachedRolePolicies", object(name), error))?
        .attached_policies()
        .iter()
        .filter_map(|policy| policy.policy_arn().map(str::to_owned))
        .collect();
    Ok(Some(LiveRole {
        trust,
        inline,
        attached,
        tags,
    }))
}

/// The role's tags.
pub(crate) async fn read_tags(
    aws: &Aws,
    name: &str,
) -> Result<BTreeMap<String, String>, EngineError> {
    let output = aws
        .iam
        .list_role_tags()
        .role_name(name)
        .send()
        .await
        .map_err(|error| aws_error("iam:ListRoleTags", object(name), error))?;
    Ok(output
        .tags()
        .iter()
        .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
        .collect())
}

fn to_value(policy: &pluto_model::iam::PolicyDocument) -> Value {
    serde_json::to_value(policy).unwrap_or(Value::Null)
}

/// Field changes from `live` to `desired`.
pub(crate) fn diff(desired: &DesiredRole, live: &LiveRole) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let trust = to_value(&desired.trust);
    if trust != live.trust {
        changes.push(FieldChange::new(
            "trust policy",
            summarise_policy(&live.trust),
            summarise_policy(&trust),
        ));
    }
    let policy = to_value(&desired.policy);
    match live.inline.get(ROLE_POLICY_NAME) {
        Some(current) if *current == policy => {}
        current => changes.push(FieldChange::new(
            "policy",
            current.map_or("(none)".to_owned(), summarise_policy),
            summarise_policy(&policy),
        )),
    }
    let extra: Vec<&String> = live
        .inline
        .keys()
        .filter(|name| *name != ROLE_POLICY_NAME)
        .collect();
    if !extra.is_empty() {
        changes.push(FieldChange::new(
            "other inline policies",
            format!("{extra:?}"),
            "(removed)",
        ));
    }
    if !live.attached.is_empty() {
        changes.push(FieldChange::new(
            "attached policies",
            format!("{:?}", live.attached),
            "(detached)",
        ));
    }
    changes.extend(tag_change(&desired.tags, &live.tags));
    changes
}

fn iam_tags(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .filter_map(|(key, value)| {
            aws_sdk_iam::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .ok()
        })
        .collect()
}

fn json(policy: &pluto_model::iam::PolicyDocument) -> String {
    serde_json::to_string(policy).unwrap_or_default()
}

/// Creates the role with its policy and tags. If it exists already (an earlier attempt created it
/// and its answer was lost, so the SDK's retry was refused) and is the stack's, it is brought to
/// the desired state instead.
pub(crate) async fn create(
    aws: &Aws,
    role: &DesiredRole,
    description: &str,
) -> Result<(), EngineError> {
    let result = aws
        .iam
        .create_role()
        .role_name(&role.name)
        .assume_role_policy_document(json(&role.trust))
        .description(description)
        .set_tags(Some(iam_tags(&role.tags)))
        .send()
        .await;
    match result {
        Ok(_) => put_policy(aws, role).await,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.code() == Some("EntityAlreadyExists")) =>
        {
            let Some(live) = read(aws, &role.name).await? else {
                return Err(aws_error("iam:CreateRole", object(&role.name), error));
            };
            check_same_stack(object(&role.name), &role.tags, &live.tags)?;
            update(aws, role, &live).await
        }
        Err(error) => Err(aws_error("iam:CreateRole", object(&role.name), error)),
    }
}

async fn put_policy(aws: &Aws, role: &DesiredRole) -> Result<(), EngineError> {
    aws.iam
        .put_role_policy()
        .role_name(&role.name)
        .policy_name(ROLE_POLICY_NAME)
        .policy_document(json(&role.policy))
        .send()
        .await
        .map_err(|error| aws_error("iam:PutRolePolicy", object(&role.name), error))?;
    Ok(())
}

/// Brings an existing role to the desired state, touching only what differs.
pub(crate) async fn update(
    aws: &Aws,
    role: &DesiredRole,
    live: &LiveRole,
) -> Result<(), EngineError> {
    let name = &role.name;
    if to_value(&role.trust) != live.trust {
        aws.iam
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(json(&role.trust))
            .send()
            .await
            .map_err(|error| aws_error("iam:UpdateAssumeRolePolicy", object(name), error))?;
    }
    if live.inline.get(ROLE_POLICY_NAME) != Some(&to_value(&role.policy)) {
        put_policy(aws, role).await?;
    }
    for extra in live.inline.keys().filter(|name| *name != ROLE_POLICY_NAME) {
        aws.iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(extra)
            .send()
            .await
            .map_err(|error| aws_error("iam:DeleteRolePolicy", object(name), error))?;
    }
    for arn in &live.attached {
        aws.iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|error| aws_error("iam:DetachRolePolicy", object(name), error))?;
    }
    let stale: Vec<String> = live
        .tags
        .keys()
        .filter(|key| !role.tags.contains_key(*key))
        .cloned()
        .collect();
    if !stale.is_empty() {
        aws.iam
            .untag_role()
            .role_name(name)
            .set_tag_keys(Some(stale))
            .send()
            .await
            .map_err(|error| aws_error("iam:UntagRole", object(name), error))?;
    }
    let changed: BTreeMap<String, String> = role
        .tags
        .iter()
        .filter(|(key, value)| live.tags.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if !changed.is_empty() {
        aws.iam
            .tag_role()
            .role_name(name)
            .set_tags(Some(iam_tags(&changed)))
            .send()
            .await
            .map_err(|error| aws_error("iam:TagRole", object(name), error))?;
    }
    Ok(())
}

/// Deletes the role: its inline policies, attached policies, then the role. Missing is fine.
pub(crate) async fn delete(aws: &Aws, name: &str) -> Result<(), EngineError> {
    let Some(live) = read(aws, name).await? else {
        return Ok(());
    };
    for policy in live.inline.keys() {
        let result = aws
            .iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await;
        found(
            "iam:DeleteRolePolicy",
            object(name),
            result,
            is_no_such_entity,
        )?;
    }
    for arn in &live.attached {
        let result = aws
            .iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await;
        found(
            "iam:DetachRolePolicy",
            object(name),
            result,
            is_no_such_entity,
        )?;
    }
    let result = aws.iam.delete_role().role_name(name).send().await;
    found("iam:DeleteRole", object(name), result, is_no_such_entity)?;
    Ok(())
}

/// Names and tags of every role whose name starts with `prefix`.
pub(crate) async fn list_owned_candidates(
    aws: &Aws,
    prefix: &str,
) -> Result<Vec<String>, EngineError> {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .iam
            .list_roles()
            .set_marker(marker)
            .send()
            .await
            .map_err(|error| aws_error("iam:ListRoles", "IAM roles", error))?;
        names.extend(
            page.roles()
                .iter()
                .map(|role| role.role_name().to_owned())
                .filter(|name| name.starts_with(prefix)),
        );
        match (page.is_truncated, page.marker) {
            (true, Some(next)) => marker = Some(next),
            _ => break,
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_url_encoded_or_plain() {
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(parse_policy(plain), parse_policy(encoded));
        assert_eq!(parse_policy(plain)["Version"], "2012-10-17");
    }

    #[test]
    fn policy_summaries_list_statements() {
        let policy = serde_json::json!({"Statement": [
            {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": ["arn:x"]},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
        ]});
        assert_eq!(
            summarise_policy(&policy),
            "[Logs: Allow logs:PutLogEvents on arn:x; (no sid): Allow s3:GetObject on *]"
        );
    }
}
