//! Deploy and destroy: read the live state of every object of the stack from AWS, compare it with
//! the desired state into a [`Plan`], then apply the plan — declared resources concurrently (up to
//! [`Engine::concurrency`] at a time), the objects of one resource in dependency order (role ->
//! function -> URL -> permissions; role -> model -> config -> endpoint). Unchanged resources are
//! not touched at all. A failure stops only its own resource; the others finish, and the error
//! reports per resource what was done, at which step it failed and what is left. Nothing is
//! rolled back: since every run starts from the live state, running it again does only what is
//! left (creates that find their object made by an attempt whose answer was lost adopt it).
//!
//! Data is never deleted by surprise: a plan that deletes a non-empty bucket, a secret with a
//! value or a non-empty table (a destroy, or a deploy that no longer declares it) says so
//! ([`Plan::data_loss`]), and its apply is refused as a whole, before any change, unless the
//! user agreed ([`PreparedChange::delete_data`], `--delete-data`). Secrets are deleted with a
//! recovery window ([`Engine::secret_recovery_days`]).

use crate::connect::Aws;
use crate::desired::{
    DesiredBucket, DesiredEndpoint, DesiredFunction, DesiredSecret, DesiredStack, DesiredTable,
    EnvEntry, owned_by,
};
use crate::dynamodb::{self, LiveTable};
use crate::error::{EngineError, ResourceOutcome, ResourceReport};
use crate::inventory::{self, ObjectKind, OwnedObject};
use crate::lambda::{self, LiveFunction};
use crate::plan::{Action, Change, FieldChange, Plan};
use crate::progress::{Event, Progress};
use crate::role::{self, LiveRole};
use crate::s3::{self, LiveBucket};
use crate::sagemaker::{self, LiveEndpoint, SageMakerObject};
use crate::secrets::{self, LiveSecret};
use crate::wait::WaitPolicy;
use futures_util::{FutureExt, StreamExt, TryStreamExt, stream};
use pluto_model::ResponseMode;
use pluto_model::naming::StackNames;
use pluto_spec::{ResourceKind, UrlAuth, contract};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Deploys and destroys stacks through one AWS connection.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The connection.
    pub aws: Aws,
    /// Polling and time limits.
    pub wait: WaitPolicy,
    /// Declared resources worked on at once (1 = one after the other).
    pub concurrency: usize,
    /// Days Secrets Manager keeps a secret this engine deletes, recoverable (7 to 30; default
    /// [`secrets::DEFAULT_RECOVERY_WINDOW_DAYS`]).
    pub secret_recovery_days: u32,
}

/// What a deploy or destroy will do, with the live state it was computed from.
#[derive(Debug, Clone)]
pub struct PreparedChange {
    /// The plan, for showing.
    pub plan: Plan,
    units: Vec<Unit>,
    project: String,
    stack: String,
    /// `deploy` or `destroy`, for the report of a failed apply.
    operation: &'static str,
    /// Whether the user agreed to delete the data the plan would delete.
    delete_data: bool,
}

impl PreparedChange {
    /// Agrees (`true`) or not to delete the data this change would delete (`--delete-data`):
    /// without it, [`Engine::apply`] refuses a change that deletes data.
    #[must_use]
    pub fn delete_data(mut self, agreed: bool) -> Self {
        self.delete_data = agreed;
        self
    }

    /// Refuses the change if it deletes data the user did not agree to lose: the error lists
    /// what would be lost. Nothing is changed by it.
    pub fn check_data_loss(&self) -> Result<(), EngineError> {
        let losses = self.plan.data_loss();
        if self.delete_data || losses.is_empty() {
            Ok(())
        } else {
            Err(EngineError::WouldDeleteData {
                operation: self.operation,
                losses,
            })
        }
    }
}

/// What an object about to be deleted holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// A bucket's contents (possibly only delete markers, which are no data).
    Objects(s3::Contents),
    /// A secret with a value.
    Value,
    /// A table with at least one item.
    Items,
}

impl Held {
    /// What is lost with it, e.g. `12 objects, 3.4 MiB`; `None` when nothing is.
    fn loss(self) -> Option<String> {
        match self {
            Self::Objects(contents) if contents.objects == 0 => None,
            Self::Objects(contents) => Some(s3::describe_contents(&contents)),
            Self::Value => Some("has a value".to_owned()),
            Self::Items => Some("holds items".to_owned()),
        }
    }
}

#[derive(Debug, Clone)]
enum Unit {
    Function {
        desired: Box<DesiredFunction>,
        role: Option<LiveRole>,
        live: Option<Box<LiveFunction>>,
    },
    Table {
        desired: DesiredTable,
        live: Option<LiveTable>,
    },
    Endpoint {
        desired: Box<DesiredEndpoint>,
        role: Option<LiveRole>,
        model_exists: bool,
        config_exists: bool,
        live: Option<LiveEndpoint>,
        stale: Vec<OwnedObject>,
    },
    Bucket {
        desired: DesiredBucket,
        live: Option<LiveBucket>,
    },
    Secret {
        desired: DesiredSecret,
        live: Option<LiveSecret>,
    },
    Remove {
        resource: String,
        objects: Vec<OwnedObject>,
        /// What the data-bearing objects hold, by name (read while planning).
        held: BTreeMap<String, Held>,
    },
}

/// What a deployed stack offers its users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outputs {
    /// Project.
    pub project: String,
    /// Stack.
    pub stack: String,
    /// Region.
    pub region: String,
    /// Account.
    pub account: String,
    /// Functions, by logical name.
    pub functions: Vec<FunctionOutput>,
    /// SageMaker endpoints.
    pub endpoints: Vec<EndpointOutput>,
    /// KV stores.
    pub tables: Vec<TableOutput>,
    /// Buckets.
    #[serde(default)]
    pub buckets: Vec<BucketOutput>,
    /// Secrets (names only: values never leave Secrets Manager).
    #[serde(default)]
    pub secrets: Vec<SecretOutput>,
}

/// A deployed bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketOutput {
    /// Logical name.
    pub name: String,
    /// S3 bucket name.
    pub bucket_name: String,
    /// Whether S3 keeps every version of every object.
    pub versioning: bool,
}

/// A deployed secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretOutput {
    /// Logical name.
    pub name: String,
    /// Secrets Manager name.
    pub secret_name: String,
    /// Whether it had a value when deployed (set with `cargo pluto secret set NAME --deployed`).
    pub has_value: bool,
}

/// A deployed function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionOutput {
    /// Logical name.
    pub name: String,
    /// Lambda function name.
    pub function_name: String,
    /// Function URL, if it has one.
    pub url: Option<String>,
    /// `public`, `iam` or `none`.
    pub url_auth: String,
    /// Whether its URL answers at once or streams (the URL's invoke mode; buffered when it has
    /// no URL).
    #[serde(default)]
    pub response: ResponseMode,
    /// Execution role name.
    pub role: String,
}

/// A deployed SageMaker endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointOutput {
    /// Logical name.
    pub name: String,
    /// Endpoint name.
    pub endpoint_name: String,
    /// Model name.
    pub model_name: String,
    /// Endpoint configuration name.
    pub config_name: String,
}

/// A deployed KV store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableOutput {
    /// Logical name.
    pub name: String,
    /// DynamoDB table name.
    pub table_name: String,
}

enum UnitOutput {
    Function(FunctionOutput),
    Endpoint(EndpointOutput),
    Table(TableOutput),
    Bucket(BucketOutput),
    Secret(SecretOutput),
    Removed,
}

fn label(kind: ResourceKind, logical: &str) -> String {
    format!("{kind} {logical}")
}

/// `function/chat` -> `function chat`.
fn label_of_tag(tag: &str) -> String {
    match tag.split_once('/') {
        Some((kind, logical)) => match ResourceKind::from_keyword(kind) {
            Some(kind) => label(kind, logical),
            None => tag.to_owned(),
        },
        None if tag.is_empty() => "(untagged)".to_owned(),
        None => tag.to_owned(),
    }
}

fn change(resource: &str, object_type: &'static str, name: &str, action: Action) -> Change {
    Change {
        resource: resource.to_owned(),
        object_type,
        name: name.to_owned(),
        action,
        data: None,
    }
}

fn update_or_unchanged(fields: Vec<FieldChange>) -> Action {
    if fields.is_empty() {
        Action::Unchanged
    } else {
        Action::Update(fields)
    }
}

/// Refuses an object that exists (`tags` is `Some`) but is not tagged as the stack's.
fn check_owned(
    object: String,
    tags: Option<&BTreeMap<String, String>>,
    names: &StackNames,
) -> Result<(), EngineError> {
    if tags.is_none_or(|tags| owned_by(tags, names)) {
        Ok(())
    } else {
        Err(EngineError::NotOwned {
            object,
            project: names.project().to_owned(),
            stack: names.stack().to_owned(),
        })
    }
}

/// Puts the URLs functions read (`PLUTO_URL_<NAME>`) into their desired environment where the
/// URL exists and stays (its function keeps a URL); the others are pending, set once created.
fn fill_known_urls(units: &mut [Unit]) {
    let live_urls: BTreeMap<String, String> = units
        .iter()
        .filter_map(|unit| match unit {
            Unit::Function {
                desired,
                live: Some(live),
                ..
            } if desired.url.is_some() => live
                .url
                .as_ref()
                .map(|url| (desired.logical.clone(), url.url.clone())),
            _ => None,
        })
        .collect();
    for unit in units {
        if let Unit::Function { desired, live, .. } = unit {
            let reads = desired.urls_read.clone();
            for logical in reads {
                let key = contract::function_url_env_var(&logical);
                match live_urls.get(&logical) {
                    Some(url) => {
                        desired.env.insert(key, EnvEntry::plain(url.clone()));
                    }
                    None => {
                        // Until the URL exists, a value the function has stays (the second pass
                        // replaces it), so the plan shows one change and the function is never
                        // left without the variable in between.
                        if let Some(value) = live.as_ref().and_then(|live| live.env.get(&key)) {
                            desired.env.insert(key, EnvEntry::plain(value.clone()));
                        }
                        desired.urls_pending.push(logical);
                    }
                }
            }
        }
    }
}

/// The environment changes that wait for URLs to be created, as the plan shows them.
fn pending_url_changes(desired: &DesiredFunction, live: Option<&LiveFunction>) -> Vec<FieldChange> {
    desired
        .urls_pending
        .iter()
        .map(|logical| {
            let key = contract::function_url_env_var(logical);
            let old = live
                .and_then(|live| live.env.get(&key))
                .map_or_else(|| "(unset)".to_owned(), |value| format!("{value:?}"));
            FieldChange::new(format!("env {key}"), old, "(known after apply)".to_owned())
        })
        .collect()
}

impl Unit {
    fn resource(&self) -> String {
        match self {
            Self::Function { desired, .. } => label(ResourceKind::Function, &desired.logical),
            Self::Table { desired, .. } => label(ResourceKind::KvStore, &desired.logical),
            Self::Endpoint { desired, .. } => label(ResourceKind::Sagemaker, &desired.logical),
            Self::Bucket { desired, .. } => label(ResourceKind::Bucket, &desired.logical),
            Self::Secret { desired, .. } => label(ResourceKind::Secret, &desired.logical),
            Self::Remove { resource, .. } => resource.clone(),
        }
    }

    fn changes(&self) -> Vec<Change> {
        let resource = self.resource();
        let mut changes = Vec::new();
        match self {
            Self::Function {
                desired,
                role,
                live,
            } => {
                changes.push(role_change(&resource, &desired.role, role.as_ref()));
                let diff = live.as_ref().map(|live| lambda::diff(desired, live));
                changes.push(change(
                    &resource,
                    "Lambda function",
                    &desired.name,
                    match &diff {
                        None => Action::Create,
                        Some(diff) => update_or_unchanged(
                            diff.configuration
                                .iter()
                                .chain(&diff.code)
                                .chain(&diff.tags)
                                .cloned()
                                .chain(pending_url_changes(desired, live.as_deref()))
                                .collect(),
                        ),
                    },
                ));
                let had_url = live.as_ref().is_some_and(|live| live.url.is_some());
                let action = match (&desired.url, had_url, &diff) {
                    (None, false, _) => None,
                    (None, true, _) => Some(Action::Delete),
                    (Some(_), false, _) | (Some(_), _, None) => Some(Action::Create),
                    (Some(_), true, Some(diff)) => Some(update_or_unchanged(diff.url.clone())),
                };
                if let Some(action) = action {
                    changes.push(change(&resource, "Function URL of", &desired.name, action));
                }
            }
            Self::Table { desired, live } => changes.push(change(
                &resource,
                "DynamoDB table",
                &desired.name,
                match live {
                    None => Action::Create,
                    Some(live) => {
                        update_or_unchanged(dynamodb::diff(desired, live).unwrap_or_default())
                    }
                },
            )),
            Self::Endpoint {
                desired,
                role,
                model_exists,
                config_exists,
                live,
                stale,
            } => {
                changes.push(role_change(&resource, &desired.role, role.as_ref()));
                let created = |exists: bool| {
                    if exists {
                        Action::Unchanged
                    } else {
                        Action::Create
                    }
                };
                changes.push(change(
                    &resource,
                    SageMakerObject::Model.type_name(),
                    &desired.model_name,
                    created(*model_exists),
                ));
                changes.push(change(
                    &resource,
                    SageMakerObject::Config.type_name(),
                    &desired.config_name,
                    created(*config_exists),
                ));
                changes.push(change(
                    &resource,
                    SageMakerObject::Endpoint.type_name(),
                    &desired.name,
                    match live {
                        None => Action::Create,
                        Some(live) => update_or_unchanged(endpoint_fields(desired, live)),
                    },
                ));
                for object in stale {
                    changes.push(change(
                        &resource,
                        object.kind.type_name(),
                        &object.name,
                        Action::Delete,
                    ));
                }
            }
            Self::Bucket { desired, live } => changes.push(change(
                &resource,
                "S3 bucket",
                &desired.name,
                match live {
                    None => Action::Create,
                    Some(live) => update_or_unchanged(s3::diff(desired, live)),
                },
            )),
            Self::Secret { desired, live } => changes.push(change(
                &resource,
                "Secrets Manager secret",
                &desired.name,
                match live {
                    None => Action::Create,
                    Some(live) => update_or_unchanged(secrets::diff(desired, live)),
                },
            )),
            Self::Remove { objects, held, .. } => {
                for object in objects {
                    let mut delete = change(
                        &resource,
                        object.kind.type_name(),
                        &object.name,
                        Action::Delete,
                    );
                    delete.data = held.get(&object.name).and_then(|held| held.loss());
                    changes.push(delete);
                }
            }
        }
        changes
    }
}

fn endpoint_fields(desired: &DesiredEndpoint, live: &LiveEndpoint) -> Vec<FieldChange> {
    let mut fields = Vec::new();
    if live.config_name != desired.config_name {
        fields.push(FieldChange::new(
            "config",
            live.config_name.clone(),
            desired.config_name.clone(),
        ));
    }
    if live.status == "Failed" {
        fields.push(FieldChange::new(
            "status",
            "Failed",
            "InService (recreated)",
        ));
    }
    fields.extend(crate::plan::tag_change(&desired.tags, &live.tags));
    fields
}

fn role_change(
    resource: &str,
    desired: &crate::desired::DesiredRole,
    live: Option<&LiveRole>,
) -> Change {
    change(
        resource,
        "IAM role",
        &desired.name,
        match live {
            None => Action::Create,
            Some(live) => update_or_unchanged(role::diff(desired, live)),
        },
    )
}

impl Engine {
    /// An engine on `aws` with default waits, 8 resources at a time, and secrets recoverable
    /// for 30 days after their deletion.
    pub fn new(aws: Aws) -> Self {
        Self {
            aws,
            wait: WaitPolicy::default(),
            concurrency: 8,
            secret_recovery_days: secrets::DEFAULT_RECOVERY_WINDOW_DAYS,
        }
    }

    /// Stores `value` as the value of secret `logical` of the deployed stack `names` (what
    /// `cargo pluto secret set NAME --deployed` does). The value is never logged and is in no
    /// error. Fails with [`EngineError::SecretNotDeployed`] when the stack has no such secret
    /// (deploy first), [`EngineError::SecretScheduledForDeletion`] when it was destroyed (deploy
    /// again to restore it), [`EngineError::NotOwned`] when a secret of that name is not the
    /// stack's.
    pub async fn put_secret_value(
        &self,
        names: &StackNames,
        logical: &str,
        value: &str,
    ) -> Result<(), EngineError> {
        let name = names.secret(logical);
        let live = secrets::read(&self.aws, &name)
            .await
            .map_err(|error| error.without_secrets([value]))?;
        match live {
            None => Err(EngineError::SecretNotDeployed {
                logical: logical.to_owned(),
                name,
            }),
            Some(live) if !owned_by(&live.tags, names) => Err(EngineError::NotOwned {
                object: secrets::object(&name),
                project: names.project().to_owned(),
                stack: names.stack().to_owned(),
            }),
            Some(live) if live.deleted => Err(EngineError::SecretScheduledForDeletion {
                logical: logical.to_owned(),
                name,
            }),
            Some(_) => secrets::put_value(&self.aws, logical, &name, value).await,
        }
    }

    /// Reads the live state and plans the deploy of `desired`: creates, updates, and deletes of
    /// objects of the stack that are no longer declared. A failed read is reported as
    /// [`EngineError::ReadFailed`] (nothing was changed).
    pub async fn plan_deploy(&self, desired: DesiredStack) -> Result<PreparedChange, EngineError> {
        self.read_deploy(desired).await.map_err(read_failed)
    }

    async fn read_deploy(&self, desired: DesiredStack) -> Result<PreparedChange, EngineError> {
        let names = desired.names.clone();
        let owned = inventory::discover(&self.aws, &names).await?;
        let mut units: Vec<Unit> = Vec::new();

        let reads = desired
            .functions
            .into_iter()
            .map(|function| self.read_function(function, &names).boxed())
            .chain(
                desired
                    .tables
                    .into_iter()
                    .map(|table| self.read_table(table, &names).boxed()),
            )
            .chain(
                desired
                    .endpoints
                    .into_iter()
                    .map(|endpoint| self.read_endpoint(endpoint, &owned, &names).boxed()),
            )
            .chain(
                desired
                    .buckets
                    .into_iter()
                    .map(|bucket| self.read_bucket(bucket, &names).boxed()),
            )
            .chain(
                desired
                    .secrets
                    .into_iter()
                    .map(|secret| self.read_secret(secret, &names).boxed()),
            );
        let mut read: Vec<Unit> = stream::iter(reads)
            .buffered(self.concurrency.max(1))
            .try_collect()
            .await?;
        fill_known_urls(&mut read);

        // Owned objects no declared resource accounts for are removed.
        let mut kept: Vec<(ObjectKind, String)> = Vec::new();
        for unit in &read {
            match unit {
                Unit::Function { desired, .. } => {
                    kept.push((ObjectKind::Function, desired.name.clone()));
                    kept.push((ObjectKind::Role, desired.role.name.clone()));
                }
                Unit::Table { desired, .. } => kept.push((ObjectKind::Table, desired.name.clone())),
                Unit::Endpoint { desired, stale, .. } => {
                    kept.push((ObjectKind::Endpoint, desired.name.clone()));
                    kept.push((ObjectKind::Role, desired.role.name.clone()));
                    kept.push((ObjectKind::Model, desired.model_name.clone()));
                    kept.push((ObjectKind::EndpointConfig, desired.config_name.clone()));
                    kept.extend(
                        stale
                            .iter()
                            .map(|object| (object.kind, object.name.clone())),
                    );
                }
                Unit::Bucket { desired, .. } => {
                    kept.push((ObjectKind::Bucket, desired.name.clone()));
                }
                Unit::Secret { desired, .. } => {
                    kept.push((ObjectKind::Secret, desired.name.clone()));
                }
                Unit::Remove { .. } => {}
            }
        }
        units.extend(read);
        let mut removed = removals(
            owned
                .into_iter()
                .filter(|object| !kept.contains(&(object.kind, object.name.clone()))),
        );
        self.read_held(&mut removed).await?;
        units.extend(removed);
        Ok(self.prepared(units, &names, "deploy"))
    }

    /// Finds every object of the stack (by tags, without local state) and plans their deletion,
    /// with what its buckets, secrets and tables hold.
    pub async fn plan_destroy(&self, names: &StackNames) -> Result<PreparedChange, EngineError> {
        let names = &names
            .clone()
            .in_account(self.aws.target.account(), self.aws.target.region());
        let owned = inventory::discover(&self.aws, names)
            .await
            .map_err(read_failed)?;
        let mut units = removals(owned.into_iter());
        self.read_held(&mut units).await.map_err(read_failed)?;
        Ok(self.prepared(units, names, "destroy"))
    }

    /// Reads what each data-bearing object of the removals holds.
    async fn read_held(&self, units: &mut [Unit]) -> Result<(), EngineError> {
        for unit in units {
            let Unit::Remove { objects, held, .. } = unit else {
                continue;
            };
            let reads = objects.iter().map(|object| async move {
                let found = match object.kind {
                    ObjectKind::Bucket => {
                        Some(Held::Objects(s3::contents(&self.aws, &object.name).await?))
                    }
                    ObjectKind::Secret => secrets::read(&self.aws, &object.name)
                        .await?
                        .filter(|live| live.has_value)
                        .map(|_| Held::Value),
                    ObjectKind::Table => dynamodb::has_items(&self.aws, &object.name)
                        .await?
                        .then_some(Held::Items),
                    _ => None,
                };
                Ok::<_, EngineError>(found.map(|found| (object.name.clone(), found)))
            });
            let found: Vec<Option<(String, Held)>> = stream::iter(reads)
                .buffered(self.concurrency.max(1))
                .try_collect()
                .await?;
            held.extend(found.into_iter().flatten());
        }
        Ok(())
    }

    fn prepared(
        &self,
        units: Vec<Unit>,
        names: &StackNames,
        operation: &'static str,
    ) -> PreparedChange {
        let changes = units.iter().flat_map(Unit::changes).collect();
        PreparedChange {
            plan: Plan { changes },
            units,
            project: names.project().to_owned(),
            stack: names.stack().to_owned(),
            operation,
            delete_data: false,
        }
    }

    async fn read_bucket(
        &self,
        desired: DesiredBucket,
        names: &StackNames,
    ) -> Result<Unit, EngineError> {
        let live = s3::read(&self.aws, &desired.name).await?;
        if let Some(live) = &live {
            check_owned(s3::object(&desired.name), Some(&live.tags), names)?;
        }
        Ok(Unit::Bucket { desired, live })
    }

    async fn read_secret(
        &self,
        desired: DesiredSecret,
        names: &StackNames,
    ) -> Result<Unit, EngineError> {
        let live = secrets::read(&self.aws, &desired.name).await?;
        if let Some(live) = &live {
            check_owned(secrets::object(&desired.name), Some(&live.tags), names)?;
        }
        Ok(Unit::Secret { desired, live })
    }

    async fn read_function(
        &self,
        desired: DesiredFunction,
        names: &StackNames,
    ) -> Result<Unit, EngineError> {
        let (role, live) = tokio::try_join!(
            role::read(&self.aws, &desired.role.name),
            lambda::read(&self.aws, &desired.name)
        )?;
        let role_tags = role.as_ref().map(|role| &role.tags);
        check_owned(role::object(&desired.role.name), role_tags, names)?;
        let function_tags = live.as_ref().map(|live| &live.tags);
        check_owned(lambda::object(&desired.name), function_tags, names)?;
        Ok(Unit::Function {
            desired: Box::new(desired),
            role,
            live: live.map(Box::new),
        })
    }

    async fn read_table(
        &self,
        desired: DesiredTable,
        names: &StackNames,
    ) -> Result<Unit, EngineError> {
        let live = dynamodb::read(&self.aws, &desired.name).await?;
        if let Some(live) = &live {
            check_owned(dynamodb::object(&desired.name), Some(&live.tags), names)?;
            dynamodb::diff(&desired, live)?;
        }
        Ok(Unit::Table { desired, live })
    }

    async fn read_endpoint(
        &self,
        desired: DesiredEndpoint,
        owned: &[OwnedObject],
        names: &StackNames,
    ) -> Result<Unit, EngineError> {
        let (role, model, config, live) = tokio::try_join!(
            role::read(&self.aws, &desired.role.name),
            sagemaker::read_object_tags(&self.aws, SageMakerObject::Model, &desired.model_name),
            sagemaker::read_object_tags(&self.aws, SageMakerObject::Config, &desired.config_name),
            sagemaker::read_endpoint(&self.aws, &desired.name),
        )?;
        let role_tags = role.as_ref().map(|role| &role.tags);
        check_owned(role::object(&desired.role.name), role_tags, names)?;
        let model_object = SageMakerObject::Model.object(&desired.model_name);
        check_owned(model_object, model.as_ref(), names)?;
        let config_object = SageMakerObject::Config.object(&desired.config_name);
        check_owned(config_object, config.as_ref(), names)?;
        let endpoint_tags = live.as_ref().map(|live| &live.tags);
        check_owned(
            SageMakerObject::Endpoint.object(&desired.name),
            endpoint_tags,
            names,
        )?;
        let resource_tag = format!("{}/{}", ResourceKind::Sagemaker.keyword(), desired.logical);
        let stale = owned
            .iter()
            .filter(|object| {
                object.resource == resource_tag
                    && ((object.kind == ObjectKind::Model && object.name != desired.model_name)
                        || (object.kind == ObjectKind::EndpointConfig
                            && object.name != desired.config_name))
            })
            .cloned()
            .collect();
        Ok(Unit::Endpoint {
            desired: Box::new(desired),
            role,
            model_exists: model.is_some(),
            config_exists: config.is_some(),
            live,
            stale,
        })
    }

    /// Applies a prepared change. Resources whose objects are all unchanged are not touched. When
    /// some resources fail, the others are still done, and the error ([`EngineError::Partial`])
    /// says per resource what was done, where it failed and what is left.
    ///
    /// A change that deletes data is refused as a whole, before any change, unless the user
    /// agreed ([`PreparedChange::delete_data`]); see [`PreparedChange::check_data_loss`].
    pub async fn apply(
        &self,
        prepared: PreparedChange,
        progress: &dyn Progress,
    ) -> Result<Outputs, EngineError> {
        prepared.check_data_loss()?;
        if !(secrets::MIN_RECOVERY_WINDOW_DAYS..=secrets::DEFAULT_RECOVERY_WINDOW_DAYS)
            .contains(&self.secret_recovery_days)
        {
            return Err(EngineError::RecoveryWindow {
                days: self.secret_recovery_days,
            });
        }
        let delete_data = prepared.delete_data;
        let total = prepared.units.len();
        let waiting_for_urls: Vec<DesiredFunction> = prepared
            .units
            .iter()
            .filter_map(|unit| match unit {
                Unit::Function { desired, .. } if !desired.urls_pending.is_empty() => {
                    Some(desired.as_ref().clone())
                }
                _ => None,
            })
            .collect();
        let mut results: Vec<(usize, ResourceReport, Option<UnitOutput>)> =
            stream::iter(prepared.units.into_iter().enumerate())
                .map(|(index, unit)| async move {
                    let resource = unit.resource();
                    let changes = unit.changes();
                    let changed = changes
                        .iter()
                        .any(|change| change.action != Action::Unchanged);
                    let steps = Steps::new(&resource, progress, changed);
                    // Boxed: a unit's future is large, and many run at once.
                    let result = self
                        .apply_unit(unit, &steps, delete_data, prepared.operation)
                        .boxed()
                        .await;
                    let log = steps.finish(result.is_ok());
                    let done: Vec<String> = log.done.iter().map(Step::done).collect();
                    let (outcome, output) = match result {
                        Ok(output) if !changed => (ResourceOutcome::Unchanged, Some(output)),
                        Ok(output) => {
                            progress.report(&resource, Event::Done);
                            (ResourceOutcome::Done, Some(output))
                        }
                        Err(error) => {
                            progress.report(&resource, Event::Failed(error.to_string()));
                            let left = changes
                                .iter()
                                .filter(|change| {
                                    change.action != Action::Unchanged
                                        && !log
                                            .done
                                            .iter()
                                            .any(|step| step.object == change.object())
                                })
                                .map(|change| {
                                    let verb = match change.action {
                                        Action::Create => "create",
                                        Action::Update(_) => "update",
                                        Action::Delete => "delete",
                                        Action::Unchanged => "keep",
                                    };
                                    format!("{verb} {}", change.object())
                                })
                                .collect();
                            let outcome = ResourceOutcome::Failed {
                                step: log.current.as_ref().map(Step::doing),
                                left,
                                error: Box::new(error),
                            };
                            (outcome, None)
                        }
                    };
                    let report = ResourceReport {
                        resource,
                        done,
                        outcome,
                    };
                    (index, report, output)
                })
                .buffer_unordered(self.concurrency.max(1))
                .collect()
                .await;
        results.sort_by_key(|(index, _, _)| *index);

        let mut outputs = Outputs {
            project: prepared.project,
            stack: prepared.stack,
            region: self.aws.target.region().to_owned(),
            account: self.aws.target.account().to_owned(),
            ..Outputs::default()
        };
        let failed = results
            .iter()
            .filter(|(_, _, output)| output.is_none())
            .count();
        let mut reports = Vec::with_capacity(results.len());
        for (_, report, output) in results {
            reports.push(report);
            match output {
                Some(UnitOutput::Function(function)) => outputs.functions.push(function),
                Some(UnitOutput::Endpoint(endpoint)) => outputs.endpoints.push(endpoint),
                Some(UnitOutput::Table(table)) => outputs.tables.push(table),
                Some(UnitOutput::Bucket(bucket)) => outputs.buckets.push(bucket),
                Some(UnitOutput::Secret(secret)) => outputs.secrets.push(secret),
                Some(UnitOutput::Removed) | None => {}
            }
        }
        outputs.functions.sort_by(|a, b| a.name.cmp(&b.name));
        outputs.endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        outputs.tables.sort_by(|a, b| a.name.cmp(&b.name));
        outputs.buckets.sort_by(|a, b| a.name.cmp(&b.name));
        outputs.secrets.sort_by(|a, b| a.name.cmp(&b.name));
        // Also after a partial failure: the URLs that were created reach their readers now;
        // those whose function failed are left for the next run, which plans them again.
        let failed = failed
            + self
                .set_created_urls(waiting_for_urls, &outputs, &mut reports, progress)
                .await;
        if failed > 0 {
            return Err(EngineError::Partial {
                operation: prepared.operation,
                failed,
                total,
                resources: reports,
            });
        }
        Ok(outputs)
    }

    /// Second pass of a deploy: functions that read URLs created by this apply get them in their
    /// environment (`PLUTO_URL_<NAME>`). A failure is recorded on the function's report; returns
    /// how many failed.
    async fn set_created_urls(
        &self,
        waiting: Vec<DesiredFunction>,
        outputs: &Outputs,
        reports: &mut [ResourceReport],
        progress: &dyn Progress,
    ) -> usize {
        let mut failed = 0;
        for mut desired in waiting {
            let mut set = Vec::new();
            for logical in &desired.urls_pending {
                let url = outputs
                    .functions
                    .iter()
                    .find(|function| &function.name == logical)
                    .and_then(|function| function.url.clone());
                if let Some(url) = url {
                    let key = contract::function_url_env_var(logical);
                    set.push(key.clone());
                    desired.env.insert(key, EnvEntry::plain(url));
                }
            }
            if set.is_empty() {
                continue;
            }
            let resource = label(ResourceKind::Function, &desired.logical);
            let function_failed = reports.iter().any(|report| {
                report.resource == resource
                    && matches!(report.outcome, ResourceOutcome::Failed { .. })
            });
            if function_failed {
                continue;
            }
            let steps = Steps::new(&resource, progress, true);
            steps.start_detail(
                Verb::Update,
                lambda::object(&desired.name),
                format!(" with {}", set.join(", ")),
            );
            let result = match lambda::wait_ready(&self.aws, &desired.name, &self.wait).await {
                Ok(()) => lambda::update_configuration(&self.aws, &desired, &self.wait).await,
                Err(error) => Err(error),
            };
            let log = steps.finish(result.is_ok());
            let Some(report) = reports
                .iter_mut()
                .find(|report| report.resource == resource)
            else {
                continue;
            };
            match result {
                Ok(()) => {
                    report.done.extend(log.done.iter().map(Step::done));
                    progress.report(&resource, Event::Done);
                }
                Err(error) => {
                    failed += 1;
                    progress.report(&resource, Event::Failed(error.to_string()));
                    report.outcome = ResourceOutcome::Failed {
                        step: log.current.as_ref().map(Step::doing),
                        left: vec![format!(
                            "set {} on {}",
                            set.join(", "),
                            lambda::object(&desired.name)
                        )],
                        error: Box::new(error),
                    };
                }
            }
        }
        failed
    }

    async fn apply_unit(
        &self,
        unit: Unit,
        steps: &Steps<'_>,
        delete_data: bool,
        operation: &'static str,
    ) -> Result<UnitOutput, EngineError> {
        let aws = &self.aws;
        match unit {
            Unit::Function {
                desired,
                role,
                live,
            } => {
                match &role {
                    None => {
                        steps.start(Verb::Create, role::object(&desired.role.name));
                        role::create(
                            aws,
                            &desired.role,
                            &format!("Pluto: execution role of function `{}`", desired.logical),
                        )
                        .await?;
                    }
                    Some(live_role) if !role::diff(&desired.role, live_role).is_empty() => {
                        steps.start(Verb::Update, role::object(&desired.role.name));
                        role::update(aws, &desired.role, live_role).await?;
                    }
                    Some(_) => {}
                }
                let diff = live.as_ref().map(|live| lambda::diff(&desired, live));
                // What a create found existing (its earlier attempt's answer was lost).
                let mut found = None;
                match (&live, &diff) {
                    (Some(live), Some(diff)) => {
                        if !diff.code.is_empty()
                            || !diff.configuration.is_empty()
                            || diff.tags.is_some()
                        {
                            steps.start(Verb::Update, lambda::object(&desired.name));
                            // An earlier, interrupted run may have left an update in progress.
                            lambda::wait_ready(aws, &desired.name, &self.wait).await?;
                            lambda::update(aws, &desired, diff, live, &self.wait).await?;
                        }
                    }
                    _ => {
                        steps.start(Verb::Create, lambda::object(&desired.name));
                        found = lambda::create(aws, &desired, &self.wait).await?;
                    }
                }
                let url_unchanged = diff.as_ref().is_some_and(|diff| diff.url.is_empty());
                let url = if url_unchanged {
                    live.as_ref()
                        .and_then(|live| live.url.as_ref().map(|url| url.url.clone()))
                } else {
                    steps.start(Verb::Configure, lambda::url_object(&desired.name));
                    lambda::converge_url(aws, &desired, found.as_ref().or(live.as_deref())).await?
                };
                Ok(UnitOutput::Function(FunctionOutput {
                    name: desired.logical.clone(),
                    function_name: desired.name.clone(),
                    url,
                    url_auth: match &desired.url {
                        None => UrlAuth::None,
                        Some(url) if url.public => UrlAuth::Public,
                        Some(_) => UrlAuth::Iam,
                    }
                    .to_string(),
                    response: desired
                        .url
                        .as_ref()
                        .map(|url| url.response)
                        .unwrap_or_default(),
                    role: desired.role.name.clone(),
                }))
            }
            Unit::Table { desired, live } => {
                match &live {
                    None => {
                        steps.start(Verb::Create, dynamodb::object(&desired.name));
                        dynamodb::create(aws, &desired, &self.wait).await?;
                    }
                    Some(live) if !dynamodb::diff(&desired, live)?.is_empty() => {
                        steps.start(Verb::Update, dynamodb::object(&desired.name));
                        dynamodb::update(aws, &desired, live, &self.wait).await?;
                    }
                    Some(_) => {}
                }
                Ok(UnitOutput::Table(TableOutput {
                    name: desired.logical.clone(),
                    table_name: desired.name.clone(),
                }))
            }
            Unit::Endpoint {
                desired,
                role,
                model_exists,
                config_exists,
                live,
                stale,
            } => {
                match &role {
                    None => {
                        steps.start(Verb::Create, role::object(&desired.role.name));
                        role::create(
                            aws,
                            &desired.role,
                            &format!(
                                "Pluto: execution role of SageMaker endpoint `{}`",
                                desired.logical
                            ),
                        )
                        .await?;
                    }
                    Some(live_role) if !role::diff(&desired.role, live_role).is_empty() => {
                        steps.start(Verb::Update, role::object(&desired.role.name));
                        role::update(aws, &desired.role, live_role).await?;
                    }
                    Some(_) => {}
                }
                if !model_exists {
                    steps.start(
                        Verb::Create,
                        SageMakerObject::Model.object(&desired.model_name),
                    );
                    sagemaker::create_model(aws, &desired, &self.wait).await?;
                }
                if !config_exists {
                    steps.start(
                        Verb::Create,
                        SageMakerObject::Config.object(&desired.config_name),
                    );
                    sagemaker::create_config(aws, &desired).await?;
                }
                let mut live = live;
                if live.as_ref().is_some_and(|live| live.status == "Failed") {
                    steps.start(
                        Verb::Delete,
                        format!("failed {}", SageMakerObject::Endpoint.object(&desired.name)),
                    );
                    sagemaker::delete(aws, SageMakerObject::Endpoint, &desired.name, &self.wait)
                        .await?;
                    live = None;
                }
                let endpoint_object = SageMakerObject::Endpoint.object(&desired.name);
                match &live {
                    None => steps.start(Verb::Create, endpoint_object),
                    Some(live) if live.config_name != desired.config_name => {
                        steps.start_detail(
                            Verb::Update,
                            endpoint_object,
                            format!(" to {}", desired.config_name),
                        );
                    }
                    Some(live) if live.status != "InService" => {
                        steps.start_detail(Verb::Wait, endpoint_object, " to be in service".into());
                    }
                    Some(_) => {}
                }
                sagemaker::create_or_update_endpoint(aws, &desired, live.as_ref()).await?;
                if live.as_ref().is_some_and(|live| live.tags != desired.tags) {
                    let arn = live
                        .as_ref()
                        .map(|live| live.arn.clone())
                        .unwrap_or_default();
                    sagemaker::retag_endpoint(aws, &desired, &arn).await?;
                }
                if live.as_ref().is_none_or(|live| {
                    live.status != "InService" || live.config_name != desired.config_name
                }) {
                    sagemaker::wait_in_service(
                        aws,
                        &desired,
                        steps.resource,
                        steps.progress,
                        &self.wait,
                    )
                    .await?;
                }
                // Old revisions go once the endpoint serves the new one: configs, then models.
                let mut stale = stale;
                stale.sort_by_key(|object| object.kind);
                for object in stale {
                    steps.start(
                        Verb::Delete,
                        format!("{} {}", object.kind.type_name(), object.name),
                    );
                    delete_object(aws, &object, &self.wait).await?;
                }
                Ok(UnitOutput::Endpoint(EndpointOutput {
                    name: desired.logical.clone(),
                    endpoint_name: desired.name.clone(),
                    model_name: desired.model_name.clone(),
                    config_name: desired.config_name.clone(),
                }))
            }
            Unit::Bucket { desired, live } => {
                match &live {
                    None => {
                        steps.start(Verb::Create, s3::object(&desired.name));
                        s3::create(aws, &desired).await?;
                    }
                    Some(live) if !s3::diff(&desired, live).is_empty() => {
                        steps.start(Verb::Update, s3::object(&desired.name));
                        s3::update(aws, &desired, live).await?;
                    }
                    Some(_) => {}
                }
                Ok(UnitOutput::Bucket(BucketOutput {
                    name: desired.logical.clone(),
                    bucket_name: desired.name.clone(),
                    versioning: desired.versioning,
                }))
            }
            Unit::Secret { desired, live } => {
                match &live {
                    None => {
                        steps.start(Verb::Create, secrets::object(&desired.name));
                        secrets::create(aws, &desired).await?;
                    }
                    Some(live) if !secrets::diff(&desired, live).is_empty() => {
                        let verb = if live.deleted {
                            Verb::Restore
                        } else {
                            Verb::Update
                        };
                        steps.start(verb, secrets::object(&desired.name));
                        secrets::update(aws, &desired, live).await?;
                    }
                    Some(_) => {}
                }
                Ok(UnitOutput::Secret(SecretOutput {
                    name: desired.logical.clone(),
                    secret_name: desired.name.clone(),
                    has_value: live.as_ref().is_some_and(|live| live.has_value),
                }))
            }
            Unit::Remove {
                resource,
                objects,
                held,
            } => {
                for object in objects {
                    let object_name = format!("{} {}", object.kind.type_name(), object.name);
                    match (object.kind, held.get(&object.name)) {
                        (ObjectKind::Bucket, Some(Held::Objects(contents))) => {
                            if contents.objects > 0 || contents.delete_markers > 0 {
                                // Consent was checked before the apply started.
                                let only_markers = contents.objects == 0 || !delete_data;
                                steps.start_detail(
                                    Verb::Delete,
                                    format!("every object version of {object_name}"),
                                    format!(" ({})", s3::describe_contents(contents)),
                                );
                                s3::empty(aws, &object.name, only_markers).await?;
                            }
                            steps.start(Verb::Delete, object_name);
                            s3::delete(aws, &object.name).await?;
                        }
                        (ObjectKind::Secret, _) => {
                            // Planned without a value: one set since is data too.
                            if !delete_data
                                && secrets::read(aws, &object.name)
                                    .await?
                                    .is_some_and(|live| live.has_value)
                            {
                                return Err(EngineError::FailedState {
                                    object: format!("{resource} ({object_name})"),
                                    reason: format!(
                                        "a value was set since the plan, so it was not \
                                         deleted; run `cargo pluto {operation}` again to see \
                                         it in the plan (and `--delete-data` to delete it)"
                                    ),
                                });
                            }
                            steps.start_detail(
                                Verb::Delete,
                                object_name,
                                format!(" (recoverable for {} days)", self.secret_recovery_days),
                            );
                            secrets::delete(aws, &object.name, self.secret_recovery_days).await?;
                        }
                        (ObjectKind::Table, None) if !delete_data => {
                            steps.start(Verb::Delete, object_name.clone());
                            // Empty when planned; items written since are data too.
                            if dynamodb::has_items(aws, &object.name).await? {
                                return Err(EngineError::FailedState {
                                    object: format!("{resource} ({object_name})"),
                                    reason: format!(
                                        "items were written to it since the plan, so it was \
                                         not deleted; run `cargo pluto {operation}` again to \
                                         see them in the plan (and `--delete-data` to delete \
                                         them)"
                                    ),
                                });
                            }
                            delete_object(aws, &object, &self.wait).await?;
                        }
                        _ => {
                            steps.start(Verb::Delete, object_name);
                            delete_object(aws, &object, &self.wait).await?;
                        }
                    }
                }
                Ok(UnitOutput::Removed)
            }
        }
    }
}

/// A failed read while planning: nothing was changed.
fn read_failed(error: EngineError) -> EngineError {
    match error {
        EngineError::Aws { .. } | EngineError::NoAnswer { .. } => EngineError::ReadFailed {
            error: Box::new(error),
        },
        other => other,
    }
}

/// What a step does to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Create,
    Update,
    Configure,
    Delete,
    Restore,
    Wait,
}

/// One step of applying a resource, e.g. creating IAM role `app-dev-chat-fn`.
#[derive(Debug, Clone)]
struct Step {
    verb: Verb,
    /// The object, as plans name it: `IAM role app-dev-chat-fn`.
    object: String,
    /// Said after the object, e.g. ` to app-dev-llama-config-1234abcd`.
    detail: String,
}

impl Step {
    /// `creating IAM role app-dev-chat-fn`.
    fn doing(&self) -> String {
        let verb = match self.verb {
            Verb::Create => "creating",
            Verb::Update => "updating",
            Verb::Configure => "configuring",
            Verb::Delete => "deleting",
            Verb::Restore => "restoring",
            Verb::Wait => "waiting for",
        };
        format!("{verb} {}{}", self.object, self.detail)
    }

    /// `created IAM role app-dev-chat-fn`.
    fn done(&self) -> String {
        let verb = match self.verb {
            Verb::Create => "created",
            Verb::Update => "updated",
            Verb::Configure => "configured",
            Verb::Delete => "deleted",
            Verb::Restore => "restored",
            Verb::Wait => "waited for",
        };
        format!("{verb} {}{}", self.object, self.detail)
    }
}

/// The steps of one resource's apply: reported as progress when they start (if the resource
/// changes at all), and remembered for the report of a failed apply.
struct Steps<'a> {
    resource: &'a str,
    progress: &'a dyn Progress,
    changed: bool,
    log: Mutex<StepLog>,
}

/// Steps finished, and the one under way.
#[derive(Debug, Default)]
struct StepLog {
    done: Vec<Step>,
    current: Option<Step>,
}

impl<'a> Steps<'a> {
    fn new(resource: &'a str, progress: &'a dyn Progress, changed: bool) -> Self {
        Self {
            resource,
            progress,
            changed,
            log: Mutex::default(),
        }
    }

    /// The previous step is done; `verb` `object` starts.
    fn start(&self, verb: Verb, object: String) {
        self.start_detail(verb, object, String::new());
    }

    fn start_detail(&self, verb: Verb, object: String, detail: String) {
        let step = Step {
            verb,
            object,
            detail,
        };
        if self.changed {
            self.progress
                .report(self.resource, Event::Step(step.doing()));
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = log.current.replace(step) {
            log.done.push(previous);
        }
    }

    /// The log once the resource ended: on success the last step is done too; on failure it is
    /// the one that failed.
    fn finish(self, succeeded: bool) -> StepLog {
        let mut log = self.log.into_inner().unwrap_or_else(|e| e.into_inner());
        if succeeded && let Some(last) = log.current.take() {
            log.done.push(last);
        }
        log
    }
}

/// Groups objects to delete by the declared resource they belong to, each group in deletion
/// order (functions and endpoints, then configs, models, tables, roles).
fn removals(objects: impl Iterator<Item = OwnedObject>) -> Vec<Unit> {
    let mut groups: BTreeMap<String, Vec<OwnedObject>> = BTreeMap::new();
    for object in objects {
        groups
            .entry(object.resource.clone())
            .or_default()
            .push(object);
    }
    groups
        .into_iter()
        .map(|(tag, mut objects)| {
            objects.sort();
            Unit::Remove {
                resource: label_of_tag(&tag),
                objects,
                held: BTreeMap::new(),
            }
        })
        .collect()
}

async fn delete_object(
    aws: &Aws,
    object: &OwnedObject,
    wait: &WaitPolicy,
) -> Result<(), EngineError> {
    match object.kind {
        ObjectKind::Function => lambda::delete(aws, &object.name).await,
        ObjectKind::Endpoint => {
            sagemaker::delete(aws, SageMakerObject::Endpoint, &object.name, wait).await
        }
        ObjectKind::EndpointConfig => {
            sagemaker::delete(aws, SageMakerObject::Config, &object.name, wait).await
        }
        ObjectKind::Model => {
            sagemaker::delete(aws, SageMakerObject::Model, &object.name, wait).await
        }
        ObjectKind::Table => dynamodb::delete(aws, &object.name).await,
        // Without its contents (see `Engine::apply_unit`).
        ObjectKind::Bucket => s3::delete(aws, &object.name).await,
        ObjectKind::Secret => {
            secrets::delete(aws, &object.name, secrets::DEFAULT_RECOVERY_WINDOW_DAYS).await
        }
        ObjectKind::Role => role::delete(aws, &object.name).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn steps_remember_what_was_done_and_where_it_stopped() {
        let steps = Steps::new("function chat", &Silent, true);
        steps.start(Verb::Create, "IAM role a-dev-chat-fn".to_owned());
        steps.start(Verb::Create, "Lambda function a-dev-chat".to_owned());
        let log = steps.finish(false);
        let done: Vec<String> = log.done.iter().map(Step::done).collect();
        assert_eq!(done, ["created IAM role a-dev-chat-fn"]);
        assert_eq!(
            log.current.as_ref().map(Step::doing).as_deref(),
            Some("creating Lambda function a-dev-chat")
        );

        let steps = Steps::new("SageMaker endpoint llama", &Silent, true);
        steps.start_detail(
            Verb::Update,
            "SageMaker endpoint a-dev-llama".to_owned(),
            " to a-dev-llama-config-2".to_owned(),
        );
        let log = steps.finish(true);
        let done: Vec<String> = log.done.iter().map(Step::done).collect();
        assert_eq!(
            done,
            ["updated SageMaker endpoint a-dev-llama to a-dev-llama-config-2"]
        );
        assert!(log.current.is_none());
    }

    #[test]
    fn removals_are_grouped_per_resource_in_deletion_order() {
        let object = |kind, name: &str, resource: &str| OwnedObject {
            kind,
            name: name.to_owned(),
            resource: resource.to_owned(),
        };
        let units = removals(
            vec![
                object(ObjectKind::Role, "a-dev-llama-sm", "sagemaker/llama"),
                object(ObjectKind::Model, "a-dev-llama-model-1", "sagemaker/llama"),
                object(ObjectKind::Endpoint, "a-dev-llama", "sagemaker/llama"),
                object(
                    ObjectKind::EndpointConfig,
                    "a-dev-llama-config-1",
                    "sagemaker/llama",
                ),
                object(ObjectKind::Role, "a-dev-chat-fn", "function/chat"),
                object(ObjectKind::Function, "a-dev-chat", "function/chat"),
            ]
            .into_iter(),
        );
        let plan: Vec<(String, String)> = units
            .iter()
            .flat_map(Unit::changes)
            .map(|change| (change.resource.clone(), change.object()))
            .collect();
        assert_eq!(
            plan,
            [
                ("function chat", "Lambda function a-dev-chat"),
                ("function chat", "IAM role a-dev-chat-fn"),
                ("SageMaker endpoint llama", "SageMaker endpoint a-dev-llama"),
                (
                    "SageMaker endpoint llama",
                    "SageMaker endpoint config a-dev-llama-config-1"
                ),
                (
                    "SageMaker endpoint llama",
                    "SageMaker model a-dev-llama-model-1"
                ),
                ("SageMaker endpoint llama", "IAM role a-dev-llama-sm"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }
}
