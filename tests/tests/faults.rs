//! Fault tolerance of the AWS engine: a whole deploy of the `langchain-llama` example (deduced;
//! a fake code zip) to moto, and a whole destroy of it, through a fault-injecting proxy that fails
//! each request in turn, in each way AWS can fail:
//!
//! - a throttling or 5xx answer (in each service's protocol), a connection dropped before the
//!   request reached AWS, or a response lost after AWS did the request;
//! - **transient**: only that request fails, once. The SDK retries it (the proxy sees it again),
//!   and the run must succeed with exactly the state of a clean run — except after a lost
//!   response, where the run may fail (then with the clear report, and a plain re-run must
//!   converge);
//! - **outage**: that request fails on every attempt, so the call gives up and the run fails
//!   (except that after a lost response the engine may see that the call took effect): the error
//!   must report what was and was not done (naming the failed resource and step), a plain re-run
//!   must converge to the state of a clean run, and a third run must change nothing.
//!
//! "The state" is a normalized snapshot of everything in moto (`fixtures::account_state`),
//! compared whole, so duplicates and orphans show as well as wrong values.
//!
//! The example's architecture gets a bucket and a secret if it declares none, so every create
//! and delete of the engine is swept: the bucket (created tagged, then made private, encrypted
//! and versioned), the secret; and a destroy finds data in them (objects in the bucket, a value
//! in the secret), so it empties the bucket and deletes with `--delete-data`.
//!
//! Requests are named by their content (operation, path, body) and the how-manieth identical one
//! they are, not by their position: the engine works on resources (and reads) concurrently, so
//! positions vary from run to run while contents do not. For the same reason "the request was
//! retried" means the same request was sent again later, not necessarily right after.
//!
//! This binary has a single test, so it owns its moto server and resets it between cases.
//! `PLUTO_FAULTS_ONLY=Deploy/Outage/Drop:17` runs only the cases whose `Scenario/Mode/Kind`
//! contains the text before the colon (and whose request is the one after it, if given).

use pluto_aws_engine::error::ResourceOutcome;
use pluto_aws_engine::{
    DesiredStack, Engine, EngineError, Event, LockError, LockOptions, Outputs, PreparedChange,
    Progress, Silent, StackLock,
};
use pluto_deducer::Architecture;
use pluto_deducer::source::PackageSelector;
use pluto_model::ResourceSpec;
use pluto_model::naming::StackNames;
use pluto_tests::fixtures::{
    account_state, fast_retry_engine, function, grant, json_diff, reset_moto,
};
use pluto_tests::moto::moto;
use pluto_tests::proxy::{Fault, FaultProxy, Injection, Seen};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const STACK: &str = "faults";

/// Objects the destroy finds in the bucket (and deletes, emptying it first).
const SEEDED_OBJECTS: [(&str, &str); 2] = [("docs/a.txt", "first"), ("docs/b.txt", "second!")];

/// What is run through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    /// Deploying the example to an empty account.
    Deploy,
    /// Destroying the deployed example.
    Destroy,
}

impl Scenario {
    fn command(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Destroy => "destroy",
        }
    }

    /// The kinds of fault tried in `mode`. A deploy tries every kind. A destroy (whose cases cost
    /// a deploy more, and which would take the binary past ~5 minutes) tries only those that
    /// differ in effect: the deploy shows that the SDK retries each kind of failed call of every
    /// service alike, and for a call that keeps failing, throttling, 5xx and a dropped
    /// connection all mean "not done", while a lost response means "done, unknown to the
    /// engine".
    fn kinds(self, mode: Mode) -> &'static [Kind] {
        match (self, mode) {
            (Self::Deploy, _) => &Kind::ALL,
            (Self::Destroy, Mode::Transient) => &[Kind::Drop, Kind::LostResponse],
            (Self::Destroy, Mode::Outage) => &[Kind::ServerError, Kind::LostResponse],
        }
    }
}

/// The ways a request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Throttle,
    ServerError,
    Drop,
    LostResponse,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Throttle,
        Kind::ServerError,
        Kind::Drop,
        Kind::LostResponse,
    ];

    /// The injection for the `n`th request (5xx alternates between 500 and 503).
    fn injection(self, n: usize) -> Injection {
        match self {
            Kind::Throttle => Injection::Throttle,
            Kind::ServerError if n.is_multiple_of(2) => Injection::ServerError,
            Kind::ServerError => Injection::Unavailable,
            Kind::Drop => Injection::Drop,
            Kind::LostResponse => Injection::LoseResponse,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    /// The request fails once.
    Transient,
    /// The request fails on every attempt.
    Outage,
}

/// What identifies a request across runs: its fingerprint (content), except for the lock
/// record's item calls (the only DynamoDB item calls the engine makes), whose bodies carry times
/// and a run id; S3's `DeleteObjects` (`POST /BUCKET?delete`), whose bodies carry the version
/// ids of the objects seeded for the run; and Secrets Manager's `CreateSecret`, whose body
/// carries the SDK's random idempotency token (`ClientRequestToken`, the same on each retry):
/// those are told apart by operation (with the bucket) and occurrence alone.
fn identity(seen: &Seen) -> u64 {
    use std::hash::{Hash, Hasher};
    let delete_objects = seen.service == "s3" && seen.operation.starts_with("POST ");
    let create_secret = seen.service == "secretsmanager" && seen.operation == "CreateSecret";
    if delete_objects
        || create_secret
        || (seen.service.eq_ignore_ascii_case("dynamodb") && seen.operation.ends_with("Item"))
    {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&seen.service, &seen.operation).hash(&mut hasher);
        hasher.finish()
    } else {
        seen.fingerprint
    }
}

/// A request of the reference run: the `occurrence`th (0-based) with this identity.
#[derive(Debug, Clone)]
struct Target {
    operation: String,
    fingerprint: u64,
    occurrence: usize,
    /// Sent while planning (reading), before anything changed.
    planning: bool,
}

/// The example and the states a run ends in.
struct Setup {
    architecture: Architecture,
    code: pluto_aws_engine::Code,
    names: StackNames,
    /// The state after a clean deploy.
    deployed: Value,
    /// The state of an empty account.
    empty: Value,
}

impl Setup {
    fn desired(&self, engine: &Engine) -> DesiredStack {
        DesiredStack::new(
            &self.architecture,
            self.names.clone(),
            engine.aws.target.clone(),
            &self.code,
            &|_| None,
        )
        .expect("a desired stack")
    }

    /// Empties moto, and for a destroy deploys the stack (directly, without faults) and puts
    /// data in its buckets and secrets.
    async fn prepare(&self, scenario: Scenario) {
        self.deploy_clean(scenario).await;
        if scenario == Scenario::Destroy {
            self.seed_data().await;
        }
    }

    /// Empties moto, and for a destroy deploys the stack (directly, without faults).
    async fn deploy_clean(&self, scenario: Scenario) {
        reset_moto(moto().endpoint()).await;
        if scenario == Scenario::Destroy {
            let engine = fast_retry_engine(moto().endpoint()).await;
            self.run(Scenario::Deploy, &engine, &Silent)
                .await
                .unwrap_or_else(|error| panic!("the stack deploys: {error}"));
        }
    }

    /// Objects in every bucket of the stack, a value in every secret.
    async fn seed_data(&self) {
        let engine = fast_retry_engine(moto().endpoint()).await;
        let scoped = self
            .names
            .clone()
            .in_account(engine.aws.target.account(), engine.aws.target.region());
        for resource in &self.architecture.resources {
            match &resource.spec {
                ResourceSpec::Bucket(bucket) => {
                    for (key, body) in SEEDED_OBJECTS {
                        engine
                            .aws
                            .s3
                            .put_object()
                            .bucket(scoped.bucket(&bucket.name))
                            .key(key)
                            .body(body.as_bytes().to_vec().into())
                            .send()
                            .await
                            .unwrap_or_else(|error| panic!("PutObject {key}: {error:?}"));
                    }
                }
                ResourceSpec::Secret(secret) => engine
                    .put_secret_value(&scoped, &secret.name, "seeded-secret-value")
                    .await
                    .unwrap_or_else(|error| panic!("the secret takes a value: {error}")),
                _ => {}
            }
        }
    }

    /// One run of `scenario`, as the CLI does it: under the stack's lock.
    async fn run(
        &self,
        scenario: Scenario,
        engine: &Engine,
        progress: &dyn Progress,
    ) -> Result<(), RunError> {
        let lock = StackLock::acquire(&engine.aws, &self.names, &lock_options(), &|_, _| {})
            .await
            .map_err(RunError::Lock)?;
        let result = match scenario {
            Scenario::Deploy => deploy(engine, self.desired(engine), progress)
                .await
                .map(drop),
            Scenario::Destroy => destroy(engine, &self.names, progress).await,
        };
        let released = lock.release().await;
        match (result, released) {
            (Err(error), _) => Err(RunError::Engine(error)),
            (Ok(()), Err(error)) => Err(RunError::Lock(error)),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    /// The state a clean run of `scenario` ends in.
    fn expected(&self, scenario: Scenario) -> &Value {
        match scenario {
            Scenario::Deploy => &self.deployed,
            Scenario::Destroy => &self.empty,
        }
    }
}

/// How a run failed: the engine's report, or the stack's lock.
#[derive(Debug)]
enum RunError {
    Engine(EngineError),
    Lock(LockError),
}

impl RunError {
    fn report(self) -> miette::Report {
        match self {
            Self::Engine(error) => miette::Report::new(error),
            Self::Lock(error) => miette::Report::new(error),
        }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Engine(error) => error.fmt(f),
            Self::Lock(error) => error.fmt(f),
        }
    }
}

/// The lock as the runs take it: a 2 s lease (instead of 10 minutes), so that a record left by
/// a failed release lapses within a case, and a wait long enough for that.
fn lock_options() -> LockOptions {
    LockOptions {
        lease: Duration::from_secs(2),
        wait: Duration::from_secs(10),
        poll: Duration::from_millis(100),
        ..LockOptions::new("deploy")
    }
}

/// One deploy as `cargo pluto deploy` does it: plan against the live state, then apply.
async fn deploy(
    engine: &Engine,
    desired: DesiredStack,
    progress: &dyn Progress,
) -> Result<Outputs, EngineError> {
    let prepared = engine.plan_deploy(desired).await?;
    engine.apply(prepared, progress).await
}

/// One destroy as `cargo pluto destroy --delete-data` does it: find the stack's objects (and the
/// data they hold), then delete them, emptying buckets first.
async fn destroy(
    engine: &Engine,
    names: &StackNames,
    progress: &dyn Progress,
) -> Result<(), EngineError> {
    let prepared: PreparedChange = engine.plan_destroy(names).await?;
    engine
        .apply(prepared.delete_data(true), progress)
        .await
        .map(drop)
}

/// `architecture` with a versioned bucket and a secret if it has none (and a function reading
/// them), so the sweep covers their creates and deletes whatever the example declares.
fn with_data_resources(mut architecture: Architecture) -> Architecture {
    use pluto_model::{Operation, Resource, SourceLocation};
    use pluto_spec::{BucketSpec, ResourceKind, SecretSpec, UrlAuth};
    let has_secret = architecture
        .resources
        .iter()
        .any(|resource| resource.spec.kind() == ResourceKind::Secret);
    let source = SourceLocation {
        file: "src/main.rs".to_owned(),
        line: 1,
        column: 1,
    };
    let mut grants = Vec::new();
    let versioned_bucket = architecture.resources.iter().any(
        |resource| matches!(&resource.spec, ResourceSpec::Bucket(bucket) if bucket.versioning),
    );
    if !versioned_bucket {
        architecture.resources.push(Resource {
            spec: ResourceSpec::Bucket(BucketSpec {
                name: "faults-docs".to_owned(),
                versioning: true,
            }),
            rust_path: "app::faults_docs".to_owned(),
            source: source.clone(),
        });
        grants.push(grant(
            ResourceKind::Bucket,
            "faults-docs",
            Operation::BucketGet,
        ));
    }
    if !has_secret {
        architecture.resources.push(Resource {
            spec: ResourceSpec::Secret(SecretSpec {
                name: "faults-key".to_owned(),
            }),
            rust_path: "app::faults_key".to_owned(),
            source,
        });
        grants.push(grant(
            ResourceKind::Secret,
            "faults-key",
            Operation::SecretGet,
        ));
    }
    if !grants.is_empty() {
        architecture
            .functions
            .push(function("faults-reader", UrlAuth::None, grants));
    }
    architecture
}

/// Notes how many requests the proxy had seen when the apply reported its first event (so the
/// ones before were the planning reads).
struct FirstEvent<'a> {
    proxy: &'a FaultProxy,
    seen: OnceLock<usize>,
}

impl Progress for FirstEvent<'_> {
    fn report(&self, _resource: &str, _event: Event) {
        self.seen.get_or_init(|| self.proxy.seen().len());
    }
}

/// The state of moto now, read directly (not through a proxy).
async fn state() -> Value {
    let config = pluto_tests::moto::sdk_config_for(moto().endpoint()).await;
    let aws = pluto_aws_engine::from_config(&config)
        .await
        .expect("a connection to moto");
    account_state(&aws).await
}

/// A clean run of `scenario` through a recording proxy: its requests.
async fn record(setup: &Setup, scenario: Scenario) -> Vec<Target> {
    setup.prepare(scenario).await;
    let proxy = FaultProxy::recording(moto().endpoint());
    let engine = fast_retry_engine(proxy.endpoint()).await;
    let connecting = proxy.seen().len();
    let first_event = FirstEvent {
        proxy: &proxy,
        seen: OnceLock::new(),
    };
    let started = Instant::now();
    setup
        .run(scenario, &engine, &first_event)
        .await
        .unwrap_or_else(|error| panic!("the clean {scenario:?} failed: {error:?}"));
    let time = started.elapsed();
    let diff = json_diff(setup.expected(scenario), &state().await);
    assert!(
        diff.is_empty(),
        "a clean {scenario:?} ends in another state:\n  {}",
        diff.join("\n  ")
    );
    let planning = first_event.seen.get().copied().unwrap_or(usize::MAX);
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    let mut targets = Vec::new();
    for request in &proxy.seen()[connecting..] {
        let occurrence = counts.entry(identity(request)).or_default();
        targets.push(Target {
            operation: format!("{} {}", request.service, request.operation),
            fingerprint: identity(request),
            occurrence: *occurrence,
            planning: request.index < planning,
        });
        *occurrence += 1;
    }
    println!(
        "clean {scenario:?}: {} requests ({} planning), {:.0} ms",
        targets.len(),
        targets.iter().filter(|target| target.planning).count(),
        time.as_secs_f64() * 1000.0
    );
    for (n, target) in targets.iter().enumerate() {
        println!(
            "  {n:>3} {}{}",
            target.operation,
            if target.planning { " (planning)" } else { "" }
        );
    }
    targets
}

/// Whether `error` is the clear report of a `scenario` run that failed at `target` with `fault`
/// (the error answer given, if any); `Err` says what is missing.
fn check_report(
    error: &RunError,
    scenario: Scenario,
    target: &Target,
    fault: Option<&Fault>,
) -> Result<(), String> {
    let error = match error {
        RunError::Engine(error) => error,
        RunError::Lock(error) => return check_lock_report(error, target, fault),
    };
    let help = miette::Diagnostic::help(error)
        .map(|help| help.to_string())
        .unwrap_or_default();
    let cause = match error {
        EngineError::ReadFailed { error: cause } => {
            if !target.planning {
                return Err("a failure while applying is reported as a failed read".to_owned());
            }
            if !error.to_string().contains("nothing was changed") {
                return Err("it does not say that nothing was changed".to_owned());
            }
            if !help.contains("again") {
                return Err("its help does not say to run the command again".to_owned());
            }
            cause.to_string()
        }
        EngineError::Partial {
            operation,
            failed,
            resources,
            ..
        } => {
            if target.planning {
                return Err("a failure while reading is reported as a partial apply".to_owned());
            }
            let failures: Vec<_> = resources
                .iter()
                .filter_map(|report| match &report.outcome {
                    ResourceOutcome::Failed { step, left, error } => {
                        Some((&report.resource, step, left, error))
                    }
                    _ => None,
                })
                .collect();
            if *operation != scenario.command() || *failed != 1 || failures.len() != 1 {
                return Err(format!(
                    "one failed resource of a {} expected, not {failed} ({operation})",
                    scenario.command()
                ));
            }
            let (resource, step, left, cause) = &failures[0];
            let Some(step) = step else {
                return Err(format!("no failed step for {resource}"));
            };
            let text = error.to_string();
            if !text.contains(resource.as_str())
                || !text.contains(step.as_str())
                || !text.contains(&cause.to_string())
            {
                return Err("the report does not name the resource, step and error".to_owned());
            }
            if left.is_empty() {
                return Err("the report does not say what is left to do".to_owned());
            }
            let others_reported = resources.len() == 1
                || ((text.contains(": done (") || text.contains(": unchanged"))
                    && resources
                        .iter()
                        .all(|report| text.contains(&report.resource)));
            if !others_reported {
                return Err("the report does not say what became of every resource".to_owned());
            }
            let again = format!("run `cargo pluto {}` again", scenario.command());
            if !help.contains(&again) {
                return Err(format!("its help does not say to {again}"));
            }
            cause.to_string()
        }
        _ => return Err("neither a failed read nor a partial apply".to_owned()),
    };
    mentions_fault(&cause, fault)
}

/// Whether `cause` carries the AWS error (or the failed connection) that was injected.
fn mentions_fault(cause: &str, fault: Option<&Fault>) -> Result<(), String> {
    let expected = match fault {
        Some(fault) => fault.code.as_str(),
        None => "no answer from AWS",
    };
    if cause.contains(expected) {
        Ok(())
    } else {
        Err(format!("the cause does not mention {expected:?}"))
    }
}

/// Whether `error` is the clear report of a run whose lock request `target` failed: taking the
/// lock changed nothing (before planning), or releasing it came after the work ended.
fn check_lock_report(
    error: &LockError,
    target: &Target,
    fault: Option<&Fault>,
) -> Result<(), String> {
    let text = error.to_string();
    match error {
        LockError::AcquireFailed { message, .. } => {
            if !target.planning {
                return Err("a failure after planning is reported as a failed lock".to_owned());
            }
            if !text.contains("Nothing was changed") {
                return Err("it does not say that nothing was changed".to_owned());
            }
            mentions_fault(message, fault)
        }
        LockError::ReleaseFailed { message, .. } => {
            if !text.contains("The work itself ended") || !text.contains("lapses") {
                return Err("it does not say that the work ended and the lock lapses".to_owned());
            }
            mentions_fault(message, fault)
        }
        _ => Err("neither a failed lock nor a failed release".to_owned()),
    }
}

/// How a case ended (when it passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// The run succeeded (the fault was retried or seen through).
    Succeeded,
    /// The run failed with the report, and a re-run converged.
    FailedThenConverged,
}

/// One case: `scenario` with request `n` of the reference failing in `kind` of way, in `mode`.
struct Case<'a> {
    scenario: Scenario,
    n: usize,
    kind: Kind,
    mode: Mode,
    target: &'a Target,
}

/// Runs one case; `Err` describes what went wrong. The first report of each kind is kept in
/// `examples`.
async fn case(
    setup: &Setup,
    case: &Case<'_>,
    examples: &Mutex<Vec<String>>,
) -> Result<Outcome, String> {
    let Case {
        scenario,
        n,
        kind,
        mode,
        target,
    } = *case;
    setup.prepare(scenario).await;
    let armed = Arc::new(AtomicBool::new(true));
    let injected: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let injection = kind.injection(n);
    let proxy = {
        let (armed, injected, injection) = (armed.clone(), injected.clone(), injection.clone());
        let occurrences = AtomicUsize::new(0);
        let (fingerprint, occurrence) = (target.fingerprint, target.occurrence);
        FaultProxy::start(moto().endpoint(), move |seen: &Seen| {
            if identity(seen) != fingerprint || !armed.load(Ordering::SeqCst) {
                return None;
            }
            let k = occurrences.fetch_add(1, Ordering::SeqCst);
            let hit = match mode {
                Mode::Transient => k == occurrence,
                Mode::Outage => k >= occurrence,
            };
            hit.then(|| {
                injected
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(seen.clone());
                injection.clone()
            })
        })
    };
    let engine = fast_retry_engine(proxy.endpoint()).await;
    let first = setup.run(scenario, &engine, &Silent).await;
    armed.store(false, Ordering::SeqCst);
    let injected = injected.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(failed) = injected.first() else {
        return Err("the request was never sent".to_owned());
    };
    let fault = injection.answer(failed);
    let sent_again = proxy
        .seen()
        .iter()
        .any(|seen| identity(seen) == target.fingerprint && seen.index > failed.index);

    let converged = async |when: &str| -> Result<(), String> {
        let diff = json_diff(setup.expected(scenario), &state().await);
        if diff.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{when}, the state differs from a clean {}'s:\n  {}",
                scenario.command(),
                diff.join("\n  ")
            ))
        }
    };

    match first {
        Ok(()) => {
            if mode == Mode::Outage && kind != Kind::LostResponse {
                return Err("the run succeeded despite the outage".to_owned());
            }
            if kind != Kind::LostResponse && !sent_again {
                return Err("the run succeeded but the request was not sent again".to_owned());
            }
            converged("after the run").await?;
            Ok(Outcome::Succeeded)
        }
        Err(error) => {
            if mode == Mode::Transient && kind != Kind::LostResponse {
                return Err(format!(
                    "the run failed although the fault was transient:\n{:?}",
                    error.report()
                ));
            }
            if let Err(missing) = check_report(&error, scenario, target, fault.as_ref()) {
                return Err(format!(
                    "the error is not a clear report: {missing}:\n{:?}",
                    error.report()
                ));
            }
            {
                let mut examples = examples.lock().unwrap_or_else(|e| e.into_inner());
                let variant = match &error {
                    RunError::Engine(EngineError::ReadFailed { .. }) => "failed read",
                    RunError::Engine(_) => "partial apply",
                    RunError::Lock(LockError::AcquireFailed { .. }) => "failed lock",
                    RunError::Lock(_) => "failed release",
                };
                let variant = format!("{variant} of a {}", scenario.command());
                if !examples.iter().any(|example| example.starts_with(&variant)) {
                    examples.push(format!(
                        "{variant} ({mode:?} {kind:?} at request {n}, {}):\n{:?}",
                        target.operation,
                        error.report()
                    ));
                }
            }
            setup
                .run(scenario, &engine, &Silent)
                .await
                .map_err(|error| format!("the re-run failed:\n{:?}", error.report()))?;
            converged("after the re-run").await?;
            if mode == Mode::Outage {
                let before = engine.aws.calls.calls().len();
                setup
                    .run(scenario, &engine, &Silent)
                    .await
                    .map_err(|error| format!("the third run failed: {error}"))?;
                let mutating: Vec<String> = engine.aws.calls.calls()[before..]
                    .iter()
                    .filter(|call| call.is_mutating())
                    .map(|call| format!("{}:{}", call.service, call.operation))
                    .collect();
                if mutating != ["DynamoDB:PutItem", "DynamoDB:DeleteItem"] {
                    return Err(format!(
                        "the third run changed more than its lock record: {mutating:?}"
                    ));
                }
            }
            Ok(Outcome::FailedThenConverged)
        }
    }
}

/// Runs the sweep on a thread with a large stack, in a multi-threaded runtime: the engine's
/// futures nest deeply, and in debug builds every poll frame has room for all its temporaries.
#[test]
fn every_request_of_a_deploy_or_destroy_can_fail_and_a_rerun_converges() {
    let thread = std::thread::Builder::new()
        .name("fault sweep".to_owned())
        .stack_size(16 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(sweep());
        })
        .expect("a test thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn sweep() {
    let started = Instant::now();
    let root = pluto_tests::workspace_root();
    let deduction = pluto_deducer::deduce(&PackageSelector {
        manifest_path: Some(root.join("examples/langchain-llama/Cargo.toml")),
        package: None,
        bin: None,
    })
    .expect("the example deduces");
    let architecture = with_data_resources(deduction.architecture);
    let names = StackNames::new(&architecture.project, STACK).expect("valid names");
    let code = pluto_tests::fixtures::code(b"#!/bin/sh\n# fake bootstrap\n", "faults");

    // An empty account, but for the lock table every run creates on first use (and keeps).
    reset_moto(moto().endpoint()).await;
    let engine = fast_retry_engine(moto().endpoint()).await;
    StackLock::acquire(&engine.aws, &names, &lock_options(), &|_, _| {})
        .await
        .expect("the lock table is created")
        .release()
        .await
        .expect("released");
    let empty = state().await;
    let mut setup = Setup {
        architecture,
        code,
        names,
        deployed: Value::Null,
        empty,
    };
    setup.deploy_clean(Scenario::Destroy).await;
    setup.deployed = state().await;
    if std::env::var_os("PLUTO_FAULTS_STATE").is_some() {
        println!("{:#}", setup.deployed);
    }

    let only: Option<(String, Option<usize>)> =
        std::env::var("PLUTO_FAULTS_ONLY")
            .ok()
            .map(|only| match only.split_once(':') {
                Some((name, n)) => (name.to_owned(), n.parse().ok()),
                None => (only, None),
            });
    let examples = Mutex::new(Vec::new());
    let mut passed: BTreeMap<(Scenario, Mode, Kind, Outcome), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for scenario in [Scenario::Deploy, Scenario::Destroy] {
        let targets = record(&setup, scenario).await;
        for mode in [Mode::Transient, Mode::Outage] {
            let mode_started = Instant::now();
            for &kind in scenario.kinds(mode) {
                for (n, target) in targets.iter().enumerate() {
                    if let Some((name, only_n)) = &only
                        && (only_n.is_some_and(|only_n| only_n != n)
                            || !format!("{scenario:?}/{mode:?}/{kind:?}").contains(name.as_str()))
                    {
                        continue;
                    }
                    let this = Case {
                        scenario,
                        n,
                        kind,
                        mode,
                        target,
                    };
                    match case(&setup, &this, &examples).await {
                        Ok(outcome) => {
                            *passed.entry((scenario, mode, kind, outcome)).or_default() += 1;
                        }
                        Err(problem) => {
                            let line = format!(
                                "{scenario:?} {mode:?} {kind:?} at request {n} ({}, occurrence \
                                 {}{}): {problem}",
                                target.operation,
                                target.occurrence,
                                if target.planning { ", planning" } else { "" },
                            );
                            println!("FAILED {line}");
                            failures.push(line);
                        }
                    }
                }
            }
            println!(
                "{scenario:?} {mode:?} cases: {:.1} s",
                mode_started.elapsed().as_secs_f64()
            );
        }
    }
    for example in examples.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        println!("example report, {example}");
    }
    for ((scenario, mode, kind, outcome), count) in &passed {
        println!("{scenario:?} {mode:?} {kind:?}: {count} cases passed, {outcome:?}");
    }
    println!(
        "{} cases passed, {} failed, in {:.1} s",
        passed.values().sum::<usize>(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
