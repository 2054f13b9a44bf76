//! Hot reload for `cargo pluto run`: watches the app's sources, and on a change (a burst of
//! saves counts once) re-deduces and rebuilds in the background while the running version keeps
//! serving. A failed deduction or build is shown in the terminal and the console, and nothing
//! changes; a good one goes live with [`pluto_simulator::Simulator::reload`] (new requests go
//! to new instances, requests in flight finish on the old ones, KV data stays), and the grants
//! that changed are printed (`+ chat: kv_delete on chat-history`).

use crate::error::CliError;
use crate::project::ProjectArgs;
use notify::{EventKind, RecursiveMode, Watcher};
use pluto_console::{BuildStatus, Console};
use pluto_model::Architecture;
use pluto_simulator::Simulator;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long the sources must stay quiet before a rebuild starts: editors write a file in
/// several steps, and "save all" writes several files.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(150);

/// Watches the sources of the package at `package_root`: `src/` (recursively), `Cargo.toml`
/// and `build.rs`. Changed paths arrive on the receiver; the watcher stops when dropped.
pub(crate) fn watch_sources(
    package_root: &Path,
) -> Result<(notify::RecommendedWatcher, mpsc::UnboundedReceiver<PathBuf>), CliError> {
    let (changes, received) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else {
            return;
        };
        if !matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
        ) {
            return;
        }
        for path in event.paths {
            if is_source(&path) {
                let _ = changes.send(path);
            }
        }
    })
    .map_err(|error| CliError::Watch(error.to_string()))?;
    let src = package_root.join("src");
    watcher
        .watch(&src, RecursiveMode::Recursive)
        .map_err(|error| CliError::Watch(format!("{}: {error}", src.display())))?;
    for file in ["Cargo.toml", "build.rs"] {
        let path = package_root.join(file);
        if path.exists() {
            watcher
                .watch(&path, RecursiveMode::NonRecursive)
                .map_err(|error| CliError::Watch(format!("{}: {error}", path.display())))?;
        }
    }
    Ok((watcher, received))
}

/// Whether a change to `path` can change the app: Rust sources and manifests, not editors'
/// swap and backup files.
fn is_source(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    if name.starts_with('.') || name.ends_with('~') {
        return false;
    }
    name.ends_with(".rs") || name == "Cargo.toml"
}

/// Waits for the next change, then for [`DEBOUNCE`] of quiet; returns the changed paths (none
/// when the watcher stopped).
pub(crate) async fn next_changes(changes: &mut mpsc::UnboundedReceiver<PathBuf>) -> Vec<PathBuf> {
    let mut paths = BTreeSet::new();
    let Some(first) = changes.recv().await else {
        return Vec::new();
    };
    paths.insert(first);
    while let Ok(Some(path)) = tokio::time::timeout(DEBOUNCE, changes.recv()).await {
        paths.insert(path);
    }
    paths.into_iter().collect()
}

/// The grants of `architecture` as `function: operation on resource` lines.
fn grant_lines(architecture: &Architecture) -> BTreeSet<String> {
    architecture
        .functions
        .iter()
        .flat_map(|function| {
            function.grants.iter().map(move |grant| {
                format!(
                    "{}: {} on {}",
                    function.spec.name,
                    grant.operation.label(),
                    grant.resource.name
                )
            })
        })
        .collect()
}

/// What changed in the grants from `old` to `new`: `+ ...` for new ones, `- ...` for gone ones.
pub(crate) fn grant_changes(old: &Architecture, new: &Architecture) -> Vec<String> {
    let (old, new) = (grant_lines(old), grant_lines(new));
    new.difference(&old)
        .map(|line| format!("+ {line}"))
        .chain(old.difference(&new).map(|line| format!("- {line}")))
        .collect()
}

/// A stable path for generation `generation` of the app binary at `built`: a hard link (a copy
/// where links are impossible) under `<stack_dir>/bin/`, so the next build can replace cargo's
/// file while instances of this one still run. Links of generations before `generation - 1`
/// are removed.
pub(crate) fn pin_binary(
    built: &Path,
    stack_dir: &Path,
    generation: u64,
) -> Result<PathBuf, CliError> {
    let dir = stack_dir.join("bin");
    let write_error = |path: &Path, source| CliError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(|source| write_error(&dir, source))?;
    let name = built
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".to_owned());
    let pinned = dir.join(format!("{name}.{generation}"));
    let _ = std::fs::remove_file(&pinned);
    if std::fs::hard_link(built, &pinned).is_err() {
        std::fs::copy(built, &pinned).map_err(|source| write_error(&pinned, source))?;
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let old = file
                .strip_prefix(&format!("{name}."))
                .and_then(|number| number.parse::<u64>().ok())
                .is_some_and(|number| number + 1 < generation);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(pinned)
}

/// What the running app is: its architecture and generation.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) architecture: Architecture,
    pub(crate) generation: u64,
}

/// How to rebuild.
#[derive(Debug)]
pub(crate) struct Rebuild<'a> {
    pub(crate) project: &'a ProjectArgs,
    pub(crate) release: bool,
    pub(crate) stack_dir: &'a Path,
}

fn relative<'a>(path: &'a Path, root: &Path) -> std::borrow::Cow<'a, str> {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy()
}

/// Rebuilds after `changed` and, when everything works, makes the new version live.
pub(crate) async fn reload(
    rebuild: &Rebuild<'_>,
    changed: &[PathBuf],
    package_root: &Path,
    simulator: &Simulator,
    console: &Console,
    live: &mut Live,
) {
    let started = Instant::now();
    let names: Vec<String> = changed
        .iter()
        .map(|path| relative(path, package_root).into_owned())
        .collect();
    eprintln!("[pluto] changed: {}; rebuilding", names.join(", "));
    let building = |state: &'static str, message: String, grant_changes: Vec<String>| BuildStatus {
        generation: live.generation,
        state,
        message,
        grant_changes,
        at_ms: crate::local_run::now_ms(),
    };
    console.set_build(
        building(
            "building",
            format!("rebuilding after a change to {}", names.join(", ")),
            Vec::new(),
        ),
        None,
    );
    let fail = |what: &str, message: String| {
        eprintln!(
            "[pluto] {what} failed; still serving generation {} (fix it and save again)",
            live.generation
        );
        console.set_build(
            building("failed", format!("{what} failed:\n{message}"), Vec::new()),
            None,
        );
    };
    let deduction = match tokio::task::block_in_place(|| rebuild.project.deduce()) {
        Ok(deduction) => deduction,
        Err(CliError::InvalidApp { report, .. }) => return fail("deduction", report),
        Err(error) => {
            let report = format!("{:?}", miette::Report::new(error));
            eprintln!("{report}");
            return fail("deduction", report);
        }
    };
    if let Err(error) = rebuild.project.write_architecture(&deduction) {
        eprintln!("[pluto] warning: {error}");
    }
    let deduced = started.elapsed();
    let built = tokio::task::block_in_place(|| {
        pluto_build::build_host(&pluto_build::HostBuild {
            manifest_path: deduction.package_root.join("Cargo.toml"),
            bin: rebuild.project.bin.clone(),
            release: rebuild.release,
            quiet: true,
            keep_errors: true,
            ..pluto_build::HostBuild::default()
        })
    });
    let built = match built {
        Ok(binary) => binary,
        Err(pluto_build::BuildError::CargoFailed { errors, .. }) => {
            return fail("the build", errors);
        }
        Err(error) => return fail("the build", error.to_string()),
    };
    let compiled = started.elapsed();
    let generation = live.generation + 1;
    let binary = match pin_binary(&built, rebuild.stack_dir, generation) {
        Ok(binary) => binary,
        Err(error) => return fail("keeping the new binary", error.to_string()),
    };
    if let Err(error) = simulator.reload(&deduction.architecture, binary).await {
        return fail("starting the new version", error.to_string());
    }
    let changes = grant_changes(&live.architecture, &deduction.architecture);
    live.architecture = deduction.architecture;
    live.generation = generation;
    eprintln!(
        "[pluto] reloaded: generation {generation} serves (deduce {:.0} ms, build {:.0} ms, \
         swap {:.0} ms)",
        deduced.as_secs_f64() * 1e3,
        (compiled - deduced).as_secs_f64() * 1e3,
        (started.elapsed() - compiled).as_secs_f64() * 1e3
    );
    if changes.is_empty() {
        eprintln!("[pluto] grants unchanged");
    }
    for change in &changes {
        eprintln!("[pluto] grant {change}");
    }
    console.set_build(
        BuildStatus {
            generation,
            state: "serving",
            message: format!(
                "generation {generation} serves (reloaded in {:.1} s)",
                started.elapsed().as_secs_f64()
            ),
            grant_changes: changes,
            at_ms: crate::local_run::now_ms(),
        },
        Some(&live.architecture),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sources_and_manifests_count() {
        assert!(is_source(Path::new("/app/src/main.rs")));
        assert!(is_source(Path::new("/app/Cargo.toml")));
        assert!(!is_source(Path::new("/app/src/.main.rs.swp")));
        assert!(!is_source(Path::new("/app/src/main.rs~")));
        assert!(!is_source(Path::new("/app/src/notes.txt")));
    }

    #[tokio::test]
    async fn a_burst_of_saves_is_one_change() {
        let (send, mut receive) = mpsc::unbounded_channel();
        for name in ["a.rs", "b.rs", "a.rs"] {
            send.send(PathBuf::from(name)).expect("send");
        }
        let changes = next_changes(&mut receive).await;
        assert_eq!(changes, vec![PathBuf::from("a.rs"), PathBuf::from("b.rs")]);
        drop(send);
        assert!(next_changes(&mut receive).await.is_empty());
    }
}
