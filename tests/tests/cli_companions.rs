//! `cargo pluto invoke` and `cargo pluto logs`, the real CLI end to end:
//!
//! - with `--deployed`, against moto: Lambda `Invoke` in moto's Docker-less ("simple") backend,
//!   which returns the payload, or a queued result, or a queued function error (see
//!   `tests/moto/server.py`), and CloudWatch Logs `FilterLogEvents` on the function's log group,
//!   followed while new events arrive, each printed once;
//! - the simulator's logs, from a `logs/<function>.log` in the stack directory of a scratch app,
//!   followed across appends and a new run's rotation;
//! - `invoke` through a running `cargo pluto run` of the fixture app (buffered, streaming, failing
//!   and unknown functions), and `logs` of what a function wrote there.

#![allow(clippy::unwrap_used)]

use pluto_tests::moto::Moto;
use pluto_tests::workspace_root;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const REGION: &str = "us-east-1";

fn cargo_pluto() -> Command {
    let mut command = Command::new(pluto_tests::app::build_workspace_binary("cargo-pluto"));
    command.arg("pluto").kill_on_drop(true);
    command
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// `HH:MM:SS.mmm` in UTC, as `cargo pluto logs` prints times.
fn time_of_day(at_ms: u64) -> String {
    let seconds = (at_ms / 1000) % 86400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60,
        at_ms % 1000
    )
}

/// (success, stdout, stderr).
fn finished(output: &Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts `command` with its stdout read line by line.
fn spawn_lines(mut command: Command) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cargo-pluto starts");
    let stdout = child.stdout.take().expect("stdout");
    (child, BufReader::new(stdout).lines())
}

/// The next line of `lines`, within `within`.
async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, within: Duration) -> String {
    tokio::time::timeout(within, lines.next_line())
        .await
        .expect("a line in time")
        .expect("stdout readable")
        .expect("the command is still running")
}

// ---------------------------------------------------------------------------------------------
// --deployed, against moto

/// `cargo pluto <args> --deployed` of the chatbot-history example, stack `STACK`, against moto.
fn deployed(moto: &Moto, stack: &str, args: &[&str]) -> Command {
    let manifest = workspace_root().join("examples/chatbot-history/Cargo.toml");
    let mut command = cargo_pluto();
    command
        .args(args)
        .arg("--manifest-path")
        .arg(manifest)
        .args(["--stack", stack, "--deployed", "--region", REGION])
        .args(["--endpoint-url", moto.endpoint()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE");
    command
}

async fn run_deployed(moto: &Moto, stack: &str, args: &[&str]) -> (bool, String, String) {
    finished(
        &deployed(moto, stack, args)
            .output()
            .await
            .expect("cargo-pluto runs"),
    )
}

/// POSTs `body` to moto's own API at `path`.
async fn moto_api(moto: &Moto, path: &str, body: Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", moto.endpoint()))
        .json(&body)
        .send()
        .await
        .expect("moto answers");
    assert!(
        response.status().is_success(),
        "moto refused {path}: {}",
        response.status()
    );
}

/// A CloudWatch Logs call (JSON protocol; moto does not check signatures). The tests' crate
/// has no CloudWatch Logs SDK.
async fn logs_call(moto: &Moto, action: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(moto.endpoint())
        .header("X-Amz-Target", format!("Logs_20140328.{action}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20240101/{REGION}/logs/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "logs {action}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn put_log_events(moto: &Moto, group: &str, stream: &str, events: &[(u64, &str)]) {
    let events: Vec<Value> = events
        .iter()
        .map(|(at, message)| json!({"timestamp": at, "message": message}))
        .collect();
    logs_call(
        moto,
        "PutLogEvents",
        json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}),
    )
    .await;
}

/// Creates Lambda function `name` (with a role) in moto.
async fn create_function(moto: &Moto, name: &str) {
    let config = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let role = iam
        .create_role()
        .role_name(format!("{name}-fn"))
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("moto creates the role");
    let role_arn = role.role().expect("a role").arn().to_owned();
    // An empty zip archive: moto does not run the code.
    let mut zip = b"PK\x05\x06".to_vec();
    zip.extend([0u8; 18]);
    aws_sdk_lambda::Client::new(&config)
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role_arn)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(zip))
                .build(),
        )
        .send()
        .await
        .expect("moto creates the function");
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_and_logs_of_the_deployed_stack() {
    let moto = Moto::dedicated();
    // Lambda without Docker: `Invoke` answers the payload, or the queued results.
    moto_api(
        &moto,
        "/moto-api/config",
        json!({"lambda": {"use_docker": false}}),
    )
    .await;
    let stack = "companions";
    create_function(&moto, "chatbot-history-companions-chat").await;

    // Invoke: the payload (moto echoes it), a queued result, a queued function error.
    let (ok, stdout, stderr) = run_deployed(
        &moto,
        stack,
        &["invoke", "chat", r#"{"session_id": "s1", "message": "hi"}"#],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).expect("the payload, as JSON"),
        json!({"session_id": "s1", "message": "hi"})
    );
    assert!(stderr.contains("[pluto] request "), "{stderr}");

    moto_api(
        &moto,
        "/moto-api/static/lambda-simple/response",
        json!({"results": [json!("Paris is the capital.").to_string()], "region": REGION}),
    )
    .await;
    let (ok, stdout, stderr) = run_deployed(&moto, stack, &["invoke", "chat"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout, "Paris is the capital.\n",
        "a string prints as it is"
    );

    moto_api(
        &moto,
        "/moto-api/static/lambda-simple/response",
        json!({"results": [json!({"errorType": "Pluto.HandlerError",
                                  "errorMessage": "the model is down"}).to_string()],
               "region": REGION}),
    )
    .await;
    let (ok, stdout, stderr) = run_deployed(&moto, stack, &["invoke", "chat"]).await;
    assert!(!ok, "a function error fails the command: {stdout}");
    assert!(
        stderr.contains("function `chat` failed: Pluto.HandlerError: the model is down"),
        "{stderr}"
    );

    // A function of the app that is not deployed, and one the app does not have.
    let (ok, _, stderr) = run_deployed(&moto, stack, &["invoke", "forget"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("function `forget` is not deployed in stack `companions`")
            && stderr.contains("chatbot-history-companions-forget"),
        "{stderr}"
    );
    let (ok, _, stderr) = run_deployed(&moto, stack, &["invoke", "nosuch"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("the app has no function `nosuch`")
            && stderr.contains("its functions: chat, forget"),
        "{stderr}"
    );

    // Logs: none yet (no log group: the function has not run), then the group's events.
    let group = "/aws/lambda/chatbot-history-companions-chat";
    let (ok, stdout, stderr) = run_deployed(&moto, stack, &["logs", "chat"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("has no log group"), "{stderr}");
    let (ok, _, stderr) = run_deployed(&moto, stack, &["logs", "nosuch"]).await;
    assert!(
        !ok && stderr.contains("the app has no function `nosuch`"),
        "{stderr}"
    );

    logs_call(&moto, "CreateLogGroup", json!({"logGroupName": group})).await;
    let stream = "2024/05/01/[$LATEST]0123456789abcdef";
    logs_call(
        &moto,
        "CreateLogStream",
        json!({"logGroupName": group, "logStreamName": stream}),
    )
    .await;
    let start = now_ms() - 5_000;
    let old = now_ms() - 3_600_000;
    put_log_events(
        &moto,
        group,
        stream,
        &[
            (old, "an hour ago"),
            (start, "START RequestId: r1"),
            (start + 1, "hello from chat\n"),
        ],
    )
    .await;
    let (ok, stdout, stderr) = run_deployed(&moto, stack, &["logs", "chat"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "{} [01234567] START RequestId: r1\n{} [01234567] hello from chat\n",
            time_of_day(start),
            time_of_day(start + 1)
        ),
        "the last 10 minutes by default"
    );
    let (ok, stdout, _) = run_deployed(&moto, stack, &["logs", "chat", "--since", "2h"]).await;
    assert!(ok);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.starts_with(&format!("{} [01234567] an hour ago", time_of_day(old))));

    // --follow: what is there, then new events, each once.
    let (mut child, mut lines) = spawn_lines(deployed(&moto, stack, &["logs", "chat", "-f"]));
    let mut seen = vec![
        next_line(&mut lines, Duration::from_secs(30)).await,
        next_line(&mut lines, Duration::from_secs(30)).await,
    ];
    assert!(seen[1].ends_with("hello from chat"), "{seen:?}");
    let later = now_ms();
    put_log_events(&moto, group, stream, &[(later, "a later line")]).await;
    seen.push(next_line(&mut lines, Duration::from_secs(30)).await);
    assert_eq!(
        seen[2],
        format!("{} [01234567] a later line", time_of_day(later))
    );
    // Several polls later, nothing was printed again.
    let again = tokio::time::timeout(Duration::from_millis(3500), lines.next_line()).await;
    assert!(again.is_err(), "printed again: {again:?}");
    child.kill().await.expect("kill");
}

// ---------------------------------------------------------------------------------------------
// The simulator's logs

/// A scratch app (just a package: `logs` only needs to find its directory).
fn scratch_app(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pluto-companions-{name}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"scratch\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    dir
}

/// Appends simulator log records (`at_ms`, instance, request id, line) to `path`.
fn append_records(path: &Path, records: &[(u64, u64, Option<&str>, &str)]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for (at_ms, instance, request_id, line) in records {
        let record = json!({"at_ms": at_ms, "instance": instance, "request_id": request_id,
                            "line": line});
        writeln!(file, "{record}").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_of_the_simulator_print_and_follow_the_run_log() {
    let app = scratch_app("logs");
    let manifest = app.join("Cargo.toml");
    let logs_dir = app.join(".pluto/dev/logs");
    let log = logs_dir.join("chat.log");
    let now = now_ms();
    let old = now - 3_600_000;
    append_records(
        &log,
        &[
            (old, 1, None, "started an hour ago"),
            (now, 3, Some("b1f0c2d3-aaaa-bbbb"), "answering"),
        ],
    );
    let logs = |args: &[&str]| {
        let mut command = cargo_pluto();
        command
            .arg("logs")
            .args(args)
            .arg("--manifest-path")
            .arg(&manifest);
        command
    };

    let (ok, stdout, stderr) = finished(&logs(&["chat"]).output().await.unwrap());
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "{} #1 -        started an hour ago\n{} #3 b1f0c2d3 answering\n",
            time_of_day(old),
            time_of_day(now)
        )
    );
    assert!(
        stderr.contains("no `cargo pluto run` of stack `dev` is running"),
        "{stderr}"
    );
    let (ok, stdout, _) = finished(&logs(&["chat", "--since", "10m"]).output().await.unwrap());
    assert!(ok);
    assert_eq!(
        stdout,
        format!("{} #3 b1f0c2d3 answering\n", time_of_day(now))
    );
    let (ok, _, stderr) = finished(&logs(&["nosuch"]).output().await.unwrap());
    assert!(!ok);
    assert!(
        stderr.contains("the app has no function `nosuch`")
            && stderr.contains("its functions: chat"),
        "{stderr}"
    );
    let (ok, _, stderr) = finished(&logs(&["chat", "--since", "ages"]).output().await.unwrap());
    assert!(
        !ok && stderr.contains("--since `ages` is not a duration"),
        "{stderr}"
    );

    // --follow: the lines there, a line appended, and a new run's log after the rotation.
    let (mut child, mut lines) = spawn_lines(logs(&["chat", "--follow"]));
    let within = Duration::from_secs(10);
    assert!(
        next_line(&mut lines, within)
            .await
            .ends_with("started an hour ago")
    );
    assert!(next_line(&mut lines, within).await.ends_with("answering"));
    let later = now_ms();
    append_records(&log, &[(later, 3, None, "appended")]);
    assert_eq!(
        next_line(&mut lines, within).await,
        format!("{} #3 -        appended", time_of_day(later))
    );
    // A new `cargo pluto run`: chat.log becomes chat.log.1, a new chat.log starts.
    std::fs::rename(&log, logs_dir.join("chat.log.1")).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    append_records(&log, &[(now_ms(), 1, Some("r2"), "new run")]);
    assert!(
        next_line(&mut lines, within)
            .await
            .ends_with("#1 r2       new run")
    );
    child.kill().await.expect("kill");
    let _ = std::fs::remove_dir_all(&app);
}

// ---------------------------------------------------------------------------------------------
// invoke through a running `cargo pluto run`

#[tokio::test(flavor = "multi_thread")]
async fn invoke_through_a_running_simulator() {
    // The fixture app has a SageMaker endpoint: `cargo pluto run` serves it with the local model.
    if let Err(error) = pluto_local_model::locate_model(None) {
        panic!(
            "the local model is missing: {error}. Run `scripts/fetch-model` (scripts/test does) first."
        );
    }
    let manifest = workspace_root().join("tests/Cargo.toml");
    let stack = format!("cc{}", std::process::id() % 100_000);
    let project = |command: &mut Command| {
        command.arg("--manifest-path").arg(&manifest).args([
            "--bin",
            "fixture-app",
            "--stack",
            &stack,
        ]);
    };
    let stack_dir = workspace_root().join("tests/.pluto").join(&stack);
    let _ = std::fs::remove_file(stack_dir.join("run.json"));

    // No run yet.
    let mut command = cargo_pluto();
    command.args(["invoke", "echo", r#"{"text": "hi"}"#]);
    project(&mut command);
    let (ok, _, stderr) = finished(&command.output().await.unwrap());
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "no `cargo pluto run` of stack `{stack}` is running here"
        )) && stderr.contains("--deployed"),
        "{stderr}"
    );

    let mut run = cargo_pluto();
    run.args(["run", "--port", "0"]);
    project(&mut run);
    let mut child = run
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cargo pluto run starts");
    // Up when it has written run.json (building the fixture and loading the model may take
    // minutes on a cold cache).
    let deadline = std::time::Instant::now() + Duration::from_secs(900);
    while !stack_dir.join("run.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "cargo pluto run wrote no {}",
            stack_dir.join("run.json").display()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "cargo pluto run exited before writing run.json"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let invoke = |args: &[&str]| {
        let mut command = cargo_pluto();
        command.arg("invoke").args(args);
        project(&mut command);
        command
    };
    let output = |args: &'static [&'static str]| {
        let mut command = invoke(args);
        async move { finished(&command.output().await.unwrap()) }
    };

    let (ok, stdout, stderr) = output(&["echo", r#"{"text": "hi"}"#]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "hi\n", "a string result prints as it is");
    assert!(stderr.contains("[pluto] request "), "{stderr}");

    let (ok, stdout, stderr) = output(&["add", r#"{"a": 2, "b": 3}"#]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "5");

    let (ok, stdout, stderr) = output(&["shift", r#"{"point": {"x": 1, "y": 2}, "dx": 3}"#]).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        json!({"x": 4, "y": 2})
    );

    // Arguments from standard input.
    let mut piped = invoke(&["echo", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = piped.stdin.take().unwrap();
        stdin.write_all(br#"{"text": "from stdin"}"#).await.unwrap();
    }
    let (ok, stdout, stderr) = finished(&piped.wait_with_output().await.unwrap());
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "from stdin\n");

    // A streaming function prints each chunk as it arrives: the first long before the last.
    let mut streaming = invoke(&["stream-count", r#"{"n": 3, "delay_ms": 500}"#])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = streaming.stdout.take().unwrap();
    let mut text = Vec::new();
    let mut first_chunk_at = None;
    loop {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(60), stdout.read(&mut buffer))
            .await
            .expect("output in time")
            .unwrap();
        if read == 0 {
            break;
        }
        text.extend_from_slice(&buffer[..read]);
        if first_chunk_at.is_none() && text.starts_with(b"0 ") {
            first_chunk_at = Some(std::time::Instant::now());
        }
    }
    let first_chunk_at = first_chunk_at.expect("the first chunk");
    assert_eq!(
        String::from_utf8_lossy(&text),
        "0 1 2 \n",
        "the chunks, then a newline"
    );
    assert!(
        first_chunk_at.elapsed() >= Duration::from_millis(700),
        "the first chunk was printed before the others were produced"
    );
    assert!(streaming.wait().await.unwrap().success());

    let (ok, _, stderr) = output(&["fails"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("function `fails` failed") && stderr.contains("the database is on fire"),
        "{stderr}"
    );
    let (ok, _, stderr) = output(&["stream-fails-before"]).await;
    assert!(!ok, "an error before the first byte fails: {stderr}");
    assert!(
        stderr.contains("function `stream-fails-before` failed"),
        "{stderr}"
    );

    let (ok, _, stderr) = output(&["nosuch"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("the app has no function `nosuch`")
            && stderr.contains("echo")
            && stderr.contains("stream-count"),
        "{stderr}"
    );

    // What a function wrote is in its log.
    let (ok, _, _) = output(&["crash", r#"{"code": 3}"#]).await;
    assert!(!ok, "crash fails");
    let mut logs = cargo_pluto();
    logs.args(["logs", "crash"]);
    project(&mut logs);
    let (ok, stdout, stderr) = finished(&logs.output().await.unwrap());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("crashing with exit code 3"), "{stdout}");

    let pid = child.id().expect("running").to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    assert!(
        matches!(exit, Ok(Ok(status)) if status.success()),
        "{exit:?}"
    );
    assert!(
        !stack_dir.join("run.json").exists(),
        "cargo pluto run removes run.json when it stops"
    );
}
