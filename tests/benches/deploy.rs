//! Benchmark: deploying the `langchain-llama` example (a SageMaker endpoint with its model,
//! configuration and role; two public functions with roles, URLs and permissions) to moto through
//! the AWS engine. Prints wall time and API calls (all, and those that change something) for a
//! fresh deploy done serially (one resource at a time) and concurrently, a redeploy with nothing
//! to change, and a stateless destroy, each under the stack's lock as `cargo pluto` runs them (the
//! first deploy after moto's reset also creates the lock table). Run with
//! `cargo bench -p pluto-tests --bench deploy`.
//!
//! The code zip is 4.8 MB of incompressible bytes, the size of the example's release zip, so
//! uploads cost what they would; moto stores code without running it. Waits poll every 50 ms
//! (`WaitPolicy::fast`, set by `pluto_tests::fixtures::engine`): moto reports objects ready at
//! once, so the figures are API time.

use pluto_aws_engine::{DesiredStack, Engine, LockOptions, Silent, StackLock};
use pluto_deducer::source::PackageSelector;
use pluto_model::naming::StackNames;
use std::time::{Duration, Instant};

const RUNS: usize = 5;
const ZIP_BYTES: usize = 4_835_134;

#[derive(Default)]
struct Figures {
    times: Vec<Duration>,
    calls: usize,
    mutating: usize,
    lock_writes: usize,
}

fn report(label: &str, figures: &Figures) {
    let mut times = figures.times.clone();
    times.sort();
    println!(
        "{label:<34} median {:>7.1} ms  min {:>7.1} ms  max {:>7.1} ms  {:>3} API calls ({} changing, {} of them the lock record)",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        figures.calls,
        figures.mutating,
        figures.lock_writes,
    );
}

/// Pseudo-random bytes (xorshift), which deflate cannot shrink.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

async fn reset(endpoint: &str) {
    reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/reset"))
        .send()
        .await
        .expect("moto resets");
}

async fn engine(endpoint: &str, concurrency: usize) -> Engine {
    let mut engine = pluto_tests::fixtures::engine(endpoint).await;
    engine.concurrency = concurrency;
    engine
}

/// Runs `step` under the stack's lock, as `cargo pluto` does, and records its time and calls.
async fn measured<F: std::future::Future<Output = ()>>(
    engine: &Engine,
    names: &StackNames,
    figures: &mut Figures,
    step: F,
) {
    let before = engine.aws.calls.calls().len();
    let started = Instant::now();
    let lock = StackLock::acquire(&engine.aws, names, &LockOptions::new("bench"), &|_, _| {})
        .await
        .expect("the lock is free");
    step.await;
    lock.release().await.expect("the lock is released");
    figures.times.push(started.elapsed());
    let calls = &engine.aws.calls.calls()[before..];
    figures.calls = calls.len();
    figures.mutating = calls.iter().filter(|c| c.is_mutating()).count();
    figures.lock_writes = calls
        .iter()
        .filter(|c| ["PutItem", "UpdateItem", "DeleteItem"].contains(&c.operation.as_str()))
        .count();
}

#[tokio::main]
async fn main() {
    let moto = pluto_tests::moto::moto();
    let root = pluto_tests::workspace_root();
    let deduction = pluto_deducer::deduce(&PackageSelector {
        manifest_path: Some(root.join("examples/langchain-llama/Cargo.toml")),
        package: None,
        bin: None,
    })
    .expect("the example deduces");
    let architecture = deduction.architecture;
    let code = pluto_tests::fixtures::code(&incompressible(ZIP_BYTES), "bench");
    let zip_bytes = std::fs::metadata(&code.zip_path).map_or(0, |zip| zip.len());
    let names = StackNames::new(&architecture.project, "bench").expect("names");
    println!(
        "deploy of langchain-llama to moto ({} functions, {} resources, zip {} bytes), {RUNS} runs each",
        architecture.functions.len(),
        architecture.resources.len(),
        zip_bytes
    );

    for (label, concurrency) in [
        ("fresh deploy, serial", 1),
        ("fresh deploy, concurrent (8)", 8),
    ] {
        let mut figures = Figures::default();
        let mut noop = Figures::default();
        let mut destroy = Figures::default();
        for _ in 0..RUNS {
            reset(moto.endpoint()).await;
            let engine = engine(moto.endpoint(), concurrency).await;
            let desired = || {
                DesiredStack::new(
                    &architecture,
                    names.clone(),
                    engine.aws.target.clone(),
                    &code,
                    &|_| None,
                )
                .expect("desired")
            };
            measured(&engine, &names, &mut figures, async {
                let prepared = engine.plan_deploy(desired()).await.expect("plan");
                engine.apply(prepared, &Silent).await.expect("deploy");
            })
            .await;
            measured(&engine, &names, &mut noop, async {
                let prepared = engine.plan_deploy(desired()).await.expect("plan");
                assert!(prepared.plan.is_empty(), "{}", prepared.plan);
                engine.apply(prepared, &Silent).await.expect("redeploy");
            })
            .await;
            measured(&engine, &names, &mut destroy, async {
                let prepared = engine.plan_destroy(&names).await.expect("plan");
                engine.apply(prepared, &Silent).await.expect("destroy");
            })
            .await;
        }
        report(label, &figures);
        report(&format!("  then no-op redeploy ({concurrency})"), &noop);
        report(&format!("  then destroy ({concurrency})"), &destroy);
    }
    let _ = std::fs::remove_file(&code.zip_path);
}
