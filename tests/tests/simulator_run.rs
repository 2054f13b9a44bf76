//! `cargo pluto run` end to end over loopback: the langchain-llama example with the real local
//! model answering through the Function URL gateway — the QA from documents that exist only in
//! its bucket, seeded with `cargo pluto bucket upload` and the `ingest` function — then Ctrl-C.
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
    // A fresh stack: the bucket starts empty on every run of this test.
    let _ = std::fs::remove_dir_all(
        pluto_tests::workspace_root().join("examples/langchain-llama/.pluto/e2e"),
    );
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
    assert_eq!(urls.keys().collect::<Vec<_>>(), ["chatbot", "ingest", "qa"]);

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
    assert_eq!(names, ["chatbot", "ingest", "qa"], "{app}");
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

    // The library is empty: the QA says how to fill it, without asking the model.
    let empty = client
        .get(format!("{}?question=Anything%3F", urls["qa"]))
        .send()
        .await
        .expect("qa")
        .text()
        .await
        .expect("text");
    assert!(empty.contains("`ingest`"), "{empty}");
    // Seed the bucket from the example's folder with the CLI, and one more document through
    // `ingest` (an IAM-auth URL: through the console's invoke API).
    let upload = Command::new(&cargo_pluto)
        .args(["pluto", "bucket", "upload", "docs"])
        .arg(pluto_tests::workspace_root().join("examples/langchain-llama/library"))
        .args(["--stack", "e2e", "--manifest-path"])
        .arg(&manifest)
        .output()
        .await
        .expect("cargo pluto bucket upload runs");
    let upload_log = String::from_utf8_lossy(&upload.stderr);
    assert!(upload.status.success(), "{upload_log}");
    assert!(upload_log.contains("uploaded 2 files"), "{upload_log}");
    let ingested: Value = client
        .post(format!("{console}api/invoke/ingest"))
        .json(&json!({"documents": [{
            "name": "skerry-lighthouse.txt",
            "text": "The Skerry lighthouse keeper is Oskar Lund. The lighthouse was painted red in 1911."
        }]}))
        .send()
        .await
        .expect("ingest")
        .json()
        .await
        .expect("JSON");
    assert_eq!(ingested["ok"], json!(true), "{ingested}");
    let buckets: Value = client
        .get(format!("{console}api/buckets/docs"))
        .send()
        .await
        .expect("console buckets")
        .json()
        .await
        .expect("JSON");
    let keys: Vec<&str> = buckets["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|object| object["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "aurora-bakery.txt",
            "harbour-ferries.txt",
            "skerry-lighthouse.txt"
        ]
    );

    // A question only the bucket's bakery sheet answers: the prompt holds that document, and
    // the answer cites it.
    let answer = client
        .get(format!(
            "{}?question=When%20does%20Aurora%20Bakery%20open%20on%20Saturdays%3F",
            urls["qa"]
        ))
        .send()
        .await
        .expect("qa");
    assert_eq!(answer.status().as_u16(), 200);
    let text = answer.text().await.expect("the streamed answer");
    let (reply, sources) = text
        .rsplit_once("\n\nSources: ")
        .unwrap_or_else(|| panic!("the answer cites its sources: {text:?}"));
    assert!(!reply.trim().is_empty(), "qa answers: {text}");
    assert!(
        sources.split(", ").next() == Some("aurora-bakery.txt"),
        "the bakery's sheet ranks first: {sources}"
    );
    let model: Value = client
        .get(format!("{console}api/model"))
        .send()
        .await
        .expect("console model")
        .json()
        .await
        .expect("JSON");
    let prompts = model["calls"].to_string();
    assert!(
        prompts.contains("[source: aurora-bakery.txt]") && prompts.contains("9:00 on Saturdays"),
        "the model was asked over the bucket's document: {model:#}"
    );
    eprintln!("qa answered from the bucket: {text}");

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
