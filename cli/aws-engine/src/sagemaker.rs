//! SageMaker: a model (image + environment + execution role), an endpoint configuration (instances
//! or serverless) and the endpoint. Models and configurations cannot be changed in AWS, so their
//! names carry a revision hash of their content: a change creates new ones, the endpoint is pointed
//! at them, and the old ones are deleted once it is in service again.

use crate::connect::Aws;
use crate::desired::{DesiredEndpoint, VARIANT_NAME, check_same_stack};
use crate::error::{EngineError, aws_error, found};
use crate::progress::{Event, Progress};
use crate::wait::{WaitPolicy, retry_while};
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{
    ContainerDefinition, EndpointStatus, ProductionVariant, ProductionVariantInstanceType,
    ProductionVariantServerlessConfig, Tag,
};
use pluto_spec::Hosting;
use std::collections::BTreeMap;
use std::time::Instant;

/// An endpoint as SageMaker reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveEndpoint {
    /// ARN.
    pub arn: String,
    /// Status, e.g. `InService`.
    pub status: String,
    /// Name of its configuration.
    pub config_name: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// The kinds of SageMaker object the engine manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SageMakerObject {
    /// An endpoint.
    Endpoint,
    /// An endpoint configuration.
    Config,
    /// A model.
    Model,
}

impl SageMakerObject {
    /// What plans call it.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Self::Endpoint => "SageMaker endpoint",
            Self::Config => "SageMaker endpoint config",
            Self::Model => "SageMaker model",
        }
    }

    /// `SageMaker model NAME`.
    pub(crate) fn object(self, name: &str) -> String {
        format!("{} {name}", self.type_name())
    }
}

/// SageMaker answers a missing object with a `ValidationException` saying "Could not find".
fn not_found<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("ValidationException")
        && error
            .message()
            .is_some_and(|message| message.contains("Could not find"))
}

/// Reads the endpoint, or `None`.
pub(crate) async fn read_endpoint(
    aws: &Aws,
    name: &str,
) -> Result<Option<LiveEndpoint>, EngineError> {
    let object = SageMakerObject::Endpoint.object(name);
    let result = aws
        .sagemaker
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await;
    let Some(output) = found(
        "sagemaker:DescribeEndpoint",
        object.clone(),
        result,
        not_found,
    )?
    else {
        return Ok(None);
    };
    let arn = output.endpoint_arn().unwrap_or_default().to_owned();
    Ok(Some(LiveEndpoint {
        status: output
            .endpoint_status()
            .map(|status| status.as_str().to_owned())
            .unwrap_or_default(),
        config_name: output.endpoint_config_name().unwrap_or_default().to_owned(),
        tags: read_tags(aws, &object, &arn).await?,
        arn,
    }))
}

/// Tags of the model or configuration `name`, or `None` when it does not exist.
pub(crate) async fn read_object_tags(
    aws: &Aws,
    kind: SageMakerObject,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, EngineError> {
    let object = kind.object(name);
    let arn = match kind {
        SageMakerObject::Model => {
            let result = aws.sagemaker.describe_model().model_name(name).send().await;
            found("sagemaker:DescribeModel", object.clone(), result, not_found)?
                .map(|output| output.model_arn().unwrap_or_default().to_owned())
        }
        SageMakerObject::Config => {
            let result = aws
                .sagemaker
                .describe_endpoint_config()
                .endpoint_config_name(name)
                .send()
                .await;
            found(
                "sagemaker:DescribeEndpointConfig",
                object.clone(),
                result,
                not_found,
            )?
            .map(|output| output.endpoint_config_arn().unwrap_or_default().to_owned())
        }
        SageMakerObject::Endpoint => {
            return Ok(read_endpoint(aws, name)
                .await?
                .map(|endpoint| endpoint.tags));
        }
    };
    match arn {
        Some(arn) => read_tags(aws, &object, &arn).await.map(Some),
        None => Ok(None),
    }
}

/// Tags of the object with this ARN.
pub(crate) async fn read_tags(
    aws: &Aws,
    object: &str,
    arn: &str,
) -> Result<BTreeMap<String, String>, EngineError> {
    let mut tags = BTreeMap::new();
    let mut next = None;
    loop {
        let page = aws
            .sagemaker
            .list_tags()
            .resource_arn(arn)
            .set_next_token(next)
            .send()
            .await
            .map_err(|error| aws_error("sagemaker:ListTags", object, error))?;
        tags.extend(
            page.tags()
                .iter()
                .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned()))),
        );
        match page.next_token {
            Some(token) => next = Some(token),
            None => return Ok(tags),
        }
    }
}

fn tags(endpoint: &DesiredEndpoint) -> Vec<Tag> {
    endpoint
        .tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// Replaces the endpoint's tags with the desired ones.
pub(crate) async fn retag_endpoint(
    aws: &Aws,
    endpoint: &DesiredEndpoint,
    arn: &str,
) -> Result<(), EngineError> {
    aws.sagemaker
        .add_tags()
        .resource_arn(arn)
        .set_tags(Some(tags(endpoint)))
        .send()
        .await
        .map_err(|error| {
            aws_error(
                "sagemaker:AddTags",
                SageMakerObject::Endpoint.object(&endpoint.name),
                error,
            )
        })?;
    Ok(())
}

/// Whether SageMaker could not (yet) assume a new execution role.
fn role_not_ready<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("ValidationException")
        && error.message().is_some_and(|message| {
            message.contains("assume role") || message.contains("AssumeRole")
        })
}

/// The container's secret env values, to keep out of error messages.
fn secrets(endpoint: &DesiredEndpoint) -> impl Iterator<Item = &str> {
    endpoint
        .env
        .values()
        .filter(|entry| entry.secret)
        .map(|entry| entry.value.as_str())
}

/// SageMaker's answer to creating what exists: `Cannot create already existing model "ARN".`
fn already_exists<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("ValidationException")
        && error
            .message()
            .is_some_and(|message| message.contains("already existing"))
}

/// Accepts a model or configuration `name` that SageMaker says exists already when creating it,
/// if it is the stack's: its name carries a hash of its content, so it is the desired one
/// (typically created by an earlier attempt whose answer was lost).
async fn adopt(
    aws: &Aws,
    kind: SageMakerObject,
    name: &str,
    endpoint: &DesiredEndpoint,
) -> Result<bool, EngineError> {
    match read_object_tags(aws, kind, name).await? {
        Some(tags) => {
            check_same_stack(kind.object(name), &endpoint.tags, &tags)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Creates the model (retrying while its new role propagates).
pub(crate) async fn create_model(
    aws: &Aws,
    endpoint: &DesiredEndpoint,
    wait: &WaitPolicy,
) -> Result<(), EngineError> {
    let object = SageMakerObject::Model.object(&endpoint.model_name);
    let container = ContainerDefinition::builder()
        .image(&endpoint.image)
        .set_environment(Some(
            endpoint
                .env
                .iter()
                .map(|(key, entry)| (key.clone(), entry.value.clone()))
                .collect(),
        ))
        .build();
    let result = retry_while(
        wait.role_propagation,
        wait.role_retry_interval,
        || {
            aws.sagemaker
                .create_model()
                .model_name(&endpoint.model_name)
                .execution_role_arn(&endpoint.role.arn)
                .primary_container(container.clone())
                .set_tags(Some(tags(endpoint)))
                .send()
        },
        |error| error.as_service_error().is_some_and(role_not_ready),
    )
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(error)
            if error.as_service_error().is_some_and(already_exists)
                && adopt(aws, SageMakerObject::Model, &endpoint.model_name, endpoint).await? =>
        {
            Ok(())
        }
        Err(error) => {
            Err(aws_error("sagemaker:CreateModel", object, error)
                .without_secrets(secrets(endpoint)))
        }
    }
}

/// Creates the endpoint configuration.
pub(crate) async fn create_config(
    aws: &Aws,
    endpoint: &DesiredEndpoint,
) -> Result<(), EngineError> {
    let object = SageMakerObject::Config.object(&endpoint.config_name);
    let variant = ProductionVariant::builder()
        .variant_name(VARIANT_NAME)
        .model_name(&endpoint.model_name);
    let variant = match &endpoint.hosting {
        Hosting::Instances {
            instance_type,
            initial_instance_count,
        } => variant
            .instance_type(ProductionVariantInstanceType::from(instance_type.as_str()))
            .initial_instance_count(i32::try_from(*initial_instance_count).unwrap_or(1))
            .initial_variant_weight(1.0),
        Hosting::Serverless {
            memory_mb,
            max_concurrency,
        } => variant.serverless_config(
            ProductionVariantServerlessConfig::builder()
                .memory_size_in_mb(i32::try_from(*memory_mb).unwrap_or(1024))
                .max_concurrency(i32::try_from(*max_concurrency).unwrap_or(1))
                .build(),
        ),
    };
    let variant = variant.build();
    let result = aws
        .sagemaker
        .create_endpoint_config()
        .endpoint_config_name(&endpoint.config_name)
        .production_variants(variant)
        .set_tags(Some(tags(endpoint)))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error)
            if error.as_service_error().is_some_and(already_exists)
                && adopt(
                    aws,
                    SageMakerObject::Config,
                    &endpoint.config_name,
                    endpoint,
                )
                .await? =>
        {
            Ok(())
        }
        Err(error) => Err(aws_error("sagemaker:CreateEndpointConfig", object, error)),
    }
}

/// Creates the endpoint, or points an existing one at the desired configuration.
pub(crate) async fn create_or_update_endpoint(
    aws: &Aws,
    endpoint: &DesiredEndpoint,
    live: Option<&LiveEndpoint>,
) -> Result<(), EngineError> {
    let object = SageMakerObject::Endpoint.object(&endpoint.name);
    match live {
        None => {
            let result = aws
                .sagemaker
                .create_endpoint()
                .endpoint_name(&endpoint.name)
                .endpoint_config_name(&endpoint.config_name)
                .set_tags(Some(tags(endpoint)))
                .send()
                .await;
            match result {
                Ok(_) => {}
                // Created by an earlier attempt whose answer was lost: make it right.
                Err(error) if error.as_service_error().is_some_and(already_exists) => {
                    let Some(live) = read_endpoint(aws, &endpoint.name).await? else {
                        return Err(aws_error("sagemaker:CreateEndpoint", object, error));
                    };
                    check_same_stack(object, &endpoint.tags, &live.tags)?;
                    Box::pin(create_or_update_endpoint(aws, endpoint, Some(&live))).await?;
                    if live.tags != endpoint.tags {
                        retag_endpoint(aws, endpoint, &live.arn).await?;
                    }
                }
                Err(error) => return Err(aws_error("sagemaker:CreateEndpoint", object, error)),
            }
        }
        Some(live) if live.config_name != endpoint.config_name => {
            aws.sagemaker
                .update_endpoint()
                .endpoint_name(&endpoint.name)
                .endpoint_config_name(&endpoint.config_name)
                .send()
                .await
                .map_err(|error| aws_error("sagemaker:UpdateEndpoint", object, error))?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Waits until the endpoint is in service, reporting its status as it goes.
pub(crate) async fn wait_in_service(
    aws: &Aws,
    endpoint: &DesiredEndpoint,
    resource: &str,
    progress: &dyn Progress,
    wait: &WaitPolicy,
) -> Result<(), EngineError> {
    let object = SageMakerObject::Endpoint.object(&endpoint.name);
    let started = Instant::now();
    let mut polls = crate::wait::Polls::new(wait);
    let mut last_report: Option<Instant> = None;
    loop {
        let output = aws
            .sagemaker
            .describe_endpoint()
            .endpoint_name(&endpoint.name)
            .send()
            .await
            .map_err(|error| aws_error("sagemaker:DescribeEndpoint", object.clone(), error))?;
        let status = output.endpoint_status().cloned();
        let reason = || {
            output
                .failure_reason()
                .unwrap_or("no reason given")
                .to_owned()
        };
        match status {
            // After a failed update SageMaker rolls back: in service, but on the old config.
            Some(EndpointStatus::InService)
                if output.endpoint_config_name() == Some(endpoint.config_name.as_str()) =>
            {
                return Ok(());
            }
            Some(EndpointStatus::InService) => {
                return Err(EngineError::FailedState {
                    object,
                    reason: format!(
                        "the update to {} was rolled back ({}); the endpoint still serves {}",
                        endpoint.config_name,
                        reason(),
                        output.endpoint_config_name().unwrap_or("another config")
                    ),
                });
            }
            Some(
                EndpointStatus::Failed
                | EndpointStatus::UpdateRollbackFailed
                | EndpointStatus::OutOfService,
            ) => {
                return Err(EngineError::FailedState {
                    object,
                    reason: format!(
                        "{} ({})",
                        status.as_ref().map_or("unknown", |status| status.as_str()),
                        reason()
                    ),
                });
            }
            _ => {}
        }
        let status_text = status.map_or("unknown".to_owned(), |status| status.as_str().to_owned());
        if started.elapsed() > wait.endpoint_timeout {
            return Err(EngineError::Timeout {
                object,
                state: "InService",
                waited_s: started.elapsed().as_secs(),
                last: status_text,
            });
        }
        if last_report.is_none_or(|at| at.elapsed() >= wait.endpoint_report_interval) {
            progress.report(
                resource,
                Event::Waiting {
                    object: object.clone(),
                    status: status_text,
                    elapsed: started.elapsed(),
                },
            );
            last_report = Some(Instant::now());
        }
        polls.pause().await;
    }
}

/// Deletes one object; missing is fine. Deleting an endpoint waits until it is gone, since its
/// configuration cannot be deleted while it still uses it.
pub(crate) async fn delete(
    aws: &Aws,
    kind: SageMakerObject,
    name: &str,
    wait: &WaitPolicy,
) -> Result<(), EngineError> {
    let object = kind.object(name);
    match kind {
        SageMakerObject::Endpoint => {
            let result = aws
                .sagemaker
                .delete_endpoint()
                .endpoint_name(name)
                .send()
                .await;
            found(
                "sagemaker:DeleteEndpoint",
                object.clone(),
                result,
                not_found,
            )?;
        }
        SageMakerObject::Config => {
            let result = aws
                .sagemaker
                .delete_endpoint_config()
                .endpoint_config_name(name)
                .send()
                .await;
            found(
                "sagemaker:DeleteEndpointConfig",
                object.clone(),
                result,
                not_found,
            )?;
        }
        SageMakerObject::Model => {
            let result = aws.sagemaker.delete_model().model_name(name).send().await;
            found("sagemaker:DeleteModel", object.clone(), result, not_found)?;
        }
    }
    if kind == SageMakerObject::Endpoint {
        let started = Instant::now();
        let mut polls = crate::wait::Polls::new(wait);
        while let Some(live) = read_endpoint(aws, name).await? {
            if started.elapsed() > wait.endpoint_timeout {
                return Err(EngineError::Timeout {
                    object,
                    state: "deleted",
                    waited_s: started.elapsed().as_secs(),
                    last: live.status,
                });
            }
            polls.pause().await;
        }
    }
    Ok(())
}

/// Names and ARNs of every object of `kind` whose name starts with `prefix`.
pub(crate) async fn list_candidates(
    aws: &Aws,
    kind: SageMakerObject,
    prefix: &str,
) -> Result<Vec<(String, String)>, EngineError> {
    let mut found = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let (page, token): (Vec<(String, String)>, Option<String>) = match kind {
            SageMakerObject::Endpoint => {
                let output = aws
                    .sagemaker
                    .list_endpoints()
                    .name_contains(prefix)
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|error| {
                        aws_error("sagemaker:ListEndpoints", "SageMaker endpoints", error)
                    })?;
                (
                    output
                        .endpoints()
                        .iter()
                        .filter_map(|e| {
                            Some((e.endpoint_name()?.to_owned(), e.endpoint_arn()?.to_owned()))
                        })
                        .collect(),
                    output.next_token,
                )
            }
            SageMakerObject::Config => {
                let output = aws
                    .sagemaker
                    .list_endpoint_configs()
                    .name_contains(prefix)
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|error| {
                        aws_error(
                            "sagemaker:ListEndpointConfigs",
                            "SageMaker endpoint configs",
                            error,
                        )
                    })?;
                (
                    output
                        .endpoint_configs()
                        .iter()
                        .filter_map(|c| {
                            Some((
                                c.endpoint_config_name()?.to_owned(),
                                c.endpoint_config_arn()?.to_owned(),
                            ))
                        })
                        .collect(),
                    output.next_token,
                )
            }
            SageMakerObject::Model => {
                let output = aws
                    .sagemaker
                    .list_models()
                    .name_contains(prefix)
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|error| {
                        aws_error("sagemaker:ListModels", "SageMaker models", error)
                    })?;
                (
                    output
                        .models()
                        .iter()
                        .filter_map(|m| {
                            Some((m.model_name()?.to_owned(), m.model_arn()?.to_owned()))
                        })
                        .collect(),
                    output.next_token,
                )
            }
        };
        found.extend(
            page.into_iter()
                .filter(|(name, _)| name.starts_with(prefix)),
        );
        match token {
            Some(token) => next = Some(token),
            None => return Ok(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creating_what_exists_is_recognised() {
        let error = |message: &str| {
            aws_smithy_types::error::ErrorMetadata::builder()
                .code("ValidationException")
                .message(message)
                .build()
        };
        assert!(already_exists(&error(
            "Cannot create already existing model \"arn:aws:sagemaker:us-east-1:1:model/m\"."
        )));
        assert!(already_exists(&error(
            "Cannot create already existing endpoint configuration \"arn:x\"."
        )));
        assert!(!already_exists(&error("Could not find model \"arn:x\".")));
    }
}
