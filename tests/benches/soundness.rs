//! Soak run of the deducer's differential soundness test: `PLUTO_SOUNDNESS_SEEDS` random apps
//! (default 200) from seed `PLUTO_SOUNDNESS_FIRST_SEED` (default 1000), each deduced, built and run
//! in the simulator with IAM enforced; prints apps, handlers, accesses, violations and the grant
//! precision (exact / conservative / unused), per feature.
//!
//! `cargo bench -p pluto-tests --bench soundness` (`PLUTO_SOUNDNESS_SEEDS=20` for a short run).

use pluto_tests::appgen::{AppReport, Harness, render_failures, render_summary};

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name}={text} is not a number; using {default}");
            default
        }),
        Err(_) => default,
    }
}

fn main() {
    let count = env_number("PLUTO_SOUNDNESS_SEEDS", 200);
    let first = env_number("PLUTO_SOUNDNESS_FIRST_SEED", 1000);
    let harness = Harness::default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("no tokio runtime: {error}");
            std::process::exit(1);
        }
    };
    let mut reports: Vec<AppReport> = Vec::new();
    let mut broken = Vec::new();
    for seed in first..first.saturating_add(count) {
        let report = harness
            .prepare(seed)
            .and_then(|prepared| runtime.block_on(harness.run(prepared)));
        match report {
            Ok(report) => {
                eprintln!(
                    "seed {seed}: {} handlers, {} accesses, {} violations, {} failed handlers",
                    report.handlers,
                    report.accesses,
                    report.violations.len(),
                    report.failed_handlers.len()
                );
                reports.push(report);
            }
            Err(error) => {
                eprintln!("seed {seed}: {error}");
                broken.push(seed);
            }
        }
    }
    let failures = render_failures(&reports);
    if !failures.is_empty() {
        println!("{failures}");
    }
    println!("{}", render_summary(&reports));
    let failing: Vec<u64> = reports
        .iter()
        .filter(|report| !report.passed())
        .map(|report| report.seed)
        .collect();
    println!(
        "seeds with a problem: {} of {}{}",
        failing.len(),
        reports.len(),
        if broken.is_empty() {
            String::new()
        } else {
            format!("; seeds that could not be checked (generator or harness bug): {broken:?}")
        }
    );
}
