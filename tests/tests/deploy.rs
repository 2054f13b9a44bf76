//! `cargo pluto deploy` and `cargo pluto destroy` end to end, against moto: the real CLI builds
//! both examples for Lambda (release, cargo-zigbuild), deploys them, and everything is read back
//! through the AWS SDK — roles and their exact policy documents, function configuration and the
//! environment contract, URLs and both public-URL permission statements, the table, the SageMaker
//! model, configuration and endpoint, the private bucket. Every policy is linted by parliament. A redeploy changes
//! nothing; drift shows in `plan` and is repaired; deploys of one stack from several machines take
//! turns through the stack's lock; `destroy` without any local state leaves nothing in any
//! service but the engine's (empty) lock table.
//!
//! This test binary is the only user of its moto server, so "nothing left" is checked by listing
//! every service, not only the stack's names.

use pluto_aws_engine::lock::LOCK_TABLE;
use pluto_aws_engine::{LockOptions, StackLock};
use pluto_model::naming::StackNames;
use pluto_tests::fixtures::policy_document;
use pluto_tests::moto::{Moto, moto};
use pluto_tests::workspace_root;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const STACK: &str = "it";
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const TGI_IMAGE: &str = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04";

/// `cargo pluto <args>` against moto, on the machine `host` (its `HOSTNAME`).
fn cargo_pluto_on(host: &str, moto: &Moto, args: &[&str]) -> Command {
    let binary = pluto_tests::app::build_workspace_binary("cargo-pluto");
    let mut command = Command::new(binary);
    command
        .arg("pluto")
        .args(args)
        .args(["--endpoint-url", moto.endpoint(), "--region", REGION])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("HOSTNAME", host)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE");
    command
}

/// (success, stdout, stderr) of a finished command.
fn finished(output: &std::process::Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `cargo pluto <args>` against moto; returns (success, stdout, stderr).
fn cargo_pluto(moto: &Moto, args: &[&str]) -> (bool, String, String) {
    let output = cargo_pluto_on("test-machine", moto, args)
        .output()
        .expect("cargo-pluto runs");
    finished(&output)
}

fn manifest(example: &str) -> PathBuf {
    workspace_root()
        .join("examples")
        .join(example)
        .join("Cargo.toml")
}

/// Deploys an example with `--yes --json`; returns the plan and the outputs it printed (JSON
/// lines).
fn deploy(moto: &Moto, example: &str) -> (Value, Value) {
    let manifest = manifest(example);
    let manifest = manifest.to_str().expect("a UTF-8 path");
    let (ok, stdout, stderr) = cargo_pluto(
        moto,
        &[
            "deploy",
            "--manifest-path",
            manifest,
            "--stack",
            STACK,
            "--yes",
            "--json",
        ],
    );
    assert!(ok, "deploy of {example} failed:\n{stderr}");
    assert!(
        stderr.contains("cargo-zigbuild") && stderr.contains("glibc <= 2.34"),
        "the app is built with cargo-zigbuild against glibc 2.34 (is cargo-zigbuild installed? \
         scripts/test installs it):\n{stderr}"
    );
    let documents: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("deploy printed no JSON ({error}):\n{stdout}"));
    assert_eq!(documents.len(), 2, "plan and outputs:\n{stdout}");
    assert_eq!(
        stdout.lines().count(),
        2,
        "one JSON document per line:\n{stdout}"
    );
    (documents[0].clone(), documents[1].clone())
}

/// (object type, name, action) of every planned change.
fn actions(plan: &Value) -> Vec<(String, String, String)> {
    plan["changes"]
        .as_array()
        .expect("a list of changes")
        .iter()
        .map(|change| {
            (
                change["object_type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                change["name"].as_str().unwrap_or_default().to_owned(),
                change["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

struct Clients {
    iam: aws_sdk_iam::Client,
    lambda: aws_sdk_lambda::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sagemaker: aws_sdk_sagemaker::Client,
    s3: aws_sdk_s3::Client,
}

impl Clients {
    async fn new(moto: &Moto) -> Self {
        let config = moto.sdk_config().await;
        Self {
            iam: aws_sdk_iam::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sagemaker: aws_sdk_sagemaker::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(true)
                    .build(),
            ),
        }
    }

    /// The role's trust policy, inline policies and attached policies.
    async fn role(&self, name: &str) -> (Value, BTreeMap<String, Value>, Vec<String>) {
        let role = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .unwrap_or_else(|error| panic!("role {name}: {error:?}"))
            .role
            .expect("a role");
        let trust = policy_document(role.assume_role_policy_document().unwrap_or_default());
        let mut inline = BTreeMap::new();
        let names = self
            .iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .expect("inline policies");
        for policy in names.policy_names() {
            let document = self
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .expect("an inline policy");
            inline.insert(policy.clone(), policy_document(document.policy_document()));
        }
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .expect("attached policies")
            .attached_policies()
            .iter()
            .filter_map(|policy| policy.policy_arn().map(str::to_owned))
            .collect();
        (trust, inline, attached)
    }

    async fn role_tags(&self, name: &str) -> BTreeMap<String, String> {
        self.iam
            .list_role_tags()
            .role_name(name)
            .send()
            .await
            .expect("role tags")
            .tags()
            .iter()
            .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
            .collect()
    }
}

fn tags(project: &str, resource: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("pluto:project".to_owned(), project.to_owned()),
        ("pluto:stack".to_owned(), STACK.to_owned()),
        ("pluto:resource".to_owned(), resource.to_owned()),
    ])
}

/// The example a physical name belongs to.
fn project_of(name: &str) -> &'static str {
    if name.starts_with("chatbot-history-") {
        "chatbot-history"
    } else {
        "langchain-llama"
    }
}

fn lambda_trust() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "LambdaAssumeRole", "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": ["sts:AssumeRole"]}]})
}

fn logs_statement(function: &str) -> Value {
    json!({"Sid": "Logs", "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{function}:*")]})
}

/// The statements of a function's policy for bucket `docs` of langchain-llama: `s3:ListBucket`
/// on the bucket when it reads or lists, the object actions on its objects.
fn docs_statements(bucket: &str, list: bool, object_actions: &[&str]) -> Vec<Value> {
    let mut statements = Vec::new();
    if list {
        statements.push(json!({"Sid": "BucketDocs", "Effect": "Allow",
            "Action": ["s3:ListBucket"], "Resource": [format!("arn:aws:s3:::{bucket}")]}));
    }
    statements.push(json!({"Sid": "BucketDocsObjects", "Effect": "Allow",
        "Action": object_actions, "Resource": [format!("arn:aws:s3:::{bucket}/*")]}));
    statements
}

fn invoke_llama_statement(endpoint: &str) -> Value {
    json!({"Sid": "SageMakerLlama", "Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint"],
        "Resource": [format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{endpoint}")]})
}

/// Checks a function's role: trusted by Lambda only, exactly `statements` in its one inline
/// policy, nothing attached, tagged.
async fn assert_function_role(clients: &Clients, role: &str, resource: &str, statements: Value) {
    let (trust, inline, attached) = clients.role(role).await;
    assert_eq!(trust, lambda_trust(), "trust policy of {role}");
    assert_eq!(
        inline,
        BTreeMap::from([(
            "pluto".to_owned(),
            json!({"Version": "2012-10-17", "Statement": statements})
        )]),
        "inline policies of {role}"
    );
    assert!(
        attached.is_empty(),
        "{role} has attached policies {attached:?}"
    );
    assert_eq!(
        clients.role_tags(role).await,
        tags(project_of(role), resource)
    );
}

/// What a deployed public function must look like.
struct Expected<'a> {
    name: &'a str,
    role: &'a str,
    resource: &'a str,
    memory_mb: i32,
    timeout_s: i32,
    env: &'a [(&'a str, &'a str)],
    zip: &'a Path,
    /// The URL's `InvokeMode`: `RESPONSE_STREAM` for a function returning a `TextStream`.
    invoke_mode: &'a str,
}

/// Checks a function's configuration, environment, URL and public permissions; returns its URL.
async fn assert_public_function(clients: &Clients, expected: &Expected<'_>) -> String {
    let Expected {
        name,
        role,
        resource,
        memory_mb,
        timeout_s,
        env,
        zip,
        invoke_mode,
    } = *expected;
    let function = clients
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|error| panic!("function {name}: {error:?}"));
    let config = function.configuration().expect("a configuration");
    assert_eq!(
        config.runtime().map(|r| r.as_str()),
        Some("provided.al2023")
    );
    assert_eq!(config.handler(), Some("bootstrap"));
    assert_eq!(config.memory_size(), Some(memory_mb));
    assert_eq!(config.timeout(), Some(timeout_s));
    assert_eq!(
        config
            .architectures()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["x86_64"]
    );
    assert_eq!(
        config.role(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/{role}").as_str())
    );
    let actual_env: BTreeMap<String, String> = config
        .environment()
        .and_then(|env| env.variables())
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let expected_env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(actual_env, expected_env, "environment of {name}");
    let zip_bytes = std::fs::read(zip).expect("the deployed zip is kept in .pluto/");
    assert_eq!(
        config.code_sha256(),
        Some(pluto_build::code_sha256(&zip_bytes).as_str()),
        "the deployed code is the built zip"
    );
    let actual_tags: BTreeMap<String, String> = function
        .tags()
        .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    assert_eq!(actual_tags, tags(project_of(name), resource));

    let url = clients
        .lambda
        .get_function_url_config()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|error| panic!("URL of {name}: {error:?}"));
    assert_eq!(
        url.auth_type().as_str(),
        "NONE",
        "{name} is declared public"
    );
    assert!(url.cors().is_none(), "no CORS is declared");
    assert_eq!(
        url.invoke_mode().map(|mode| mode.as_str()),
        Some(invoke_mode),
        "the invoke mode of {name}'s URL"
    );

    let policy = clients
        .lambda
        .get_policy()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|error| panic!("policy of {name}: {error:?}"));
    let policy = policy_document(policy.policy().unwrap_or_default());
    let statements = policy["Statement"].as_array().expect("statements");
    assert_eq!(
        statements.len(),
        2,
        "exactly the two public-URL statements: {policy:#}"
    );
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid} in {policy:#}"))
            .clone()
    };
    let url_statement = by_sid("PlutoPublicUrl");
    assert_eq!(url_statement["Action"], "lambda:InvokeFunctionUrl");
    assert_eq!(url_statement["Principal"], "*");
    assert_eq!(
        condition(&url_statement, "FunctionUrlAuthType"),
        json!("NONE")
    );
    let invoke_statement = by_sid("PlutoPublicUrlInvoke");
    assert_eq!(invoke_statement["Action"], "lambda:InvokeFunction");
    assert_eq!(invoke_statement["Principal"], "*");
    assert_eq!(
        condition(&invoke_statement, "InvokedViaFunctionUrl"),
        json!(true)
    );
    url.function_url().to_owned()
}

/// A public-URL condition of a permission statement: AWS renders it as `Condition` with the key
/// `lambda:<key>`; moto keeps the request's field (`FunctionUrlAuthType`,
/// `InvokedViaFunctionUrl`) in the statement as sent.
fn condition(statement: &Value, key: &str) -> Value {
    if let Some(value) = statement.get(key) {
        return value.clone();
    }
    let conditions = statement["Condition"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for operator in conditions.values() {
        if let Some(value) = operator.get(format!("lambda:{key}")) {
            return match value.as_str() {
                Some("true") => json!(true),
                _ => value.clone(),
            };
        }
    }
    panic!("no {key} condition in {statement:#}")
}

async fn assert_endpoint(clients: &Clients, project: &str, outputs: &Value) {
    let endpoint_name = format!("{project}-{STACK}-llama");
    let role = format!("{project}-{STACK}-llama-sm");
    let endpoint = &outputs["endpoints"][0];
    assert_eq!(endpoint["endpoint_name"], endpoint_name.as_str());
    let model_name = endpoint["model_name"].as_str().expect("a model name");
    let config_name = endpoint["config_name"].as_str().expect("a config name");
    assert!(
        model_name.starts_with(&format!("{endpoint_name}-model-")),
        "{model_name}"
    );
    assert!(
        config_name.starts_with(&format!("{endpoint_name}-config-")),
        "{config_name}"
    );

    let (trust, inline, attached) = clients.role(&role).await;
    assert_eq!(
        trust,
        json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "SageMakerAssumeRole", "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": ["sts:AssumeRole"]}]})
    );
    assert!(
        attached.is_empty(),
        "no AmazonSageMakerFullAccess or anything else: {attached:?}"
    );
    assert_eq!(
        inline,
        BTreeMap::from([(
            "pluto".to_owned(),
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "EcrPull", "Effect": "Allow",
                 "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                 "Resource": ["arn:aws:ecr:us-east-1:763104351884:repository/huggingface-pytorch-tgi-inference"]},
                {"Sid": "EcrAuthorizationToken", "Effect": "Allow",
                 "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
                {"Sid": "Logs", "Effect": "Allow",
                 "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                 "Resource": [format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{endpoint_name}:*")]},
                {"Sid": "Metrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
                 "Condition": {"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}}}
            ]})
        )])
    );

    let model = clients
        .sagemaker
        .describe_model()
        .model_name(model_name)
        .send()
        .await
        .expect("the model exists");
    assert_eq!(
        model.execution_role_arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/{role}").as_str())
    );
    let container = model.primary_container().expect("a container");
    assert_eq!(container.image(), Some(TGI_IMAGE));
    let env: BTreeMap<String, String> = container
        .environment()
        .map(|env| env.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    assert_eq!(
        env,
        BTreeMap::from([
            (
                "HF_MODEL_ID".to_owned(),
                "TinyLlama/TinyLlama-1.1B-Chat-v1.0".to_owned()
            ),
            ("HF_TASK".to_owned(), "text-generation".to_owned()),
        ])
    );

    let config = clients
        .sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(config_name)
        .send()
        .await
        .expect("the endpoint config exists");
    let variants = config.production_variants();
    assert_eq!(variants.len(), 1);
    assert_eq!(variants[0].variant_name(), Some("main"));
    assert_eq!(variants[0].model_name(), Some(model_name));
    assert_eq!(
        variants[0].instance_type().map(|t| t.as_str()),
        Some("ml.m5.xlarge")
    );
    assert_eq!(variants[0].initial_instance_count(), Some(1));

    let live = clients
        .sagemaker
        .describe_endpoint()
        .endpoint_name(&endpoint_name)
        .send()
        .await
        .expect("the endpoint exists");
    assert_eq!(
        live.endpoint_status().map(|s| s.as_str()),
        Some("InService")
    );
    assert_eq!(live.endpoint_config_name(), Some(config_name));
    let endpoint_tags: BTreeMap<String, String> = clients
        .sagemaker
        .list_tags()
        .resource_arn(live.endpoint_arn().unwrap_or_default())
        .send()
        .await
        .expect("endpoint tags")
        .tags()
        .iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
        .collect();
    assert_eq!(endpoint_tags, tags(project, "sagemaker/llama"));
}

/// Every role, function, table, endpoint, endpoint config, model and bucket in moto.
async fn everything(clients: &Clients) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for bucket in clients
        .s3
        .list_buckets()
        .send()
        .await
        .expect("buckets")
        .buckets()
    {
        names.insert(format!("bucket {}", bucket.name().unwrap_or_default()));
    }
    for role in clients
        .iam
        .list_roles()
        .send()
        .await
        .expect("roles")
        .roles()
    {
        names.insert(format!("role {}", role.role_name()));
    }
    for function in clients
        .lambda
        .list_functions()
        .send()
        .await
        .expect("functions")
        .functions()
    {
        names.insert(format!(
            "function {}",
            function.function_name().unwrap_or_default()
        ));
    }
    for table in clients
        .dynamodb
        .list_tables()
        .send()
        .await
        .expect("tables")
        .table_names()
    {
        names.insert(format!("table {table}"));
    }
    let sagemaker = &clients.sagemaker;
    for endpoint in sagemaker
        .list_endpoints()
        .send()
        .await
        .expect("endpoints")
        .endpoints()
    {
        names.insert(format!(
            "endpoint {}",
            endpoint.endpoint_name().unwrap_or_default()
        ));
    }
    for config in sagemaker
        .list_endpoint_configs()
        .send()
        .await
        .expect("configs")
        .endpoint_configs()
    {
        names.insert(format!(
            "config {}",
            config.endpoint_config_name().unwrap_or_default()
        ));
    }
    for model in sagemaker
        .list_models()
        .send()
        .await
        .expect("models")
        .models()
    {
        names.insert(format!("model {}", model.model_name().unwrap_or_default()));
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn examples_deploy_least_privilege_stacks_and_destroy_leaves_nothing() {
    let moto = moto();
    let clients = Clients::new(moto).await;
    assert!(everything(&clients).await.is_empty(), "moto starts empty");

    // --- langchain-llama: a SageMaker endpoint, two public functions invoking it, a private
    // bucket `qa` reads and `ingest` (IAM-auth URL) writes ----------------------------------
    let (plan, outputs) = deploy(moto, "langchain-llama");
    let planned = actions(&plan);
    assert_eq!(planned.len(), 14, "{planned:#?}");
    assert!(
        planned.iter().all(|(_, _, action)| action == "create"),
        "{planned:#?}"
    );
    let bucket = StackNames::new("langchain-llama", STACK)
        .expect("names")
        .in_account(ACCOUNT, REGION)
        .bucket("docs");
    let zip = workspace_root().join("examples/langchain-llama/.pluto/it/build/bootstrap.zip");
    for (logical, memory, timeout) in [("chatbot", 512, 120), ("qa", 512, 120)] {
        let name = format!("langchain-llama-{STACK}-{logical}");
        let role = format!("{name}-fn");
        let resource = format!("function/{logical}");
        let reads_docs = logical == "qa";
        let mut statements = vec![invoke_llama_statement("langchain-llama-it-llama")];
        if reads_docs {
            statements.extend(docs_statements(&bucket, true, &["s3:GetObject"]));
        }
        statements.push(logs_statement(&name));
        assert_function_role(&clients, &role, &resource, json!(statements)).await;
        let mut env = vec![
            ("PLUTO_HANDLER", logical),
            ("PLUTO_PROJECT", "langchain-llama"),
            ("PLUTO_STACK", STACK),
            ("PLUTO_SAGEMAKER_LLAMA", "langchain-llama-it-llama"),
        ];
        if reads_docs {
            env.push(("PLUTO_BUCKET_DOCS", &bucket));
        }
        let url = assert_public_function(
            &clients,
            &Expected {
                name: &name,
                role: &role,
                resource: &resource,
                memory_mb: memory,
                timeout_s: timeout,
                env: &env,
                zip: &zip,
                invoke_mode: "RESPONSE_STREAM",
            },
        )
        .await;
        let output = outputs["functions"]
            .as_array()
            .expect("functions")
            .iter()
            .find(|f| f["name"] == logical)
            .expect("the function is in the outputs");
        assert_eq!(output["url"], url.as_str());
        assert_eq!(output["url_auth"], "public");
    }
    // `ingest` may only put objects, and its URL takes signed requests only.
    let ingest = format!("langchain-llama-{STACK}-ingest");
    let mut statements = docs_statements(&bucket, false, &["s3:PutObject"]);
    statements.push(logs_statement(&ingest));
    assert_function_role(
        &clients,
        &format!("{ingest}-fn"),
        "function/ingest",
        json!(statements),
    )
    .await;
    let ingest_url = clients
        .lambda
        .get_function_url_config()
        .function_name(&ingest)
        .send()
        .await
        .expect("ingest's URL");
    assert_eq!(ingest_url.auth_type().as_str(), "AWS_IAM");
    // The bucket: private, encrypted, tagged.
    let access = clients
        .s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("the bucket's public access block");
    let access = access
        .public_access_block_configuration()
        .expect("a configuration");
    assert_eq!(
        (
            access.block_public_acls(),
            access.ignore_public_acls(),
            access.block_public_policy(),
            access.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let bucket_tags: BTreeMap<String, String> = clients
        .s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect("the bucket's tags")
        .tag_set()
        .iter()
        .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
        .collect();
    assert_eq!(bucket_tags, tags("langchain-llama", "bucket/docs"));
    assert_endpoint(&clients, "langchain-llama", &outputs).await;
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(
            workspace_root().join("examples/langchain-llama/.pluto/it/outputs.json"),
        )
        .expect("outputs.json is written"),
    )
    .expect("outputs.json is JSON");
    assert_eq!(written, outputs);

    // --- chatbot-history: a KV store, read and written by `chat`, deleted from by `forget` ----
    let (_, history_outputs) = deploy(moto, "chatbot-history");
    let table = clients
        .dynamodb
        .describe_table()
        .table_name("chatbot-history-it-chat-history")
        .send()
        .await
        .expect("the table exists")
        .table
        .expect("a table");
    let keys: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|key| {
            (
                key.attribute_name().to_owned(),
                key.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(keys, [("pk".to_owned(), "HASH".to_owned())]);
    let attributes: Vec<(String, String)> = table
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(attributes, [("pk".to_owned(), "S".to_owned())]);
    assert_eq!(
        table
            .billing_mode_summary()
            .and_then(|summary| summary.billing_mode())
            .map(|mode| mode.as_str()),
        Some("PAY_PER_REQUEST")
    );
    assert_eq!(
        history_outputs["tables"][0]["table_name"],
        "chatbot-history-it-chat-history"
    );
    let table_arn =
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/chatbot-history-it-chat-history");
    let endpoint = "chatbot-history-it-llama";
    assert_function_role(
        &clients,
        "chatbot-history-it-chat-fn",
        "function/chat",
        json!([
            invoke_llama_statement(endpoint),
            {"Sid": "KvStoreChatHistory", "Effect": "Allow",
             "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": [table_arn]},
            logs_statement("chatbot-history-it-chat")
        ]),
    )
    .await;
    assert_function_role(
        &clients,
        "chatbot-history-it-forget-fn",
        "function/forget",
        json!([
            {"Sid": "KvStoreChatHistory", "Effect": "Allow",
             "Action": ["dynamodb:DeleteItem"], "Resource": [table_arn]},
            logs_statement("chatbot-history-it-forget")
        ]),
    )
    .await;
    let history_zip =
        workspace_root().join("examples/chatbot-history/.pluto/it/build/bootstrap.zip");
    assert_public_function(
        &clients,
        &Expected {
            name: "chatbot-history-it-forget",
            role: "chatbot-history-it-forget-fn",
            resource: "function/forget",
            memory_mb: 256,
            timeout_s: 30,
            env: &[
                ("PLUTO_HANDLER", "forget"),
                ("PLUTO_PROJECT", "chatbot-history"),
                ("PLUTO_STACK", STACK),
                (
                    "PLUTO_KV_STORE_CHAT_HISTORY",
                    "chatbot-history-it-chat-history",
                ),
            ],
            zip: &history_zip,
            invoke_mode: "BUFFERED",
        },
    )
    .await;
    let chat_url = clients
        .lambda
        .get_function_url_config()
        .function_name("chatbot-history-it-chat")
        .send()
        .await
        .expect("the URL of chat");
    assert_eq!(
        chat_url.invoke_mode().map(|mode| mode.as_str()),
        Some("RESPONSE_STREAM"),
        "chat streams its reply"
    );
    assert_endpoint(&clients, "chatbot-history", &history_outputs).await;

    // --- every policy Pluto wrote passes parliament ------------------------------------------
    for role in clients
        .iam
        .list_roles()
        .send()
        .await
        .expect("roles")
        .roles()
    {
        let (_, inline, _) = clients.role(role.role_name()).await;
        for (name, policy) in inline {
            let findings = pluto_tests::parliament::lint(&policy.to_string(), false);
            assert!(
                findings.is_empty(),
                "{} policy {name}: {findings:?}\n{policy:#}",
                role.role_name()
            );
        }
    }

    // --- a redeploy without changes plans nothing --------------------------------------------
    let (plan, again) = deploy(moto, "langchain-llama");
    assert!(
        actions(&plan)
            .iter()
            .all(|(_, _, action)| action == "unchanged"),
        "{:#?}",
        actions(&plan)
    );
    assert_eq!(again, outputs);

    // --- drift: a change made behind Pluto's back shows in `plan` and `deploy` repairs it -------
    clients
        .lambda
        .update_function_configuration()
        .function_name("chatbot-history-it-forget")
        .memory_size(1024)
        .send()
        .await
        .expect("moto changes the memory");
    let history = manifest("chatbot-history");
    let history = history.to_str().expect("a UTF-8 path");
    let (ok, stdout, stderr) = cargo_pluto(
        moto,
        &[
            "plan",
            "--manifest-path",
            history,
            "--stack",
            STACK,
            "--json",
        ],
    );
    assert!(ok, "plan failed:\n{stderr}");
    let plan: Value = serde_json::from_str(&stdout).expect("plan --json prints the plan");
    let updates: Vec<&Value> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|change| change["action"] != "unchanged")
        .collect();
    assert_eq!(
        updates,
        [&json!({
            "resource": "function forget", "object_type": "Lambda function",
            "name": "chatbot-history-it-forget", "action": "update",
            "fields": [{"field": "memory_mb", "old": "1024", "new": "256"}]
        })],
        "{plan:#}"
    );
    deploy(moto, "chatbot-history");
    let repaired = clients
        .lambda
        .get_function_configuration()
        .function_name("chatbot-history-it-forget")
        .send()
        .await
        .expect("the function exists");
    assert_eq!(
        repaired.memory_size(),
        Some(256),
        "deploy repairs the drift"
    );

    locked_deploys_never_interleave(moto, &clients).await;

    // --- destroy, without any local state, leaves nothing --------------------------------------
    for example in ["langchain-llama", "chatbot-history"] {
        let dir = workspace_root()
            .join("examples")
            .join(example)
            .join(".pluto");
        std::fs::remove_dir_all(&dir).expect("the stack directory exists");
        let manifest = manifest(example);
        let manifest = manifest.to_str().expect("a UTF-8 path");
        let args = [
            "destroy",
            "--manifest-path",
            manifest,
            "--stack",
            STACK,
            "--yes",
        ];
        let (ok, _, stderr) = cargo_pluto(moto, &args);
        assert!(ok, "destroy of {example} failed:\n{stderr}");
        assert!(
            stderr.contains(&format!("destroyed stack `{STACK}`")),
            "{stderr}"
        );
        let (ok, _, stderr) = cargo_pluto(moto, &args);
        assert!(
            ok && stderr.contains("nothing of stack"),
            "destroy is idempotent:\n{stderr}"
        );
    }
    // The engine's lock table stays (every stack of the account and region shares it), with no
    // record left.
    assert_eq!(
        everything(&clients).await,
        BTreeSet::from([format!("table {LOCK_TABLE}")])
    );
    let records = clients
        .dynamodb
        .scan()
        .table_name(LOCK_TABLE)
        .send()
        .await
        .expect("the lock table scans");
    assert_eq!(records.count(), 0, "{:?}", records.items());
}

/// The memory of the `forget` function, changed behind Pluto's back when `Some`.
async fn forget_memory(clients: &Clients, set: Option<i32>) -> Option<i32> {
    let name = "chatbot-history-it-forget";
    if let Some(memory) = set {
        clients
            .lambda
            .update_function_configuration()
            .function_name(name)
            .memory_size(memory)
            .send()
            .await
            .expect("moto changes the memory");
    }
    clients
        .lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .expect("the function exists")
        .memory_size()
}

/// Locking through the CLI, with the test process as "machine A" holding the lock through the
/// library and `cargo pluto` processes as other machines (`HOSTNAME`): refused naming the holder,
/// `plan` notes it, `--lock-wait` waits for the release, a dead holder's lock is broken with
/// `--break-lock` (or taken over without it when the holder was a gone process of this machine),
/// and two deploys started together run one after the other — the second plans
/// after the first applied, so only one of them repairs a drift.
async fn locked_deploys_never_interleave(moto: &Moto, clients: &Clients) {
    let manifest = manifest("chatbot-history");
    let manifest = manifest.to_str().expect("a UTF-8 path");
    let base = [
        "deploy",
        "--manifest-path",
        manifest,
        "--stack",
        STACK,
        "--yes",
    ];
    let deploy_args = |extra: &[&'static str]| [&base[..], extra].concat();
    let run = |host: &str, args: &[&str]| {
        finished(
            &cargo_pluto_on(host, moto, args)
                .output()
                .expect("cargo-pluto runs"),
        )
    };
    let aws = pluto_aws_engine::from_config(&moto.sdk_config().await)
        .await
        .expect("the test connects");
    let names = StackNames::new("chatbot-history", STACK).expect("valid names");
    let take = || async {
        StackLock::acquire(&aws, &names, &LockOptions::new("deploy"), &|_, _| {})
            .await
            .expect("machine A takes the lock")
    };
    let holder_pid = format!("(pid {})", std::process::id());

    // Held: refused at once, naming the holder; nothing changes.
    let held = take().await;
    forget_memory(clients, Some(1024)).await;
    let (ok, _, stderr) = run("machine-b", &deploy_args(&[]));
    assert!(!ok, "a locked stack refuses a second deploy:\n{stderr}");
    assert!(
        stderr.contains("stack `chatbot-history/it` is locked: deploy by")
            && stderr.contains(&holder_pid)
            && stderr.contains("--break-lock"),
        "{stderr}"
    );
    assert_eq!(forget_memory(clients, None).await, Some(1024), "untouched");
    let (ok, _, stderr) = cargo_pluto(
        moto,
        &["plan", "--manifest-path", manifest, "--stack", STACK],
    );
    assert!(
        ok && stderr.contains("note: the stack is locked"),
        "{stderr}"
    );

    // --lock-wait: waits while held, goes ahead once released.
    let waiter = cargo_pluto_on("machine-b", moto, &deploy_args(&["--lock-wait", "120"]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cargo-pluto starts");
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        forget_memory(clients, None).await,
        Some(1024),
        "the waiting deploy has not touched the stack"
    );
    held.release().await.expect("machine A releases");
    let output = tokio::task::spawn_blocking(move || waiter.wait_with_output())
        .await
        .expect("the wait joins")
        .expect("cargo-pluto finishes");
    let (ok, _, stderr) = finished(&output);
    assert!(ok, "the waiting deploy goes ahead:\n{stderr}");
    assert!(stderr.contains("waiting up to 120 s"), "{stderr}");
    assert_eq!(forget_memory(clients, None).await, Some(256), "repaired");

    // A dead holder (no release, no renewals): refused, then broken explicitly.
    drop(take().await);
    forget_memory(clients, Some(1024)).await;
    let (ok, _, stderr) = run("machine-b", &deploy_args(&[]));
    assert!(!ok && stderr.contains(&holder_pid), "{stderr}");
    let (ok, _, stderr) = run("machine-b", &deploy_args(&["--break-lock"]));
    assert!(ok, "--break-lock goes ahead:\n{stderr}");
    assert!(
        stderr.contains("breaking the lock held: deploy by") && stderr.contains(&holder_pid),
        "{stderr}"
    );
    assert_eq!(forget_memory(clients, None).await, Some(256), "repaired");

    // A run on this machine that was killed (its record names a gone process of the same host,
    // boot and pid namespace): the next run takes its lock over without any flag.
    let mut gone = Command::new("true").spawn().expect("`true` runs");
    let gone_pid = gone.id();
    gone.wait().expect("`true` ends");
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("a boot id");
    let namespace = std::fs::read_link("/proc/self/ns/pid").expect("a pid namespace");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let text = |value: &str| aws_sdk_dynamodb::types::AttributeValue::S(value.to_owned());
    let number = |value: u64| aws_sdk_dynamodb::types::AttributeValue::N(value.to_string());
    clients
        .dynamodb
        .put_item()
        .table_name(LOCK_TABLE)
        .item("lock_id", text("chatbot-history/it"))
        .item("principal", text("arn:aws:iam::123456789012:user/killed"))
        .item("host", text("machine-e"))
        .item("pid", number(u64::from(gone_pid)))
        .item("operation", text("deploy"))
        .item("acquired_at", number(now))
        .item("expires_at", number(now + 600))
        .item("run_id", text("killed-run"))
        .item(
            "process_space",
            text(&format!("{}/{}", boot.trim(), namespace.display())),
        )
        .send()
        .await
        .expect("the killed run's record is written");
    forget_memory(clients, Some(1024)).await;
    let (ok, _, stderr) = run("machine-e", &deploy_args(&[]));
    assert!(ok, "a dead local holder's lock is taken over:\n{stderr}");
    assert!(
        stderr.contains("taking over the lock of a run that is gone")
            && stderr.contains(&format!("(pid {gone_pid})")),
        "{stderr}"
    );
    assert_eq!(forget_memory(clients, None).await, Some(256), "repaired");

    // Two deploys waiting at once: they take turns, so exactly one repairs the drift.
    let held = take().await;
    forget_memory(clients, Some(1024)).await;
    let racers: Vec<_> = ["machine-c", "machine-d"]
        .into_iter()
        .map(|host| {
            cargo_pluto_on(host, moto, &deploy_args(&["--lock-wait", "120", "--json"]))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("cargo-pluto starts")
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    held.release().await.expect("machine A releases");
    let mut updates = Vec::new();
    for racer in racers {
        let output = tokio::task::spawn_blocking(move || racer.wait_with_output())
            .await
            .expect("the wait joins")
            .expect("cargo-pluto finishes");
        let (ok, stdout, stderr) = finished(&output);
        assert!(ok, "both deploys succeed:\n{stderr}");
        assert!(stderr.contains("waiting up to 120 s"), "{stderr}");
        let plan: Value = serde_json::Deserializer::from_str(&stdout)
            .into_iter::<Value>()
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("a JSON plan:\n{stdout}"));
        updates.push(
            actions(&plan)
                .into_iter()
                .filter(|(_, _, action)| action != "unchanged")
                .count(),
        );
    }
    updates.sort_unstable();
    assert_eq!(
        updates,
        [0, 1],
        "one repaired, the other found nothing to do"
    );
    assert_eq!(forget_memory(clients, None).await, Some(256));
}

#[test]
fn deploy_without_credentials_says_how_to_provide_them() {
    let binary = pluto_tests::app::build_workspace_binary("cargo-pluto");
    let manifest = manifest("langchain-llama");
    let output = Command::new(binary)
        .args([
            "pluto", "destroy", "--stack", "nocreds", "--yes", "--region", REGION,
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--endpoint-url", "http://127.0.0.1:9"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent/pluto-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/pluto-test-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .output()
        .expect("cargo-pluto runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("no usable AWS credentials"), "{stderr}");
    assert!(
        stderr.contains("AWS_ACCESS_KEY_ID"),
        "the help says what to set: {stderr}"
    );
}
