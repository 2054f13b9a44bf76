//! The app as the console's pages read it (`GET /_pluto/api/app`): functions with their URLs,
//! parameters and grants (with the call chains that need them), resources with their specs.
//! Secrets never appear: `from_env` values are shown as the variable they come from.

use pluto_model::{Architecture, Function, ResourceSpec};
use pluto_spec::UrlAuth;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `public`, `iam` or `none`.
pub(crate) fn auth_name(auth: UrlAuth) -> &'static str {
    match auth {
        UrlAuth::Public => "public",
        UrlAuth::Iam => "iam",
        UrlAuth::None => "none",
    }
}

fn function_json(function: &Function, urls: &BTreeMap<String, String>) -> Value {
    let grants: Vec<Value> = function
        .grants
        .iter()
        .map(|grant| {
            json!({
                "resource": grant.resource,
                "operation": grant.operation.label(),
                "iam_action": grant.operation.iam_action(),
                "provenance": grant.provenance.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "conservative": grant.escaped.as_ref().map(|escape| format!("escaped into {} at {}", escape.into, escape.location)),
            })
        })
        .collect();
    let handler = function
        .rust_path
        .rsplit("::")
        .next()
        .unwrap_or(&function.rust_path);
    json!({
        "name": function.spec.name,
        "handler": handler,
        "rust_path": function.rust_path,
        "source": function.source.to_string(),
        "url": urls.get(&function.spec.name),
        "auth": auth_name(function.spec.url),
        "streams": function.response.is_stream(),
        "params": function.params.iter().map(|param| json!({"name": param.name, "type": param.ty})).collect::<Vec<_>>(),
        "timeout_s": function.spec.timeout_s,
        "memory_mb": function.spec.memory_mb,
        "env": function.spec.env,
        "cors": function.spec.cors,
        "grants": grants,
    })
}

/// The `api/app` document.
pub(crate) fn app_json(
    architecture: &Architecture,
    stack: &str,
    gateway_url: Option<&str>,
    console_url: Option<&str>,
    build: &crate::hub::BuildStatus,
) -> Value {
    let urls: BTreeMap<String, String> = gateway_url
        .map(|gateway| {
            architecture
                .functions
                .iter()
                .filter(|function| function.spec.url.has_url())
                .map(|function| {
                    (
                        function.spec.name.clone(),
                        pluto_simulator::simulator::local_function_url(
                            gateway,
                            &function.spec.name,
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let resources: Vec<Value> = architecture
        .resources
        .iter()
        .map(|resource| {
            let kind = resource.spec.kind();
            let spec = match &resource.spec {
                ResourceSpec::Sagemaker(spec) => serde_json::to_value(spec),
                ResourceSpec::KvStore(spec) => serde_json::to_value(spec),
                ResourceSpec::Bucket(spec) => serde_json::to_value(spec),
                ResourceSpec::Secret(spec) => serde_json::to_value(spec),
            }
            .unwrap_or(Value::Null);
            json!({
                "kind": kind,
                "name": resource.spec.name(),
                "rust_path": resource.rust_path,
                "source": resource.source.to_string(),
                "spec": spec,
            })
        })
        .collect();
    json!({
        "project": architecture.project,
        "stack": stack,
        "gateway_url": gateway_url,
        "console_url": console_url,
        "build": build,
        "functions": architecture.functions.iter().map(|function| function_json(function, &urls)).collect::<Vec<_>>(),
        "resources": resources,
    })
}
