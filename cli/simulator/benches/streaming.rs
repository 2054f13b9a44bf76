//! What streaming costs per chunk through the Lambda Runtime API and the Function URL gateway:
//! a raw "function" posts N small chunks of a streamed response (as a Lambda runtime does) and a
//! client reads them through the gateway. Prints figures only:
//!
//! - throughput: the function writes as fast as it can, µs per chunk end to end;
//! - latency: lockstep (each chunk read by the client before the next is written), µs per chunk
//!   from the function's write to the client's read.
//!
//! `cargo bench -p pluto-simulator --bench streaming` (`PLUTO_STREAM_CHUNKS`, default 20000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use pluto_model::ResponseMode;
use pluto_simulator::gateway::{ExposedFunction, Gateway, RequestRecord};
use pluto_simulator::lambda::{
    FunctionConfig, FunctionPool, HTTP_INTEGRATION_CONTENT_TYPE, LogSink,
};
use pluto_spec::UrlAuth;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

type FrameSender = mpsc::Sender<Result<Frame<Bytes>, Infallible>>;

async fn send_raw<B>(address: &str, request: hyper::Request<B>) -> hyper::Response<Incoming>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender.send_request(request).await.unwrap()
}

async fn next_invocation(address: &str) -> String {
    let request = hyper::Request::get("/2018-06-01/runtime/invocation/next")
        .header("host", address)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = send_raw(address, request).await;
    response.headers()["lambda-runtime-aws-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn post_stream(address: &str, id: &str) -> FrameSender {
    let (frames, receiver) = mpsc::channel(64);
    let body = StreamBody::new(
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|frame| (frame, receiver))
        })
        .boxed(),
    );
    let request = hyper::Request::post(format!("/2018-06-01/runtime/invocation/{id}/response"))
        .header("host", address)
        .header("lambda-runtime-function-response-mode", "streaming")
        .header("content-type", HTTP_INTEGRATION_CONTENT_TYPE)
        .body(body)
        .unwrap();
    let address = address.to_owned();
    tokio::spawn(async move { send_raw(&address, request).await });
    frames
}

struct Scene {
    gateway: String,
    addresses: mpsc::UnboundedReceiver<String>,
    runtime: Option<String>,
}

impl Scene {
    async fn start() -> Self {
        let script =
            std::env::temp_dir().join(format!("pluto-bench-idle-{}.sh", std::process::id()));
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"runtime-api $AWS_LAMBDA_RUNTIME_API\"\nexec sleep 600\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (address_sender, addresses) = mpsc::unbounded_channel();
        let logs: LogSink = Arc::new(move |_: &str, _: u64, line: &str| {
            if let Some(address) = line.strip_prefix("runtime-api ") {
                let _ = address_sender.send(address.to_owned());
            }
        });
        let pool = Arc::new(FunctionPool::new(
            FunctionConfig {
                name: "bench".to_owned(),
                binary: script,
                env: Vec::new(),
                timeout: Duration::from_secs(600),
                memory_mb: 128,
                max_instances: 1,
            },
            logs,
        ));
        let gateway = Gateway::new(
            BTreeMap::from([(
                "bench".to_owned(),
                ExposedFunction {
                    pool,
                    auth: UrlAuth::Public,
                    cors: None,
                    response: ResponseMode::Stream,
                },
            )]),
            Arc::new(|_: &RequestRecord| {}),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway_address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            axum::serve(listener, Arc::new(gateway).router())
                .await
                .unwrap();
        });
        Self {
            gateway: gateway_address,
            addresses,
            runtime: None,
        }
    }

    /// Starts a request through the gateway and the function's streamed answer; returns the
    /// function's writer and the client's body, once the head went through.
    async fn stream(&mut self) -> (FrameSender, Incoming) {
        let gateway = self.gateway.clone();
        let client = tokio::spawn(async move {
            let request = hyper::Request::get("/bench/")
                .header("host", &gateway)
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            send_raw(&gateway, request).await
        });
        if self.runtime.is_none() {
            self.runtime = self.addresses.recv().await;
        }
        let runtime = self.runtime.clone().unwrap();
        let id = next_invocation(&runtime).await;
        let frames = post_stream(&runtime, &id);
        let mut prelude = br#"{"statusCode":200,"headers":{"content-type":"text/plain"}}"#.to_vec();
        prelude.extend_from_slice(&[0; 8]);
        frames
            .send(Ok(Frame::data(Bytes::from(prelude))))
            .await
            .unwrap();
        let body = client.await.unwrap().into_body();
        (frames, body)
    }
}

async fn next_data(body: &mut Incoming) -> Option<Bytes> {
    loop {
        let frame = body.frame().await?.unwrap();
        if let Ok(data) = frame.into_data() {
            return Some(data);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let chunks: usize = std::env::var("PLUTO_STREAM_CHUNKS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(20_000);
    let chunk = Bytes::from_static(b"token-of-16bytes");
    let mut scene = Scene::start().await;

    // Throughput: the function writes without waiting.
    let (frames, mut body) = scene.stream().await;
    let started = Instant::now();
    let writer = tokio::spawn({
        let chunk = chunk.clone();
        async move {
            for _ in 0..chunks {
                frames.send(Ok(Frame::data(chunk.clone()))).await.unwrap();
            }
        }
    });
    let mut received = 0;
    while let Some(data) = next_data(&mut body).await {
        received += data.len();
    }
    let elapsed = started.elapsed();
    writer.await.unwrap();
    assert_eq!(received, chunks * chunk.len(), "every byte arrived");
    println!(
        "streaming throughput: {chunks} chunks of {} bytes in {:.1} ms: {:.2} µs/chunk",
        chunk.len(),
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / chunks as f64
    );

    // Latency: each chunk read by the client before the next is written.
    let rounds = (chunks / 10).max(1);
    let (frames, mut body) = scene.stream().await;
    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let sent = Instant::now();
        frames.send(Ok(Frame::data(chunk.clone()))).await.unwrap();
        next_data(&mut body).await.unwrap();
        latencies.push(sent.elapsed());
    }
    drop(frames);
    latencies.sort();
    let percentile = |p: f64| {
        let index = ((latencies.len() - 1) as f64 * p).round() as usize;
        latencies[index].as_secs_f64() * 1e6
    };
    println!(
        "streaming latency (write -> client read, lockstep, {rounds} chunks): p50 {:.1} µs, p99 {:.1} µs",
        percentile(0.5),
        percentile(0.99)
    );
}
