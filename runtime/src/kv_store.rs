//! `KvStore`: the handle of a key-value store kept in a DynamoDB table.
//!
//! Table contract (see [`pluto_spec::contract`]): partition key `pk` (string), value in attribute
//! `value` (string). Reads are strongly consistent, so a handler sees its own writes.

use crate::client::{describe_sdk_error, dynamodb, physical_name};
use crate::error::ClientError;
use aws_sdk_dynamodb::types::AttributeValue;
use pluto_model::Operation;
use pluto_spec::ResourceKind;
use pluto_spec::contract::{KV_KEY_ATTRIBUTE, KV_VALUE_ATTRIBUTE};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A KV store declared with `#[resource(kv_store)] fn name() -> KvStore;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvStore {
    name: &'static str,
}

impl KvStore {
    #[doc(hidden)]
    pub const fn __declared(name: &'static str) -> Self {
        Self { name }
    }

    /// The logical name of the store in the app.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The table's name in AWS, as deployment set it for this function.
    pub fn table_name(&self) -> Result<String, ClientError> {
        physical_name(ResourceKind::KvStore, self.name)
    }

    /// The value stored under `key`, if any (`dynamodb:GetItem`).
    pub async fn get(&self, key: &str) -> Result<Option<String>, ClientError> {
        let table = self.table_name()?;
        let output = dynamodb()
            .await
            .get_item()
            .table_name(table)
            .key(KV_KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| self.aws_error(Operation::KvGet, &error))?;
        let Some(mut item) = output.item else {
            return Ok(None);
        };
        match item.remove(KV_VALUE_ATTRIBUTE) {
            Some(AttributeValue::S(value)) => Ok(Some(value)),
            other => Err(ClientError::Unexpected {
                kind: ResourceKind::KvStore,
                resource: self.name.to_owned(),
                message: format!(
                    "item `{key}` has no string attribute `{KV_VALUE_ATTRIBUTE}` (found {other:?}); \
                     was it written by something other than Pluto?"
                ),
            }),
        }
    }

    /// Stores `value` under `key`, replacing what was there (`dynamodb:PutItem`).
    pub async fn set(&self, key: &str, value: impl Into<String>) -> Result<(), ClientError> {
        let table = self.table_name()?;
        dynamodb()
            .await
            .put_item()
            .table_name(table)
            .item(KV_KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
            .item(KV_VALUE_ATTRIBUTE, AttributeValue::S(value.into()))
            .send()
            .await
            .map_err(|error| self.aws_error(Operation::KvSet, &error))?;
        Ok(())
    }

    /// Removes `key`; removing a missing key is not an error (`dynamodb:DeleteItem`).
    pub async fn delete(&self, key: &str) -> Result<(), ClientError> {
        let table = self.table_name()?;
        dynamodb()
            .await
            .delete_item()
            .table_name(table)
            .key(KV_KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
            .send()
            .await
            .map_err(|error| self.aws_error(Operation::KvDelete, &error))?;
        Ok(())
    }

    /// The value under `key` decoded from JSON (`dynamodb:GetItem`).
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ClientError> {
        let Some(text) = self.get(key).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| ClientError::Json {
                kind: ResourceKind::KvStore,
                resource: self.name.to_owned(),
                context: format!("decoding the value of `{key}`"),
                source,
            })
    }

    /// Stores `value` as JSON under `key` (`dynamodb:PutItem`).
    pub async fn set_json<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), ClientError> {
        let text = serde_json::to_string(value).map_err(|source| ClientError::Json {
            kind: ResourceKind::KvStore,
            resource: self.name.to_owned(),
            context: format!("encoding the value of `{key}`"),
            source,
        })?;
        self.set(key, text).await
    }

    fn aws_error(
        &self,
        operation: Operation,
        error: &(dyn std::error::Error + 'static),
    ) -> ClientError {
        ClientError::Aws {
            kind: ResourceKind::KvStore,
            resource: self.name.to_owned(),
            operation: operation.iam_action().unwrap_or_default(),
            message: describe_sdk_error(error),
        }
    }
}
