//! `Bucket`: the handle of an object store kept in an S3 bucket.
//!
//! Keys are S3 object keys (any UTF-8 up to 1024 bytes; `/` groups them for [`Bucket::list`]).
//! Each method performs exactly one IAM action on this bucket (see `pluto_model::operation`):
//! reads `s3:GetObject`, writes `s3:PutObject`, deletes `s3:DeleteObject` (on `bucket/*`) and
//! listing `s3:ListBucket` (on the bucket). A presigned URL carries the permission of the
//! function that signs it, so signing needs the grant of the operation it signs.

use crate::client::{describe_sdk_error, physical_name, s3};
use crate::error::ClientError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use futures_util::{Stream, TryStreamExt};
use pluto_model::Operation;
use pluto_spec::ResourceKind;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Content type of [`Bucket::put_json`].
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A bucket declared with `#[resource(bucket)] fn name() -> Bucket;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    name: &'static str,
}

/// One object as [`Bucket::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, when S3 says.
    pub last_modified: Option<SystemTime>,
}

impl Bucket {
    #[doc(hidden)]
    pub const fn __declared(name: &'static str) -> Self {
        Self { name }
    }

    /// The logical name of the bucket in the app.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The bucket's name in AWS, as deployment set it for this function.
    pub fn bucket_name(&self) -> Result<String, ClientError> {
        physical_name(ResourceKind::Bucket, self.name)
    }

    /// The object under `key`, whole, if there is one (`s3:GetObject`).
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let bucket = self.bucket_name()?;
        let output = match s3().await.get_object().bucket(bucket).key(key).send().await {
            Ok(output) => output,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(error) => return Err(self.aws_error(Operation::BucketGet, &error)),
        };
        let body = output
            .body
            .collect()
            .await
            .map_err(|error| self.aws_error(Operation::BucketGet, &error))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    /// The object under `key` as UTF-8 text, if there is one (`s3:GetObject`).
    pub async fn get_text(&self, key: &str) -> Result<Option<String>, ClientError> {
        let Some(bytes) = self.get(key).await? else {
            return Ok(None);
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| ClientError::Unexpected {
                kind: ResourceKind::Bucket,
                resource: self.name.to_owned(),
                message: format!("object `{key}` is not UTF-8 text; read it with `get`"),
            })
    }

    /// The object under `key` decoded from JSON, if there is one (`s3:GetObject`).
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ClientError> {
        let Some(bytes) = self.get(key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ClientError::Json {
                kind: ResourceKind::Bucket,
                resource: self.name.to_owned(),
                context: format!("decoding object `{key}`"),
                source,
            })
    }

    /// Stores `body` under `key` with this content type (e.g. `text/plain`), replacing what was
    /// there (`s3:PutObject`).
    pub async fn put(
        &self,
        key: &str,
        body: impl Into<Vec<u8>>,
        content_type: &str,
    ) -> Result<(), ClientError> {
        self.put_body(key, ByteStream::from(body.into()), content_type)
            .await
    }

    /// Stores the file at `path` under `key`, streamed from disk rather than read into memory
    /// first (`s3:PutObject`).
    pub async fn put_file(
        &self,
        key: &str,
        path: impl AsRef<Path>,
        content_type: &str,
    ) -> Result<(), ClientError> {
        let path = path.as_ref();
        let body = ByteStream::from_path(path)
            .await
            .map_err(|error| ClientError::Unexpected {
                kind: ResourceKind::Bucket,
                resource: self.name.to_owned(),
                message: format!("cannot read `{}` to upload it: {error}", path.display()),
            })?;
        self.put_body(key, body, content_type).await
    }

    /// Stores `value` as JSON under `key`, content type `application/json` (`s3:PutObject`).
    pub async fn put_json<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), ClientError> {
        let body = serde_json::to_vec(value).map_err(|source| ClientError::Json {
            kind: ResourceKind::Bucket,
            resource: self.name.to_owned(),
            context: format!("encoding object `{key}`"),
            source,
        })?;
        self.put(key, body, JSON_CONTENT_TYPE).await
    }

    async fn put_body(
        &self,
        key: &str,
        body: ByteStream,
        content_type: &str,
    ) -> Result<(), ClientError> {
        let bucket = self.bucket_name()?;
        s3().await
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|error| self.aws_error(Operation::BucketPut, &error))?;
        Ok(())
    }

    /// Removes the object under `key`; removing a missing key is not an error
    /// (`s3:DeleteObject`).
    pub async fn delete(&self, key: &str) -> Result<(), ClientError> {
        let bucket = self.bucket_name()?;
        s3().await
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| self.aws_error(Operation::BucketDelete, &error))?;
        Ok(())
    }

    /// The objects whose keys start with `prefix` (`""` for all), in key order, fetched a page
    /// (up to 1000 keys) at a time as the stream is read (`s3:ListBucket`).
    pub fn list(
        &self,
        prefix: &str,
    ) -> impl Stream<Item = Result<ObjectInfo, ClientError>> + Send + 'static {
        let handle = *self;
        let prefix = prefix.to_owned();
        let pages = futures_util::stream::once(async move {
            let bucket = handle.bucket_name()?;
            let paginator = s3()
                .await
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            let pages = futures_util::stream::unfold(paginator, |mut paginator| async move {
                paginator.next().await.map(|page| (page, paginator))
            });
            Ok::<_, ClientError>(
                pages.map_err(move |error| handle.aws_error(Operation::BucketList, &error)),
            )
        })
        .try_flatten();
        pages
            .map_ok(|page| {
                let objects = page.contents.unwrap_or_default().into_iter().map(|object| {
                    Ok(ObjectInfo {
                        key: object.key.unwrap_or_default(),
                        size: object
                            .size
                            .and_then(|size| u64::try_from(size).ok())
                            .unwrap_or_default(),
                        last_modified: object
                            .last_modified
                            .and_then(|time| SystemTime::try_from(time).ok()),
                    })
                });
                futures_util::stream::iter(objects)
            })
            .try_flatten()
    }

    /// Every object whose key starts with `prefix`, all pages read (`s3:ListBucket`).
    pub async fn list_all(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ClientError> {
        self.list(prefix).try_collect().await
    }

    /// A URL anyone holding it can GET the object under `key` with, until `expires_in` passes
    /// (at most 7 days). Signed with this function's credentials, so it needs `s3:GetObject`.
    pub async fn presign_get(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, ClientError> {
        let bucket = self.bucket_name()?;
        let config = self.presigning(Operation::BucketGet, expires_in)?;
        let request = s3()
            .await
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|error| self.aws_error(Operation::BucketGet, &error))?;
        Ok(request.uri().to_owned())
    }

    /// A URL anyone holding it can PUT an object under `key` with, until `expires_in` passes (at
    /// most 7 days); the upload must send this `Content-Type`. Signed with this function's
    /// credentials, so it needs `s3:PutObject`.
    pub async fn presign_put(
        &self,
        key: &str,
        expires_in: Duration,
        content_type: &str,
    ) -> Result<String, ClientError> {
        let bucket = self.bucket_name()?;
        let config = self.presigning(Operation::BucketPut, expires_in)?;
        let request = s3()
            .await
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|error| self.aws_error(Operation::BucketPut, &error))?;
        Ok(request.uri().to_owned())
    }

    fn presigning(
        &self,
        operation: Operation,
        expires_in: Duration,
    ) -> Result<PresigningConfig, ClientError> {
        PresigningConfig::expires_in(expires_in).map_err(|error| ClientError::Aws {
            kind: ResourceKind::Bucket,
            resource: self.name.to_owned(),
            operation: operation.iam_action().unwrap_or_default(),
            message: format!("cannot presign for {expires_in:?}: {error}"),
        })
    }

    fn aws_error(
        &self,
        operation: Operation,
        error: &(dyn std::error::Error + 'static),
    ) -> ClientError {
        ClientError::Aws {
            kind: ResourceKind::Bucket,
            resource: self.name.to_owned(),
            operation: operation.iam_action().unwrap_or_default(),
            message: describe_sdk_error(error),
        }
    }
}
