//! `cargo pluto run` end to end over loopback: the langchain-llama example with the real local
//! model answering through the Function URL gateway, then Ctrl-C.
//!
//! Needs the local model: `scripts/test` fetches it (`scripts/fetch-model`), and the test fails
//! with that instruction when it is missing.

use pluto_tests::app::build_workspace_binary;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn model_hint() -> String {
    match pluto_local_model::locate_model(None) {
        Ok(_) => String::new(),
        Err(error) => format!("{error}. Run `scripts/fetch-model` (scripts/test does) first."),
    }
}

#[tokio::test]
async fn run_serves_the_example_with_real_model_answers_and_stops_on_ctrl_c() {
    let hint = model_hint();
    assert!(hint.is_empty(), "the local model is missing: {hint}");
    let cargo_pluto = build_workspace_binary("cargo-pluto");
    let manifest = pluto_tests::workspace_root().join("examples/langchain-llama/Cargo.toml");
    // `cargo pluto run` of the example as stack `e2e`, on any free port.
    let run = || {
        let mut command = Command::new(&cargo_pluto);
        command
            .args([
                "pluto",
                "run",
                "--port",
                "0",
                "--stack",
                "e2e",
                "--manifest-path",
            ])
            .arg(&manifest);
        command
    };
    let mut child = run()
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("cargo-pluto starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut urls = std::collections::BTreeMap::new();
    let mut console = None;
    let ready = tokio::time::timeout(Duration::from_secs(900), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("Console"), Some(url)) => console = Some(url.to_owned()),
                (Some(name), Some(url))
                    if url.starts_with("http://127.0.0.1:")
                        && url.trim_end_matches('/').ends_with(name) =>
                {
                    urls.insert(name.to_owned(), url.to_owned());
                }
                _ => {}
            }
            if line.starts_with("Press Ctrl-C") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "cargo pluto run did not come up");
    assert_eq!(urls.keys().collect::<Vec<_>>(), ["chatbot", "qa"]);

    let client = reqwest::Client::new();
    // The dev console is printed and served, and describes the app.
    let console = console.expect("cargo pluto run prints the console's URL");
    assert!(console.ends_with("/_pluto/"), "{console}");
    let page = client.get(&console).send().await.expect("console page");
    assert_eq!(page.status().as_u16(), 200);
    let app: Value = client
        .get(format!("{console}api/app"))
        .send()
        .await
        .expect("console API")
        .json()
        .await
        .expect("JSON");
    let names: Vec<&str> = app["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .filter_map(|function| function["name"].as_str())
        .collect();
    assert_eq!(names, ["chatbot", "qa"], "{app}");
    assert_eq!(
        app["functions"][0]["url"].as_str(),
        Some(urls["chatbot"].as_str())
    );
    let answer = client
        .post(&urls["chatbot"])
        .json(&json!(["What is the capital of France?"]))
        .send()
        .await
        .expect("chatbot");
    assert_eq!(answer.status().as_u16(), 200);
    // Both functions stream: plain chunked text unless the client asks for events.
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .is_ok_and(|value| value.starts_with("text/plain")),
        "{:?}",
        answer.headers()
    );
    let text = answer.text().await.expect("the streamed answer");
    assert!(text.contains("Paris"), "the capital of France: {text}");

    let answer = client
        .get(format!(
            "{}?question=Where%20is%20Aurora%20Bakery%3F",
            urls["qa"]
        ))
        .send()
        .await
        .expect("qa");
    assert_eq!(answer.status().as_u16(), 200);
    let text = answer.text().await.expect("the streamed answer");
    assert!(!text.trim().is_empty(), "qa answers: {text}");

    let bad = client
        .post(&urls["qa"])
        .body("not json")
        .send()
        .await
        .expect("qa");
    assert_eq!(bad.status().as_u16(), 400);
    let error: Value = bad
        .json()
        .await
        .expect("an error before the first byte is JSON");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("not JSON")),
        "{error}"
    );

    // regression: a second `cargo pluto run` of the same stack says so before building.
    let second = run().output().await.expect("a second cargo-pluto runs");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another `cargo pluto run` of this stack is running")
            && stderr.contains("--stack")
            && !stderr.contains("[pluto] building"),
        "{stderr}"
    );

    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    assert!(
        matches!(exit, Ok(Ok(status)) if status.success()),
        "Ctrl-C stops cargo pluto run cleanly: {exit:?}"
    );
}
