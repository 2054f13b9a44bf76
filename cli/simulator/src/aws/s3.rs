//! S3 for `Bucket`, path-style (`/{bucket}/{key}`, as the runtime addresses an endpoint
//! override): `PutObject`, `GetObject` (and `HeadObject`), `DeleteObject` and `ListObjectsV2`,
//! with S3's XML errors, on the objects of [`crate::objects`].
//!
//! Bodies are streamed, never held whole: a `PutObject` body goes to a file as it arrives, hashed
//! on the way and checked against what the signed `x-amz-content-sha256` declares (a hex SHA-256,
//! `UNSIGNED-PAYLOAD`, or an `aws-chunked` body, its chunks and trailer decoded and, when signed,
//! verified chunk by chunk), against `Content-MD5` and an `x-amz-checksum-crc32` or `-sha256`
//! header or trailer; a `GetObject` body is read from its file as the client takes it.

use super::{Caller, LocalAws};
use crate::aws::sigv4::{ChunkVerifier, UNSIGNED_PAYLOAD};
use crate::objects::{ObjectMeta, Staged};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http_body_util::BodyExt;
use md5::Digest as _;
use pluto_model::Operation;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The query parameters of the operations served (and of presigned URLs, besides `X-Amz-*`).
const KNOWN_QUERY_PARAMETERS: [&str; 9] = [
    "x-id",
    "list-type",
    "prefix",
    "continuation-token",
    "start-after",
    "max-keys",
    "delimiter",
    "encoding-type",
    "fetch-owner",
];
/// The largest object one `PutObject` stores (S3's limit): 5 GiB.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The most keys one `ListObjectsV2` page has (S3's limit).
pub const MAX_KEYS: usize = 1000;
/// The longest line of an `aws-chunked` body's framing (chunk header, trailer).
const MAX_FRAMING_LINE: usize = 4096;

/// How a request was signed, beyond who signed it (set by the authentication middleware).
#[derive(Debug, Clone)]
pub(super) struct S3Auth {
    /// Verifies signed `aws-chunked` bodies.
    pub chunks: Arc<std::sync::Mutex<Option<ChunkVerifier>>>,
    /// A presigned URL: the body is unsigned whatever the headers say.
    pub presigned: bool,
}

/// An S3 error: its XML body and status.
pub(super) fn error(status: StatusCode, code: &str, message: &str, resource: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
        xml_escape(code),
        xml_escape(message),
        xml_escape(resource),
        crate::lambda::new_request_id()
    );
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    response
}

/// An authentication failure as S3 answers it.
pub(super) fn auth_error(error: &crate::aws::sigv4::AuthError, path: &str) -> Response {
    use crate::aws::sigv4::AuthError;
    let (status, code, message) = match error {
        AuthError::Missing => (
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Access Denied".to_owned(),
        ),
        AuthError::Incomplete(message) => (
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            message.clone(),
        ),
        AuthError::UnknownKey(_) => (
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.".to_owned(),
        ),
        AuthError::Signature { message, .. } => (
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            message.clone(),
        ),
        AuthError::Expired { .. } => (StatusCode::FORBIDDEN, "AccessDenied", error.message()),
    };
    self::error(status, code, &message, path)
}

fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Most of a request body a refusal reads (and discards) before answering.
const DRAIN_MAX_BYTES: usize = 64 * 1024 * 1024;

/// `response`, once the unread `body` has been read and discarded (up to [`DRAIN_MAX_BYTES`], for
/// at most 10 s): a client still sending an upload that is refused reads the refusal instead of
/// a connection closed under it, as S3's answer reaches it.
async fn after_draining(mut body: Body, response: Response) -> Response {
    let drain = async {
        let mut read = 0;
        while read < DRAIN_MAX_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |data| data.len()),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
    response
}

fn internal(message: &str, resource: &str) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        message,
        resource,
    )
}

/// Serves one S3 request (every path but the other APIs').
pub(super) async fn handle(
    aws: Arc<LocalAws>,
    caller: Caller,
    auth: S3Auth,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let raw_path = parts.uri.path().to_owned();
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map(|text| text.into_owned())
    };
    let trimmed = raw_path.trim_start_matches('/');
    let (raw_bucket, raw_key) = match trimmed.split_once('/') {
        Some((bucket, key)) => (bucket, Some(key)),
        None => (trimmed, None),
    };
    let (Ok(bucket), Ok(key)) = (decode(raw_bucket), raw_key.map(decode).transpose()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidURI",
            "Couldn't parse the specified URI.",
            &raw_path,
        );
    };
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let not_implemented = |what: &str| {
        error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            &format!(
                "the local S3 serves PutObject, GetObject, HeadObject, DeleteObject and ListObjectsV2, not {what}"
            ),
            &raw_path,
        )
    };
    if bucket.is_empty() {
        return not_implemented("ListBuckets");
    }
    // Any other query parameter is a subresource (`?tagging`, `?acl`, `?attributes`, ...): an
    // operation of its own with its own permission, never the plain object call.
    if let Some((name, _)) = query.iter().find(|(name, _)| {
        !KNOWN_QUERY_PARAMETERS.contains(&name.as_str()) && !name.starts_with("X-Amz-")
    }) {
        return not_implemented(&format!("the `{name}` subresource"));
    }
    if parts.headers.contains_key("range") {
        return not_implemented("range reads");
    }
    let resource = format!(
        "/{bucket}{}",
        key.as_deref()
            .map(|key| format!("/{key}"))
            .unwrap_or_default()
    );
    let operation = match (&parts.method, key.as_deref()) {
        (&Method::GET | &Method::HEAD, Some(key)) if !key.is_empty() => Operation::BucketGet,
        (&Method::PUT, Some(key)) if !key.is_empty() => {
            if parts.headers.contains_key("x-amz-copy-source") {
                return not_implemented("CopyObject");
            }
            if param("uploadId").is_some() || param("partNumber").is_some() {
                return not_implemented("multipart uploads");
            }
            Operation::BucketPut
        }
        (&Method::DELETE, Some(key)) if !key.is_empty() => Operation::BucketDelete,
        (&Method::GET, _) if param("list-type") == Some("2") => Operation::BucketList,
        (&Method::HEAD, _) => Operation::BucketList,
        (method, _) => return not_implemented(&format!("{method} {raw_path}")),
    };
    if let Err(denied) = aws.authorize(&caller, operation, &bucket) {
        let denial = error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &denied.message,
            &resource,
        );
        return after_draining(body, denial).await;
    }
    let Some(objects) = aws.objects.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
            &resource,
        );
    };
    let key = key.unwrap_or_default();
    match operation {
        Operation::BucketGet => get(&objects, &bucket, &key, &parts.method, &resource).await,
        Operation::BucketPut => {
            put(
                &objects,
                &bucket,
                &key,
                &parts.headers,
                body,
                &auth,
                &resource,
            )
            .await
        }
        Operation::BucketDelete => {
            let result = tokio::task::spawn_blocking(move || objects.delete(&bucket, &key)).await;
            match result {
                Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
                Ok(Err(message)) => internal(&message, &resource),
                Err(join) => internal(&join.to_string(), &resource),
            }
        }
        _ if parts.method == Method::HEAD => StatusCode::OK.into_response(),
        _ => {
            if param("delimiter").is_some_and(|delimiter| !delimiter.is_empty()) {
                return not_implemented("ListObjectsV2 with a delimiter");
            }
            let prefix = param("prefix").unwrap_or_default().to_owned();
            let token = param("continuation-token").map(str::to_owned);
            let start_after = param("start-after").map(str::to_owned);
            let max_keys = match param("max-keys").map(str::parse::<usize>) {
                None => MAX_KEYS,
                Some(Ok(max)) => max.min(MAX_KEYS),
                Some(Err(_)) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidArgument",
                        "Provided max-keys not an integer or within integer range",
                        &resource,
                    );
                }
            };
            list(
                &objects,
                &bucket,
                prefix,
                token,
                start_after,
                max_keys,
                &resource,
            )
            .await
        }
    }
}

async fn get(
    objects: &Arc<crate::objects::ObjectStore>,
    bucket: &str,
    key: &str,
    method: &Method,
    resource: &str,
) -> Response {
    let (store, bucket_owned, key_owned) = (objects.clone(), bucket.to_owned(), key.to_owned());
    let found =
        tokio::task::spawn_blocking(move || store.open_object(&bucket_owned, &key_owned)).await;
    let (meta, file) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => {
            if method == Method::HEAD {
                return StatusCode::NOT_FOUND.into_response();
            }
            return error(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
                resource,
            );
        }
        Ok(Err(message)) => return internal(&message, resource),
        Err(join) => return internal(&join.to_string(), resource),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let file = tokio::fs::File::from_std(file);
        Body::from_stream(futures_util::stream::unfold(
            Some(file),
            |file| async move {
                let mut file = file?;
                let mut buffer = vec![0_u8; 64 * 1024];
                match file.read(&mut buffer).await {
                    Ok(0) => None,
                    Ok(read) => {
                        buffer.truncate(read);
                        Some((Ok(axum::body::Bytes::from(buffer)), Some(file)))
                    }
                    Err(error) => Some((Err(error), None)),
                }
            },
        ))
    };
    let mut response = Response::new(body);
    object_headers(response.headers_mut(), &meta);
    response
}

fn object_headers(headers: &mut HeaderMap, meta: &ObjectMeta) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("content-type", &meta.content_type);
    set("content-length", &meta.size.to_string());
    set("etag", &format!("\"{}\"", meta.etag));
    set("last-modified", &http_date(meta.modified()));
}

/// How a `PutObject` body is framed and what its signature says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// The bytes themselves.
    Plain,
    /// `aws-chunked`, chunks unsigned, checksum in a trailer.
    ChunkedUnsigned,
    /// `aws-chunked`, each chunk signed, maybe with a signed trailer.
    ChunkedSigned { trailer: bool },
}

#[allow(clippy::too_many_lines)]
async fn put(
    objects: &Arc<crate::objects::ObjectStore>,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    body: Body,
    auth: &S3Auth,
    resource: &str,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let declared = if auth.presigned {
        UNSIGNED_PAYLOAD
    } else {
        header("x-amz-content-sha256").unwrap_or(UNSIGNED_PAYLOAD)
    };
    let (framing, declared_sha256) = match declared {
        UNSIGNED_PAYLOAD => (Framing::Plain, None),
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => (Framing::ChunkedUnsigned, None),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => (Framing::ChunkedSigned { trailer: false }, None),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
            (Framing::ChunkedSigned { trailer: true }, None)
        }
        hex if hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()) => {
            (Framing::Plain, Some(hex.to_ascii_lowercase()))
        }
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                &format!(
                    "x-amz-content-sha256 must be a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-... mode, not `{other}`"
                ),
                resource,
            );
        }
    };
    let decoded_length = match header("x-amz-decoded-content-length").map(str::parse::<u64>) {
        Some(Ok(length)) => Some(length),
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "x-amz-decoded-content-length is not a number",
                resource,
            );
        }
        None if framing != Framing::Plain => {
            return error(
                StatusCode::LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the x-amz-decoded-content-length header with an aws-chunked body.",
                resource,
            );
        }
        None => None,
    };
    if decoded_length.is_some_and(|length| length > MAX_OBJECT_BYTES) {
        return too_large(resource);
    }
    let content_type = header("content-type")
        .unwrap_or("binary/octet-stream")
        .to_owned();

    let staged = match objects.stage(bucket) {
        Ok(staged) => staged,
        Err(message) => return internal(&message, resource),
    };
    let received = receive(
        &staged,
        body,
        framing,
        auth,
        declared_sha256.is_some() || header("x-amz-checksum-sha256").is_some(),
    )
    .await;
    let discard = |response: Response| {
        let _ = std::fs::remove_file(&staged.path);
        response
    };
    let received = match received {
        Ok(received) => received,
        Err(Rejected {
            status,
            code,
            message,
        }) => {
            return discard(error(status, code, &message, resource));
        }
    };
    if let Some(declared) = &declared_sha256
        && received.sha256.as_deref() != Some(declared.as_str())
    {
        return discard(error(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            resource,
        ));
    }
    if let Some(length) = decoded_length
        && length != received.size
    {
        return discard(error(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            &format!(
                "x-amz-decoded-content-length says {length} bytes; the body decoded to {}",
                received.size
            ),
            resource,
        ));
    }
    // Checksums in headers, or in the trailer of an aws-chunked body.
    let checksum = |name: &str| {
        received
            .trailers
            .iter()
            .find(|(trailer, _)| trailer == name)
            .map(|(_, value)| value.clone())
            .or_else(|| header(name).map(str::to_owned))
    };
    let base64 = base64::engine::general_purpose::STANDARD;
    let checks = [
        ("content-md5", "Content-MD5", base64.encode(received.md5)),
        (
            "x-amz-checksum-crc32",
            "CRC32",
            base64.encode(received.crc32.to_be_bytes()),
        ),
        (
            "x-amz-checksum-sha256",
            "SHA256",
            received
                .sha256_raw
                .map(|digest| base64.encode(digest))
                .unwrap_or_default(),
        ),
    ];
    for (name, label, computed) in checks {
        if let Some(expected) = checksum(name)
            && expected.trim() != computed
        {
            return discard(error(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                &format!("The {label} you specified did not match the calculated checksum."),
                resource,
            ));
        }
    }
    if received.size > MAX_OBJECT_BYTES {
        return discard(too_large(resource));
    }
    let etag: String = received
        .md5
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let (store, key) = (objects.clone(), key.to_owned());
    let size = received.size;
    let committed =
        tokio::task::spawn_blocking(move || store.commit(staged, &key, size, etag, content_type))
            .await;
    match committed {
        Ok(Ok(meta)) => {
            let mut response = StatusCode::OK.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
                response.headers_mut().insert("etag", value);
            }
            response
        }
        Ok(Err(message)) => internal(&message, resource),
        Err(join) => internal(&join.to_string(), resource),
    }
}

fn too_large(resource: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "EntityTooLarge",
        &format!(
            "Your proposed upload exceeds the maximum allowed size of {MAX_OBJECT_BYTES} bytes"
        ),
        resource,
    )
}

/// Why a body was refused.
struct Rejected {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Rejected {
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }
}

/// A body written to its `.part` file, with what was computed on the way.
struct Received {
    size: u64,
    md5: [u8; 16],
    crc32: u32,
    /// Hex SHA-256 of the decoded bytes, when asked for.
    sha256: Option<String>,
    sha256_raw: Option<[u8; 32]>,
    /// Trailing headers of an `aws-chunked` body (lowercase names).
    trailers: Vec<(String, String)>,
}

/// Streams `body` to `staged`'s file, decoding `aws-chunked` framing, hashing as it goes.
async fn receive(
    staged: &Staged,
    mut body: Body,
    framing: Framing,
    auth: &S3Auth,
    want_sha256: bool,
) -> Result<Received, Rejected> {
    let io = |error: std::io::Error| Rejected {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "InternalError",
        message: format!("cannot write the object: {error}"),
    };
    let mut file = tokio::fs::File::create(&staged.path).await.map_err(io)?;
    let mut md5 = md5::Md5::new();
    let mut crc32 = crc32fast::Hasher::new();
    let mut sha256 = want_sha256.then(sha2::Sha256::new);
    let mut size: u64 = 0;
    let mut decoder = match framing {
        Framing::Plain => None,
        Framing::ChunkedUnsigned => Some(ChunkedDecoder::new(None)),
        Framing::ChunkedSigned { .. } => {
            let verifier = auth
                .chunks
                .lock()
                .ok()
                .and_then(|mut verifier| verifier.take());
            let Some(verifier) = verifier else {
                return Err(Rejected::bad(
                    "InvalidRequest",
                    "a signed aws-chunked body needs a header signature",
                ));
            };
            Some(ChunkedDecoder::new(Some(verifier)))
        }
    };
    let mut decoded = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            Rejected::bad(
                "IncompleteBody",
                format!("the body could not be read: {error}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let bytes: &[u8] = match decoder.as_mut() {
            None => &data,
            Some(decoder) => {
                decoded.clear();
                decoder.feed(&data, &mut decoded)?;
                &decoded
            }
        };
        size += bytes.len() as u64;
        if size > MAX_OBJECT_BYTES {
            return Err(Rejected::bad(
                "EntityTooLarge",
                format!(
                    "Your proposed upload exceeds the maximum allowed size of {MAX_OBJECT_BYTES} bytes"
                ),
            ));
        }
        md5.update(bytes);
        crc32.update(bytes);
        if let Some(sha256) = sha256.as_mut() {
            sha2::Digest::update(sha256, bytes);
        }
        file.write_all(bytes).await.map_err(io)?;
    }
    let trailers = match decoder {
        None => Vec::new(),
        Some(decoder) => decoder.finish(framing == Framing::ChunkedSigned { trailer: true })?,
    };
    file.sync_all().await.map_err(io)?;
    let sha256_raw: Option<[u8; 32]> = sha256.map(|sha256| sha2::Digest::finalize(sha256).into());
    Ok(Received {
        size,
        md5: md5.finalize().into(),
        crc32: crc32.finalize(),
        sha256: sha256_raw.map(|digest| digest.iter().map(|byte| format!("{byte:02x}")).collect()),
        sha256_raw,
        trailers,
    })
}

/// Where an `aws-chunked` decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk's header line (`hex-size[;chunk-signature=...]`).
    Header,
    /// Reading a chunk's data, this many bytes to go.
    Data(u64),
    /// Expecting the `\r\n` after a chunk's data.
    DataEnd,
    /// Reading trailer lines, until an empty one.
    Trailer,
    /// Done.
    Done,
}

/// Decodes an `aws-chunked` body as it arrives, verifying chunk signatures when it has a
/// [`ChunkVerifier`].
struct ChunkedDecoder {
    state: ChunkState,
    line: Vec<u8>,
    verifier: Option<ChunkVerifier>,
    chunk_signature: Option<String>,
    chunk_hash: sha2::Sha256,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
}

impl ChunkedDecoder {
    fn new(verifier: Option<ChunkVerifier>) -> Self {
        Self {
            state: ChunkState::Header,
            line: Vec::new(),
            verifier,
            chunk_signature: None,
            chunk_hash: sha2::Digest::new(),
            trailers: Vec::new(),
            trailer_signature: None,
        }
    }

    fn malformed(why: &str) -> Rejected {
        Rejected::bad(
            "InvalidChunkSizeError",
            format!("the aws-chunked body is malformed: {why}"),
        )
    }

    /// Appends the data in `input` to `out`.
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Rejected> {
        while !input.is_empty() {
            match self.state {
                ChunkState::Data(remaining) => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    out.extend_from_slice(&input[..take]);
                    if self.verifier.is_some() {
                        sha2::Digest::update(&mut self.chunk_hash, &input[..take]);
                    }
                    input = &input[take..];
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        self.end_chunk()?;
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::Done => {
                    return Err(Self::malformed("bytes after the final chunk"));
                }
                _ => {
                    let Some(end) = input.iter().position(|byte| *byte == b'\n') else {
                        self.line.extend_from_slice(input);
                        if self.line.len() > MAX_FRAMING_LINE {
                            return Err(Self::malformed("a framing line is too long"));
                        }
                        return Ok(());
                    };
                    self.line.extend_from_slice(&input[..end]);
                    input = &input[end + 1..];
                    if self.line.len() > MAX_FRAMING_LINE {
                        return Err(Self::malformed("a framing line is too long"));
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    let line = std::str::from_utf8(line)
                        .map_err(|_| Self::malformed("a framing line is not text"))?
                        .to_owned();
                    self.line_done(&line)?;
                }
            }
        }
        Ok(())
    }

    fn line_done(&mut self, line: &str) -> Result<(), Rejected> {
        match self.state {
            ChunkState::DataEnd => {
                if !line.is_empty() {
                    return Err(Self::malformed("a chunk is longer than its size"));
                }
                self.state = ChunkState::Header;
            }
            ChunkState::Header => {
                let (size, extensions) = line.split_once(';').unwrap_or((line, ""));
                let size = u64::from_str_radix(size.trim(), 16)
                    .map_err(|_| Self::malformed("a chunk size is not hex"))?;
                self.chunk_signature = extensions
                    .split(';')
                    .find_map(|extension| extension.strip_prefix("chunk-signature="))
                    .map(str::to_owned);
                if self.verifier.is_some() && self.chunk_signature.is_none() {
                    return Err(Rejected::bad(
                        "SignatureDoesNotMatch",
                        "a chunk of a signed aws-chunked body has no chunk-signature",
                    ));
                }
                self.chunk_hash = sha2::Digest::new();
                if size == 0 {
                    self.end_chunk()?;
                    self.state = ChunkState::Trailer;
                } else {
                    self.state = ChunkState::Data(size);
                }
            }
            ChunkState::Trailer => {
                if line.is_empty() {
                    self.state = ChunkState::Done;
                    return Ok(());
                }
                let Some((name, value)) = line.split_once(':') else {
                    return Err(Self::malformed("a trailer line is not `name:value`"));
                };
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim().to_owned();
                if name == "x-amz-trailer-signature" {
                    self.trailer_signature = Some(value);
                } else {
                    self.trailers.push((name, value));
                }
            }
            ChunkState::Data(_) | ChunkState::Done => {}
        }
        Ok(())
    }

    /// Verifies the signature of the chunk whose data just ended.
    fn end_chunk(&mut self) -> Result<(), Rejected> {
        let Some(verifier) = self.verifier.as_mut() else {
            return Ok(());
        };
        let hash = std::mem::replace(&mut self.chunk_hash, sha2::Digest::new());
        let hash: [u8; 32] = sha2::Digest::finalize(hash).into();
        let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
        let signature = self.chunk_signature.take().unwrap_or_default();
        if verifier.verify_chunk(&hex, &signature) {
            Ok(())
        } else {
            Err(Rejected {
                status: StatusCode::FORBIDDEN,
                code: "SignatureDoesNotMatch",
                message: "a chunk's signature does not match its data".to_owned(),
            })
        }
    }

    /// The trailers, once the body is complete (and its trailer signature verified).
    fn finish(mut self, signed_trailer: bool) -> Result<Vec<(String, String)>, Rejected> {
        if self.state != ChunkState::Done {
            return Err(Rejected::bad(
                "IncompleteBody",
                "The request body terminated unexpectedly",
            ));
        }
        if signed_trailer && let Some(verifier) = self.verifier.as_mut() {
            let mut sorted = self.trailers.clone();
            sorted.sort();
            let canonical: String = sorted
                .iter()
                .map(|(name, value)| format!("{name}:{value}\n"))
                .collect();
            let hash: [u8; 32] = sha2::Sha256::digest(canonical.as_bytes()).into();
            let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
            let signature = self.trailer_signature.take().unwrap_or_default();
            if !verifier.verify_trailer(&hex, &signature) {
                return Err(Rejected {
                    status: StatusCode::FORBIDDEN,
                    code: "SignatureDoesNotMatch",
                    message: "the trailer's signature does not match".to_owned(),
                });
            }
        }
        Ok(self.trailers)
    }
}

async fn list(
    objects: &Arc<crate::objects::ObjectStore>,
    bucket: &str,
    prefix: String,
    token: Option<String>,
    start_after: Option<String>,
    max_keys: usize,
    resource: &str,
) -> Response {
    let base64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let after = match &token {
        Some(token) => match base64
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
        {
            Some(after) => Some(after),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "The continuation token provided is incorrect",
                    resource,
                );
            }
        },
        None => start_after.clone(),
    };
    let (store, bucket_owned, prefix_owned) = (objects.clone(), bucket.to_owned(), prefix.clone());
    let listed = tokio::task::spawn_blocking(move || {
        store.list(&bucket_owned, &prefix_owned, after.as_deref(), max_keys)
    })
    .await;
    let (page, truncated) = match listed {
        Ok(Ok(listed)) => listed,
        Ok(Err(message)) => return internal(&message, resource),
        Err(join) => return internal(&join.to_string(), resource),
    };
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    xml.push_str(&format!(
        "<Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        xml_escape(bucket),
        xml_escape(&prefix),
        page.len()
    ));
    if let Some(token) = &token {
        xml.push_str(&format!(
            "<ContinuationToken>{}</ContinuationToken>",
            xml_escape(token)
        ));
    }
    if let Some(start_after) = &start_after {
        xml.push_str(&format!(
            "<StartAfter>{}</StartAfter>",
            xml_escape(start_after)
        ));
    }
    if truncated && let Some((last, _)) = page.last() {
        xml.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            base64.encode(last.as_bytes())
        ));
    }
    for (key, meta) in &page {
        xml.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            xml_escape(key),
            iso_date(meta.modified()),
            meta.etag,
            meta.size
        ));
    }
    xml.push_str("</ListBucketResult>");
    let mut response = (StatusCode::OK, xml).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    response
}

/// Seconds since the epoch, split into a civil date and the time of day.
fn civil(time: std::time::SystemTime) -> ((i64, i64, i64), u64, u64) {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or_default();
    (
        crate::aws::sigv4::civil_from_days(days),
        seconds % 86_400,
        u64::from(since.subsec_millis()),
    )
}

/// `2026-11-30T00:17:48.000Z`, as S3's XML writes times.
fn iso_date(time: std::time::SystemTime) -> String {
    let ((year, month, day), of_day, millis) = civil(time);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        (of_day % 3600) / 60,
        of_day % 60
    )
}

/// `Mon, 30 Nov 2026 00:17:48 GMT`, as HTTP headers write times.
fn http_date(time: std::time::SystemTime) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ((year, month, day), of_day, _) = civil(time);
    let days = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 86_400;
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[usize::try_from(days % 7).unwrap_or_default()],
        MONTHS[usize::try_from(month - 1).unwrap_or_default()],
        of_day / 3600,
        (of_day % 3600) / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_s3_and_http_write_them() {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_998_268_250);
        assert_eq!(iso_date(time), "2026-11-30T00:24:28.250Z");
        assert_eq!(http_date(time), "Mon, 30 Nov 2026 00:24:28 GMT");
    }

    #[test]
    fn an_unsigned_aws_chunked_body_decodes_across_any_split() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for split in 1..body.len() {
            let mut decoder = ChunkedDecoder::new(None);
            let mut out = Vec::new();
            assert!(decoder.feed(&body[..split], &mut out).is_ok());
            assert!(decoder.feed(&body[split..], &mut out).is_ok());
            assert_eq!(out, b"hello world");
            let trailers = decoder.finish(false).ok().expect("complete");
            assert_eq!(
                trailers,
                vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
            );
        }
        let mut truncated = ChunkedDecoder::new(None);
        let mut out = Vec::new();
        assert!(truncated.feed(b"5\r\nhel", &mut out).is_ok());
        assert!(truncated.finish(false).is_err());
    }
}
