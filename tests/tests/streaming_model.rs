//! Streaming end to end with the real local model: the fixture app's `stream-generate` (a
//! streaming handler on `SageMakerLlm::stream`) behind the simulator's Function URL gateway, its
//! tokens coming from the local SageMaker API's `InvokeEndpointWithResponseStream`, which candle
//! feeds token by token.
//!
//! Checked here: the tokens reach the client as separate chunks, in order, in both wire formats
//! (server-sent events and plain chunked text); joined, they are exactly the buffered answer
//! (`generate`) for the same greedy prompt; and a client that goes away stops the model.
//!
//! Needs the local model: `scripts/test` fetches it (`scripts/fetch-model`); the tests fail with
//! that instruction when it is missing.

use futures_util::StreamExt;
use pluto_model::llm::{Continue, StreamEnd, TextGeneration, TgiRequest, TgiStreamToken};
use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_spec::UrlAuth;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The prompt both functions get: long enough an answer for many tokens.
const PROMPT: &str = "Write three short sentences about the sea.";

/// The real model, counting the tokens it generates (to see a disconnect stop it).
#[derive(Debug)]
struct CountingModel {
    model: pluto_local_model::LocalModel,
    tokens: AtomicUsize,
}

impl TextGeneration for CountingModel {
    fn generate(
        &self,
        request: &TgiRequest,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        // What `LocalModel`'s `TextGeneration::generate` does, counting the tokens.
        let generation = self
            .model
            .generate_chat(&request.inputs, &request.generation_params())?;
        self.tokens
            .fetch_add(generation.generated_tokens, Ordering::SeqCst);
        Ok(generation.text)
    }

    fn generate_stream(
        &self,
        request: &TgiRequest,
        on_token: &mut dyn FnMut(TgiStreamToken) -> Continue,
    ) -> Result<StreamEnd, Box<dyn std::error::Error + Send + Sync>> {
        TextGeneration::generate_stream(&self.model, request, &mut |token| {
            self.tokens.fetch_add(1, Ordering::SeqCst);
            on_token(token)
        })
    }

    fn label(&self) -> String {
        TextGeneration::label(&self.model)
    }
}

struct Simulated {
    url: String,
    model: Arc<CountingModel>,
    simulator: Simulator,
}

impl Simulated {
    async fn start() -> Self {
        let path = pluto_local_model::locate_model(None).unwrap_or_else(|error| {
            panic!("the local model is missing: {error}. Run `scripts/fetch-model` (scripts/test does) first.")
        });
        let model = Arc::new(CountingModel {
            model: pluto_local_model::LocalModel::load(&path).expect("the local model loads"),
            tokens: AtomicUsize::new(0),
        });
        let mut architecture = pluto_tests::app::fixture_architecture();
        for function in &mut architecture.functions {
            let exposed = ["generate", "stream-generate"].contains(&function.spec.name.as_str());
            function.spec.url = if exposed {
                UrlAuth::Public
            } else {
                UrlAuth::None
            };
            function.spec.timeout_s = 120;
        }
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let data_dir = std::env::temp_dir().join(format!(
            "pluto-streaming-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let mut options = SimulatorOptions::new(
            "test",
            PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
            data_dir,
        );
        options.model = Some(model.clone());
        let simulator = Simulator::start(&architecture, options)
            .await
            .expect("the simulator starts");
        Self {
            url: simulator.gateway_url().to_owned(),
            model,
            simulator,
        }
    }
}

/// The body of a streaming response, read as it arrives: one entry per network read.
async fn read_chunks(response: reqwest::Response) -> Vec<Vec<u8>> {
    let mut reads = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        reads.push(chunk.expect("the stream is read to its end").to_vec());
    }
    reads
}

/// The reads of `stream-generate`'s answer to [`PROMPT`], asked with `accept`: a 200 whose
/// content type starts with `content_type`.
async fn stream_generate(
    simulated: &Simulated,
    accept: Option<&str>,
    content_type: &str,
) -> Vec<Vec<u8>> {
    let mut request = reqwest::Client::new()
        .post(format!("{}/stream-generate", simulated.url))
        .json(&json!([PROMPT]));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("stream-generate");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|value| value.starts_with(content_type)),
        "{:?}",
        response.headers()
    );
    read_chunks(response).await
}

/// The `data:` texts of the server-sent events in `body`, with each event's type.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let mut kind = "message".to_owned();
            let mut data = Value::Null;
            for line in event.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    kind = name.trim().to_owned();
                } else if let Some(json) = line.strip_prefix("data:") {
                    data = serde_json::from_str(json.trim()).expect("data is JSON");
                }
            }
            (kind, data)
        })
        .collect()
}

#[tokio::test]
async fn tokens_arrive_separately_in_order_and_join_to_the_buffered_answer() {
    let simulated = Simulated::start().await;
    let client = reqwest::Client::new();

    let buffered = client
        .post(format!("{}/generate", simulated.url))
        .json(&json!([PROMPT]))
        .send()
        .await
        .expect("generate");
    assert_eq!(buffered.status().as_u16(), 200);
    let buffered: String = buffered.json().await.expect("a JSON string");
    assert!(buffered.len() > 20, "a real answer: {buffered:?}");

    // Server-sent events.
    let reads = stream_generate(&simulated, Some("text/event-stream"), "text/event-stream").await;
    let text: String = reads
        .iter()
        .map(|read| String::from_utf8_lossy(read))
        .collect();
    let events = events(&text);
    let tokens: Vec<&str> = events
        .iter()
        .filter(|(kind, _)| kind == "message")
        .map(|(_, data)| data["text"].as_str().expect("a token's text"))
        .collect();
    assert!(tokens.len() >= 5, "several tokens: {events:?}");
    assert_eq!(
        events.last().map(|(kind, _)| kind.as_str()),
        Some("done"),
        "the stream ends with the done event: {events:?}"
    );
    assert_eq!(tokens.concat(), buffered, "joined tokens = buffered answer");
    let reads_with_tokens = reads
        .iter()
        .filter(|read| String::from_utf8_lossy(read).contains("data: {\"text\""))
        .count();
    assert!(
        reads_with_tokens >= 3,
        "the tokens arrive separately, not in one piece: {} reads for {} tokens",
        reads_with_tokens,
        tokens.len()
    );

    // Plain chunked text, as `curl -N` shows it.
    let reads = stream_generate(&simulated, None, "text/plain").await;
    assert!(reads.len() >= 3, "several chunks: {}", reads.len());
    let joined: Vec<u8> = reads.concat();
    assert_eq!(String::from_utf8(joined).expect("UTF-8"), buffered);

    simulated.simulator.stop().await;
}

#[tokio::test]
async fn a_client_that_goes_away_stops_the_model() {
    const LONG_PROMPT: &str = "Count from one to two hundred in words, one number per line.";
    let simulated = Simulated::start().await;
    let client = reqwest::Client::new();
    // The whole answer, buffered: how many tokens the model generates for it.
    let before = simulated.model.tokens.load(Ordering::SeqCst);
    let whole = client
        .post(format!("{}/generate", simulated.url))
        .json(&json!([LONG_PROMPT]))
        .send()
        .await
        .expect("generate");
    assert_eq!(whole.status().as_u16(), 200);
    let whole_tokens = simulated.model.tokens.load(Ordering::SeqCst) - before;
    assert!(
        whole_tokens >= 60,
        "the prompt must give a long answer for this test to mean something: {whole_tokens} tokens"
    );

    let before = simulated.model.tokens.load(Ordering::SeqCst);
    let response = client
        .post(format!("{}/stream-generate", simulated.url))
        .json(&json!([LONG_PROMPT]))
        .send()
        .await
        .expect("stream-generate");
    assert_eq!(response.status().as_u16(), 200);
    let mut body = response.bytes_stream();
    let first = body.next().await.expect("a first chunk").expect("readable");
    assert!(!first.is_empty());
    drop(body);
    // The disconnect travels gateway -> Runtime API -> function -> SageMaker stream -> model:
    // within a token or two the count stops growing (unchanged for 2 s, however loaded the
    // machine), far short of the whole answer.
    let mut after = simulated.model.tokens.load(Ordering::SeqCst);
    let mut unchanged_polls = 0;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = simulated.model.tokens.load(Ordering::SeqCst);
        if now == after {
            unchanged_polls += 1;
            if unchanged_polls == 8 {
                break;
            }
        } else {
            unchanged_polls = 0;
            after = now;
        }
    }
    assert_eq!(unchanged_polls, 8, "the model stopped generating");
    let streamed_tokens = after - before;
    assert!(
        streamed_tokens < whole_tokens / 2,
        "the model stopped early: {streamed_tokens} tokens of the {whole_tokens} of the whole answer"
    );
    simulated.simulator.stop().await;
}
