//! Runs a Pluto app binary as a Lambda function process against a [`RuntimeApi`].

use crate::runtime_api::RuntimeApi;
use std::path::Path;
use std::process::Stdio;
use tokio::process::{Child, Command};

/// A running function process; killed when dropped.
#[derive(Debug)]
pub struct FunctionProcess {
    child: Child,
}

impl FunctionProcess {
    /// Starts `binary` serving `handler`, with the Lambda environment pointing at `api` plus `env`.
    pub fn spawn(binary: &Path, handler: &str, api: &RuntimeApi, env: &[(String, String)]) -> Self {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("fixture-{handler}"))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/fixture-{handler}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env(pluto::contract::HANDLER_ENV, handler)
            .envs(
                env.iter()
                    .map(|(key, value)| (key.as_str(), value.as_str())),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("could not start {}: {error}", binary.display()));
        Self { child }
    }

    /// Waits for the process to exit (for processes expected to stop by themselves) and returns
    /// its exit code and stderr.
    pub async fn exit_with_stderr(
        binary: &Path,
        env: &[(String, String)],
    ) -> (Option<i32>, String) {
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

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Builds the binary of a workspace package (an example app) with the same cargo that runs the
/// tests, and returns its path. Cheap when it is up to date.
pub fn build_workspace_binary(package: &str) -> std::path::PathBuf {
    let output = std::process::Command::new(env!("CARGO"))
        .current_dir(crate::workspace_root())
        .args([
            "build",
            "--quiet",
            "--message-format=json",
            "-p",
            package,
            "--bin",
            package,
        ])
        .output()
        .unwrap_or_else(|error| panic!("could not run cargo to build {package}: {error}"));
    assert!(
        output.status.success(),
        "building {package} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|message| message["executable"].as_str().map(std::path::PathBuf::from))
        .next_back()
        .unwrap_or_else(|| panic!("cargo reported no executable for {package}"))
}
