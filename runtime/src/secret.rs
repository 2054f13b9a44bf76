//! `Secret`: the handle of a secret value kept in AWS Secrets Manager.
//!
//! The value is set outside the code, with `cargo pluto secret set NAME` (locally it is kept
//! outside the project, deployed it is the secret's current version). [`Secret::get`] reads it
//! with `secretsmanager:GetSecretValue` and caches it in the process for [`SECRET_CACHE_TTL`], so a
//! warm function does not call Secrets Manager on every request, and a changed value is seen
//! within that time. The value never appears in an error message.

use crate::client::{describe_sdk_error, physical_name, secrets_manager};
use crate::error::ClientError;
use pluto_model::Operation;
use pluto_spec::ResourceKind;
use pluto_spec::contract::{DEFAULT_STACK, SECRET_CACHE_TTL_S, STACK_ENV};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long [`Secret::get`] reuses a value it read: 5 minutes
/// ([`pluto_spec::contract::SECRET_CACHE_TTL_S`]).
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(SECRET_CACHE_TTL_S);

/// A secret declared with `#[resource(secret)] fn name() -> Secret;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    name: &'static str,
}

/// Values read in this process, by physical secret name, with when they were read.
static CACHE: Mutex<Option<HashMap<String, (Instant, String)>>> = Mutex::new(None);

impl Secret {
    #[doc(hidden)]
    pub const fn __declared(name: &'static str) -> Self {
        Self { name }
    }

    /// The logical name of the secret in the app.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The secret's name in AWS Secrets Manager, as deployment set it for this function.
    pub fn secret_name(&self) -> Result<String, ClientError> {
        physical_name(ResourceKind::Secret, self.name)
    }

    /// The secret's current value (`secretsmanager:GetSecretValue`), cached in this process for
    /// [`SECRET_CACHE_TTL`].
    ///
    /// A secret that was never given a value is [`ClientError::SecretUnset`], whose message
    /// names the command that sets it.
    pub async fn get(&self) -> Result<String, ClientError> {
        let secret = self.secret_name()?;
        if let Some(value) = cached(&secret) {
            return Ok(value);
        }
        let output = match secrets_manager()
            .await
            .get_secret_value()
            .secret_id(&secret)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Err(ClientError::SecretUnset {
                    resource: self.name.to_owned(),
                    stack: std::env::var(STACK_ENV).unwrap_or_else(|_| DEFAULT_STACK.to_owned()),
                });
            }
            Err(error) => {
                return Err(ClientError::Aws {
                    kind: ResourceKind::Secret,
                    resource: self.name.to_owned(),
                    operation: Operation::SecretGet.iam_action().unwrap_or_default(),
                    message: describe_sdk_error(&error),
                });
            }
        };
        let Some(value) = output.secret_string else {
            return Err(ClientError::Unexpected {
                kind: ResourceKind::Secret,
                resource: self.name.to_owned(),
                message: "the secret holds binary data, not a string; set it with `cargo pluto \
                          secret set`"
                    .to_owned(),
            });
        };
        remember(secret, &value);
        Ok(value)
    }
}

fn cached(secret: &str) -> Option<String> {
    let cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (read_at, value) = cache.as_ref()?.get(secret)?;
    (read_at.elapsed() < SECRET_CACHE_TTL).then(|| value.clone())
}

fn remember(secret: String, value: &str) {
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .get_or_insert_with(HashMap::new)
        .insert(secret, (Instant::now(), value.to_owned()));
}
