//! The objects of an app's buckets on this machine, under `.pluto/<stack>/buckets/`: each
//! object's bytes in a file of its own, `<bucket>/<random id>`, and an index (an embedded redb
//! database, `index.redb`, one table per bucket) from key to that file, its size, ETag, content
//! type and time. Keys never become paths (any key is safe, however long or full of `/` and
//! `..`), listing reads the index in key order, and a write is atomic: the body is streamed to
//! a `.part` file, renamed to its final name once complete, and only then does one index
//! transaction make it the key's object (the file it replaces is deleted after). A crash leaves
//! at most an unreferenced file, never a key pointing at a partial body.

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The index file in the buckets directory.
pub const INDEX_FILE: &str = "index.redb";

/// What the index knows of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// The file holding the bytes, in the bucket's directory.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex MD5 of the bytes (S3's ETag of a single-part upload), unquoted.
    pub etag: String,
    /// The `Content-Type` it was stored with.
    pub content_type: String,
    /// When it was written, in milliseconds since the Unix epoch.
    pub modified_ms: u64,
}

impl ObjectMeta {
    /// When it was written.
    pub fn modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.modified_ms)
    }
}

/// A body being received: its `.part` file, renamed into place by [`ObjectStore::commit`].
/// Dropped uncommitted (a failed check, a client gone mid-upload, a failed commit), it removes
/// the file.
#[derive(Debug)]
pub struct Staged {
    bucket: String,
    id: String,
    /// The `.part` file to write the body to.
    pub path: PathBuf,
}

impl Drop for Staged {
    fn drop(&mut self) {
        // After a commit the `.part` file has been renamed: nothing is there to remove.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The buckets of one stack.
#[derive(Debug)]
pub struct ObjectStore {
    root: PathBuf,
    /// `None` once closed, so another simulator of the stack can open it.
    index: RwLock<Option<Database>>,
}

impl ObjectStore {
    /// Opens (or creates) the buckets under `root`.
    pub fn open(root: &Path) -> Result<Self, crate::SimulatorError> {
        let index = crate::store::open(&root.join(INDEX_FILE))?;
        Ok(Self {
            root: root.to_path_buf(),
            index: RwLock::new(Some(index)),
        })
    }

    /// Releases the index; later calls fail.
    pub fn close(&self) {
        if let Ok(mut index) = self.index.write() {
            index.take();
        }
    }

    fn with_index<T>(
        &self,
        body: impl FnOnce(&Database) -> Result<T, String>,
    ) -> Result<T, String> {
        let guard = self
            .index
            .read()
            .map_err(|_| "the bucket index lock is poisoned".to_owned())?;
        let index = guard
            .as_ref()
            .ok_or_else(|| "the simulator is stopping".to_owned())?;
        body(index)
    }

    /// The directory of bucket `bucket`'s files.
    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// A new `.part` file in bucket `bucket`'s directory for a body to be written to.
    pub fn stage(&self, bucket: &str) -> Result<Staged, String> {
        let dir = self.bucket_dir(bucket);
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let id = random_id()?;
        Ok(Staged {
            path: dir.join(format!("{id}.part")),
            bucket: bucket.to_owned(),
            id,
        })
    }

    /// Makes the complete body in `staged` the object under `key`, replacing any other.
    /// Blocks on the index.
    pub fn commit(
        &self,
        staged: Staged,
        key: &str,
        size: u64,
        etag: String,
        content_type: String,
    ) -> Result<ObjectMeta, String> {
        let dir = self.bucket_dir(&staged.bucket);
        let final_path = dir.join(&staged.id);
        std::fs::rename(&staged.path, &final_path)
            .map_err(|error| format!("cannot store the object: {error}"))?;
        let meta = ObjectMeta {
            file: staged.id.clone(),
            size,
            etag,
            content_type,
            modified_ms: u64::try_from(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
            )
            .unwrap_or(u64::MAX),
        };
        let row = serde_json::to_vec(&meta).map_err(|error| error.to_string())?;
        let replaced = self.with_index(|index| {
            let definition: TableDefinition<'_, &str, &[u8]> = TableDefinition::new(&staged.bucket);
            let write = index.begin_write().map_err(|e| e.to_string())?;
            let replaced = {
                let mut table = write.open_table(definition).map_err(|e| e.to_string())?;
                let old = table
                    .insert(key, row.as_slice())
                    .map_err(|e| e.to_string())?;
                old.and_then(|old| serde_json::from_slice::<ObjectMeta>(old.value()).ok())
            };
            write.commit().map_err(|e| e.to_string())?;
            Ok(replaced)
        });
        match replaced {
            Ok(replaced) => {
                if let Some(old) = replaced {
                    let _ = std::fs::remove_file(dir.join(old.file));
                }
                Ok(meta)
            }
            Err(error) => {
                let _ = std::fs::remove_file(&final_path);
                Err(error)
            }
        }
    }

    /// The object under `key` and its file, opened, if there is one. Blocks.
    pub fn open_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectMeta, std::fs::File)>, String> {
        // A concurrent write may replace the object (and delete its file) between reading the
        // index and opening the file: read the index again then.
        for _ in 0..3 {
            let Some(meta) = self.meta(bucket, key)? else {
                return Ok(None);
            };
            match std::fs::File::open(self.bucket_dir(bucket).join(&meta.file)) {
                Ok(file) => return Ok(Some((meta, file))),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(format!("cannot read the object: {error}")),
            }
        }
        Err("the object kept changing while it was read".to_owned())
    }

    /// What the index knows of the object under `key`. Blocks.
    pub fn meta(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, String> {
        self.with_index(|index| {
            let definition: TableDefinition<'_, &str, &[u8]> = TableDefinition::new(bucket);
            let read = index.begin_read().map_err(|e| e.to_string())?;
            let table = match read.open_table(definition) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(error) => return Err(error.to_string()),
            };
            match table.get(key).map_err(|e| e.to_string())? {
                Some(row) => serde_json::from_slice(row.value())
                    .map(Some)
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            }
        })
    }

    /// Deletes the object under `key`, if there is one. Blocks.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), String> {
        let removed = self.with_index(|index| {
            let definition: TableDefinition<'_, &str, &[u8]> = TableDefinition::new(bucket);
            let write = index.begin_write().map_err(|e| e.to_string())?;
            let removed = {
                let mut table = write.open_table(definition).map_err(|e| e.to_string())?;
                let old = table.remove(key).map_err(|e| e.to_string())?;
                old.and_then(|old| serde_json::from_slice::<ObjectMeta>(old.value()).ok())
            };
            write.commit().map_err(|e| e.to_string())?;
            Ok(removed)
        })?;
        if let Some(old) = removed {
            let _ = std::fs::remove_file(self.bucket_dir(bucket).join(old.file));
        }
        Ok(())
    }

    /// Up to `max` objects whose keys start with `prefix` and come after `after`, in key order,
    /// and whether more follow. Blocks.
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<(Vec<(String, ObjectMeta)>, bool), String> {
        self.with_index(|index| {
            let definition: TableDefinition<'_, &str, &[u8]> = TableDefinition::new(bucket);
            let read = index.begin_read().map_err(|e| e.to_string())?;
            let table = match read.open_table(definition) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok((Vec::new(), false)),
                Err(error) => return Err(error.to_string()),
            };
            let start = match after {
                Some(after) if after > prefix => after,
                _ => prefix,
            };
            let mut objects = Vec::new();
            for entry in table.range(start..).map_err(|e| e.to_string())? {
                let (key, row) = entry.map_err(|e| e.to_string())?;
                let key = key.value();
                if Some(key) == after {
                    continue;
                }
                if !key.starts_with(prefix) {
                    break;
                }
                if objects.len() == max {
                    return Ok((objects, true));
                }
                let meta: ObjectMeta =
                    serde_json::from_slice(row.value()).map_err(|e| e.to_string())?;
                objects.push((key.to_owned(), meta));
            }
            Ok((objects, false))
        })
    }
}

/// 32 random hex digits.
fn random_id() -> Result<String, String> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| {
        format!("the operating system's random number generator failed: {error}")
    })?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_replaced_deleted_and_listed_in_key_order_after_a_token() {
        let root = std::env::temp_dir().join(format!("pluto-objects-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let store = ObjectStore::open(&root).expect("opens");
        let put = |key: &str, body: &[u8]| {
            let staged = store.stage("b").expect("staged");
            std::fs::write(&staged.path, body).expect("written");
            store
                .commit(
                    staged,
                    key,
                    body.len() as u64,
                    "e".into(),
                    "text/plain".into(),
                )
                .expect("committed")
        };
        for key in ["a/2", "a/1", "b", "../../etc/passwd", "a/3"] {
            put(key, key.as_bytes());
        }
        let first = put("a/1", b"again");
        let keys = |objects: Vec<(String, ObjectMeta)>| -> Vec<String> {
            objects.into_iter().map(|(key, _)| key).collect()
        };
        let (page, more) = store.list("b", "a/", None, 2).expect("lists");
        assert!(more);
        assert_eq!(keys(page), ["a/1", "a/2"]);
        let (page, more) = store.list("b", "a/", Some("a/2"), 2).expect("lists");
        assert!(!more);
        assert_eq!(keys(page), ["a/3"]);
        let (meta, _) = store
            .open_object("b", "a/1")
            .expect("reads")
            .expect("exists");
        assert_eq!(meta, first);
        assert_eq!(
            std::fs::read(root.join("b").join(&meta.file)).expect("file"),
            b"again"
        );
        store.delete("b", "a/1").expect("deletes");
        assert!(store.open_object("b", "a/1").expect("reads").is_none());
        // Every key's file, none for replaced or deleted objects, no `.part` left.
        let files = std::fs::read_dir(root.join("b")).expect("dir").count();
        assert_eq!(files, 4);
        assert!(!root.join("etc").exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
