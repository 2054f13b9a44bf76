//! The example apps, run as Lambda function processes against moto: the streaming chatbot, the
//! bucket-backed QA and its `ingest` of `langchain-llama`, and the KV-backed history of
//! `chatbot-history`.
//!
//! Their model calls are SageMaker `InvokeEndpointWithResponseStream` (moto answers a queued TGI
//! generation as TGI's token events, see `tests/moto/server.py`), and they answer through a
//! Function URL in Lambda's response-streaming mode: the tests read the chunks as the function
//! writes them, as server-sent events (`Accept: text/event-stream`) or plain text.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use pluto_simulator::lambda::Outcome;
use pluto_tests::app::{FunctionUnderTest, OutcomeExt, build_workspace_binary};
use pluto_tests::events::{UrlEvent, response_parts};
use pluto_tests::moto::{Moto, moto};
use pluto_tests::recorder::Recorder;
use serde_json::{Value, json};

/// How a test asks for the streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// `Accept: text/event-stream`: `data: {"text": ...}` events, then `event: done`.
    ServerSentEvents,
    /// Any other `Accept`: the raw text.
    PlainText,
}

/// A Function URL answer as the client sees it.
#[derive(Debug)]
struct UrlAnswer {
    status: u16,
    content_type: Option<String>,
    /// The body's chunks as the function wrote them (one for a buffered answer).
    chunks: Vec<String>,
}

impl UrlAnswer {
    fn body(&self) -> String {
        self.chunks.concat()
    }

    /// The streamed text: the plain body, or the SSE events' `text` joined (checking the framing:
    /// only `data: {"text": ...}` events, then exactly one `event: done` with `data: {}`, last);
    /// and how many pieces it came in (chunks, or `data` events).
    fn text(&self, wire: Wire) -> (String, usize) {
        match wire {
            Wire::PlainText => (self.body(), self.chunks.len()),
            Wire::ServerSentEvents => {
                let body = self.body();
                let events: Vec<&str> = body
                    .strip_suffix("\n\n")
                    .unwrap_or_else(|| panic!("SSE ends with a blank line: {body:?}"))
                    .split("\n\n")
                    .collect();
                let (done, data) = events.split_last().expect("at least the done event");
                assert_eq!(*done, "event: done\ndata: {}", "the last event: {body:?}");
                let texts: Vec<String> = data
                    .iter()
                    .map(|event| {
                        let json = event
                            .strip_prefix("data: ")
                            .unwrap_or_else(|| panic!("a data event: {event:?} in {body:?}"));
                        let value: Value = serde_json::from_str(json).expect("JSON data");
                        value["text"].as_str().expect("a text field").to_owned()
                    })
                    .collect();
                (texts.concat(), texts.len())
            }
        }
    }
}

/// Calls `handler` of the `package` example through a Function URL event (`POST /` with `body`
/// as JSON), asking for `wire`, and reads its whole answer.
async fn url_call(
    package: &str,
    handler: &str,
    env: &[(String, String)],
    body: Value,
    wire: Wire,
) -> UrlAnswer {
    let binary = build_workspace_binary(package);
    let api = FunctionUnderTest::start(&binary, handler, env);
    let mut event = UrlEvent::post_json(&body).build();
    if wire == Wire::ServerSentEvents {
        event["headers"]["accept"] = json!("text/event-stream");
    }
    match api.invoke(event).await {
        Outcome::Streamed(mut response) => {
            let mut chunks = Vec::new();
            while let Some(chunk) = response.next_chunk().await {
                let chunk = chunk
                    .unwrap_or_else(|error| panic!("the stream broke after {chunks:?}: {error}"));
                chunks.push(String::from_utf8(chunk.to_vec()).expect("UTF-8 chunks"));
            }
            let content_type = response
                .head
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                .map(|(_, value)| value.clone());
            UrlAnswer {
                status: response.head.status,
                content_type,
                chunks,
            }
        }
        outcome => {
            let response = outcome.response();
            let (status, body) = response_parts(&response);
            UrlAnswer {
                status,
                content_type: response["headers"]["content-type"]
                    .as_str()
                    .map(str::to_owned),
                chunks: vec![body.to_string()],
            }
        }
    }
}

/// Asserts `answer` is a 200 stream in `wire`'s format whose text is `expected`, in more than one
/// piece (so the answer streamed, not one buffered blob).
fn assert_streamed(answer: &UrlAnswer, wire: Wire, expected: &str) {
    assert_eq!(answer.status, 200, "{answer:?}");
    let content_type = answer.content_type.as_deref().unwrap_or_default();
    let expected_type = match wire {
        Wire::ServerSentEvents => "text/event-stream",
        Wire::PlainText => "text/plain",
    };
    assert!(
        content_type.starts_with(expected_type),
        "content type {content_type:?} for {wire:?}"
    );
    let (text, pieces) = answer.text(wire);
    assert_eq!(text, expected, "{answer:?}");
    assert!(
        pieces > 1,
        "the answer streams in several pieces, got {pieces}: {answer:?}"
    );
}

/// TGI's buffered answer for `generated`, which moto streams token by token.
fn tgi_answer(generated: &str) -> String {
    json!([{ "generated_text": generated }]).to_string()
}

/// Calls `handler` of `langchain-llama` once per wire format, each on its own endpoint name with
/// `generated` queued as the model's answer, and checks that the streamed text is `expected`.
async fn check_langchain_streams(
    handler: &str,
    endpoint: &str,
    body: Value,
    generated: &str,
    expected: &str,
) {
    for wire in [Wire::PlainText, Wire::ServerSentEvents] {
        let _queue = moto()
            .queue_sagemaker_results(&[(&tgi_answer(generated), "application/json")])
            .await;
        let endpoint = format!("{endpoint}-{wire:?}");
        let env = moto().env_with(&[("PLUTO_SAGEMAKER_LLAMA", &endpoint)]);
        let answer = url_call("langchain-llama", handler, &env, body.clone(), wire).await;
        assert_streamed(&answer, wire, expected);
    }
}

#[tokio::test]
async fn langchain_llama_chatbot_streams_the_models_reply() {
    check_langchain_streams(
        "chatbot",
        "llama-endpoint-chat",
        json!(["What is the capital of France?"]),
        " Paris is the capital of France.",
        "Paris is the capital of France.",
    )
    .await;
}

/// The fact only `aurora-bakery.txt` in the bucket knows: the QA function's code has no document.
const BAKERY_SHEET: &str = "Aurora Bakery is a small bakery at 12 Harbour Street in Tromsø. It is \
closed on Sundays. Its best seller is the cardamom bun, which costs 45 NOK.";

/// A client of `moto`'s S3, which addresses buckets by path, and a new empty `bucket` in it.
async fn s3_with_bucket(moto: &Moto, bucket: &str) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&moto.sdk_config().await)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("CreateBucket");
    s3
}

/// A bucket in moto holding the documents `ingest` stored (through its own direct invocation).
async fn ingested_library(moto: &Moto, bucket: &str) -> Vec<(String, String)> {
    let s3 = s3_with_bucket(moto, bucket).await;
    let binary = build_workspace_binary("langchain-llama");
    let ingest = FunctionUnderTest::start(
        &binary,
        "ingest",
        &moto.env_with(&[("PLUTO_BUCKET_DOCS", bucket)]),
    );
    let stored = ingest
        .invoke(json!({"documents": [
            {"name": "aurora-bakery.txt", "text": BAKERY_SHEET},
            {"name": "pluto.txt", "text": "Pluto is a dwarf planet in the Kuiper belt."},
        ]}))
        .await
        .response();
    assert_eq!(stored, json!(["aurora-bakery.txt", "pluto.txt"]));
    let mut objects = Vec::new();
    for key in ["aurora-bakery.txt", "pluto.txt"] {
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("GetObject");
        let content_type = object.content_type().unwrap_or_default().to_owned();
        let text = object.body.collect().await.expect("body").into_bytes();
        objects.push((
            content_type,
            String::from_utf8(text.to_vec()).expect("UTF-8"),
        ));
    }
    objects
}

#[tokio::test]
async fn langchain_llama_qa_answers_from_the_documents_in_its_bucket_and_cites_them() {
    // Its own server: the test reads the prompt from moto's request recorder.
    let moto = Moto::dedicated();
    let recorder = Recorder::new(moto.endpoint());
    recorder.restart().await.expect("recording starts");
    let bucket = "examples-langchain-docs";
    let objects = ingested_library(&moto, bucket).await;
    assert_eq!(
        objects[0],
        (
            "text/plain; charset=utf-8".to_owned(),
            BAKERY_SHEET.to_owned()
        )
    );
    for wire in [Wire::PlainText, Wire::ServerSentEvents] {
        let _queue = moto
            .queue_sagemaker_results(&[(
                &tgi_answer(" It is closed on Sundays.</s><|user|>\nAnd on Mondays?"),
                "application/json",
            )])
            .await;
        let env = moto.env_with(&[
            (
                "PLUTO_SAGEMAKER_LLAMA",
                &format!("llama-endpoint-qa-{wire:?}"),
            ),
            ("PLUTO_BUCKET_DOCS", bucket),
        ]);
        let answer = url_call(
            "langchain-llama",
            "qa",
            &env,
            json!({"question": "Is Aurora Bakery open on Sundays?"}),
            wire,
        )
        .await;
        assert_streamed(
            &answer,
            wire,
            "It is closed on Sundays.\n\nSources: aurora-bakery.txt, pluto.txt",
        );
    }
    let prompts = recorded_stream_prompts(&moto).await;
    assert_eq!(prompts.len(), 2, "{prompts:?}");
    assert!(
        prompts[0].contains(&format!("[source: aurora-bakery.txt]\n{BAKERY_SHEET}")),
        "the prompt holds the bucket's document: {:?}",
        prompts[0]
    );
}

#[tokio::test]
async fn langchain_llama_qa_over_an_empty_bucket_says_to_ingest_first() {
    let bucket = "examples-langchain-empty";
    s3_with_bucket(moto(), bucket).await;
    let env = moto().env_with(&[
        ("PLUTO_SAGEMAKER_LLAMA", "llama-endpoint-unused"),
        ("PLUTO_BUCKET_DOCS", bucket),
    ]);
    let answer = url_call(
        "langchain-llama",
        "qa",
        &env,
        json!(["Anything?"]),
        Wire::PlainText,
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body().contains("`ingest`"), "{answer:?}");
}

#[tokio::test]
async fn langchain_llama_reports_a_missing_endpoint_grant() {
    for wire in [Wire::PlainText, Wire::ServerSentEvents] {
        let answer = url_call(
            "langchain-llama",
            "chatbot",
            &moto().env_with(&[]),
            json!(["Hello?"]),
            wire,
        )
        .await;
        assert_eq!(answer.status, 500, "{answer:?}");
        let body: Value = serde_json::from_str(&answer.body()).expect("a JSON error body");
        let message = body["error"].as_str().expect("an error");
        assert!(
            message.contains("function `chatbot` uses SageMaker endpoint `llama`"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn langchain_llama_reports_a_missing_bucket_grant() {
    let answer = url_call(
        "langchain-llama",
        "qa",
        &moto().env_with(&[("PLUTO_SAGEMAKER_LLAMA", "llama-endpoint-unused")]),
        json!(["Hello?"]),
        Wire::PlainText,
    )
    .await;
    assert_eq!(answer.status, 500, "{answer:?}");
    let body: Value = serde_json::from_str(&answer.body()).expect("a JSON error body");
    let message = body["error"].as_str().expect("an error");
    assert!(
        message.contains("function `qa` uses bucket `docs`")
            && message.contains("PLUTO_BUCKET_DOCS"),
        "{message}"
    );
}

/// The `inputs` (prompts) of the streaming invocations `moto` recorded, in order; each request
/// also asked TGI to stream.
async fn recorded_stream_prompts(moto: &Moto) -> Vec<String> {
    let recording = Recorder::new(moto.endpoint())
        .download_raw()
        .await
        .expect("moto's recording");
    recording
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON recording line"))
        .filter(|entry| {
            entry["url"]
                .as_str()
                .is_some_and(|url| url.ends_with("/invocations-response-stream"))
        })
        .map(|entry| {
            let body = entry["body"].as_str().expect("a recorded body");
            let body = if entry["body_encoded"].as_bool() == Some(true) {
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .expect("base64")
            } else {
                body.as_bytes().to_vec()
            };
            let request: Value = serde_json::from_slice(&body).expect("a JSON TGI request");
            assert_eq!(request["stream"], json!(true), "{request}");
            request["inputs"].as_str().expect("inputs").to_owned()
        })
        .collect()
}

/// The turns stored for `session` in the KV table, or `None`.
async fn stored_turns(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    session: &str,
) -> Option<Value> {
    let item = dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(session.into()))
        .send()
        .await
        .expect("GetItem")
        .item?;
    let AttributeValue::S(text) = &item["value"] else {
        panic!("a string value: {item:?}")
    };
    Some(serde_json::from_str(text).expect("JSON history"))
}

#[tokio::test]
async fn chatbot_history_streams_each_reply_and_keeps_the_whole_reply_in_the_kv_store() {
    // Its own server: the test reads the prompts from moto's request recorder.
    let moto = Moto::dedicated();
    let recorder = Recorder::new(moto.endpoint());
    recorder.restart().await.expect("recording starts");
    let table = "examples-chat-history";
    let dynamodb = moto.create_kv_table(table).await;
    let env = moto.env_with(&[
        ("PLUTO_SAGEMAKER_LLAMA", "llama-endpoint-history"),
        ("PLUTO_KV_STORE_CHAT_HISTORY", table),
    ]);
    let _queue = moto
        .queue_sagemaker_results(&[
            (
                &tgi_answer(" Nice to meet you, Ada!</s>"),
                "application/json",
            ),
            (&tgi_answer(" Your name is Ada."), "application/json"),
        ])
        .await;

    let first = url_call(
        "chatbot-history",
        "chat",
        &env,
        json!({"session_id": "s1", "message": "My name is Ada."}),
        Wire::PlainText,
    )
    .await;
    assert_streamed(&first, Wire::PlainText, "Nice to meet you, Ada!");
    assert_eq!(
        stored_turns(&dynamodb, table, "s1").await,
        Some(json!([{"user": "My name is Ada.", "assistant": "Nice to meet you, Ada!"}])),
        "the whole first reply is saved once its stream has ended"
    );

    let second = url_call(
        "chatbot-history",
        "chat",
        &env,
        json!(["s1", "What is my name?"]),
        Wire::ServerSentEvents,
    )
    .await;
    assert_streamed(&second, Wire::ServerSentEvents, "Your name is Ada.");
    assert_eq!(
        stored_turns(&dynamodb, table, "s1").await,
        Some(json!([
            {"user": "My name is Ada.", "assistant": "Nice to meet you, Ada!"},
            {"user": "What is my name?", "assistant": "Your name is Ada."}
        ]))
    );

    let prompts = recorded_stream_prompts(&moto).await;
    assert_eq!(prompts.len(), 2, "{prompts:?}");
    assert!(
        prompts[0].ends_with("<|user|>\nMy name is Ada.</s>\n<|assistant|>\n")
            && !prompts[0].contains("Nice to meet you"),
        "the first prompt has no history: {:?}",
        prompts[0]
    );
    assert!(
        prompts[1].contains(
            "<|user|>\nMy name is Ada.</s>\n<|assistant|>\nNice to meet you, Ada!</s>\n\
             <|user|>\nWhat is my name?</s>\n<|assistant|>\n"
        ),
        "the second prompt has the first turn, with the whole streamed reply: {:?}",
        prompts[1]
    );

    let forget = url_call(
        "chatbot-history",
        "forget",
        &env,
        json!(["s1"]),
        Wire::PlainText,
    )
    .await;
    assert_eq!((forget.status, forget.body()), (200, "null".to_owned()));
    assert_eq!(
        stored_turns(&dynamodb, table, "s1").await,
        None,
        "forget deletes the session"
    );
}
