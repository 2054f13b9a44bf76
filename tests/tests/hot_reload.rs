//! Hot reload of `cargo pluto run`, end to end: a small app written into a scratch directory is
//! served by a real `cargo-pluto` process while the test edits its source, and checks what the
//! developer would see: the new behaviour answers, a request in flight finishes on the old
//! version, KV data stays, grant changes are printed and shown by the console, a build error
//! keeps the old version serving, a burst of saves rebuilds once, and `--no-watch` reloads
//! nothing. Ctrl-C (SIGINT) stops it and removes `run.json`.
//!
//! The app builds into the workspace's `target/` with the workspace's dev profile and
//! `Cargo.lock`, so the AWS SDK compiled for the workspace is reused and only `pluto` (once) and
//! the tiny app compile.

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

// --- the app under test and the `cargo pluto run` process (the bench has a copy) -------------

/// How the app's source differs between the steps.
#[derive(Debug, Clone)]
struct AppSource {
    /// `greet` answers `<greeting> <name>`.
    greeting: String,
    /// What `slow` answers.
    version: String,
    /// Statements at the top of `greet`.
    greet_extra: String,
    /// A comment at the end, to save different contents without changing behaviour.
    trailer: String,
}

impl AppSource {
    fn new() -> Self {
        Self {
            greeting: "hello".to_owned(),
            version: "v1".to_owned(),
            greet_extra: String::new(),
            trailer: String::new(),
        }
    }

    fn render(&self) -> String {
        let AppSource {
            greeting,
            version,
            greet_extra,
            trailer,
        } = self;
        format!(
            r#"//! The app tests/tests/hot_reload.rs edits while `cargo pluto run` serves it.

use pluto::{{KvStore, resource}};

#[resource(kv_store)]
fn notes() -> KvStore;

#[resource(function(url = "public"))]
async fn greet(name: String) -> pluto::Result<String> {{
    {greet_extra}
    Ok(format!("{greeting} {{name}}"))
}}

#[resource(function(url = "public"))]
async fn slow(ms: u64) -> pluto::Result<String> {{
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    Ok("{version}".to_owned())
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
{trailer}
"#
        )
    }
}

/// Writes the app's `Cargo.toml` (a standalone package depending on the workspace's `pluto`,
/// with the workspace's dev profile so dependencies built for the workspace are reused), the
/// workspace's `Cargo.lock` (same versions, same builds) and `source` into a fresh `dir`.
fn write_app(dir: &Path, package: &str, source: &AppSource) {
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

# Standalone, not a member of an enclosing workspace.
[workspace]

# The Pluto workspace's dev profile: the same settings give the same builds of the dependencies
# in the shared target directory.
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
    save(dir, source);
}

/// Saves the app's `src/main.rs`.
fn save(dir: &Path, source: &AppSource) {
    std::fs::write(dir.join("src/main.rs"), source.render()).unwrap();
}

/// A running `cargo pluto run` of the app: its URLs, and its stderr line by line (echoed to the
/// test's stderr, kept for failure messages).
struct PlutoRun {
    child: Child,
    urls: BTreeMap<String, String>,
    console_url: String,
    stderr_lines: mpsc::UnboundedReceiver<String>,
    stderr_log: Arc<Mutex<Vec<String>>>,
    run_json: PathBuf,
}

impl PlutoRun {
    /// Starts `cargo-pluto pluto run` of the app in `dir` as stack `stack` and waits until it
    /// serves.
    async fn start(dir: &Path, stack: &str, extra_args: &[&str]) -> PlutoRun {
        let cargo_pluto = pluto_tests::app::build_workspace_binary("cargo-pluto");
        let mut child = Command::new(cargo_pluto)
            .args(["pluto", "run", "--port", "0", "--stack", stack])
            .args(extra_args)
            .arg("--manifest-path")
            .arg(dir.join("Cargo.toml"))
            .env(
                "CARGO_TARGET_DIR",
                pluto_tests::workspace_root().join("target"),
            )
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
        let prefix = format!("  [{stack}]");
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                eprintln!("{prefix} {line}");
                log.lock().unwrap().push(line.clone());
                let _ = send.send(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut urls = BTreeMap::new();
        let mut console_url = None;
        let ready = tokio::time::timeout(Duration::from_secs(900), async {
            while let Ok(Some(line)) = stdout.next_line().await {
                eprintln!("  [{stack} stdout] {line}");
                let mut words = line.split_whitespace();
                if let (Some(name), Some(url)) = (words.next(), words.next())
                    && url.starts_with("http://127.0.0.1:")
                {
                    if name == "Console" {
                        console_url = Some(url.to_owned());
                    } else if url.trim_end_matches('/').ends_with(name) {
                        urls.insert(name.to_owned(), url.to_owned());
                    }
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
            console_url: console_url.unwrap_or_default(),
            stderr_lines,
            stderr_log,
            run_json: dir.join(".pluto").join(stack).join("run.json"),
        };
        assert_eq!(
            ready,
            Ok(true),
            "cargo pluto run did not come up; its stderr:\n{}",
            run.stderr_text()
        );
        assert!(
            run.console_url.ends_with("/_pluto/"),
            "no Console line on stdout"
        );
        // The rest of stdout (nothing is expected) must not fill the pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        run
    }

    fn stderr_text(&self) -> String {
        self.stderr_log.lock().unwrap().join("\n")
    }

    /// How many stderr lines so far contain `text`.
    fn count_lines(&self, text: &str) -> usize {
        self.stderr_log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(text))
            .count()
    }

    /// Waits for the next stderr line containing `text` (earlier unread lines are skipped).
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
            Ok(None) => panic!(
                "cargo pluto run exited before printing `{text}`; its stderr:\n{}",
                self.stderr_text()
            ),
            Err(_) => panic!(
                "no `{text}` on stderr within {timeout:?}; stderr so far:\n{}",
                self.stderr_text()
            ),
        }
    }

    /// The console's `api/app`.
    async fn app_info(&self, client: &reqwest::Client) -> Value {
        client
            .get(format!("{}api/app", self.console_url))
            .send()
            .await
            .expect("console api/app")
            .json()
            .await
            .expect("api/app is JSON")
    }

    /// Polls the console's `api/app` until its `build` satisfies `done`; returns that `build`.
    async fn wait_for_build(
        &self,
        client: &reqwest::Client,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let build = self.app_info(client).await["build"].clone();
            if done(&build) {
                return build;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the console's build never showed {what}; last: {build}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it with SIGINT (Ctrl-C) and checks that it exits cleanly and removes `run.json`.
    async fn stop(mut self) {
        assert!(self.run_json.is_file(), "run.json is written while serving");
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT {pid}");
        let exit = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        assert!(
            matches!(exit, Ok(Ok(status)) if status.success()),
            "Ctrl-C stops cargo pluto run cleanly: {exit:?}; stderr:\n{}",
            self.stderr_text()
        );
        assert!(
            !self.run_json.exists(),
            "run.json is removed on Ctrl-C: {}",
            self.run_json.display()
        );
    }
}

impl Drop for PlutoRun {
    /// A failed test still stops the run the way Ctrl-C does, so its function processes end.
    fn drop(&mut self) {
        if let (Ok(None), Some(pid)) = (self.child.try_wait(), self.child.id()) {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
            for _ in 0..100 {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Calls a function through its URL with JSON arguments; its JSON answer, or the status and body.
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

// --- the test -----------------------------------------------------------------------------------

/// How long a rebuild may take on a busy machine.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_reloads_saved_changes_and_keeps_serving_through_failures() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hot-reload-test");
    let mut source = AppSource::new();
    write_app(&dir, "hot-reload-test-app", &source);
    let stack = format!("hr{}", std::process::id());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let mut run = PlutoRun::start(&dir, &stack, &[]).await;
    let url = |name: &str| run.urls.get(name).cloned().unwrap_or_default();
    let (greet, slow, remember, recall) =
        (url("greet"), url("slow"), url("remember"), url("recall"));
    assert_eq!(
        run.urls.keys().collect::<Vec<_>>(),
        ["greet", "recall", "remember", "slow"],
        "a URL per function"
    );
    let run_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&run.run_json).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(
        (run_json["pid"].as_u64(), run_json["console_url"].as_str()),
        (
            run.child.id().map(u64::from),
            Some(run.console_url.as_str())
        ),
        "run.json names this run once it serves: {run_json}"
    );
    let app = run.app_info(&client).await;
    assert_eq!(
        (
            app["build"]["generation"].clone(),
            app["build"]["state"].clone()
        ),
        (json!(1), json!("serving")),
        "the console shows generation 1 serving: {app}"
    );
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hello x")),
        "greet answers before any edit"
    );
    // (d), before the edit: a value stored by generation 1.
    assert_eq!(
        call(&client, &remember, json!({"key": "k", "value": "kept"})).await,
        Ok(Value::Null),
        "remember stores a note"
    );

    // (a) A saved edit of a handler goes live.
    source.greeting = "hi".to_owned();
    let edited = Instant::now();
    save(&dir, &source);
    run.wait_for_line("[pluto] changed: src/main.rs; rebuilding", RELOAD_TIMEOUT)
        .await;
    run.wait_for_line("reloaded: generation 2 serves", RELOAD_TIMEOUT)
        .await;
    let first_reload = edited.elapsed();
    run.wait_for_line("[pluto] grants unchanged", Duration::from_secs(5))
        .await;
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hi x")),
        "(a) generation 2 answers with the edited handler"
    );

    // (d) KV data stored before the reload is still there.
    assert_eq!(
        call(&client, &recall, json!({"key": "k"})).await,
        Ok(json!("kept")),
        "(d) KV data persists across a reload"
    );

    // (b) A request in flight during the reload finishes on the old version. It must outlast
    // the rebuild, so it runs at least three times as long as the first reload took.
    let slow_ms = (first_reload.as_millis() as u64 * 3 + 1000).max(3000);
    let in_flight = {
        let (client, slow) = (client.clone(), slow.clone());
        tokio::spawn(async move { call(&client, &slow, json!({"ms": slow_ms})).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    source.version = "v2".to_owned();
    save(&dir, &source);
    run.wait_for_line("reloaded: generation 3 serves", RELOAD_TIMEOUT)
        .await;
    assert!(
        !in_flight.is_finished(),
        "(b) the {slow_ms} ms request should still be running when generation 3 went live"
    );
    assert_eq!(
        call(&client, &slow, json!({"ms": 0})).await,
        Ok(json!("v2")),
        "(b) a new request goes to generation 3"
    );
    assert_eq!(
        in_flight.await.unwrap(),
        Ok(json!("v1")),
        "(b) the request in flight during the reload finishes on generation 2"
    );

    // (c) A new grant is printed and shown by the console.
    source.greet_extra = "notes().delete(&name).await?;".to_owned();
    save(&dir, &source);
    run.wait_for_line("reloaded: generation 4 serves", RELOAD_TIMEOUT)
        .await;
    let grant_line = run
        .wait_for_line("[pluto] grant ", Duration::from_secs(5))
        .await;
    assert_eq!(
        grant_line, "[pluto] grant + greet: delete on notes",
        "(c) the new grant is printed"
    );
    let build = run
        .wait_for_build(&client, "generation 4", |build| build["generation"] == 4)
        .await;
    assert_eq!(
        (build["state"].clone(), build["grant_changes"].clone()),
        (json!("serving"), json!(["+ greet: delete on notes"])),
        "(c) the console's build shows the grant change: {build}"
    );
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hi x")),
        "(c) greet may delete with its new grant"
    );

    // (e) A type error keeps generation 4 serving; fixing it serves generation 5.
    source.greet_extra = "let broken: u32 = \"s\";".to_owned();
    save(&dir, &source);
    run.wait_for_line(
        "[pluto] the build failed; still serving generation 4",
        RELOAD_TIMEOUT,
    )
    .await;
    let build = run
        .wait_for_build(&client, "the failed build", |build| {
            build["state"] == "failed"
        })
        .await;
    let message = build["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("mismatched types") && build["generation"] == 4,
        "(e) the console shows rustc's error and the generation still serving: {build}"
    );
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hi x")),
        "(e) generation 4 still answers after the failed build"
    );
    source.greet_extra = String::new();
    source.greeting = "hey".to_owned();
    save(&dir, &source);
    run.wait_for_line("reloaded: generation 5 serves", RELOAD_TIMEOUT)
        .await;
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hey x")),
        "(e) the fixed source serves as generation 5"
    );
    let grant_line = run
        .wait_for_line("[pluto] grant ", Duration::from_secs(5))
        .await;
    assert_eq!(
        grant_line, "[pluto] grant - greet: delete on notes",
        "(e) the removed grant is printed"
    );

    // (f) A burst of saves within 50 ms rebuilds once.
    let changes_before = run.count_lines("[pluto] changed: ");
    source.greeting = "yo".to_owned();
    let mut longest_gap = Duration::ZERO;
    let mut last_save = Instant::now();
    for save_number in 0..5 {
        source.trailer = format!("// save {save_number}");
        save(&dir, &source);
        longest_gap = longest_gap.max(last_save.elapsed());
        last_save = Instant::now();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run.wait_for_line("reloaded: generation 6 serves", RELOAD_TIMEOUT)
        .await;
    // Longer than the watcher's debounce (150 ms): a second rebuild would have started by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        run.count_lines("[pluto] changed: ") - changes_before,
        1,
        "(f) five saves ~10 ms apart (longest gap {longest_gap:?}; the debounce is 150 ms) give \
         one `changed:` line; stderr:\n{}",
        run.stderr_text()
    );
    assert_eq!(
        run.count_lines("[pluto] reloaded: generation 7"),
        0,
        "(f) one rebuild"
    );
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("yo x")),
        "(f) the last save serves"
    );

    run.stop().await;

    // (g) `--no-watch`: an edit changes nothing.
    let unwatched = PlutoRun::start(&dir, &format!("{stack}nw"), &["--no-watch"]).await;
    let greet = unwatched.urls.get("greet").cloned().unwrap_or_default();
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("yo x")),
        "(g) --no-watch serves the current source"
    );
    source.greeting = "unwatched".to_owned();
    save(&dir, &source);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("yo x")),
        "(g) --no-watch does not reload"
    );
    assert_eq!(
        unwatched.count_lines("[pluto] changed: "),
        0,
        "(g) --no-watch prints no `changed:` line; stderr:\n{}",
        unwatched.stderr_text()
    );
    unwatched.stop().await;
}
