//! The document library: text files kept in a bucket, one object per document, the object's key
//! its name (`aurora-bakery.txt`). `ingest` stores them, `qa` reads them all.

use pluto::chain::{Document, SOURCE_KEY};
use pluto::{Bucket, ClientError};
use serde::Deserialize;

/// A document to store: its name (the object key, cited in answers) and its text.
#[derive(Debug, Deserialize)]
pub(crate) struct NewDocument {
    pub(crate) name: String,
    pub(crate) text: String,
}

/// Stores each document as a `text/plain` object under its name; returns the names stored.
pub(crate) async fn store(
    bucket: Bucket,
    documents: Vec<NewDocument>,
) -> Result<Vec<String>, ClientError> {
    let mut names = Vec::with_capacity(documents.len());
    for document in documents {
        bucket
            .put(&document.name, document.text, "text/plain; charset=utf-8")
            .await?;
        names.push(document.name);
    }
    Ok(names)
}

/// Every document in the bucket, its key as its `source`.
pub(crate) async fn load(bucket: Bucket) -> Result<Vec<Document>, ClientError> {
    let mut documents = Vec::new();
    for object in bucket.list_all("").await? {
        if let Some(text) = bucket.get_text(&object.key).await? {
            documents.push(Document::new(text).with_metadata(SOURCE_KEY, &object.key));
        }
    }
    Ok(documents)
}
