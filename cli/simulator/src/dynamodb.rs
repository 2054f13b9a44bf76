//! DynamoDB's validation of the requests the runtime makes (`GetItem`, `PutItem`, `DeleteItem`
//! on a KV store's table), with DynamoDB's error codes and messages, so what AWS rejects is
//! rejected locally first: a missing table name, malformed attribute values, empty or oversized
//! keys, items over 400 KB.

use pluto_model::Operation;
use pluto_spec::contract::KV_KEY_ATTRIBUTE;
use pluto_spec::limits::{DYNAMODB_ITEM_MAX_BYTES, DYNAMODB_PARTITION_KEY_MAX_BYTES};
use serde_json::{Map, Value};

/// A request DynamoDB refuses: the error type (`ValidationException`) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

fn validation(message: impl Into<String>) -> Rejection {
    Rejection {
        kind: "ValidationException",
        message: message.into(),
    }
}

/// The attribute value types DynamoDB knows.
const TYPES: [&str; 10] = ["S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"];

/// A valid request's table name and key; the rejection DynamoDB would give otherwise.
pub(crate) fn validate(
    operation: Operation,
    request: &Value,
) -> Result<(String, String), Rejection> {
    let table = table_name(request)?;
    let (member, attributes) = match operation {
        Operation::KvSet => ("item", &request["Item"]),
        _ => ("key", &request["Key"]),
    };
    let Some(attributes) = attributes.as_object() else {
        return Err(validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
             Member must not be null"
        )));
    };
    for value in attributes.values() {
        check_value(value)?;
    }
    let key = key_value(operation, attributes)?;
    if key.is_empty() {
        return Err(validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute \
             cannot contain an empty string value. Key: {KV_KEY_ATTRIBUTE}"
        )));
    }
    if key.len() > DYNAMODB_PARTITION_KEY_MAX_BYTES {
        return Err(validation(format!(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum \
             size limit of {DYNAMODB_PARTITION_KEY_MAX_BYTES} bytes"
        )));
    }
    if operation == Operation::KvSet && item_size(attributes) > DYNAMODB_ITEM_MAX_BYTES {
        return Err(validation(
            "Item size has exceeded the maximum allowed size",
        ));
    }
    Ok((table, key.to_owned()))
}

fn table_name(request: &Value) -> Result<String, Rejection> {
    let Some(name) = request["TableName"].as_str() else {
        return Err(validation(
            "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: \
             Member must not be null",
        ));
    };
    if !(3..=255).contains(&name.len()) {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'tableName' failed to satisfy \
             constraint: Member must have length between 3 and 255"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'tableName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )));
    }
    Ok(name.to_owned())
}

/// An attribute value is an object with exactly one known type (recursively for maps and lists).
fn check_value(value: &Value) -> Result<(), Rejection> {
    let Some(fields) = value.as_object() else {
        return Err(validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ));
    };
    let known: Vec<(&String, &Value)> = fields
        .iter()
        .filter(|(kind, _)| TYPES.contains(&kind.as_str()))
        .collect();
    match known.as_slice() {
        [] => Err(validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        )),
        [(kind, inner)] => match kind.as_str() {
            "M" => inner
                .as_object()
                .map_or(Ok(()), |map| map.values().try_for_each(check_value)),
            "L" => inner
                .as_array()
                .map_or(Ok(()), |list| list.iter().try_for_each(check_value)),
            _ => Ok(()),
        },
        _ => Err(validation(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of \
             the supported datatypes",
        )),
    }
}

/// The partition key's string value, checked against the table's schema (`pk`, type `S`).
fn key_value(operation: Operation, attributes: &Map<String, Value>) -> Result<&str, Rejection> {
    let schema_mismatch = || validation("The provided key element does not match the schema");
    let Some(key) = attributes.get(KV_KEY_ATTRIBUTE) else {
        return Err(if operation == Operation::KvSet {
            validation(format!(
                "One or more parameter values were invalid: Missing the key {KV_KEY_ATTRIBUTE} in \
                 the item"
            ))
        } else {
            schema_mismatch()
        });
    };
    if operation != Operation::KvSet && attributes.len() != 1 {
        return Err(schema_mismatch());
    }
    match key["S"].as_str() {
        Some(text) => Ok(text),
        None if operation == Operation::KvSet => {
            let actual = key
                .as_object()
                .and_then(|fields| fields.keys().next())
                .map_or("?", String::as_str);
            Err(validation(format!(
                "One or more parameter values were invalid: Type mismatch for key \
                 {KV_KEY_ATTRIBUTE} expected: S actual: {actual}"
            )))
        }
        None => Err(schema_mismatch()),
    }
}

/// An item's size as DynamoDB counts it: attribute names and values (UTF-8 bytes of strings,
/// decoded bytes of binaries, about one byte per two digits of numbers, nested names and values
/// of maps and lists plus 3 bytes each).
fn item_size(attributes: &Map<String, Value>) -> usize {
    attributes
        .iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|fields| fields.iter().next()) else {
        return 0;
    };
    let text = |value: &Value| value.as_str().map_or(0, str::len);
    let number = |value: &Value| text(value).div_ceil(2) + 1;
    let binary = |value: &Value| text(value) * 3 / 4;
    let each = |value: &Value, size: &dyn Fn(&Value) -> usize| {
        value
            .as_array()
            .map_or(0, |items| items.iter().map(size).sum())
    };
    match kind.as_str() {
        "S" => text(inner),
        "N" => number(inner),
        "B" => binary(inner),
        "SS" => each(inner, &text),
        "NS" => each(inner, &number),
        "BS" => each(inner, &binary),
        "M" => 3 + inner.as_object().map_or(0, item_size),
        "L" => 3 + each(inner, &|item| 1 + value_size(item)),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(item: Value) -> Result<(String, String), Rejection> {
        validate(
            Operation::KvSet,
            &json!({"TableName": "app-dev-notes", "Item": item}),
        )
    }

    fn message(result: Result<(String, String), Rejection>) -> String {
        let rejection = result.expect_err("rejected");
        assert_eq!(rejection.kind, "ValidationException");
        rejection.message
    }

    #[test]
    fn valid_requests_give_their_table_and_key() {
        assert_eq!(
            put(json!({"pk": {"S": "a"}, "value": {"S": "b"}})),
            Ok(("app-dev-notes".to_owned(), "a".to_owned()))
        );
        assert_eq!(
            validate(
                Operation::KvGet,
                &json!({"TableName": "app-dev-notes", "Key": {"pk": {"S": "a"}}})
            ),
            Ok(("app-dev-notes".to_owned(), "a".to_owned()))
        );
    }

    #[test]
    fn a_missing_or_malformed_table_name_is_a_validation_error() {
        let missing = validate(Operation::KvGet, &json!({"Key": {"pk": {"S": "a"}}}));
        assert!(message(missing).contains("Value null at 'tableName'"));
        let short = validate(
            Operation::KvGet,
            &json!({"TableName": "ab", "Key": {"pk": {"S": "a"}}}),
        );
        assert!(message(short).contains("length between 3 and 255"));
        let odd = validate(
            Operation::KvGet,
            &json!({"TableName": "a b c", "Key": {"pk": {"S": "a"}}}),
        );
        assert!(message(odd).contains("regular expression pattern"));
    }

    #[test]
    fn attribute_values_need_exactly_one_known_type() {
        assert!(message(put(json!({"pk": {"S": "a"}, "v": {"X": "?"}}))).contains("is empty"));
        assert!(
            message(put(json!({"pk": {"S": "a"}, "v": {"S": "x", "N": "1"}})))
                .contains("more than one datatypes")
        );
        assert!(
            message(put(json!({"pk": {"S": "a"}, "v": {"M": {"inner": {}}}}))).contains("is empty")
        );
    }

    #[test]
    fn keys_follow_the_schema_are_not_empty_and_fit_2048_bytes() {
        assert!(message(put(json!({"value": {"S": "b"}}))).contains("Missing the key pk"));
        assert!(message(put(json!({"pk": {"N": "1"}}))).contains("expected: S actual: N"));
        let get = |key: Value| {
            validate(
                Operation::KvGet,
                &json!({"TableName": "app-dev-notes", "Key": key}),
            )
        };
        assert!(message(get(json!({"id": {"S": "a"}}))).contains("does not match the schema"));
        assert!(
            message(get(json!({"pk": {"S": "a"}, "x": {"S": "b"}})))
                .contains("does not match the schema")
        );
        assert!(message(get(json!({"pk": {"S": ""}}))).contains("cannot contain an empty string"));
        let long = "k".repeat(DYNAMODB_PARTITION_KEY_MAX_BYTES + 1);
        assert!(message(get(json!({"pk": {"S": long}}))).contains("Size of hashkey"));
        let longest = "k".repeat(DYNAMODB_PARTITION_KEY_MAX_BYTES);
        assert!(get(json!({"pk": {"S": longest}})).is_ok());
    }

    #[test]
    fn items_over_400_kb_are_refused() {
        let fits = "v".repeat(DYNAMODB_ITEM_MAX_BYTES - 20);
        assert!(put(json!({"pk": {"S": "a"}, "value": {"S": fits}})).is_ok());
        let too_big = "v".repeat(DYNAMODB_ITEM_MAX_BYTES);
        assert_eq!(
            message(put(json!({"pk": {"S": "a"}, "value": {"S": too_big}}))),
            "Item size has exceeded the maximum allowed size"
        );
    }
}
