//! Benchmark (figures only): what streaming buys the user of the `langchain-llama` example. Its
//! `qa` function (the stuff chain over the bakery's fact sheet, streamed) runs behind the
//! simulator's Function URL gateway with the real local model; for each question, the time to
//! the first byte of the answer and the time to the whole answer, through the local Function URL,
//! as server-sent events and as plain text.
//!
//! `cargo bench -p pluto-tests --bench streaming_qa` (after `scripts/fetch-model`).

use futures_util::StreamExt;
use pluto_simulator::{Simulator, SimulatorOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUESTIONS: [&str; 4] = [
    "What is the best seller of Aurora Bakery?",
    "When does Aurora Bakery open on Saturdays?",
    "Who founded Aurora Bakery?",
    "Where is Aurora Bakery?",
];

/// One request: time to the first body byte, time to the end, bytes.
async fn timed(
    client: &reqwest::Client,
    url: &str,
    question: &str,
    accept: &str,
) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let response = client
        .get(format!(
            "{url}?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("question", question)
                .finish()
        ))
        .header("accept", accept)
        .send()
        .await
        .expect("qa answers");
    assert_eq!(response.status().as_u16(), 200, "qa failed");
    let mut body = response.bytes_stream();
    let mut first = None;
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("the stream is read to its end");
        if first.is_none() && !chunk.is_empty() {
            first = Some(started.elapsed());
        }
        bytes += chunk.len();
    }
    let total = started.elapsed();
    (first.unwrap_or(total), total, bytes)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let model_path = pluto_local_model::locate_model(None).unwrap_or_else(|error| {
        panic!("the local model is missing: {error}. Run `scripts/fetch-model` first.")
    });
    let model = pluto_local_model::LocalModel::load(&model_path).expect("the model loads");
    println!("model: {}", model.info());
    let binary = pluto_tests::app::build_workspace_binary("langchain-llama");
    let architecture = pluto_deducer::deduce(&pluto_deducer::source::PackageSelector {
        manifest_path: Some(
            pluto_tests::workspace_root().join("examples/langchain-llama/Cargo.toml"),
        ),
        package: None,
        bin: None,
    })
    .expect("the example deduces")
    .architecture;
    let data_dir =
        std::env::temp_dir().join(format!("pluto-streaming-bench-{}", std::process::id()));
    let mut options = SimulatorOptions::new("bench", binary, data_dir);
    options.model = Some(Arc::new(model));
    options.warm_up = true;
    let simulator = Simulator::start(&architecture, options)
        .await
        .expect("the simulator starts");
    let url = simulator.urls().get("qa").cloned().expect("qa has a URL");
    let client = reqwest::Client::new();

    println!(
        "\n{:<44} {:>12} {:>10} {:>12} {:>10} {:>7}",
        "question (qa, local Function URL)",
        "SSE first",
        "SSE all",
        "text first",
        "text all",
        "bytes"
    );
    let mut first_bytes = Vec::new();
    let mut wholes = Vec::new();
    for (index, question) in QUESTIONS.iter().enumerate() {
        // The first question is cold: no prompt prefix cached yet.
        let (sse_first, sse_total, _) = timed(&client, &url, question, "text/event-stream").await;
        let (text_first, text_total, bytes) = timed(&client, &url, question, "text/plain").await;
        let label = if index == 0 {
            format!("{question} (cold)")
        } else {
            (*question).to_owned()
        };
        println!(
            "{label:<44} {:>9.0} ms {:>7.0} ms {:>9.0} ms {:>7.0} ms {bytes:>7}",
            millis(sse_first),
            millis(sse_total),
            millis(text_first),
            millis(text_total)
        );
        if index > 0 {
            first_bytes.extend([sse_first, text_first]);
            wholes.extend([sse_total, text_total]);
        }
    }
    let mean =
        |values: &[Duration]| millis(values.iter().sum::<Duration>()) / values.len().max(1) as f64;
    println!(
        "\nwarm mean: first byte {:.0} ms, whole answer {:.0} ms: the reader sees the answer start \
         {:.1}x sooner than a buffered response would arrive",
        mean(&first_bytes),
        mean(&wholes),
        mean(&wholes) / mean(&first_bytes).max(f64::EPSILON)
    );
    simulator.stop().await;
}
