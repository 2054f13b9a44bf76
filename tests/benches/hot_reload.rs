//! Benchmark: how fast a saved edit goes live in `cargo pluto run`, against a plain incremental
//! `cargo build` of the same edit. The scratch app of `pluto_tests::scratch_app` (as in
//! tests/tests/hot_reload.rs) is served by a real `cargo-pluto` process; five times, a handler's
//! body is edited and the time from the file write until its URL answers the new text is taken
//! (polling every 20 ms), with the `reloaded:` line's deduce/build/swap split. Then, with `cargo
//! pluto` stopped, the same kind of edit is built five times with `cargo build`. Prints medians
//! and the reload's overhead beyond the build (the goal: under 300 ms). Run with
//! `cargo bench -p pluto-tests --bench hot_reload`.

#![allow(clippy::unwrap_used)]

use pluto_tests::scratch_app::{AppSource, Echo, PlutoRun, call, save, target_dir, write_app};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EDITS: usize = 5;
/// The overhead a reload may add to the incremental build (the goal).
const GOAL: Duration = Duration::from_millis(300);
const POLL_EVERY: Duration = Duration::from_millis(20);

/// The app with `greet` answering `<greeting> <name>`: the only part the bench edits.
fn greeting_source(greeting: &str) -> AppSource {
    AppSource {
        greeting: greeting.to_owned(),
        ..AppSource::default()
    }
}

// --- measuring ----------------------------------------------------------------------------------

/// The `(deduce, build, swap)` milliseconds of a `[pluto] reloaded: generation N serves (deduce
/// A ms, build B ms, swap C ms)` line.
fn reload_split(line: &str) -> (f64, f64, f64) {
    let figure = |label: &str| -> f64 {
        line.split(label)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("no `{label}` figure in {line:?}"))
    };
    (figure("deduce "), figure("build "), figure("swap "))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Edits `greet` and waits until its URL answers the new text: the edit-to-serving time, and
/// the reload's split.
async fn edit_until_serving(
    run: &mut PlutoRun,
    client: &reqwest::Client,
    dir: &Path,
    greeting: &str,
    generation: u64,
) -> (f64, (f64, f64, f64)) {
    let greet = run.urls["greet"].clone();
    let expected = json!(format!("{greeting} x"));
    let edited = Instant::now();
    save(dir, &greeting_source(greeting));
    loop {
        if call(client, &greet, json!({"name": "x"})).await.as_ref() == Ok(&expected) {
            break;
        }
        assert!(
            edited.elapsed() < Duration::from_secs(300),
            "`{greeting}` never served; stderr:\n{}",
            run.stderr_text()
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
    let serving = millis(edited.elapsed());
    let line = run
        .wait_for_line(
            &format!("[pluto] reloaded: generation {generation} serves"),
            Duration::from_secs(10),
        )
        .await;
    (serving, reload_split(&line))
}

/// `cargo build` of the app after an edit, as the developer would run it.
fn plain_build(dir: &Path, greeting: &str) -> f64 {
    save(dir, &greeting_source(greeting));
    let started = Instant::now();
    let output = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".to_owned()))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("cargo runs");
    let elapsed = millis(started.elapsed());
    assert!(
        output.status.success(),
        "cargo build failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

#[tokio::main]
async fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hot-reload-bench");
    write_app(&dir, "hot-reload-bench-app", &AppSource::default());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    println!("hot reload of `cargo pluto run`: {EDITS} edits of a handler body, medians");
    let mut run = PlutoRun::start(
        &dir,
        &format!("hrb{}", std::process::id()),
        &[],
        Echo::Quiet,
    )
    .await;
    // One edit not measured: the first rebuild after the start warms caches.
    edit_until_serving(&mut run, &client, &dir, "warm", 2).await;
    let (mut serving, mut deduce, mut build, mut swap) = (vec![], vec![], vec![], vec![]);
    for edit in 0..EDITS {
        let greeting = format!("hello{edit}");
        let generation = edit as u64 + 3;
        let (to_serving, (deduced, built, swapped)) =
            edit_until_serving(&mut run, &client, &dir, &greeting, generation).await;
        println!(
            "  edit {}: serving after {to_serving:.0} ms (deduce {deduced:.0}, build {built:.0}, swap {swapped:.0})",
            edit + 1
        );
        serving.push(to_serving);
        deduce.push(deduced);
        build.push(built);
        swap.push(swapped);
    }
    run.stop().await;

    // The same kind of edit, built by plain `cargo build` with nothing else running.
    plain_build(&dir, "plain-warm");
    let plain: Vec<f64> = (0..EDITS)
        .map(|edit| {
            let elapsed = plain_build(&dir, &format!("plain{edit}"));
            println!("  plain cargo build {}: {elapsed:.0} ms", edit + 1);
            elapsed
        })
        .collect();

    let (serving, plain) = (median(&serving), median(&plain));
    let overhead = serving - plain;
    println!("edit to serving (file write -> URL answers the new text): {serving:>6.0} ms");
    println!(
        "  reloaded: line split:   deduce {:.0} ms, build {:.0} ms, swap {:.0} ms",
        median(&deduce),
        median(&build),
        median(&swap)
    );
    println!("plain incremental `cargo build`:                          {plain:>6.0} ms");
    println!(
        "reload overhead beyond the build:                         {overhead:>6.0} ms (goal: under {} ms: {})",
        GOAL.as_millis(),
        if overhead < millis(GOAL) {
            "met"
        } else {
            "NOT met"
        }
    );
}
