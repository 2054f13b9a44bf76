//! The fixture app's functions: one for every dispatch path, and some that use each resource
//! client. Shared with the in-process dispatch tests (`tests/dispatch.rs`).

use futures_util::StreamExt;
use pluto::chain::{GenerationParams, Llm, SageMakerLlm};
use pluto::{Bucket, HttpError, KvStore, SageMaker, Secret, resource};
use serde::{Deserialize, Serialize};

#[resource(kv_store(name = "notes"))]
fn notes() -> KvStore;

#[resource(bucket(name = "files"))]
fn files() -> Bucket;

#[resource(secret(name = "api-key"))]
fn api_key() -> Secret;

#[resource(sagemaker(
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04"
))]
fn model() -> SageMaker;

#[derive(Debug, Serialize, Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

#[resource(function)]
async fn echo(text: String) -> String {
    text
}

#[resource(function)]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[resource(function)]
async fn greet(name: Option<String>) -> String {
    format!("hello {}", name.unwrap_or_else(|| "stranger".into()))
}

#[resource(function)]
async fn ping() -> &'static str {
    "pong"
}

#[resource(function)]
async fn shift(point: Point, dx: i64) -> Point {
    Point {
        x: point.x + dx,
        y: point.y,
    }
}

#[resource(function)]
async fn fails() -> pluto::Result<String> {
    Err("the database is on fire".into())
}

#[resource(function)]
async fn teapot() -> pluto::Result<String> {
    Err(HttpError::new(418, "I'm a teapot"))?
}

#[resource(function)]
async fn panics(message: String) -> String {
    panic!("{message}")
}

#[resource(function)]
async fn huge(bytes: usize) -> String {
    "x".repeat(bytes)
}

#[resource(function(name = "kv-set"))]
async fn kv_set(key: String, value: String) -> pluto::Result<()> {
    Ok(notes().set(&key, value).await?)
}

#[resource(function(name = "kv-get"))]
async fn kv_get(key: String) -> pluto::Result<Option<String>> {
    Ok(notes().get(&key).await?)
}

#[resource(function(name = "kv-delete"))]
async fn kv_delete(key: String) -> pluto::Result<()> {
    Ok(notes().delete(&key).await?)
}

#[resource(function(name = "kv-point"))]
async fn kv_point(key: String, point: Point) -> pluto::Result<Option<Point>> {
    notes().set_json(&key, &point).await?;
    Ok(notes().get_json(&key).await?)
}

#[resource(function)]
async fn infer(body: serde_json::Value) -> pluto::Result<serde_json::Value> {
    Ok(model().invoke(&body).await?)
}

#[resource(function)]
async fn generate(prompt: String) -> pluto::Result<String> {
    let llm = SageMakerLlm::new(model()).with_custom_attributes("accept_eula=true");
    Ok(llm.generate(&prompt, &GenerationParams::default()).await?)
}

#[resource(function)]
async fn relay(text: String) -> pluto::Result<serde_json::Value> {
    Ok(pluto::function!(echo).invoke(&(text,)).await?)
}

#[resource(function(name = "echo-url"))]
async fn echo_url() -> pluto::Result<String> {
    Ok(pluto::function!(echo).url()?)
}

/// Gives its own URL (a function that links to itself); browsers on one origin may call it.
#[resource(function(
    name = "self-link",
    url = "public",
    cors(
        allow_origins = ["https://app.example"],
        allow_methods = ["GET"],
        allow_headers = ["content-type"],
        expose_headers = ["x-request-id"],
        max_age_s = 60,
        allow_credentials = true,
    ),
))]
async fn self_link() -> pluto::Result<String> {
    Ok(pluto::function!(self_link).url()?)
}

/// Sleeps, then says which process answered (for timeouts and concurrency).
#[resource(function)]
async fn sleepy(millis: u64) -> u32 {
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
    std::process::id()
}

/// Kills its own process, as a crashing runtime would.
#[resource(function)]
async fn crash(code: i32) -> String {
    eprintln!("crashing with exit code {code}");
    std::process::exit(code)
}

/// Writes to a table with a hand-made SDK client instead of a handle: the deducer sees no use of
/// a resource, grants nothing, and the simulator must deny the call.
#[resource(function(name = "sneaky-write"))]
async fn sneaky_write(table: String) -> pluto::Result<()> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_dynamodb::Client::new(&config)
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S("stolen".into()))
        .item("value", AttributeValue::S("data".into()))
        .send()
        .await
        .map_err(|error| aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string())?;
    Ok(())
}

/// Streams `"0 "`, `"1 "`, … `"{n-1} "`, waiting `delay_ms` before each chunk.
#[resource(function(name = "stream-count"))]
async fn stream_count(n: u32, delay_ms: u64) -> pluto::TextStream {
    let chunks = futures_util::stream::iter(0..n).then(move |index| async move {
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        Ok::<_, pluto::Error>(format!("{index} "))
    });
    pluto::TextStream::new(chunks)
}

/// Streams `"0 "` … `"{n-1} "`, then fails.
#[resource(function(name = "stream-fails-after"))]
async fn stream_fails_after(n: u32) -> pluto::Result<pluto::TextStream> {
    let chunks = futures_util::stream::iter(0..=n).map(move |index| {
        if index < n {
            Ok(format!("{index} "))
        } else {
            Err(format!("the stream broke after {n} chunks"))
        }
    });
    Ok(pluto::TextStream::new(chunks))
}

/// Streams nothing.
#[resource(function(name = "stream-empty"))]
fn stream_empty() -> pluto::TextStream {
    pluto::TextStream::empty()
}

/// Fails before streaming anything, with a status.
#[resource(function(name = "stream-fails-before"))]
async fn stream_fails_before() -> pluto::Result<pluto::TextStream> {
    Err(HttpError::new(429, "too many streams"))?
}

/// Streams the model's tokens for `prompt`.
#[resource(function(name = "stream-generate"))]
async fn stream_generate(prompt: String) -> pluto::Result<pluto::TextStream> {
    let llm = SageMakerLlm::new(model()).with_custom_attributes("accept_eula=true");
    let tokens = llm.stream(&prompt, &GenerationParams::default()).await?;
    Ok(pluto::TextStream::from(tokens))
}

#[resource(function(name = "bucket-put"))]
async fn bucket_put(key: String, text: String, content_type: String) -> pluto::Result<()> {
    Ok(files().put(&key, text, &content_type).await?)
}

#[resource(function(name = "bucket-get"))]
async fn bucket_get(key: String) -> pluto::Result<Option<String>> {
    Ok(files().get_text(&key).await?)
}

/// Reads an object without writing: the deducer grants `get`, not `put`.
#[resource(function(name = "bucket-reader"))]
async fn bucket_reader(key: String, write: bool) -> pluto::Result<Option<String>> {
    if write {
        // Not through the handle's `put` (the deducer would grant it): a hand-made client.
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let bucket = files().bucket_name()?;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        )
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"sneaky"))
        .send()
        .await
        .map_err(|error| aws_sdk_s3::error::DisplayErrorContext(error).to_string())?;
    }
    Ok(files().get_text(&key).await?)
}

#[resource(function(name = "bucket-delete"))]
async fn bucket_delete(key: String) -> pluto::Result<()> {
    Ok(files().delete(&key).await?)
}

#[resource(function(name = "bucket-json"))]
async fn bucket_json(key: String, point: Point) -> pluto::Result<Option<Point>> {
    files().put_json(&key, &point).await?;
    Ok(files().get_json(&key).await?)
}

/// Every key under `prefix` with its size, all pages.
#[resource(function(name = "bucket-list"))]
async fn bucket_list(prefix: String) -> pluto::Result<Vec<(String, u64)>> {
    let objects = files().list_all(&prefix).await?;
    Ok(objects.into_iter().map(|o| (o.key, o.size)).collect())
}

/// Writes `count` objects of `bytes` bytes each under `prefix` (for listing and large bodies).
#[resource(function(name = "bucket-fill"))]
async fn bucket_fill(prefix: String, count: usize, bytes: usize) -> pluto::Result<()> {
    for index in 0..count {
        let key = format!("{prefix}{index:05}");
        files()
            .put(&key, vec![b'x'; bytes], "application/octet-stream")
            .await?;
    }
    Ok(())
}

/// Presigned GET and PUT URLs for `key`, valid for `seconds`.
#[resource(function(name = "bucket-presign"))]
async fn bucket_presign(key: String, seconds: u64) -> pluto::Result<(String, String)> {
    let expires = std::time::Duration::from_secs(seconds);
    Ok((
        files().presign_get(&key, expires).await?,
        files().presign_put(&key, expires, "text/plain").await?,
    ))
}

/// Whether the secret has the value `expected`, and its length: never the value itself.
#[resource(function(name = "secret-check"))]
async fn secret_check(expected: String) -> pluto::Result<(bool, usize)> {
    let value = api_key().get().await?;
    Ok((value == expected, value.len()))
}
