//! Benchmark: Function URL round trip through the simulator (`Simulator::start`) for a trivial handler (`echo` of the
//! fixture app): HTTP request -> gateway -> payload 2.0 event -> Lambda Runtime API -> the
//! function process -> back. Prints p50/p99 latency at concurrency 1 and 8 over thousands of
//! requests; run with `cargo bench -p pluto-tests --bench gateway`.

use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_tests::bench::{echo_architecture, measure, percentile};
use std::path::PathBuf;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let architecture = echo_architecture();
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
        let (latencies, _wall) = measure(&url, concurrency).await;
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
