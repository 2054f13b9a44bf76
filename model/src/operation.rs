//! Operations: the unit of permission. The one table of what each operation is in the runtime's
//! handles (which methods perform it), in the analysis (which runtime functions perform it when
//! given a handle) and in IAM (which actions it needs).
//!
//! The deducer reads [`HANDLE_METHODS`] and [`RUNTIME_CONSUMERS`] to recognise operations in
//! code; the engines read [`Operation::iam_actions`] to render and enforce policies; the runtime's
//! test `operation_table` checks that every method named here exists on its handle type.

use pluto_spec::ResourceKind;
use serde::{Deserialize, Serialize};

/// An operation of a resource client, the unit of permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `KvStore::get`, `get_json`.
    KvGet,
    /// `KvStore::set`, `set_json`.
    KvSet,
    /// `KvStore::delete`.
    KvDelete,
    /// `SageMaker::invoke`, `invoke_as`, `invoke_raw`, `invoke_stream`.
    SagemakerInvoke,
    /// `Function::invoke`, `invoke_as`.
    FunctionInvoke,
    /// `Function::url`: the function is given the other function's URL (`PLUTO_URL_<NAME>`)
    /// and may call it signed (`lambda:InvokeFunctionUrl`, which only IAM-auth URLs check).
    FunctionUrl,
    /// `Bucket::get`, `get_text`, `get_json`, `presign_get`: reads an object.
    BucketGet,
    /// `Bucket::put`, `put_json`, `put_file`, `presign_put`: writes an object.
    BucketPut,
    /// `Bucket::delete`: deletes an object.
    BucketDelete,
    /// `Bucket::list`, `list_all`: lists keys.
    BucketList,
    /// `Secret::get`: reads the secret's current value.
    SecretGet,
}

/// A method of a runtime handle that performs an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandleMethod {
    /// The kind of handle (`KvStore`, `SageMaker`, `Function`).
    pub handle: ResourceKind,
    /// The method's name.
    pub method: &'static str,
    /// What calling it does.
    pub operation: Operation,
}

/// A runtime function outside the handles that performs an operation on a handle it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConsumer {
    /// Its path from the runtime crate, e.g. `["pluto", "chain", "SageMakerLlm", "new"]`.
    pub path: &'static [&'static str],
    /// What it does with the handle.
    pub operation: Operation,
}

const fn method(handle: ResourceKind, method: &'static str, operation: Operation) -> HandleMethod {
    HandleMethod {
        handle,
        method,
        operation,
    }
}

/// Every handle method that performs an operation.
pub const HANDLE_METHODS: &[HandleMethod] = &[
    method(ResourceKind::KvStore, "get", Operation::KvGet),
    method(ResourceKind::KvStore, "get_json", Operation::KvGet),
    method(ResourceKind::KvStore, "set", Operation::KvSet),
    method(ResourceKind::KvStore, "set_json", Operation::KvSet),
    method(ResourceKind::KvStore, "delete", Operation::KvDelete),
    method(
        ResourceKind::Sagemaker,
        "invoke",
        Operation::SagemakerInvoke,
    ),
    method(
        ResourceKind::Sagemaker,
        "invoke_as",
        Operation::SagemakerInvoke,
    ),
    method(
        ResourceKind::Sagemaker,
        "invoke_raw",
        Operation::SagemakerInvoke,
    ),
    // `InvokeEndpointWithResponseStream`, which IAM authorizes as `sagemaker:InvokeEndpoint`.
    method(
        ResourceKind::Sagemaker,
        "invoke_stream",
        Operation::SagemakerInvoke,
    ),
    method(ResourceKind::Function, "invoke", Operation::FunctionInvoke),
    method(
        ResourceKind::Function,
        "invoke_as",
        Operation::FunctionInvoke,
    ),
    method(ResourceKind::Function, "url", Operation::FunctionUrl),
    method(ResourceKind::Bucket, "get", Operation::BucketGet),
    method(ResourceKind::Bucket, "get_text", Operation::BucketGet),
    method(ResourceKind::Bucket, "get_json", Operation::BucketGet),
    // A presigned URL carries the signer's permission: whoever uses it can do only what the
    // signing function could.
    method(ResourceKind::Bucket, "presign_get", Operation::BucketGet),
    method(ResourceKind::Bucket, "put", Operation::BucketPut),
    method(ResourceKind::Bucket, "put_json", Operation::BucketPut),
    method(ResourceKind::Bucket, "put_file", Operation::BucketPut),
    method(ResourceKind::Bucket, "presign_put", Operation::BucketPut),
    method(ResourceKind::Bucket, "delete", Operation::BucketDelete),
    method(ResourceKind::Bucket, "list", Operation::BucketList),
    method(ResourceKind::Bucket, "list_all", Operation::BucketList),
    method(ResourceKind::Secret, "get", Operation::SecretGet),
];

/// Handle methods that need no permission: they read the handle itself.
pub const HANDLE_METHODS_WITHOUT_OPERATION: &[(ResourceKind, &str)] = &[
    (ResourceKind::KvStore, "name"),
    (ResourceKind::KvStore, "table_name"),
    (ResourceKind::Sagemaker, "name"),
    (ResourceKind::Sagemaker, "endpoint_name"),
    (ResourceKind::Function, "name"),
    (ResourceKind::Bucket, "name"),
    (ResourceKind::Bucket, "bucket_name"),
    (ResourceKind::Secret, "name"),
    (ResourceKind::Secret, "secret_name"),
];

/// Every runtime function that performs an operation on a handle given to it.
pub const RUNTIME_CONSUMERS: &[RuntimeConsumer] = &[RuntimeConsumer {
    path: &["pluto", "chain", "SageMakerLlm", "new"],
    operation: Operation::SagemakerInvoke,
}];

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 11] = [
        Self::KvGet,
        Self::KvSet,
        Self::KvDelete,
        Self::SagemakerInvoke,
        Self::FunctionInvoke,
        Self::FunctionUrl,
        Self::BucketGet,
        Self::BucketPut,
        Self::BucketDelete,
        Self::BucketList,
        Self::SecretGet,
    ];

    /// The kind of resource the operation acts on.
    pub fn resource_kind(self) -> ResourceKind {
        match self {
            Self::KvGet | Self::KvSet | Self::KvDelete => ResourceKind::KvStore,
            Self::SagemakerInvoke => ResourceKind::Sagemaker,
            Self::FunctionInvoke | Self::FunctionUrl => ResourceKind::Function,
            Self::BucketGet | Self::BucketPut | Self::BucketDelete | Self::BucketList => {
                ResourceKind::Bucket
            }
            Self::SecretGet => ResourceKind::Secret,
        }
    }

    /// Every operation on a kind: what a handle that escapes analysis is granted.
    pub fn all_of(kind: ResourceKind) -> impl Iterator<Item = Operation> {
        Self::ALL
            .into_iter()
            .filter(move |operation| operation.resource_kind() == kind)
    }

    /// The operation `method` of a `kind` handle performs, if any.
    pub fn of_handle_method(kind: ResourceKind, method: &str) -> Option<Operation> {
        HANDLE_METHODS
            .iter()
            .find(|entry| entry.handle == kind && entry.method == method)
            .map(|entry| entry.operation)
    }

    /// A short label for tables and graphs: `get`, `set`, `put`, `delete`, `list`, `invoke`,
    /// `url`.
    pub fn label(self) -> &'static str {
        match self {
            Self::KvGet | Self::BucketGet | Self::SecretGet => "get",
            Self::KvSet => "set",
            Self::BucketPut => "put",
            Self::KvDelete | Self::BucketDelete => "delete",
            Self::BucketList => "list",
            Self::SagemakerInvoke | Self::FunctionInvoke => "invoke",
            Self::FunctionUrl => "url",
        }
    }

    /// The IAM actions the operation needs (what the runtime calls, and for a URL what calling
    /// it signed needs; see `docs/runtime-contract.md`).
    pub fn iam_actions(self) -> &'static [&'static str] {
        match self {
            Self::KvGet => &["dynamodb:GetItem"],
            Self::KvSet => &["dynamodb:PutItem"],
            Self::KvDelete => &["dynamodb:DeleteItem"],
            Self::SagemakerInvoke => &["sagemaker:InvokeEndpoint"],
            Self::FunctionInvoke => &["lambda:InvokeFunction"],
            Self::FunctionUrl => &["lambda:InvokeFunctionUrl"],
            Self::BucketGet => &["s3:GetObject"],
            Self::BucketPut => &["s3:PutObject"],
            Self::BucketDelete => &["s3:DeleteObject"],
            Self::BucketList => &["s3:ListBucket"],
            Self::SecretGet => &["secretsmanager:GetSecretValue"],
        }
    }

    /// IAM actions an operation needs on its bucket besides its own, which the policy grants with
    /// it: reading a key answers `404 NoSuchKey` (so `get` is `Ok(None)`) only to a caller that may
    /// list the bucket; without `s3:ListBucket`, S3 answers a missing key with `403 AccessDenied`,
    /// which could not be told from a denial.
    pub fn bucket_actions_needed(self) -> &'static [&'static str] {
        match self {
            Self::BucketGet => &["s3:ListBucket"],
            _ => &[],
        }
    }

    /// Whether the operation acts on a bucket's objects (IAM resource `arn:…:s3:::bucket/*`)
    /// rather than on the bucket itself (`arn:…:s3:::bucket`, which `s3:ListBucket` names).
    pub fn on_objects(self) -> bool {
        matches!(self, Self::BucketGet | Self::BucketPut | Self::BucketDelete)
    }

    /// The one IAM action of an operation that needs exactly one (every data-plane call the
    /// runtime makes), for error messages and the simulator's checks.
    pub fn iam_action(self) -> Option<&'static str> {
        match self.iam_actions() {
            [action] => Some(action),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_performed_by_a_handle_method() {
        for operation in Operation::ALL {
            assert!(
                HANDLE_METHODS
                    .iter()
                    .any(|entry| entry.operation == operation
                        && entry.handle == operation.resource_kind()),
                "{operation:?} has no handle method of its kind"
            );
        }
    }

    #[test]
    fn operations_map_to_their_actions() {
        let mapped: Vec<(&str, &[&str])> = Operation::ALL
            .into_iter()
            .map(|operation| (operation.label(), operation.iam_actions()))
            .collect();
        assert_eq!(
            mapped,
            vec![
                ("get", &["dynamodb:GetItem"][..]),
                ("set", &["dynamodb:PutItem"][..]),
                ("delete", &["dynamodb:DeleteItem"][..]),
                ("invoke", &["sagemaker:InvokeEndpoint"][..]),
                ("invoke", &["lambda:InvokeFunction"][..]),
                ("url", &["lambda:InvokeFunctionUrl"][..]),
                ("get", &["s3:GetObject"][..]),
                ("put", &["s3:PutObject"][..]),
                ("delete", &["s3:DeleteObject"][..]),
                ("list", &["s3:ListBucket"][..]),
                ("get", &["secretsmanager:GetSecretValue"][..]),
            ]
        );
    }
}
