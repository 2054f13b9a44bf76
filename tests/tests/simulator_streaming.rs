//! Streaming through the simulator: SageMaker's `InvokeEndpointWithResponseStream` read by the
//! real AWS SDK (tokens as separate events while the model still generates, errors mid-stream,
//! generation stopping when the client goes away, IAM), and Lambda response streaming on the
//! Runtime API and the Function URL gateway, driven by a raw HTTP/1.1 "function" that posts
//! chunked bodies with trailers as Lambda runtimes do (chunks forwarded one by one, error
//! trailers and timeouts cutting the client's response, a client going away closing the
//! function's connection, buffered URLs and `Invoke` collecting the stream).

#![allow(clippy::unwrap_used)]

use aws_sdk_sagemakerruntime::error::ProvideErrorMetadata;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::ResponseStream;
use aws_sdk_sagemakerruntime::types::error::ResponseStreamError;
use axum::body::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use pluto_model::llm::{
    Continue, StreamEnd, TextGeneration, TgiRequest, TgiStreamEvent, TgiStreamToken,
};
use pluto_model::naming::StackNames;
use pluto_model::{Operation, ResponseMode};
use pluto_simulator::gateway::{ExposedFunction, Gateway, RequestRecord, StreamProgress};
use pluto_simulator::lambda::{
    FunctionConfig, FunctionPool, HTTP_INTEGRATION_CONTENT_TYPE, LogSink, Outcome, StreamError,
};
use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_spec::{ResourceKind, UrlAuth};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------------------------
// SageMaker response streams
// ---------------------------------------------------------------------------------------------

/// A model that hands over `tokens` one by one, `delay` apart, failing instead of producing
/// token number `fail_at` (when set); counts the tokens it produced.
#[derive(Debug)]
struct PacedModel {
    tokens: Vec<String>,
    delay: Duration,
    fail_at: Option<usize>,
    produced: Arc<AtomicUsize>,
}

impl PacedModel {
    fn new(tokens: &[&str], delay: Duration, fail_at: Option<usize>) -> Self {
        Self {
            tokens: tokens.iter().map(|token| (*token).to_owned()).collect(),
            delay,
            fail_at,
            produced: Arc::default(),
        }
    }
}

impl TextGeneration for PacedModel {
    fn generate(
        &self,
        _request: &TgiRequest,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.tokens.concat())
    }

    fn generate_stream(
        &self,
        _request: &TgiRequest,
        on_token: &mut dyn FnMut(TgiStreamToken) -> Continue,
    ) -> Result<StreamEnd, Box<dyn std::error::Error + Send + Sync>> {
        for (index, text) in self.tokens.iter().enumerate() {
            std::thread::sleep(self.delay);
            if self.fail_at == Some(index) {
                return Err(format!("the model failed at token {index}").into());
            }
            self.produced.fetch_add(1, Ordering::SeqCst);
            let token = TgiStreamToken {
                id: u32::try_from(index).unwrap(),
                text: text.clone(),
                logprob: -0.5,
                special: false,
            };
            if on_token(token).is_break() {
                return Ok(StreamEnd {
                    finish_reason: "stopped".to_owned(),
                    generated_tokens: u32::try_from(index + 1).unwrap(),
                    seed: None,
                });
            }
        }
        Ok(StreamEnd {
            finish_reason: "length".to_owned(),
            generated_tokens: u32::try_from(self.tokens.len()).unwrap(),
            seed: None,
        })
    }

    fn label(&self) -> String {
        "paced test model".to_owned()
    }
}

/// The fixture app in the simulator with `model`; a SageMaker client signed as a function that
/// was granted the endpoint, one signed as a function that was not, and the endpoint's name.
struct SageMakerScene {
    simulator: Simulator,
    granted: aws_sdk_sagemakerruntime::Client,
    denied: aws_sdk_sagemakerruntime::Client,
    endpoint: String,
}

impl SageMakerScene {
    async fn start(model: Arc<dyn TextGeneration>) -> Self {
        let architecture = pluto_tests::app::fixture_architecture();
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
        options.model = Some(model);
        let simulator = Simulator::start(&architecture, options)
            .await
            .expect("the simulator starts");
        let invokes = |function: &pluto_model::Function| {
            function
                .grants
                .iter()
                .any(|grant| grant.operation == Operation::SagemakerInvoke)
        };
        let granted = architecture
            .functions
            .iter()
            .find(|function| invokes(function))
            .expect("a fixture function invokes the endpoint");
        let endpoint_name = &granted
            .grants
            .iter()
            .find(|grant| grant.operation == Operation::SagemakerInvoke)
            .expect("the grant")
            .resource
            .name;
        let other = architecture
            .functions
            .iter()
            .find(|function| !invokes(function))
            .expect("a fixture function does not invoke the endpoint");
        let names = StackNames::new(&architecture.project, "test").expect("stack names");
        let client = |function: &str| {
            let credentials = simulator
                .function_credentials(function)
                .expect("the function's credentials");
            let config = aws_sdk_sagemakerruntime::Config::builder()
                .behavior_version(aws_sdk_sagemakerruntime::config::BehaviorVersion::latest())
                .endpoint_url(simulator.aws_endpoint())
                .region(aws_sdk_sagemakerruntime::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_sagemakerruntime::config::Credentials::new(
                    credentials.access_key_id.clone(),
                    credentials.secret_access_key.clone(),
                    None,
                    None,
                    "simulator",
                ))
                .build();
            aws_sdk_sagemakerruntime::Client::from_conf(config)
        };
        Self {
            granted: client(&granted.spec.name),
            denied: client(&other.spec.name),
            endpoint: names.resource(ResourceKind::Sagemaker, endpoint_name),
            simulator,
        }
    }

    fn request(client: &aws_sdk_sagemakerruntime::Client, endpoint: &str, body: &Value) -> aws_sdk_sagemakerruntime::operation::invoke_endpoint_with_response_stream::builders::InvokeEndpointWithResponseStreamFluentBuilder{
        client
            .invoke_endpoint_with_response_stream()
            .endpoint_name(endpoint)
            .content_type("application/json")
            .body(Blob::new(serde_json::to_vec(body).unwrap()))
    }
}

/// The TGI event a `PayloadPart` carries.
fn tgi_event(bytes: &[u8]) -> TgiStreamEvent {
    let text = std::str::from_utf8(bytes).expect("UTF-8 event");
    let json = text
        .strip_prefix("data:")
        .and_then(|rest| rest.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("one server-sent event per part: {text:?}"));
    serde_json::from_str(json).expect("a TGI stream event")
}

#[tokio::test]
async fn sagemaker_tokens_arrive_in_order_as_separate_events_while_the_model_generates() {
    let model = PacedModel::new(
        &["Paris", " is", " the", " capital", "."],
        Duration::from_millis(40),
        None,
    );
    let produced = model.produced.clone();
    let scene = SageMakerScene::start(Arc::new(model)).await;
    let mut output = SageMakerScene::request(
        &scene.granted,
        &scene.endpoint,
        &json!({"inputs": "Q: capital of France? A: ", "parameters": {"return_full_text": true}}),
    )
    .send()
    .await
    .expect("the stream starts");
    assert_eq!(output.content_type(), Some("text/event-stream"));
    let mut events = Vec::new();
    let mut produced_at_arrival = Vec::new();
    while let Some(event) = output.body.recv().await.expect("no stream error") {
        let ResponseStream::PayloadPart(part) = event else {
            panic!("a payload part, not {event:?}");
        };
        produced_at_arrival.push(produced.load(Ordering::SeqCst));
        events.push(tgi_event(part.bytes().expect("bytes").as_ref()));
    }
    let texts: Vec<&str> = events
        .iter()
        .map(|event| event.token.text.as_str())
        .collect();
    assert_eq!(texts, ["Paris", " is", " the", " capital", ".", ""]);
    // Each token arrived while later ones were still being generated: nothing was buffered.
    assert!(
        produced_at_arrival[0] < 5,
        "the first token arrived only after {} tokens were produced",
        produced_at_arrival[0]
    );
    assert!(
        events[..5]
            .iter()
            .all(|event| event.generated_text.is_none())
    );
    let last = events.last().expect("a last event");
    assert!(last.token.special);
    assert_eq!(
        last.generated_text.as_deref(),
        Some("Q: capital of France? A: Paris is the capital.")
    );
    assert_eq!(last.details.as_ref().expect("details").generated_tokens, 5);
    scene.simulator.stop().await;
}

#[tokio::test]
async fn sagemaker_error_mid_stream_reaches_the_client_as_a_model_stream_error() {
    let model = PacedModel::new(&["a", "b", "c", "d"], Duration::from_millis(5), Some(2));
    let scene = SageMakerScene::start(Arc::new(model)).await;
    let mut output =
        SageMakerScene::request(&scene.granted, &scene.endpoint, &json!({"inputs": "x"}))
            .send()
            .await
            .expect("the stream starts: the first token came");
    let mut tokens = Vec::new();
    let error = loop {
        match output.body.recv().await {
            Ok(Some(ResponseStream::PayloadPart(part))) => {
                tokens.push(tgi_event(part.bytes().expect("bytes").as_ref()).token.text);
            }
            Ok(other) => panic!("an error before the end, not {other:?}"),
            Err(error) => break error,
        }
    };
    assert_eq!(tokens, ["a", "b"]);
    let error = error.into_service_error();
    assert!(
        matches!(error, ResponseStreamError::ModelStreamError(_)),
        "{error:?}"
    );
    assert!(
        error
            .message()
            .is_some_and(|message| message.contains("failed at token 2")),
        "{error:?}"
    );
    scene.simulator.stop().await;
}

#[tokio::test]
async fn sagemaker_error_before_the_first_token_is_a_model_error() {
    let model = PacedModel::new(&["a"], Duration::ZERO, Some(0));
    let scene = SageMakerScene::start(Arc::new(model)).await;
    let error = SageMakerScene::request(&scene.granted, &scene.endpoint, &json!({"inputs": "x"}))
        .send()
        .await
        .expect_err("no token: an ordinary error");
    let error = error.into_service_error();
    assert_eq!(error.code(), Some("ModelError"), "{error:?}");
    scene.simulator.stop().await;
}

#[tokio::test]
async fn sagemaker_stream_dropped_by_the_client_stops_generation() {
    let tokens: Vec<String> = (0..200).map(|index| format!("t{index} ")).collect();
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let model = PacedModel::new(&tokens, Duration::from_millis(10), None);
    let produced = model.produced.clone();
    let scene = SageMakerScene::start(Arc::new(model)).await;
    let mut output =
        SageMakerScene::request(&scene.granted, &scene.endpoint, &json!({"inputs": "x"}))
            .send()
            .await
            .expect("the stream starts");
    for _ in 0..3 {
        output
            .body
            .recv()
            .await
            .expect("an event")
            .expect("not the end");
    }
    drop(output);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after_drop = produced.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = produced.load(Ordering::SeqCst);
    assert_eq!(
        later, after_drop,
        "generation went on after the client left"
    );
    assert!(after_drop < 100, "{after_drop} tokens were generated");
    scene.simulator.stop().await;
}

#[tokio::test]
async fn sagemaker_stream_without_the_grant_is_denied() {
    let model = PacedModel::new(&["a"], Duration::ZERO, None);
    let produced = model.produced.clone();
    let scene = SageMakerScene::start(Arc::new(model)).await;
    let error = SageMakerScene::request(&scene.denied, &scene.endpoint, &json!({"inputs": "x"}))
        .send()
        .await
        .expect_err("denied");
    let error = error.into_service_error();
    assert_eq!(error.code(), Some("AccessDeniedException"), "{error:?}");
    assert!(
        error
            .message()
            .is_some_and(|message| message.contains("sagemaker:InvokeEndpoint")),
        "{error:?}"
    );
    assert_eq!(produced.load(Ordering::SeqCst), 0);
    scene.simulator.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Lambda response streaming: Runtime API and gateway, with a raw HTTP "function"
// ---------------------------------------------------------------------------------------------

/// A function process that only prints its Runtime API's address and waits: the test plays
/// its runtime over raw HTTP.
fn idle_process() -> PathBuf {
    static WRITTEN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    WRITTEN
        .get_or_init(|| {
            let path =
                std::env::temp_dir().join(format!("pluto-idle-function-{}.sh", std::process::id()));
            std::fs::write(
                &path,
                "#!/bin/sh\necho \"runtime-api $AWS_LAMBDA_RUNTIME_API\"\nexec sleep 600\n",
            )
            .expect("script");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            path
        })
        .clone()
}

/// One function whose instances are [`idle_process`]es, behind a gateway.
struct RawScene {
    pool: Arc<FunctionPool>,
    gateway: String,
    /// Runtime API addresses, one per instance started.
    addresses: mpsc::UnboundedReceiver<String>,
    /// Every function log line.
    logs: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<Vec<RequestRecord>>>,
}

impl RawScene {
    async fn start(timeout: Duration, response: ResponseMode) -> Self {
        let (address_sender, addresses) = mpsc::unbounded_channel();
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = logs.clone();
        let log_sink: LogSink = Arc::new(move |_: &str, _: u64, line: &str| {
            if let Some(address) = line.strip_prefix("runtime-api ") {
                let _ = address_sender.send(address.to_owned());
            }
            sink.lock().unwrap().push(line.to_owned());
        });
        let pool = Arc::new(FunctionPool::new(
            FunctionConfig {
                name: "streamer".to_owned(),
                binary: idle_process(),
                env: Vec::new(),
                timeout,
                memory_mb: 128,
                max_instances: 1,
            },
            log_sink,
        ));
        let requests: Arc<Mutex<Vec<RequestRecord>>> = Arc::default();
        let records = requests.clone();
        let gateway = Gateway::new(
            BTreeMap::from([(
                "streamer".to_owned(),
                ExposedFunction {
                    pool: pool.clone(),
                    auth: UrlAuth::Public,
                    cors: None,
                    response,
                },
            )]),
            Arc::new(move |record: &RequestRecord| records.lock().unwrap().push(record.clone())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway_address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            axum::serve(listener, Arc::new(gateway).router())
                .await
                .unwrap();
        });
        Self {
            pool,
            gateway: gateway_address,
            addresses,
            logs,
            requests,
        }
    }

    /// The Runtime API of the next instance started.
    async fn next_instance(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.addresses.recv())
            .await
            .expect("an instance starts")
            .expect("its address")
    }

    /// A gateway request whose invocation the test answers: the client's pending response, the
    /// instance's Runtime API, the invocation id, and the frames of a streamed answer posted
    /// with `content_type` (with the Runtime API's answer to that post).
    async fn stream_through_gateway(
        &mut self,
        content_type: &str,
    ) -> (
        tokio::task::JoinHandle<hyper::Response<Incoming>>,
        String,
        String,
        FrameSender,
        tokio::task::JoinHandle<hyper::Result<hyper::Response<Incoming>>>,
    ) {
        let client = gateway_get(self).await;
        let runtime = self.next_instance().await;
        let id = next_invocation(&runtime).await;
        let (frames, posted) = post_stream(&runtime, &id, content_type);
        (client, runtime, id, frames, posted)
    }

    fn logged(&self, text: &str) -> bool {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(text))
    }
}

type FrameSender = mpsc::Sender<Result<Frame<Bytes>, Infallible>>;

/// Sends `request` on a new HTTP/1.1 connection to `address` (with its `Host`).
async fn send_raw<B>(
    address: &str,
    request: hyper::Request<B>,
) -> hyper::Result<hyper::Response<Incoming>>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    sender.send_request(request).await
}

/// Takes the next invocation on the Runtime API at `address`: its request id.
async fn next_invocation(address: &str) -> String {
    let request = hyper::Request::get("/2018-06-01/runtime/invocation/next")
        .header("host", address)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = send_raw(address, request).await.expect("next");
    response.headers()["lambda-runtime-aws-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Starts posting a streamed response for `id` with `content_type`: the frames sent through the
/// returned sender make its body; the task ends with the Runtime API's answer or the
/// connection's error.
fn post_stream(
    address: &str,
    id: &str,
    content_type: &str,
) -> (
    FrameSender,
    tokio::task::JoinHandle<hyper::Result<hyper::Response<Incoming>>>,
) {
    let (frames, receiver) = mpsc::channel(1);
    let body = StreamBody::new(
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|frame| (frame, receiver))
        })
        .boxed(),
    );
    let request = hyper::Request::post(format!("/2018-06-01/runtime/invocation/{id}/response"))
        .header("host", address)
        .header("lambda-runtime-function-response-mode", "streaming")
        .header("content-type", content_type)
        .header(
            "trailer",
            "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
        )
        .body(body)
        .unwrap();
    let address = address.to_owned();
    (
        frames,
        tokio::spawn(async move { send_raw(&address, request).await }),
    )
}

fn data(bytes: impl Into<Bytes>) -> Result<Frame<Bytes>, Infallible> {
    Ok(Frame::data(bytes.into()))
}

fn prelude(value: &Value) -> Result<Frame<Bytes>, Infallible> {
    let mut bytes = serde_json::to_vec(value).unwrap();
    bytes.extend_from_slice(&[0; 8]);
    data(bytes)
}

fn error_trailers(error_type: &str, message: &str) -> Result<Frame<Bytes>, Infallible> {
    use base64::Engine;
    let mut trailers = hyper::HeaderMap::new();
    trailers.insert(
        "lambda-runtime-function-error-type",
        error_type.parse().unwrap(),
    );
    let body = json!({"errorType": error_type, "errorMessage": message}).to_string();
    trailers.insert(
        "lambda-runtime-function-error-body",
        base64::engine::general_purpose::STANDARD
            .encode(body)
            .parse()
            .unwrap(),
    );
    Ok(Frame::trailers(trailers))
}

/// A GET through the gateway to the function, answered once its head is in.
async fn gateway_get(scene: &RawScene) -> tokio::task::JoinHandle<hyper::Response<Incoming>> {
    let address = scene.gateway.clone();
    tokio::spawn(async move {
        let request = hyper::Request::get("/streamer/")
            .header("host", &address)
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        send_raw(&address, request)
            .await
            .expect("the gateway answers")
    })
}

/// The next data of `body` (skipping trailers), `None` at its end.
async fn next_data(body: &mut Incoming) -> Option<Result<Bytes, hyper::Error>> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("the body moves within 10 s")?
        {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(error) => return Some(Err(error)),
        }
    }
}

#[tokio::test]
async fn streamed_chunks_reach_the_client_one_by_one_while_the_function_writes() {
    let mut scene = RawScene::start(Duration::from_secs(30), ResponseMode::Stream).await;
    let (client, _runtime, _id, frames, posted) = scene
        .stream_through_gateway(HTTP_INTEGRATION_CONTENT_TYPE)
        .await;
    frames
        .send(prelude(&json!({
            "statusCode": 201,
            "headers": {"content-type": "text/plain", "x-stream": "yes"},
            "cookies": ["a=1"]
        })))
        .await
        .unwrap();
    let response = client.await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.headers()["x-stream"], "yes");
    assert_eq!(response.headers()["set-cookie"], "a=1");
    let mut body = response.into_body();
    // Lockstep: each chunk reaches the client before the function writes the next one.
    for index in 0..5 {
        let chunk = format!("{index} ");
        frames.send(data(chunk.clone())).await.unwrap();
        let received = next_data(&mut body)
            .await
            .expect("a chunk")
            .expect("no error");
        assert_eq!(received, chunk.as_bytes());
    }
    drop(frames);
    assert!(
        next_data(&mut body).await.is_none(),
        "the body ends cleanly"
    );
    let answer = posted.await.unwrap().expect("the Runtime API answers");
    assert_eq!(answer.status().as_u16(), 202);
    let records = scene.requests.lock().unwrap().clone();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].status, 201);
    assert_eq!(records[0].stream, Some(StreamProgress::Started));
    // The end is logged with what went out: the time to the full answer.
    assert_eq!(
        records[1].stream,
        Some(StreamProgress::Ended {
            chunks: 5,
            bytes: 10
        })
    );
}

#[tokio::test]
async fn zero_chunk_stream_answers_the_head_and_an_empty_body() {
    let mut scene = RawScene::start(Duration::from_secs(30), ResponseMode::Stream).await;
    let (client, _runtime, _id, frames, posted) = scene
        .stream_through_gateway(HTTP_INTEGRATION_CONTENT_TYPE)
        .await;
    frames
        .send(prelude(
            &json!({"statusCode": 200, "headers": {"content-type": "text/event-stream"}}),
        ))
        .await
        .unwrap();
    drop(frames);
    let response = client.await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a complete body");
    assert!(body.to_bytes().is_empty());
    posted.await.unwrap().expect("answered");
}

#[tokio::test]
async fn error_trailer_mid_stream_cuts_the_clients_response_and_keeps_the_instance() {
    let mut scene = RawScene::start(Duration::from_secs(30), ResponseMode::Stream).await;
    let (client, runtime, _id, frames, posted) = scene
        .stream_through_gateway(HTTP_INTEGRATION_CONTENT_TYPE)
        .await;
    frames
        .send(prelude(&json!({"statusCode": 200})))
        .await
        .unwrap();
    frames.send(data("0 ")).await.unwrap();
    frames.send(data("1 ")).await.unwrap();
    frames
        .send(error_trailers("StreamFailed", "the model went away"))
        .await
        .unwrap();
    drop(frames);
    let mut body = client.await.unwrap().into_body();
    let mut received = Vec::new();
    let error = loop {
        match next_data(&mut body).await {
            Some(Ok(chunk)) => received.extend_from_slice(&chunk),
            Some(Err(error)) => break error,
            None => panic!("the response ended cleanly after {received:?}"),
        }
    };
    assert_eq!(received, b"0 1 ", "{error}");
    posted.await.unwrap().expect("the Runtime API answers");
    let records = scene.requests.lock().unwrap().clone();
    let cut = records
        .iter()
        .find(|record| matches!(record.stream, Some(StreamProgress::Cut { .. })))
        .unwrap_or_else(|| panic!("a cut is logged: {records:?}"));
    assert_eq!(
        cut.stream,
        Some(StreamProgress::Cut {
            chunks: 2,
            bytes: 4
        })
    );
    assert!(
        cut.problem
            .as_deref()
            .is_some_and(|problem| problem.contains("StreamFailed: the model went away")),
        "{cut:?}"
    );
    // The instance served again: the next request starts no new one.
    let client = gateway_get(&scene).await;
    let id = next_invocation(&runtime).await;
    let (frames, _posted) = post_stream(&runtime, &id, "text/plain");
    frames.send(data("again")).await.unwrap();
    drop(frames);
    let response = client.await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "again");
    assert!(scene.addresses.try_recv().is_err(), "no second instance");
}

#[tokio::test]
async fn timeout_mid_stream_kills_the_instance_and_cuts_the_response() {
    let mut scene = RawScene::start(Duration::from_secs(1), ResponseMode::Stream).await;
    let (client, _runtime, _id, frames, _posted) = scene
        .stream_through_gateway(HTTP_INTEGRATION_CONTENT_TYPE)
        .await;
    frames
        .send(prelude(&json!({"statusCode": 200})))
        .await
        .unwrap();
    frames.send(data("partial")).await.unwrap();
    let mut body = client.await.unwrap().into_body();
    assert_eq!(next_data(&mut body).await.unwrap().unwrap(), "partial");
    assert!(
        matches!(next_data(&mut body).await, Some(Err(_))),
        "the response is cut"
    );
    assert!(scene.logged("instance replaced: Task timed out after 1.00 seconds mid-stream"));
    let records = scene.requests.lock().unwrap().clone();
    assert!(
        records.iter().any(|record| record
            .problem
            .as_deref()
            .is_some_and(|problem| problem.contains("Task timed out"))),
        "{records:?}"
    );
    // The next request gets a new instance, and works.
    let (client, _runtime, _id, frames, _posted) = scene.stream_through_gateway("text/plain").await;
    frames.send(data("fresh")).await.unwrap();
    drop(frames);
    let body = client.await.unwrap().into_body().collect().await.unwrap();
    assert_eq!(body.to_bytes(), "fresh");
}

#[tokio::test]
async fn a_client_that_goes_away_closes_the_functions_connection_and_frees_the_instance() {
    let mut scene = RawScene::start(Duration::from_secs(60), ResponseMode::Stream).await;
    let (client, runtime, _id, frames, posted) = scene
        .stream_through_gateway(HTTP_INTEGRATION_CONTENT_TYPE)
        .await;
    frames
        .send(prelude(&json!({"statusCode": 200})))
        .await
        .unwrap();
    frames.send(data("first")).await.unwrap();
    let mut body = client.await.unwrap().into_body();
    assert_eq!(next_data(&mut body).await.unwrap().unwrap(), "first");
    drop(body);
    // The function keeps writing; its connection is closed under it within a few writes.
    let mut writes = 0;
    let cut = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if frames.send(data("more")).await.is_err() || posted.is_finished() {
                return;
            }
            writes += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(cut.is_ok(), "the function could write {writes} more chunks");
    // Its instance takes the next request.
    let client = gateway_get(&scene).await;
    let id = tokio::time::timeout(Duration::from_secs(5), next_invocation(&runtime))
        .await
        .expect("the same instance gets the next invocation");
    let (frames, _posted) = post_stream(&runtime, &id, "text/plain");
    frames.send(data("next")).await.unwrap();
    drop(frames);
    let body = client.await.unwrap().into_body().collect().await.unwrap();
    assert_eq!(body.to_bytes(), "next");
    assert!(scene.logged("the caller went away mid-stream"));
    let records = scene.requests.lock().unwrap().clone();
    assert!(
        records
            .iter()
            .any(|record| record.problem.as_deref() == Some("the client went away mid-stream")),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_buffered_url_answers_a_streamed_response_whole() {
    let mut scene = RawScene::start(Duration::from_secs(30), ResponseMode::Buffered).await;
    let (client, _runtime, _id, frames, _posted) = scene
        .stream_through_gateway(HTTP_INTEGRATION_CONTENT_TYPE)
        .await;
    frames
        .send(prelude(
            &json!({"statusCode": 202, "headers": {"x-mode": "buffered"}}),
        ))
        .await
        .unwrap();
    frames.send(data("one ")).await.unwrap();
    // Nothing reaches the client before the body is whole.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!client.is_finished(), "a buffered URL answered mid-stream");
    frames.send(data("two")).await.unwrap();
    drop(frames);
    let response = client.await.unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(response.headers()["x-mode"], "buffered");
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "one two"
    );
    let records = scene.requests.lock().unwrap().clone();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].stream, None);
}

#[tokio::test]
async fn direct_invoke_collects_a_stream_and_an_error_before_any_byte_is_a_function_error() {
    let mut scene = RawScene::start(Duration::from_secs(30), ResponseMode::Stream).await;
    let pool = scene.pool.clone();
    let invocation = tokio::spawn(async move { pool.invoke(json!({})).await });
    let runtime = scene.next_instance().await;
    let id = next_invocation(&runtime).await;
    let (frames, _posted) = post_stream(&runtime, &id, HTTP_INTEGRATION_CONTENT_TYPE);
    frames
        .send(prelude(&json!({"statusCode": 200})))
        .await
        .unwrap();
    frames.send(data("a")).await.unwrap();
    frames.send(data("b")).await.unwrap();
    drop(frames);
    let Outcome::Streamed(streamed) = invocation.await.unwrap().expect("runs") else {
        panic!("a streamed outcome");
    };
    assert_eq!(streamed.head.status, 200);
    assert_eq!(streamed.collect(1024).await.expect("whole"), "ab");

    let pool = scene.pool.clone();
    let invocation = tokio::spawn(async move { pool.invoke(json!({})).await });
    let id = next_invocation(&runtime).await;
    let (frames, _posted) = post_stream(&runtime, &id, HTTP_INTEGRATION_CONTENT_TYPE);
    frames
        .send(error_trailers("TooManyRequests", "slow down"))
        .await
        .unwrap();
    drop(frames);
    assert_eq!(
        invocation.await.unwrap().expect("runs"),
        Outcome::FunctionError {
            error_type: "TooManyRequests".to_owned(),
            message: "slow down".to_owned()
        }
    );

    // Collecting stops at the limit.
    let pool = scene.pool.clone();
    let invocation = tokio::spawn(async move { pool.invoke(json!({})).await });
    let id = next_invocation(&runtime).await;
    let (frames, _posted) = post_stream(&runtime, &id, "application/octet-stream");
    let Outcome::Streamed(streamed) = ({
        frames.send(data(vec![7_u8; 600])).await.unwrap();
        invocation.await.unwrap().expect("runs")
    }) else {
        panic!("a streamed outcome");
    };
    let sender = tokio::spawn(async move {
        let _ = frames.send(data(vec![7_u8; 600])).await;
    });
    assert_eq!(
        streamed.collect(1000).await,
        Err(StreamError::TooLarge(1000))
    );
    sender.await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// End to end: the fixture app's streaming handlers behind the gateway
// ---------------------------------------------------------------------------------------------

/// The fixture app in the simulator with only `functions` behind public URLs.
async fn fixture_gateway(functions: &[&str], timeout_s: u32) -> (Simulator, String) {
    let mut architecture = pluto_tests::app::fixture_architecture();
    for function in &mut architecture.functions {
        function.spec.url = if functions.contains(&function.spec.name.as_str()) {
            UrlAuth::Public
        } else {
            UrlAuth::None
        };
        function.spec.timeout_s = timeout_s;
    }
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let data_dir = std::env::temp_dir().join(format!(
        "pluto-streaming-e2e-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, Ordering::Relaxed)
    ));
    let options = SimulatorOptions::new(
        "test",
        PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
        data_dir,
    );
    let simulator = Simulator::start(&architecture, options)
        .await
        .expect("the simulator starts");
    let address = simulator
        .gateway_url()
        .trim_start_matches("http://")
        .to_owned();
    (simulator, address)
}

/// POSTs `body` through the gateway at `address` to `function`.
async fn fixture_post(address: &str, function: &str, body: &Value) -> hyper::Response<Incoming> {
    let request = hyper::Request::post(format!("/{function}/"))
        .header("host", address)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from(body.to_string())))
        .unwrap();
    send_raw(address, request)
        .await
        .expect("the gateway answers")
}

#[tokio::test]
async fn fixture_stream_chunks_arrive_separately_and_in_order() {
    let (simulator, address) = fixture_gateway(&["stream-count"], 30).await;
    let response = fixture_post(&address, "stream-count", &json!([4, 150])).await;
    assert_eq!(response.status().as_u16(), 200);
    let mut body = response.into_body();
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = next_data(&mut body).await {
        let chunk = chunk.expect("no error");
        arrivals.push(std::time::Instant::now());
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(text, "0 1 2 3 ");
    assert!(arrivals.len() >= 4, "{} chunks arrived", arrivals.len());
    // 150 ms apart as written: the first chunk came well before the last.
    let spread = arrivals[arrivals.len() - 1] - arrivals[0];
    assert!(spread >= Duration::from_millis(300), "{spread:?}");
    simulator.stop().await;
}

#[tokio::test]
async fn fixture_stream_errors_and_empty_streams() {
    let (simulator, address) = fixture_gateway(
        &["stream-fails-after", "stream-empty", "stream-fails-before"],
        30,
    )
    .await;
    let mut body = fixture_post(&address, "stream-fails-after", &json!([2]))
        .await
        .into_body();
    let mut text = String::new();
    let cut = loop {
        match next_data(&mut body).await {
            Some(Ok(chunk)) => text.push_str(std::str::from_utf8(&chunk).unwrap()),
            Some(Err(error)) => break error,
            None => panic!("the response ended cleanly after {text:?}"),
        }
    };
    assert!(text.starts_with("0 1 "), "{text:?} then {cut}");

    let response = fixture_post(&address, "stream-empty", &json!([])).await;
    assert_eq!(response.status().as_u16(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a complete body");
    assert!(body.to_bytes().is_empty());

    let response = fixture_post(&address, "stream-fails-before", &json!([])).await;
    assert_eq!(response.status().as_u16(), 429);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(body.to_string().contains("too many streams"), "{body}");
    simulator.stop().await;
}
