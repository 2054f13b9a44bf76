//! Function URL request events (payload format 2.0), shaped like the ones AWS sends.

use base64::Engine;
use serde_json::{Value, json};

/// A builder of one Function URL event.
#[derive(Debug, Clone)]
pub struct UrlEvent {
    method: String,
    raw_query: String,
    query_parameters: Option<Vec<(String, String)>>,
    body: Option<String>,
    base64: bool,
    content_type: Option<String>,
}

impl UrlEvent {
    /// `POST /` with a JSON body.
    pub fn post_json(body: &Value) -> Self {
        Self::post_text(&body.to_string()).content_type("application/json")
    }

    /// `POST /` with a raw text body.
    pub fn post_text(body: &str) -> Self {
        Self {
            method: "POST".into(),
            raw_query: String::new(),
            query_parameters: None,
            body: Some(body.into()),
            base64: false,
            content_type: Some("text/plain".into()),
        }
    }

    /// `GET /?query` with the given pairs, in `rawQueryString` and `queryStringParameters`.
    pub fn get(pairs: &[(&str, &str)]) -> Self {
        let raw_query = form_encode(pairs);
        let parameters = if pairs.is_empty() {
            None
        } else {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        Self {
            method: "GET".into(),
            raw_query,
            query_parameters: parameters,
            body: None,
            base64: false,
            content_type: None,
        }
    }

    /// Sets the content type.
    pub fn content_type(mut self, value: &str) -> Self {
        self.content_type = Some(value.into());
        self
    }

    /// Sends the body base64-encoded, as Lambda does for binary content types.
    pub fn base64(mut self) -> Self {
        if let Some(body) = &self.body {
            self.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
        }
        self.base64 = true;
        self
    }

    /// Puts a raw (already encoded) body, e.g. invalid base64.
    pub fn raw_body(mut self, body: &str, base64: bool) -> Self {
        self.body = Some(body.into());
        self.base64 = base64;
        self
    }

    /// The event JSON.
    pub fn build(&self) -> Value {
        let mut headers = json!({
            "host": "abcdefghijklmnopqrstuvwxyz.lambda-url.us-east-1.on.aws",
            "user-agent": "curl/8.5.0",
            "accept": "*/*",
            "x-amzn-trace-id": "Root=1-6734a1c2-0123456789abcdef01234567",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "x-forwarded-for": "203.0.113.7",
        });
        if let Some(content_type) = &self.content_type {
            headers["content-type"] = json!(content_type);
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/",
            "rawQueryString": self.raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "abcdefghijklmnopqrstuvwxyz",
                "domainName": "abcdefghijklmnopqrstuvwxyz.lambda-url.us-east-1.on.aws",
                "domainPrefix": "abcdefghijklmnopqrstuvwxyz",
                "http": {
                    "method": self.method,
                    "path": "/",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": "curl/8.5.0"
                },
                "requestId": "8d3c7b1e-4f5a-4b6c-9d8e-0f1a2b3c4d5e",
                "routeKey": "$default",
                "stage": "$default",
                "time": "22/Nov/2026:17:05:00 +0000",
                "timeEpoch": 1_795_367_100_000_i64
            },
            "isBase64Encoded": self.base64,
        });
        if let Some(pairs) = &self.query_parameters {
            event["queryStringParameters"] = pairs
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        if let Some(body) = &self.body {
            event["body"] = json!(body);
        }
        event
    }
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(&encode_component(key));
        out.push('=');
        out.push_str(&encode_component(value));
    }
    out
}

fn encode_component(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The decoded JSON body and status of a Function URL response object.
pub fn response_parts(response: &Value) -> (u16, Value) {
    let status = response["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .expect("a statusCode");
    let body = response["body"].as_str().expect("a body");
    let body = if response["isBase64Encoded"].as_bool() == Some(true) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64 body");
        String::from_utf8(bytes).expect("utf-8 body")
    } else {
        body.to_owned()
    };
    (status, serde_json::from_str(&body).expect("a JSON body"))
}
