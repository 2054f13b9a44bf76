//! The IAM policy linter `parliament` (PyPI, installed by `scripts/test` into `.cache/venv`):
//! found through `PLUTO_PARLIAMENT`, then `<workspace>/.cache/venv/bin/parliament`, then PATH.

use std::env;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The `parliament` executable, or a failure that says how to get one.
pub fn executable() -> PathBuf {
    let hint = "install it with `scripts/test` (which puts a pinned parliament into \
                .cache/venv), or `pip install parliament==1.6.4` and set PLUTO_PARLIAMENT to the \
                `parliament` executable";
    if let Some(path) = env::var_os("PLUTO_PARLIAMENT") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "PLUTO_PARLIAMENT is {}, which is not a file; {hint}",
            path.display()
        );
        return path;
    }
    let cached = crate::workspace_root().join(".cache/venv/bin/parliament");
    if cached.is_file() {
        return cached;
    }
    env::var_os("PATH")
        .iter()
        .flat_map(env::split_paths)
        .map(|dir| dir.join("parliament"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the IAM linter `parliament` was not found (PLUTO_PARLIAMENT, {}, PATH); {hint}",
                cached.display()
            )
        })
}

/// One finding of parliament: its issue code and detail.
pub type Finding = (String, String);

/// The findings parliament reports for the policy document `json`, with or without the
/// community auditors.
///
/// # Panics
/// When parliament is missing (with how to install it) or crashes.
pub fn lint(json: &str, community: bool) -> Vec<Finding> {
    let mut command = Command::new(executable());
    command.args(["--minimum_severity", "INFO", "--json"]);
    if community {
        command.arg("--include-community-auditors");
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("parliament starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(json.as_bytes())
        .expect("parliament reads the policy");
    let output = child.wait_with_output().expect("parliament runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // parliament exits 0 without findings and 1 with some; anything else is a crash.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "parliament failed ({}):\n{stderr}\n{stdout}\npolicy:\n{json}",
        output.status
    );
    let findings: Vec<Finding> = stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let finding: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("parliament printed `{line}`: {error}"));
            let detail = match &finding["detail"] {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (
                finding["issue"].as_str().unwrap_or_default().to_owned(),
                detail,
            )
        })
        .collect();
    assert_eq!(
        output.status.code() == Some(0),
        findings.is_empty(),
        "exit status {} does not match the findings {findings:?}",
        output.status
    );
    findings
}
