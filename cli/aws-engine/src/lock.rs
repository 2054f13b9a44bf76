//! The deployment lock: one record per stack in a small DynamoDB table the engine owns
//! ([`LOCK_TABLE`], one per account and region, created on first use), taken with a conditional
//! write. Two deploys or destroys of one stack — from one machine or from two sharing the account —
//! therefore never interleave: the second waits (`wait`) or fails naming the holder.
//!
//! A record carries a lease: the holder renews it while it works, so a lock left by a killed
//! process frees itself when the lease runs out, and `break_existing` (`--break-lock`) removes it
//! at once; one whose holder was a process of this machine that is gone is taken over at once.
//! Expiry compares the writer's clock with the reader's, so machines' clocks must agree
//! to well within the lease (minutes); NTP does that.

use crate::connect::Aws;
use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus, Tag,
};
use miette::Diagnostic;
use pluto_model::naming::StackNames;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// The DynamoDB table holding every stack's lock record in an account and region.
pub const LOCK_TABLE: &str = "pluto-locks";

/// The table's partition key: `PROJECT/STACK`.
const KEY: &str = "lock_id";

/// Tag marking the table as the engine's own (not any stack's).
const MANAGED_TAG: (&str, &str) = ("pluto:managed", "deploy-locks");

/// How to take the lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// What the holder is doing, shown to others: `deploy` or `destroy`.
    pub operation: String,
    /// How long a record stays valid without renewal; renewed every third of it.
    pub lease: Duration,
    /// How long to wait for a lock someone else holds; zero fails at once.
    pub wait: Duration,
    /// Time between attempts while waiting.
    pub poll: Duration,
    /// Remove a lock someone else holds (e.g. left by a killed process) and take it.
    pub break_existing: bool,
}

impl LockOptions {
    /// A 10-minute lease, no waiting, polling every 5 s.
    pub fn new(operation: &str) -> Self {
        Self {
            operation: operation.to_owned(),
            lease: Duration::from_secs(600),
            wait: Duration::ZERO,
            poll: Duration::from_secs(5),
            break_existing: false,
        }
    }
}

/// Who holds a lock, as its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The AWS principal, e.g. `arn:aws:iam::123456789012:user/alice`.
    pub principal: String,
    /// Host name of the machine.
    pub host: String,
    /// Process id on that machine.
    pub pid: u32,
    /// `deploy` or `destroy`.
    pub operation: String,
    /// When it was taken (Unix seconds).
    pub acquired_at: u64,
    /// When it lapses unless renewed (Unix seconds).
    pub expires_at: u64,
    /// Unique id of the run holding it.
    pub run_id: String,
    /// The kernel boot and pid namespace the process ran in (Linux; empty elsewhere): pids are
    /// only comparable within one.
    pub process_space: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by {} on host {} (pid {}) since {}",
            self.operation,
            self.principal,
            self.host,
            self.pid,
            utc(self.acquired_at)
        )
    }
}

/// Why the lock could not be taken or kept.
#[derive(Debug, Error, Diagnostic)]
pub enum LockError {
    /// Someone else holds the lock.
    #[error("stack `{stack}` is locked: {holder} (lease ends {})", utc(.holder.expires_at))]
    #[diagnostic(
        code(pluto::lock::held),
        help(
            "wait for that run to finish (or pass --lock-wait SECONDS to wait for it). If it was \
             killed, the lock frees itself when its lease ends; to take it now, run again with \
             --break-lock"
        )
    )]
    Held {
        /// `PROJECT/STACK`.
        stack: String,
        /// The holder.
        holder: Box<LockHolder>,
    },

    /// The lock was broken or taken over while this run held it.
    #[error("the lock of stack `{stack}` was taken away while this run held it{}", .by.as_ref().map(|by| format!(": {by}")).unwrap_or_default())]
    #[diagnostic(
        code(pluto::lock::lost),
        help(
            "another run may have changed the stack at the same time: let it finish, then run \
             `cargo pluto plan` and deploy again"
        )
    )]
    Lost {
        /// `PROJECT/STACK`.
        stack: String,
        /// Who holds it now, if anyone.
        by: Option<Box<LockHolder>>,
    },

    /// The lock could not be taken because DynamoDB failed; nothing else was done.
    #[error(
        "could not take the lock of stack `{stack}`: {operation} on table `{LOCK_TABLE}` failed: \
         {message}. Nothing was changed"
    )]
    #[diagnostic(
        code(pluto::lock::acquire),
        help(
            "run the command again. The deploying principal needs dynamodb:CreateTable, \
             TagResource, DescribeTable, GetItem, PutItem, UpdateItem and DeleteItem on \
             table/{LOCK_TABLE}"
        )
    )]
    AcquireFailed {
        /// `PROJECT/STACK`.
        stack: String,
        /// The API operation, e.g. `dynamodb:PutItem`.
        operation: &'static str,
        /// AWS's error.
        message: String,
    },

    /// The work under the lock ended, but the lock record could not be deleted.
    #[error(
        "could not release the lock of stack `{stack}`: {operation} failed: {message}. The work \
         itself ended; the lock lapses by itself by {} at the latest",
        utc(*.expires_at)
    )]
    #[diagnostic(
        code(pluto::lock::release),
        help("to run again before then, pass --lock-wait SECONDS to wait, or --break-lock")
    )]
    ReleaseFailed {
        /// `PROJECT/STACK`.
        stack: String,
        /// The API operation, e.g. `dynamodb:DeleteItem`.
        operation: &'static str,
        /// AWS's error.
        message: String,
        /// When the record's lease ends (Unix seconds).
        expires_at: u64,
    },
}

/// A failed lock call: its operation and what AWS said.
#[derive(Debug)]
struct CallFailed {
    operation: &'static str,
    message: String,
}

impl CallFailed {
    fn acquiring(self, stack: &str) -> LockError {
        LockError::AcquireFailed {
            stack: stack.to_owned(),
            operation: self.operation,
            message: self.message,
        }
    }
}

fn failed<E>(
    operation: &'static str,
    error: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> CallFailed
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    CallFailed {
        operation,
        message: crate::error::describe(error),
    }
}

/// A held lock. Call [`StackLock::release`] when done; if dropped instead (a panic), renewal stops
/// and the record lapses at the end of its lease.
#[derive(Debug)]
pub struct StackLock {
    client: aws_sdk_dynamodb::Client,
    key: String,
    run_id: String,
    lease: Duration,
    retry: RetryConfig,
    lost: Arc<Mutex<Option<Option<LockHolder>>>>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for StackLock {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// What happened to one attempt at writing the record.
enum Attempt {
    Taken,
    HeldBy(Option<LockHolder>),
    NoTable,
}

impl StackLock {
    /// Takes the lock of `names`' stack for `aws.caller_arn` on this machine. `on_wait` is called
    /// once with the holder when the lock is held and `options.wait` lets this run wait for it,
    /// and with the holder when `break_existing` removes someone else's lock.
    ///
    /// # Errors
    /// [`LockError::Held`] when someone else holds it past `options.wait`;
    /// [`LockError::AcquireFailed`] when DynamoDB fails.
    pub async fn acquire(
        aws: &Aws,
        names: &StackNames,
        options: &LockOptions,
        on_wait: &(dyn Fn(&LockHolder, LockEvent) + Send + Sync),
    ) -> Result<Self, LockError> {
        let key = format!("{}/{}", names.project(), names.stack());
        let run_id = run_id();
        let client = aws.dynamodb.clone();
        let started = Instant::now();
        let mut announced = false;
        let mut created_table = false;
        let mut broken: Option<String> = None;
        let mut breaking_done = false;
        loop {
            let now = unix_now();
            let record = LockHolder {
                principal: aws.caller_arn.clone(),
                host: host_name(),
                pid: std::process::id(),
                operation: options.operation.clone(),
                acquired_at: now,
                expires_at: now + options.lease.as_secs().max(1),
                run_id: run_id.clone(),
                process_space: process_space(),
            };
            let attempt = try_put(&client, &key, &record).await;
            match attempt.map_err(|failure| failure.acquiring(&key))? {
                Attempt::Taken => break,
                Attempt::NoTable if !created_table => {
                    ensure_table(&client, options.poll)
                        .await
                        .map_err(|failure| failure.acquiring(&key))?;
                    created_table = true;
                }
                Attempt::NoTable => {
                    return Err(LockError::AcquireFailed {
                        stack: key,
                        operation: "dynamodb:PutItem",
                        message: "the lock table is missing right after it was created".to_owned(),
                    });
                }
                // A retried write whose first answer was lost finds its own record.
                Attempt::HeldBy(Some(holder)) if holder.run_id == run_id => break,
                // Released between the write and the read: try again at once.
                Attempt::HeldBy(None) => {}
                // Breaks the holder found first, once (or one that died on this machine): a run
                // that takes the lock after that is waited for (or refused) like any other.
                Attempt::HeldBy(Some(holder))
                    if (options.break_existing
                        && broken.get_or_insert_with(|| holder.run_id.clone())
                            == &holder.run_id)
                        || died_here(&holder) =>
                {
                    if !breaking_done {
                        let event = if died_here(&holder) {
                            LockEvent::HolderDied
                        } else {
                            LockEvent::Breaking
                        };
                        on_wait(&holder, event);
                        breaking_done = true;
                    }
                    delete_if_run(&client, &aws.retry, &key, &holder.run_id)
                        .await
                        .map_err(|failure| failure.acquiring(&key))?;
                }
                Attempt::HeldBy(Some(holder)) => {
                    if started.elapsed() >= options.wait {
                        return Err(LockError::Held {
                            stack: key,
                            holder: Box::new(holder),
                        });
                    }
                    if !announced {
                        on_wait(&holder, LockEvent::Waiting);
                        announced = true;
                    }
                    tokio::time::sleep(
                        options
                            .poll
                            .min(options.wait.saturating_sub(started.elapsed())),
                    )
                    .await;
                }
            }
        }

        let lost = Arc::new(Mutex::new(None));
        let renewal = tokio::spawn(renew(
            client.clone(),
            key.clone(),
            run_id.clone(),
            options.lease,
            lost.clone(),
        ));
        Ok(Self {
            client,
            key,
            run_id,
            lease: options.lease,
            retry: aws.retry.clone(),
            lost,
            renewal,
        })
    }

    /// `PROJECT/STACK`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Checks that the lock is still this run's (as far as the last renewal knows): call it before
    /// changing anything, e.g. after a confirmation prompt that may have waited long.
    ///
    /// # Errors
    /// [`LockError::Lost`] when someone broke or took it.
    pub fn check(&self) -> Result<(), LockError> {
        match self.lost.lock().map(|lost| lost.clone()).unwrap_or(None) {
            None => Ok(()),
            Some(by) => Err(LockError::Lost {
                stack: self.key.clone(),
                by: by.map(Box::new),
            }),
        }
    }

    /// Stops renewing and deletes the record (only if it is still this run's).
    ///
    /// # Errors
    /// [`LockError::Lost`] when someone broke or took the lock meanwhile;
    /// [`LockError::ReleaseFailed`] when DynamoDB fails (the record then lapses with its lease).
    pub async fn release(self) -> Result<(), LockError> {
        self.renewal.abort();
        self.check()?;
        let releasing = |failure: CallFailed| LockError::ReleaseFailed {
            stack: self.key.clone(),
            operation: failure.operation,
            message: failure.message,
            expires_at: unix_now() + self.lease.as_secs().max(1),
        };
        if delete_if_run(&self.client, &self.retry, &self.key, &self.run_id)
            .await
            .map_err(releasing)?
        {
            return Ok(());
        }
        let by = read(&self.client, &self.key).await.map_err(releasing)?;
        Err(LockError::Lost {
            stack: self.key.clone(),
            by: by.map(Box::new),
        })
    }
}

/// Why [`StackLock::acquire`] reports a holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockEvent {
    /// The lock is held; this run waits for it.
    Waiting,
    /// The lock is held and is being broken (`break_existing`).
    Breaking,
    /// The lock's holder was a process of this machine that no longer runs (killed, or stopped
    /// with Ctrl-C): its lock is taken over.
    HolderDied,
}

/// Who holds the lock of `names`' stack, if anyone: for notes like `plan`'s. An expired record, a
/// missing table and a failed read all count as nobody.
pub async fn holder(aws: &Aws, names: &StackNames) -> Option<LockHolder> {
    let key = format!("{}/{}", names.project(), names.stack());
    let holder = read(&aws.dynamodb, &key).await.ok().flatten();
    holder.filter(|holder| holder.expires_at >= unix_now())
}

async fn try_put(
    client: &aws_sdk_dynamodb::Client,
    key: &str,
    record: &LockHolder,
) -> Result<Attempt, CallFailed> {
    let result = client
        .put_item()
        .table_name(LOCK_TABLE)
        .set_item(Some(item(key, record)))
        .condition_expression("attribute_not_exists(#key) OR expires_at < :now")
        .expression_attribute_names("#key", KEY)
        .expression_attribute_values(":now", number(record.acquired_at))
        .send()
        .await;
    match result {
        Ok(_) => Ok(Attempt::Taken),
        Err(error) => match error.as_service_error().and_then(|e| e.code()) {
            Some("ConditionalCheckFailedException") => {
                Ok(Attempt::HeldBy(read(client, key).await?))
            }
            Some("ResourceNotFoundException") => Ok(Attempt::NoTable),
            _ => Err(failed("dynamodb:PutItem", &error)),
        },
    }
}

/// Deletes the record if `run_id` holds it; `false` when it did not (someone broke or took the
/// lock). Not left to the SDK's blind retry: a retried delete whose first answer was lost would
/// find no record, or already someone else's, and could not tell that from a lost lock. So a failed
/// condition means "not ours" unless an earlier attempt may have taken effect unheard, in which
/// case the record is taken as deleted by it. Attempts and backoff follow the connection's retry
/// settings.
async fn delete_if_run(
    client: &aws_sdk_dynamodb::Client,
    retry: &RetryConfig,
    key: &str,
    run_id: &str,
) -> Result<bool, CallFailed> {
    let attempts = retry.max_attempts().max(1);
    let mut pause = retry.initial_backoff();
    let mut unheard = false;
    let mut attempt = 1;
    loop {
        let result = client
            .delete_item()
            .table_name(LOCK_TABLE)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .condition_expression("run_id = :run")
            .expression_attribute_values(":run", AttributeValue::S(run_id.to_owned()))
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(true),
            Err(error) => error,
        };
        if error.as_service_error().and_then(|e| e.code())
            == Some("ConditionalCheckFailedException")
        {
            return Ok(unheard);
        }
        if attempt >= attempts || !crate::error::is_transient(&error) {
            return Err(failed("dynamodb:DeleteItem", &error));
        }
        // Only a clean refusal (4xx, e.g. throttling) proves the delete did not happen.
        unheard |= !matches!(&error, SdkError::ServiceError(context) if context.raw().status().as_u16() < 500);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(retry.max_backoff());
        attempt += 1;
    }
}

async fn read(
    client: &aws_sdk_dynamodb::Client,
    key: &str,
) -> Result<Option<LockHolder>, CallFailed> {
    let result = client
        .get_item()
        .table_name(LOCK_TABLE)
        .key(KEY, AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await;
    match result {
        Ok(output) => Ok(output.item.as_ref().map(holder_of)),
        Err(error)
            if error.as_service_error().and_then(|e| e.code())
                == Some("ResourceNotFoundException") =>
        {
            Ok(None)
        }
        Err(error) => Err(failed("dynamodb:GetItem", &error)),
    }
}

/// Renews the lease every third of it until aborted; records a lost lock and stops.
async fn renew(
    client: aws_sdk_dynamodb::Client,
    key: String,
    run_id: String,
    lease: Duration,
    lost: Arc<Mutex<Option<Option<LockHolder>>>>,
) {
    let period = (lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        let renewal = client
            .update_item()
            .table_name(LOCK_TABLE)
            .key(KEY, AttributeValue::S(key.clone()))
            .update_expression("SET expires_at = :expires")
            .condition_expression("run_id = :run")
            .expression_attribute_values(":expires", number(unix_now() + lease.as_secs().max(1)))
            .expression_attribute_values(":run", AttributeValue::S(run_id.clone()))
            .send();
        // A hung call must not hold up the next renewal.
        let Ok(result) = tokio::time::timeout(period, renewal).await else {
            continue;
        };
        // A lost lock ends renewal; other failures (network) wait for the next period: the lease
        // outlasts two of them.
        if let Err(error) = result
            && error.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException")
        {
            let by = read(&client, &key).await.ok().flatten();
            if let Ok(mut lost) = lost.lock() {
                *lost = Some(by);
            }
            return;
        }
    }
}

/// Creates the lock table if it does not exist, and waits until it is active.
async fn ensure_table(client: &aws_sdk_dynamodb::Client, poll: Duration) -> Result<(), CallFailed> {
    let build_error = |error: aws_sdk_dynamodb::error::BuildError| CallFailed {
        operation: "dynamodb:CreateTable",
        message: error.to_string(),
    };
    let result = client
        .create_table()
        .table_name(LOCK_TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KEY)
                .key_type(KeyType::Hash)
                .build()
                .map_err(build_error)?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .tags(
            Tag::builder()
                .key(MANAGED_TAG.0)
                .value(MANAGED_TAG.1)
                .build()
                .map_err(build_error)?,
        )
        .send()
        .await;
    if let Err(error) = result {
        // Another run created it at the same time.
        if error.as_service_error().and_then(|e| e.code()) != Some("ResourceInUseException") {
            return Err(failed("dynamodb:CreateTable", &error));
        }
    }
    let started = Instant::now();
    let limit = Duration::from_secs(120);
    loop {
        // DescribeTable right after CreateTable may not find the table yet: "not yet".
        let result = client.describe_table().table_name(LOCK_TABLE).send().await;
        let status = match result {
            Ok(output) => output.table.and_then(|table| table.table_status),
            Err(error)
                if error.as_service_error().and_then(|e| e.code())
                    == Some("ResourceNotFoundException") =>
            {
                None
            }
            Err(error) => return Err(failed("dynamodb:DescribeTable", &error)),
        };
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(CallFailed {
                operation: "dynamodb:DescribeTable",
                message: format!(
                    "the table did not become ACTIVE within {} s",
                    started.elapsed().as_secs()
                ),
            });
        }
        tokio::time::sleep(poll.min(Duration::from_secs(2))).await;
    }
}

fn item(key: &str, record: &LockHolder) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (KEY.to_owned(), AttributeValue::S(key.to_owned())),
        (
            "principal".to_owned(),
            AttributeValue::S(record.principal.clone()),
        ),
        ("host".to_owned(), AttributeValue::S(record.host.clone())),
        ("pid".to_owned(), number(u64::from(record.pid))),
        (
            "operation".to_owned(),
            AttributeValue::S(record.operation.clone()),
        ),
        ("acquired_at".to_owned(), number(record.acquired_at)),
        ("expires_at".to_owned(), number(record.expires_at)),
        (
            "run_id".to_owned(),
            AttributeValue::S(record.run_id.clone()),
        ),
        (
            "process_space".to_owned(),
            AttributeValue::S(record.process_space.clone()),
        ),
    ])
}

fn holder_of(item: &HashMap<String, AttributeValue>) -> LockHolder {
    let text = |name: &str| {
        item.get(name)
            .and_then(|value| value.as_s().ok())
            .cloned()
            .unwrap_or_else(|| "(unknown)".to_owned())
    };
    let count = |name: &str| {
        item.get(name)
            .and_then(|value| value.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    LockHolder {
        principal: text("principal"),
        host: text("host"),
        pid: u32::try_from(count("pid")).unwrap_or(0),
        operation: text("operation"),
        acquired_at: count("acquired_at"),
        expires_at: count("expires_at"),
        run_id: text("run_id"),
        process_space: item
            .get("process_space")
            .and_then(|value| value.as_s().ok())
            .cloned()
            .unwrap_or_default(),
    }
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Whether `holder` was a process of this machine (same host name, same kernel boot, same pid
/// namespace) that no longer runs. Only where `/proc` tells (Linux); elsewhere, or for a holder
/// from another container or machine that happens to share the host name, it is taken to be
/// alive.
fn died_here(holder: &LockHolder) -> bool {
    let here = process_space();
    !here.is_empty()
        && holder.process_space == here
        && holder.host == host_name()
        && holder.pid != std::process::id()
        && !std::path::Path::new("/proc")
            .join(holder.pid.to_string())
            .exists()
}

/// `BOOT_ID/pid:[INODE]`: this kernel boot and this process's pid namespace, or empty where
/// `/proc` does not tell.
fn process_space() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id");
    let namespace = std::fs::read_link("/proc/self/ns/pid");
    match (boot, namespace) {
        (Ok(boot), Ok(namespace)) => format!("{}/{}", boot.trim(), namespace.display()),
        _ => String::new(),
    }
}

/// This machine's name: `HOSTNAME`, `/etc/hostname`, or `unknown`.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// An id unique to this run: host, process and the time in nanoseconds.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!("{}-{}-{nanos:x}", host_name(), std::process::id())
}

/// An HTTP date (`Sun, 22 Nov 2026 12:04:05 GMT`) for Unix seconds.
fn utc(seconds: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_renders_unix_seconds() {
        assert_eq!(utc(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(utc(1_795_349_045), "Sun, 22 Nov 2026 12:04:05 GMT");
    }

    #[test]
    fn only_a_gone_process_of_this_machine_counts_as_dead() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("`true` runs");
        let gone = child.id();
        child.wait().expect("`true` ends");
        let holder = |host: String, pid: u32| LockHolder {
            principal: "p".to_owned(),
            host,
            pid,
            operation: "deploy".to_owned(),
            acquired_at: 0,
            expires_at: 0,
            run_id: "r".to_owned(),
            process_space: process_space(),
        };
        assert!(died_here(&holder(host_name(), gone)));
        assert!(!died_here(&holder(host_name(), std::process::id())));
        assert!(!died_here(&holder(format!("{}-other", host_name()), gone)));
        let mut elsewhere = holder(host_name(), gone);
        elsewhere.process_space = "another-boot/pid:[1]".to_owned();
        assert!(!died_here(&elsewhere), "another container or boot");
        if cfg!(target_os = "linux") {
            assert!(!process_space().is_empty(), "/proc tells on Linux");
        }
    }

    #[test]
    fn a_record_reads_back_as_its_holder() {
        let holder = LockHolder {
            principal: "arn:aws:iam::123456789012:user/alice".to_owned(),
            host: "laptop".to_owned(),
            pid: 42,
            operation: "deploy".to_owned(),
            acquired_at: 1_000,
            expires_at: 1_600,
            run_id: "laptop-42-1".to_owned(),
            process_space: "boot/pid:[1]".to_owned(),
        };
        assert_eq!(holder_of(&item("app/dev", &holder)), holder);
        assert_eq!(
            holder.to_string(),
            "deploy by arn:aws:iam::123456789012:user/alice on host laptop (pid 42) since Thu, 01 \
             Jan 1970 00:16:40 GMT"
        );
    }
}
