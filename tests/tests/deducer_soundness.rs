//! Differential soundness test of the deducer (issue 11, deliverable 5): random Pluto apps
//! (`pluto_tests::appgen`) are deduced, built and run handler by handler in the simulator with IAM
//! enforced, and every AWS access a handler attempted must have been granted: **observed ⊆
//! deduced**, and every handler must succeed. A failure names the seed, the handler, the missing
//! grant and the generated code that needs it (`target/soundness/app-<seed>/`), ready to become
//! a fixture. `cargo bench -p pluto-tests --bench soundness` runs hundreds of seeds.

use pluto_tests::appgen::{AppReport, Harness, render_failures, render_summary};

/// The seeds CI runs: about 13 handlers and 35 access sites each, every feature several times.
const CI_SEEDS: [u64; 6] = [1, 2, 3, 4, 5, 6];

#[test]
fn deducer_grants_every_access_of_generated_apps() {
    let harness = Harness::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut reports: Vec<AppReport> = Vec::new();
    for seed in CI_SEEDS {
        let prepared = harness
            .prepare(seed)
            .unwrap_or_else(|error| panic!("seed {seed}: {error}"));
        let report = runtime
            .block_on(harness.run(prepared))
            .unwrap_or_else(|error| panic!("seed {seed}: {error}"));
        reports.push(report);
    }
    assert!(
        reports.iter().all(AppReport::passed),
        "the deducer under-granted:\n{}\n{}",
        render_failures(&reports),
        render_summary(&reports)
    );
    println!("{}", render_summary(&reports));
}
