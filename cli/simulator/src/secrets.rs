//! The local secret store: the values of an app's `Secret`s when it runs on this machine, set
//! with `cargo pluto secret set NAME` and read by the simulator's Secrets Manager API.
//!
//! Values live outside the repository tree, so they are never committed, copied with the
//! project or written under `.pluto/`: in `$PLUTO_SECRETS_DIR` if set, else
//! `$XDG_CONFIG_HOME/pluto/secrets`, else `$HOME/.config/pluto/secrets`, then
//! `<project>/<stack>/<secret>` (one file per secret, the value exactly as set). Directories are
//! created with mode 0700 and files with mode 0600, and a value is written atomically (a
//! temporary file in the same directory, renamed over the old one), so a reader sees the old
//! value or the new one, never a part. No error, log line or `Debug` output of this module
//! contains a value.

use pluto_model::naming::StackNames;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable that moves the local secret store (tests; several checkouts).
pub const SECRETS_DIR_ENV: &str = "PLUTO_SECRETS_DIR";

/// Why the local secret store could not be used. Messages name secrets and paths, never values.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum LocalSecretsError {
    /// No place for the store: neither `$PLUTO_SECRETS_DIR`, `$XDG_CONFIG_HOME` nor `$HOME` is
    /// set.
    #[error(
        "there is no place for local secrets: none of $PLUTO_SECRETS_DIR, $XDG_CONFIG_HOME and $HOME is set"
    )]
    #[diagnostic(help(
        "set PLUTO_SECRETS_DIR to a directory outside the project, e.g. `export PLUTO_SECRETS_DIR=~/.pluto-secrets`"
    ))]
    NoHome,
    /// The project or stack cannot name a directory (see the naming rules).
    #[error(transparent)]
    #[diagnostic(help(
        "stack names are lowercase letters, digits and single `-`, e.g. `dev` or `prod-eu`"
    ))]
    BadStack(pluto_model::naming::NamingError),
    /// A secret name that is not one an app can declare.
    #[error(
        "`{0}` is not a secret name: use letters, digits, `-` and `_` (the name in `#[resource(secret(name = \"...\"))]`)"
    )]
    #[diagnostic(help("run `cargo pluto deduce` to see the app's secrets and their names"))]
    BadName(String),
    /// Reading or writing the store failed.
    #[error("the local secret store failed at {path}: {source}")]
    #[diagnostic(help(
        "check that the directory is yours and writable (it is kept with mode 0700), or move the \
         store with PLUTO_SECRETS_DIR"
    ))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stored value is not UTF-8 text (Secrets Manager's `SecretString`).
    #[error("the local value of secret `{0}` is not UTF-8 text")]
    #[diagnostic(help("set it again with `cargo pluto secret set {0}`"))]
    NotText(String),
}

/// The secret values of one stack of one project on this machine.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalSecrets {
    /// `<root>/<project>/<stack>`.
    dir: PathBuf,
}

impl std::fmt::Debug for LocalSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSecrets")
            .field("dir", &self.dir)
            .finish()
    }
}

impl LocalSecrets {
    /// The secrets of stack `stack` of project `project` (the package name; normalised as in
    /// physical names, so `my_app` and `my-app` are the same project) in the default store
    /// ([`LocalSecrets::default_root`]).
    pub fn for_stack(project: &str, stack: &str) -> Result<Self, LocalSecretsError> {
        Self::in_root(&Self::default_root()?, project, stack)
    }

    /// The secrets of stack `stack` of project `project` in the store at `root` (instead of the
    /// default one).
    pub fn in_root(root: &Path, project: &str, stack: &str) -> Result<Self, LocalSecretsError> {
        let names = StackNames::new(project, stack).map_err(LocalSecretsError::BadStack)?;
        Ok(Self {
            dir: root.join(names.project()).join(stack),
        })
    }

    /// Where the store is: `$PLUTO_SECRETS_DIR`, else `$XDG_CONFIG_HOME/pluto/secrets`, else
    /// `$HOME/.config/pluto/secrets` (empty variables count as unset).
    pub fn default_root() -> Result<PathBuf, LocalSecretsError> {
        let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        if let Some(dir) = var(SECRETS_DIR_ENV) {
            return Ok(PathBuf::from(dir));
        }
        if let Some(config) = var("XDG_CONFIG_HOME") {
            return Ok(PathBuf::from(config).join("pluto").join("secrets"));
        }
        var("HOME")
            .map(|home| {
                PathBuf::from(home)
                    .join(".config")
                    .join("pluto")
                    .join("secrets")
            })
            .ok_or(LocalSecretsError::NoHome)
    }

    /// The directory of this stack's secrets (for messages; it may not exist yet).
    pub fn directory(&self) -> &Path {
        &self.dir
    }

    /// Stores `value` as secret `logical`'s value, replacing any other, atomically.
    pub fn set(&self, logical: &str, value: &str) -> Result<(), LocalSecretsError> {
        let path = self.path(logical)?;
        create_private_dir(&self.dir)?;
        let temporary = self.dir.join(format!(
            ".{logical}.{}.{}.tmp",
            std::process::id(),
            unique_suffix()
        ));
        let io = |source| LocalSecretsError::Io {
            path: temporary.clone(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&temporary).and_then(|mut file| {
            file.write_all(value.as_bytes())?;
            file.sync_all()
        });
        if let Err(source) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(io(source));
        }
        std::fs::rename(&temporary, &path).map_err(|source| {
            let _ = std::fs::remove_file(&temporary);
            LocalSecretsError::Io {
                path: path.clone(),
                source,
            }
        })
    }

    /// Secret `logical`'s value, or `None` when it was never set (or was removed).
    pub fn get(&self, logical: &str) -> Result<Option<String>, LocalSecretsError> {
        let path = self.path(logical)?;
        match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| LocalSecretsError::NotText(logical.to_owned())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LocalSecretsError::Io { path, source }),
        }
    }

    /// Whether secret `logical` has a value.
    pub fn is_set(&self, logical: &str) -> Result<bool, LocalSecretsError> {
        let path = self.path(logical)?;
        match std::fs::metadata(&path) {
            Ok(metadata) => Ok(metadata.is_file()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(LocalSecretsError::Io { path, source }),
        }
    }

    /// Forgets secret `logical`'s value; returns whether it had one.
    pub fn remove(&self, logical: &str) -> Result<bool, LocalSecretsError> {
        let path = self.path(logical)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(LocalSecretsError::Io { path, source }),
        }
    }

    /// The names of the secrets that have a value, sorted.
    pub fn names(&self) -> Result<Vec<String>, LocalSecretsError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(LocalSecretsError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| LocalSecretsError::Io {
                path: self.dir.clone(),
                source,
            })?;
            if let Some(name) = entry.file_name().to_str()
                && is_secret_name(name)
                && entry.file_type().is_ok_and(|kind| kind.is_file())
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The file of secret `logical`.
    fn path(&self, logical: &str) -> Result<PathBuf, LocalSecretsError> {
        if is_secret_name(logical) {
            Ok(self.dir.join(logical))
        } else {
            Err(LocalSecretsError::BadName(logical.to_owned()))
        }
    }
}

/// Whether `name` can be a secret's name and a file name: letters, digits, `-` and `_`, not
/// starting with `-`, at most 128 bytes (so never `.`, `..`, a hidden file or a path).
fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Creates `dir` and its missing parents with mode 0700, and makes `dir` itself 0700.
fn create_private_dir(dir: &Path) -> Result<(), LocalSecretsError> {
    let io = |source| LocalSecretsError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// A number that differs between calls in this process (temporary file names).
fn unique_suffix() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pluto-local-secrets-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn values_are_set_read_replaced_and_removed_per_stack() {
        let root = scratch("cycle");
        let dev = LocalSecrets::in_root(&root, "my_app", "dev").expect("store");
        let prod = LocalSecrets::in_root(&root, "my-app", "prod").expect("store");
        assert_eq!(dev.get("api-key").expect("read"), None);
        assert!(!dev.is_set("api-key").expect("read"));
        dev.set("api-key", "s3cr3t\nwith newline").expect("set");
        assert_eq!(
            dev.get("api-key").expect("read").as_deref(),
            Some("s3cr3t\nwith newline")
        );
        assert!(dev.is_set("api-key").expect("read"));
        assert_eq!(prod.get("api-key").expect("read"), None, "stacks are apart");
        dev.set("api-key", "rotated").expect("set again");
        assert_eq!(
            dev.get("api-key").expect("read").as_deref(),
            Some("rotated")
        );
        assert_eq!(dev.names().expect("names"), vec!["api-key".to_owned()]);
        assert_eq!(
            dev.directory(),
            root.join("my-app").join("dev"),
            "the project is normalised"
        );
        assert!(dev.remove("api-key").expect("remove"));
        assert!(!dev.remove("api-key").expect("remove again"));
        assert_eq!(dev.get("api-key").expect("read"), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_names_cannot_leave_the_directory() {
        use std::os::unix::fs::PermissionsExt;
        let root = scratch("private");
        let secrets = LocalSecrets::in_root(&root, "app", "dev").expect("store");
        secrets.set("token", "value").expect("set");
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&secrets.directory().join("token")), 0o600);
        assert_eq!(mode(secrets.directory()), 0o700);
        assert_eq!(mode(&root.join("app")), 0o700);
        for bad in ["../token", "a/b", "", ".hidden", "..", "-x"] {
            let error = secrets.set(bad, "value").expect_err(bad);
            assert!(
                matches!(error, LocalSecretsError::BadName(_)),
                "{bad}: {error}"
            );
            assert!(!error.to_string().contains("value\""), "{error}");
        }
        let listed: Vec<_> = std::fs::read_dir(secrets.directory())
            .expect("dir")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(
            listed,
            vec![std::ffi::OsString::from("token")],
            "no temporary file left"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
