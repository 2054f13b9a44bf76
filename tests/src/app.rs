//! Runs a Pluto app binary as a Lambda function process, through the simulator's own Lambda
//! Runtime API and instance pool (`pluto_simulator::lambda`), the way Lambda runs it.

use pluto_simulator::lambda::{FunctionConfig, FunctionPool, LogSink, Outcome};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

/// One function of an app binary, started on the first invocation, stopped when dropped.
#[derive(Debug)]
pub struct FunctionUnderTest {
    pool: FunctionPool,
}

impl FunctionUnderTest {
    /// `handler` of `binary`, with a test region and credentials plus `env` (later wins).
    pub fn start(binary: &Path, handler: &str, env: &[(String, String)]) -> Self {
        let mut full_env = vec![
            ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
            (
                pluto_spec::contract::HANDLER_ENV.to_owned(),
                handler.to_owned(),
            ),
        ];
        full_env.extend(env.iter().cloned());
        let quiet: LogSink = Arc::new(|_: &str, _: u64, line: &str| eprintln!("{line}"));
        let config = FunctionConfig {
            name: handler.to_owned(),
            binary: binary.to_path_buf(),
            env: full_env,
            timeout: Duration::from_secs(60),
            memory_mb: 256,
            max_instances: 1,
        };
        Self {
            pool: FunctionPool::new(config, quiet),
        }
    }

    /// Sends one event and waits for the function's answer.
    ///
    /// # Panics
    /// When the function process cannot be started.
    pub async fn invoke(&self, event: Value) -> Outcome {
        self.pool
            .invoke(event)
            .await
            .unwrap_or_else(|error| panic!("the invocation did not run: {error}"))
    }
}

/// Test helpers on an invocation's [`Outcome`].
pub trait OutcomeExt {
    /// The response, or a panic naming what happened instead.
    fn response(self) -> Value;
    /// The function error as Lambda reports it (`{"errorType", "errorMessage"}`), or a panic.
    fn error(self) -> Value;
}

impl OutcomeExt for Outcome {
    fn response(self) -> Value {
        match self {
            Outcome::Response(value) => value,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn error(self) -> Value {
        match self {
            Outcome::FunctionError {
                error_type,
                message,
            } => json!({"errorType": error_type, "errorMessage": message}),
            other => panic!("expected a function error, got {other:?}"),
        }
    }
}

/// Runs `binary` with only `env` until it exits by itself; returns its exit code and stderr.
pub async fn run_to_exit(binary: &Path, env: &[(String, String)]) -> (Option<i32>, String) {
    let output = Command::new(binary)
        .env_clear()
        .envs(
            env.iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
        )
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|error| panic!("could not run {}: {error}", binary.display()));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Builds the binary of a workspace package (an example app, `cargo-pluto`) for this machine with
/// [`pluto_build::build_host`], which chooses the binary as `cargo pluto` does, and returns its
/// path. Cheap when it is up to date.
///
/// # Panics
/// When the package is not in the workspace or does not build (cargo's errors are on stderr).
pub fn build_workspace_binary(package: &str) -> std::path::PathBuf {
    let location = pluto_deducer::source::locate(&pluto_deducer::source::PackageSelector {
        manifest_path: Some(crate::workspace_root().join("Cargo.toml")),
        package: Some(package.to_owned()),
        bin: None,
    })
    .unwrap_or_else(|error| panic!("no workspace package {package}: {error}"));
    pluto_build::build_host(&pluto_build::HostBuild {
        manifest_path: location.root.join("Cargo.toml"),
        quiet: true,
        ..pluto_build::HostBuild::default()
    })
    .unwrap_or_else(|error| panic!("building {package} failed: {error}"))
}

/// The fixture app's architecture (`src/bin/fixture-app`), deduced as `cargo pluto` deduces it.
pub fn fixture_architecture() -> pluto_model::Architecture {
    let manifest = crate::workspace_root().join("tests").join("Cargo.toml");
    pluto_deducer::deduce(&pluto_deducer::source::PackageSelector {
        manifest_path: Some(manifest),
        package: None,
        bin: None,
    })
    .unwrap_or_else(|error| panic!("the fixture app deduces: {error}"))
    .architecture
}
