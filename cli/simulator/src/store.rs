//! The KV data of a running app: one redb database per stack (`.pluto/<stack>/kv.redb`), which
//! one simulator at a time may hold. [`check_free`] lets `cargo pluto run` say so before it
//! builds anything.

use crate::error::SimulatorError;
use redb::{Database, DatabaseError};
use std::path::Path;

/// Opens (or creates) the KV database at `path`.
pub fn open(path: &Path) -> Result<Database, SimulatorError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|error| SimulatorError::Database {
            path: dir.to_path_buf(),
            message: error.to_string(),
        })?;
    }
    Database::create(path).map_err(|error| match error {
        DatabaseError::DatabaseAlreadyOpen => SimulatorError::StackInUse {
            path: path.to_path_buf(),
        },
        other => SimulatorError::Database {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    })
}

/// Fails with [`SimulatorError::StackInUse`] when another simulator holds the KV database at
/// `path` (another `cargo pluto run` of the same stack).
pub fn check_free(path: &Path) -> Result<(), SimulatorError> {
    open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_database_is_reported_as_a_stack_in_use() {
        let dir = std::env::temp_dir().join(format!("pluto-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("kv.redb");
        assert!(check_free(&path).is_ok(), "a new database is free");
        let held = open(&path).expect("opens");
        let error = check_free(&path).expect_err("held");
        assert!(
            matches!(error, SimulatorError::StackInUse { .. }),
            "{error:?}"
        );
        drop(held);
        assert!(check_free(&path).is_ok(), "free again");
    }
}
