//! A small Pluto app written into a scratch directory and served by a real `cargo pluto run`,
//! for the hot reload test (tests/tests/hot_reload.rs) and bench (tests/benches/hot_reload.rs):
//! - [`AppSource`]: the app's `src/main.rs` (`greet`, `slow`, `remember`, `recall` over a KV
//!   store), with the parts a caller edits between saves;
//! - [`write_app`] and [`save`]: the package on disk, and a saved edit;
//! - [`PlutoRun`]: the `cargo-pluto pluto run` process, its URLs and stderr lines, stopped with
//!   SIGINT as Ctrl-C would;
//! - [`call`]: a function called through its URL.
//!
//! The app builds into the workspace's `target/` with the workspace's dev profile and
//! `Cargo.lock`, so the AWS SDK compiled for the workspace is reused and only `pluto` (once) and
//! the tiny app compile.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The app's `src/main.rs`, by the parts that change between saves; [`Default`] is the first
/// version: `greet` answers `hello <name>`, `slow` answers `v1`.
#[derive(Debug, Clone)]
pub struct AppSource {
    /// `greet` answers `<greeting> <name>`.
    pub greeting: String,
    /// What `slow` answers.
    pub version: String,
    /// Statements at the top of `greet`.
    pub greet_extra: String,
    /// A comment at the end, to save different contents without changing behaviour.
    pub trailer: String,
}

impl Default for AppSource {
    fn default() -> Self {
        Self {
            greeting: "hello".to_owned(),
            version: "v1".to_owned(),
            greet_extra: String::new(),
            trailer: String::new(),
        }
    }
}

impl AppSource {
    /// The text of `src/main.rs`.
    pub fn render(&self) -> String {
        let AppSource {
            greeting,
            version,
            greet_extra,
            trailer,
        } = self;
        format!(
            r#"//! The scratch app of the hot reload test and bench, edited while `cargo pluto run` serves it.

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

/// The target directory the app builds into: the workspace's, so that the dependencies built
/// for the workspace are reused.
pub fn target_dir() -> PathBuf {
    crate::workspace_root().join("target")
}

/// Writes the app's `Cargo.toml` (a standalone package `package` depending on the workspace's
/// `pluto`, with the workspace's dev profile so dependencies built for the workspace are reused),
/// the workspace's `Cargo.lock` (same versions, same builds) and `source` into `dir`, after
/// removing what an earlier run left there (`src/`, `.pluto/`).
pub fn write_app(dir: &Path, package: &str, source: &AppSource) {
    let root = crate::workspace_root();
    let _ = std::fs::remove_dir_all(dir.join(".pluto"));
    let _ = std::fs::remove_dir_all(dir.join("src"));
    std::fs::create_dir_all(dir.join("src")).expect("the scratch app's src/ is created");
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
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("the scratch app's Cargo.toml");
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))
        .expect("the workspace's Cargo.lock is copied to the scratch app");
    save(dir, source);
}

/// Saves `source` as the app's `src/main.rs` (what an editor's save does).
pub fn save(dir: &Path, source: &AppSource) {
    std::fs::write(dir.join("src/main.rs"), source.render()).expect("src/main.rs is saved");
}

/// Whether a [`PlutoRun`] echoes the process's output to this process's stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Each stdout and stderr line, prefixed with the stack name (for a test's failure output).
    Lines,
    /// Nothing (for a bench, whose own output is the point).
    Quiet,
}

/// A running `cargo pluto run` of the app: its URLs, and its stderr line by line (kept for
/// failure messages). Dropping it stops the run the way Ctrl-C does, so a failed test's
/// function processes end too.
#[derive(Debug)]
pub struct PlutoRun {
    child: Child,
    /// Each function's URL, by function name.
    pub urls: BTreeMap<String, String>,
    /// The dev console's URL (ends with `/_pluto/`).
    pub console_url: String,
    /// The run's `run.json`, written while it serves and removed when it stops.
    pub run_json: PathBuf,
    stderr_lines: mpsc::UnboundedReceiver<String>,
    stderr_log: Arc<Mutex<Vec<String>>>,
}

impl PlutoRun {
    /// Starts `cargo-pluto pluto run` of the app in `dir` as stack `stack` (with `extra_args`
    /// after `run`'s own) and waits until it serves (up to 15 minutes: the first run may compile
    /// `pluto`).
    pub async fn start(dir: &Path, stack: &str, extra_args: &[&str], echo: Echo) -> PlutoRun {
        let cargo_pluto = crate::app::build_workspace_binary("cargo-pluto");
        let mut child = Command::new(cargo_pluto)
            .args(["pluto", "run", "--port", "0", "--stack", stack])
            .args(extra_args)
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
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let log = Arc::clone(&stderr_log);
        let prefix = format!("  [{stack}]");
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                if echo == Echo::Lines {
                    eprintln!("{prefix} {line}");
                }
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line.clone());
                let _ = send.send(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let mut urls = BTreeMap::new();
        let mut console_url = None;
        let ready = tokio::time::timeout(Duration::from_secs(900), async {
            while let Ok(Some(line)) = stdout.next_line().await {
                if echo == Echo::Lines {
                    eprintln!("  [{stack} stdout] {line}");
                }
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
            run_json: dir.join(".pluto").join(stack).join("run.json"),
            stderr_lines,
            stderr_log,
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

    /// The process id of `cargo-pluto`, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// All stderr lines so far, for failure messages.
    pub fn stderr_text(&self) -> String {
        self.stderr_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }

    /// How many stderr lines so far contain `text`.
    pub fn count_lines(&self, text: &str) -> usize {
        self.stderr_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|line| line.contains(text))
            .count()
    }

    /// Waits for the next stderr line containing `text` (earlier unread lines are skipped).
    pub async fn wait_for_line(&mut self, text: &str, timeout: Duration) -> String {
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
    pub async fn app_info(&self, client: &reqwest::Client) -> Value {
        client
            .get(format!("{}api/app", self.console_url))
            .send()
            .await
            .expect("console api/app")
            .json()
            .await
            .expect("api/app is JSON")
    }

    /// Polls the console's `api/app` until its `build` satisfies `done` (for up to 20 s); returns
    /// that `build`.
    pub async fn wait_for_build(
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

    /// Stops it with SIGINT (Ctrl-C) and checks that it exits cleanly (within 60 s) and removes
    /// `run.json`.
    pub async fn stop(mut self) {
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
pub async fn call(client: &reqwest::Client, url: &str, args: Value) -> Result<Value, String> {
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
