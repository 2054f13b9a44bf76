//! Latency measuring for the gateway benches (tests/benches/gateway.rs and console.rs): the
//! fixture app cut down to its `echo` function, a fixed number of Function URL requests at a
//! given concurrency, and percentiles of their latencies.

use std::time::{Duration, Instant};

/// How many requests one [`measure`] sends in all.
pub const REQUESTS: usize = 4000;

/// The fixture app's architecture with only `echo`, behind a public Function URL: the trivial
/// handler whose round trip the benches time.
pub fn echo_architecture() -> pluto_model::Architecture {
    let mut architecture = crate::app::fixture_architecture();
    architecture
        .functions
        .retain(|function| function.spec.name == "echo");
    for function in &mut architecture.functions {
        function.spec.url = pluto_spec::UrlAuth::Public;
    }
    architecture
}

/// The latency at `fraction` (0.5 for p50, 0.99 for p99) of `sorted` (ascending, not empty).
pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Sends [`REQUESTS`] POSTs of `["hi"]` to `url` from `concurrency` tasks, each waiting for its
/// answer (status 200) before the next; the latencies (sorted) and the wall time of them all.
pub async fn measure(url: &str, concurrency: usize) -> (Vec<Duration>, Duration) {
    let client = reqwest::Client::new();
    let per_task = REQUESTS / concurrency;
    let started = Instant::now();
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
    let wall = started.elapsed();
    all.sort();
    (all, wall)
}
