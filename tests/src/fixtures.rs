//! Hand-made pieces for tests of policies and of the AWS engine that need no deducer run: grants,
//! functions, a code zip, and an engine pointed at moto (or a proxy in front of it); a normalized
//! snapshot of everything in moto the engine manages ([`account_state`]) to compare deploys with.

use pluto_aws_engine::{Code, Engine, WaitPolicy};
use pluto_model::{Function, Grant, Operation, ResourceRef, SourceLocation};
use pluto_spec::{FunctionSpec, ResourceKind, UrlAuth};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A grant of `operation` on the resource `kind`/`name`, without provenance.
pub fn grant(kind: ResourceKind, name: &str, operation: Operation) -> Grant {
    Grant {
        resource: ResourceRef {
            kind,
            name: name.to_owned(),
        },
        operation,
        provenance: Vec::new(),
        escaped: None,
    }
}

/// A function `name` with this URL auth and these grants; 30 s, 256 MB, no env, no CORS.
pub fn function(name: &str, url: UrlAuth, grants: Vec<Grant>) -> Function {
    Function {
        spec: FunctionSpec {
            name: name.to_owned(),
            url,
            timeout_s: 30,
            memory_mb: 256,
            env: BTreeMap::new(),
            cors: None,
        },
        rust_path: format!("app::{}", name.replace('-', "_")),
        params: Vec::new(),
        response: pluto_model::ResponseMode::Buffered,
        source: SourceLocation {
            file: "src/main.rs".to_owned(),
            line: 1,
            column: 1,
        },
        grants,
    }
}

/// `binary` zipped as `bootstrap` into a temporary directory named after `tag`, as engine code
/// (moto stores code without running it).
///
/// # Panics
/// When the temporary directory cannot be written.
pub fn code(binary: &[u8], tag: &str) -> Code {
    let dir = std::env::temp_dir().join(format!("pluto-code-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let zip = pluto_build::bootstrap_zip(binary).expect("a zip");
    let path = dir.join("bootstrap.zip");
    std::fs::write(&path, &zip).expect("the zip is written");
    Code {
        zip_path: path,
        code_sha256: pluto_build::code_sha256(&zip),
        architecture: "x86_64".to_owned(),
    }
}

/// An engine on `endpoint` with test credentials in `us-east-1`, polling every 50 ms.
///
/// # Panics
/// When the endpoint does not answer STS.
pub async fn engine(endpoint: &str) -> Engine {
    let config = crate::moto::sdk_config_for(endpoint).await;
    let aws = pluto_aws_engine::from_config(&config)
        .await
        .expect("the engine connects");
    let mut engine = Engine::new(aws);
    engine.wait = WaitPolicy::fast();
    engine
}

/// Like [`engine`], with the engine's retry settings ([`pluto_aws_engine::connect::MAX_ATTEMPTS`]
/// attempts) but pauses of 1 ms (doubling, at most 20 ms) between attempts, for tests that make
/// many calls fail.
///
/// # Panics
/// When the endpoint does not answer STS.
pub async fn fast_retry_engine(endpoint: &str) -> Engine {
    use aws_config::retry::RetryConfig;
    use std::time::Duration;
    let config = crate::moto::sdk_config_for(endpoint)
        .await
        .into_builder()
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(pluto_aws_engine::connect::MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(20)),
        )
        .build();
    let aws = pluto_aws_engine::from_config(&config)
        .await
        .expect("the engine connects");
    let mut engine = Engine::new(aws);
    engine.wait = WaitPolicy::fast();
    engine
}

/// Empties moto (every service, every region).
///
/// # Panics
/// When moto does not answer.
pub async fn reset_moto(endpoint: &str) {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/reset"))
        .send()
        .await
        .expect("moto answers a reset");
    assert!(
        response.status().is_success(),
        "moto reset: {}",
        response.status()
    );
}

/// A normalized snapshot of everything in the account that the AWS engine manages: every IAM role
/// (trust policy, inline and attached policies, tags) and customer managed policy; every Lambda
/// function (configuration, code hash, environment, tags, Function URL, resource-policy
/// statements); every DynamoDB table (keys, billing, tags); every SageMaker model, endpoint
/// configuration and endpoint (with their fields and tags); every S3 bucket (tags, Block Public
/// Access, ownership, encryption, versioning, object keys with sizes and versions) and every
/// Secrets Manager secret not scheduled for deletion (description, tags, how many versions it has
/// — never a value). Volatile fields (timestamps, ids,
/// revisions, the random host of Function URLs) are left out, and lists are sorted without
/// removing repeats, so two snapshots of the same state are equal and comparing whole snapshots
/// shows duplicates and orphans as well as wrong values. Read through `aws` (best connected to
/// moto directly, not through a fault proxy).
///
/// # Panics
/// When a read fails.
pub async fn account_state(aws: &pluto_aws_engine::Aws) -> Value {
    json!({
        "iam_roles": iam_roles(aws).await,
        "iam_policies": iam_policies(aws).await,
        "lambda_functions": lambda_functions(aws).await,
        "dynamodb_tables": dynamodb_tables(aws).await,
        "sagemaker_models": sagemaker_models(aws).await,
        "sagemaker_endpoint_configs": sagemaker_endpoint_configs(aws).await,
        "sagemaker_endpoints": sagemaker_endpoints(aws).await,
        "s3_buckets": s3_buckets(aws).await,
        "secrets": secrets(aws).await,
    })
}

/// The differences between two JSON values, one line per differing path (`a` is "expected").
pub fn json_diff(expected: &Value, actual: &Value) -> Vec<String> {
    fn walk(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
        match (expected, actual) {
            (Value::Object(a), Value::Object(b)) => {
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let path = format!("{path}.{key}");
                    match (a.get(key), b.get(key)) {
                        (Some(x), Some(y)) => walk(&path, x, y, out),
                        (Some(x), None) => out.push(format!("{path}: missing (expected {x})")),
                        (None, Some(y)) => out.push(format!("{path}: unexpected {y}")),
                        (None, None) => {}
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (index, (x, y)) in a.iter().zip(b).enumerate() {
                    walk(&format!("{path}[{index}]"), x, y, out);
                }
            }
            (Value::Array(a), Value::Array(b)) => out.push(format!(
                "{path}: {} items, expected {}:\n    expected {expected}\n    actual   {actual}",
                b.len(),
                a.len()
            )),
            (x, y) if x != y => out.push(format!("{path}: {y}, expected {x}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("$", expected, actual, &mut out);
    out
}

/// A policy document as IAM or Lambda returns it: JSON, URL-encoded in real IAM (moto returns
/// it as it was sent). Text that is neither stays a JSON string, so comparisons show it.
pub fn policy_document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        let decoded: String =
            form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
                .map(|(_, value)| value.into_owned())
                .collect();
        serde_json::from_str(&decoded).unwrap_or(Value::String(text.to_owned()))
    })
}

fn sorted(mut items: Vec<Value>) -> Value {
    items.sort_by_key(|item| item.to_string());
    Value::Array(items)
}

async fn iam_roles(aws: &pluto_aws_engine::Aws) -> Value {
    let mut roles = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .iam
            .list_roles()
            .set_marker(marker)
            .send()
            .await
            .expect("iam:ListRoles");
        for role in page.roles() {
            let name = role.role_name();
            let tags = aws
                .iam
                .list_role_tags()
                .role_name(name)
                .send()
                .await
                .expect("iam:ListRoleTags");
            let tags: BTreeMap<&str, &str> = tags
                .tags()
                .iter()
                .map(|tag| (tag.key(), tag.value()))
                .collect();
            let mut inline = BTreeMap::new();
            let names = aws
                .iam
                .list_role_policies()
                .role_name(name)
                .send()
                .await
                .expect("iam:ListRolePolicies");
            for policy in names.policy_names() {
                let document = aws
                    .iam
                    .get_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .expect("iam:GetRolePolicy");
                inline.insert(policy.clone(), policy_document(document.policy_document()));
            }
            let attached = aws
                .iam
                .list_attached_role_policies()
                .role_name(name)
                .send()
                .await
                .expect("iam:ListAttachedRolePolicies");
            let attached: Vec<Value> = attached
                .attached_policies()
                .iter()
                .map(|policy| json!(policy.policy_arn()))
                .collect();
            roles.push(json!({
                "name": name,
                "arn": role.arn(),
                "path": role.path(),
                "description": role.description(),
                "max_session_duration": role.max_session_duration(),
                "trust": role.assume_role_policy_document().map(policy_document),
                "tags": tags,
                "inline_policies": inline,
                "attached_policies": sorted(attached),
            }));
        }
        match (page.is_truncated, page.marker) {
            (true, Some(next)) => marker = Some(next),
            _ => break,
        }
    }
    sorted(roles)
}

async fn iam_policies(aws: &pluto_aws_engine::Aws) -> Value {
    let mut policies = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .iam
            .list_policies()
            .scope("Local".into())
            .set_marker(marker)
            .send()
            .await
            .expect("iam:ListPolicies");
        policies.extend(page.policies().iter().map(|policy| json!(policy.arn())));
        match (page.is_truncated, page.marker) {
            (true, Some(next)) => marker = Some(next),
            _ => break,
        }
    }
    sorted(policies)
}

/// `https://RANDOM.lambda-url.REGION.on.aws/` -> `https://*.lambda-url.REGION.on.aws/`.
fn without_url_id(url: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(scheme, rest)| Some((scheme, rest.split_once('.')?.1)))
    {
        Some((scheme, rest)) => format!("{scheme}://*.{rest}"),
        None => url.to_owned(),
    }
}

async fn lambda_functions(aws: &pluto_aws_engine::Aws) -> Value {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .lambda
            .list_functions()
            .set_marker(marker)
            .send()
            .await
            .expect("lambda:ListFunctions");
        names.extend(
            page.functions()
                .iter()
                .filter_map(|f| f.function_name().map(str::to_owned)),
        );
        match page.next_marker {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    let mut functions = Vec::new();
    for name in names {
        let function = aws
            .lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .expect("lambda:GetFunction");
        let config = function.configuration().expect("a configuration");
        let url = match aws
            .lambda
            .get_function_url_config()
            .function_name(&name)
            .send()
            .await
        {
            Ok(url) => json!({
                "url": without_url_id(url.function_url()),
                "auth_type": url.auth_type().as_str(),
                "cors": url.cors().map(|cors| json!({
                    "allow_origins": cors.allow_origins(),
                    "allow_methods": cors.allow_methods(),
                    "allow_headers": cors.allow_headers(),
                    "expose_headers": cors.expose_headers(),
                    "max_age": cors.max_age(),
                    "allow_credentials": cors.allow_credentials(),
                })),
            }),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Value::Null
            }
            Err(error) => panic!("lambda:GetFunctionUrlConfig {name}: {error:?}"),
        };
        let statements = match aws.lambda.get_policy().function_name(&name).send().await {
            Ok(policy) => {
                let policy = policy_document(policy.policy().unwrap_or_default());
                policy["Statement"].as_array().cloned().unwrap_or_default()
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Vec::new()
            }
            Err(error) => panic!("lambda:GetPolicy {name}: {error:?}"),
        };
        let env: BTreeMap<String, String> = config
            .environment()
            .and_then(|env| env.variables())
            .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let tags: BTreeMap<String, String> = function
            .tags()
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        functions.push(json!({
            "name": name,
            "arn": config.function_arn(),
            "role": config.role(),
            "runtime": config.runtime().map(|r| r.as_str()),
            "handler": config.handler(),
            "description": config.description(),
            "memory_mb": config.memory_size(),
            "timeout_s": config.timeout(),
            "architectures": config.architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            "package_type": config.package_type().map(|p| p.as_str()),
            "code_sha256": config.code_sha256(),
            "code_size": config.code_size(),
            "env": env,
            "tags": tags,
            "url": url,
            "policy_statements": sorted(statements),
        }));
    }
    sorted(functions)
}

async fn dynamodb_tables(aws: &pluto_aws_engine::Aws) -> Value {
    let mut names = Vec::new();
    let mut start = None;
    loop {
        let page = aws
            .dynamodb
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .expect("dynamodb:ListTables");
        names.extend(page.table_names().iter().cloned());
        match page.last_evaluated_table_name {
            Some(last) => start = Some(last),
            None => break,
        }
    }
    let mut tables = Vec::new();
    for name in names {
        let table = aws
            .dynamodb
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .expect("dynamodb:DescribeTable");
        let table = table.table().expect("a table");
        let tags = aws
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(table.table_arn().unwrap_or_default())
            .send()
            .await
            .expect("dynamodb:ListTagsOfResource");
        let tags: BTreeMap<&str, &str> = tags
            .tags()
            .iter()
            .map(|tag| (tag.key(), tag.value()))
            .collect();
        tables.push(json!({
            "name": name,
            "arn": table.table_arn(),
            "status": table.table_status().map(|s| s.as_str()),
            "key_schema": table.key_schema().iter().map(|key| format!("{}:{}", key.attribute_name(), key.key_type().as_str())).collect::<Vec<_>>(),
            "attributes": table.attribute_definitions().iter().map(|a| format!("{}:{}", a.attribute_name(), a.attribute_type().as_str())).collect::<Vec<_>>(),
            "billing_mode": table.billing_mode_summary().and_then(|b| b.billing_mode()).map(|b| b.as_str()),
            "global_indexes": table.global_secondary_indexes().len(),
            "local_indexes": table.local_secondary_indexes().len(),
            "tags": tags,
        }));
    }
    sorted(tables)
}

async fn sagemaker_tags(aws: &pluto_aws_engine::Aws, arn: &str) -> BTreeMap<String, String> {
    let tags = aws
        .sagemaker
        .list_tags()
        .resource_arn(arn)
        .send()
        .await
        .expect("sagemaker:ListTags");
    tags.tags()
        .iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
        .collect()
}

async fn sagemaker_models(aws: &pluto_aws_engine::Aws) -> Value {
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let page = aws
            .sagemaker
            .list_models()
            .set_next_token(next)
            .send()
            .await
            .expect("sagemaker:ListModels");
        names.extend(
            page.models()
                .iter()
                .filter_map(|m| m.model_name().map(str::to_owned)),
        );
        match page.next_token {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    let mut models = Vec::new();
    for name in names {
        let model = aws
            .sagemaker
            .describe_model()
            .model_name(&name)
            .send()
            .await
            .expect("sagemaker:DescribeModel");
        models.push(json!({
            "name": name,
            "arn": model.model_arn(),
            "role": model.execution_role_arn(),
            "primary_container": model.primary_container().map(|c| json!({
                "image": c.image(),
                "mode": c.mode().map(|m| m.as_str()),
                "environment": c.environment().map(|env| env.iter().collect::<BTreeMap<_, _>>()),
            })),
            "containers": model.containers().len(),
            "tags": sagemaker_tags(aws, model.model_arn().unwrap_or_default()).await,
        }));
    }
    sorted(models)
}

async fn sagemaker_endpoint_configs(aws: &pluto_aws_engine::Aws) -> Value {
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let page = aws
            .sagemaker
            .list_endpoint_configs()
            .set_next_token(next)
            .send()
            .await
            .expect("sagemaker:ListEndpointConfigs");
        names.extend(
            page.endpoint_configs()
                .iter()
                .filter_map(|c| c.endpoint_config_name().map(str::to_owned)),
        );
        match page.next_token {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    let mut configs = Vec::new();
    for name in names {
        let config = aws
            .sagemaker
            .describe_endpoint_config()
            .endpoint_config_name(&name)
            .send()
            .await
            .expect("sagemaker:DescribeEndpointConfig");
        let variants: Vec<Value> = config
            .production_variants()
            .iter()
            .map(|v| {
                json!({
                    "name": v.variant_name(),
                    "model": v.model_name(),
                    "instance_type": v.instance_type().map(|t| t.as_str()),
                    "initial_instance_count": v.initial_instance_count(),
                    "initial_variant_weight": v.initial_variant_weight(),
                    "serverless": v.serverless_config().map(|s| json!({
                        "memory_mb": s.memory_size_in_mb(),
                        "max_concurrency": s.max_concurrency(),
                    })),
                })
            })
            .collect();
        configs.push(json!({
            "name": name,
            "arn": config.endpoint_config_arn(),
            "variants": variants,
            "tags": sagemaker_tags(aws, config.endpoint_config_arn().unwrap_or_default()).await,
        }));
    }
    sorted(configs)
}

async fn sagemaker_endpoints(aws: &pluto_aws_engine::Aws) -> Value {
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let page = aws
            .sagemaker
            .list_endpoints()
            .set_next_token(next)
            .send()
            .await
            .expect("sagemaker:ListEndpoints");
        names.extend(
            page.endpoints()
                .iter()
                .filter_map(|e| e.endpoint_name().map(str::to_owned)),
        );
        match page.next_token {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    let mut endpoints = Vec::new();
    for name in names {
        let endpoint = aws
            .sagemaker
            .describe_endpoint()
            .endpoint_name(&name)
            .send()
            .await
            .expect("sagemaker:DescribeEndpoint");
        endpoints.push(json!({
            "name": name,
            "arn": endpoint.endpoint_arn(),
            "config": endpoint.endpoint_config_name(),
            "status": endpoint.endpoint_status().map(|s| s.as_str()),
            "tags": sagemaker_tags(aws, endpoint.endpoint_arn().unwrap_or_default()).await,
        }));
    }
    sorted(endpoints)
}

async fn s3_buckets(aws: &pluto_aws_engine::Aws) -> Value {
    let listed = aws.s3.list_buckets().send().await.expect("s3:ListBuckets");
    let mut buckets = Vec::new();
    for bucket in listed.buckets() {
        let name = bucket.name().unwrap_or_default();
        let tags: BTreeMap<String, String> =
            match aws.s3.get_bucket_tagging().bucket(name).send().await {
                Ok(tagging) => tagging
                    .tag_set()
                    .iter()
                    .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
                    .collect(),
                Err(_) => BTreeMap::new(),
            };
        let block = aws
            .s3
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
            .ok()
            .and_then(|output| output.public_access_block_configuration)
            .map(|config| {
                json!([
                    config.block_public_acls,
                    config.ignore_public_acls,
                    config.block_public_policy,
                    config.restrict_public_buckets
                ])
            });
        let ownership = aws
            .s3
            .get_bucket_ownership_controls()
            .bucket(name)
            .send()
            .await
            .ok()
            .and_then(|output| output.ownership_controls)
            .map(|controls| {
                controls
                    .rules()
                    .iter()
                    .map(|rule| rule.object_ownership().as_str().to_owned())
                    .collect::<Vec<_>>()
            });
        let encryption = aws
            .s3
            .get_bucket_encryption()
            .bucket(name)
            .send()
            .await
            .ok()
            .and_then(|output| output.server_side_encryption_configuration)
            .map(|config| {
                config
                    .rules()
                    .iter()
                    .filter_map(|rule| rule.apply_server_side_encryption_by_default())
                    .map(|default| default.sse_algorithm().as_str().to_owned())
                    .collect::<Vec<_>>()
            });
        let versioning = aws
            .s3
            .get_bucket_versioning()
            .bucket(name)
            .send()
            .await
            .expect("s3:GetBucketVersioning")
            .status()
            .map(|status| status.as_str().to_owned());
        let versions = aws
            .s3
            .list_object_versions()
            .bucket(name)
            .send()
            .await
            .expect("s3:ListObjectVersions");
        let objects: Vec<Value> = versions
            .versions()
            .iter()
            .map(|version| json!({"key": version.key(), "size": version.size()}))
            .collect();
        buckets.push(json!({
            "name": name,
            "tags": tags,
            "public_access_block": block,
            "ownership": ownership,
            "encryption": encryption,
            "versioning": versioning,
            "objects": sorted(objects),
            "delete_markers": versions.delete_markers().len(),
        }));
    }
    sorted(buckets)
}

async fn secrets(aws: &pluto_aws_engine::Aws) -> Value {
    let mut secrets = Vec::new();
    let mut next = None;
    loop {
        let page = aws
            .secretsmanager
            .list_secrets()
            .set_next_token(next)
            .send()
            .await
            .expect("secretsmanager:ListSecrets");
        for secret in page.secret_list() {
            let tags: BTreeMap<&str, &str> = secret
                .tags()
                .iter()
                .filter_map(|tag| Some((tag.key()?, tag.value()?)))
                .collect();
            secrets.push(json!({
                "name": secret.name(),
                "description": secret.description(),
                "tags": tags,
                "versions": secret.secret_versions_to_stages().map_or(0, |versions| versions.len()),
            }));
        }
        match page.next_token {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    sorted(secrets)
}
