//! `Simulator::reload` (hot reload's swap, `cargo pluto run`'s watcher calls it): requests
//! running finish on the old instances, requests queued for an instance of the old version run
//! on the new one, new grants are enforced at once, and a change of the app's shape is refused
//! with what changed.

#![allow(clippy::unwrap_used)]

use pluto_model::Operation;
use pluto_simulator::lambda::Outcome;
use pluto_simulator::{Simulator, SimulatorError, SimulatorOptions};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fixture-app"))
}

async fn start(name: &str) -> (Simulator, PathBuf) {
    let data_dir = std::env::temp_dir().join(format!("pluto-reload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut options = SimulatorOptions::new("test", binary(), data_dir.clone());
    // One instance per function: a second request waits for it.
    options.max_instances = 1;
    options.warm_up = true;
    let simulator = Simulator::start(&pluto_tests::app::fixture_architecture(), options)
        .await
        .expect("the simulator starts");
    (simulator, data_dir)
}

#[tokio::test]
async fn regression_requests_queued_on_the_old_version_run_on_the_new_one() {
    let (simulator, data_dir) = start("queued").await;
    let simulator = Arc::new(simulator);
    let running = {
        let simulator = simulator.clone();
        tokio::spawn(async move { simulator.invoke("sleepy", json!([1500])).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queued = {
        let simulator = simulator.clone();
        tokio::spawn(async move { simulator.invoke("sleepy", json!([10])).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    simulator
        .reload(&pluto_tests::app::fixture_architecture(), binary())
        .await
        .expect("the reload goes live");
    for (name, call) in [("running", running), ("queued", queued)] {
        let outcome = call.await.unwrap();
        assert!(
            matches!(outcome, Ok(Outcome::Response(_))),
            "the {name} request: {outcome:?}"
        );
    }
    Arc::try_unwrap(simulator).unwrap().stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test]
async fn a_reload_enforces_the_new_grants_and_refuses_a_new_shape() {
    let (simulator, data_dir) = start("grants").await;
    assert!(matches!(
        simulator.invoke("kv-set", json!(["k", "v"])).await.unwrap(),
        Outcome::Response(_)
    ));
    // The same code with `kv-set`'s grant taken away: its write is denied from now on.
    let mut architecture = pluto_tests::app::fixture_architecture();
    let kv_set = architecture
        .functions
        .iter_mut()
        .find(|function| function.spec.name == "kv-set")
        .unwrap();
    kv_set
        .grants
        .retain(|grant| grant.operation != Operation::KvSet);
    simulator.reload(&architecture, binary()).await.unwrap();
    let denied = simulator.invoke("kv-set", json!(["k", "v"])).await.unwrap();
    assert!(
        matches!(&denied, Outcome::FunctionError { message, .. }
            if message.contains("was not given access to it")),
        "{denied:?}"
    );

    // A function fewer is a new shape: refused, and the running version stays.
    let mut smaller = pluto_tests::app::fixture_architecture();
    smaller
        .functions
        .retain(|function| function.spec.name != "echo");
    let error = simulator.reload(&smaller, binary()).await.unwrap_err();
    assert!(
        matches!(&error, SimulatorError::ShapeChanged(what) if what.contains("echo")),
        "{error}"
    );
    assert!(matches!(
        simulator
            .invoke("echo", json!(["still here"]))
            .await
            .unwrap(),
        Outcome::Response(_)
    ));
    simulator.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
