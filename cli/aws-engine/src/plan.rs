//! Plans: what a deploy or destroy will do to each AWS object, compared field by field with what
//! AWS reports now. Values of secrets never reach a plan.
//!
//! A deletion of an object that holds data (a non-empty bucket, a secret with a value, a
//! non-empty table) carries what would be lost ([`Change::data`]): plans mark it and sum it up
//! ([`Plan::data_loss`]), and the engine refuses to apply it without the user's consent.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What happens to one AWS object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "fields", rename_all = "snake_case")]
pub enum Action {
    /// It does not exist and will be created.
    Create,
    /// It exists and these fields change.
    Update(Vec<FieldChange>),
    /// It exists and is not declared any more (or the stack is destroyed).
    Delete,
    /// It exists as declared.
    Unchanged,
}

/// One changed field, old and new value already rendered (secrets masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field, e.g. `memory`, `env.MODEL`, `policy`.
    pub field: String,
    /// Its value now.
    pub old: String,
    /// Its value after the change.
    pub new: String,
}

impl FieldChange {
    /// A change of `field` from `old` to `new`.
    pub fn new(field: impl Into<String>, old: impl Into<String>, new: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            old: old.into(),
            new: new.into(),
        }
    }
}

/// The planned action on one AWS object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The declared resource it belongs to, e.g. `function chatbot`.
    pub resource: String,
    /// Type of AWS object, e.g. `IAM role`.
    pub object_type: &'static str,
    /// Its physical name.
    pub name: String,
    /// What happens.
    #[serde(flatten)]
    pub action: Action,
    /// For a deletion of an object holding data: what is lost, e.g. `12 objects, 3.4 MiB` or
    /// `has a value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

impl Change {
    /// `IAM role my-app-dev-chat-fn`.
    pub fn object(&self) -> String {
        format!("{} {}", self.object_type, self.name)
    }
}

/// Every planned change of a stack, grouped per declared resource in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The changes, including unchanged objects.
    pub changes: Vec<Change>,
}

impl Plan {
    /// Whether anything changes.
    pub fn is_empty(&self) -> bool {
        self.changes
            .iter()
            .all(|change| change.action == Action::Unchanged)
    }

    /// The data the plan deletes, one entry per object, e.g. `bucket docs (12 objects, 3.4 MiB)`.
    pub fn data_loss(&self) -> Vec<String> {
        self.changes
            .iter()
            .filter(|change| change.action == Action::Delete)
            .filter_map(|change| {
                let data = change.data.as_ref()?;
                Some(format!("{} ({data})", change.resource))
            })
            .collect()
    }

    /// Counts: (create, update, delete, unchanged).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut counts = (0, 0, 0, 0);
        for change in &self.changes {
            match change.action {
                Action::Create => counts.0 += 1,
                Action::Update(_) => counts.1 += 1,
                Action::Delete => counts.2 += 1,
                Action::Unchanged => counts.3 += 1,
            }
        }
        counts
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut resource = None;
        for change in &self.changes {
            if resource != Some(&change.resource) {
                writeln!(f, "{}", change.resource)?;
                resource = Some(&change.resource);
            }
            let (sign, word) = match change.action {
                Action::Create => ("+", "create"),
                Action::Update(_) => ("~", "update"),
                Action::Delete => ("-", "delete"),
                Action::Unchanged => ("=", "unchanged"),
            };
            match &change.data {
                Some(data) if change.action == Action::Delete => {
                    writeln!(f, "  {sign} {word:<9} {} [data: {data}]", change.object())?;
                }
                _ => writeln!(f, "  {sign} {word:<9} {}", change.object())?,
            }
            if let Action::Update(fields) = &change.action {
                for field in fields {
                    writeln!(f, "      {}: {} -> {}", field.field, field.old, field.new)?;
                }
            }
        }
        let (create, update, delete, unchanged) = self.counts();
        write!(
            f,
            "{create} to create, {update} to update, {delete} to delete, {unchanged} unchanged"
        )?;
        let losses = self.data_loss();
        if !losses.is_empty() {
            write!(f, "\nwould delete data: {}", losses.join(", "))?;
        }
        Ok(())
    }
}

/// Compares two tag maps: one change listing added, changed and removed keys, if any.
pub(crate) fn tag_change(
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> Option<FieldChange> {
    (desired != live).then(|| FieldChange::new("tags", render_map(live), render_map(desired)))
}

/// `{a=1, b=2}`.
pub(crate) fn render_map(map: &BTreeMap<String, String>) -> String {
    let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", entries.join(", "))
}

/// Compares environments key by key (values rendered by `show`, which masks secrets).
pub(crate) fn env_changes(
    desired: &BTreeMap<String, (String, String)>,
    live: &BTreeMap<String, String>,
    show_live: &dyn Fn(&str, &str) -> String,
) -> Vec<FieldChange> {
    let keys: BTreeSet<&String> = desired.keys().chain(live.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        match (desired.get(key), live.get(key)) {
            (Some((value, shown)), Some(old)) if value != old => changes.push(FieldChange::new(
                format!("env.{key}"),
                show_live(key, old),
                shown.clone(),
            )),
            (Some((_, shown)), None) => changes.push(FieldChange::new(
                format!("env.{key}"),
                "(unset)",
                shown.clone(),
            )),
            (None, Some(old)) => changes.push(FieldChange::new(
                format!("env.{key}"),
                show_live(key, old),
                "(unset)",
            )),
            _ => {}
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_render_grouped_with_field_changes_and_counts() {
        let plan = Plan {
            changes: vec![
                Change {
                    resource: "function chat".to_owned(),
                    object_type: "IAM role",
                    name: "app-dev-chat-fn".to_owned(),
                    action: Action::Create,
                    data: None,
                },
                Change {
                    resource: "function chat".to_owned(),
                    object_type: "Lambda function",
                    name: "app-dev-chat".to_owned(),
                    action: Action::Update(vec![FieldChange::new("memory", "256", "512")]),
                    data: None,
                },
                Change {
                    resource: "KV store history".to_owned(),
                    object_type: "DynamoDB table",
                    name: "app-dev-history".to_owned(),
                    action: Action::Unchanged,
                    data: None,
                },
            ],
        };
        assert_eq!(
            plan.to_string(),
            "function chat\n  + create    IAM role app-dev-chat-fn\n  ~ update    Lambda function \
             app-dev-chat\n      memory: 256 -> 512\nKV store history\n  = unchanged DynamoDB \
             table app-dev-history\n1 to create, 1 to update, 0 to delete, 1 unchanged"
        );
        assert!(!plan.is_empty());
    }

    #[test]
    fn deletions_of_data_are_marked_and_summed_up() {
        let delete = |resource: &str, object_type, name: &str, data: Option<&str>| Change {
            resource: resource.to_owned(),
            object_type,
            name: name.to_owned(),
            action: Action::Delete,
            data: data.map(str::to_owned),
        };
        let plan = Plan {
            changes: vec![
                delete(
                    "bucket docs",
                    "S3 bucket",
                    "app-dev-docs-1a2b3c4d",
                    Some("12 objects, 3.4 MiB"),
                ),
                delete(
                    "secret api-key",
                    "Secrets Manager secret",
                    "app-dev-api-key",
                    Some("has a value"),
                ),
                delete(
                    "KV store history",
                    "DynamoDB table",
                    "app-dev-history",
                    None,
                ),
            ],
        };
        assert_eq!(
            plan.data_loss(),
            [
                "bucket docs (12 objects, 3.4 MiB)",
                "secret api-key (has a value)"
            ]
        );
        let text = plan.to_string();
        assert!(
            text.contains(
                "  - delete    S3 bucket app-dev-docs-1a2b3c4d [data: 12 objects, 3.4 MiB]\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  - delete    DynamoDB table app-dev-history\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "would delete data: bucket docs (12 objects, 3.4 MiB), secret api-key (has a value)"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&plan.changes[0]).expect("JSON");
        assert_eq!(json["data"], "12 objects, 3.4 MiB");
        assert!(
            serde_json::to_value(&plan.changes[2])
                .expect("JSON")
                .get("data")
                .is_none()
        );
    }

    #[test]
    fn env_changes_mask_through_the_callbacks() {
        let desired = BTreeMap::from([
            ("A".to_owned(), ("1".to_owned(), "\"1\"".to_owned())),
            ("S".to_owned(), ("new".to_owned(), "(secret)".to_owned())),
        ]);
        let live = BTreeMap::from([
            ("S".to_owned(), "old".to_owned()),
            ("GONE".to_owned(), "x".to_owned()),
        ]);
        let changes = env_changes(&desired, &live, &|key, value| {
            if key == "S" {
                "(secret)".to_owned()
            } else {
                format!("{value:?}")
            }
        });
        assert_eq!(
            changes,
            vec![
                FieldChange::new("env.A", "(unset)", "\"1\""),
                FieldChange::new("env.GONE", "\"x\"", "(unset)"),
                FieldChange::new("env.S", "(secret)", "(secret)"),
            ]
        );
    }
}
