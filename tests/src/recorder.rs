//! moto's request recorder (`/moto-api/recorder/*`), read as AWS API calls: what the server
//! received, to prove from the server side which calls a deploy made (each attempt counts).
//!
//! The recorder is global to a server, so a test that records uses its own
//! [`Moto::dedicated`](crate::moto::Moto::dedicated) server. Each recorded request becomes a
//! [`RecordedCall`] named as the AWS SDK for Rust names it (`Lambda:UpdateFunctionCode`,
//! `IAM:PutRolePolicy`), so it compares equal to the engine's own call log; a request it cannot
//! name stays visible as `METHOD /path` instead of being miscounted.

use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One request moto received, as an AWS API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    /// The service as the SDK names it (`Lambda`, `IAM`, `DynamoDB`, `SageMaker`, `STS`), from
    /// the SigV4 credential scope; `unsigned` for requests without one.
    pub service: String,
    /// The operation as the SDK names it (`CreateFunction`), or `METHOD /path` when unknown.
    pub operation: String,
    /// The object acted on, when the request names one: a function, role, table, endpoint,
    /// endpoint configuration or model name (the last part of a resource ARN).
    pub target: Option<String>,
}

impl RecordedCall {
    /// Whether the call changes something: everything but `Get*`, `List*`, `Describe*` (and so
    /// `GetCallerIdentity`), `Head*` and `Scan`, the rule of the engine's `ApiCall::is_mutating`.
    pub fn is_mutating(&self) -> bool {
        !["Get", "List", "Describe", "Head", "Scan"]
            .iter()
            .any(|prefix| self.operation.starts_with(prefix))
    }

    /// `Service:Operation`, as tests write the engine's calls.
    pub fn call(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }
}

impl std::fmt::Display for RecordedCall {
    /// `Service:Operation target`, or `Service:Operation` without a target.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Some(target) => write!(f, "{}:{} {target}", self.service, self.operation),
            None => write!(f, "{}:{}", self.service, self.operation),
        }
    }
}

/// The controls of one server's recorder.
#[derive(Debug, Clone)]
pub struct Recorder {
    endpoint: String,
    client: reqwest::Client,
}

impl Recorder {
    /// The recorder of the moto server at `endpoint` (`http://127.0.0.1:PORT`).
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
        }
    }

    async fn control(&self, method: reqwest::Method, action: &str) -> Result<String, String> {
        let url = format!("{}/moto-api/recorder/{action}", self.endpoint);
        let response = self
            .client
            .request(method, &url)
            .send()
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{url}: {status}: {body}"))
        }
    }

    /// Records every request from now on (appending to the recording).
    pub async fn start(&self) -> Result<(), String> {
        self.control(reqwest::Method::POST, "start-recording")
            .await
            .map(drop)
    }

    /// Stops recording.
    pub async fn stop(&self) -> Result<(), String> {
        self.control(reqwest::Method::POST, "stop-recording")
            .await
            .map(drop)
    }

    /// Erases the recording.
    pub async fn reset(&self) -> Result<(), String> {
        self.control(reqwest::Method::POST, "reset-recording")
            .await
            .map(drop)
    }

    /// Erases the recording and starts recording.
    pub async fn restart(&self) -> Result<(), String> {
        self.reset().await?;
        self.start().await
    }

    /// The recording's raw text: one JSON object per line.
    pub async fn download_raw(&self) -> Result<String, String> {
        self.control(reqwest::Method::GET, "download-recording")
            .await
    }

    /// The calls recorded, in the order moto received them.
    pub async fn download(&self) -> Result<Vec<RecordedCall>, String> {
        parse_recording(&self.download_raw().await?)
    }
}

/// One line of moto's recording.
#[derive(Debug, Deserialize)]
struct Entry {
    headers: BTreeMap<String, String>,
    method: String,
    url: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_encoded: bool,
}

/// The calls of a recording (lines of JSON; blank lines are skipped).
pub fn parse_recording(text: &str) -> Result<Vec<RecordedCall>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(parse_line)
        .collect()
}

/// One recorded request as an AWS call.
pub fn parse_line(line: &str) -> Result<RecordedCall, String> {
    let entry: Entry = serde_json::from_str(line)
        .map_err(|error| format!("not a moto recording line ({error}): {line}"))?;
    let header = |name: &str| {
        entry
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    let body = match (&entry.body, entry.body_encoded) {
        (None, _) => Vec::new(),
        (Some(body), false) => body.clone().into_bytes(),
        (Some(body), true) => base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|error| format!("a recorded body is not base64 ({error}): {line}"))?,
    };
    let (path, query) = split_url(&entry.url);
    let signing_name = header("Authorization").and_then(signing_name);
    let service = signing_name.map_or_else(|| "unsigned".to_owned(), sdk_service_name);

    // JSON protocol (DynamoDB, SageMaker): the operation is in X-Amz-Target.
    if let Some(target) = header("X-Amz-Target") {
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let target = [
            "TableName",
            "EndpointName",
            "EndpointConfigName",
            "ModelName",
            "ResourceArn",
        ]
        .iter()
        .find_map(|key| json.get(*key).and_then(serde_json::Value::as_str))
        .map(name_of);
        return Ok(RecordedCall {
            service,
            operation,
            target,
        });
    }

    // Query protocol (IAM, STS): `Action` in the query string or the form body.
    let mut params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if header("Content-Type")
        .is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"))
    {
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    if let Some(action) = params.get("Action") {
        return Ok(RecordedCall {
            service,
            operation: action.clone(),
            target: params.get("RoleName").cloned(),
        });
    }

    // REST (Lambda, S3): method and path.
    let rest = match signing_name {
        Some("lambda") => lambda_operation(&entry.method, path),
        Some("s3") => s3_operation(&entry.method, path, query),
        _ => None,
    };
    Ok(match rest {
        Some((operation, target)) => RecordedCall {
            service,
            operation: operation.to_owned(),
            // CreateFunction names the function in its body.
            target: target.or_else(|| {
                serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()?
                    .get("FunctionName")?
                    .as_str()
                    .map(name_of)
            }),
        },
        None => RecordedCall {
            service,
            operation: format!("{} {path}", entry.method),
            target: None,
        },
    })
}

/// The path and query of a recorded URL (`http://host:port/path?query`).
fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = after_scheme
        .find('/')
        .map_or("/", |start| &after_scheme[start..]);
    path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""))
}

/// The service of a SigV4 `Authorization` header: `Credential=KEY/DATE/REGION/SERVICE/aws4_request`.
fn signing_name(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    scope.split('/').nth(3)
}

/// The SDK's name of a service from its signing name (`lambda` -> `Lambda`).
fn sdk_service_name(signing_name: &str) -> String {
    match signing_name {
        "lambda" => "Lambda",
        "iam" => "IAM",
        "dynamodb" => "DynamoDB",
        "sagemaker" => "SageMaker",
        "sts" => "STS",
        "s3" => "S3",
        "secretsmanager" => "Secrets Manager",
        other => other,
    }
    .to_owned()
}

/// The name in an ARN (`arn:aws:lambda:...:function:NAME`, `arn:aws:sagemaker:...:endpoint/NAME`),
/// or the text itself when it is not an ARN.
fn name_of(text: &str) -> String {
    if !text.starts_with("arn:") {
        return text.to_owned();
    }
    let last = text.rsplit(':').next().unwrap_or(text);
    last.rsplit('/').next().unwrap_or(last).to_owned()
}

/// Percent-decodes a path segment.
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// S3's REST API, path-style (`/BUCKET/KEY?SUBRESOURCE`): the SDK's operation name and the
/// bucket, from method, path and the query's subresource.
fn s3_operation(method: &str, path: &str, query: &str) -> Option<(&'static str, Option<String>)> {
    let (bucket, key) = match path.trim_start_matches('/').split_once('/') {
        Some((bucket, key)) => (decode(bucket), Some(key).filter(|key| !key.is_empty())),
        None => (decode(path.trim_start_matches('/')), None),
    };
    if bucket.is_empty() {
        return (method == "GET").then_some(("ListBuckets", None));
    }
    let has = |name: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    };
    let bucket_operation = |subresources: &[(&str, &'static str)], plain: &'static str| {
        subresources
            .iter()
            .find(|(name, _)| has(name))
            .map_or(plain, |(_, operation)| *operation)
    };
    let operation = match (method, key) {
        ("GET", Some(_)) => "GetObject",
        ("PUT", Some(_)) => "PutObject",
        ("DELETE", Some(_)) => "DeleteObject",
        ("HEAD", Some(_)) => "HeadObject",
        ("HEAD", None) => "HeadBucket",
        ("POST", None) if has("delete") => "DeleteObjects",
        ("GET", None) => bucket_operation(
            &[
                ("tagging", "GetBucketTagging"),
                ("publicAccessBlock", "GetPublicAccessBlock"),
                ("ownershipControls", "GetBucketOwnershipControls"),
                ("encryption", "GetBucketEncryption"),
                ("versioning", "GetBucketVersioning"),
                ("versions", "ListObjectVersions"),
                ("location", "GetBucketLocation"),
            ],
            "ListObjects",
        ),
        ("PUT", None) => bucket_operation(
            &[
                ("tagging", "PutBucketTagging"),
                ("publicAccessBlock", "PutPublicAccessBlock"),
                ("ownershipControls", "PutBucketOwnershipControls"),
                ("encryption", "PutBucketEncryption"),
                ("versioning", "PutBucketVersioning"),
            ],
            "CreateBucket",
        ),
        ("DELETE", None) => bucket_operation(
            &[
                ("tagging", "DeleteBucketTagging"),
                ("publicAccessBlock", "DeletePublicAccessBlock"),
                ("ownershipControls", "DeleteBucketOwnershipControls"),
                ("encryption", "DeleteBucketEncryption"),
            ],
            "DeleteBucket",
        ),
        _ => return None,
    };
    Some((operation, Some(bucket)))
}

/// Lambda's REST API: the SDK's operation name and the function, from method and path.
fn lambda_operation(method: &str, path: &str) -> Option<(&'static str, Option<String>)> {
    let segments: Vec<String> = path.trim_matches('/').split('/').map(decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let function = |name: &str| Some(name_of(name));
    let (operation, target) = match (method, segments.as_slice()) {
        ("POST", ["2015-03-31", "functions"]) => ("CreateFunction", None),
        ("GET", ["2015-03-31", "functions"] | ["2015-03-31", "functions", ""]) => {
            ("ListFunctions", None)
        }
        ("GET", ["2015-03-31", "functions", name]) => ("GetFunction", function(name)),
        ("DELETE", ["2015-03-31", "functions", name]) => ("DeleteFunction", function(name)),
        ("PUT", ["2015-03-31", "functions", name, "code"]) => {
            ("UpdateFunctionCode", function(name))
        }
        ("GET", ["2015-03-31", "functions", name, "configuration"]) => {
            ("GetFunctionConfiguration", function(name))
        }
        ("PUT", ["2015-03-31", "functions", name, "configuration"]) => {
            ("UpdateFunctionConfiguration", function(name))
        }
        ("POST", ["2015-03-31", "functions", name, "policy"]) => ("AddPermission", function(name)),
        ("GET", ["2015-03-31", "functions", name, "policy"]) => ("GetPolicy", function(name)),
        ("DELETE", ["2015-03-31", "functions", name, "policy", _statement]) => {
            ("RemovePermission", function(name))
        }
        ("POST", ["2015-03-31", "functions", name, "invocations"]) => ("Invoke", function(name)),
        ("POST", ["2015-03-31", "functions", name, "versions"]) => {
            ("PublishVersion", function(name))
        }
        ("GET", ["2015-03-31", "functions", name, "versions"]) => {
            ("ListVersionsByFunction", function(name))
        }
        ("POST", ["2021-10-31", "functions", name, "url"]) => {
            ("CreateFunctionUrlConfig", function(name))
        }
        ("GET", ["2021-10-31", "functions", name, "url"]) => {
            ("GetFunctionUrlConfig", function(name))
        }
        ("PUT", ["2021-10-31", "functions", name, "url"]) => {
            ("UpdateFunctionUrlConfig", function(name))
        }
        ("DELETE", ["2021-10-31", "functions", name, "url"]) => {
            ("DeleteFunctionUrlConfig", function(name))
        }
        ("GET", ["2021-10-31", "functions", name, "urls"]) => {
            ("ListFunctionUrlConfigs", function(name))
        }
        ("POST", ["2017-03-31", "tags", arn]) => ("TagResource", function(arn)),
        ("DELETE", ["2017-03-31", "tags", arn]) => ("UntagResource", function(arn)),
        ("GET", ["2017-03-31", "tags", arn]) => ("ListTags", function(arn)),
        _ => return None,
    };
    Some((operation, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(headers: serde_json::Value, method: &str, url: &str, body: &str) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(body);
        serde_json::json!({
            "headers": headers, "method": method, "url": url, "body": encoded, "body_encoded": true
        })
        .to_string()
    }

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc"
        )
    }

    fn call(service: &str, operation: &str, target: Option<&str>) -> RecordedCall {
        RecordedCall {
            service: service.to_owned(),
            operation: operation.to_owned(),
            target: target.map(str::to_owned),
        }
    }

    /// Lines as moto 5.2.1 recorded them from the AWS SDK for Rust (verbatim).
    const RECORDED: [&str; 3] = [
        r#"{"headers": {"Content-Type": "application/x-amz-json-1.1", "Content-Length": "91", "X-Amz-Target": "SageMaker.UpdateEndpoint", "User-Agent": "aws-sdk-rust/1.7.0 ua/2.1 api/sagemaker/1.248.0 os/linux lang/rust/1.95.0 m/E,N md/http#hyper-1.x", "X-Amz-User-Agent": "aws-sdk-rust/1.7.0 ua/2.1 api/sagemaker/1.248.0 os/linux lang/rust/1.95.0 m/E,N md/http#hyper-1.x", "X-Amz-Date": "20261122T224628Z", "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/sagemaker/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target;x-amz-user-agent, Signature=171d8c6778d2c0253aec5b744de023a7c9178b4851d7fbd920de399c2ff8de71", "Amz-Sdk-Request": "attempt=1; max=3", "Amz-Sdk-Invocation-Id": "16389400-3167-4708-9f56-766dc5e1cd60", "Host": "127.0.0.1:35379"}, "method": "POST", "url": "http://127.0.0.1:35379/", "body": "eyJFbmRwb2ludE5hbWUiOiJlbmdpbmUtYXBwLXMtbGxtIiwiRW5kcG9pbnRDb25maWdOYW1lIjoiZW5naW5lLWFwcC1zLWxsbS1jb25maWctM2FkZDFhZWQifQ==", "body_encoded": true}"#,
        r#"{"headers": {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "65", "User-Agent": "aws-sdk-rust/1.7.0 ua/2.1 api/iam/1.133.0 os/linux lang/rust/1.95.0 m/E,N md/http#hyper-1.x", "X-Amz-User-Agent": "aws-sdk-rust/1.7.0 ua/2.1 api/iam/1.133.0 os/linux lang/rust/1.95.0 m/E,N md/http#hyper-1.x", "X-Amz-Date": "20261122T224628Z", "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/iam/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-user-agent, Signature=cec4eddc7f8a0c3cd7c732dc5215defd6ef1779c3dbfb11becf69275bce0f38f", "Amz-Sdk-Request": "attempt=1; max=3", "Amz-Sdk-Invocation-Id": "ac346d88-6f9f-4f91-b320-9441f91dd05e", "Host": "127.0.0.1:35379"}, "method": "POST", "url": "http://127.0.0.1:35379/", "body": "QWN0aW9uPURlbGV0ZVJvbGUmVmVyc2lvbj0yMDEwLTA1LTA4JlJvbGVOYW1lPWVuZ2luZS1hcHAtcy1sbG0tc20=", "body_encoded": true}"#,
        r#"{"headers": {"Content-Type": "application/json", "Content-Length": "19", "User-Agent": "aws-sdk-rust/1.7.0 ua/2.1 api/lambda/1.156.0 os/linux lang/rust/1.95.0 m/E,N md/http#hyper-1.x", "X-Amz-User-Agent": "aws-sdk-rust/1.7.0 ua/2.1 api/lambda/1.156.0 os/linux lang/rust/1.95.0 m/E,N md/http#hyper-1.x", "X-Amz-Date": "20261122T224628Z", "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/lambda/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-user-agent, Signature=6b86573c20f1d7470e64c56a57a9460252482d7edf19e9be74ed1351fe7c5dc1", "Amz-Sdk-Request": "attempt=1; max=3", "Amz-Sdk-Invocation-Id": "9ba13ca7-97b7-4886-afd5-36577e241bf0", "Host": "127.0.0.1:35379"}, "method": "POST", "url": "http://127.0.0.1:35379/2021-10-31/functions/engine-app-s-solo/url", "body": "eyJBdXRoVHlwZSI6Ik5PTkUifQ==", "body_encoded": true}"#,
    ];

    #[test]
    fn lines_recorded_by_moto_are_named_as_the_sdk_names_them() {
        assert_eq!(
            parse_recording(&RECORDED.join("\n")),
            Ok(vec![
                call("SageMaker", "UpdateEndpoint", Some("engine-app-s-llm")),
                call("IAM", "DeleteRole", Some("engine-app-s-llm-sm")),
                call(
                    "Lambda",
                    "CreateFunctionUrlConfig",
                    Some("engine-app-s-solo")
                ),
            ])
        );
    }

    #[test]
    fn json_protocol_calls_are_named_by_their_target_header() {
        let update = line(
            serde_json::json!({
                "Host": "127.0.0.1:5000",
                "Authorization": auth("sagemaker"),
                "X-Amz-Target": "SageMaker.UpdateEndpoint",
                "Content-Type": "application/x-amz-json-1.1",
            }),
            "POST",
            "http://127.0.0.1:5000/",
            r#"{"EndpointName":"app-dev-llm","EndpointConfigName":"app-dev-llm-config-2"}"#,
        );
        assert_eq!(
            parse_line(&update),
            Ok(call("SageMaker", "UpdateEndpoint", Some("app-dev-llm")))
        );
        let tags = line(
            serde_json::json!({"authorization": auth("sagemaker"), "x-amz-target": "SageMaker.AddTags"}),
            "POST",
            "http://127.0.0.1:5000/",
            r#"{"ResourceArn":"arn:aws:sagemaker:us-east-1:123456789012:endpoint/app-dev-llm","Tags":[]}"#,
        );
        assert_eq!(
            parse_line(&tags),
            Ok(call("SageMaker", "AddTags", Some("app-dev-llm")))
        );
        let put = line(
            serde_json::json!({"Authorization": auth("dynamodb"), "X-Amz-Target": "DynamoDB_20120810.PutItem"}),
            "POST",
            "http://127.0.0.1:5000/",
            r#"{"TableName":"pluto-locks","Item":{}}"#,
        );
        let put = parse_line(&put).expect("a call");
        assert_eq!(put, call("DynamoDB", "PutItem", Some("pluto-locks")));
        assert!(put.is_mutating());
        assert_eq!(put.to_string(), "DynamoDB:PutItem pluto-locks");
        assert_eq!(put.call(), "DynamoDB:PutItem");
    }

    #[test]
    fn s3_calls_are_named_by_method_path_and_subresource() {
        assert_eq!(
            s3_operation("GET", "/", "x-id=ListBuckets"),
            Some(("ListBuckets", None))
        );
        let bucket = Some("app-dev-docs-1a2b3c4d".to_owned());
        for (method, path, query, operation) in [
            ("PUT", "/app-dev-docs-1a2b3c4d", "", "CreateBucket"),
            (
                "PUT",
                "/app-dev-docs-1a2b3c4d",
                "publicAccessBlock",
                "PutPublicAccessBlock",
            ),
            (
                "GET",
                "/app-dev-docs-1a2b3c4d",
                "versioning",
                "GetBucketVersioning",
            ),
            (
                "GET",
                "/app-dev-docs-1a2b3c4d",
                "versions",
                "ListObjectVersions",
            ),
            ("POST", "/app-dev-docs-1a2b3c4d", "delete", "DeleteObjects"),
            ("HEAD", "/app-dev-docs-1a2b3c4d", "", "HeadBucket"),
            ("DELETE", "/app-dev-docs-1a2b3c4d", "", "DeleteBucket"),
            (
                "PUT",
                "/app-dev-docs-1a2b3c4d/a/b.txt",
                "x-id=PutObject",
                "PutObject",
            ),
        ] {
            assert_eq!(
                s3_operation(method, path, query),
                Some((operation, bucket.clone())),
                "{method} {path}?{query}"
            );
        }
        assert_eq!(sdk_service_name("secretsmanager"), "Secrets Manager");
    }

    #[test]
    fn query_protocol_calls_are_named_by_their_action() {
        let put = line(
            serde_json::json!({
                "Authorization": auth("iam"),
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            }),
            "POST",
            "http://127.0.0.1:5000/",
            "Action=PutRolePolicy&Version=2010-05-08&RoleName=app-dev-api-fn&PolicyName=pluto\
             &PolicyDocument=%7B%7D",
        );
        assert_eq!(
            parse_line(&put),
            Ok(call("IAM", "PutRolePolicy", Some("app-dev-api-fn")))
        );
        let who = line(
            serde_json::json!({"Authorization": auth("sts"), "Content-Type": "application/x-www-form-urlencoded"}),
            "POST",
            "http://127.0.0.1:5000/",
            "Action=GetCallerIdentity&Version=2011-06-15",
        );
        let who = parse_line(&who).expect("a call");
        assert_eq!(who, call("STS", "GetCallerIdentity", None));
        assert!(!who.is_mutating());
        let query = line(
            serde_json::json!({"Authorization": auth("iam")}),
            "GET",
            "http://127.0.0.1:5000/?Action=ListRoles&Version=2010-05-08",
            "",
        );
        assert_eq!(parse_line(&query), Ok(call("IAM", "ListRoles", None)));
    }

    #[test]
    fn lambda_rest_calls_are_named_as_the_sdk_names_them() {
        let lambda = |method: &str, path: &str| {
            parse_line(&line(
                serde_json::json!({"Authorization": auth("lambda")}),
                method,
                &format!("http://127.0.0.1:5000{path}"),
                "",
            ))
            .expect("a call")
        };
        let function = Some("app-dev-api");
        let create = parse_line(&line(
            serde_json::json!({"Authorization": auth("lambda"), "Content-Type": "application/json"}),
            "POST",
            "http://127.0.0.1:5000/2015-03-31/functions",
            r#"{"FunctionName":"app-dev-api","Runtime":"provided.al2023"}"#,
        ));
        assert_eq!(create, Ok(call("Lambda", "CreateFunction", function)));
        for (method, path, operation, target) in [
            ("POST", "/2015-03-31/functions", "CreateFunction", None),
            ("GET", "/2015-03-31/functions/", "ListFunctions", None),
            (
                "GET",
                "/2015-03-31/functions?Marker=x",
                "ListFunctions",
                None,
            ),
            (
                "GET",
                "/2015-03-31/functions/app-dev-api",
                "GetFunction",
                function,
            ),
            (
                "DELETE",
                "/2015-03-31/functions/app-dev-api",
                "DeleteFunction",
                function,
            ),
            (
                "PUT",
                "/2015-03-31/functions/app-dev-api/code",
                "UpdateFunctionCode",
                function,
            ),
            (
                "GET",
                "/2015-03-31/functions/app-dev-api/configuration",
                "GetFunctionConfiguration",
                function,
            ),
            (
                "PUT",
                "/2015-03-31/functions/app-dev-api/configuration",
                "UpdateFunctionConfiguration",
                function,
            ),
            (
                "POST",
                "/2015-03-31/functions/app-dev-api/policy",
                "AddPermission",
                function,
            ),
            (
                "GET",
                "/2015-03-31/functions/app-dev-api/policy",
                "GetPolicy",
                function,
            ),
            (
                "DELETE",
                "/2015-03-31/functions/app-dev-api/policy/PlutoPublicUrl",
                "RemovePermission",
                function,
            ),
            (
                "POST",
                "/2021-10-31/functions/app-dev-api/url",
                "CreateFunctionUrlConfig",
                function,
            ),
            (
                "GET",
                "/2021-10-31/functions/app-dev-api/url",
                "GetFunctionUrlConfig",
                function,
            ),
            (
                "PUT",
                "/2021-10-31/functions/app-dev-api/url",
                "UpdateFunctionUrlConfig",
                function,
            ),
            (
                "DELETE",
                "/2021-10-31/functions/app-dev-api/url",
                "DeleteFunctionUrlConfig",
                function,
            ),
            (
                "POST",
                "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aapp-dev-api",
                "TagResource",
                function,
            ),
            (
                "DELETE",
                "/2017-03-31/tags/arn:aws:lambda:us-east-1:123456789012:function:app-dev-api?tagKeys=a",
                "UntagResource",
                function,
            ),
            (
                "GET",
                "/2017-03-31/tags/arn:aws:lambda:us-east-1:123456789012:function:app-dev-api",
                "ListTags",
                function,
            ),
        ] {
            assert_eq!(
                lambda(method, path),
                call("Lambda", operation, target),
                "{method} {path}"
            );
        }
        // An unknown call stays visible, and counts as mutating.
        let unknown = lambda("PUT", "/2017-10-31/functions/app-dev-api/concurrency");
        assert_eq!(
            unknown.operation,
            "PUT /2017-10-31/functions/app-dev-api/concurrency"
        );
        assert!(unknown.is_mutating());
    }

    #[test]
    fn unsigned_requests_and_plain_bodies_are_kept() {
        let plain = serde_json::json!({
            "headers": {"Host": "127.0.0.1:5000"},
            "method": "GET",
            "url": "http://127.0.0.1:5000/moto-api/data.json",
            "body": "",
            "body_encoded": false,
        })
        .to_string();
        assert_eq!(
            parse_recording(&format!("{plain}\n\n{plain}\n")),
            Ok(vec![
                call("unsigned", "GET /moto-api/data.json", None),
                call("unsigned", "GET /moto-api/data.json", None),
            ])
        );
        assert!(parse_line("not json").is_err());
    }
}
