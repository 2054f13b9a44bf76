//! Local credentials and SigV4: every function process gets its own random access key and secret
//! per run, a developer credential signs calls to IAM-auth URLs, and every call to the local AWS
//! APIs and to an IAM-auth URL must carry a valid `AWS4-HMAC-SHA256` signature made with one of
//! them, as AWS requires. The signature is recomputed with the AWS SDK's own signer (`aws-sigv4`)
//! from the request as received, and compared in constant time.
//!
//! Signatures come in the `Authorization` header or, for presigned URLs, in the query string
//! (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`,
//! `X-Amz-Signature`), which is refused once `X-Amz-Expires` has passed. S3 requests are verified
//! without their body ([`Keyring::verify_streamed`]): their signature covers the body through the
//! signed `x-amz-content-sha256` header, which the S3 API checks as it streams the body, with a
//! [`ChunkVerifier`] for `aws-chunked` bodies signed chunk by chunk.

use aws_credential_types::Credentials as SdkCredentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, Method, Uri};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far a request's `X-Amz-Date` may be from now, either way (DynamoDB's window).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The longest a presigned URL may be valid (`X-Amz-Expires`): 7 days, as S3 allows.
pub const MAX_PRESIGNED_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The `x-amz-content-sha256` of a body the signature does not cover (presigned URLs).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The `AWS_ACCESS_KEY_ID` prefix of function credentials (temporary credentials, as a Lambda
/// execution role's are).
pub const FUNCTION_KEY_PREFIX: &str = "ASIA";
/// The access key prefix of the developer credential (a long-term key, as an IAM user's).
pub const DEVELOPER_KEY_PREFIX: &str = "AKIA";

/// An access key id and its secret, made up for one run of the simulator.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// 20 characters: the prefix and 16 of `A-Z2-7`, like an AWS access key id.
    pub access_key_id: String,
    /// 40 characters of `A-Za-z0-9+/`, like an AWS secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    /// The key id only: the secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// New random credentials whose key id starts with `prefix` (four letters).
    ///
    /// # Panics
    /// When the operating system's random number generator fails.
    pub fn generate(prefix: &str) -> Self {
        const KEY_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET_ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut random = [0_u8; 56];
        getrandom::fill(&mut random).unwrap_or_else(|error| {
            panic!("the operating system's random number generator failed: {error}")
        });
        let (key, secret) = random.split_at(16);
        let key: String = key
            .iter()
            .map(|byte| char::from(KEY_ALPHABET[usize::from(byte & 31)]))
            .collect();
        Self {
            access_key_id: format!("{prefix}{key}"),
            secret_access_key: secret
                .iter()
                .map(|byte| char::from(SECRET_ALPHABET[usize::from(byte & 63)]))
                .collect(),
        }
    }

    /// `KEY:SECRET`, as `curl --aws-sigv4 ... --user` takes them.
    pub fn curl_user(&self) -> String {
        format!("{}:{}", self.access_key_id, self.secret_access_key)
    }
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A function's process (logical name).
    Function(String),
    /// The developer, with the credential `cargo pluto run` prints.
    Developer,
}

/// Why a request's signature was refused, with AWS's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not a complete SigV4 one, or no `X-Amz-Date`.
    Incomplete(String),
    /// A key id this run did not hand out.
    UnknownKey(String),
    /// A known key, but the signature does not verify, is out of date or has the wrong scope.
    Signature {
        /// AWS's message.
        message: String,
        /// What exactly is wrong, for the simulator's log.
        detail: String,
    },
    /// A presigned URL whose `X-Amz-Expires` has passed.
    Expired {
        /// When it expired (`X-Amz-Date` plus `X-Amz-Expires`), as `X-Amz-Date` writes times.
        expired_at: String,
    },
}

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

impl AuthError {
    /// The AWS error code (`x-amzn-errortype`, or the `__type` of JSON protocols).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::UnknownKey(_) => "UnrecognizedClientException",
            Self::Signature { .. } => "InvalidSignatureException",
            Self::Expired { .. } => "AccessDenied",
        }
    }

    /// The message AWS answers with.
    pub fn message(&self) -> String {
        match self {
            Self::Missing => "Missing Authentication Token".to_owned(),
            Self::Incomplete(message) => message.clone(),
            Self::UnknownKey(_) => {
                "The security token included in the request is invalid.".to_owned()
            }
            Self::Signature { message, .. } => message.clone(),
            Self::Expired { .. } => "Request has expired".to_owned(),
        }
    }

    /// What is wrong, for the simulator's log.
    pub fn detail(&self) -> String {
        match self {
            Self::Missing => "the request is not signed (no SigV4 Authorization header)".to_owned(),
            Self::Incomplete(message) => {
                format!("the SigV4 Authorization is incomplete: {message}")
            }
            Self::UnknownKey(key) => format!(
                "access key `{key}` is not one this run of the simulator handed out (credentials are new on every run)"
            ),
            Self::Signature { detail, .. } => detail.clone(),
            Self::Expired { expired_at } => {
                format!("the presigned URL expired at {expired_at}; presign a new one")
            }
        }
    }

    fn signature(message: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Signature {
            message: message.into(),
            detail: detail.into(),
        }
    }
}

/// A request as received, for verification.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request target, path and query exactly as sent.
    pub uri: &'a Uri,
    /// All headers.
    pub headers: &'a HeaderMap,
    /// The whole body.
    pub body: &'a [u8],
}

/// The scope a signature must have: the service it was signed for and the region.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// SigV4 service name (`dynamodb`, `lambda`, `sagemaker`); `None`: any.
    pub service: Option<&'a str>,
    /// Region.
    pub region: &'a str,
}

/// Every credential of one run: each function's and the developer's.
pub struct Keyring {
    functions: BTreeMap<String, Credentials>,
    developer: Credentials,
    /// Access key id → (secret, principal).
    by_key: HashMap<String, (String, Principal)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// New random credentials for each of `functions` and for the developer.
    ///
    /// # Panics
    /// When the operating system's random number generator fails.
    pub fn generate<'a>(functions: impl IntoIterator<Item = &'a str>) -> Self {
        let functions: BTreeMap<String, Credentials> = functions
            .into_iter()
            .map(|name| (name.to_owned(), Credentials::generate(FUNCTION_KEY_PREFIX)))
            .collect();
        let developer = Credentials::generate(DEVELOPER_KEY_PREFIX);
        let mut by_key: HashMap<String, (String, Principal)> = functions
            .iter()
            .map(|(name, credentials)| {
                (
                    credentials.access_key_id.clone(),
                    (
                        credentials.secret_access_key.clone(),
                        Principal::Function(name.clone()),
                    ),
                )
            })
            .collect();
        by_key.insert(
            developer.access_key_id.clone(),
            (developer.secret_access_key.clone(), Principal::Developer),
        );
        Self {
            functions,
            developer,
            by_key,
        }
    }

    /// The credentials of function `name`.
    pub fn function(&self, name: &str) -> Option<&Credentials> {
        self.functions.get(name)
    }

    /// The developer credential (for IAM-auth URLs).
    pub fn developer(&self) -> &Credentials {
        &self.developer
    }

    /// Who holds access key `key`.
    pub fn principal(&self, key: &str) -> Option<&Principal> {
        self.by_key.get(key).map(|(_, principal)| principal)
    }

    /// Checks `request`'s SigV4 signature, made for `scope`, at time `now`: returns who signed it,
    /// or why AWS would refuse it. The signature is in the `Authorization` header, or in the query
    /// string of a presigned URL (refused once its `X-Amz-Expires` has passed); the body is the
    /// whole `request.body`.
    pub fn verify(
        &self,
        request: &ReceivedRequest<'_>,
        scope: Scope<'_>,
        now: SystemTime,
    ) -> Result<Principal, AuthError> {
        self.verify_claim(request, scope, now, Payload::Body(request.body))
            .map(|verified| verified.principal)
    }

    /// As [`Keyring::verify`], for an API whose body is streamed rather than read before the
    /// signature is checked (S3): `request.body` is not read. A header signature must sign the
    /// `x-amz-content-sha256` header, which states the body's hash (hex SHA-256,
    /// `UNSIGNED-PAYLOAD`, or a `STREAMING-...` `aws-chunked` mode); the caller checks the body
    /// against it as it reads it, with [`StreamedAuth::chunks`] for signed chunks. A presigned
    /// URL's body is `UNSIGNED-PAYLOAD`.
    pub fn verify_streamed(
        &self,
        request: &ReceivedRequest<'_>,
        scope: Scope<'_>,
        now: SystemTime,
    ) -> Result<StreamedAuth, AuthError> {
        self.verify_claim(request, scope, now, Payload::Declared)
    }

    fn verify_claim(
        &self,
        request: &ReceivedRequest<'_>,
        scope: Scope<'_>,
        now: SystemTime,
        payload: Payload<'_>,
    ) -> Result<StreamedAuth, AuthError> {
        let claim = match request.headers.get("authorization") {
            Some(authorization) => {
                let claim = parse_authorization(authorization.to_str().unwrap_or_default())?;
                let Some(date) = request
                    .headers
                    .get("x-amz-date")
                    .and_then(|value| value.to_str().ok())
                else {
                    return Err(AuthError::Incomplete(
                        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                            .to_owned(),
                    ));
                };
                Claim {
                    amz_date: date.to_owned(),
                    ..claim
                }
            }
            None => match parse_query_authorization(request.uri)? {
                Some(claim) => claim,
                None => return Err(AuthError::Missing),
            },
        };
        let Some((secret, principal)) = self.by_key.get(&claim.key) else {
            return Err(AuthError::UnknownKey(claim.key.clone()));
        };
        let date = claim.amz_date.as_str();
        let Some(signed_at) = parse_amz_date(date) else {
            return Err(AuthError::Incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{date}'. See http://en.wikipedia.org/wiki/ISO_8601"
            )));
        };
        match claim.expires_in {
            // A presigned URL is valid from its date until it expires.
            Some(expires_in) => {
                if signed_at > now + MAX_CLOCK_SKEW {
                    check_skew(signed_at, now)?;
                }
                if signed_at + expires_in < now {
                    return Err(AuthError::Expired {
                        expired_at: format_amz_date(signed_at + expires_in),
                    });
                }
            }
            None => check_skew(signed_at, now)?,
        }
        check_scope(&claim, &date[..8], scope)?;
        let is_s3 = claim.service == "s3";
        let body = match payload {
            Payload::Body(body) if claim.expires_in.is_none() => SignableBody::Bytes(body),
            _ if claim.expires_in.is_some() => SignableBody::UnsignedPayload,
            _ => {
                let declared = request
                    .headers
                    .get("x-amz-content-sha256")
                    .and_then(|value| value.to_str().ok());
                let signed = claim
                    .signed_headers
                    .split(';')
                    .any(|name| name == "x-amz-content-sha256");
                match declared {
                    Some(declared) if signed => SignableBody::Precomputed(declared.to_owned()),
                    _ => {
                        return Err(AuthError::Incomplete(
                            "Missing required header for this request: x-amz-content-sha256 (it must be signed)."
                                .to_owned(),
                        ));
                    }
                }
            }
        };

        let host = request
            .headers
            .get("host")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("localhost");
        let target = request
            .uri
            .path_and_query()
            .map_or("/", |path_and_query| path_and_query.as_str());
        // A presigned URL is signed without its signature parameters (the signer adds them).
        let target = match claim.expires_in {
            Some(_) => without_query_auth(request.uri),
            None => target.to_owned(),
        };
        let url = format!("http://{host}{target}");
        let mut headers: Vec<(&str, &str)> = Vec::new();
        for name in claim.signed_headers.split(';') {
            if name == "x-amz-date" && claim.expires_in.is_none() {
                continue; // the signer adds it from the signing time
            }
            for value in request.headers.get_all(name) {
                let Ok(value) = value.to_str() else {
                    return Err(mismatch(principal, "a signed header is not visible ASCII"));
                };
                headers.push((name, value));
            }
        }
        // S3 takes the path as sent (encoded once, not normalised). Other services take it
        // percent-encoded twice (the SDK's default); curl encodes it once.
        let encodings: &[(PercentEncodingMode, UriPathNormalizationMode)] = if is_s3 {
            &[(
                PercentEncodingMode::Single,
                UriPathNormalizationMode::Disabled,
            )]
        } else if target.contains('%') {
            &[
                (
                    PercentEncodingMode::Double,
                    UriPathNormalizationMode::Enabled,
                ),
                (
                    PercentEncodingMode::Single,
                    UriPathNormalizationMode::Enabled,
                ),
            ]
        } else {
            &[(
                PercentEncodingMode::Double,
                UriPathNormalizationMode::Enabled,
            )]
        };
        let credentials = Credentials {
            access_key_id: claim.key.clone(),
            secret_access_key: secret.clone(),
        };
        for (encoding, normalization) in encodings {
            let expected = signature(
                &credentials,
                &SigningInput {
                    method: request.method.as_str(),
                    url: &url,
                    headers: &headers,
                    body: body.clone(),
                    region: &claim.region,
                    service: &claim.service,
                    time: signed_at,
                    expires_in: claim.expires_in,
                },
                Encoding {
                    percent: *encoding,
                    normalization: *normalization,
                },
                Some(Vec::new()),
            );
            if let Ok((expected, _)) = expected
                && constant_time_eq(expected.as_bytes(), claim.signature.as_bytes())
            {
                return Ok(StreamedAuth {
                    principal: principal.clone(),
                    chunks: ChunkVerifier {
                        signing_key: aws_sigv4::sign::v4::generate_signing_key(
                            secret,
                            signed_at,
                            &claim.region,
                            &claim.service,
                        )
                        .as_ref()
                        .to_vec(),
                        amz_date: claim.amz_date.clone(),
                        scope: format!(
                            "{}/{}/{}/aws4_request",
                            &claim.amz_date[..8],
                            claim.region,
                            claim.service
                        ),
                        previous: claim.signature.clone(),
                    },
                });
            }
        }
        Err(mismatch(
            principal,
            "the signature does not match the request (wrong secret, or the request changed after signing)",
        ))
    }
}

/// What a request's signature covers of its body.
enum Payload<'a> {
    /// The body itself, read whole.
    Body(&'a [u8]),
    /// The hash its `x-amz-content-sha256` header declares (checked as the body streams).
    Declared,
}

/// Who signed a request whose body is streamed ([`Keyring::verify_streamed`]), and what verifies
/// its signed chunks.
#[derive(Debug)]
pub struct StreamedAuth {
    /// Who signed it.
    pub principal: Principal,
    /// Verifies the chunk signatures of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD...` body, each
    /// chained to the one before, starting from the request's signature.
    pub chunks: ChunkVerifier,
}

/// Verifies the signatures of an `aws-chunked` body's chunks and trailer
/// (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`): each signs the SHA-256 of its data and the
/// signature before it, so no chunk can be changed, dropped or reordered.
pub struct ChunkVerifier {
    signing_key: Vec<u8>,
    amz_date: String,
    scope: String,
    previous: String,
}

impl std::fmt::Debug for ChunkVerifier {
    /// The scope only: the signing key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkVerifier")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The hex SHA-256 of the empty string.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl ChunkVerifier {
    /// Whether `signature` signs the next chunk, whose data has the hex SHA-256 `data_sha256`;
    /// if so, it is the one the next chunk chains to.
    pub fn verify_chunk(&mut self, data_sha256: &str, signature: &str) -> bool {
        self.verify_next(
            "AWS4-HMAC-SHA256-PAYLOAD",
            &format!("{EMPTY_SHA256}\n{data_sha256}"),
            signature,
        )
    }

    /// Whether `signature` signs the trailer whose canonical form (`name:value\n` per header,
    /// sorted) has the hex SHA-256 `trailer_sha256`.
    pub fn verify_trailer(&mut self, trailer_sha256: &str, signature: &str) -> bool {
        self.verify_next("AWS4-HMAC-SHA256-TRAILER", trailer_sha256, signature)
    }

    fn verify_next(&mut self, algorithm: &str, payload: &str, signature: &str) -> bool {
        let string_to_sign = format!(
            "{algorithm}\n{}\n{}\n{}\n{payload}",
            self.amz_date, self.scope, self.previous
        );
        let expected =
            aws_sigv4::sign::v4::calculate_signature(&self.signing_key, string_to_sign.as_bytes());
        if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            self.previous = expected;
            true
        } else {
            false
        }
    }
}

fn mismatch(principal: &Principal, why: &str) -> AuthError {
    let signer = match principal {
        Principal::Function(name) => format!("function `{name}`'s key"),
        Principal::Developer => "the developer key".to_owned(),
    };
    AuthError::signature(
        SIGNATURE_MISMATCH,
        format!("signed with {signer}, but {why}"),
    )
}

/// What a request claims about its signature: from an `Authorization: AWS4-HMAC-SHA256 ...`
/// header and `X-Amz-Date`, or from a presigned URL's query.
struct Claim {
    key: String,
    date: String,
    region: String,
    service: String,
    terminator: String,
    signed_headers: String,
    signature: String,
    /// `X-Amz-Date`.
    amz_date: String,
    /// A presigned URL's `X-Amz-Expires`; `None` for a header signature.
    expires_in: Option<Duration>,
}

/// The query parameters a presigned URL's signature is carried in.
const QUERY_AUTH_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// The request target of `uri` without the presigned-URL parameters.
fn without_query_auth(uri: &Uri) -> String {
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            !QUERY_AUTH_PARAMS.contains(&name)
        })
        .collect();
    if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    }
}

/// The signature claim of a presigned URL, or `None` when the query carries none.
fn parse_query_authorization(uri: &Uri) -> Result<Option<Claim>, AuthError> {
    let mut params: HashMap<String, String> = HashMap::new();
    for (name, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if QUERY_AUTH_PARAMS.contains(&name.as_ref())
            && params
                .insert(name.into_owned(), value.into_owned())
                .is_some()
        {
            return Err(AuthError::Incomplete(
                "Query-string authentication has a parameter more than once.".to_owned(),
            ));
        }
    }
    let Some(algorithm) = params.get("X-Amz-Algorithm") else {
        return Ok(None);
    };
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(AuthError::Incomplete(format!(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\", not \"{algorithm}\"."
        )));
    }
    let mut missing = Vec::new();
    for name in &QUERY_AUTH_PARAMS[1..6] {
        if !params.contains_key(*name) {
            missing.push(*name);
        }
    }
    if !missing.is_empty() {
        return Err(AuthError::Incomplete(format!(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, \
             X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters; \
             missing: {}.",
            missing.join(", ")
        )));
    }
    let take =
        |params: &mut HashMap<String, String>, name: &str| params.remove(name).unwrap_or_default();
    let expires = take(&mut params, "X-Amz-Expires");
    let expires_in = match expires.parse::<u64>() {
        Ok(seconds) if Duration::from_secs(seconds) <= MAX_PRESIGNED_EXPIRY => {
            Duration::from_secs(seconds)
        }
        _ => {
            return Err(AuthError::Incomplete(format!(
                "X-Amz-Expires must be a number of seconds from 0 to {}, not `{expires}`.",
                MAX_PRESIGNED_EXPIRY.as_secs()
            )));
        }
    };
    let credential = take(&mut params, "X-Amz-Credential");
    let claim = credential_claim(
        &credential,
        take(&mut params, "X-Amz-SignedHeaders"),
        take(&mut params, "X-Amz-Signature"),
    )?;
    Ok(Some(Claim {
        amz_date: take(&mut params, "X-Amz-Date"),
        expires_in: Some(expires_in),
        ..claim
    }))
}

/// A claim from `KEY/DATE/REGION/SERVICE/aws4_request`, the signed headers and the signature.
fn credential_claim(
    credential: &str,
    signed_headers: String,
    signature: String,
) -> Result<Claim, AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = parts[..] else {
        return Err(AuthError::Incomplete(format!(
            "Credential should have exactly 5 slash-separated components (KEY/DATE/REGION/SERVICE/aws4_request), not `{credential}`."
        )));
    };
    Ok(Claim {
        key: key.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        terminator: terminator.to_owned(),
        signed_headers,
        signature,
        amz_date: String::new(),
        expires_in: None,
    })
}

fn parse_authorization(header: &str) -> Result<Claim, AuthError> {
    let fields = header.strip_prefix("AWS4-HMAC-SHA256 ").unwrap_or("");
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in fields.split(',') {
        let slot = match field.trim().split_once('=') {
            Some(("Credential", value)) => (&mut credential, value),
            Some(("SignedHeaders", value)) => (&mut signed_headers, value),
            Some(("Signature", value)) => (&mut signature, value),
            _ => continue,
        };
        // A field given twice could make two readers see two different keys: refused.
        if slot.0.replace(slot.1).is_some() {
            return Err(AuthError::Incomplete(
                "Authorization header has a parameter more than once.".to_owned(),
            ));
        }
    }
    let mut missing = String::new();
    for (present, name) in [
        (credential.is_some(), "Credential"),
        (signature.is_some(), "Signature"),
        (signed_headers.is_some(), "SignedHeaders"),
    ] {
        if !present {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(AuthError::Incomplete(format!(
            "{missing}Authorization=AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=..., Signature=..."
        )));
    };
    credential_claim(credential, signed_headers.to_owned(), signature.to_owned())
}

fn check_skew(signed_at: SystemTime, now: SystemTime) -> Result<(), AuthError> {
    let signed = format_amz_date(signed_at);
    if signed_at + MAX_CLOCK_SKEW < now {
        let earliest = format_amz_date(now - MAX_CLOCK_SKEW);
        return Err(AuthError::signature(
            format!(
                "Signature expired: {signed} is now earlier than {earliest} ({} - 15 min.)",
                format_amz_date(now)
            ),
            format!("the request was signed at {signed}, more than 15 minutes ago"),
        ));
    }
    if signed_at > now + MAX_CLOCK_SKEW {
        let latest = format_amz_date(now + MAX_CLOCK_SKEW);
        return Err(AuthError::signature(
            format!(
                "Signature not yet current: {signed} is still later than {latest} ({} + 15 min.)",
                format_amz_date(now)
            ),
            format!("the request is dated {signed}, more than 15 minutes from now"),
        ));
    }
    Ok(())
}

fn check_scope(authorization: &Claim, day: &str, scope: Scope<'_>) -> Result<(), AuthError> {
    if authorization.date != day {
        return Err(AuthError::signature(
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{day}', from 'X-Amz-Date'.",
                authorization.date
            ),
            "the credential scope's date is not the day of X-Amz-Date",
        ));
    }
    if authorization.region != scope.region {
        return Err(AuthError::signature(
            format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                authorization.region
            ),
            format!(
                "signed for region `{}`; the simulator is region `{}`",
                authorization.region, scope.region
            ),
        ));
    }
    if let Some(service) = scope.service
        && authorization.service != service
    {
        return Err(AuthError::signature(
            format!("Credential should be scoped to correct service: '{service}'. "),
            format!(
                "signed for service `{}`, not `{service}`",
                authorization.service
            ),
        ));
    }
    if authorization.terminator != "aws4_request" {
        return Err(AuthError::signature(
            format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
                authorization.terminator
            ),
            "the credential scope does not end in aws4_request",
        ));
    }
    Ok(())
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0_u8, |difference, (l, r)| difference | (l ^ r))
            == 0
}

/// What to sign.
struct SigningInput<'a> {
    method: &'a str,
    url: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: SignableBody<'a>,
    region: &'a str,
    service: &'a str,
    time: SystemTime,
    /// A presigned URL's validity: the signature goes in the query.
    expires_in: Option<Duration>,
}

/// How the path enters the canonical request.
#[derive(Debug, Clone, Copy)]
struct Encoding {
    percent: PercentEncodingMode,
    normalization: UriPathNormalizationMode,
}

impl Encoding {
    /// As most AWS services (and the SDK by default) take paths: encoded twice, normalised.
    const SERVICES: Self = Self {
        percent: PercentEncodingMode::Double,
        normalization: UriPathNormalizationMode::Enabled,
    };
}

/// The signature of `input` and the headers (or query parameters) that carry it.
fn signature(
    credentials: &Credentials,
    input: &SigningInput<'_>,
    encoding: Encoding,
    excluded_headers: Option<Vec<std::borrow::Cow<'static, str>>>,
) -> Result<(String, Vec<(String, String)>), String> {
    let identity = SdkCredentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        None,
        None,
        "pluto-simulator",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = encoding.percent;
    settings.uri_path_normalization_mode = encoding.normalization;
    if let Some(expires_in) = input.expires_in {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
    }
    if excluded_headers.is_some() {
        settings.excluded_headers = excluded_headers;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(input.region)
        .name(input.service)
        .time(input.time)
        .settings(settings)
        .build()
        .map_err(|error| error.to_string())?
        .into();
    let signable = SignableRequest::new(
        input.method,
        input.url,
        input.headers.iter().copied(),
        input.body.clone(),
    )
    .map_err(|error| error.to_string())?;
    let (instructions, signature) = sign(signable, &params)
        .map_err(|error| error.to_string())?
        .into_parts();
    let mut headers: Vec<(String, String)> = instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    headers.extend(
        instructions
            .params()
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.to_string())),
    );
    Ok((signature, headers))
}

/// Signs a request as the AWS SDK does (SigV4 in headers, the body's hash in the canonical
/// request) and returns the headers to add (`x-amz-date`, `authorization`); `headers` are the
/// request's other headers to sign (the host is taken from `url`). For clients of IAM-auth URLs
/// and tests.
///
/// # Errors
/// When `url` or a header is not valid.
pub fn sign_request(
    credentials: &Credentials,
    service: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    signature(
        credentials,
        &SigningInput {
            method,
            url,
            headers,
            body: SignableBody::Bytes(body),
            region: crate::aws::LOCAL_REGION,
            service,
            time,
            expires_in: None,
        },
        Encoding::SERVICES,
        None,
    )
    .map(|(_, headers)| headers)
}

/// A presigned URL for `method` on `url` (query-string SigV4, `UNSIGNED-PAYLOAD`, path as S3
/// takes it) valid for `expires_in` from `time`: what `Bucket::presign_get` and `presign_put`
/// make, for tests and tools.
///
/// # Errors
/// When `url` is not valid.
pub fn presign_url(
    credentials: &Credentials,
    service: &str,
    method: &str,
    url: &str,
    expires_in: Duration,
    time: SystemTime,
) -> Result<String, String> {
    let (_, params) = signature(
        credentials,
        &SigningInput {
            method,
            url,
            headers: &[],
            body: SignableBody::UnsignedPayload,
            region: crate::aws::LOCAL_REGION,
            service,
            time,
            expires_in: Some(expires_in),
        },
        Encoding {
            percent: PercentEncodingMode::Single,
            normalization: UriPathNormalizationMode::Disabled,
        },
        None,
    )?;
    let mut presigned = url.to_owned();
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        presigned.push(separator);
        separator = '&';
        presigned.push_str(&name);
        presigned.push('=');
        presigned.extend(form_urlencoded::byte_serialize(value.as_bytes()));
    }
    Ok(presigned)
}

/// `20261129T145242Z` → the time it names.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// The time as `X-Amz-Date` writes it.
fn format_amz_date(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or_default();
    let (year, month, day) = civil_from_days(days);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        of_day / 3600,
        (of_day % 3600) / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn request_headers(signed: &[(String, String)], host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(host).expect("host"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("user-agent", HeaderValue::from_static("test"));
        for (name, value) in signed {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    #[test]
    fn a_presigned_url_verifies_until_it_expires_and_not_once_changed() {
        let keys = Keyring::generate(["reader"]);
        let credentials = keys.function("reader").expect("credentials").clone();
        let now = parse_amz_date(&format_amz_date(SystemTime::now())).expect("now");
        let url = "http://127.0.0.1:4566/bucket/some%20key.txt?x-id=GetObject";
        let presigned = presign_url(&credentials, "s3", "GET", url, Duration::from_secs(60), now)
            .expect("presigned");
        let check = |target: &str, at: SystemTime| {
            let uri: Uri = target
                .strip_prefix("http://127.0.0.1:4566")
                .expect("local")
                .parse()
                .expect("uri");
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_static("127.0.0.1:4566"));
            let scope = Scope {
                service: Some("s3"),
                region: "us-east-1",
            };
            keys.verify(
                &ReceivedRequest {
                    method: &Method::GET,
                    uri: &uri,
                    headers: &headers,
                    body: b"",
                },
                scope,
                at,
            )
        };
        assert_eq!(
            check(&presigned, now + Duration::from_secs(59)),
            Ok(Principal::Function("reader".to_owned()))
        );
        assert!(matches!(
            check(&presigned, now + Duration::from_secs(61)),
            Err(AuthError::Expired { .. })
        ));
        for tampered in [
            presigned.replace("some%20key", "other%20key"),
            presigned.replace("X-Amz-Expires=60", "X-Amz-Expires=6000"),
            presigned.replace("x-id=GetObject", "x-id=PutObject"),
        ] {
            assert_eq!(
                check(&tampered, now).map_err(|error| error.code()),
                Err("InvalidSignatureException"),
                "{tampered}"
            );
        }
    }

    #[test]
    fn chunk_signatures_chain_from_the_request_signature() {
        let keys = Keyring::generate(["writer"]);
        let credentials = keys.function("writer").expect("credentials").clone();
        let now = parse_amz_date(&format_amz_date(SystemTime::now())).expect("now");
        let url = "http://127.0.0.1:4566/bucket/key";
        let mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
        let signed = signature(
            &credentials,
            &SigningInput {
                method: "PUT",
                url,
                headers: &[("x-amz-content-sha256", mode)],
                body: SignableBody::Precomputed(mode.to_owned()),
                region: "us-east-1",
                service: "s3",
                time: now,
                expires_in: None,
            },
            Encoding {
                percent: PercentEncodingMode::Single,
                normalization: UriPathNormalizationMode::Disabled,
            },
            None,
        )
        .expect("signed");
        let mut headers = request_headers(&signed.1, "127.0.0.1:4566");
        headers.insert("x-amz-content-sha256", HeaderValue::from_static(mode));
        let uri: Uri = "/bucket/key".parse().expect("uri");
        let request = ReceivedRequest {
            method: &Method::PUT,
            uri: &uri,
            headers: &headers,
            body: b"",
        };
        let scope = Scope {
            service: Some("s3"),
            region: "us-east-1",
        };
        // The SDK's own chunk signer makes the signatures.
        let identity = SdkCredentials::new(
            credentials.access_key_id.clone(),
            credentials.secret_access_key.clone(),
            None,
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(now)
            .settings(())
            .build()
            .expect("params");
        let chunks: [&[u8]; 2] = [b"hello ", b""];
        let mut signatures = Vec::new();
        let mut previous = signed.0.clone();
        for chunk in chunks {
            let next = v4::sign_chunk(
                &axum::body::Bytes::copy_from_slice(chunk),
                &previous,
                &params,
            )
            .expect("signed chunk")
            .signature()
            .to_owned();
            signatures.push(next.clone());
            previous = next;
        }
        let sha = |data: &[u8]| -> String {
            use sha2::Digest;
            sha2::Sha256::digest(data)
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect()
        };
        let mut verifier = keys
            .verify_streamed(&request, scope, now)
            .expect("the request verifies")
            .chunks;
        assert!(verifier.verify_chunk(&sha(chunks[0]), &signatures[0]));
        assert!(verifier.verify_chunk(&sha(chunks[1]), &signatures[1]));
        let mut changed = keys
            .verify_streamed(&request, scope, now)
            .expect("the request verifies")
            .chunks;
        assert!(!changed.verify_chunk(&sha(b"HELLO "), &signatures[0]));
        let mut skipped = keys
            .verify_streamed(&request, scope, now)
            .expect("the request verifies")
            .chunks;
        assert!(!skipped.verify_chunk(&sha(chunks[1]), &signatures[1]));
    }

    #[test]
    fn amz_dates_round_trip() {
        for text in ["19700101T000000Z", "20261129T145242Z", "20000229T235959Z"] {
            let time = parse_amz_date(text).expect("a date");
            assert_eq!(format_amz_date(time), text);
        }
        assert_eq!(parse_amz_date("2026-11-29T14:52:42Z"), None);
        assert_eq!(parse_amz_date("20261329T145242Z"), None);
    }

    #[test]
    fn credentials_look_like_aws_ones_and_differ() {
        let one = Credentials::generate("ASIA");
        let two = Credentials::generate("ASIA");
        assert_ne!(one, two);
        assert_eq!(one.access_key_id.len(), 20);
        assert!(one.access_key_id.starts_with("ASIA"));
        assert!(
            one.access_key_id
                .bytes()
                .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
        );
        assert_eq!(one.secret_access_key.len(), 40);
        assert!(!format!("{one:?}").contains(&one.secret_access_key));
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_does_not() {
        let keys = Keyring::generate(["reader"]);
        let credentials = keys.function("reader").expect("credentials").clone();
        let now = SystemTime::now();
        let url = "http://127.0.0.1:4566/2015-03-31/functions/a%3Ab/invocations?x=1";
        let body = br#"{"a":1}"#;
        let signed = sign_request(
            &credentials,
            "lambda",
            "POST",
            url,
            &[("content-type", "application/json")],
            body,
            now,
        )
        .expect("signed");
        let headers = request_headers(&signed, "127.0.0.1:4566");
        let uri: Uri = "/2015-03-31/functions/a%3Ab/invocations?x=1"
            .parse()
            .expect("uri");
        let scope = Scope {
            service: Some("lambda"),
            region: "us-east-1",
        };
        let request = ReceivedRequest {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body,
        };
        assert_eq!(
            keys.verify(&request, scope, now),
            Ok(Principal::Function("reader".to_owned()))
        );
        let tampered = ReceivedRequest {
            body: br#"{"a":2}"#,
            ..request
        };
        assert_eq!(
            keys.verify(&tampered, scope, now)
                .map_err(|error| error.code()),
            Err("InvalidSignatureException")
        );
        let other_service = Scope {
            service: Some("dynamodb"),
            ..scope
        };
        assert!(
            keys.verify(&request, other_service, now)
                .is_err_and(|error| error.message().contains("correct service: 'dynamodb'"))
        );
        let later = now + Duration::from_secs(16 * 60);
        assert!(
            keys.verify(&request, scope, later)
                .is_err_and(|error| error.message().starts_with("Signature expired: "))
        );
        let mut unsigned = headers.clone();
        unsigned.remove("authorization");
        assert_eq!(
            keys.verify(
                &ReceivedRequest {
                    headers: &unsigned,
                    ..request
                },
                scope,
                now
            ),
            Err(AuthError::Missing)
        );
        let stranger = Credentials::generate("AKIA");
        let forged =
            sign_request(&stranger, "lambda", "POST", url, &[], body, now).expect("signed");
        let forged_headers = request_headers(&forged, "127.0.0.1:4566");
        assert_eq!(
            keys.verify(
                &ReceivedRequest {
                    headers: &forged_headers,
                    ..request
                },
                scope,
                now
            )
            .map_err(|error| error.code()),
            Err("UnrecognizedClientException")
        );
    }
}
