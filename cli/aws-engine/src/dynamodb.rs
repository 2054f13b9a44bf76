//! DynamoDB: the table of a KV store — key `pk` (S) as the runtime's contract says, on-demand
//! billing (PAY_PER_REQUEST), tags.

use crate::connect::Aws;
use crate::desired::{DesiredTable, check_same_stack};
use crate::error::{EngineError, aws_error, found};
use crate::plan::{FieldChange, tag_change};
use crate::wait::WaitPolicy;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    Tag,
};
use pluto_spec::contract::KV_KEY_ATTRIBUTE;
use std::collections::BTreeMap;
use std::time::Instant;

/// A table as DynamoDB reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveTable {
    /// ARN.
    pub arn: String,
    /// Key schema as `name:type`, e.g. `pk:HASH`.
    pub key_schema: Vec<String>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// `DynamoDB table NAME`.
pub(crate) fn object(name: &str) -> String {
    format!("DynamoDB table {name}")
}

fn not_found<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("ResourceNotFoundException")
}

/// The key schema Pluto declares.
pub(crate) fn desired_key_schema() -> Vec<String> {
    vec![format!("{KV_KEY_ATTRIBUTE}:HASH")]
}

/// Reads the table, or `None`.
pub(crate) async fn read(aws: &Aws, name: &str) -> Result<Option<LiveTable>, EngineError> {
    let result = aws.dynamodb.describe_table().table_name(name).send().await;
    let output = found("dynamodb:DescribeTable", object(name), result, not_found)?;
    let Some(table) = output.and_then(|output| output.table) else {
        return Ok(None);
    };
    let arn = table.table_arn().unwrap_or_default().to_owned();
    let billing_mode = table
        .billing_mode_summary()
        .and_then(|summary| summary.billing_mode())
        .map_or("PROVISIONED".to_owned(), |mode| mode.as_str().to_owned());
    Ok(Some(LiveTable {
        key_schema: table
            .key_schema()
            .iter()
            .map(|key| format!("{}:{}", key.attribute_name(), key.key_type().as_str()))
            .collect(),
        billing_mode,
        tags: read_tags(aws, name, &arn).await?,
        arn,
    }))
}

/// The table's tags.
pub(crate) async fn read_tags(
    aws: &Aws,
    name: &str,
    arn: &str,
) -> Result<BTreeMap<String, String>, EngineError> {
    let mut tags = BTreeMap::new();
    let mut next = None;
    loop {
        let page = aws
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next)
            .send()
            .await
            .map_err(|error| aws_error("dynamodb:ListTagsOfResource", object(name), error))?;
        tags.extend(
            page.tags()
                .iter()
                .map(|tag| (tag.key().to_owned(), tag.value().to_owned())),
        );
        match page.next_token {
            Some(token) => next = Some(token),
            None => return Ok(tags),
        }
    }
}

/// Compares a table with what DynamoDB reports; a different key schema cannot be fixed in place.
pub(crate) fn diff(
    desired: &DesiredTable,
    live: &LiveTable,
) -> Result<Vec<FieldChange>, EngineError> {
    if live.key_schema != desired_key_schema() {
        return Err(EngineError::Immutable {
            object: object(&desired.name),
            reason: format!(
                "its key schema is {:?}, KV stores need {:?}; a table's key cannot change",
                live.key_schema,
                desired_key_schema()
            ),
        });
    }
    let mut changes = Vec::new();
    if live.billing_mode != "PAY_PER_REQUEST" {
        changes.push(FieldChange::new(
            "billing_mode",
            live.billing_mode.clone(),
            "PAY_PER_REQUEST",
        ));
    }
    changes.extend(tag_change(&desired.tags, &live.tags));
    Ok(changes)
}

fn tags(table: &DesiredTable) -> Vec<Tag> {
    table
        .tags
        .iter()
        .filter_map(|(key, value)| Tag::builder().key(key).value(value).build().ok())
        .collect()
}

/// Creates the table and waits until it is active. If it exists already (an earlier attempt
/// created it and its answer was lost, so the SDK's retry was refused) and is the stack's, it is
/// brought to the desired state instead.
pub(crate) async fn create(
    aws: &Aws,
    table: &DesiredTable,
    wait: &WaitPolicy,
) -> Result<(), EngineError> {
    let build_error = |error: aws_sdk_dynamodb::error::BuildError| EngineError::Aws {
        operation: "dynamodb:CreateTable",
        object: object(&table.name),
        message: error.to_string(),
    };
    let result = aws
        .dynamodb
        .create_table()
        .table_name(&table.name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KV_KEY_ATTRIBUTE)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KV_KEY_ATTRIBUTE)
                .key_type(KeyType::Hash)
                .build()
                .map_err(build_error)?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .set_tags(Some(tags(table)))
        .send()
        .await;
    match result {
        Ok(_) => wait_active(aws, &table.name, wait).await,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.code() == Some("ResourceInUseException")) =>
        {
            let Some(live) = read(aws, &table.name).await? else {
                return Err(aws_error(
                    "dynamodb:CreateTable",
                    object(&table.name),
                    error,
                ));
            };
            check_same_stack(object(&table.name), &table.tags, &live.tags)?;
            diff(table, &live)?;
            wait_active(aws, &table.name, wait).await?;
            update(aws, table, &live, wait).await
        }
        Err(error) => Err(aws_error(
            "dynamodb:CreateTable",
            object(&table.name),
            error,
        )),
    }
}

async fn wait_active(aws: &Aws, name: &str, wait: &WaitPolicy) -> Result<(), EngineError> {
    let started = Instant::now();
    let mut polls = crate::wait::Polls::new(wait);
    loop {
        let status = aws
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|error| aws_error("dynamodb:DescribeTable", object(name), error))?
            .table
            .and_then(|table| table.table_status);
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        if started.elapsed() > wait.table_timeout {
            return Err(EngineError::Timeout {
                object: object(name),
                state: "ACTIVE",
                waited_s: started.elapsed().as_secs(),
                last: format!("{status:?}"),
            });
        }
        polls.pause().await;
    }
}

/// Applies the changes found by [`diff`].
pub(crate) async fn update(
    aws: &Aws,
    table: &DesiredTable,
    live: &LiveTable,
    wait: &WaitPolicy,
) -> Result<(), EngineError> {
    if live.billing_mode != "PAY_PER_REQUEST" {
        aws.dynamodb
            .update_table()
            .table_name(&table.name)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|error| aws_error("dynamodb:UpdateTable", object(&table.name), error))?;
        wait_active(aws, &table.name, wait).await?;
    }
    if tag_change(&table.tags, &live.tags).is_some() {
        let stale: Vec<String> = live
            .tags
            .keys()
            .filter(|key| !table.tags.contains_key(*key))
            .cloned()
            .collect();
        if !stale.is_empty() {
            aws.dynamodb
                .untag_resource()
                .resource_arn(&live.arn)
                .set_tag_keys(Some(stale))
                .send()
                .await
                .map_err(|error| aws_error("dynamodb:UntagResource", object(&table.name), error))?;
        }
        aws.dynamodb
            .tag_resource()
            .resource_arn(&live.arn)
            .set_tags(Some(tags(table)))
            .send()
            .await
            .map_err(|error| aws_error("dynamodb:TagResource", object(&table.name), error))?;
    }
    Ok(())
}

/// Whether the table holds at least one item: a `Scan` of one item (`DescribeTable`'s item count
/// is only refreshed every few hours). A missing table holds none.
pub(crate) async fn has_items(aws: &Aws, name: &str) -> Result<bool, EngineError> {
    // A page may hold no item and still end with `LastEvaluatedKey` (the scan read only deleted
    // space): go on until an item or the end of the table.
    let mut start = None;
    loop {
        let result = aws
            .dynamodb
            .scan()
            .table_name(name)
            .limit(1)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await;
        let Some(output) = found("dynamodb:Scan", object(name), result, not_found)? else {
            return Ok(false);
        };
        if output.count() > 0 {
            return Ok(true);
        }
        match output.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(false),
        }
    }
}

/// Deletes the table. Missing is fine.
pub(crate) async fn delete(aws: &Aws, name: &str) -> Result<(), EngineError> {
    let result = aws.dynamodb.delete_table().table_name(name).send().await;
    found("dynamodb:DeleteTable", object(name), result, not_found)?;
    Ok(())
}

/// Names of every table whose name starts with `prefix`.
pub(crate) async fn list_candidates(aws: &Aws, prefix: &str) -> Result<Vec<String>, EngineError> {
    let mut names = Vec::new();
    let mut start = None;
    loop {
        let page = aws
            .dynamodb
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .map_err(|error| aws_error("dynamodb:ListTables", "DynamoDB tables", error))?;
        names.extend(
            page.table_names()
                .iter()
                .filter(|name| name.starts_with(prefix))
                .cloned(),
        );
        match page.last_evaluated_table_name {
            Some(last) => start = Some(last),
            None => return Ok(names),
        }
    }
}
