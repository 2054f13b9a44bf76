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
];

/// Handle methods that need no permission: they read the handle itself.
pub const HANDLE_METHODS_WITHOUT_OPERATION: &[(ResourceKind, &str)] = &[
    (ResourceKind::KvStore, "name"),
    (ResourceKind::KvStore, "table_name"),
    (ResourceKind::Sagemaker, "name"),
    (ResourceKind::Sagemaker, "endpoint_name"),
    (ResourceKind::Function, "name"),
];

/// Every runtime function that performs an operation on a handle given to it.
pub const RUNTIME_CONSUMERS: &[RuntimeConsumer] = &[RuntimeConsumer {
    path: &["pluto", "chain", "SageMakerLlm", "new"],
    operation: Operation::SagemakerInvoke,
}];

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 6] = [
        Self::KvGet,
        Self::KvSet,
        Self::KvDelete,
        Self::SagemakerInvoke,
        Self::FunctionInvoke,
        Self::FunctionUrl,
    ];

    /// The kind of resource the operation acts on.
    pub fn resource_kind(self) -> ResourceKind {
        match self {
            Self::KvGet | Self::KvSet | Self::KvDelete => ResourceKind::KvStore,
            Self::SagemakerInvoke => ResourceKind::Sagemaker,
            Self::FunctionInvoke | Self::FunctionUrl => ResourceKind::Function,
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

    /// A short label for tables and graphs: `get`, `set`, `delete`, `invoke`, `url`.
    pub fn label(self) -> &'static str {
        match self {
            Self::KvGet => "get",
            Self::KvSet => "set",
            Self::KvDelete => "delete",
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
        }
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
            ]
        );
    }
}
