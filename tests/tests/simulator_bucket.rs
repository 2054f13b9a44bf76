//! The simulator's S3 and Secrets Manager, through the fixture app's functions running in a real
//! `Simulator`: every `Bucket` operation (text, JSON, delete, listing over pages and by prefix, a
//! large object streamed, presigned GET and PUT from a plain HTTP client, tampered and expired
//! URLs refused), objects surviving a restart, IAM per function (a reader granted `get` is denied
//! a `put`), and `Secret::get` from the local secret store, whose value never reaches a log or a
//! file under the stack's data directory.

use pluto_model::naming::StackNames;
use pluto_simulator::lambda::Outcome;
use pluto_simulator::secrets::LocalSecrets;
use pluto_simulator::{Simulator, SimulatorOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

struct Running {
    simulator: Simulator,
    /// The simulator's own log and every function's output.
    log: Arc<Mutex<Vec<String>>>,
    /// The stack's data (`.pluto/<stack>/` of `cargo pluto run`).
    data_dir: PathBuf,
}

impl Running {
    async fn start(data_dir: &Path, secrets_dir: &Path) -> Self {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (aws_sink, function_sink) = (log.clone(), log.clone());
        let mut options = SimulatorOptions::new(
            "test",
            PathBuf::from(env!("CARGO_BIN_EXE_fixture-app")),
            data_dir.to_path_buf(),
        );
        options.secrets_dir = Some(secrets_dir.to_path_buf());
        options.max_instances = 1;
        options.log =
            Arc::new(move |line: &str| aws_sink.lock().expect("log").push(line.to_owned()));
        options.function_logs = Arc::new(move |function: &str, _: u64, line: &str| {
            function_sink
                .lock()
                .expect("log")
                .push(format!("{function}: {line}"))
        });
        let simulator = Simulator::start(&pluto_tests::app::fixture_architecture(), options)
            .await
            .expect("the simulator starts");
        Self {
            simulator,
            log,
            data_dir: data_dir.to_path_buf(),
        }
    }

    async fn call(&self, function: &str, payload: Value) -> Outcome {
        self.simulator
            .invoke(function, payload)
            .await
            .expect("the invocation runs")
    }

    /// The function's answer; panics on an error.
    async fn answer(&self, function: &str, payload: Value) -> Value {
        match self.call(function, payload).await {
            Outcome::Response(value) => value,
            other => panic!("{function} failed: {other:?}"),
        }
    }

    /// The function's error message; panics when it answers.
    async fn failure(&self, function: &str, payload: Value) -> String {
        match self.call(function, payload).await {
            Outcome::FunctionError { message, .. } => message,
            other => panic!("{function} should fail: {other:?}"),
        }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    async fn stop(self) {
        self.simulator.stop().await;
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pluto-bucket-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn bucket_name() -> String {
    StackNames::new("pluto-tests", "test")
        .expect("names")
        .in_account(
            pluto_simulator::aws::LOCAL_ACCOUNT,
            pluto_simulator::aws::LOCAL_REGION,
        )
        .bucket("files")
}

#[tokio::test]
async fn every_bucket_operation_works_and_objects_survive_a_restart() {
    let data = scratch_dir("operations");
    let secrets = scratch_dir("operations-secrets");
    let app = Running::start(&data, &secrets).await;
    app.answer("bucket-put", json!(["notes/a.txt", "héllo", "text/plain"]))
        .await;
    assert_eq!(
        app.answer("bucket-get", json!(["notes/a.txt"])).await,
        json!("héllo")
    );
    assert_eq!(
        app.answer("bucket-get", json!(["missing"])).await,
        Value::Null
    );
    let point = json!({"x": 3, "y": -4});
    assert_eq!(
        app.answer("bucket-json", json!(["p.json", point])).await,
        point
    );

    app.answer("bucket-put", json!(["gone", "soon", "text/plain"]))
        .await;
    app.answer("bucket-delete", json!(["gone"])).await;
    assert_eq!(app.answer("bucket-get", json!(["gone"])).await, Value::Null);
    app.answer("bucket-delete", json!(["never-there"])).await;

    // 1001 keys: two pages of ListObjectsV2.
    app.answer("bucket-fill", json!(["many/", 1001, 3])).await;
    let listed = app.answer("bucket-list", json!(["many/"])).await;
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1001);
    for (index, entry) in listed.iter().enumerate() {
        assert_eq!(entry, &json!([format!("many/{index:05}"), 3]));
    }
    let notes = app.answer("bucket-list", json!(["notes/"])).await;
    assert_eq!(notes, json!([["notes/a.txt", "héllo".len()]]));
    let everything = app.answer("bucket-list", json!([""])).await;
    assert_eq!(everything.as_array().map(Vec::len), Some(1001 + 2));
    app.stop().await;

    let restarted = Running::start(&data, &secrets).await;
    assert_eq!(
        restarted.answer("bucket-get", json!(["notes/a.txt"])).await,
        json!("héllo")
    );
    assert_eq!(
        restarted.answer("bucket-list", json!(["many/0100"])).await,
        json!([["many/01000", 3]])
    );
    restarted.stop().await;
}

/// The resident memory of this process (the simulator runs in it), in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[tokio::test]
async fn a_large_object_streams_through_and_presigned_urls_work_until_they_expire() {
    const LARGE: usize = 20 * 1024 * 1024;
    let app = Running::start(&scratch_dir("large"), &scratch_dir("large-secrets")).await;
    let client = reqwest::Client::new();
    let before = resident_bytes();
    app.answer("bucket-fill", json!(["large/", 1, LARGE])).await;
    let urls = app
        .answer("bucket-presign", json!(["large/00000", 60]))
        .await;
    let get_url = urls[0].as_str().expect("a GET URL").to_owned();
    let mut response = client.get(&get_url).send().await.expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.content_length(),
        Some(LARGE as u64),
        "Content-Length"
    );
    let mut received = 0_usize;
    while let Some(chunk) = response.chunk().await.expect("body") {
        assert!(chunk.iter().all(|byte| *byte == b'x'), "the bytes put");
        received += chunk.len();
    }
    assert_eq!(received, LARGE);
    if let (Some(before), Some(after)) = (before, resident_bytes()) {
        assert!(
            after.saturating_sub(before) < LARGE as u64,
            "the simulator's memory grew by {} bytes for a {LARGE}-byte object: bodies must stream",
            after.saturating_sub(before)
        );
    }
    let object_files: Vec<_> = walk(&app.data_dir).collect();
    assert!(
        object_files.iter().any(|(_, size)| *size == LARGE as u64),
        "the object is a file of its own: {object_files:?}"
    );

    // Presigned PUT from a plain client (no AWS headers), then GET.
    let urls = app
        .answer("bucket-presign", json!(["up/load.txt", 60]))
        .await;
    let (get_url, put_url) = (
        urls[0].as_str().expect("GET URL").to_owned(),
        urls[1].as_str().expect("PUT URL").to_owned(),
    );
    let put = client
        .put(&put_url)
        .header("content-type", "text/plain")
        .body("uploaded by a browser")
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        put.status(),
        200,
        "{}",
        put.text().await.unwrap_or_default()
    );
    assert_eq!(
        app.answer("bucket-get", json!(["up/load.txt"])).await,
        json!("uploaded by a browser")
    );
    let got = client.get(&get_url).send().await.expect("GET");
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.expect("text"), "uploaded by a browser");

    // Another key under the same signature, or a changed expiry: refused.
    for tampered in [
        get_url.replace("up/load.txt", "up/other.txt"),
        get_url.replace("X-Amz-Expires=60", "X-Amz-Expires=600"),
    ] {
        let refused = client.get(&tampered).send().await.expect("GET");
        assert_eq!(refused.status(), 403, "{tampered}");
        let body = refused.text().await.expect("text");
        assert!(
            body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{body}"
        );
    }
    let urls = app
        .answer("bucket-presign", json!(["up/load.txt", 1]))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = client
        .get(urls[0].as_str().expect("GET URL"))
        .send()
        .await
        .expect("GET");
    assert_eq!(expired.status(), 403);
    let body = expired.text().await.expect("text");
    assert!(
        body.contains("<Code>AccessDenied</Code>") && body.contains("Request has expired"),
        "{body}"
    );
    app.stop().await;
}

/// Every file under `dir`, with its size.
fn walk(dir: &Path) -> impl Iterator<Item = (PathBuf, u64)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(metadata) if metadata.is_dir() => pending.push(path),
                Ok(metadata) => files.push((path, metadata.len())),
                Err(_) => {}
            }
        }
    }
    files.into_iter()
}

#[tokio::test]
async fn a_function_granted_get_is_denied_put_like_aws() {
    let app = Running::start(&scratch_dir("reader"), &scratch_dir("reader-secrets")).await;
    app.answer("bucket-put", json!(["shared.txt", "read me", "text/plain"]))
        .await;
    assert_eq!(
        app.answer("bucket-reader", json!(["shared.txt", false]))
            .await,
        json!("read me")
    );
    let message = app
        .failure("bucket-reader", json!(["shared.txt", true]))
        .await;
    let bucket = bucket_name();
    assert!(message.contains("AccessDenied"), "{message}");
    assert!(
        message.contains(&format!(
            "is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::{bucket}/*"
        )),
        "{message}"
    );
    assert!(
        app.log()
            .contains("denied: function `bucket-reader` has no grant for `put` on bucket `files`"),
        "{}",
        app.log()
    );
    assert_eq!(
        app.answer("bucket-get", json!(["shared.txt"])).await,
        json!("read me"),
        "the denied write changed nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_secret_is_read_from_the_local_store_and_never_leaks() {
    const VALUE: &str = "hf_Zq8x-very-secret-token-4711";
    let data = scratch_dir("secret");
    let secrets_dir = scratch_dir("secret-store");
    let app = Running::start(&data, &secrets_dir).await;
    let message = app.failure("secret-check", json!([VALUE])).await;
    assert!(
        message.contains("cargo pluto secret set api-key"),
        "{message}"
    );

    LocalSecrets::in_root(&secrets_dir, "pluto-tests", "test")
        .expect("the store")
        .set("api-key", VALUE)
        .expect("set");
    assert_eq!(
        app.answer("secret-check", json!([VALUE])).await,
        json!([true, VALUE.len()])
    );
    assert_eq!(
        app.answer("secret-check", json!(["something else"])).await,
        json!([false, VALUE.len()])
    );
    let log = app.log();
    app.stop().await;

    assert!(!log.contains(VALUE), "a log line has the secret: {log}");
    for (path, _) in walk(&data) {
        let bytes = std::fs::read(&path).expect("readable");
        assert!(
            !bytes
                .windows(VALUE.len())
                .any(|window| window == VALUE.as_bytes()),
            "{} has the secret",
            path.display()
        );
    }
}

/// An S3 client signing with function `function`'s credentials of this run, as its runtime does.
fn s3_client_of(app: &Running, function: &str) -> aws_sdk_s3::Client {
    let credentials = app
        .simulator
        .function_credentials(function)
        .expect("the function's credentials");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(
                pluto_simulator::aws::LOCAL_REGION,
            ))
            .endpoint_url(app.simulator.aws_endpoint())
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.clone(),
                None,
                None,
                "simulator-test",
            ))
            .build(),
    )
}

/// `Bucket::put_file` streams a file: over plain HTTP the SDK sends it `aws-chunked`, each chunk
/// signed (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`) with a CRC32 trailer.
#[tokio::test]
async fn a_streamed_upload_in_signed_chunks_is_decoded_and_verified() {
    let data = scratch_dir("chunked");
    let app = Running::start(&data, &scratch_dir("chunked-secrets")).await;
    let client = s3_client_of(&app, "bucket-put");
    let body: Vec<u8> = (0..300_000_u32).map(|index| (index % 251) as u8).collect();
    let file = data.join("upload.bin");
    std::fs::write(&file, &body).expect("the file");
    client
        .put_object()
        .bucket(bucket_name())
        .key("streamed/upload.bin")
        .content_type("application/octet-stream")
        .body(
            aws_sdk_s3::primitives::ByteStream::from_path(&file)
                .await
                .expect("the file streams"),
        )
        .send()
        .await
        .map_err(aws_sdk_s3::error::DisplayErrorContext)
        .expect("the chunked upload is accepted");
    let reader = s3_client_of(&app, "bucket-get");
    let object = reader
        .get_object()
        .bucket(bucket_name())
        .key("streamed/upload.bin")
        .send()
        .await
        .map_err(aws_sdk_s3::error::DisplayErrorContext)
        .expect("the object");
    assert_eq!(object.content_length(), Some(300_000));
    let read = object.body.collect().await.expect("the body").into_bytes();
    assert!(read == body.as_slice(), "the bytes put come back");

    // `bucket-get` may read but not write: its upload is denied, whatever the framing.
    let denied = reader
        .put_object()
        .bucket(bucket_name())
        .key("streamed/upload.bin")
        .body(
            aws_sdk_s3::primitives::ByteStream::from_path(&file)
                .await
                .expect("the file streams"),
        )
        .send()
        .await
        .expect_err("denied");
    let message = aws_sdk_s3::error::DisplayErrorContext(denied).to_string();
    assert!(message.contains("AccessDenied"), "{message}");
    app.stop().await;
}

/// regression: a subresource call (`?tagging`) was served as the plain object call, so a
/// `PutObjectTagging` replaced the object with the tagging XML and `DeleteObjectTagging`
/// deleted it. Now they are refused as not served, and the object is untouched.
#[tokio::test]
async fn regression_subresource_calls_do_not_overwrite_or_delete_objects() {
    let app = Running::start(
        &scratch_dir("subresource"),
        &scratch_dir("subresource-secrets"),
    )
    .await;
    let writer = s3_client_of(&app, "bucket-put");
    writer
        .put_object()
        .bucket(bucket_name())
        .key("kept.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"original"))
        .send()
        .await
        .map_err(aws_sdk_s3::error::DisplayErrorContext)
        .expect("the object");
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("k")
                .value("v")
                .build()
                .expect("a tag"),
        )
        .build()
        .expect("tagging");
    let refused = writer
        .put_object_tagging()
        .bucket(bucket_name())
        .key("kept.txt")
        .tagging(tagging)
        .send()
        .await
        .expect_err("not served");
    let message = aws_sdk_s3::error::DisplayErrorContext(refused).to_string();
    assert!(message.contains("NotImplemented"), "{message}");
    let deleter = s3_client_of(&app, "bucket-delete");
    let refused = deleter
        .delete_object_tagging()
        .bucket(bucket_name())
        .key("kept.txt")
        .send()
        .await
        .expect_err("not served");
    let message = aws_sdk_s3::error::DisplayErrorContext(refused).to_string();
    assert!(message.contains("NotImplemented"), "{message}");
    let reader = s3_client_of(&app, "bucket-get");
    let object = reader
        .get_object()
        .bucket(bucket_name())
        .key("kept.txt")
        .send()
        .await
        .map_err(aws_sdk_s3::error::DisplayErrorContext)
        .expect("the object is still there");
    let bytes = object.body.collect().await.expect("the body").into_bytes();
    assert_eq!(bytes.as_ref(), b"original");
    app.stop().await;
}
