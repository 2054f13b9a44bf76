//! The deducer never panics on Rust that syn parses: it reads every crate in the local cargo
//! registry's source cache (hundreds of real crates: the workspace's dependencies) and analyses
//! every function in each as if it were a handler. Run with `--nocapture` to see the figures.

use pluto_deducer::access::AccessAnalysis;
use pluto_deducer::discover::discover;
use pluto_deducer::resolve::DefMap;
use pluto_deducer::source::load_targets;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::Instant;

fn registry_sources() -> Vec<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .expect("CARGO_HOME or HOME is set");
    let mut crates = Vec::new();
    let Ok(registries) = std::fs::read_dir(cargo_home.join("registry/src")) else {
        return crates;
    };
    for registry in registries.flatten() {
        let Ok(entries) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        crates.extend(
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.join("Cargo.toml").is_file()),
        );
    }
    crates.sort();
    crates
}

#[test]
fn deducer_survives_every_crate_in_the_registry_cache() {
    // Like `pluto_deducer::deduce`, analyse on a thread with a large stack: syntax trees nest deeply.
    std::thread::Builder::new()
        .stack_size(pluto_deducer::ANALYSIS_STACK_BYTES)
        .spawn(survive_registry)
        .expect("spawn the analysis thread")
        .join()
        .expect("the analysis thread finished");
}

fn survive_registry() {
    let crates = registry_sources();
    assert!(
        crates.len() >= 100,
        "expected the registry cache to hold the workspace's dependencies (found {} crates); run `cargo fetch` first",
        crates.len()
    );
    let started = Instant::now();
    let (mut analysed, mut files, mut functions, mut parse_failures) = (0, 0, 0, 0);
    let mut panics = Vec::new();
    for root in &crates {
        let root_file = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|file| root.join(file))
            .find(|file| file.is_file());
        let Some(root_file) = root_file else { continue };
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let crate_name = name
            .rsplit_once('-')
            .map_or(name.as_str(), |(base, _)| base)
            .replace('-', "_");
        if std::env::var_os("PLUTO_TRACE_REGISTRY").is_some() {
            eprintln!("{name}");
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let (package, sources, diagnostics) =
                load_targets(&name, root, &[(crate_name, root_file.clone())]);
            let defs = DefMap::new(&package);
            let (declarations, _) = discover(&package, &sources, &defs);
            let mut analysis = AccessAnalysis::new(&package, &sources, &defs, &declarations);
            let count = analysis.analyze_everything();
            let modules: usize = package.targets.iter().map(|t| t.modules.len()).sum();
            let failures = diagnostics
                .iter()
                .filter(|d| d.message.starts_with("cannot parse"))
                .count();
            (modules, count, failures)
        }));
        match outcome {
            Ok((modules, count, failures)) => {
                analysed += 1;
                files += modules;
                functions += count;
                parse_failures += failures;
            }
            Err(_) => panics.push(name),
        }
        proc_macro2::extra::invalidate_current_thread_spans();
    }
    println!(
        "deduced {analysed} registry crates ({files} modules, {functions} functions; {parse_failures} files syn \
         could not parse) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(panics.is_empty(), "the deducer panicked on: {panics:?}");
}
