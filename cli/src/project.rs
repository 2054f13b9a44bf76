//! What every command shares: which package, which stack, and the `.pluto/<stack>/` directory
//! where results are written (atomically: a reader never sees half a file).

use crate::error::CliError;
use pluto_deducer::Deduction;
use pluto_deducer::diagnostics::{DeduceError, Severity};
use pluto_deducer::source::PackageSelector;
use std::path::{Path, PathBuf};

/// `--manifest-path`, `-p` and `--stack`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProjectArgs {
    /// Path to the app's Cargo.toml (default: the one in the current directory).
    #[arg(long, value_name = "PATH")]
    pub(crate) manifest_path: Option<PathBuf>,
    /// The app's package, in a workspace of several.
    #[arg(short, long, value_name = "NAME")]
    pub(crate) package: Option<String>,
    /// The stack (an independent copy of the app, e.g. `dev` or `prod`).
    #[arg(long, default_value = pluto_spec::contract::DEFAULT_STACK, value_name = "NAME")]
    pub(crate) stack: String,
    /// The app's binary target, when the package has several (default: its `default-run`, or
    /// the one named like the package). Only its functions are deduced and deployed.
    #[arg(long, value_name = "NAME")]
    pub(crate) bin: Option<String>,
}

impl ProjectArgs {
    /// Deduces the app, printing warnings on stderr.
    pub(crate) fn deduce(&self) -> Result<Deduction, CliError> {
        check_stack(&self.stack)?;
        let (_, root) = self.package_name()?;
        // The binary the build will build (one rule, pluto_build's): only its functions exist
        // in what is deployed. A package without one is still deduced (and refused by builds).
        let bin = match pluto_build::choose_binary(&root.join("Cargo.toml"), self.bin.as_deref()) {
            Ok(bin) => Some(bin),
            Err(pluto_build::BuildError::NoBinary { .. }) => None,
            Err(error) => return Err(error.into()),
        };
        let selector = PackageSelector {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            bin,
        };
        let deduction = match pluto_deducer::deduce(&selector) {
            Ok(deduction) => deduction,
            Err(DeduceError::Invalid(diagnostics)) => {
                // rustc-style, one after the other, then a one-line summary from miette.
                let mut report = String::new();
                for diagnostic in &diagnostics {
                    eprintln!("{diagnostic}\n");
                    report.push_str(&format!("{diagnostic}\n\n"));
                }
                let errors = diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .count();
                return Err(CliError::InvalidApp { errors, report });
            }
            Err(error) => return Err(error.into()),
        };
        for warning in &deduction.warnings {
            eprintln!("{warning}\n");
        }
        Ok(deduction)
    }

    /// The package's name and directory, from `cargo metadata` alone (no analysis): what commands
    /// that must work on a broken app, such as `destroy`, need.
    pub(crate) fn package_name(&self) -> Result<(String, PathBuf), CliError> {
        check_stack(&self.stack)?;
        let location = pluto_deducer::source::locate(&PackageSelector {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            bin: None,
        })?;
        Ok((location.name, location.root))
    }

    /// Writes the deduced architecture to `.pluto/<stack>/arch.json`; returns its path.
    pub(crate) fn write_architecture(
        &self,
        deduction: &pluto_deducer::Deduction,
    ) -> Result<PathBuf, CliError> {
        let path = self
            .stack_dir(&deduction.package_root)
            .join(pluto_model::architecture::ARCHITECTURE_FILE);
        write_atomically(&path, &deduction.architecture.to_json())?;
        Ok(path)
    }

    /// `.pluto/<stack>/` next to the app's Cargo.toml.
    pub(crate) fn stack_dir(&self, package_root: &Path) -> PathBuf {
        package_root.join(".pluto").join(&self.stack)
    }
}

fn check_stack(stack: &str) -> Result<(), CliError> {
    pluto_model::naming::check_stack(stack).map_err(CliError::BadStack)
}

/// Writes `contents` to `path` through a temporary file and a rename.
pub(crate) fn write_atomically(path: &Path, contents: &str) -> Result<(), CliError> {
    let error = |source| CliError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temporary, contents).map_err(error)?;
    std::fs::rename(&temporary, path).map_err(error)
}

/// Checks that the app declares a resource of `kind` named `name`; if not, the error lists the
/// ones it declares (or how to declare one), made by `unknown(name, available)`.
pub(crate) fn check_declared(
    architecture: &pluto_model::Architecture,
    kind: pluto_spec::ResourceKind,
    name: &str,
    unknown: impl FnOnce(String, String) -> CliError,
) -> Result<(), CliError> {
    let declared: Vec<&str> = architecture
        .resources
        .iter()
        .filter(|resource| resource.spec.kind() == kind)
        .map(|resource| resource.spec.name())
        .collect();
    if declared.contains(&name) {
        return Ok(());
    }
    let available = if declared.is_empty() {
        format!(
            "none: declare one with `#[resource({})] fn name() -> {};`",
            kind.keyword(),
            kind.handle_type().unwrap_or_default()
        )
    } else {
        declared.join(", ")
    };
    Err(unknown(name.to_owned(), available))
}
