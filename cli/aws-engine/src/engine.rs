//! Deploy and destroy: read the live state of every object of the stack from AWS, compare it with
//! the desired state into a [`Plan`], then apply the plan — declared resources concurrently (up to
//! [`Engine::concurrency`] at a time), the objects of one resource in dependency order (role ->
//! function -> URL -> permissions; role -> model -> config -> endpoint). Unchanged resources are
//! not touched at all. A failure stops only its own resource; the others finish, and the error
//! says what failed.

use crate::connect::Aws;
use crate::desired::{DesiredEndpoint, DesiredFunction, DesiredStack, DesiredTable, owned_by};
use crate::dynamodb::{self, LiveTable};
use crate::error::EngineError;
use crate::inventory::{self, ObjectKind, OwnedObject};
use crate::lambda::{self, LiveFunction};
use crate::plan::{Action, Change, FieldChange, Plan};
use crate::progress::{Event, Progress};
use crate::role::{self, LiveRole};
use crate::sagemaker::{self, LiveEndpoint, SageMakerObject};
use crate::wait::WaitPolicy;
use futures_util::{FutureExt, StreamExt, TryStreamExt, stream};
use pluto_deducer::naming::StackNames;
use pluto_spec::ResourceKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Deploys and destroys stacks through one AWS connection.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The connection.
    pub aws: Aws,
    /// Polling and time limits.
    pub wait: WaitPolicy,
    /// Declared resources worked on at once (1 = one after the other).
    pub concurrency: usize,
}

/// What a deploy or destroy will do, with the live state it was computed from.
#[derive(Debug, Clone)]
pub struct PreparedChange {
    /// The plan, for showing.
    pub plan: Plan,
    units: Vec<Unit>,
    project: String,
    stack: String,
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
    Remove {
        resource: String,
        objects: Vec<OwnedObject>,
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

impl Unit {
    fn resource(&self) -> String {
        match self {
            Self::Function { desired, .. } => label(ResourceKind::Function, &desired.logical),
            Self::Table { desired, .. } => label(ResourceKind::KvStore, &desired.logical),
            Self::Endpoint { desired, .. } => label(ResourceKind::Sagemaker, &desired.logical),
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
            Self::Remove { objects, .. } => {
                for object in objects {
                    changes.push(change(
                        &resource,
                        object.kind.type_name(),
                        &object.name,
                        Action::Delete,
                    ));
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
    /// An engine on `aws` with default waits and 8 resources at a time.
    pub fn new(aws: Aws) -> Self {
        Self {
            aws,
            wait: WaitPolicy::default(),
            concurrency: 8,
        }
    }

    /// Reads the live state and plans the deploy of `desired`: creates, updates, and deletes of
    /// objects of the stack that are no longer declared.
    pub async fn plan_deploy(&self, desired: DesiredStack) -> Result<PreparedChange, EngineError> {
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
            );
        let read: Vec<Unit> = stream::iter(reads)
            .buffered(self.concurrency.max(1))
            .try_collect()
            .await?;

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
                Unit::Remove { .. } => {}
            }
        }
        units.extend(read);
        units.extend(removals(owned.into_iter().filter(|object| {
            !kept.contains(&(object.kind, object.name.clone()))
        })));
        Ok(self.prepared(units, &names))
    }

    /// Finds every object of the stack (by tags, without local state) and plans their deletion.
    pub async fn plan_destroy(&self, names: &StackNames) -> Result<PreparedChange, EngineError> {
        let owned = inventory::discover(&self.aws, names).await?;
        Ok(self.prepared(removals(owned.into_iter()), names))
    }

    fn prepared(&self, units: Vec<Unit>, names: &StackNames) -> PreparedChange {
        let changes = units.iter().flat_map(Unit::changes).collect();
        PreparedChange {
            plan: Plan { changes },
            units,
            project: names.project().to_owned(),
            stack: names.stack().to_owned(),
        }
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

    /// Applies a prepared change. Resources whose objects are all unchanged are not touched.
    pub async fn apply(
        &self,
        prepared: PreparedChange,
        progress: &dyn Progress,
    ) -> Result<Outputs, EngineError> {
        let total = prepared.units.len();
        let results: Vec<Result<UnitOutput, EngineError>> = stream::iter(prepared.units)
            .map(|unit| async move {
                let resource = unit.resource();
                let changed = unit
                    .changes()
                    .iter()
                    .any(|change| change.action != Action::Unchanged);
                let result = self.apply_unit(unit, &resource, changed, progress).await;
                match &result {
                    Ok(_) if !changed => {}
                    Ok(_) => progress.report(&resource, Event::Done),
                    Err(error) => progress.report(&resource, Event::Failed(error.to_string())),
                }
                result
            })
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;

        let mut outputs = Outputs {
            project: prepared.project,
            stack: prepared.stack,
            region: self.aws.target.region().to_owned(),
            account: self.aws.target.account().to_owned(),
            ..Outputs::default()
        };
        let mut errors = Vec::new();
        for result in results {
            match result {
                Ok(UnitOutput::Function(function)) => outputs.functions.push(function),
                Ok(UnitOutput::Endpoint(endpoint)) => outputs.endpoints.push(endpoint),
                Ok(UnitOutput::Table(table)) => outputs.tables.push(table),
                Ok(UnitOutput::Removed) => {}
                Err(error) => errors.push(error),
            }
        }
        if !errors.is_empty() {
            return Err(EngineError::Partial {
                failed: errors.len(),
                total,
                errors,
            });
        }
        outputs.functions.sort_by(|a, b| a.name.cmp(&b.name));
        outputs.endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        outputs.tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(outputs)
    }

    async fn apply_unit(
        &self,
        unit: Unit,
        resource: &str,
        changed: bool,
        progress: &dyn Progress,
    ) -> Result<UnitOutput, EngineError> {
        let aws = &self.aws;
        let step = |text: String| {
            if changed {
                progress.report(resource, Event::Step(text));
            }
        };
        match unit {
            Unit::Function {
                desired,
                role,
                live,
            } => {
                match &role {
                    None => {
                        step(format!("creating {}", role::object(&desired.role.name)));
                        role::create(
                            aws,
                            &desired.role,
                            &format!("Pluto: execution role of function `{}`", desired.logical),
                        )
                        .await?;
                    }
                    Some(live_role) if !role::diff(&desired.role, live_role).is_empty() => {
                        step(format!("updating {}", role::object(&desired.role.name)));
                        role::update(aws, &desired.role, live_role).await?;
                    }
                    Some(_) => {}
                }
                let diff = live.as_ref().map(|live| lambda::diff(&desired, live));
                match (&live, &diff) {
                    (Some(live), Some(diff)) => {
                        if !diff.code.is_empty()
                            || !diff.configuration.is_empty()
                            || diff.tags.is_some()
                        {
                            step(format!("updating {}", lambda::object(&desired.name)));
                            // An earlier, interrupted run may have left an update in progress.
                            lambda::wait_ready(aws, &desired.name, &self.wait).await?;
                            lambda::update(aws, &desired, diff, live, &self.wait).await?;
                        }
                    }
                    _ => {
                        step(format!("creating {}", lambda::object(&desired.name)));
                        lambda::create(aws, &desired, &self.wait).await?;
                    }
                }
                let url_unchanged = diff.as_ref().is_some_and(|diff| diff.url.is_empty());
                let url = if url_unchanged {
                    live.as_ref()
                        .and_then(|live| live.url.as_ref().map(|url| url.url.clone()))
                } else {
                    step(format!("configuring {}", lambda::url_object(&desired.name)));
                    lambda::converge_url(aws, &desired, live.as_deref()).await?
                };
                Ok(UnitOutput::Function(FunctionOutput {
                    name: desired.logical.clone(),
                    function_name: desired.name.clone(),
                    url,
                    url_auth: match &desired.url {
                        None => "none",
                        Some(url) if url.public => "public",
                        Some(_) => "iam",
                    }
                    .to_owned(),
                    role: desired.role.name.clone(),
                }))
            }
            Unit::Table { desired, live } => {
                match &live {
                    None => {
                        step(format!("creating {}", dynamodb::object(&desired.name)));
                        dynamodb::create(aws, &desired, &self.wait).await?;
                    }
                    Some(live) if !dynamodb::diff(&desired, live)?.is_empty() => {
                        step(format!("updating {}", dynamodb::object(&desired.name)));
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
                        step(format!("creating {}", role::object(&desired.role.name)));
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
                        step(format!("updating {}", role::object(&desired.role.name)));
                        role::update(aws, &desired.role, live_role).await?;
                    }
                    Some(_) => {}
                }
                if !model_exists {
                    step(format!(
                        "creating {}",
                        SageMakerObject::Model.object(&desired.model_name)
                    ));
                    sagemaker::create_model(aws, &desired, &self.wait).await?;
                }
                if !config_exists {
                    step(format!(
                        "creating {}",
                        SageMakerObject::Config.object(&desired.config_name)
                    ));
                    sagemaker::create_config(aws, &desired).await?;
                }
                let mut live = live;
                if live.as_ref().is_some_and(|live| live.status == "Failed") {
                    step(format!(
                        "deleting failed {}",
                        SageMakerObject::Endpoint.object(&desired.name)
                    ));
                    sagemaker::delete(aws, SageMakerObject::Endpoint, &desired.name, &self.wait)
                        .await?;
                    live = None;
                }
                let endpoint_object = SageMakerObject::Endpoint.object(&desired.name);
                match &live {
                    None => step(format!("creating {endpoint_object}")),
                    Some(live) if live.config_name != desired.config_name => {
                        step(format!(
                            "updating {endpoint_object} to {}",
                            desired.config_name
                        ));
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
                    sagemaker::wait_in_service(aws, &desired, resource, progress, &self.wait)
                        .await?;
                }
                // Old revisions go once the endpoint serves the new one: configs, then models.
                let mut stale = stale;
                stale.sort_by_key(|object| object.kind);
                for object in stale {
                    step(format!(
                        "deleting {} {}",
                        object.kind.type_name(),
                        object.name
                    ));
                    delete_object(aws, &object, &self.wait).await?;
                }
                Ok(UnitOutput::Endpoint(EndpointOutput {
                    name: desired.logical.clone(),
                    endpoint_name: desired.name.clone(),
                    model_name: desired.model_name.clone(),
                    config_name: desired.config_name.clone(),
                }))
            }
            Unit::Remove { objects, .. } => {
                for object in objects {
                    step(format!(
                        "deleting {} {}",
                        object.kind.type_name(),
                        object.name
                    ));
                    delete_object(aws, &object, &self.wait).await?;
                }
                Ok(UnitOutput::Removed)
            }
        }
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
        ObjectKind::Role => role::delete(aws, &object.name).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
