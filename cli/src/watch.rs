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

/// Watches the sources of the package at `package_root`: every file under `src/` (prompts and
/// other `include_str!` files too), `Cargo.toml` and `build.rs` (through the package's
/// directory, so editors that save by renaming a new file over the old one are seen). Changed
/// paths arrive on the receiver; the watcher stops when dropped.
pub(crate) fn watch_sources(
    package_root: &Path,
) -> Result<(notify::RecommendedWatcher, mpsc::UnboundedReceiver<PathBuf>), CliError> {
    let (changes, received) = mpsc::unbounded_channel();
    let src = package_root.join("src");
    let manifests = [
        package_root.join("Cargo.toml"),
        package_root.join("build.rs"),
    ];
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
            let counts = if path.starts_with(&src) {
                !is_editor_scratch(&path)
            } else {
                manifests.contains(&path)
            };
            if counts {
                let _ = changes.send(path);
            }
        }
    })
    .map_err(|error| CliError::Watch(error.to_string()))?;
    for (path, mode) in [
        (package_root.join("src"), RecursiveMode::Recursive),
        (package_root.to_path_buf(), RecursiveMode::NonRecursive),
    ] {
        watcher
            .watch(&path, mode)
            .map_err(|error| CliError::Watch(format!("{}: {error}", path.display())))?;
    }
    Ok((watcher, received))
}

/// Whether `path` is an editor's swap, backup, temporary or probe file (`.main.rs.swp`,
/// `main.rs~`, vim's `4913`), which changes nothing.
fn is_editor_scratch(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return true;
    };
    name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".tmp")
        || name.bytes().all(|byte| byte.is_ascii_digit())
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
    // Off the async threads, so Ctrl-C is still heard while cargo works.
    let project = rebuild.project.clone();
    let deduced = tokio::task::spawn_blocking(move || project.deduce())
        .await
        .unwrap_or_else(|error| Err(CliError::Task(error.to_string())));
    let deduction = match deduced {
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
    let request = pluto_build::HostBuild {
        manifest_path: deduction.package_root.join("Cargo.toml"),
        bin: rebuild.project.bin.clone(),
        release: rebuild.release,
        quiet: true,
        keep_errors: true,
        ..pluto_build::HostBuild::default()
    };
    let built = match tokio::task::spawn_blocking(move || pluto_build::build_host(&request)).await {
        Ok(built) => built,
        Err(error) => return fail("the build", error.to_string()),
    };
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
    fn editor_scratch_files_do_not_count() {
        assert!(!is_editor_scratch(Path::new("/app/src/main.rs")));
        assert!(!is_editor_scratch(Path::new("/app/src/prompt.txt")));
        assert!(is_editor_scratch(Path::new("/app/src/.main.rs.swp")));
        assert!(is_editor_scratch(Path::new("/app/src/main.rs~")));
        assert!(is_editor_scratch(Path::new("/app/src/4913")));
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
