//! S3: the bucket of a declared `Bucket` — private (all four Block Public Access settings on,
//! objects owned by the bucket owner so ACLs play no part), encrypted at rest with SSE-S3
//! (AES256), versioned when declared (and suspended when no longer declared), tagged like every
//! object Pluto creates. Bucket names are global, so they hash the account and region
//! ([`pluto_model::naming::StackNames::bucket`]).
//!
//! The tags are given at creation (`CreateBucketConfiguration.Tags`), so a bucket is never left
//! untagged (unfindable by `destroy`, refused as someone else's by the next deploy) by a run that
//! stops right after creating it. The other settings are converged afterwards, each with its own
//! call, and only when they differ.
//!
//! A bucket holding objects is data: deleting it needs the user's consent (`--delete-data`),
//! after which it is emptied (every version and delete marker, in batches of 1000) and deleted.

use crate::connect::Aws;
use crate::desired::{DesiredBucket, check_same_stack};
use crate::error::{EngineError, aws_error, found};
use crate::plan::{FieldChange, tag_change};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    VersioningConfiguration,
};
use std::collections::BTreeMap;

/// The object ownership of every bucket: ACLs are disabled, the bucket owner owns every object.
pub(crate) const OWNERSHIP: &str = "BucketOwnerEnforced";
/// The default encryption of every bucket: SSE-S3.
pub(crate) const ENCRYPTION: &str = "AES256";
/// Most keys one `DeleteObjects` call deletes (S3's limit).
const DELETE_BATCH: usize = 1000;

/// A bucket as S3 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveBucket {
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Block Public Access: `BlockPublicAcls`, `IgnorePublicAcls`, `BlockPublicPolicy`,
    /// `RestrictPublicBuckets`; `None` when the bucket has no configuration.
    pub public_access_block: Option<[bool; 4]>,
    /// Object ownership rule, e.g. `BucketOwnerEnforced`.
    pub ownership: Option<String>,
    /// Default encryption algorithm, e.g. `AES256`.
    pub encryption: Option<String>,
    /// `Enabled`, `Suspended`, or `None` when versioning was never enabled.
    pub versioning: Option<String>,
}

/// What a bucket holds: every object version (all versions when it is or was versioned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Contents {
    /// Object versions (the current object of an unversioned bucket counts once).
    pub objects: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Delete markers (no data, but they keep a bucket from being deleted).
    pub delete_markers: u64,
}

/// `S3 bucket NAME`.
pub(crate) fn object(name: &str) -> String {
    format!("S3 bucket {name}")
}

fn code_is<E: ProvideErrorMetadata>(codes: &'static [&'static str]) -> impl Fn(&E) -> bool {
    move |error: &E| error.code().is_some_and(|code| codes.contains(&code))
}

/// Reads the bucket, or `None` when it does not exist. A bucket with this name in another account
/// (S3 names are global) is refused as not the stack's.
///
/// Existence is read with `GetBucketTagging` for the expected owner (this account), not
/// `HeadBucket`: its error answers have a body, so a failure names its cause.
pub(crate) async fn read(aws: &Aws, name: &str) -> Result<Option<LiveBucket>, EngineError> {
    let result = aws
        .s3
        .get_bucket_tagging()
        .bucket(name)
        .expected_bucket_owner(aws.target.account())
        .send()
        .await;
    let tags = match result {
        Ok(output) => tag_map(output.tag_set()),
        Err(error) => {
            let code = error
                .as_service_error()
                .and_then(ProvideErrorMetadata::code)
                .map(str::to_owned);
            let status = error.raw_response().map(|raw| raw.status().as_u16());
            match (code.as_deref(), status) {
                (Some("NoSuchBucket"), _) => return Ok(None),
                (Some("NoSuchTagSet" | "NoSuchTagSetError"), _) => BTreeMap::new(),
                (_, Some(403)) => {
                    return Err(EngineError::BucketNameTaken {
                        name: name.to_owned(),
                        message: crate::error::describe(&error),
                    });
                }
                _ => return Err(aws_error("s3:GetBucketTagging", object(name), error)),
            }
        }
    };
    let (public_access_block, ownership, encryption, versioning) = tokio::try_join!(
        read_public_access_block(aws, name),
        read_ownership(aws, name),
        read_encryption(aws, name),
        read_versioning(aws, name),
    )?;
    Ok(Some(LiveBucket {
        tags,
        public_access_block,
        ownership,
        encryption,
        versioning,
    }))
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
        .collect()
}

/// The bucket's tags (none when it has no tag set).
pub(crate) async fn read_tags(
    aws: &Aws,
    name: &str,
) -> Result<BTreeMap<String, String>, EngineError> {
    let result = aws.s3.get_bucket_tagging().bucket(name).send().await;
    let output = found(
        "s3:GetBucketTagging",
        object(name),
        result,
        code_is(&["NoSuchTagSet", "NoSuchTagSetError"]),
    )?;
    Ok(output
        .map(|output| tag_map(output.tag_set()))
        .unwrap_or_default())
}

async fn read_public_access_block(aws: &Aws, name: &str) -> Result<Option<[bool; 4]>, EngineError> {
    let result = aws.s3.get_public_access_block().bucket(name).send().await;
    let output = found(
        "s3:GetPublicAccessBlock",
        object(name),
        result,
        code_is(&["NoSuchPublicAccessBlockConfiguration"]),
    )?;
    Ok(output
        .and_then(|output| output.public_access_block_configuration)
        .map(|config| {
            [
                config.block_public_acls.unwrap_or(false),
                config.ignore_public_acls.unwrap_or(false),
                config.block_public_policy.unwrap_or(false),
                config.restrict_public_buckets.unwrap_or(false),
            ]
        }))
}

async fn read_ownership(aws: &Aws, name: &str) -> Result<Option<String>, EngineError> {
    let result = aws
        .s3
        .get_bucket_ownership_controls()
        .bucket(name)
        .send()
        .await;
    let output = found(
        "s3:GetBucketOwnershipControls",
        object(name),
        result,
        code_is(&["OwnershipControlsNotFoundError"]),
    )?;
    Ok(output
        .and_then(|output| output.ownership_controls)
        .and_then(|controls| {
            controls
                .rules()
                .first()
                .map(|rule| rule.object_ownership().as_str().to_owned())
        }))
}

async fn read_encryption(aws: &Aws, name: &str) -> Result<Option<String>, EngineError> {
    let result = aws.s3.get_bucket_encryption().bucket(name).send().await;
    let output = found(
        "s3:GetBucketEncryption",
        object(name),
        result,
        code_is(&["ServerSideEncryptionConfigurationNotFoundError"]),
    )?;
    Ok(output
        .and_then(|output| output.server_side_encryption_configuration)
        .and_then(|config| {
            config
                .rules()
                .first()
                .and_then(|rule| rule.apply_server_side_encryption_by_default())
                .map(|default| default.sse_algorithm().as_str().to_owned())
        }))
}

async fn read_versioning(aws: &Aws, name: &str) -> Result<Option<String>, EngineError> {
    let output = aws
        .s3
        .get_bucket_versioning()
        .bucket(name)
        .send()
        .await
        .map_err(|error| aws_error("s3:GetBucketVersioning", object(name), error))?;
    Ok(output.status().map(|status| status.as_str().to_owned()))
}

/// The versioning status a bucket should have: `Enabled` when declared; `Suspended` once it was
/// enabled and no longer is declared (S3 cannot turn versioning off); unset otherwise.
fn desired_versioning(desired: &DesiredBucket, live: Option<&str>) -> Option<&'static str> {
    match (desired.versioning, live) {
        (true, _) => Some("Enabled"),
        (false, Some("Enabled" | "Suspended")) => Some("Suspended"),
        (false, _) => None,
    }
}

fn show_block(block: Option<[bool; 4]>) -> String {
    match block {
        None => "(none)".to_owned(),
        Some([acls, ignore, policy, restrict]) => format!(
            "BlockPublicAcls={acls}, IgnorePublicAcls={ignore}, BlockPublicPolicy={policy}, \
             RestrictPublicBuckets={restrict}"
        ),
    }
}

fn show(value: Option<&str>) -> String {
    value.unwrap_or("(none)").to_owned()
}

/// Compares a bucket with what S3 reports.
pub(crate) fn diff(desired: &DesiredBucket, live: &LiveBucket) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    if live.public_access_block != Some([true; 4]) {
        changes.push(FieldChange::new(
            "public_access_block",
            show_block(live.public_access_block),
            show_block(Some([true; 4])),
        ));
    }
    if live.ownership.as_deref() != Some(OWNERSHIP) {
        changes.push(FieldChange::new(
            "object_ownership",
            show(live.ownership.as_deref()),
            OWNERSHIP,
        ));
    }
    if live.encryption.as_deref() != Some(ENCRYPTION) {
        changes.push(FieldChange::new(
            "encryption",
            show(live.encryption.as_deref()),
            ENCRYPTION,
        ));
    }
    let versioning = desired_versioning(desired, live.versioning.as_deref());
    if versioning != live.versioning.as_deref() {
        changes.push(FieldChange::new(
            "versioning",
            show(live.versioning.as_deref()),
            show(versioning),
        ));
    }
    changes.extend(tag_change(&desired.tags, &live.tags));
    changes
}

fn tags(bucket: &DesiredBucket) -> Vec<Tag> {
    bucket
        .tags
        .iter()
        .filter_map(|(key, value)| Tag::builder().key(key).value(value).build().ok())
        .collect()
}

fn build_error(
    operation: &'static str,
    name: &str,
) -> impl Fn(aws_sdk_s3::error::BuildError) -> EngineError {
    let object = object(name);
    move |error| EngineError::Aws {
        operation,
        object: object.clone(),
        message: error.to_string(),
    }
}

/// Creates the bucket, tagged, then converges its settings. If it exists already (an earlier
/// attempt created it and its answer was lost) and is the stack's, it is brought to the desired
/// state instead.
pub(crate) async fn create(aws: &Aws, bucket: &DesiredBucket) -> Result<(), EngineError> {
    let mut configuration = CreateBucketConfiguration::builder().set_tags(Some(tags(bucket)));
    // us-east-1 is S3's default location, which must not be named.
    if aws.target.region() != "us-east-1" {
        configuration =
            configuration.location_constraint(BucketLocationConstraint::from(aws.target.region()));
    }
    let result = aws
        .s3
        .create_bucket()
        .bucket(&bucket.name)
        .create_bucket_configuration(configuration.build())
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await;
    match result {
        Ok(_) => {
            // S3 is eventually consistent right after a create (the bucket may be unknown for a
            // few seconds), and in us-east-1 creating a bucket one already owns also succeeds:
            // read what is there, check it is this stack's, then converge.
            let live = read_after_create(aws, &bucket.name).await?;
            check_same_stack(object(&bucket.name), &bucket.tags, &live.tags)?;
            update(aws, bucket, &live).await
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.code() == Some("BucketAlreadyOwnedByYou")) =>
        {
            let Some(live) = read(aws, &bucket.name).await? else {
                return Err(aws_error("s3:CreateBucket", object(&bucket.name), error));
            };
            check_same_stack(object(&bucket.name), &bucket.tags, &live.tags)?;
            update(aws, bucket, &live).await
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.code() == Some("BucketAlreadyExists")) =>
        {
            Err(EngineError::BucketNameTaken {
                name: bucket.name.clone(),
                message: crate::error::describe(&error),
            })
        }
        Err(error) => Err(aws_error("s3:CreateBucket", object(&bucket.name), error)),
    }
}

/// The bucket just created, read back; S3 may not know it for a few seconds (up to 2 minutes
/// are waited for).
async fn read_after_create(aws: &Aws, name: &str) -> Result<LiveBucket, EngineError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut pause = std::time::Duration::from_millis(250);
    loop {
        if let Some(live) = read(aws, name).await? {
            return Ok(live);
        }
        if std::time::Instant::now() >= deadline {
            return Err(EngineError::FailedState {
                object: object(name),
                reason: "S3 created it but still does not know it after 2 minutes; run the \
                         deploy again"
                    .to_owned(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(5));
    }
}

/// Applies the changes [`diff`] finds, each setting with its own call.
pub(crate) async fn update(
    aws: &Aws,
    bucket: &DesiredBucket,
    live: &LiveBucket,
) -> Result<(), EngineError> {
    let name = &bucket.name;
    if live.public_access_block != Some([true; 4]) {
        aws.s3
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|error| aws_error("s3:PutPublicAccessBlock", object(name), error))?;
    }
    if live.ownership.as_deref() != Some(OWNERSHIP) {
        let rule = OwnershipControlsRule::builder()
            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
            .build()
            .map_err(build_error("s3:PutBucketOwnershipControls", name))?;
        let controls = OwnershipControls::builder()
            .rules(rule)
            .build()
            .map_err(build_error("s3:PutBucketOwnershipControls", name))?;
        aws.s3
            .put_bucket_ownership_controls()
            .bucket(name)
            .ownership_controls(controls)
            .send()
            .await
            .map_err(|error| aws_error("s3:PutBucketOwnershipControls", object(name), error))?;
    }
    if live.encryption.as_deref() != Some(ENCRYPTION) {
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build()
            .map_err(build_error("s3:PutBucketEncryption", name))?;
        let configuration = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .build(),
            )
            .build()
            .map_err(build_error("s3:PutBucketEncryption", name))?;
        aws.s3
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(configuration)
            .send()
            .await
            .map_err(|error| aws_error("s3:PutBucketEncryption", object(name), error))?;
    }
    let versioning = desired_versioning(bucket, live.versioning.as_deref());
    if let Some(status) = versioning
        && versioning != live.versioning.as_deref()
    {
        aws.s3
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::from(status))
                    .build(),
            )
            .send()
            .await
            .map_err(|error| aws_error("s3:PutBucketVersioning", object(name), error))?;
    }
    if tag_change(&bucket.tags, &live.tags).is_some() {
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags(bucket)))
            .build()
            .map_err(build_error("s3:PutBucketTagging", name))?;
        aws.s3
            .put_bucket_tagging()
            .bucket(name)
            .tagging(tagging)
            .send()
            .await
            .map_err(|error| aws_error("s3:PutBucketTagging", object(name), error))?;
    }
    Ok(())
}

/// Counts what the bucket holds: every object version and delete marker, page by page.
pub(crate) async fn contents(aws: &Aws, name: &str) -> Result<Contents, EngineError> {
    let mut contents = Contents::default();
    let mut key_marker = None;
    let mut version_marker = None;
    loop {
        let page = aws
            .s3
            .list_object_versions()
            .bucket(name)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(|error| aws_error("s3:ListObjectVersions", object(name), error))?;
        for version in page.versions() {
            contents.objects += 1;
            contents.bytes += u64::try_from(version.size().unwrap_or(0)).unwrap_or(0);
        }
        contents.delete_markers += page.delete_markers().len() as u64;
        if page.is_truncated() != Some(true) {
            return Ok(contents);
        }
        key_marker = page.next_key_marker;
        version_marker = page.next_version_id_marker;
        if key_marker.is_none() && version_marker.is_none() {
            return Ok(contents);
        }
    }
}

/// Deletes every object version and delete marker of the bucket (only the delete markers, which
/// hold no data, when `only_markers`): one `DeleteObjects` call per listed page (at most 1000
/// keys each). Returns how many were deleted.
pub(crate) async fn empty(aws: &Aws, name: &str, only_markers: bool) -> Result<u64, EngineError> {
    let mut deleted = 0;
    loop {
        // Always the first page: what was listed is deleted before the next listing.
        let page = aws
            .s3
            .list_object_versions()
            .bucket(name)
            .send()
            .await
            .map_err(|error| aws_error("s3:ListObjectVersions", object(name), error))?;
        let mut identifiers = Vec::new();
        let versions = page
            .versions()
            .iter()
            .filter(|_| !only_markers)
            .map(|version| (version.key(), version.version_id()));
        let markers = page
            .delete_markers()
            .iter()
            .map(|marker| (marker.key(), marker.version_id()));
        for (key, version) in versions.chain(markers) {
            let Some(key) = key else { continue };
            identifiers.push(
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(str::to_owned))
                    .build()
                    .map_err(build_error("s3:DeleteObjects", name))?,
            );
        }
        if identifiers.is_empty() {
            return Ok(deleted);
        }
        for batch in identifiers.chunks(DELETE_BATCH) {
            let delete = Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(build_error("s3:DeleteObjects", name))?;
            let output = aws
                .s3
                .delete_objects()
                .bucket(name)
                .delete(delete)
                .send()
                .await
                .map_err(|error| aws_error("s3:DeleteObjects", object(name), error))?;
            if let Some(error) = output.errors().first() {
                return Err(EngineError::Aws {
                    operation: "s3:DeleteObjects",
                    object: object(name),
                    message: format!(
                        "{} of {} objects could not be deleted; the first, `{}`: {}: {}",
                        output.errors().len(),
                        batch.len(),
                        error.key().unwrap_or_default(),
                        error.code().unwrap_or("unknown error"),
                        error.message().unwrap_or_default()
                    ),
                });
            }
            deleted += batch.len() as u64;
        }
    }
}

/// Deletes the (empty) bucket. Missing is fine.
pub(crate) async fn delete(aws: &Aws, name: &str) -> Result<(), EngineError> {
    let result = aws.s3.delete_bucket().bucket(name).send().await;
    found(
        "s3:DeleteBucket",
        object(name),
        result,
        code_is(&["NoSuchBucket"]),
    )?;
    Ok(())
}

/// Names of every bucket of this account and region whose name starts with `prefix`.
pub(crate) async fn list_candidates(aws: &Aws, prefix: &str) -> Result<Vec<String>, EngineError> {
    let region = aws.target.region();
    let mut names = Vec::new();
    let mut pages = aws
        .s3
        .list_buckets()
        .prefix(prefix)
        .bucket_region(region)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| aws_error("s3:ListBuckets", "S3 buckets", error))?;
        names.extend(
            page.buckets()
                .iter()
                .filter(|bucket| bucket.bucket_region().is_none_or(|other| other == region))
                .filter_map(|bucket| bucket.name())
                .filter(|name| name.starts_with(prefix))
                .map(str::to_owned),
        );
    }
    Ok(names)
}

/// `12 objects, 3.4 MiB`.
pub(crate) fn describe_contents(contents: &Contents) -> String {
    let objects = match contents.objects {
        1 => "1 object".to_owned(),
        n => format!("{n} objects"),
    };
    format!("{objects}, {}", human_bytes(contents.bytes))
}

/// Bytes for people: `512 B`, `3.4 KiB`, `3.4 MiB`, `1.2 GiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(versioning: bool) -> DesiredBucket {
        DesiredBucket {
            logical: "docs".to_owned(),
            name: "app-dev-docs-12345678".to_owned(),
            versioning,
            tags: BTreeMap::from([("pluto:stack".to_owned(), "dev".to_owned())]),
        }
    }

    fn private(versioning: Option<&str>) -> LiveBucket {
        LiveBucket {
            tags: desired(false).tags,
            public_access_block: Some([true; 4]),
            ownership: Some(OWNERSHIP.to_owned()),
            encryption: Some(ENCRYPTION.to_owned()),
            versioning: versioning.map(str::to_owned),
        }
    }

    #[test]
    fn a_private_bucket_as_declared_has_no_changes() {
        assert_eq!(diff(&desired(false), &private(None)), Vec::new());
        assert_eq!(diff(&desired(true), &private(Some("Enabled"))), Vec::new());
        // Versioning once on can only be suspended.
        assert_eq!(
            diff(&desired(false), &private(Some("Suspended"))),
            Vec::new()
        );
    }

    #[test]
    fn drift_shows_each_setting_and_versioning_is_suspended_when_turned_off() {
        let mut live = private(Some("Enabled"));
        live.public_access_block = Some([true, true, false, true]);
        live.encryption = Some("aws:kms".to_owned());
        let fields: Vec<(String, String, String)> = diff(&desired(false), &live)
            .into_iter()
            .map(|change| (change.field, change.old, change.new))
            .collect();
        assert_eq!(
            fields
                .iter()
                .map(|(field, _, _)| field.as_str())
                .collect::<Vec<_>>(),
            ["public_access_block", "encryption", "versioning"]
        );
        assert_eq!(fields[1].1, "aws:kms");
        assert_eq!(
            (fields[2].1.as_str(), fields[2].2.as_str()),
            ("Enabled", "Suspended")
        );
        let fields = diff(&desired(true), &private(None));
        assert_eq!(
            fields,
            vec![FieldChange::new("versioning", "(none)", "Enabled")]
        );
    }

    #[test]
    fn contents_are_described_in_objects_and_bytes() {
        let contents = |objects, bytes| Contents {
            objects,
            bytes,
            delete_markers: 0,
        };
        assert_eq!(describe_contents(&contents(1, 10)), "1 object, 10 B");
        assert_eq!(
            describe_contents(&contents(12, 3_565_158)),
            "12 objects, 3.4 MiB"
        );
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}
