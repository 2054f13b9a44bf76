//! The AWS engine as a library against moto, with small hand-made architectures and a tiny code
//! zip (moto stores code, it never runs it): Function URL auth types and CORS from the
//! declaration, function-to-function grants, switching a URL from public to IAM, removing a
//! function, and retrying while IAM propagates a new role (injected by a proxy).

use pluto_aws_engine::{Action, Code, DesiredStack, Engine, Outputs, PreparedChange, Silent};
use pluto_deducer::naming::StackNames;
use pluto_deducer::{Architecture, Function, Grant, Operation, SourceLocation};
use pluto_spec::{Cors, EnvValue, KvStoreSpec, ResourceKind, ResourceSpec, UrlAuth};
use pluto_tests::fixtures::{engine, function, grant};
use pluto_tests::moto::moto;
use pluto_tests::proxy::{Fault, FaultProxy};
use std::collections::BTreeMap;

/// A small stand-in `bootstrap`, different per `tag`.
fn code(tag: &str) -> Code {
    pluto_tests::fixtures::code(format!("#!/bin/sh\n# {tag}\n").as_bytes(), tag)
}

/// `function` with these CORS settings.
fn with_cors(mut function: Function, cors: Cors) -> Function {
    function.spec.cors = Some(cors);
    function
}

fn invoke(target: &str) -> Grant {
    grant(ResourceKind::Function, target, Operation::FunctionInvoke)
}

fn architecture(functions: Vec<Function>) -> Architecture {
    Architecture {
        version: pluto_deducer::ARCHITECTURE_VERSION,
        project: "engine-app".to_owned(),
        resources: Vec::new(),
        functions,
    }
}

async fn plan(
    engine: &Engine,
    architecture: &Architecture,
    stack: &str,
    code: &Code,
) -> PreparedChange {
    let names = StackNames::new(&architecture.project, stack).expect("valid names");
    let desired = DesiredStack::new(
        architecture,
        names,
        engine.aws.target.clone(),
        code,
        &|_| None,
    )
    .expect("a desired stack");
    engine.plan_deploy(desired).await.expect("a plan")
}

async fn deploy(engine: &Engine, architecture: &Architecture, stack: &str, code: &Code) -> Outputs {
    let prepared = plan(engine, architecture, stack, code).await;
    engine
        .apply(prepared, &Silent)
        .await
        .expect("the deploy succeeds")
}

/// Mutating calls recorded since `from` (an index into the engine's call log).
fn mutating_since(engine: &Engine, from: usize) -> Vec<String> {
    let mut calls: Vec<String> = engine.aws.calls.calls()[from..]
        .iter()
        .filter(|call| call.is_mutating())
        .map(|call| format!("{}:{}", call.service, call.operation))
        .collect();
    calls.sort();
    calls
}

#[tokio::test(flavor = "multi_thread")]
async fn create_function_is_retried_while_lambda_cannot_assume_the_new_role() {
    let moto = moto();
    let rejected = std::sync::atomic::AtomicBool::new(false);
    let proxy = FaultProxy::start(moto.endpoint(), move |seen| {
        (seen.operation == "POST /2015-03-31/functions"
            && !rejected.swap(true, std::sync::atomic::Ordering::SeqCst))
        .then(|| Fault {
            status: 400,
            code: "InvalidParameterValueException".to_owned(),
            message: "The role defined for the function cannot be assumed by Lambda.".to_owned(),
        })
    });
    let engine = engine(proxy.endpoint()).await;
    let app = architecture(vec![function("solo", UrlAuth::Iam, Vec::new())]);
    let outputs = deploy(&engine, &app, "retry", &code("retry")).await;
    assert_eq!(outputs.functions.len(), 1);
    assert_eq!(
        proxy.count("POST /2015-03-31/functions"),
        2,
        "one rejected CreateFunction, one that succeeded: {:#?}",
        proxy.seen()
    );

    // Any other CreateFunction error is not retried.
    let proxy = FaultProxy::start(moto.endpoint(), |seen| {
        (seen.operation == "POST /2015-03-31/functions").then(|| Fault {
            status: 400,
            code: "InvalidParameterValueException".to_owned(),
            message: "Unzipped size must be smaller than 262144000 bytes".to_owned(),
        })
    });
    let engine = pluto_tests::fixtures::engine(proxy.endpoint()).await;
    let app = architecture(vec![function("big", UrlAuth::Iam, Vec::new())]);
    let prepared = plan(&engine, &app, "noretry", &code("noretry")).await;
    let error = engine
        .apply(prepared, &Silent)
        .await
        .expect_err("the deploy fails");
    let report = format!("{:?}", miette::Report::new(error));
    assert!(
        report.contains("lambda:CreateFunction") && report.contains("Unzipped size"),
        "{report}"
    );
    assert_eq!(proxy.count("POST /2015-03-31/functions"), 1);
    let destroy = engine
        .plan_destroy(&StackNames::new("engine-app", "noretry").expect("names"))
        .await
        .expect("a destroy plan");
    engine
        .apply(destroy, &Silent)
        .await
        .expect("the half-made stack is destroyed");
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_follow_the_declaration_and_changes_touch_only_what_changed() {
    let moto = moto();
    let engine = engine(moto.endpoint()).await;
    let lambda = aws_sdk_lambda::Client::new(&moto.sdk_config().await);
    let cors = Cors {
        allow_origins: vec!["https://example.com".to_owned()],
        allow_methods: vec!["GET".to_owned(), "POST".to_owned()],
        allow_headers: vec!["content-type".to_owned()],
        expose_headers: vec!["x-request-id".to_owned()],
        max_age_s: Some(300),
        allow_credentials: true,
    };
    let first = architecture(vec![
        with_cors(function("api", UrlAuth::Iam, Vec::new()), cors.clone()),
        function("caller", UrlAuth::Public, vec![invoke("worker")]),
        function("worker", UrlAuth::None, Vec::new()),
    ]);
    let code = code("urls");
    let outputs = deploy(&engine, &first, "urls", &code).await;
    let by_name: BTreeMap<&str, &pluto_aws_engine::engine::FunctionOutput> = outputs
        .functions
        .iter()
        .map(|function| (function.name.as_str(), function))
        .collect();
    assert_eq!(by_name["api"].url_auth, "iam");
    assert_eq!(by_name["worker"].url, None);
    assert_eq!(by_name["worker"].url_auth, "none");

    let api = lambda
        .get_function_url_config()
        .function_name("engine-app-urls-api")
        .send()
        .await
        .expect("api has a URL");
    assert_eq!(api.auth_type().as_str(), "AWS_IAM");
    assert_eq!(Some(api.function_url()), by_name["api"].url.as_deref());
    let live_cors = api.cors().expect("CORS is configured");
    assert_eq!(live_cors.allow_origins(), ["https://example.com"]);
    assert_eq!(live_cors.allow_methods(), ["GET", "POST"]);
    assert_eq!(live_cors.allow_headers(), ["content-type"]);
    assert_eq!(live_cors.expose_headers(), ["x-request-id"]);
    assert_eq!(live_cors.max_age(), Some(300));
    assert_eq!(live_cors.allow_credentials(), Some(true));
    let api_policy = lambda
        .get_policy()
        .function_name("engine-app-urls-api")
        .send()
        .await;
    assert!(
        api_policy.is_err()
            || !api_policy
                .as_ref()
                .is_ok_and(|p| p.policy().unwrap_or_default().contains("PlutoPublic")),
        "an IAM URL has no public permission: {api_policy:?}"
    );
    let worker_url = lambda
        .get_function_url_config()
        .function_name("engine-app-urls-worker")
        .send()
        .await;
    assert!(
        worker_url.is_err(),
        "url = \"none\" creates no URL: {worker_url:?}"
    );
    let caller = lambda
        .get_function_configuration()
        .function_name("engine-app-urls-caller")
        .send()
        .await
        .expect("caller exists");
    let caller_env = caller
        .environment()
        .and_then(|env| env.variables())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        caller_env.get("PLUTO_FUNCTION_WORKER").map(String::as_str),
        Some("engine-app-urls-worker")
    );

    // Nothing changed: nothing is written.
    let before = engine.aws.calls.calls().len();
    let prepared = plan(&engine, &first, "urls", &code).await;
    assert!(prepared.plan.is_empty(), "{}", prepared.plan);
    deploy(&engine, &first, "urls", &code).await;
    assert_eq!(mutating_since(&engine, before), Vec::<String>::new());

    // caller: public -> iam, more memory, no longer invokes worker; worker: removed.
    let mut caller_now = function("caller", UrlAuth::Iam, Vec::new());
    caller_now.spec.memory_mb = 1024;
    let second = architecture(vec![
        with_cors(function("api", UrlAuth::Iam, Vec::new()), cors),
        caller_now,
    ]);
    let before = engine.aws.calls.calls().len();
    let prepared = plan(&engine, &second, "urls", &code).await;
    let changed: Vec<(String, String)> = prepared
        .plan
        .changes
        .iter()
        .filter(|change| change.action != Action::Unchanged)
        .map(|change| (change.object(), format!("{:?}", change.action)))
        .collect();
    assert_eq!(changed.len(), 5, "{}", prepared.plan);
    let text = prepared.plan.to_string();
    for expected in [
        "memory_mb: 256 -> 1024",
        "url auth: NONE -> AWS_IAM",
        "permission PlutoPublicUrl: present -> absent",
        "- delete    Lambda function engine-app-urls-worker",
        "- delete    IAM role engine-app-urls-worker-fn",
        "env.PLUTO_FUNCTION_WORKER: \"engine-app-urls-worker\" -> (unset)",
    ] {
        assert!(text.contains(expected), "`{expected}` in\n{text}");
    }
    engine
        .apply(prepared, &Silent)
        .await
        .expect("the update succeeds");
    assert_eq!(
        mutating_since(&engine, before),
        [
            "IAM:DeleteRole",
            "IAM:DeleteRolePolicy",
            "IAM:PutRolePolicy",
            "Lambda:DeleteFunction",
            "Lambda:RemovePermission",
            "Lambda:RemovePermission",
            "Lambda:UpdateFunctionConfiguration",
            "Lambda:UpdateFunctionUrlConfig",
        ]
    );
    let caller_url = lambda
        .get_function_url_config()
        .function_name("engine-app-urls-caller")
        .send()
        .await
        .expect("caller keeps its URL");
    assert_eq!(caller_url.auth_type().as_str(), "AWS_IAM");
    let caller_policy = lambda
        .get_policy()
        .function_name("engine-app-urls-caller")
        .send()
        .await;
    assert!(
        caller_policy.as_ref().map_or(true, |p| !p
            .policy()
            .unwrap_or_default()
            .contains("PlutoPublic")),
        "public permissions are removed: {caller_policy:?}"
    );
    assert!(
        lambda
            .get_function()
            .function_name("engine-app-urls-worker")
            .send()
            .await
            .is_err()
    );

    let destroy = engine
        .plan_destroy(&StackNames::new("engine-app", "urls").expect("names"))
        .await
        .expect("a destroy plan");
    assert!(
        destroy
            .plan
            .changes
            .iter()
            .all(|change| change.action == Action::Delete)
    );
    assert_eq!(destroy.plan.changes.len(), 4, "{}", destroy.plan);
    engine.apply(destroy, &Silent).await.expect("destroyed");
    let left = engine
        .plan_destroy(&StackNames::new("engine-app", "urls").expect("names"))
        .await
        .expect("a destroy plan");
    assert!(left.plan.changes.is_empty(), "{}", left.plan);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_reach_the_function_but_never_the_plan() {
    let moto = moto();
    let engine = engine(moto.endpoint()).await;
    let lambda = aws_sdk_lambda::Client::new(&moto.sdk_config().await);
    let mut vault = function("vault", UrlAuth::None, Vec::new());
    vault.spec.env = BTreeMap::from([
        (
            "TOKEN".to_owned(),
            EnvValue::FromDeployEnv("VAULT_TOKEN".to_owned()),
        ),
        ("MODE".to_owned(), EnvValue::Literal("strict".to_owned())),
    ]);
    let app = architecture(vec![vault]);
    let names = StackNames::new(&app.project, "secrets").expect("names");
    let code = code("secrets");
    let desired = |token: &'static str| {
        DesiredStack::new(
            &app,
            names.clone(),
            engine.aws.target.clone(),
            &code,
            &move |var| (var == "VAULT_TOKEN").then(|| token.to_owned()),
        )
    };

    let missing = DesiredStack::new(
        &app,
        names.clone(),
        engine.aws.target.clone(),
        &code,
        &|_| None,
    )
    .expect_err("a missing secret stops the deploy");
    assert!(missing.to_string().contains("`VAULT_TOKEN`"), "{missing}");

    for (token, previous) in [
        ("tok-first-1234", None),
        ("tok-second-5678", Some("tok-first-1234")),
    ] {
        let prepared = engine
            .plan_deploy(desired(token).expect("desired"))
            .await
            .expect("a plan");
        let shown = format!(
            "{}\n{}\n{:?}",
            prepared.plan,
            serde_json::to_string(&prepared.plan).expect("JSON"),
            prepared.plan
        );
        for secret in std::iter::once(token).chain(previous) {
            assert!(!shown.contains(secret), "the plan shows a secret:\n{shown}");
        }
        if previous.is_some() {
            assert!(shown.contains("env.TOKEN: (secret) -> (secret)"), "{shown}");
        }
        engine.apply(prepared, &Silent).await.expect("deployed");
        let env = lambda
            .get_function_configuration()
            .function_name("engine-app-secrets-vault")
            .send()
            .await
            .expect("the function exists")
            .environment()
            .and_then(|env| env.variables())
            .cloned()
            .unwrap_or_default();
        assert_eq!(env.get("TOKEN").map(String::as_str), Some(token));
        assert_eq!(env.get("MODE").map(String::as_str), Some("strict"));
    }

    // The secret is no longer declared: the plan still never shows the value that is in AWS.
    let plain = architecture(vec![function("vault", UrlAuth::None, Vec::new())]);
    let prepared = plan(&engine, &plain, "secrets", &code).await;
    let shown = format!("{}\n{:?}", prepared.plan, prepared);
    assert!(!shown.contains("tok-second-5678"), "{shown}");
    assert!(shown.contains("env.TOKEN: (hidden) -> (unset)"), "{shown}");
    assert!(shown.contains("env.MODE: (hidden) -> (unset)"), "{shown}");

    let destroy = engine.plan_destroy(&names).await.expect("a destroy plan");
    engine.apply(destroy, &Silent).await.expect("destroyed");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_change_makes_only_its_own_calls() {
    let moto = moto();
    let engine = engine(moto.endpoint()).await;
    let store = pluto_deducer::Resource {
        spec: ResourceSpec::KvStore(KvStoreSpec {
            name: "store".to_owned(),
        }),
        rust_path: "app::store".to_owned(),
        source: SourceLocation {
            file: "src/main.rs".to_owned(),
            line: 1,
            column: 1,
        },
    };
    let app = |worker_timeout: u32, reader_operations: &[Operation]| {
        let mut worker = function("worker", UrlAuth::None, Vec::new());
        worker.spec.timeout_s = worker_timeout;
        let reader = function(
            "reader",
            UrlAuth::Iam,
            reader_operations
                .iter()
                .map(|operation| grant(ResourceKind::KvStore, "store", *operation))
                .collect(),
        );
        let mut app = architecture(vec![reader, worker]);
        app.resources.push(store.clone());
        app
    };
    let v1 = code("changes-v1");
    deploy(&engine, &app(30, &[Operation::KvGet]), "changes", &v1).await;

    let steps: [(&str, Architecture, &Code, &[&str]); 3] = [
        (
            "new code",
            app(30, &[Operation::KvGet]),
            &code("changes-v2"),
            &["Lambda:UpdateFunctionCode", "Lambda:UpdateFunctionCode"],
        ),
        (
            "a longer timeout",
            app(60, &[Operation::KvGet]),
            &code("changes-v2"),
            &["Lambda:UpdateFunctionConfiguration"],
        ),
        (
            "a new grant on a granted table",
            app(60, &[Operation::KvGet, Operation::KvSet]),
            &code("changes-v2"),
            &["IAM:PutRolePolicy"],
        ),
    ];
    for (what, architecture, code, expected) in steps {
        let before = engine.aws.calls.calls().len();
        deploy(&engine, &architecture, "changes", code).await;
        assert_eq!(mutating_since(&engine, before), expected, "{what}");
        let prepared = plan(&engine, &architecture, "changes", code).await;
        assert!(prepared.plan.is_empty(), "after {what}: {}", prepared.plan);
    }
    let destroy = engine
        .plan_destroy(&StackNames::new("engine-app", "changes").expect("names"))
        .await
        .expect("a destroy plan");
    engine.apply(destroy, &Silent).await.expect("destroyed");
}
