//! A moto server for the tests: started once per test binary on a free loopback port.
//!
//! moto runs behind `sh -c '... & read; kill'` whose stdin is a pipe held by this process: when
//! the test process exits, for whatever reason, the pipe closes and the shell stops moto. Tests
//! share the server, so each uses its own resource names.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How to install moto, for failure messages.
pub const INSTALL_HINT: &str = "moto (the AWS API emulator) is needed by this test. Run `scripts/test` \
     (it installs moto into .cache/venv), or `python3 -m venv .cache/venv && .cache/venv/bin/pip \
     install 'moto[server]'`, or point PLUTO_MOTO_SERVER at a moto_server executable.";

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    _guard: Mutex<(Child, ChildStdin)>,
}

impl Moto {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Queues results for SageMaker `InvokeEndpoint` (moto returns them in order; an identical
    /// request later gets the same result again). moto has one queue for all endpoints, so the
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

fn moto_executable() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PLUTO_MOTO_SERVER") {
        return Ok(PathBuf::from(path));
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

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| e.to_string())
}

fn start() -> Result<Moto, String> {
    let executable = moto_executable()?;
    let port = free_port()?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read _; kill $pid"#)
        .arg(&executable)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "could not start {}: {e}. {INSTALL_HINT}",
                executable.display()
            )
        })?;
    let stdin = child.stdin.take().ok_or("no stdin pipe to moto's shell")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{} exited at start ({status}). {INSTALL_HINT}",
                executable.display()
            ));
        }
        if responds(port) {
            return Ok(Moto {
                endpoint: format!("http://127.0.0.1:{port}"),
                _guard: Mutex::new((child, stdin)),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{} did not answer on port {port} within 60 s. {INSTALL_HINT}",
        executable.display()
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
