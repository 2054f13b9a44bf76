//! The AWS engine as a library against moto, with small hand-made architectures and a tiny code
//! zip (moto stores code, it never runs it): Function URL auth types and CORS from the
//! declaration, function-to-function grants, switching a URL from public to IAM, Function URL
//! invoke modes (streaming functions get `RESPONSE_STREAM`), removing a function, retrying while
//! IAM propagates a new role (injected by a proxy), and SageMaker blue/green updates.
//!
//! Minimal change is proven from the server side: tests that count calls run on their own moto
//! server with its request recorder on, and assert the exact mutating calls moto received, after
//! checking that they are exactly the calls the engine's own log says it sent (every attempt).

use pluto_aws_engine::{
    Action, Code, DesiredStack, Engine, FieldChange, LockOptions, Outputs, PreparedChange, Silent,
    StackLock,
};
use pluto_model::naming::StackNames;
use pluto_model::{
    Architecture, Function, Grant, Operation, Resource, ResourceSpec, ResponseMode, SourceLocation,
};
use pluto_spec::{Cors, EnvValue, Hosting, KvStoreSpec, ResourceKind, SagemakerSpec, UrlAuth};
use pluto_tests::fixtures::{engine, function, grant};
use pluto_tests::moto::{Moto, moto};
use pluto_tests::proxy::{Fault, FaultProxy};
use pluto_tests::recorder::{RecordedCall, Recorder};
use std::collections::BTreeMap;
use std::future::Future;

// The table of the engine's own lock record. Its writes are the only ones a deploy may make
// besides the stack's resources, and `mutating_calls_on_stack` is where they are told apart.
use pluto_aws_engine::lock::LOCK_TABLE;

/// The writes on the lock record one recorded run (a deploy or a destroy under the stack's lock,
/// as `cargo pluto` runs them) makes, as `Service:Operation`: taking it and releasing it.
const LOCK_RECORD_WRITES: &[&str] = &["DynamoDB:PutItem", "DynamoDB:DeleteItem"];

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
        version: pluto_model::ARCHITECTURE_VERSION,
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

/// Runs an async test on a thread with a large stack, in a multi-threaded runtime: the engine's
/// futures nest deeply, and in debug builds every poll frame has room for all its temporaries,
/// so a test doing several deploys can outgrow the 2 MiB of a test thread.
fn run<F: Future<Output = ()>>(test: impl FnOnce() -> F + Send + 'static) {
    let thread = std::thread::Builder::new()
        .name(
            std::thread::current()
                .name()
                .unwrap_or("engine test")
                .to_owned(),
        )
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

/// A private moto server with its request recorder, and an engine on it.
struct Recorded {
    moto: Moto,
    recorder: Recorder,
    engine: Engine,
}

impl Recorded {
    async fn start() -> Self {
        let moto = Moto::dedicated();
        let recorder = Recorder::new(moto.endpoint());
        let engine = engine(moto.endpoint()).await;
        // The first lock of an account and region creates the lock table; recorded runs then
        // find it, as every deploy but the very first does.
        StackLock::acquire(
            &engine.aws,
            &StackNames::new("engine-app", "setup").expect("names"),
            &LockOptions::new("deploy"),
            &|_, _| {},
        )
        .await
        .expect("the lock table is created")
        .release()
        .await
        .expect("released");
        Self {
            moto,
            recorder,
            engine,
        }
    }

    /// Runs `work` on `stack` under its lock (engine calls only: nothing else may call this
    /// server meanwhile) while moto records, checks that moto received exactly the calls the
    /// engine's log says it sent (each attempt, mutating or not), and returns the mutating calls
    /// on the stack's resources as `Service:Operation target`, in the order moto received them.
    async fn mutating_calls<T>(
        &self,
        stack: &str,
        work: impl Future<Output = T>,
    ) -> (T, Vec<String>) {
        let logged_before = self.engine.aws.calls.calls().len();
        self.recorder
            .restart()
            .await
            .expect("moto starts recording");
        let names = StackNames::new("engine-app", stack).expect("names");
        let lock = StackLock::acquire(
            &self.engine.aws,
            &names,
            &LockOptions::new("deploy"),
            &|_, _| {},
        )
        .await
        .expect("the stack's lock is free");
        let output = work.await;
        lock.release().await.expect("the lock is released");
        self.recorder.stop().await.expect("moto stops recording");
        let recording = self
            .recorder
            .download()
            .await
            .expect("moto's recording, every request named");
        let mut received: Vec<String> = recording.iter().map(RecordedCall::call).collect();
        let mut sent: Vec<String> = self.engine.aws.calls.calls()[logged_before..]
            .iter()
            .map(|call| format!("{}:{}", call.service, call.operation))
            .collect();
        // Concurrent calls may reach moto in another order than they were sent.
        received.sort();
        sent.sort();
        assert_eq!(
            received, sent,
            "moto received exactly the calls the engine logged"
        );
        (output, mutating_calls_on_stack(&recording))
    }

    /// A deploy (plan and apply), recorded: its outputs and its mutating calls on the stack.
    async fn deploy(
        &self,
        architecture: &Architecture,
        stack: &str,
        code: &Code,
    ) -> (Outputs, Vec<String>) {
        self.mutating_calls(stack, deploy(&self.engine, architecture, stack, code))
            .await
    }

    /// An apply of `prepared` to `stack`, recorded: its mutating calls on the stack.
    async fn apply(&self, stack: &str, prepared: PreparedChange) -> Vec<String> {
        let (_, calls) = self
            .mutating_calls(stack, async {
                self.engine
                    .apply(prepared, &Silent)
                    .await
                    .expect("the change is applied")
            })
            .await;
        calls
    }

    /// A destroy (plan and apply), recorded: its mutating calls on the stack.
    async fn destroy(&self, stack: &str) -> Vec<String> {
        let names = StackNames::new("engine-app", stack).expect("names");
        let destroy = self
            .engine
            .plan_destroy(&names)
            .await
            .expect("a destroy plan");
        let calls = self.apply(stack, destroy).await;
        let left = self
            .engine
            .plan_destroy(&names)
            .await
            .expect("a destroy plan");
        assert!(left.plan.changes.is_empty(), "{}", left.plan);
        calls
    }
}

/// The mutating calls of a recording that touch the stack's resources, as
/// `Service:Operation target`: all of them but the writes on the engine's lock record, which
/// are checked here to be exactly [`LOCK_RECORD_WRITES`].
fn mutating_calls_on_stack(recording: &[RecordedCall]) -> Vec<String> {
    let (lock, stack): (Vec<&RecordedCall>, Vec<&RecordedCall>) = recording
        .iter()
        .filter(|call| call.is_mutating())
        .partition(|call| call.target.as_deref() == Some(LOCK_TABLE));
    let lock: Vec<String> = lock.iter().map(|call| call.call()).collect();
    assert_eq!(lock, LOCK_RECORD_WRITES, "writes on the lock record");
    stack.iter().map(ToString::to_string).collect()
}

/// `calls` sorted, for steps whose resources are changed concurrently.
fn sorted(mut calls: Vec<String>) -> Vec<String> {
    calls.sort();
    calls
}

/// `expected` as owned strings, sorted.
fn sorted_owned(expected: &[&str]) -> Vec<String> {
    sorted(expected.iter().map(|call| (*call).to_owned()).collect())
}

/// The calls on these objects (by name), in order.
fn on(calls: &[String], objects: &[&str]) -> Vec<String> {
    calls
        .iter()
        .filter(|call| {
            call.split_once(' ')
                .is_some_and(|(_, target)| objects.contains(&target))
        })
        .cloned()
        .collect()
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

#[test]
fn urls_follow_the_declaration_and_changes_touch_only_what_changed() {
    run(|| async {
        let recorded = Recorded::start().await;
        let (moto, engine) = (&recorded.moto, &recorded.engine);
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
        let (outputs, _) = recorded.deploy(&first, "urls", &code).await;
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
        let prepared = plan(engine, &first, "urls", &code).await;
        assert!(prepared.plan.is_empty(), "{}", prepared.plan);
        let (_, calls) = recorded.deploy(&first, "urls", &code).await;
        assert_eq!(calls, Vec::<String>::new(), "a redeploy without changes");

        // caller: public -> iam, more memory, no longer invokes worker; worker: removed.
        let mut caller_now = function("caller", UrlAuth::Iam, Vec::new());
        caller_now.spec.memory_mb = 1024;
        let second = architecture(vec![
            with_cors(function("api", UrlAuth::Iam, Vec::new()), cors),
            caller_now,
        ]);
        let prepared = plan(engine, &second, "urls", &code).await;
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
        let calls = recorded.apply("urls", prepared).await;
        assert_eq!(
            sorted(calls.clone()),
            sorted_owned(&[
                // caller: the new policy (no invoke of worker), the URL's auth type, the two
                // statements that made the URL public, memory and env in one configuration update.
                "IAM:PutRolePolicy engine-app-urls-caller-fn",
                "Lambda:RemovePermission engine-app-urls-caller",
                "Lambda:RemovePermission engine-app-urls-caller",
                "Lambda:UpdateFunctionConfiguration engine-app-urls-caller",
                "Lambda:UpdateFunctionUrlConfig engine-app-urls-caller",
                // worker: the function, then its role.
                "IAM:DeleteRole engine-app-urls-worker-fn",
                "IAM:DeleteRolePolicy engine-app-urls-worker-fn",
                "Lambda:DeleteFunction engine-app-urls-worker",
            ]),
            "{calls:#?}"
        );
        assert_eq!(
            on(
                &calls,
                &["engine-app-urls-worker", "engine-app-urls-worker-fn"]
            ),
            [
                "Lambda:DeleteFunction engine-app-urls-worker",
                "IAM:DeleteRolePolicy engine-app-urls-worker-fn",
                "IAM:DeleteRole engine-app-urls-worker-fn",
            ],
            "the function goes first, its URL and permissions with it, then its role"
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
        let iam = aws_sdk_iam::Client::new(&moto.sdk_config().await);
        let worker_role = iam
            .get_role()
            .role_name("engine-app-urls-worker-fn")
            .send()
            .await;
        assert!(worker_role.is_err(), "the role is deleted: {worker_role:?}");

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
        let calls = recorded.destroy("urls").await;
        assert_eq!(
            sorted(calls.clone()),
            sorted_owned(&[
                "Lambda:DeleteFunction engine-app-urls-api",
                "IAM:DeleteRolePolicy engine-app-urls-api-fn",
                "IAM:DeleteRole engine-app-urls-api-fn",
                "Lambda:DeleteFunction engine-app-urls-caller",
                "IAM:DeleteRolePolicy engine-app-urls-caller-fn",
                "IAM:DeleteRole engine-app-urls-caller-fn",
            ]),
            "{calls:#?}"
        );
        let api_url = lambda
            .get_function_url_config()
            .function_name("engine-app-urls-api")
            .send()
            .await;
        assert!(
            api_url.is_err(),
            "the URL went with the function: {api_url:?}"
        );
    });
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

fn reads_url(target: &str) -> Grant {
    grant(ResourceKind::Function, target, Operation::FunctionUrl)
}

async fn function_env(lambda: &aws_sdk_lambda::Client, name: &str) -> BTreeMap<String, String> {
    lambda
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

/// `Function::url()` deployed: a function reading its own URL and another's gets both, though
/// neither exists before the deploy creates them; the next deploy changes nothing (no loop).
#[test]
fn urls_reach_the_functions_that_read_them_and_a_redeploy_changes_nothing() {
    run(|| async {
        let recorded = Recorded::start().await;
        let (moto, engine) = (&recorded.moto, &recorded.engine);
        let lambda = aws_sdk_lambda::Client::new(&moto.sdk_config().await);
        let app = architecture(vec![
            function(
                "site",
                UrlAuth::Public,
                vec![reads_url("site"), reads_url("api")],
            ),
            function("api", UrlAuth::Iam, vec![reads_url("site")]),
            function(
                "mailer",
                UrlAuth::None,
                vec![reads_url("api"), reads_url("quiet")],
            ),
            function("quiet", UrlAuth::None, Vec::new()),
        ]);
        let code = code("links");
        let (outputs, _) = recorded.deploy(&app, "links", &code).await;
        let url = |name: &str| {
            outputs
                .functions
                .iter()
                .find(|function| function.name == name)
                .and_then(|function| function.url.clone())
                .unwrap_or_else(|| panic!("{name} has a URL"))
        };
        let site = function_env(&lambda, "engine-app-links-site").await;
        assert_eq!(site.get("PLUTO_URL_SITE"), Some(&url("site")), "{site:?}");
        assert_eq!(site.get("PLUTO_URL_API"), Some(&url("api")), "{site:?}");
        let api = function_env(&lambda, "engine-app-links-api").await;
        assert_eq!(api.get("PLUTO_URL_SITE"), Some(&url("site")), "{api:?}");
        assert_eq!(
            api.get("PLUTO_URL_API"),
            None,
            "api does not read its own URL"
        );
        let mailer = function_env(&lambda, "engine-app-links-mailer").await;
        assert_eq!(mailer.get("PLUTO_URL_API"), Some(&url("api")), "{mailer:?}");
        assert!(
            !mailer.contains_key("PLUTO_URL_QUIET") && !mailer.contains_key("PLUTO_FUNCTION_QUIET"),
            "a function without a URL has none to give: {mailer:?}"
        );

        let prepared = plan(engine, &app, "links", &code).await;
        assert!(prepared.plan.is_empty(), "{}", prepared.plan);
        let (_, calls) = recorded.deploy(&app, "links", &code).await;
        assert_eq!(calls, Vec::<String>::new(), "a redeploy without changes");

        // A new function with a URL that an existing one now reads: the plan says the URL is
        // set once created, and the apply sets it with one more configuration update.
        let mut functions = app.functions.clone();
        functions.retain(|function| function.spec.name != "mailer");
        functions.push(function(
            "mailer",
            UrlAuth::None,
            vec![reads_url("api"), reads_url("docs")],
        ));
        functions.push(function("docs", UrlAuth::Public, Vec::new()));
        let grown = architecture(functions);
        let prepared = plan(engine, &grown, "links", &code).await;
        let shown = prepared.plan.to_string();
        assert!(
            shown.contains("env PLUTO_URL_DOCS") && shown.contains("(known after apply)"),
            "the plan says the URL is set once created:\n{shown}"
        );
        let (outputs, calls) = recorded.deploy(&grown, "links", &code).await;
        let docs_url = outputs
            .functions
            .iter()
            .find(|function| function.name == "docs")
            .and_then(|function| function.url.clone());
        let mailer = function_env(&lambda, "engine-app-links-mailer").await;
        assert_eq!(
            mailer.get("PLUTO_URL_DOCS"),
            docs_url.as_ref(),
            "{mailer:?}"
        );
        assert_eq!(
            on(&calls, &["engine-app-links-mailer"]),
            vec!["Lambda:UpdateFunctionConfiguration engine-app-links-mailer".to_owned()],
            "{calls:?}"
        );
        let prepared = plan(engine, &grown, "links", &code).await;
        assert!(prepared.plan.is_empty(), "{}", prepared.plan);
        recorded.destroy("links").await;
    });
}

/// The second pass (setting URLs created by this deploy) fails like any step: the function's
/// report says what is left, and the next deploy, which knows the URL, sets it.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_url_update_is_reported_and_the_next_deploy_sets_it() {
    let moto = moto();
    let failed_once = std::sync::atomic::AtomicBool::new(false);
    let proxy = FaultProxy::start(moto.endpoint(), move |seen| {
        (seen.operation.starts_with("PUT ")
            && seen
                .operation
                .ends_with("engine-app-second-reader/configuration")
            && !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst))
        .then(|| Fault {
            status: 400,
            code: "InvalidParameterValueException".to_owned(),
            message: "injected: the configuration update is refused".to_owned(),
        })
    });
    let faulty = engine(proxy.endpoint()).await;
    let app = architecture(vec![
        function("site", UrlAuth::Public, Vec::new()),
        function("reader", UrlAuth::None, vec![reads_url("site")]),
    ]);
    let code = code("second");
    let prepared = plan(&faulty, &app, "second", &code).await;
    let error = faulty
        .apply(prepared, &Silent)
        .await
        .expect_err("the second pass fails");
    let pluto_aws_engine::EngineError::Partial {
        failed, resources, ..
    } = &error
    else {
        panic!("a partial apply: {error:?}");
    };
    assert_eq!(*failed, 1);
    let reader = resources
        .iter()
        .find(|report| report.resource == "function reader")
        .expect("the reader's report");
    let pluto_aws_engine::error::ResourceOutcome::Failed { left, .. } = &reader.outcome else {
        panic!("the reader failed: {reader:?}");
    };
    assert_eq!(
        left,
        &["set PLUTO_URL_SITE on Lambda function engine-app-second-reader".to_owned()]
    );

    let engine = engine(moto.endpoint()).await;
    let prepared = plan(&engine, &app, "second", &code).await;
    let shown = prepared.plan.to_string();
    assert!(shown.contains("PLUTO_URL_SITE"), "{shown}");
    let outputs = engine
        .apply(prepared, &Silent)
        .await
        .expect("the rerun converges");
    let site_url = outputs
        .functions
        .iter()
        .find(|function| function.name == "site")
        .and_then(|function| function.url.clone());
    let lambda = aws_sdk_lambda::Client::new(&moto.sdk_config().await);
    let reader_env = function_env(&lambda, "engine-app-second-reader").await;
    assert_eq!(reader_env.get("PLUTO_URL_SITE"), site_url.as_ref());
    let prepared = plan(&engine, &app, "second", &code).await;
    assert!(prepared.plan.is_empty(), "{}", prepared.plan);
    let destroy = engine
        .plan_destroy(&StackNames::new("engine-app", "second").expect("names"))
        .await
        .expect("a destroy plan");
    engine.apply(destroy, &Silent).await.expect("destroyed");
}

#[test]
fn each_kind_of_change_makes_only_its_own_calls() {
    run(|| async {
        let recorded = Recorded::start().await;
        let config = recorded.moto.sdk_config().await;
        let (lambda, iam) = (
            aws_sdk_lambda::Client::new(&config),
            aws_sdk_iam::Client::new(&config),
        );
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let store = Resource {
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
        /// What changes from step to step.
        #[derive(Clone)]
        struct Shape<'a> {
            worker_timeout: u32,
            worker_memory: u32,
            worker_mode: &'a str,
            reader_operations: &'a [Operation],
            with_store: bool,
            with_public: bool,
        }
        let app = |shape: &Shape<'_>| {
            let mut worker = function("worker", UrlAuth::None, Vec::new());
            worker.spec.timeout_s = shape.worker_timeout;
            worker.spec.memory_mb = shape.worker_memory;
            worker.spec.env = BTreeMap::from([(
                "MODE".to_owned(),
                EnvValue::Literal(shape.worker_mode.to_owned()),
            )]);
            let reader = function(
                "reader",
                UrlAuth::Iam,
                shape
                    .reader_operations
                    .iter()
                    .map(|operation| grant(ResourceKind::KvStore, "store", *operation))
                    .collect(),
            );
            let mut functions = vec![reader, worker];
            if shape.with_public {
                functions.push(function("public", UrlAuth::Public, Vec::new()));
            }
            let mut app = architecture(functions);
            if shape.with_store {
                app.resources.push(store.clone());
            }
            app
        };
        let first = Shape {
            worker_timeout: 30,
            worker_memory: 256,
            worker_mode: "fast",
            reader_operations: &[Operation::KvGet],
            with_store: true,
            with_public: true,
        };
        let v1 = code("changes-v1");
        let v2 = code("changes-v2");
        recorded.deploy(&app(&first), "changes", &v1).await;

        let longer = Shape {
            worker_timeout: 60,
            ..first.clone()
        };
        let bigger = Shape {
            worker_memory: 512,
            ..longer.clone()
        };
        let slow = Shape {
            worker_mode: "slow",
            ..bigger.clone()
        };
        let granted = Shape {
            reader_operations: &[Operation::KvGet, Operation::KvSet],
            ..slow.clone()
        };
        let private = Shape {
            with_public: false,
            ..granted.clone()
        };
        let storeless = Shape {
            reader_operations: &[],
            with_store: false,
            ..private.clone()
        };
        let steps: [(&str, &Shape<'_>, &Code, &[&str]); 8] = [
            ("nothing", &first, &v1, &[]),
            (
                "new code",
                &first,
                &v2,
                &[
                    "Lambda:UpdateFunctionCode engine-app-changes-public",
                    "Lambda:UpdateFunctionCode engine-app-changes-reader",
                    "Lambda:UpdateFunctionCode engine-app-changes-worker",
                ],
            ),
            (
                "a longer timeout",
                &longer,
                &v2,
                &["Lambda:UpdateFunctionConfiguration engine-app-changes-worker"],
            ),
            (
                "more memory",
                &bigger,
                &v2,
                &["Lambda:UpdateFunctionConfiguration engine-app-changes-worker"],
            ),
            (
                "another env value",
                &slow,
                &v2,
                &["Lambda:UpdateFunctionConfiguration engine-app-changes-worker"],
            ),
            (
                "a new grant on a granted table",
                &granted,
                &v2,
                &["IAM:PutRolePolicy engine-app-changes-reader-fn"],
            ),
            (
                // In this order: Lambda deletes the URL and the permissions with the function.
                "a function removed",
                &private,
                &v2,
                &[
                    "Lambda:DeleteFunction engine-app-changes-public",
                    "IAM:DeleteRolePolicy engine-app-changes-public-fn",
                    "IAM:DeleteRole engine-app-changes-public-fn",
                ],
            ),
            (
                // The reader loses its grants: its policy and the table's env var.
                "a resource removed",
                &storeless,
                &v2,
                &[
                    "DynamoDB:DeleteTable engine-app-changes-store",
                    "IAM:PutRolePolicy engine-app-changes-reader-fn",
                    "Lambda:UpdateFunctionConfiguration engine-app-changes-reader",
                ],
            ),
        ];
        for (what, shape, code, expected) in steps {
            let architecture = app(shape);
            let (_, calls) = recorded.deploy(&architecture, "changes", code).await;
            if what == "a function removed" {
                assert_eq!(calls, expected, "{what}: exactly these, in this order");
            } else {
                assert_eq!(sorted(calls), sorted_owned(expected), "{what}");
            }
            let prepared = plan(&recorded.engine, &architecture, "changes", code).await;
            assert!(prepared.plan.is_empty(), "after {what}: {}", prepared.plan);
        }

        // What was removed is gone, with the function's URL and permissions.
        let gone = lambda
            .get_function()
            .function_name("engine-app-changes-public")
            .send()
            .await;
        assert!(gone.is_err(), "{gone:?}");
        let url = lambda
            .get_function_url_config()
            .function_name("engine-app-changes-public")
            .send()
            .await;
        assert!(url.is_err(), "{url:?}");
        let policy = lambda
            .get_policy()
            .function_name("engine-app-changes-public")
            .send()
            .await;
        assert!(policy.is_err(), "{policy:?}");
        let role = iam
            .get_role()
            .role_name("engine-app-changes-public-fn")
            .send()
            .await;
        assert!(role.is_err(), "{role:?}");
        let table = dynamodb
            .describe_table()
            .table_name("engine-app-changes-store")
            .send()
            .await;
        assert!(table.is_err(), "{table:?}");

        let calls = recorded.destroy("changes").await;
        assert_eq!(
            sorted(calls.clone()),
            sorted_owned(&[
                "Lambda:DeleteFunction engine-app-changes-reader",
                "IAM:DeleteRolePolicy engine-app-changes-reader-fn",
                "IAM:DeleteRole engine-app-changes-reader-fn",
                "Lambda:DeleteFunction engine-app-changes-worker",
                "IAM:DeleteRolePolicy engine-app-changes-worker-fn",
                "IAM:DeleteRole engine-app-changes-worker-fn",
            ]),
            "{calls:#?}"
        );
    });
}

/// A SageMaker endpoint `llm` on `instance_type`, and nothing else.
fn sagemaker_app(instance_type: &str) -> Architecture {
    let mut app = architecture(Vec::new());
    app.resources.push(Resource {
        spec: ResourceSpec::Sagemaker(SagemakerSpec {
            name: "llm".to_owned(),
            image: "763104351884.dkr.ecr.us-east-1.amazonaws.com/\
                    huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04"
                .to_owned(),
            hosting: Hosting::Instances {
                instance_type: instance_type.to_owned(),
                initial_instance_count: 1,
            },
            env: BTreeMap::from([(
                "HF_MODEL_ID".to_owned(),
                EnvValue::Literal("TinyLlama/TinyLlama-1.1B-Chat-v1.0".to_owned()),
            )]),
        }),
        rust_path: "app::llm".to_owned(),
        source: SourceLocation {
            file: "src/main.rs".to_owned(),
            line: 1,
            column: 1,
        },
    });
    app
}

#[test]
fn a_new_instance_type_is_a_blue_green_update_of_the_endpoint() {
    run(|| async {
        let recorded = Recorded::start().await;
        let sagemaker = aws_sdk_sagemaker::Client::new(&recorded.moto.sdk_config().await);
        let code = code("bluegreen");
        let (blue, _) = recorded
            .deploy(&sagemaker_app("ml.m5.xlarge"), "bluegreen", &code)
            .await;
        let [blue] = blue.endpoints.as_slice() else {
            panic!("one endpoint: {blue:#?}");
        };
        assert_eq!(blue.endpoint_name, "engine-app-bluegreen-llm");

        let green_app = sagemaker_app("ml.m5.2xlarge");
        let prepared = plan(&recorded.engine, &green_app, "bluegreen", &code).await;
        let text = prepared.plan.to_string();
        let created: Vec<&str> = prepared
            .plan
            .changes
            .iter()
            .filter(|change| change.action == Action::Create)
            .map(|change| change.object_type)
            .collect();
        assert_eq!(created, ["SageMaker endpoint config"], "{text}");
        let (green, calls) = recorded.deploy(&green_app, "bluegreen", &code).await;
        let [green] = green.endpoints.as_slice() else {
            panic!("one endpoint: {green:#?}");
        };
        for expected in [
            format!(
                "+ create    SageMaker endpoint config {}",
                green.config_name
            ),
            format!("~ update    SageMaker endpoint {}", green.endpoint_name),
            format!("config: {} -> {}", blue.config_name, green.config_name),
            format!("- delete    SageMaker endpoint config {}", blue.config_name),
            "1 to create, 1 to update, 1 to delete".to_owned(),
        ] {
            assert!(text.contains(&expected), "`{expected}` in\n{text}");
        }
        assert_eq!(green.model_name, blue.model_name, "the model is unchanged");
        assert_ne!(green.config_name, blue.config_name, "a new configuration");
        assert_eq!(
            calls,
            [
                format!("SageMaker:CreateEndpointConfig {}", green.config_name),
                format!("SageMaker:UpdateEndpoint {}", green.endpoint_name),
                format!("SageMaker:DeleteEndpointConfig {}", blue.config_name),
            ],
            "new config, endpoint pointed at it, old config deleted: nothing else"
        );

        let endpoint = sagemaker
            .describe_endpoint()
            .endpoint_name(&green.endpoint_name)
            .send()
            .await
            .expect("the endpoint exists");
        assert_eq!(
            endpoint.endpoint_config_name(),
            Some(green.config_name.as_str())
        );
        assert_eq!(
            endpoint.endpoint_status().map(|s| s.as_str()),
            Some("InService")
        );
        let config = sagemaker
            .describe_endpoint_config()
            .endpoint_config_name(&green.config_name)
            .send()
            .await
            .expect("the new configuration exists");
        let variants = config.production_variants();
        assert_eq!(variants.len(), 1, "{variants:?}");
        assert_eq!(
            variants[0].instance_type().map(|t| t.as_str()),
            Some("ml.m5.2xlarge")
        );
        assert_eq!(variants[0].model_name(), Some(blue.model_name.as_str()));
        let old = sagemaker
            .describe_endpoint_config()
            .endpoint_config_name(&blue.config_name)
            .send()
            .await;
        assert!(
            format!("{old:?}").contains("Could not find"),
            "the old configuration is deleted: {old:?}"
        );
        sagemaker
            .describe_model()
            .model_name(&blue.model_name)
            .send()
            .await
            .expect("the model is kept");

        // Nothing changed since: nothing is written.
        let (_, calls) = recorded.deploy(&green_app, "bluegreen", &code).await;
        assert_eq!(calls, Vec::<String>::new(), "a redeploy without changes");

        let calls = recorded.destroy("bluegreen").await;
        assert_eq!(
            calls,
            [
                "SageMaker:DeleteEndpoint engine-app-bluegreen-llm".to_owned(),
                format!("SageMaker:DeleteEndpointConfig {}", green.config_name),
                format!("SageMaker:DeleteModel {}", green.model_name),
                "IAM:DeleteRolePolicy engine-app-bluegreen-llm-sm".to_owned(),
                "IAM:DeleteRole engine-app-bluegreen-llm-sm".to_owned(),
            ],
            "{calls:#?}"
        );
    });
}

/// What the proxy of the silent-endpoint test leaves unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Silence {
    Nothing,
    /// Every request for this operation (as the proxy names it).
    Operation(&'static str),
    Everything,
}

/// The error of the call that got no answer in `error`: `error` itself, the read of a failed
/// plan, or the failed resource of a partial apply.
fn unanswered(error: &pluto_aws_engine::EngineError) -> Option<&pluto_aws_engine::EngineError> {
    use pluto_aws_engine::EngineError;
    use pluto_aws_engine::error::ResourceOutcome;
    match error {
        EngineError::NoAnswer { .. } => Some(error),
        EngineError::ReadFailed { error } => unanswered(error),
        EngineError::Partial { resources, .. } => {
            resources
                .iter()
                .find_map(|resource| match &resource.outcome {
                    ResourceOutcome::Failed { error, .. } => unanswered(error),
                    _ => None,
                })
        }
        _ => None,
    }
}

/// Checks that `error` reports `operation` on an object named like `object` as unanswered
/// `within` (e.g. `within 0.5 s`), with help on what to check; prints how long it took.
fn assert_unanswered(
    case: &str,
    started: std::time::Instant,
    error: &pluto_aws_engine::EngineError,
    operation: Option<&str>,
    object: &str,
    within: &str,
) {
    eprintln!(
        "[silent endpoint] {case}: failed after {:.2} s: {error}",
        started.elapsed().as_secs_f64()
    );
    let Some(pluto_aws_engine::EngineError::NoAnswer {
        operation: unanswered_operation,
        object: unanswered_object,
        message,
        ..
    }) = unanswered(error)
    else {
        panic!("{case}: not an unanswered call: {error:?}");
    };
    if let Some(operation) = operation {
        assert_eq!(*unanswered_operation, operation, "{case}: {error}");
    }
    assert!(
        unanswered_operation.contains(':') && unanswered_object.contains(object),
        "{case}: names the call and its object: {error}"
    );
    assert!(message.contains(within), "{case}: {message}");
    let help = miette::Diagnostic::help(unanswered(error).expect("the unanswered call"))
        .map(|help| help.to_string())
        .unwrap_or_default();
    eprintln!("[silent endpoint] {case}: help: {help}");
    assert!(
        help.contains(&format!("did not answer {unanswered_operation} {within}"))
            && help.contains("--endpoint-url")
            && help.contains("region"),
        "{case}: the help says what to check: {help}"
    );
}

/// Issue 13, item 6: AWS calls had no read or operation timeout, so a plan or deploy against an
/// endpoint that accepts connections and never answers waited forever, printing nothing. Now
/// every client has timeouts, a call that runs into them is retried like throttling, and the
/// error names the call and its object, how long it waited and what to check.
///
/// Through a proxy that reads requests and never answers them — one operation, then every
/// request — with half-second timeouts: a plan, a deploy, the stack's lock and connecting each
/// fail with such an error. How long each took is printed, not asserted; a generous guard fails
/// the test, rather than letting it hang, if a call does hang.
#[test]
fn regression_deploys_never_hang_a_silent_endpoint_fails_within_its_timeout() {
    run(|| async {
        let guard = std::time::Duration::from_secs(240);
        if tokio::time::timeout(guard, silent_endpoint_fails_every_command())
            .await
            .is_err()
        {
            panic!(
                "still running after {} s: a call to a silent endpoint hangs despite the timeouts",
                guard.as_secs()
            );
        }
    });
}

async fn silent_endpoint_fails_every_command() {
    use aws_config::retry::RetryConfig;
    use pluto_aws_engine::connect::{MAX_ATTEMPTS, Timeouts, from_config_with_timeouts};
    use pluto_aws_engine::{EngineError, LockError, WaitPolicy};
    use pluto_tests::proxy::{Injection, Seen};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::{Duration, Instant};

    let moto = moto();
    let silence = Arc::new(Mutex::new(Silence::Nothing));
    let silence_now = |now: Silence| *silence.lock().unwrap_or_else(PoisonError::into_inner) = now;
    let proxy = FaultProxy::start(moto.endpoint(), {
        let silence = silence.clone();
        move |seen: &Seen| {
            let silent = match *silence.lock().unwrap_or_else(PoisonError::into_inner) {
                Silence::Nothing => false,
                Silence::Operation(operation) => seen.operation == operation,
                Silence::Everything => true,
            };
            silent.then_some(Injection::NeverAnswer)
        }
    });
    let attempts = |operation: &str| proxy.count(operation);
    // The engine's retries, with millisecond pauses.
    let config = pluto_tests::moto::sdk_config_for(proxy.endpoint())
        .await
        .into_builder()
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(20)),
        )
        .build();
    // Each attempt's read times out first; all six fit in the operation's time.
    let timeouts = Timeouts {
        // Short, but with room for moto on a loaded machine: the calls that are answered must
        // not time out.
        connect: Duration::from_millis(1500),
        read: Duration::from_millis(1500),
        attempt: Duration::from_secs(3),
        operation: Duration::from_secs(10),
    };
    let within = "within 1.5 s";
    let mut engine = Engine::new(
        from_config_with_timeouts(&config, timeouts)
            .await
            .expect("the engine connects while the proxy answers"),
    );
    engine.wait = WaitPolicy::fast();
    assert_eq!(engine.aws.timeouts, timeouts);
    let app = architecture(vec![function("solo", UrlAuth::Iam, Vec::new())]);
    let code = code("silent");
    let names = StackNames::new("engine-app", "silent").expect("names");
    let desired = || {
        DesiredStack::new(
            &app,
            names.clone(),
            engine.aws.target.clone(),
            &code,
            &|_| None,
        )
        .expect("a desired stack")
    };

    // A plan whose read of the function's role is never answered.
    silence_now(Silence::Operation("GetRole"));
    let started = Instant::now();
    let error = engine
        .plan_deploy(desired())
        .await
        .expect_err("the plan fails");
    assert_unanswered(
        "plan, iam:GetRole unanswered",
        started,
        &error,
        Some("iam:GetRole"),
        "engine-app-silent-solo-fn",
        within,
    );
    assert_eq!(
        attempts("GetRole"),
        MAX_ATTEMPTS as usize,
        "each attempt timed out and was retried: {:#?}",
        proxy.seen()
    );

    // A deploy whose CreateFunction is never answered: the role is made, the function is not.
    silence_now(Silence::Operation("POST /2015-03-31/functions"));
    let prepared = plan(&engine, &app, "silent", &code).await;
    let started = Instant::now();
    let error = engine
        .apply(prepared, &Silent)
        .await
        .expect_err("the deploy fails");
    assert_unanswered(
        "deploy, lambda:CreateFunction unanswered",
        started,
        &error,
        Some("lambda:CreateFunction"),
        "engine-app-silent-solo",
        within,
    );
    assert!(
        matches!(error, EngineError::Partial { .. }),
        "the report of the apply: {error:?}"
    );
    assert_eq!(
        attempts("POST /2015-03-31/functions"),
        MAX_ATTEMPTS as usize,
        "each attempt timed out and was retried"
    );

    // Nothing answered: a plan fails at its first read, a deploy at taking the lock.
    silence_now(Silence::Everything);
    let started = Instant::now();
    let error = engine
        .plan_deploy(desired())
        .await
        .expect_err("the plan fails");
    assert_unanswered("plan, nothing answered", started, &error, None, "", within);
    let started = Instant::now();
    let error = StackLock::acquire(&engine.aws, &names, &LockOptions::new("deploy"), &|_, _| {})
        .await
        .expect_err("the lock cannot be taken");
    eprintln!(
        "[silent endpoint] deploy (taking the lock), nothing answered: failed after {:.2} s: {error}",
        started.elapsed().as_secs_f64()
    );
    match &error {
        LockError::AcquireFailed {
            operation, message, ..
        } => assert!(
            *operation == "dynamodb:PutItem" && message.contains(within),
            "{error}"
        ),
        other => panic!("not a failed acquire: {other:?}"),
    }

    // Connecting, with an operation timeout shorter than the attempts: it ends the retries.
    let started = Instant::now();
    let error = from_config_with_timeouts(
        &config,
        Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
            attempt: Duration::from_secs(2),
            operation: Duration::from_millis(1500),
        },
    )
    .await
    .expect_err("connecting fails");
    assert_unanswered(
        "connect, nothing answered",
        started,
        &error,
        Some("sts:GetCallerIdentity"),
        "the caller",
        "within 1.5 s",
    );
    assert!(error.to_string().contains("operation timeout"), "{error}");

    // The half-made stack goes.
    silence_now(Silence::Nothing);
    let destroy = engine.plan_destroy(&names).await.expect("a destroy plan");
    engine
        .apply(destroy, &Silent)
        .await
        .expect("the half-made stack is destroyed");
}

/// `function` answering with `response`.
fn answering(mut function: Function, response: ResponseMode) -> Function {
    function.response = response;
    function
}

/// The `InvokeMode` moto reports for the URL of the Lambda function `name`.
async fn invoke_mode(lambda: &aws_sdk_lambda::Client, name: &str) -> String {
    lambda
        .get_function_url_config()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|error| panic!("{name} has a URL: {error:?}"))
        .invoke_mode()
        .map(|mode| mode.as_str().to_owned())
        .unwrap_or_default()
}

#[test]
fn streaming_functions_get_response_stream_urls_and_a_switch_is_one_url_update() {
    run(|| async {
        let recorded = Recorded::start().await;
        let (moto, engine) = (&recorded.moto, &recorded.engine);
        let lambda = aws_sdk_lambda::Client::new(&moto.sdk_config().await);
        let first = architecture(vec![
            answering(
                function("stream", UrlAuth::Public, Vec::new()),
                ResponseMode::Stream,
            ),
            function("answer", UrlAuth::Iam, Vec::new()),
        ]);
        let code = code("streaming");
        let (outputs, _) = recorded.deploy(&first, "streams", &code).await;
        assert_eq!(
            invoke_mode(&lambda, "engine-app-streams-stream").await,
            ResponseMode::Stream.invoke_mode()
        );
        assert_eq!(
            invoke_mode(&lambda, "engine-app-streams-answer").await,
            ResponseMode::Buffered.invoke_mode()
        );
        let responses: BTreeMap<&str, ResponseMode> = outputs
            .functions
            .iter()
            .map(|function| (function.name.as_str(), function.response))
            .collect();
        assert_eq!(
            responses,
            BTreeMap::from([
                ("answer", ResponseMode::Buffered),
                ("stream", ResponseMode::Stream)
            ])
        );

        // Nothing changed: the invoke modes read back as deployed, and nothing is written.
        let prepared = plan(engine, &first, "streams", &code).await;
        assert!(prepared.plan.is_empty(), "{}", prepared.plan);
        let (_, calls) = recorded.deploy(&first, "streams", &code).await;
        assert_eq!(calls, Vec::<String>::new(), "a redeploy without changes");

        // `answer` starts streaming: its URL's invoke mode is the one change.
        let second = architecture(vec![
            answering(
                function("stream", UrlAuth::Public, Vec::new()),
                ResponseMode::Stream,
            ),
            answering(
                function("answer", UrlAuth::Iam, Vec::new()),
                ResponseMode::Stream,
            ),
        ]);
        let prepared = plan(engine, &second, "streams", &code).await;
        let changed: Vec<(String, Action)> = prepared
            .plan
            .changes
            .iter()
            .filter(|change| change.action != Action::Unchanged)
            .map(|change| (change.object(), change.action.clone()))
            .collect();
        assert_eq!(
            changed,
            [(
                "Function URL of engine-app-streams-answer".to_owned(),
                Action::Update(vec![FieldChange::new(
                    "invoke mode",
                    "BUFFERED",
                    "RESPONSE_STREAM"
                )])
            )],
            "{}",
            prepared.plan
        );
        assert!(
            prepared
                .plan
                .to_string()
                .contains("invoke mode: BUFFERED -> RESPONSE_STREAM"),
            "{}",
            prepared.plan
        );
        let calls = recorded.apply("streams", prepared).await;
        assert_eq!(
            calls,
            ["Lambda:UpdateFunctionUrlConfig engine-app-streams-answer"]
        );
        assert_eq!(
            invoke_mode(&lambda, "engine-app-streams-answer").await,
            ResponseMode::Stream.invoke_mode()
        );
        let prepared = plan(engine, &second, "streams", &code).await;
        assert!(prepared.plan.is_empty(), "{}", prepared.plan);

        // And back: buffered again, with the same one call.
        let prepared = plan(engine, &first, "streams", &code).await;
        assert!(
            prepared
                .plan
                .to_string()
                .contains("invoke mode: RESPONSE_STREAM -> BUFFERED"),
            "{}",
            prepared.plan
        );
        let calls = recorded.apply("streams", prepared).await;
        assert_eq!(
            calls,
            ["Lambda:UpdateFunctionUrlConfig engine-app-streams-answer"]
        );
        assert_eq!(
            invoke_mode(&lambda, "engine-app-streams-answer").await,
            ResponseMode::Buffered.invoke_mode()
        );
    });
}
