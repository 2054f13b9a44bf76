//! Benchmark: what the dev console costs the gateway. The fixture app's `echo` behind the
//! simulator, measured plain and then with the console hooked in (`Console::instrument`) and a
//! page following its live feed (`/_pluto/api/events`), as `cargo pluto run` serves it. Prints
//! p50/p99 latency and throughput at concurrency 1 and 8 for both, the p50 overhead, and how
//! many request updates the feed delivered; run with `cargo bench -p pluto-tests --bench
//! console`. The goal: the request list keeps up with 1,000 requests/s and the p50 overhead
//! stays under 1 ms.

use futures_util::StreamExt;
use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_tests::bench::{echo_architecture, measure, percentile};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

async fn start(with_console: bool, dir: &str) -> Simulator {
    let architecture = echo_architecture();
    let data_dir =
        std::env::temp_dir().join(format!("pluto-console-bench-{dir}-{}", std::process::id()));
    let mut options = SimulatorOptions::new(
        "bench",
        PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
        data_dir,
    );
    options.max_instances = 8;
    let console = pluto_console::Console::new(&architecture, "bench");
    if with_console {
        console.instrument(&mut options);
    }
    let simulator = Simulator::start(&architecture, options)
        .await
        .expect("the simulator starts");
    console.attach(&simulator);
    simulator
}

#[tokio::main]
async fn main() {
    let mut p50s = Vec::new();
    for with_console in [false, true] {
        let simulator = start(with_console, if with_console { "on" } else { "off" }).await;
        let url = simulator.urls()["echo"].clone();
        // A page following the live feed: counts the request updates it receives.
        let updates = Arc::new(AtomicU64::new(0));
        let follower = with_console.then(|| {
            let updates = updates.clone();
            let events = format!(
                "{}api/events",
                simulator.console_url().expect("the console is served")
            );
            tokio::spawn(async move {
                let response = reqwest::get(&events).await.expect("the feed opens");
                let mut body = response.bytes_stream();
                while let Some(Ok(chunk)) = body.next().await {
                    let frames = chunk
                        .windows(b"event: request".len())
                        .filter(|window| *window == b"event: request")
                        .count();
                    updates.fetch_add(frames as u64, Ordering::Relaxed);
                }
            })
        });
        measure(&url, 8).await;
        let label = if with_console {
            "with console"
        } else {
            "plain"
        };
        for concurrency in [1, 8] {
            let before = updates.load(Ordering::Relaxed);
            let (latencies, wall) = measure(&url, concurrency).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let delivered = updates.load(Ordering::Relaxed) - before;
            let p50 = percentile(&latencies, 0.50);
            p50s.push((label, concurrency, p50));
            println!(
                "{label:<12} concurrency {concurrency}: {} requests at {:.0} requests/s, p50 {:.3} ms, p99 {:.3} ms{}",
                latencies.len(),
                latencies.len() as f64 / wall.as_secs_f64(),
                p50.as_secs_f64() * 1e3,
                percentile(&latencies, 0.99).as_secs_f64() * 1e3,
                if with_console {
                    format!(
                        ", {delivered} request updates on the feed ({:.1} per request)",
                        delivered as f64 / latencies.len() as f64
                    )
                } else {
                    String::new()
                }
            );
        }
        if let Some(follower) = follower {
            follower.abort();
        }
        simulator.stop().await;
    }
    for concurrency in [1, 8] {
        let p50 = |label: &str| {
            p50s.iter()
                .find(|(l, c, _)| *l == label && *c == concurrency)
                .map(|(_, _, p50)| p50.as_secs_f64() * 1e3)
                .unwrap_or_default()
        };
        println!(
            "p50 overhead of the console at concurrency {concurrency}: {:+.3} ms (goal: under 1 ms)",
            p50("with console") - p50("plain")
        );
    }
}
