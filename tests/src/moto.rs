//! A moto server (the AWS API emulator) for the tests, on a free loopback port.
//!
//! [`moto()`] is one server shared by every test of a binary, started on first use; tests sharing
//! it use their own resource names. [`Moto::dedicated`] starts a private one for a test that needs
//! the whole server to itself: moto's request recorder ([`crate::recorder`]) and its reset are
//! global to a server, and the tests of a binary run concurrently.
//!
//! The server is `tests/moto/server.py` (moto's own server plus SageMaker `UpdateEndpoint`,
//! SageMaker Runtime `InvokeEndpointWithResponseStream` and Function URL `InvokeMode`), run by the
//! Python next to `moto_server`. A shell runs it and
//! kills it on EOF on its stdin, a pipe held by this process: when the [`Moto`] is dropped or the
//! test process exits, for whatever reason, the pipe closes and the shell stops moto.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How to install moto, for failure messages.
pub const INSTALL_HINT: &str = "moto (the AWS API emulator) is needed by this test. Run `scripts/test` \
     (it installs moto into .cache/venv), or `python3 -m venv .cache/venv && .cache/venv/bin/pip \
     install 'moto[server]'`, or point PLUTO_MOTO_SERVER at a moto_server executable.";

/// A running moto server; stopped when dropped (the shared one when the test process exits).
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    recording: PathBuf,
    log: PathBuf,
    process: Mutex<Option<(Child, ChildStdin)>>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let process = match self.process.get_mut() {
            Ok(process) => process.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        // EOF on the pipe: the shell kills moto (the shell is reaped when the tests exit).
        drop(process);
        let _ = std::fs::remove_file(&self.recording);
    }
}

impl Moto {
    /// Starts a private moto server for one test (stopped when the returned value is dropped),
    /// for tests that use server-wide state: the request recorder or `/moto-api/reset`.
    ///
    /// # Panics
    /// When moto is not installed or does not start, with instructions.
    pub fn dedicated() -> Moto {
        start().unwrap_or_else(|message| panic!("{message}"))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The file moto's request recorder writes to (`MOTO_RECORDER_FILEPATH`), one per server.
    pub fn recording_path(&self) -> &Path {
        &self.recording
    }

    /// moto's exit status, if it has exited.
    fn exited(&self) -> Option<std::process::ExitStatus> {
        let mut process = self.process.lock().ok()?;
        let (shell, _) = process.as_mut()?;
        shell.try_wait().ok().flatten()
    }

    /// The end of moto's output, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Queues results for SageMaker `InvokeEndpoint` and `InvokeEndpointWithResponseStream` (moto
    /// returns them in order; an identical request later gets the same result again). The stream
    /// sends a TGI answer `[{"generated_text": T}]` as TGI's token events, any other body in one
    /// part (see `tests/moto/server.py`). moto has one queue for all endpoints, so the
    /// returned guard keeps other tests of this binary from queueing until it is dropped: hold it
    /// until the invocations that consume the results are done.
    pub async fn queue_sagemaker_results(
        &self,
        bodies: &[(&str, &str)],
    ) -> tokio::sync::MutexGuard<'static, ()> {
        static QUEUE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let guard = QUEUE.lock().await;
        let results: Vec<serde_json::Value> = bodies
            .iter()
            .map(|(body, content_type)| serde_json::json!({"Body": body, "ContentType": content_type}))
            .collect();
        let url = format!(
            "{}/moto-api/static/sagemaker/endpoint-results",
            self.endpoint
        );
        let response = reqwest::Client::new()
            .post(url)
            .json(&serde_json::json!({"results": results, "region": "us-east-1"}))
            .send()
            .await
            .expect("moto accepts SageMaker results");
        assert!(
            response.status().is_success(),
            "moto refused SageMaker results: {}",
            response.status()
        );
        guard
    }

    /// An AWS SDK configuration pointing at this server with test credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    /// Creates a DynamoDB table with the KV store contract (partition key `pk`, a string) and
    /// returns a client for checking its items.
    pub async fn create_kv_table(&self, table: &str) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let client = aws_sdk_dynamodb::Client::new(&self.sdk_config().await);
        let key = KeySchemaElement::builder()
            .attribute_name("pk")
            .key_type(KeyType::Hash)
            .build();
        let attribute = AttributeDefinition::builder()
            .attribute_name("pk")
            .attribute_type(ScalarAttributeType::S)
            .build();
        client
            .create_table()
            .table_name(table)
            .key_schema(key.expect("a complete key schema"))
            .attribute_definitions(attribute.expect("a complete attribute definition"))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap_or_else(|error| panic!("moto did not create table {table}: {error:?}"));
        client
    }

    /// [`Moto::aws_env`] plus `extra` variables.
    pub fn env_with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.aws_env();
        env.extend(
            extra
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
        );
        env
    }

    /// The environment a process needs to use this server through the standard AWS chain.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ]
    }
}

/// An AWS SDK configuration for `endpoint` (moto, or a proxy in front of it) with test
/// credentials in `us-east-1`.
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "pluto-tests",
        ))
        .load()
        .await
}

/// The moto server of this test binary, started on first use.
///
/// # Panics
/// When moto is not installed or does not start, with instructions.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| start().unwrap_or_else(|message| panic!("{message}")))
}

/// The `moto_server` executable: `PLUTO_MOTO_SERVER`, `.cache/venv/bin/moto_server`, or on `PATH`.
fn moto_executable() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PLUTO_MOTO_SERVER") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(format!(
                "PLUTO_MOTO_SERVER={} is not a file. {INSTALL_HINT}",
                path.display()
            ));
        }
        return Ok(path);
    }
    let venv = crate::workspace_root().join(".cache/venv/bin/moto_server");
    if venv.is_file() {
        return Ok(venv);
    }
    let on_path = std::env::var_os("PATH").map(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|p| p.is_file())
    });
    on_path
        .flatten()
        .ok_or_else(|| format!("moto_server was not found. {INSTALL_HINT}"))
}

/// The command running the Python that has moto: the interpreter on `moto_server`'s `#!` line
/// when it names one by path, else `python3` (or `python`) next to `moto_server`, else the `#!`
/// line as it is (e.g. `/usr/bin/env python3`).
fn moto_python(moto_server: &Path) -> Result<Vec<OsString>, String> {
    let script = std::fs::read(moto_server).unwrap_or_default();
    let first_line = script
        .split(|byte| *byte == b'\n')
        .next()
        .unwrap_or_default();
    let shebang: Vec<OsString> = String::from_utf8_lossy(first_line)
        .strip_prefix("#!")
        .map(|line| line.split_whitespace().map(OsString::from).collect())
        .unwrap_or_default();
    let is_python = |part: &OsString| {
        Path::new(part)
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("python"))
    };
    if let [python] = shebang.as_slice()
        && is_python(python)
        && Path::new(python).is_file()
    {
        return Ok(shebang);
    }
    if let Some(dir) = moto_server.parent() {
        for name in ["python3", "python"] {
            let python = dir.join(name);
            if python.is_file() {
                return Ok(vec![python.into_os_string()]);
            }
        }
    }
    if shebang.last().is_some_and(is_python) {
        return Ok(shebang);
    }
    Err(format!(
        "found no Python to run moto with: {} has no python3 next to it and no #! line naming \
         one. {INSTALL_HINT}",
        moto_server.display()
    ))
}

/// `tests/moto/server.py`: moto's server with the operations Pluto needs and moto lacks.
fn launcher() -> Result<PathBuf, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto/server.py");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("the moto launcher {} is missing", path.display()))
    }
}

/// A free loopback port, never one handed out before in this process (two servers starting at
/// once must not race for one port).
fn free_port() -> Result<u16, String> {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..64 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("no free port: {e}"))?;
        let port = listener
            .local_addr()
            .map(|addr| addr.port())
            .map_err(|e| e.to_string())?;
        let mut given = GIVEN.lock().map_err(|_| "the port registry is poisoned")?;
        if given.insert(port) {
            return Ok(port);
        }
    }
    Err("no free port that was not handed out already".to_owned())
}

fn start() -> Result<Moto, String> {
    let executable = moto_executable()?;
    let python = moto_python(&executable)?;
    let launcher = launcher()?;
    let port = free_port()?;
    let file = |what: &str| {
        std::env::temp_dir().join(format!("pluto-moto-{}-{port}.{what}", std::process::id()))
    };
    let (recording, log) = (file("recording.jsonl"), file("log"));
    let shown = format!(
        "{} {}",
        python
            .iter()
            .map(|part| part.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        launcher.display()
    );
    // The shell waits for moto (so moto exiting shows as the shell exiting) while a subshell
    // waits for EOF on the pipe to kill it. An asynchronous list's stdin is /dev/null, so the
    // pipe is passed as fd 3.
    let script = r#"exec 3<&0; port=$1; log=$2; shift 2
"$@" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
(read _ <&3; kill $pid 2>/dev/null) &
wait $pid"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("moto")
        .arg(port.to_string())
        .arg(&log)
        .args(&python)
        .arg(&launcher)
        .env("MOTO_RECORDER_FILEPATH", &recording)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {shown}: {e}. {INSTALL_HINT}"))?;
    let stdin = child.stdin.take().ok_or("no stdin pipe to moto's shell")?;
    let moto = Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        recording,
        log,
        process: Mutex::new(Some((child, stdin))),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = moto.exited() {
            return Err(format!(
                "{shown} (moto, found from {}) exited at start ({status}):\n{}\n{INSTALL_HINT}",
                executable.display(),
                moto.log_tail()
            ));
        }
        if responds(port) {
            // Only needed to explain a failed start; moto writes on to the unlinked file.
            let _ = std::fs::remove_file(&moto.log);
            return Ok(moto);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{shown} (moto) did not answer on port {port} within 60 s:\n{}\n{INSTALL_HINT}",
        moto.log_tail()
    ))
}

fn responds(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /moto-api/data.json HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}
