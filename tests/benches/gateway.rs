//! Benchmark: Function URL round trip through the simulator (`Simulator::start`) for a trivial handler (`echo` of the
//! fixture app): HTTP request -> gateway -> payload 2.0 event -> Lambda Runtime API -> the
//! function process -> back. Prints p50/p99 latency at concurrency 1 and 8 over thousands of
//! requests; run with `cargo bench -p pluto-tests --bench gateway`.

use pluto_simulator::{Simulator, SimulatorOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const REQUESTS: usize = 4000;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn measure(url: &str, concurrency: usize) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let per_task = REQUESTS / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            let url = url.to_owned();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let started = Instant::now();
                    let response = client
                        .post(&url)
                        .body(r#"["hi"]"#)
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(response.status().as_u16(), 200);
                    response.bytes().await.expect("body");
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(REQUESTS);
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all.sort();
    all
}

#[tokio::main]
async fn main() {
    let mut architecture = pluto_tests::app::fixture_architecture();
    architecture
        .functions
        .retain(|function| function.spec.name == "echo");
    for function in &mut architecture.functions {
        function.spec.url = pluto_spec::UrlAuth::Public;
    }
    let data_dir = std::env::temp_dir().join(format!("pluto-gateway-bench-{}", std::process::id()));
    let mut options = SimulatorOptions::new(
        "bench",
        PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
        data_dir,
    );
    options.max_instances = 8;
    let simulator = Simulator::start(&architecture, options)
        .await
        .expect("the simulator starts");
    let url = simulator.urls()["echo"].clone();
    // Warm up: start the instances the concurrent run will use.
    measure(&url, 8).await;
    for concurrency in [1, 8] {
        let latencies = measure(&url, concurrency).await;
        let total: Duration = latencies.iter().sum();
        println!(
            "concurrency {concurrency}: {} requests, p50 {:.3} ms, p99 {:.3} ms, mean {:.3} ms",
            latencies.len(),
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3 / latencies.len() as f64
        );
    }
    simulator.stop().await;
}
