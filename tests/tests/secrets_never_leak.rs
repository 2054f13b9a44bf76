//! A secret's value never leaks: `cargo pluto secret set` (locally and `--deployed` against
//! moto), a `cargo pluto run` of the fixture app whose `secret-check` reads it, `cargo pluto
//! invoke` and `cargo pluto logs` of that function, and the dev console's request log. After all
//! of it, the value appears in no output, no log, no error and no file of the stack's `.pluto/`
//! directory; it is only in the local secret store outside the project (mode 0600) and in moto.

#![allow(clippy::unwrap_used)]

use pluto_tests::moto::Moto;
use pluto_tests::workspace_root;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

const REGION: &str = "us-east-1";

/// `cargo pluto <args> --manifest-path … --stack STACK`, with `args` first.
fn pluto(stack: &str, secrets_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(pluto_tests::app::build_workspace_binary("cargo-pluto"));
    command
        .arg("pluto")
        .args(args)
        .kill_on_drop(true)
        .env("PLUTO_SECRETS_DIR", secrets_dir)
        .arg("--manifest-path")
        .arg(workspace_root().join("tests/Cargo.toml"))
        .args(["--bin", "fixture-app", "--stack", stack]);
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `cargo pluto secret set api-key` with `value` piped in, plus `extra` arguments; with
/// `deployed`, against that moto (`--deployed --endpoint-url ...`) with test credentials.
async fn secret_set(
    stack: &str,
    secrets_dir: &Path,
    value: &str,
    deployed: Option<&Moto>,
) -> Output {
    let mut command = pluto(stack, secrets_dir, &["secret", "set", "api-key"]);
    if let Some(moto) = deployed {
        command
            .args([
                "--deployed",
                "--region",
                REGION,
                "--endpoint-url",
                moto.endpoint(),
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE");
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{value}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn assert_no_leak(what: &str, haystack: &[u8], secret: &str) {
    let found = haystack
        .windows(secret.len())
        .any(|window| window == secret.as_bytes());
    assert!(!found, "the secret's value leaked into {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_never_appears_in_outputs_logs_errors_or_pluto_files() {
    if let Err(error) = pluto_local_model::locate_model(None) {
        panic!(
            "the local model is missing: {error}. Run `scripts/fetch-model` (scripts/test does) first."
        );
    }
    let secret = format!("sv-{}-do-not-leak-7c1f", std::process::id());
    let stack = format!("sl{}", std::process::id() % 100_000);
    let stack_dir = workspace_root().join("tests/.pluto").join(&stack);
    let _ = std::fs::remove_dir_all(&stack_dir);
    let secrets_home = tempfile_dir("pluto-secrets");
    let mut transcript: Vec<(String, Vec<u8>)> = Vec::new();

    // An empty value is refused.
    let output = secret_set(&stack, &secrets_home, "", None).await;
    assert!(!output.status.success());
    assert!(
        text(&output).contains("no value for secret `api-key`"),
        "{}",
        text(&output)
    );
    // An unknown secret lists the app's secrets.
    let mut command = pluto(&stack, &secrets_home, &["secret", "set", "nosuch"]);
    let output = command.stdin(Stdio::null()).output().await.unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains("the app has no secret `nosuch`")
            && text(&output).contains("api-key"),
        "{}",
        text(&output)
    );

    // `cargo pluto run`, all its output kept.
    let mut run = pluto(&stack, &secrets_home, &["run", "--port", "0", "--no-watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run_stdout = run.stdout.take().unwrap();
    let mut run_stderr = run.stderr.take().unwrap();
    let stdout_task = tokio::spawn(async move {
        let mut buffer = Vec::new();
        let _ = run_stdout.read_to_end(&mut buffer).await;
        buffer
    });
    let stderr_task = tokio::spawn(async move {
        let mut buffer = Vec::new();
        let _ = run_stderr.read_to_end(&mut buffer).await;
        buffer
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(900);
    while !stack_dir.join("run.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "cargo pluto run came up"
        );
        assert!(
            run.try_wait().unwrap().is_none(),
            "cargo pluto run exited early"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Before the value is set: the function's error names the command to run.
    let output = pluto(
        &stack,
        &secrets_home,
        &["invoke", "secret-check", r#"{"expected": "x"}"#],
    )
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains("cargo pluto secret set api-key"),
        "{}",
        text(&output)
    );

    let output = secret_set(&stack, &secrets_home, &secret, None).await;
    assert!(output.status.success(), "{}", text(&output));
    transcript.push(("`secret set`".to_owned(), text(&output).into_bytes()));
    // The value is in the store outside the project, readable by its owner only.
    let stored: Vec<PathBuf> = files_under(&secrets_home)
        .into_iter()
        .filter(|path| std::fs::read(path).is_ok_and(|bytes| bytes == secret.as_bytes()))
        .collect();
    assert_eq!(
        stored.len(),
        1,
        "one file holds the value: {:?}",
        files_under(&secrets_home)
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&stored[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", stored[0].display());
    }

    // The function reads it; it answers whether it equals "wrong" and its length, never the
    // value (nor is the value sent as an argument, which the console would record).
    let output = pluto(
        &stack,
        &secrets_home,
        &["invoke", "secret-check", r#"{"expected": "wrong"}"#],
    )
    .output()
    .await
    .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer, json!([false, secret.len()]));
    transcript.push(("`invoke`".to_owned(), text(&output).into_bytes()));

    let output = pluto(&stack, &secrets_home, &["logs", "secret-check"])
        .output()
        .await
        .unwrap();
    transcript.push(("`logs`".to_owned(), text(&output).into_bytes()));

    // The console's view of the run.
    let info: Value =
        serde_json::from_slice(&std::fs::read(stack_dir.join("run.json")).unwrap()).unwrap();
    let console = info["console_url"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    for path in ["api/app", "api/requests"] {
        let body = client
            .get(format!("{console}{path}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        transcript.push((format!("the console's {path}"), body.to_vec()));
    }

    let pid = run.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(30), run.wait()).await;
    assert!(
        matches!(exit, Ok(Ok(status)) if status.success()),
        "{exit:?}"
    );
    transcript.push(("`run`'s stdout".to_owned(), stdout_task.await.unwrap()));
    transcript.push(("`run`'s stderr".to_owned(), stderr_task.await.unwrap()));

    // Deployed: before the stack exists, and with the secret deployed.
    let moto = Moto::dedicated();
    let output = secret_set(&stack, &secrets_home, &secret, Some(&moto)).await;
    assert!(!output.status.success());
    assert!(
        text(&output).contains("secret `api-key` is not deployed")
            && text(&output).contains("cargo pluto deploy"),
        "{}",
        text(&output)
    );
    transcript.push((
        "`secret set --deployed` (not deployed)".to_owned(),
        text(&output).into_bytes(),
    ));

    // The secret as `deploy` creates it: tagged as the stack's, without a value.
    let names = pluto_model::naming::StackNames::new("pluto-tests", &stack).unwrap();
    let physical = names.secret("api-key");
    let tag = |key: &str, value: &str| {
        aws_sdk_secretsmanager::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
    };
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    secrets
        .create_secret()
        .name(&physical)
        .tags(tag(pluto_aws_engine::desired::PROJECT_TAG, names.project()))
        .tags(tag(pluto_aws_engine::desired::STACK_TAG, names.stack()))
        .send()
        .await
        .unwrap();
    let output = secret_set(&stack, &secrets_home, &secret, Some(&moto)).await;
    assert!(output.status.success(), "{}", text(&output));
    transcript.push((
        "`secret set --deployed`".to_owned(),
        text(&output).into_bytes(),
    ));
    let stored = secrets
        .get_secret_value()
        .secret_id(&physical)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.secret_string(), Some(secret.as_str()));

    for (what, bytes) in &transcript {
        assert_no_leak(what, bytes, &secret);
    }
    let pluto_files = files_under(&stack_dir);
    assert!(
        pluto_files.iter().any(|path| path.ends_with("arch.json")),
        "the run wrote its files: {pluto_files:?}"
    );
    for path in pluto_files {
        let bytes = std::fs::read(&path).unwrap();
        assert_no_leak(&path.display().to_string(), &bytes, &secret);
    }
    let _ = std::fs::remove_dir_all(&stack_dir);
    let _ = std::fs::remove_dir_all(&secrets_home);
}

/// A fresh directory under the system's temporary directory (outside the project).
fn tempfile_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
