//! Benchmark: deduce a generated 100,000-line app crate and compare with the time `syn::parse_file`
//! alone takes on the same files. Prints figures; run with `cargo bench -p pluto-deducer`.
//!
//! The crate has 100 modules of about 1,000 lines: structs with handle fields, methods, helper
//! chains that cross modules, closures, macros, and 50 handlers in the root using 20 resources.

use pluto_deducer::source::PackageSelector;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MODULES: usize = 100;
const FUNCTIONS_PER_MODULE: usize = 40;
const HANDLERS: usize = 50;
const KV_STORES: usize = 20;
const RUNS: usize = 5;

fn module_source(index: usize) -> String {
    let mut out = String::from("use pluto::KvStore;\nuse std::collections::HashMap;\n\n");
    let next = (index + 1) % MODULES;
    let _ = writeln!(
        out,
        "pub struct Repo{index} {{\n    table: KvStore,\n    cache: HashMap<String, String>,\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl Repo{index} {{\n    pub fn new(table: KvStore) -> Self {{\n        Repo{index} {{ table, cache: HashMap::new() }}\n    }}\n\n    \
         pub async fn load(&mut self, key: &str) -> pluto::Result<Option<String>> {{\n        if let Some(hit) = self.cache.get(key) {{\n            \
         return Ok(Some(hit.clone()));\n        }}\n        let value = self.table.get(key).await?;\n        if let Some(v) = &value {{\n            \
         self.cache.insert(key.to_owned(), v.clone());\n        }}\n        Ok(value)\n    }}\n}}\n"
    );
    for function in 0..FUNCTIONS_PER_MODULE {
        let callee = if function + 1 < FUNCTIONS_PER_MODULE {
            format!("f{}(input, depth + 1)", function + 1)
        } else {
            format!("crate::m{next}::f0(input, depth + 1)")
        };
        let _ = writeln!(
            out,
            "/// Step {function} of module {index}.\npub fn f{function}(input: &str, depth: usize) -> String {{\n    if depth > 3 {{\n        return input.to_owned();\n    }}\n    \
             let words: Vec<String> = input\n        .split_whitespace()\n        .map(|word| word.chars().rev().collect::<String>())\n        .collect();\n    \
             let joined = words.join(\" \");\n    let total: usize = words.iter().map(|w| w.len()).sum();\n    let label = format!(\"{{}}-{{}}-{{}}\", joined, total, depth);\n    \
             match total % 3 {{\n        0 => {callee},\n        1 => label.to_uppercase(),\n        _ => {{\n            let mut acc = String::new();\n            \
             for (i, c) in label.chars().enumerate() {{\n                if i % 2 == 0 {{\n                    acc.push(c);\n                }}\n            }}\n            acc\n        }}\n    }}\n}}\n"
        );
    }
    out
}

fn root_source() -> String {
    let mut out = String::new();
    for index in 0..MODULES {
        let _ = writeln!(out, "mod m{index};");
    }
    out.push_str("\nuse pluto::{KvStore, resource};\n\n");
    for store in 0..KV_STORES {
        let _ = writeln!(
            out,
            "#[resource(kv_store)]\nfn store{store}() -> KvStore;\n"
        );
    }
    for handler in 0..HANDLERS {
        let module = handler * MODULES / HANDLERS;
        let store = handler % KV_STORES;
        let _ = writeln!(
            out,
            "#[resource(function)]\nasync fn handler{handler}(input: String) -> pluto::Result<String> {{\n    let mut repo = m{module}::Repo{module}::new(store{store}());\n    \
             let cached = repo.load(&input).await?;\n    let text = m{module}::f0(&input, 0);\n    store{store}().set(&input, text.clone()).await?;\n    \
             Ok(cached.unwrap_or(text))\n}}\n"
        );
    }
    out.push_str("fn main() {\n    pluto::start();\n}\n");
    out
}

fn generate(dir: &Path) -> Vec<PathBuf> {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("create the crate");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"bench-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .expect("write Cargo.toml");
    let mut files = vec![src.join("main.rs")];
    std::fs::write(&files[0], root_source()).expect("write main.rs");
    for index in 0..MODULES {
        let path = src.join(format!("m{index}.rs"));
        std::fs::write(&path, module_source(index)).expect("write a module");
        files.push(path);
    }
    files
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deduce-bench-app");
    let _ = std::fs::remove_dir_all(&dir);
    let files = generate(&dir);
    let sources: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect();
    let lines: usize = sources.iter().map(|s| s.lines().count()).sum();

    let parse_all = |sources: &[String]| {
        let started = Instant::now();
        let files: Vec<syn::File> = sources
            .iter()
            .map(|source| syn::parse_file(source).expect("generated code parses"))
            .collect();
        let elapsed = started.elapsed();
        std::hint::black_box(files);
        elapsed
    };
    // Warm: parsing again and again on this thread, reusing its heap.
    let parse_warm = median((0..RUNS).map(|_| parse_all(&sources)).collect());
    // Like deduce: each run on a fresh thread with the deducer's stack, keeping the trees alive
    // until the end as the deducer does.
    let parse = median(
        (0..RUNS)
            .map(|_| {
                let sources = sources.clone();
                std::thread::Builder::new()
                    .stack_size(pluto_deducer::ANALYSIS_STACK_BYTES)
                    .spawn(move || parse_all(&sources))
                    .expect("spawn")
                    .join()
                    .expect("parse thread")
            })
            .collect(),
    );
    let selector = PackageSelector {
        manifest_path: Some(dir.join("Cargo.toml")),
        package: None,
        bin: None,
    };
    let mut grants = 0;
    let deduce = median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let deduction =
                    pluto_deducer::deduce(&selector).expect("the generated app deduces");
                grants = deduction
                    .architecture
                    .functions
                    .iter()
                    .map(|f| f.grants.len())
                    .sum();
                started.elapsed()
            })
            .collect(),
    );
    println!(
        "generated crate: {} files, {lines} lines, {HANDLERS} handlers, {grants} grants",
        files.len()
    );
    println!(
        "syn::parse_file alone:       {:>8.1} ms (median of {RUNS}; each run on a fresh thread, as deduce runs)",
        parse.as_secs_f64() * 1e3
    );
    println!(
        "syn::parse_file, warm heap:  {:>8.1} ms (median of {RUNS}; again and again on one thread)",
        parse_warm.as_secs_f64() * 1e3
    );
    println!(
        "deduce (incl. cargo metadata): {:>6.1} ms (median of {RUNS})",
        deduce.as_secs_f64() * 1e3
    );
    println!(
        "ratio deduce / parse:        {:>8.2}x",
        deduce.as_secs_f64() / parse.as_secs_f64()
    );
}
