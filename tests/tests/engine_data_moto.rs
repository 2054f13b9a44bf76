//! The AWS engine's buckets and secrets against moto, with the fixture app's deduced
//! architecture (bucket `files`, secret `api-key`, the `bucket-*` and `secret-check` functions):
//! buckets are created private (Block Public Access all on, `BucketOwnerEnforced`, SSE-S3),
//! tagged, with globally unique names that hash the account and region, versioned when declared;
//! secrets are created tagged and without a value, which `Engine::put_secret_value` sets; the
//! functions get the physical names and exactly the IAM actions they use; and no data is lost by
//! surprise: a destroy (or a deploy that drops a resource) that would delete a non-empty bucket,
//! a secret with a value or a non-empty table is refused, saying what would be lost, unless the
//! user agreed, and secrets are deleted with a recovery window that a redeploy restores from.

use pluto_aws_engine::{Action, Code, DesiredStack, Engine, EngineError, Outputs, Silent};
use pluto_model::naming::{BUCKET_MAX_LEN, StackNames};
use pluto_model::{Architecture, ResourceSpec};
use pluto_tests::fixtures::{code, engine, policy_document};
use pluto_tests::moto::moto;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;

/// The fixture app's deduced architecture (deduced once per test binary).
fn fixture() -> Architecture {
    static ARCHITECTURE: OnceLock<Architecture> = OnceLock::new();
    ARCHITECTURE
        .get_or_init(pluto_tests::app::fixture_architecture)
        .clone()
}

/// The fixture's data resources (bucket, secret, KV store) and the functions using them, with the
/// bucket versioned or not.
fn data_app(versioning: bool) -> Architecture {
    let mut app = fixture();
    app.resources.retain(|resource| {
        matches!(
            resource.spec,
            ResourceSpec::Bucket(_) | ResourceSpec::Secret(_) | ResourceSpec::KvStore(_)
        )
    });
    for resource in &mut app.resources {
        if let ResourceSpec::Bucket(bucket) = &mut resource.spec {
            bucket.versioning = versioning;
        }
    }
    app.functions.retain(|function| {
        let name = function.spec.name.as_str();
        name.starts_with("bucket-") || name.starts_with("kv-") || name == "secret-check"
    });
    app
}

/// `app` without its resources of `kind`, and without the functions that use them.
fn without(mut app: Architecture, kind: pluto_spec::ResourceKind) -> Architecture {
    app.resources
        .retain(|resource| resource.spec.kind() != kind);
    app.functions.retain(|function| {
        function
            .grants
            .iter()
            .all(|grant| grant.resource.kind != kind)
    });
    app
}

fn fake_code(tag: &str) -> Code {
    code(format!("#!/bin/sh\n# {tag}\n").as_bytes(), tag)
}

fn desired(engine: &Engine, app: &Architecture, stack: &str, code: &Code) -> DesiredStack {
    let names = StackNames::new(&app.project, stack).expect("valid names");
    DesiredStack::new(app, names, engine.aws.target.clone(), code, &|_| None)
        .expect("a desired stack")
}

async fn deploy(engine: &Engine, app: &Architecture, stack: &str, code: &Code) -> Outputs {
    let prepared = engine
        .plan_deploy(desired(engine, app, stack, code))
        .await
        .expect("a plan");
    engine
        .apply(prepared, &Silent)
        .await
        .unwrap_or_else(|error| panic!("the deploy succeeds: {:?}", miette::Report::new(error)))
}

/// The names of `stack` of the fixture app, scoped to moto's account and region.
fn names(engine: &Engine, stack: &str) -> StackNames {
    StackNames::new(&fixture().project, stack)
        .expect("valid names")
        .in_account(engine.aws.target.account(), engine.aws.target.region())
}

/// Runs an async test on a thread with a large stack (the engine's futures nest deeply).
fn run<F: Future<Output = ()>>(test: impl FnOnce() -> F + Send + 'static) {
    let thread = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(test());
        })
        .expect("a test thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn bucket_exists(s3: &aws_sdk_s3::Client, bucket: &str) -> bool {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(error) => {
            let status = error.raw_response().map(|raw| raw.status().as_u16());
            assert_eq!(status, Some(404), "HeadBucket {bucket}: {error:?}");
            false
        }
    }
}

async fn bucket_tags(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, String> {
    s3.get_bucket_tagging()
        .bucket(bucket)
        .send()
        .await
        .expect("the bucket is tagged")
        .tag_set()
        .iter()
        .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
        .collect()
}

async fn versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> Option<String> {
    s3.get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .expect("s3:GetBucketVersioning")
        .status()
        .map(|status| status.as_str().to_owned())
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap_or_else(|error| panic!("PutObject {key}: {error:?}"));
}

async fn object_versions(s3: &aws_sdk_s3::Client, bucket: &str) -> usize {
    s3.list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .expect("s3:ListObjectVersions")
        .versions()
        .len()
}

fn expected_tags(names: &StackNames, resource: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("pluto:project".to_owned(), names.project().to_owned()),
        ("pluto:stack".to_owned(), names.stack().to_owned()),
        ("pluto:resource".to_owned(), resource.to_owned()),
    ])
}

async fn function_env(engine: &Engine, name: &str) -> BTreeMap<String, String> {
    engine
        .aws
        .lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|error| panic!("{name} exists: {error:?}"))
        .environment()
        .and_then(|env| env.variables())
        .map(|vars| vars.clone().into_iter().collect())
        .unwrap_or_default()
}

/// The statements of the inline policy of `role`.
async fn policy_statements(engine: &Engine, role: &str) -> Vec<Value> {
    let document = engine
        .aws
        .iam
        .get_role_policy()
        .role_name(role)
        .policy_name("pluto")
        .send()
        .await
        .unwrap_or_else(|error| panic!("the policy of {role}: {error:?}"));
    policy_document(document.policy_document())["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(action) => vec![action.clone()],
        Value::Array(actions) => actions
            .iter()
            .filter_map(|action| action.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn resources(statement: &Value) -> Vec<String> {
    match &statement["Resource"] {
        Value::String(resource) => vec![resource.clone()],
        Value::Array(resources) => resources
            .iter()
            .filter_map(|resource| resource.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The whole fixture app: a private, tagged bucket with a global name; a tagged secret without a
/// value; the functions get the physical names and exactly their actions; a redeploy changes
/// nothing; `put_secret_value` sets the value (and says "deploy first" for a secret the stack
/// lacks).
#[test]
fn the_fixture_app_gets_a_private_bucket_and_a_secret_without_value() {
    run(|| async {
        let engine = engine(moto().endpoint()).await;
        let app = fixture();
        let stack = "data-fixture";
        let code = fake_code(stack);
        let names = names(&engine, stack);
        let outputs = deploy(&engine, &app, stack, &code).await;

        let bucket = names.bucket("files");
        assert!(bucket.len() <= BUCKET_MAX_LEN, "{bucket}");
        let (base, hash) = bucket.rsplit_once('-').expect("a hash suffix");
        assert_eq!(base, format!("{}-{stack}-files", names.project()));
        assert!(
            hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "{bucket}"
        );
        assert_ne!(
            bucket,
            names
                .clone()
                .in_account("210987654321", "us-east-1")
                .bucket("files"),
            "the name hashes the account"
        );

        let s3 = &engine.aws.s3;
        assert!(bucket_exists(s3, &bucket).await);
        let block = s3
            .get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .expect("a public access block")
            .public_access_block_configuration
            .expect("a configuration");
        assert_eq!(
            [
                block.block_public_acls,
                block.ignore_public_acls,
                block.block_public_policy,
                block.restrict_public_buckets
            ],
            [Some(true); 4]
        );
        let ownership = s3
            .get_bucket_ownership_controls()
            .bucket(&bucket)
            .send()
            .await
            .expect("ownership controls");
        let rules: Vec<String> = ownership
            .ownership_controls()
            .map(|controls| {
                controls
                    .rules()
                    .iter()
                    .map(|rule| rule.object_ownership().as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(rules, ["BucketOwnerEnforced"]);
        let encryption = s3
            .get_bucket_encryption()
            .bucket(&bucket)
            .send()
            .await
            .expect("default encryption");
        let algorithms: Vec<String> = encryption
            .server_side_encryption_configuration()
            .map(|config| {
                config
                    .rules()
                    .iter()
                    .filter_map(|rule| rule.apply_server_side_encryption_by_default())
                    .map(|default| default.sse_algorithm().as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(algorithms, ["AES256"]);
        assert_eq!(versioning(s3, &bucket).await, None, "not declared");
        assert_eq!(
            bucket_tags(s3, &bucket).await,
            expected_tags(&names, "bucket/files")
        );

        let secret = names.secret("api-key");
        let described = engine
            .aws
            .secretsmanager
            .describe_secret()
            .secret_id(&secret)
            .send()
            .await
            .expect("the secret exists");
        let tags: BTreeMap<String, String> = described
            .tags()
            .iter()
            .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
            .collect();
        assert_eq!(tags, expected_tags(&names, "secret/api-key"));
        assert!(
            described
                .version_ids_to_stages()
                .is_none_or(|versions| versions.is_empty()),
            "created without a value: {described:?}"
        );
        assert!(
            described
                .description()
                .is_some_and(|text| text.contains("cargo pluto secret set api-key")),
            "{described:?}"
        );

        for (function, variable, value) in [
            ("bucket-put", "PLUTO_BUCKET_FILES", &bucket),
            ("bucket-reader", "PLUTO_BUCKET_FILES", &bucket),
            ("secret-check", "PLUTO_SECRET_API_KEY", &secret),
        ] {
            let env = function_env(&engine, &names.function(function)).await;
            assert_eq!(env.get(variable), Some(value), "{function}: {env:?}");
        }
        // The reader may get objects (and list the bucket, which S3 needs to answer a missing key
        // with 404 rather than 403: `Operation::bucket_actions_needed`), nothing else.
        let statements = policy_statements(&engine, &names.function_role("bucket-reader")).await;
        let on_bucket: Vec<(Vec<String>, Vec<String>)> = statements
            .iter()
            .filter(|statement| resources(statement).iter().any(|r| r.contains(&bucket)))
            .map(|statement| (actions(statement), resources(statement)))
            .collect();
        assert_eq!(
            on_bucket,
            [
                (
                    vec!["s3:ListBucket".to_owned()],
                    vec![format!("arn:aws:s3:::{bucket}")]
                ),
                (
                    vec!["s3:GetObject".to_owned()],
                    vec![format!("arn:aws:s3:::{bucket}/*")]
                )
            ],
            "{statements:#?}"
        );
        for denied in ["s3:PutObject", "s3:DeleteObject", "s3:*"] {
            assert!(
                !statements
                    .iter()
                    .flat_map(actions)
                    .any(|action| action == denied),
                "{denied}: {statements:#?}"
            );
        }
        let statements = policy_statements(&engine, &names.function_role("secret-check")).await;
        let secret_statements: Vec<(Vec<String>, Vec<String>)> = statements
            .iter()
            .filter(|statement| {
                resources(statement)
                    .iter()
                    .any(|r| r.contains(":secretsmanager:"))
            })
            .map(|statement| (actions(statement), resources(statement)))
            .collect();
        assert_eq!(
            secret_statements,
            [(
                vec!["secretsmanager:GetSecretValue".to_owned()],
                vec![format!(
                    "arn:aws:secretsmanager:us-east-1:{}:secret:{secret}-??????",
                    engine.aws.target.account()
                )]
            )]
        );

        assert_eq!(
            outputs
                .buckets
                .iter()
                .map(|output| (output.name.as_str(), output.bucket_name.as_str()))
                .collect::<Vec<_>>(),
            [("files", bucket.as_str())]
        );
        assert_eq!(
            outputs
                .secrets
                .iter()
                .map(|output| (
                    output.name.as_str(),
                    output.secret_name.as_str(),
                    output.has_value
                ))
                .collect::<Vec<_>>(),
            [("api-key", secret.as_str(), false)]
        );

        // A redeploy changes nothing.
        let again = engine
            .plan_deploy(desired(&engine, &app, stack, &code))
            .await
            .expect("a plan");
        assert!(again.plan.is_empty(), "{}", again.plan);

        // The value is set through the engine, and only there.
        let value = "sk-live-7f3a9c-do-not-print";
        engine
            .put_secret_value(&names, "api-key", value)
            .await
            .expect("the value is stored");
        let stored = engine
            .aws
            .secretsmanager
            .get_secret_value()
            .secret_id(&secret)
            .send()
            .await
            .expect("the value reads back");
        assert_eq!(stored.secret_string(), Some(value));
        let missing = engine
            .put_secret_value(&names, "not-declared", value)
            .await
            .expect_err("no such secret");
        assert!(
            matches!(missing, EngineError::SecretNotDeployed { .. }),
            "{missing:?}"
        );
        let help = miette::Diagnostic::help(&missing).map(|help| help.to_string());
        assert!(
            help.as_ref()
                .is_some_and(|help| help.contains("deploy first")),
            "{help:?}"
        );
        assert!(!format!("{missing} {missing:?} {help:?}").contains(value));

        let destroy = engine
            .plan_destroy(&names)
            .await
            .expect("a destroy plan")
            .delete_data(true);
        engine.apply(destroy, &Silent).await.expect("destroyed");
    });
}

/// Versioning is enabled when declared, and suspended (S3 cannot turn it off) when no longer.
#[test]
fn versioning_follows_the_declaration() {
    run(|| async {
        let engine = engine(moto().endpoint()).await;
        let stack = "data-versions";
        let code = fake_code(stack);
        let names = names(&engine, stack);
        let bucket = names.bucket("files");
        deploy(&engine, &data_app(true), stack, &code).await;
        assert_eq!(
            versioning(&engine.aws.s3, &bucket).await.as_deref(),
            Some("Enabled")
        );

        let prepared = engine
            .plan_deploy(desired(&engine, &data_app(false), stack, &code))
            .await
            .expect("a plan");
        let changes: Vec<&Action> = prepared
            .plan
            .changes
            .iter()
            .filter(|change| change.name == bucket)
            .map(|change| &change.action)
            .collect();
        assert_eq!(
            changes,
            [&Action::Update(vec![pluto_aws_engine::FieldChange::new(
                "versioning",
                "Enabled",
                "Suspended"
            )])],
            "{}",
            prepared.plan
        );
        engine.apply(prepared, &Silent).await.expect("deployed");
        assert_eq!(
            versioning(&engine.aws.s3, &bucket).await.as_deref(),
            Some("Suspended")
        );
        let again = engine
            .plan_deploy(desired(&engine, &data_app(false), stack, &code))
            .await
            .expect("a plan");
        assert!(again.plan.is_empty(), "{}", again.plan);

        // Drift is repaired: someone turns Block Public Access off.
        engine
            .aws
            .s3
            .delete_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .expect("the block is removed");
        let drifted = engine
            .plan_deploy(desired(&engine, &data_app(false), stack, &code))
            .await
            .expect("a plan");
        let text = drifted.plan.to_string();
        assert!(
            text.contains("public_access_block: (none) -> BlockPublicAcls=true"),
            "{text}"
        );
        engine.apply(drifted, &Silent).await.expect("repaired");
        let again = engine
            .plan_deploy(desired(&engine, &data_app(false), stack, &code))
            .await
            .expect("a plan");
        assert!(again.plan.is_empty(), "{}", again.plan);

        let destroy = engine.plan_destroy(&names).await.expect("a destroy plan");
        engine.apply(destroy, &Silent).await.expect("destroyed");
    });
}

/// Destroying a stack whose versioned bucket holds objects and whose secret has a value: refused
/// without consent, saying what would be lost (object versions and bytes), and nothing is
/// deleted; with consent, the bucket is emptied and deleted, the secret scheduled for deletion;
/// a redeploy restores the secret with its value.
#[test]
fn destroy_refuses_to_delete_data_without_consent_and_deletes_all_of_it_with() {
    run(|| async {
        let engine = engine(moto().endpoint()).await;
        let stack = "data-destroy";
        let code = fake_code(stack);
        let names = names(&engine, stack);
        let bucket = names.bucket("files");
        let secret = names.secret("api-key");
        deploy(&engine, &data_app(true), stack, &code).await;
        let s3 = &engine.aws.s3;
        // 3 versions of `a` (5 + 6 + 7 bytes), one of `b` (10 bytes).
        for body in ["11111", "222222", "3333333"] {
            put(s3, &bucket, "docs/a.txt", body).await;
        }
        put(s3, &bucket, "docs/b.txt", "0123456789").await;
        let value = "hf_secret_value_0451";
        engine
            .put_secret_value(&names, "api-key", value)
            .await
            .expect("set");

        let prepared = engine.plan_destroy(&names).await.expect("a destroy plan");
        let losses = prepared.plan.data_loss();
        assert_eq!(
            losses,
            [
                "bucket files (4 objects, 28 B)".to_owned(),
                "secret api-key (has a value)".to_owned()
            ],
            "{}",
            prepared.plan
        );
        let text = prepared.plan.to_string();
        assert!(
            text.contains(&format!("S3 bucket {bucket} [data: 4 objects, 28 B]")),
            "{text}"
        );
        assert!(
            text.contains(
                "would delete data: bucket files (4 objects, 28 B), secret api-key (has a value)"
            ),
            "{text}"
        );
        let json = serde_json::to_string(&prepared.plan).expect("JSON");
        assert!(json.contains(r#""data":"4 objects, 28 B""#), "{json}");
        assert!(!format!("{text}{json}{prepared:?}").contains(value));

        let refused = engine
            .apply(prepared, &Silent)
            .await
            .expect_err("refused without consent");
        let message = refused.to_string();
        assert!(
            matches!(refused, EngineError::WouldDeleteData { .. })
                && message.contains("4 objects, 28 B")
                && message.contains("has a value")
                && message.contains("nothing was changed"),
            "{message}"
        );
        let help = miette::Diagnostic::help(&refused).map(|help| help.to_string());
        assert!(
            help.is_some_and(|help| help.contains("cargo pluto destroy --delete-data")),
            "{refused:?}"
        );
        assert!(!format!("{message}{refused:?}").contains(value));
        // Nothing at all was deleted.
        assert_eq!(object_versions(s3, &bucket).await, 4);
        let functions = engine
            .plan_destroy(&names)
            .await
            .expect("a destroy plan")
            .plan
            .changes
            .len();
        assert!(functions > 2, "the whole stack is still there");

        let consented = engine
            .plan_destroy(&names)
            .await
            .expect("a destroy plan")
            .delete_data(true);
        engine.apply(consented, &Silent).await.expect("destroyed");
        assert!(!bucket_exists(s3, &bucket).await, "the bucket is gone");
        let described = engine
            .aws
            .secretsmanager
            .describe_secret()
            .secret_id(&secret)
            .send()
            .await
            .expect("a deleted secret is kept for its recovery window");
        assert!(described.deleted_date().is_some(), "{described:?}");
        let left = engine.plan_destroy(&names).await.expect("a destroy plan");
        assert!(left.plan.changes.is_empty(), "{}", left.plan);
        let value_error = engine
            .put_secret_value(&names, "api-key", "x")
            .await
            .expect_err("a deleted secret takes no value");
        assert!(
            matches!(value_error, EngineError::SecretScheduledForDeletion { .. }),
            "{value_error:?}"
        );

        // A redeploy restores the secret, value and all.
        let prepared = engine
            .plan_deploy(desired(&engine, &data_app(true), stack, &code))
            .await
            .expect("a plan");
        let restore: Vec<String> = prepared
            .plan
            .changes
            .iter()
            .filter(|change| change.name == secret)
            .map(|change| format!("{:?}", change.action))
            .collect();
        assert_eq!(restore.len(), 1, "{}", prepared.plan);
        assert!(restore[0].contains("restored"), "{}", prepared.plan);
        let outputs = engine.apply(prepared, &Silent).await.expect("redeployed");
        assert!(outputs.secrets.iter().all(|secret| secret.has_value));
        let restored = engine
            .aws
            .secretsmanager
            .get_secret_value()
            .secret_id(&secret)
            .send()
            .await
            .expect("the restored secret has its value");
        assert_eq!(restored.secret_string(), Some(value));

        let destroy = engine
            .plan_destroy(&names)
            .await
            .expect("a destroy plan")
            .delete_data(true);
        engine.apply(destroy, &Silent).await.expect("destroyed");
    });
}

/// A deploy that no longer declares a bucket (or KV store) holding data is refused the same way;
/// an empty one is removed without asking.
#[test]
fn a_deploy_that_drops_a_resource_holding_data_needs_consent_too() {
    run(|| async {
        let engine = engine(moto().endpoint()).await;
        let stack = "data-drop";
        let code = fake_code(stack);
        let names = names(&engine, stack);
        let bucket = names.bucket("files");
        let table = names.table("notes");
        deploy(&engine, &data_app(false), stack, &code).await;
        put(&engine.aws.s3, &bucket, "kept.txt", "precious").await;
        engine
            .aws
            .dynamodb
            .put_item()
            .table_name(&table)
            .item(
                pluto_spec::contract::KV_KEY_ATTRIBUTE,
                aws_sdk_dynamodb::types::AttributeValue::S("k".to_owned()),
            )
            .send()
            .await
            .expect("an item");

        let dropped = without(
            without(data_app(false), pluto_spec::ResourceKind::Bucket),
            pluto_spec::ResourceKind::KvStore,
        );
        let prepared = engine
            .plan_deploy(desired(&engine, &dropped, stack, &code))
            .await
            .expect("a plan");
        assert_eq!(
            prepared.plan.data_loss(),
            [
                "bucket files (1 object, 8 B)".to_owned(),
                "KV store notes (holds items)".to_owned()
            ],
            "{}",
            prepared.plan
        );
        let refused = engine
            .apply(prepared, &Silent)
            .await
            .expect_err("refused without consent");
        assert!(
            refused.to_string().starts_with("deploy refused"),
            "{refused}"
        );
        assert_eq!(object_versions(&engine.aws.s3, &bucket).await, 1);

        // Emptied by hand, they go without asking.
        engine
            .aws
            .s3
            .delete_object()
            .bucket(&bucket)
            .key("kept.txt")
            .send()
            .await
            .expect("deleted");
        let prepared = engine
            .plan_deploy(desired(&engine, &dropped, stack, &code))
            .await
            .expect("a plan");
        assert_eq!(
            prepared.plan.data_loss(),
            ["KV store notes (holds items)".to_owned()]
        );
        engine
            .apply(prepared.delete_data(true), &Silent)
            .await
            .expect("deployed with consent");
        assert!(!bucket_exists(&engine.aws.s3, &bucket).await);
        let tables = engine
            .aws
            .dynamodb
            .list_tables()
            .send()
            .await
            .expect("tables");
        assert!(!tables.table_names().contains(&table), "{tables:?}");

        let destroy = engine
            .plan_destroy(&names)
            .await
            .expect("a destroy plan")
            .delete_data(true);
        engine.apply(destroy, &Silent).await.expect("destroyed");
    });
}
