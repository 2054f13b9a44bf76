//! Benchmark: how fast a saved edit goes live in `cargo pluto run`, against a plain incremental
//! `cargo build` of the same edit. A small app (as in tests/tests/hot_reload.rs) is served by a
//! real `cargo-pluto` process; five times, a handler's body is edited and the time from the
//! file write until its URL answers the new text is taken (polling every 20 ms), with the
//! `reloaded:` line's deduce/build/swap split. Then, with `cargo pluto` stopped, the same kind of
//! edit is built five times with `cargo build`. Prints medians and the reload's overhead beyond
//! the build (the goal: under 300 ms). Run with `cargo bench -p pluto-tests --bench hot_reload`.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const EDITS: usize = 5;
/// The overhead a reload may add to the incremental build (the issue's goal).
const GOAL: Duration = Duration::from_millis(300);
const POLL_EVERY: Duration = Duration::from_millis(20);

// --- the app under test and the `cargo pluto run` process ---------------------------------------

/// The app's `src/main.rs`, where `greet` answers `<greeting> <name>`.
fn app_source(greeting: &str) -> String {
    format!(
        r#"//! The app tests/benches/hot_reload.rs edits while `cargo pluto run` serves it.

use pluto::{{KvStore, resource}};

#[resource(kv_store)]
fn notes() -> KvStore;

#[resource(function(url = "public"))]
async fn greet(name: String) -> pluto::Result<String> {{
    Ok(format!("{greeting} {{name}}"))
}}

#[resource(function(url = "public"))]
async fn slow(ms: u64) -> pluto::Result<String> {{
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    Ok("v1".to_owned())
}}

#[resource(function(url = "public"))]
async fn remember(key: String, value: String) -> pluto::Result<()> {{
    Ok(notes().set(&key, value).await?)
}}

#[resource(function(url = "public"))]
async fn recall(key: String) -> pluto::Result<Option<String>> {{
    Ok(notes().get(&key).await?)
}}

fn main() {{
    pluto::start();
}}
"#
    )
}

/// Writes the app into a fresh `dir`: a standalone package depending on the workspace's
/// `pluto`, with the workspace's dev profile and `Cargo.lock`, so the dependencies built for the
/// workspace in the shared target directory are reused.
fn write_app(dir: &Path, package: &str, greeting: &str) {
    let root = pluto_tests::workspace_root();
    let _ = std::fs::remove_dir_all(dir.join(".pluto"));
    let _ = std::fs::remove_dir_all(dir.join("src"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let runtime = root
        .join("runtime")
        .display()
        .to_string()
        .replace('\\', "/");
    let manifest = format!(
        r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
pluto = {{ path = "{runtime}" }}
tokio = {{ version = "1", features = ["time"] }}

[workspace]

[profile.dev]
debug = "line-tables-only"

[profile.dev.package."*"]
debug = false

[profile.dev.package.syn]
opt-level = 3

[profile.dev.package.proc-macro2]
opt-level = 3
"#
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    save(dir, greeting);
}

fn save(dir: &Path, greeting: &str) {
    std::fs::write(dir.join("src/main.rs"), app_source(greeting)).unwrap();
}

fn target_dir() -> PathBuf {
    pluto_tests::workspace_root().join("target")
}

/// A running `cargo pluto run` of the app, with its URLs and stderr lines.
struct PlutoRun {
    child: Child,
    urls: BTreeMap<String, String>,
    stderr_lines: mpsc::UnboundedReceiver<String>,
    stderr_log: Arc<Mutex<Vec<String>>>,
}

impl PlutoRun {
    async fn start(dir: &Path, stack: &str) -> PlutoRun {
        let cargo_pluto = pluto_tests::app::build_workspace_binary("cargo-pluto");
        let mut child = Command::new(cargo_pluto)
            .args(["pluto", "run", "--port", "0", "--stack", stack])
            .arg("--manifest-path")
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("cargo-pluto starts");
        let stderr_log = Arc::new(Mutex::new(Vec::new()));
        let (send, stderr_lines) = mpsc::unbounded_channel();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::clone(&stderr_log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                log.lock().unwrap().push(line.clone());
                let _ = send.send(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut urls = BTreeMap::new();
        let ready = tokio::time::timeout(Duration::from_secs(900), async {
            while let Ok(Some(line)) = stdout.next_line().await {
                let mut words = line.split_whitespace();
                if let (Some(name), Some(url)) = (words.next(), words.next())
                    && url.starts_with("http://127.0.0.1:")
                    && url.trim_end_matches('/').ends_with(name)
                {
                    urls.insert(name.to_owned(), url.to_owned());
                }
                if line.starts_with("Press Ctrl-C") {
                    return true;
                }
            }
            false
        })
        .await;
        let run = PlutoRun {
            child,
            urls,
            stderr_lines,
            stderr_log,
        };
        assert_eq!(
            ready,
            Ok(true),
            "cargo pluto run did not come up; its stderr:\n{}",
            run.stderr_text()
        );
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        run
    }

    fn stderr_text(&self) -> String {
        self.stderr_log.lock().unwrap().join("\n")
    }

    async fn wait_for_line(&mut self, text: &str, timeout: Duration) -> String {
        let found = tokio::time::timeout(timeout, async {
            while let Some(line) = self.stderr_lines.recv().await {
                if line.contains(text) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!(
                "no `{text}` on stderr within {timeout:?}; stderr so far:\n{}",
                self.stderr_text()
            ),
        }
    }

    /// Ctrl-C, and wait for it to exit.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
        let exit = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        assert!(
            matches!(exit, Ok(Ok(status)) if status.success()),
            "cargo pluto run stops on Ctrl-C: {exit:?}"
        );
    }
}

async fn call(client: &reqwest::Client, url: &str, args: Value) -> Result<Value, String> {
    let response = client
        .post(url)
        .json(&args)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|error| error.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|error| format!("not JSON ({error}): {body}"))
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
    save(dir, greeting);
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
    save(dir, greeting);
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
    write_app(&dir, "hot-reload-bench-app", "hello");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    println!("hot reload of `cargo pluto run`: {EDITS} edits of a handler body, medians");
    let mut run = PlutoRun::start(&dir, &format!("hrb{}", std::process::id())).await;
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
