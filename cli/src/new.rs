//! `cargo pluto new NAME`: a new app crate with one public function and one KV store, ready for
//! `cargo pluto run`.

use crate::error::CliError;
use crate::project::write_atomically;
use std::path::{Path, PathBuf};

/// Arguments of `cargo pluto new`.
#[derive(Debug, clap::Args)]
pub(crate) struct NewArgs {
    /// Directory (and package name) of the new app.
    name: PathBuf,
    /// The `pluto` runtime crate to depend on (default: the one this cargo-pluto was built with).
    #[arg(long, value_name = "DIR")]
    pluto_path: Option<PathBuf>,
}

const MAIN_RS: &str = r#"//! A Pluto app: `cargo pluto run` runs it locally, `cargo pluto deduce` shows what it needs.

use pluto::{KvStore, resource};

/// How many times each name said hello.
#[resource(kv_store)]
fn visits() -> KvStore;

/// Greets `name` and counts the visits.
#[resource(function(url = "public"))]
async fn hello(name: String) -> pluto::Result<String> {
    let count: u64 = visits().get_json(&name).await?.unwrap_or(0) + 1;
    visits().set_json(&name, &count).await?;
    Ok(format!("Hello, {name}! Visit number {count}."))
}

fn main() {
    pluto::start();
}
"#;

pub(crate) fn run(args: &NewArgs) -> Result<(), CliError> {
    let dir = &args.name;
    if dir.exists() {
        return Err(CliError::Exists(dir.clone()));
    }
    let package = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| valid_package_name(name))
        .ok_or_else(|| CliError::BadPackageName(dir.display().to_string()))?;
    let pluto = match &args.pluto_path {
        Some(path) => absolute(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("runtime"),
    };
    let pluto = pluto.canonicalize().unwrap_or(pluto);
    if !pluto.join("Cargo.toml").is_file() {
        return Err(CliError::NoRuntime(pluto));
    }
    let pluto_text = pluto.display().to_string().replace('\\', "/");
    let cargo_toml = format!(
        "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\npluto = {{ path = \"{pluto_text}\" }}\n\n\
         # A standalone app, not a member of an enclosing workspace.\n[workspace]\n"
    );
    let readme = format!(
        "# {package}\n\nA [Pluto](https://github.com/pluto-rs/pluto) app.\n\n\
         Run it locally (functions, KV store and permissions, all on this machine):\n\n\
         ```sh\ncargo pluto run\n```\n\n\
         Then, in another terminal:\n\n\
         ```sh\ncurl 'http://127.0.0.1:9000/hello?name=Ada'\n```\n\n\
         `cargo pluto deduce` shows the resources, functions and permissions Pluto deduces from the code.\n"
    );
    write_atomically(&dir.join("Cargo.toml"), &cargo_toml)?;
    write_atomically(&dir.join("src/main.rs"), MAIN_RS)?;
    write_atomically(&dir.join("README.md"), &readme)?;
    write_atomically(&dir.join(".gitignore"), "/target\n.pluto/\n")?;
    println!(
        "created {package} in {}\n\n    cd {}\n    cargo pluto run\n",
        dir.display(),
        dir.display()
    );
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|dir| dir.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Package names an app cannot have: its own dependencies' (cargo refuses a package that
/// depends on a crate of its own name) and the standard library's crates.
const TAKEN_PACKAGE_NAMES: &[&str] = &["pluto", "std", "core", "alloc", "proc_macro", "test"];

fn valid_package_name(name: &str) -> bool {
    !TAKEN_PACKAGE_NAMES.contains(&name.replace('-', "_").as_str())
        && !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
