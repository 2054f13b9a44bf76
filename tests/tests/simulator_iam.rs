//! The simulator's local AWS APIs with the deduced IAM enforced: the fixture app's functions get
//! exactly their grants, an access the deducer did not grant is denied the way AWS denies it,
//! and KV data survives a restart of the simulator.

use pluto_deducer::source::PackageSelector;
use pluto_model::naming::StackNames;
use pluto_simulator::aws::LocalAws;
use pluto_simulator::lambda::{FunctionConfig, FunctionPool, LogSink, Outcome};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Simulator {
    aws_log: Arc<Mutex<Vec<String>>>,
    pools: HashMap<String, Arc<FunctionPool>>,
    server: tokio::task::JoinHandle<()>,
}

impl Simulator {
    async fn start(database: &Path, functions: &[&str]) -> Self {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let architecture = pluto_deducer::deduce(&PackageSelector {
            manifest_path: Some(manifest),
            package: None,
        })
        .expect("the fixture app deduces")
        .architecture;
        let names = StackNames::new(&architecture.project, "test").expect("valid names");
        let aws_log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = aws_log.clone();
        let aws = Arc::new(
            LocalAws::new(
                architecture,
                names,
                database,
                None,
                Arc::new(move |line: &str| sink.lock().expect("log").push(line.to_owned())),
            )
            .expect("the local AWS APIs start"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let router = aws.clone().router();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let quiet: LogSink = Arc::new(|_: &str, _: u64, _: &str| {});
        let mut pools = HashMap::new();
        for function in functions {
            let config = FunctionConfig {
                name: (*function).to_owned(),
                binary: PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
                env: aws.function_env(function, &endpoint),
                timeout: Duration::from_secs(30),
                memory_mb: 128,
                max_instances: 1,
            };
            pools.insert(
                (*function).to_owned(),
                Arc::new(FunctionPool::new(config, quiet.clone())),
            );
        }
        aws.set_functions(pools.clone());
        Self {
            aws_log,
            pools,
            server,
        }
    }

    async fn call(&self, function: &str, payload: Value) -> Outcome {
        self.pools[function]
            .invoke(payload)
            .await
            .expect("the invocation runs")
    }

    async fn stop(self) {
        self.server.abort();
        for pool in self.pools.values() {
            pool.shutdown().await;
        }
    }
}

fn scratch_database(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pluto-simulator-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join("kv.redb")
}

#[tokio::test]
async fn granted_operations_work_and_data_survives_a_restart() {
    let database = scratch_database("restart");
    let simulator = Simulator::start(&database, &["kv-set", "kv-get", "kv-delete"]).await;
    assert_eq!(
        simulator
            .call("kv-set", json!(["greeting", "bonjour"]))
            .await,
        Outcome::Response(Value::Null)
    );
    assert_eq!(
        simulator.call("kv-get", json!(["greeting"])).await,
        Outcome::Response(json!("bonjour"))
    );
    simulator.stop().await;

    let restarted = Simulator::start(&database, &["kv-get", "kv-delete"]).await;
    assert_eq!(
        restarted.call("kv-get", json!(["greeting"])).await,
        Outcome::Response(json!("bonjour"))
    );
    assert_eq!(
        restarted.call("kv-delete", json!(["greeting"])).await,
        Outcome::Response(Value::Null)
    );
    assert_eq!(
        restarted.call("kv-get", json!(["greeting"])).await,
        Outcome::Response(Value::Null)
    );
    restarted.stop().await;
}

#[tokio::test]
async fn an_access_the_deducer_did_not_grant_is_denied_like_aws_and_explained() {
    let database = scratch_database("denied");
    let simulator = Simulator::start(&database, &["sneaky-write"]).await;
    let table = StackNames::new("pluto-tests", "test")
        .expect("names")
        .table("notes");
    let Outcome::FunctionError { message, .. } =
        simulator.call("sneaky-write", json!([table])).await
    else {
        panic!("the write must fail");
    };
    assert!(message.contains("AccessDeniedException"), "{message}");
    assert!(
        message.contains(&format!("is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/{table}")),
        "{message}"
    );
    let log = simulator.aws_log.lock().expect("log").join("\n");
    assert!(
        log.contains("denied: function `sneaky-write` has no grant for `set` on KV store `notes`"),
        "{log}"
    );
    simulator.stop().await;
}

#[tokio::test]
async fn functions_invoke_each_other_through_the_local_lambda_api() {
    let database = scratch_database("invoke");
    let simulator = Simulator::start(&database, &["relay", "echo", "kv-get"]).await;
    assert_eq!(
        simulator.call("relay", json!(["ping"])).await,
        Outcome::Response(json!("ping"))
    );
    simulator.stop().await;
}
