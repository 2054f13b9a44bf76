//! Random Pluto apps for the differential soundness test of the deducer (issue 11, deliverable 5).
//!
//! [`GeneratedApp::generate`] turns a seed into a small multi-file app crate (nested module dirs,
//! a `#[path]` module) whose handlers use KV stores and invoke each other. Each access site pairs
//! a *path form* of the handle (crate, `self::`, `super::` and 2018-relative paths; `use` single,
//! nested groups, `as`, `self`, globs, in a block; `pub use` re-exports, renamed and chained
//! through a glob) with a *flow* to the operation (helper chains, struct fields, a user trait
//! implemented for `pluto::KvStore` with required and default methods, generics with bounds,
//! `dyn Trait`, closures, the crate's own `macro_rules!` macros, `Option`/`Result`/`Vec`/arrays/
//! tuples/`Rc`/`Arc`/`Box`/`HashMap` values/iterator adapters, `tokio::spawn`/`join!`/`select!`,
//! `if`/`match` choosing between handles, locals shadowing resource names). A third of the sites
//! vary only the flow and a third only the path form, so a violation there names its feature
//! ([`Snippet::isolated`]). Every access a handler contains runs on every invocation, and a
//! failed access does not stop the others (the generated `audit` module records it and the
//! handler fails at the end), so one run of each handler observes every access it can make.
//!
//! [`Harness`] writes an app under `target/soundness/app-<seed>/`, deduces it with
//! `pluto_deducer::deduce`, builds it (all apps share one target dir, so the runtime and the AWS
//! SDK compile once), runs every handler in the simulator with IAM enforced while recording every
//! access attempted ([`LocalAws::with_access_recorder`]), and compares: **observed ⊆ deduced**.
//! [`AppReport`] holds the violations (with the generated features that produced them), the
//! handlers that failed, and the precision of the grants.

use pluto_deducer::source::PackageSelector;
use pluto_deducer::{Architecture, Operation, ResourceRef};
use pluto_simulator::aws::AttemptedAccess;
use pluto_simulator::lambda::Outcome;
use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_spec::ResourceKind;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A small deterministic PRNG (SplitMix64): the same seed gives the same app on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5eed_50d1_0000_0000)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        let bound = u64::try_from(bound.max(1)).unwrap_or(u64::MAX);
        usize::try_from(self.next_u64() % bound).unwrap_or(0)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high.saturating_sub(low) + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of a slice.
    ///
    /// # Panics
    /// When `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A `KvStore` operation as written in the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum KvCall {
    Get,
    Set,
    Delete,
    GetJson,
    SetJson,
}

impl KvCall {
    const ALL: [Self; 5] = [
        Self::Get,
        Self::Set,
        Self::Delete,
        Self::GetJson,
        Self::SetJson,
    ];

    /// The suffix of the generated trait methods and macros for this call.
    fn suffix(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Set => "set",
            Self::Delete => "delete",
            Self::GetJson => "get_json",
            Self::SetJson => "set_json",
        }
    }

    /// The method call, with `key` the expression of a `&str` key.
    fn call(self, key: &str) -> String {
        match self {
            Self::Get => format!("get({key})"),
            Self::Set => format!("set({key}, \"v\")"),
            Self::Delete => format!("delete({key})"),
            Self::GetJson => format!("get_json::<u64>({key})"),
            Self::SetJson => format!("set_json({key}, &7u64)"),
        }
    }

    fn for_operation(operation: Operation, rng: &mut Rng) -> Self {
        match operation {
            Operation::KvGet if rng.chance(50) => Self::GetJson,
            Operation::KvGet => Self::Get,
            Operation::KvSet if rng.chance(50) => Self::SetJson,
            Operation::KvSet => Self::Set,
            _ => Self::Delete,
        }
    }
}

/// The statement that runs `call` on the handle `receiver` and records a failure.
fn access(receiver: &str, call: KvCall, key: &str) -> String {
    format!(
        "let _ = crate::audit::check({}.{}.await);",
        receiver_text(receiver),
        call.call(key)
    )
}

/// `expression` usable before `.method()`: a block expression needs parentheses there.
fn receiver_text(expression: &str) -> String {
    if expression.starts_with('{') {
        format!("({expression})")
    } else {
        expression.to_owned()
    }
}

/// The modules every generated app has (the files are fixed; their contents are random).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Module {
    Root,
    Api,
    Admin,
    Place,
    Infra,
    Deep,
    Helpers,
    Facade,
    Prelude,
    Audit,
}

impl Module {
    const ALL: [Self; 10] = [
        Self::Root,
        Self::Api,
        Self::Admin,
        Self::Place,
        Self::Infra,
        Self::Deep,
        Self::Helpers,
        Self::Facade,
        Self::Prelude,
        Self::Audit,
    ];
    const HANDLERS: [Self; 4] = [Self::Root, Self::Api, Self::Admin, Self::Place];
    const RESOURCES: [Self; 3] = [Self::Infra, Self::Deep, Self::Place];

    fn segments(self) -> &'static [&'static str] {
        match self {
            Self::Root => &[],
            Self::Api => &["api"],
            Self::Admin => &["api", "admin"],
            Self::Place => &["place"],
            Self::Infra => &["infra"],
            Self::Deep => &["infra", "deep"],
            Self::Helpers => &["helpers"],
            Self::Facade => &["facade"],
            Self::Prelude => &["prelude"],
            Self::Audit => &["audit"],
        }
    }

    /// The file, relative to the package root.
    fn file(self) -> &'static str {
        match self {
            Self::Root => "src/main.rs",
            Self::Api => "src/api/mod.rs",
            Self::Admin => "src/api/admin.rs",
            Self::Place => "src/odd/place.rs",
            Self::Infra => "src/infra/mod.rs",
            Self::Deep => "src/infra/deep.rs",
            Self::Helpers => "src/helpers.rs",
            Self::Facade => "src/facade.rs",
            Self::Prelude => "src/prelude.rs",
            Self::Audit => "src/audit.rs",
        }
    }

    /// Names of the modules declared in this one (an import may not rebind them).
    fn children(self) -> &'static [&'static str] {
        match self {
            Self::Root => &[
                "audit", "infra", "place", "api", "helpers", "facade", "prelude",
            ],
            Self::Api => &["admin"],
            Self::Infra => &["deep"],
            _ => &[],
        }
    }

    /// Path of an item of this module from the crate root: `crate::infra::deep::name`.
    fn crate_path(self, name: &str) -> String {
        let mut path = vec!["crate"];
        path.extend(self.segments());
        path.push(name);
        path.join("::")
    }
}

/// Path of `target` (segments from the crate root) written relative to module `from`: 2018
/// relative in the crate root, through `super::` elsewhere.
fn relative_path(from: Module, target: &[&str]) -> String {
    let mut parts: Vec<&str> = vec!["super"; from.segments().len()];
    parts.extend(target);
    parts.join("::")
}

/// Nested use groups: `infra::{deep::{carts}}`.
fn nested_group(segments: &[&str]) -> String {
    match segments {
        [] => String::new(),
        [last] => (*last).to_owned(),
        [first, rest @ ..] => format!("{first}::{{{}}}", nested_group(rest)),
    }
}

const RESOURCE_NAMES: [&str; 10] = [
    "sessions", "carts", "ledger", "events", "profiles", "quotas", "tokens", "orders", "metrics",
    "invoices",
];

/// A KV store of the app.
#[derive(Debug, Clone)]
struct KvResource {
    name: &'static str,
    module: Module,
}

impl KvResource {
    fn reference(&self) -> ResourceRef {
        ResourceRef {
            kind: ResourceKind::KvStore,
            name: self.name.to_owned(),
        }
    }

    fn path_segments(&self) -> Vec<&'static str> {
        let mut segments = self.module.segments().to_vec();
        segments.push(self.name);
        segments
    }
}

/// One access site of a handler: the access it makes and the generated features on its way.
#[derive(Debug, Clone)]
pub struct Snippet {
    /// Unique in the app; the code carries a `// s<id>:` marker.
    pub id: usize,
    /// The handler (function name) the snippet is in.
    pub handler: String,
    /// The resource accessed.
    pub resource: ResourceRef,
    /// The operation.
    pub operation: Operation,
    /// The features used, e.g. `use-single` and `struct-field`.
    pub features: Vec<String>,
    /// The one feature this site tests in isolation, when every other feature of it is the
    /// baseline (`crate-path` and `direct`), so a violation here is that feature's.
    pub isolated: Option<String>,
    /// The file of the handler, relative to the package root.
    pub file: &'static str,
}

/// A handler of a generated app.
#[derive(Debug, Clone)]
pub struct GeneratedHandler {
    /// The function name (also its Rust name).
    pub name: String,
    /// Its file, relative to the package root.
    pub file: &'static str,
    /// The ids of its snippets.
    pub snippets: Vec<usize>,
}

/// The text of one module while it is generated.
#[derive(Debug, Default)]
struct ModuleText {
    imports: BTreeSet<String>,
    /// Names bound by imports → the feature that bound them.
    bound: HashMap<String, &'static str>,
    items: Vec<String>,
}

/// A random Pluto app: its files and what each handler does.
#[derive(Debug, Clone)]
pub struct GeneratedApp {
    /// The seed it came from.
    pub seed: u64,
    /// The package (and binary) name.
    pub package: String,
    /// Files relative to the package root, except `Cargo.toml`.
    pub files: BTreeMap<String, String>,
    /// The handlers, in generation order (a handler invokes only earlier ones).
    pub handlers: Vec<GeneratedHandler>,
    /// Every access site.
    pub snippets: Vec<Snippet>,
}

/// How big the generated apps are.
#[derive(Debug, Clone, Copy)]
pub struct AppSize {
    /// Fewest and most handlers.
    pub handlers: (usize, usize),
    /// Fewest and most KV stores.
    pub resources: (usize, usize),
    /// Fewest and most KV accesses per handler.
    pub accesses_per_handler: (usize, usize),
}

impl Default for AppSize {
    fn default() -> Self {
        Self {
            handlers: (10, 16),
            resources: (4, 6),
            accesses_per_handler: (1, 4),
        }
    }
}

/// The ways a handle travels from its expression to the operation.
const FLOWS: [&str; 36] = [
    "direct",
    "let-alias",
    "helper-chain",
    "helper-returns-handle",
    "nested-fn",
    "struct-field",
    "struct-method",
    "trait-method-on-kvstore",
    "trait-default-method-on-kvstore",
    "trait-method-ufcs",
    "generic-trait-bound",
    "generic-source-trait",
    "dyn-trait-box",
    "dyn-trait-ref",
    "closure-argument",
    "closure-capture",
    "async-closure",
    "macro-argument",
    "macro-body-handle",
    "option",
    "vec-index",
    "array-loop",
    "tuple",
    "arc-clone",
    "box",
    "hashmap-value",
    "iterator-adapters",
    "tokio-spawn",
    "tokio-join",
    "branch-if",
    "branch-match",
    "option-unwrap-or",
    "result",
    "rc-deref",
    "shadowing-local",
    "tokio-select",
];

/// A shuffled deck of names: drawing from it covers every name before any repeats.
#[derive(Debug, Default)]
struct Deck {
    cards: Vec<&'static str>,
}

impl Deck {
    /// The next card that `allowed` accepts (the deck is refilled from `all` when needed).
    fn draw(
        &mut self,
        rng: &mut Rng,
        all: &[&'static str],
        allowed: impl Fn(&str) -> bool,
    ) -> Option<&'static str> {
        if !self.cards.iter().any(|card| allowed(card)) {
            self.cards = all.to_vec();
            for index in (1..self.cards.len()).rev() {
                let other = rng.below(index + 1);
                self.cards.swap(index, other);
            }
        }
        let position = self.cards.iter().position(|card| allowed(card))?;
        Some(self.cards.remove(position))
    }
}

/// Every path form [`Generator::handle`] knows.
const FORMS: [&str; 19] = [
    "crate-path",
    "relative-path-2018",
    "super-path",
    "reexport",
    "reexport-rename",
    "reexport-glob-chain",
    "use-in-block",
    "same-module",
    "self-path",
    "use-single",
    "use-relative-2018",
    "use-super",
    "use-nested-group",
    "use-rename",
    "use-self",
    "use-self-rename",
    "use-glob",
    "use-reexport-chain",
    "use-then-self-path",
];

struct Generator {
    rng: Rng,
    resources: Vec<KvResource>,
    modules: BTreeMap<Module, ModuleText>,
    root_macros: Vec<String>,
    snippets: Vec<Snippet>,
    handlers: Vec<(GeneratedHandler, Module)>,
    /// The path form every handle expression uses while set (the baseline of isolated sites).
    forced_form: Option<&'static str>,
    flows: Deck,
    forms: Deck,
}

impl GeneratedApp {
    /// The app of `seed`, of the default size.
    pub fn generate(seed: u64) -> Self {
        Self::generate_sized(seed, AppSize::default())
    }

    /// The app of `seed` with `size`.
    pub fn generate_sized(seed: u64, size: AppSize) -> Self {
        let mut rng = Rng::new(seed);
        let resource_count = rng.between(size.resources.0, size.resources.1);
        let mut names = RESOURCE_NAMES.to_vec();
        let mut resources = Vec::new();
        for index in 0..resource_count.min(names.len()) {
            let name = names.remove(rng.below(names.len()));
            // The first three go one per module, so every module declares one.
            let module = if index < Module::RESOURCES.len() {
                Module::RESOURCES[index]
            } else {
                *rng.pick(&Module::RESOURCES)
            };
            resources.push(KvResource { name, module });
        }
        let mut generator = Generator {
            rng,
            resources,
            modules: Module::ALL
                .iter()
                .map(|module| (*module, ModuleText::default()))
                .collect(),
            root_macros: Vec::new(),
            snippets: Vec::new(),
            handlers: Vec::new(),
            forced_form: None,
            flows: Deck::default(),
            forms: Deck::default(),
        };
        let handler_count = generator.rng.between(size.handlers.0, size.handlers.1);
        for index in 0..handler_count {
            generator.handler(index, size);
        }
        let package = format!("soundness-app-{seed}");
        let files = generator.files();
        Self {
            seed,
            package,
            files,
            handlers: generator
                .handlers
                .into_iter()
                .map(|(handler, _)| handler)
                .collect(),
            snippets: generator.snippets,
        }
    }

    /// The `Cargo.toml` of the app, depending on the runtime at `runtime` (absolute path).
    pub fn cargo_toml(&self, runtime: &Path) -> String {
        format!(
            "# Generated by pluto-tests' appgen (seed {seed}) for the deducer's soundness test.\n\
             [package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
             [workspace]\n\n\
             [dependencies]\npluto = {{ path = \"{runtime}\" }}\n\
             tokio = {{ version = \"1\", features = [\"rt\", \"macros\"] }}\n\n\
             [profile.dev]\ndebug = false\nincremental = false\n",
            seed = self.seed,
            package = self.package,
            runtime = runtime.display().to_string().replace('\\', "/"),
        )
    }

    /// Writes the app into `dir` (emptied first), with `lockfile` copied in so the versions are
    /// the workspace's.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn write(&self, dir: &Path, runtime: &Path, lockfile: &Path) -> std::io::Result<()> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("Cargo.toml"), self.cargo_toml(runtime))?;
        std::fs::copy(lockfile, dir.join("Cargo.lock"))?;
        for (path, text) in &self.files {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        Ok(())
    }

    /// Every access the handlers make when run (a handler's own accesses, not its callees').
    pub fn expected_accesses(&self) -> BTreeSet<Access> {
        self.snippets
            .iter()
            .map(|snippet| Access {
                function: snippet.handler.clone(),
                resource: snippet.resource.clone(),
                operation: snippet.operation,
            })
            .collect()
    }

    /// The line of snippet `id`'s marker in its file (1-based), if found.
    pub fn snippet_line(&self, id: usize) -> Option<usize> {
        let snippet = self.snippets.iter().find(|snippet| snippet.id == id)?;
        let marker = format!("// s{id}:");
        self.files
            .get(snippet.file)?
            .lines()
            .position(|line| line.trim_start().starts_with(&marker))
            .map(|index| index + 1)
    }
}

impl Generator {
    fn module(&mut self, module: Module) -> &mut ModuleText {
        self.modules.entry(module).or_default()
    }

    /// Binds `local` in `ctx` with `line`, unless it is bound already: then the existing import
    /// is used, and its feature is the one that counts.
    fn bind(
        &mut self,
        ctx: Module,
        local: &str,
        line: String,
        feature: &'static str,
    ) -> &'static str {
        let text = self.module(ctx);
        if let Some(existing) = text.bound.get(local) {
            return existing;
        }
        text.bound.insert(local.to_owned(), feature);
        text.imports.insert(line);
        feature
    }

    /// An expression of the handle of resource `index`, written in module `ctx`, and the
    /// import or path feature it uses.
    fn handle(&mut self, ctx: Module, index: usize, id: usize) -> (String, &'static str) {
        let resource = self.resources[index].clone();
        let name = resource.name;
        let segments = resource.path_segments();
        let crate_path = resource.module.crate_path(name);
        let parent = resource.module;
        let mut forms = vec![
            "crate-path",
            if ctx == Module::Root {
                "relative-path-2018"
            } else {
                "super-path"
            },
            "reexport",
            "reexport-rename",
            "reexport-glob-chain",
            "use-in-block",
        ];
        if parent == ctx {
            forms.extend(["same-module", "self-path"]);
        } else {
            forms.extend([
                "use-single",
                if ctx == Module::Root {
                    "use-relative-2018"
                } else {
                    "use-super"
                },
                "use-nested-group",
                "use-rename",
                "use-self-rename",
                "use-glob",
                "use-reexport-chain",
                "use-then-self-path",
            ]);
            let parent_name = parent.segments().last().copied().unwrap_or("crate");
            if !ctx.children().contains(&parent_name) && !ctx.segments().contains(&parent_name) {
                forms.push("use-self");
            }
        }
        let form = match self.forced_form {
            Some(form) => form,
            None => self
                .forms
                .draw(&mut self.rng, &FORMS, |form| forms.contains(&form))
                .unwrap_or("crate-path"),
        };
        match form {
            "crate-path" => (format!("{crate_path}()"), form),
            "relative-path-2018" | "super-path" => {
                (format!("{}()", relative_path(ctx, &segments)), form)
            }
            "reexport" => (format!("crate::facade::{name}()"), form),
            "reexport-rename" => (format!("crate::facade::{name}_handle()"), form),
            "reexport-glob-chain" => (format!("crate::prelude::{name}()"), form),
            "use-in-block" => (format!("{{ use {crate_path} as inner; inner() }}"), form),
            "same-module" => (format!("{name}()"), form),
            "self-path" => (format!("self::{name}()"), form),
            "use-single" => {
                let feature = self.bind(ctx, name, format!("use {crate_path};"), form);
                (format!("{name}()"), feature)
            }
            "use-relative-2018" | "use-super" => {
                let line = format!("use {};", relative_path(ctx, &segments));
                let feature = self.bind(ctx, name, line, form);
                (format!("{name}()"), feature)
            }
            "use-nested-group" => {
                let line = format!("use crate::{{{}}};", nested_group(&segments));
                let feature = self.bind(ctx, name, line, form);
                (format!("{name}()"), feature)
            }
            "use-rename" => {
                let alias = format!("db_s{id}");
                let feature = self.bind(ctx, &alias, format!("use {crate_path} as {alias};"), form);
                (format!("{alias}()"), feature)
            }
            "use-self-rename" => {
                let alias = format!("module_s{id}");
                let line = format!(
                    "use {}::{{self as {alias}}};",
                    parent.crate_path("").trim_end_matches("::")
                );
                let feature = self.bind(ctx, &alias, line, form);
                (format!("{alias}::{name}()"), feature)
            }
            "use-self" => {
                let parent_name = parent.segments().last().copied().unwrap_or("crate");
                let line = format!(
                    "use {}::{{self}};",
                    parent.crate_path("").trim_end_matches("::")
                );
                let feature = self.bind(ctx, parent_name, line, form);
                (format!("{parent_name}::{name}()"), feature)
            }
            "use-glob" => {
                let line = format!("use {}::*;", parent.crate_path("").trim_end_matches("::"));
                let text = self.module(ctx);
                let feature = match text.bound.get(name) {
                    Some(existing) => *existing,
                    None => {
                        text.bound.insert(name.to_owned(), form);
                        text.imports.insert(line);
                        form
                    }
                };
                (format!("{name}()"), feature)
            }
            "use-reexport-chain" => {
                let line = format!("use crate::prelude::{name};");
                let feature = self.bind(ctx, name, line, form);
                (format!("{name}()"), feature)
            }
            _ => {
                // use-then-self-path: a name imported into the module, called as `self::name`.
                let alias = format!("imported_s{id}");
                let feature = self.bind(
                    ctx,
                    &alias,
                    format!("use {crate_path} as {alias};"),
                    "use-then-self-path",
                );
                (format!("self::{alias}()"), feature)
            }
        }
    }

    /// A handle expression for a decoy (a handle chosen at run time never), by its crate path.
    fn decoy(&mut self) -> String {
        let index = self.rng.below(self.resources.len());
        let resource = &self.resources[index];
        format!("{}()", resource.module.crate_path(resource.name))
    }

    fn helper(&mut self, item: String) {
        self.module(Module::Helpers).items.push(item);
    }

    /// The statements of one access site in a handler of `ctx` (`k` is the key in scope), its
    /// features and the one it tests in isolation. A third of the sites vary only the flow (the
    /// handle by its crate path), a third only the path form (used directly), a third both.
    fn flow(
        &mut self,
        ctx: Module,
        index: usize,
        call: KvCall,
        id: usize,
    ) -> (String, Vec<String>, Option<String>) {
        let mode = self.rng.below(3);
        let flow = if mode == 1 {
            "direct"
        } else {
            self.flows
                .draw(&mut self.rng, &FLOWS, |_| true)
                .unwrap_or("direct")
        };
        self.forced_form = (mode == 0).then_some("crate-path");
        let (code, form) = self.flow_code(flow, ctx, index, call, id);
        self.forced_form = None;
        let isolated = match (form, flow) {
            ("crate-path" | "macro-crate-path", "direct") => Some("baseline"),
            ("crate-path" | "macro-crate-path", flow) => Some(flow),
            (form, "direct") => Some(form),
            _ => None,
        };
        (
            code,
            vec![form.to_owned(), flow.to_owned()],
            isolated.map(str::to_owned),
        )
    }

    fn flow_code(
        &mut self,
        flow: &str,
        ctx: Module,
        index: usize,
        call: KvCall,
        id: usize,
    ) -> (String, &'static str) {
        let suffix = call.suffix();
        // Flows whose handle expression is written in the helpers module.
        match flow {
            "helper-returns-handle" => {
                let (handle, form) = self.handle(Module::Helpers, index, id);
                self.helper(format!(
                    "pub fn pick_s{id}() -> pluto::KvStore {{\n    {handle}\n}}"
                ));
                return (
                    access(&format!("crate::helpers::pick_s{id}()"), call, "&k"),
                    form,
                );
            }
            "generic-source-trait" | "dyn-trait-box" | "dyn-trait-ref" => {
                let (handle, form) = self.handle(Module::Helpers, index, id);
                self.helper(format!(
                    "pub struct SourceS{id};\n\nimpl Source for SourceS{id} {{\n    fn store(&self) -> pluto::KvStore {{\n        {handle}\n    }}\n}}"
                ));
                let code = match flow {
                    "generic-source-trait" => {
                        self.helper(format!(
                            "pub async fn through_source_s{id}<T: Source>(source: &T, k: &str) {{\n    {}\n}}",
                            access("source.store()", call, "k")
                        ));
                        format!(
                            "crate::helpers::through_source_s{id}(&crate::helpers::SourceS{id}, &k).await;"
                        )
                    }
                    "dyn-trait-box" => format!(
                        "let source: Box<dyn crate::helpers::Source> = Box::new(crate::helpers::SourceS{id});\n{}",
                        access("source.store()", call, "&k")
                    ),
                    _ => format!(
                        "let source: &dyn crate::helpers::Source = &crate::helpers::SourceS{id};\n{}",
                        access("source.store()", call, "&k")
                    ),
                };
                return (code, form);
            }
            "macro-body-handle" => {
                let resource = self.resources[index].clone();
                let (path, form) = if self.forced_form.is_some() || self.rng.chance(50) {
                    (
                        format!("$crate::{}", resource.path_segments().join("::")),
                        "macro-crate-path",
                    )
                } else {
                    (
                        format!("$crate::facade::{}", resource.name),
                        "macro-reexport-path",
                    )
                };
                self.root_macros.push(format!(
                    "macro_rules! touch_s{id} {{\n    ($key:expr) => {{\n        $crate::audit::check({path}().{}.await)\n    }};\n}}",
                    call.call("$key")
                ));
                return (format!("let _ = touch_s{id}!(&k);"), form);
            }
            _ => {}
        }
        let (handle, form) = self.handle(ctx, index, id);
        let code = match flow {
            "direct" => access(&handle, call, "&k"),
            "let-alias" => format!(
                "let first = {handle};\nlet second = first;\n{}",
                access("second", call, "&k")
            ),
            "helper-chain" => {
                self.helper(format!(
                    "pub async fn outer_s{id}(store: pluto::KvStore, k: &str) {{\n    middle_s{id}(store, k).await;\n}}\n\n\
                     async fn middle_s{id}(store: pluto::KvStore, k: &str) {{\n    let renamed = store;\n    inner_s{id}(&renamed, k).await;\n}}\n\n\
                     async fn inner_s{id}(handle: &pluto::KvStore, k: &str) {{\n    {}\n}}",
                    access("handle", call, "k")
                ));
                format!("crate::helpers::outer_s{id}({handle}, &k).await;")
            }
            "nested-fn" => format!(
                "fn local_s{id}() -> pluto::KvStore {{\n    {handle}\n}}\n{}",
                access(&format!("local_s{id}()"), call, "&k")
            ),
            "struct-field" | "struct-method" => {
                self.helper(format!(
                    "pub struct HolderS{id} {{\n    pub label: &'static str,\n    pub store: pluto::KvStore,\n}}\n\n\
                     impl HolderS{id} {{\n    pub async fn run_s{id}(&self, k: &str) {{\n        {}\n    }}\n}}",
                    access("self.store", call, "k")
                ));
                let build = format!(
                    "let holder = crate::helpers::HolderS{id} {{ label: \"s{id}\", store: {handle} }};"
                );
                if flow == "struct-field" {
                    format!("{build}\n{}", access("holder.store", call, "&k"))
                } else {
                    format!("{build}\nholder.run_s{id}(&k).await;")
                }
            }
            "trait-method-on-kvstore" => {
                self.module(ctx)
                    .imports
                    .insert("use crate::helpers::StoreOps;".to_owned());
                format!("{}.op_{suffix}(&k).await;", receiver_text(&handle))
            }
            "trait-default-method-on-kvstore" => {
                self.module(ctx)
                    .imports
                    .insert("use crate::helpers::StoreOps as _;".to_owned());
                format!("{}.default_{suffix}(&k).await;", receiver_text(&handle))
            }
            "trait-method-ufcs" => {
                format!("crate::helpers::StoreOps::op_{suffix}(&{handle}, &k).await;")
            }
            "generic-trait-bound" => {
                self.helper(format!(
                    "pub async fn generic_s{id}<S: StoreOps>(store: &S, k: &str) {{\n    store.op_{suffix}(k).await;\n}}"
                ));
                format!("crate::helpers::generic_s{id}(&{handle}, &k).await;")
            }
            "closure-argument" => format!(
                "let run = |store: pluto::KvStore, k: String| async move {{\n    {}\n}};\nrun({handle}, k.clone()).await;",
                access("store", call, "&k")
            ),
            "closure-capture" => format!(
                "let store = {handle};\nlet owned = k.clone();\nlet run = move || async move {{\n    {}\n}};\nrun().await;",
                access("store", call, "&owned")
            ),
            "async-closure" => format!(
                "let run = async |store: pluto::KvStore| {{\n    {}\n}};\nrun({handle}).await;",
                access("store", call, "&k")
            ),
            "macro-argument" => format!("let _ = kv_{suffix}!({handle}, &k);"),
            "option" => format!(
                "let maybe = Some({handle});\nif let Some(store) = maybe {{\n    {}\n}}",
                access("store", call, "&k")
            ),
            "option-unwrap-or" => {
                let decoy = self.decoy();
                format!(
                    "let store = Some({handle}).unwrap_or({decoy});\n{}",
                    access("store", call, "&k")
                )
            }
            "vec-index" => {
                let decoy = self.decoy();
                format!(
                    "let stores = vec![{handle}, {decoy}];\n{}",
                    access("stores[0]", call, "&k")
                )
            }
            "result" => format!(
                "let wrapped: Result<pluto::KvStore, String> = Ok({handle});\nif let Ok(store) = wrapped {{\n    {}\n}}",
                access("store", call, "&k")
            ),
            "rc-deref" => format!(
                "let counted = std::rc::Rc::new({handle});\nlet store = *counted;\ndrop(counted);\n{}",
                access("store", call, "&k")
            ),
            "shadowing-local" => {
                // A local named like a resource function (perhaps another one) holds the handle.
                let shadow = self.resources[self.rng.below(self.resources.len())].name;
                format!("let {shadow} = {handle};\n{}", access(shadow, call, "&k"))
            }
            "tokio-select" => format!(
                "tokio::select! {{\n    () = async {{\n        {}\n    }} => {{}}\n}}",
                access(&handle, call, "&k")
            ),
            "array-loop" => format!(
                "let stores = [{handle}];\nfor store in stores {{\n    {}\n}}",
                access("store", call, "&k")
            ),
            "tuple" => format!(
                "let pair = (k.len(), {handle});\nlet (_, store) = pair;\n{}",
                access("store", call, "&k")
            ),
            "arc-clone" => format!(
                "let shared = std::sync::Arc::new({handle});\nlet again = std::sync::Arc::clone(&shared);\n{}",
                access("again", call, "&k")
            ),
            "box" => format!(
                "let boxed: Box<pluto::KvStore> = Box::new({handle});\n{}",
                access("boxed", call, "&k")
            ),
            "hashmap-value" => {
                let decoy = self.decoy();
                format!(
                    "let mut by_role = std::collections::HashMap::new();\nby_role.insert(\"target\", {handle});\nby_role.insert(\"other\", {decoy});\n{}",
                    access("by_role[\"target\"]", call, "&k")
                )
            }
            "iterator-adapters" => format!(
                "for store in vec![{handle}].into_iter().filter(|_| true).map(|store| store) {{\n    {}\n}}",
                access("store", call, "&k")
            ),
            "tokio-spawn" => format!(
                "let store = {handle};\nlet owned = k.clone();\nlet task = tokio::spawn(async move {{\n    {}\n}});\nif let Err(error) = task.await {{\n    crate::audit::fail(error.to_string());\n}}",
                access("store", call, "&owned")
            ),
            "tokio-join" => format!(
                "let ((), ()) = tokio::join!(\n    async {{\n        {}\n    }},\n    async {{}}\n);",
                access(&handle, call, "&k")
            ),
            "branch-if" => {
                let decoy = self.decoy();
                format!(
                    "let chosen = if k.len() < 1_000 {{ {handle} }} else {{ {decoy} }};\n{}",
                    access("chosen", call, "&k")
                )
            }
            _ => {
                // branch-match
                let decoy = self.decoy();
                format!(
                    "let chosen = match k.len() {{\n    0..=999 => {handle},\n    _ => {decoy},\n}};\n{}",
                    access("chosen", call, "&k")
                )
            }
        };
        (code, form)
    }

    /// An invocation of an earlier handler from a handler of `ctx`.
    fn invoke(&mut self, ctx: Module) -> Option<(String, String, Vec<String>)> {
        if self.handlers.is_empty() {
            return None;
        }
        let (callee, module) = {
            let (handler, module) = &self.handlers[self.rng.below(self.handlers.len())];
            (handler.name.clone(), *module)
        };
        let mut paths = vec![(module.crate_path(&callee), "invoke-crate-path")];
        if module == ctx {
            paths.push((format!("self::{callee}"), "invoke-self-path"));
            paths.push((callee.clone(), "invoke-same-module"));
        } else {
            let mut segments = module.segments().to_vec();
            segments.push(&callee);
            paths.push((relative_path(ctx, &segments), "invoke-relative-path"));
        }
        let (path, form) = self.rng.pick(&paths).clone();
        let code = if self.rng.chance(50) {
            format!(
                "let _ = crate::audit::check(pluto::function!({path}).invoke(&(k.clone(),)).await);"
            )
        } else {
            format!(
                "let callee = pluto::function!({path});\nlet _ = crate::audit::check(callee.invoke(&(k.clone(),)).await);"
            )
        };
        Some((
            code,
            callee,
            vec![form.to_owned(), "function-invoke".to_owned()],
        ))
    }

    fn handler(&mut self, index: usize, size: AppSize) {
        let ctx = *self.rng.pick(&Module::HANDLERS);
        let name = format!("h{index}");
        let mut pairs: Vec<(usize, Operation)> = (0..self.resources.len())
            .flat_map(|resource| {
                [Operation::KvGet, Operation::KvSet, Operation::KvDelete]
                    .into_iter()
                    .map(move |operation| (resource, operation))
            })
            .collect();
        let count = self
            .rng
            .between(size.accesses_per_handler.0, size.accesses_per_handler.1)
            .min(pairs.len());
        let mut body = String::new();
        let mut ids = Vec::new();
        for _ in 0..count {
            let (resource, operation) = pairs.remove(self.rng.below(pairs.len()));
            let call = KvCall::for_operation(operation, &mut self.rng);
            let id = self.snippets.len();
            let (code, features, isolated) = self.flow(ctx, resource, call, id);
            let reference = self.resources[resource].reference();
            let _ = write!(
                body,
                "    // s{id}: {} `{}` via {}\n    {{\n        let k = format!(\"{{key}}-{id}\");\n{}\n    }}\n",
                operation.label(),
                reference.name,
                features.join(" + "),
                indent(&code, 8)
            );
            self.snippets.push(Snippet {
                id,
                handler: name.clone(),
                resource: reference,
                operation,
                features,
                isolated,
                file: ctx.file(),
            });
            ids.push(id);
        }
        if self.rng.chance(30) {
            let id = self.snippets.len();
            if let Some((code, callee, features)) = self.invoke(ctx) {
                let _ = write!(
                    body,
                    "    // s{id}: invoke `{callee}` via {}\n    {{\n        let k = format!(\"{{key}}-{id}\");\n{}\n    }}\n",
                    features.join(" + "),
                    indent(&code, 8)
                );
                self.snippets.push(Snippet {
                    id,
                    handler: name.clone(),
                    resource: ResourceRef {
                        kind: ResourceKind::Function,
                        name: callee,
                    },
                    operation: Operation::FunctionInvoke,
                    isolated: features.first().cloned(),
                    features,
                    file: ctx.file(),
                });
                ids.push(id);
            }
        }
        let item = format!(
            "#[resource(function)]\npub async fn {name}(key: String) -> pluto::Result<String> {{\n    crate::audit::begin();\n{body}    crate::audit::finish(\"{name}\")\n}}"
        );
        self.module(ctx).items.push(item);
        self.handlers.push((
            GeneratedHandler {
                name,
                file: ctx.file(),
                snippets: ids,
            },
            ctx,
        ));
    }

    fn files(&mut self) -> BTreeMap<String, String> {
        // Resources, their re-exports and the glob re-export chain.
        let resources = self.resources.clone();
        for resource in &resources {
            let visibility = if self.rng.chance(30) {
                "pub(crate)"
            } else {
                "pub"
            };
            self.module(resource.module).items.insert(
                0,
                format!(
                    "#[resource(kv_store)]\n{visibility} fn {}() -> pluto::KvStore;",
                    resource.name
                ),
            );
            let path = resource.module.crate_path(resource.name);
            let facade = self.module(Module::Facade);
            facade.imports.insert(format!("pub(crate) use {path};"));
            facade.imports.insert(format!(
                "pub(crate) use {path} as {}_handle;",
                resource.name
            ));
        }
        self.module(Module::Prelude)
            .imports
            .insert("pub(crate) use crate::facade::*;".to_owned());
        let mut files = BTreeMap::new();
        for module in Module::ALL {
            let text = self.modules.remove(&module).unwrap_or_default();
            let mut out = String::new();
            let _ = writeln!(out, "{}", module_doc(module));
            match module {
                Module::Root => {
                    out.push_str(
                        "#![allow(dead_code, unused_imports, unused_macros, unused_variables, async_fn_in_trait)]\n\n",
                    );
                    out.push_str(&kv_macros());
                    for item in &self.root_macros {
                        let _ = writeln!(out, "{item}\n");
                    }
                    out.push_str(
                        "mod api;\nmod audit;\nmod facade;\nmod helpers;\nmod infra;\n#[path = \"odd/place.rs\"]\nmod place;\nmod prelude;\n\n",
                    );
                }
                Module::Api => out.push_str("pub mod admin;\n\n"),
                Module::Infra => out.push_str("pub mod deep;\n\n"),
                _ => {}
            }
            if matches!(
                module,
                Module::Root
                    | Module::Api
                    | Module::Admin
                    | Module::Place
                    | Module::Infra
                    | Module::Deep
            ) {
                out.push_str("use pluto::resource;\n");
            }
            if module == Module::Helpers {
                out.push_str(&helpers_prelude());
            }
            for line in &text.imports {
                let _ = writeln!(out, "{line}");
            }
            out.push('\n');
            for item in &text.items {
                let _ = writeln!(out, "{item}\n");
            }
            if module == Module::Root {
                out.push_str("fn main() {\n    pluto::start();\n}\n");
            }
            if module == Module::Audit {
                out.push_str(AUDIT);
            }
            files.insert(module.file().to_owned(), out);
        }
        files
    }
}

fn module_doc(module: Module) -> &'static str {
    match module {
        Module::Root => {
            "//! A generated Pluto app for the deducer's differential soundness test.\n"
        }
        Module::Api => "//! Handlers.\n",
        Module::Admin => "//! Handlers in a nested module.\n",
        Module::Place => "//! Resources and handlers in a `#[path]` module.\n",
        Module::Infra => "//! KV stores.\n",
        Module::Deep => "//! KV stores in a nested module.\n",
        Module::Helpers => "//! Helpers the handlers reach their handles through.\n",
        Module::Facade => "//! Re-exports of the KV stores.\n",
        Module::Prelude => "//! A glob re-export of the facade (a chain of re-exports).\n",
        Module::Audit => "//! Records failed accesses, so one failure does not skip the others.\n",
    }
}

fn indent(code: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    code.lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One macro per operation taking the handle as an argument: `kv_get!(store, &key)`.
fn kv_macros() -> String {
    let mut out = String::new();
    for call in KvCall::ALL {
        let _ = writeln!(
            out,
            "macro_rules! kv_{} {{\n    ($store:expr, $key:expr) => {{\n        $crate::audit::check($store.{}.await)\n    }};\n}}\n",
            call.suffix(),
            call.call("$key")
        );
    }
    out
}

/// The trait implemented for `pluto::KvStore` (required and default methods) and the `Source`
/// trait of the generic and `dyn` flows.
fn helpers_prelude() -> String {
    let mut required = String::new();
    let mut defaults = String::new();
    let mut implementations = String::new();
    for call in KvCall::ALL {
        let suffix = call.suffix();
        let _ = writeln!(required, "    async fn op_{suffix}(&self, k: &str);");
        let _ = writeln!(
            defaults,
            "    async fn default_{suffix}(&self, k: &str) {{\n        {}\n    }}",
            access("self.handle()", call, "k")
        );
        let _ = writeln!(
            implementations,
            "    async fn op_{suffix}(&self, k: &str) {{\n        {}\n    }}",
            access("self", call, "k")
        );
    }
    format!(
        "/// Operations on a store, implemented for `pluto::KvStore`.\npub trait StoreOps {{\n    fn handle(&self) -> pluto::KvStore;\n{required}{defaults}}}\n\n\
         impl StoreOps for pluto::KvStore {{\n    fn handle(&self) -> pluto::KvStore {{\n        *self\n    }}\n{implementations}}}\n\n\
         /// Something that knows its store.\npub trait Source {{\n    fn store(&self) -> pluto::KvStore;\n}}\n\n"
    )
}

const AUDIT: &str = r#"use std::sync::Mutex;

static FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Starts an invocation: forgets the failures of the previous one.
pub fn begin() {
    if let Ok(mut failures) = FAILURES.lock() {
        failures.clear();
    }
}

/// The value of a client call, or its type's default after recording the failure.
pub fn check<T: Default>(result: Result<T, pluto::ClientError>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => {
            fail(error.to_string());
            T::default()
        }
    }
}

/// Records a failure.
pub fn fail(message: String) {
    if let Ok(mut failures) = FAILURES.lock() {
        failures.push(message);
    }
}

/// Ends an invocation: an error listing every failure, if any.
pub fn finish(handler: &str) -> pluto::Result<String> {
    let failures = FAILURES.lock().map(|mut failures| std::mem::take(&mut *failures)).unwrap_or_default();
    if failures.is_empty() {
        Ok(format!("{handler}: ok"))
    } else {
        Err(failures.join("\n").into())
    }
}
"#;

/// One access: a function used an operation on a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    /// The function (logical name).
    pub function: String,
    /// The resource.
    pub resource: ResourceRef,
    /// The operation.
    pub operation: Operation,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} on {}",
            self.function,
            self.operation.label(),
            self.resource
        )
    }
}

/// An access the app made that the deducer did not grant.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The seed of the app.
    pub seed: u64,
    /// The missing grant.
    pub access: Access,
    /// The access sites that make it: `(snippet id, features, file:line)`.
    pub sites: Vec<(usize, Vec<String>, String)>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {}: handler `{}` made `{}` on {} without a grant",
            self.seed,
            self.access.function,
            self.access.operation.label(),
            self.access.resource
        )?;
        for (id, features, place) in &self.sites {
            write!(f, "\n    s{id} at {place}: {}", features.join(" + "))?;
        }
        Ok(())
    }
}

/// Grants by how they compare with what ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Precision {
    /// Precise grants (no `escaped`) that a handler used.
    pub exact: usize,
    /// Conservative grants (`escaped` is set), used or not.
    pub conservative: usize,
    /// Precise grants no handler used.
    pub unused: usize,
}

impl std::ops::AddAssign for Precision {
    fn add_assign(&mut self, other: Self) {
        self.exact += other.exact;
        self.conservative += other.conservative;
        self.unused += other.unused;
    }
}

/// What checking one generated app found.
#[derive(Debug, Clone)]
pub struct AppReport {
    /// The seed.
    pub seed: u64,
    /// Where the app was written.
    pub dir: PathBuf,
    /// Handlers run.
    pub handlers: usize,
    /// Distinct accesses observed (function, resource, operation).
    pub accesses: usize,
    /// Accesses made without a grant.
    pub violations: Vec<Violation>,
    /// Handlers that did not return successfully, with what happened.
    pub failed_handlers: Vec<(String, String)>,
    /// Accesses the generator put in a handler that the run never observed (a generator bug:
    /// the test would then prove less than it claims).
    pub unobserved: Vec<Access>,
    /// Grant precision.
    pub precision: Precision,
    /// Every snippet's features, the one it isolates, and whether its access was a violation
    /// (for per-feature figures).
    pub snippet_outcomes: Vec<SiteOutcome>,
    /// Time to deduce, build and run.
    pub timings: Timings,
}

/// Where the time of one app went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// `pluto_deducer::deduce`.
    pub deduce: Duration,
    /// `cargo build` of the app.
    pub build: Duration,
    /// Running every handler in the simulator.
    pub run: Duration,
}

impl AppReport {
    /// Whether the app passed: no violation, every handler succeeded, every access observed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.failed_handlers.is_empty() && self.unobserved.is_empty()
    }
}

/// What one access site came to.
#[derive(Debug, Clone)]
pub struct SiteOutcome {
    /// Its features.
    pub features: Vec<String>,
    /// The feature it tests in isolation, if any ([`Snippet::isolated`]).
    pub isolated: Option<String>,
    /// Whether its access was made without a grant.
    pub violated: bool,
}

/// Access sites using one feature, and how many of them were violations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureFigures {
    /// Sites using the feature.
    pub sites: usize,
    /// Of those, sites whose access had no grant.
    pub violated: usize,
    /// Sites testing the feature in isolation (everything else baseline).
    pub isolated_sites: usize,
    /// Of those, sites whose access had no grant: the feature's own violations.
    pub isolated_violated: usize,
}

/// Per-feature figures over many apps.
pub fn feature_table(reports: &[AppReport]) -> BTreeMap<String, FeatureFigures> {
    let mut table: BTreeMap<String, FeatureFigures> = BTreeMap::new();
    for report in reports {
        for site in &report.snippet_outcomes {
            for feature in &site.features {
                let entry = table.entry(feature.clone()).or_default();
                entry.sites += 1;
                entry.violated += usize::from(site.violated);
            }
            if let Some(feature) = &site.isolated {
                let entry = table.entry(feature.clone()).or_default();
                entry.isolated_sites += 1;
                entry.isolated_violated += usize::from(site.violated);
            }
        }
    }
    table
}

/// Why an app could not be checked at all.
#[derive(Debug)]
pub enum HarnessError {
    /// Writing the app failed.
    Write(PathBuf, std::io::Error),
    /// The deducer refused the app.
    Deduce(PathBuf, String),
    /// The app does not build (a generator bug).
    Build(PathBuf, String),
    /// The simulator could not start.
    Simulator(String),
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Write(dir, error) => write!(f, "could not write {}: {error}", dir.display()),
            Self::Deduce(dir, error) => {
                write!(f, "the deducer refused {}: {error}", dir.display())
            }
            Self::Build(dir, error) => write!(
                f,
                "the generated app {} does not build (a generator bug):\n{error}",
                dir.display()
            ),
            Self::Simulator(error) => write!(f, "the simulator did not start: {error}"),
        }
    }
}

impl std::error::Error for HarnessError {}

/// Removes an app's binary from the shared target dir once it has run (a debug binary with the
/// AWS SDK is ~35 MB; a soak run builds hundreds). Its sources stay, to rebuild it.
fn remove_build_outputs(binary: &Path, package: &str) {
    let _ = std::fs::remove_file(binary);
    let Some(deps) = binary.parent().map(|dir| dir.join("deps")) else {
        return;
    };
    let prefix = format!("{}-", package.replace('-', "_"));
    if let Ok(entries) = std::fs::read_dir(&deps) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Writes, deduces, builds and runs generated apps.
#[derive(Debug, Clone)]
pub struct Harness {
    /// Where apps are written (`<dir>/app-<seed>`).
    pub dir: PathBuf,
    /// The target dir shared by every generated app.
    pub target_dir: PathBuf,
    /// The runtime crate (`pluto`).
    pub runtime: PathBuf,
    /// The workspace's `Cargo.lock`, copied into each app.
    pub lockfile: PathBuf,
    /// Size of the apps.
    pub size: AppSize,
}

impl Default for Harness {
    fn default() -> Self {
        let root = crate::workspace_root();
        let dir = root.join("target").join("soundness");
        Self {
            target_dir: dir.join("target"),
            dir,
            runtime: root.join("runtime"),
            lockfile: root.join("Cargo.lock"),
            size: AppSize::default(),
        }
    }
}

/// A generated app, written, deduced and built.
#[derive(Debug)]
pub struct PreparedApp {
    /// The app.
    pub app: GeneratedApp,
    /// Its directory.
    pub dir: PathBuf,
    /// What the deducer made of it.
    pub architecture: Architecture,
    /// Its binary.
    pub binary: PathBuf,
    /// Time spent so far.
    pub timings: Timings,
}

impl Harness {
    /// Generates the app of `seed`, writes, deduces and builds it (blocking).
    ///
    /// # Errors
    /// When the app cannot be written, deduced or built.
    pub fn prepare(&self, seed: u64) -> Result<PreparedApp, HarnessError> {
        let app = GeneratedApp::generate_sized(seed, self.size);
        let dir = self.dir.join(format!("app-{seed}"));
        app.write(&dir, &self.runtime, &self.lockfile)
            .map_err(|error| HarnessError::Write(dir.clone(), error))?;
        let started = Instant::now();
        let architecture = pluto_deducer::deduce(&PackageSelector {
            manifest_path: Some(dir.join("Cargo.toml")),
            package: None,
            bin: None,
        })
        .map_err(|error| HarnessError::Deduce(dir.clone(), format!("{error:?}")))?
        .architecture;
        let deduce = started.elapsed();
        let started = Instant::now();
        let binary = self.build(&dir, &app.package)?;
        Ok(PreparedApp {
            app,
            dir,
            architecture,
            binary,
            timings: Timings {
                deduce,
                build: started.elapsed(),
                run: Duration::ZERO,
            },
        })
    }

    fn build(&self, dir: &Path, package: &str) -> Result<PathBuf, HarnessError> {
        // cargo's errors go to stderr; the error says so.
        pluto_build::build_host(&pluto_build::HostBuild {
            manifest_path: dir.join("Cargo.toml"),
            bin: Some(package.to_owned()),
            target_dir: Some(self.target_dir.clone()),
            offline: true,
            quiet: true,
            ..pluto_build::HostBuild::default()
        })
        .map_err(|error| HarnessError::Build(dir.to_path_buf(), error.to_string()))
    }

    /// Runs every handler of a prepared app in the simulator with IAM enforced and compares
    /// what they did with the grants.
    ///
    /// # Errors
    /// When the simulator cannot start.
    pub async fn run(&self, prepared: PreparedApp) -> Result<AppReport, HarnessError> {
        let started = Instant::now();
        let PreparedApp {
            app,
            dir,
            architecture,
            binary,
            mut timings,
        } = prepared;
        let _ = std::fs::remove_file(dir.join(pluto_simulator::simulator::KV_DATABASE_FILE));
        let observed: Arc<Mutex<BTreeSet<Access>>> = Arc::default();
        let sink = observed.clone();
        let mut options = SimulatorOptions::new("test", binary.clone(), dir.clone());
        options.max_instances = 1;
        // Every resource's name, granted or not, so an access the deducer missed reaches the
        // simulator (and is recorded and denied) instead of failing in the runtime first.
        options.every_resource_name = true;
        options.access_recorder = Some(Arc::new(move |attempt: &AttemptedAccess| {
            if let (Some(function), Some(resource)) = (&attempt.function, &attempt.resource)
                && let Ok(mut observed) = sink.lock()
            {
                observed.insert(Access {
                    function: function.clone(),
                    resource: resource.clone(),
                    operation: attempt.operation,
                });
            }
        }));
        let simulator = Simulator::start(&architecture, options)
            .await
            .map_err(|error| HarnessError::Simulator(error.to_string()))?;
        let mut failed_handlers = Vec::new();
        for handler in &app.handlers {
            let outcome = simulator
                .invoke(&handler.name, json!([handler.name]))
                .await
                .map(|outcome| match outcome {
                    Outcome::Response(_) => None,
                    other => Some(format!("{other:?}")),
                })
                .unwrap_or_else(|error| Some(error.to_string()));
            if let Some(problem) = outcome {
                failed_handlers.push((handler.name.clone(), problem));
            }
        }
        simulator.stop().await;
        timings.run = started.elapsed();
        remove_build_outputs(&binary, &app.package);

        let observed = observed.lock().map(|set| set.clone()).unwrap_or_default();
        let deduced: BTreeMap<Access, bool> = architecture
            .functions
            .iter()
            .flat_map(|function| {
                function.grants.iter().map(|grant| {
                    (
                        Access {
                            function: function.spec.name.clone(),
                            resource: grant.resource.clone(),
                            operation: grant.operation,
                        },
                        grant.escaped.is_some(),
                    )
                })
            })
            .collect();
        let mut precision = Precision::default();
        for (grant, conservative) in &deduced {
            if *conservative {
                precision.conservative += 1;
            } else if observed.contains(grant) {
                precision.exact += 1;
            } else {
                precision.unused += 1;
            }
        }
        let missing: BTreeSet<&Access> = observed
            .iter()
            .filter(|access| !deduced.contains_key(*access))
            .collect();
        let violations = missing
            .iter()
            .map(|access| Violation {
                seed: app.seed,
                access: (*access).clone(),
                sites: app
                    .snippets
                    .iter()
                    .filter(|snippet| {
                        snippet.handler == access.function
                            && snippet.resource == access.resource
                            && snippet.operation == access.operation
                    })
                    .map(|snippet| {
                        let line = app.snippet_line(snippet.id).unwrap_or(0);
                        (
                            snippet.id,
                            snippet.features.clone(),
                            format!("{}:{line}", dir.join(snippet.file).display()),
                        )
                    })
                    .collect(),
            })
            .collect();
        let snippet_outcomes = app
            .snippets
            .iter()
            .map(|snippet| {
                let access = Access {
                    function: snippet.handler.clone(),
                    resource: snippet.resource.clone(),
                    operation: snippet.operation,
                };
                SiteOutcome {
                    features: snippet.features.clone(),
                    isolated: snippet.isolated.clone(),
                    violated: missing.contains(&access),
                }
            })
            .collect();
        let unobserved = app
            .expected_accesses()
            .into_iter()
            .filter(|access| !observed.contains(access))
            .collect();
        Ok(AppReport {
            seed: app.seed,
            dir,
            handlers: app.handlers.len(),
            accesses: observed.len(),
            violations,
            failed_handlers,
            unobserved,
            precision,
            snippet_outcomes,
            timings,
        })
    }
}

/// The figures of a set of checked apps, one per line: apps, handlers, accesses, violations,
/// grant precision, per-feature violations, and timing.
pub fn render_summary(reports: &[AppReport]) -> String {
    let mut precision = Precision::default();
    let mut timings = Timings::default();
    for report in reports {
        precision += report.precision;
        timings.deduce += report.timings.deduce;
        timings.build += report.timings.build;
        timings.run += report.timings.run;
    }
    let handlers: usize = reports.iter().map(|report| report.handlers).sum();
    let accesses: usize = reports.iter().map(|report| report.accesses).sum();
    let violations: usize = reports.iter().map(|report| report.violations.len()).sum();
    let failed: usize = reports
        .iter()
        .map(|report| report.failed_handlers.len())
        .sum();
    let apps = u32::try_from(reports.len().max(1)).unwrap_or(u32::MAX);
    let mut out = format!(
        "soundness: {} apps, {handlers} handlers, {accesses} accesses observed, {violations} violations \
         (accesses without a grant), {failed} handlers failed\n\
         precision: {} grants: {} exact, {} conservative, {} unused\n\
         time per app: deduce {:.2} s, build {:.2} s, run {:.2} s\n",
        reports.len(),
        precision.exact + precision.conservative + precision.unused,
        precision.exact,
        precision.conservative,
        precision.unused,
        (timings.deduce / apps).as_secs_f64(),
        (timings.build / apps).as_secs_f64(),
        (timings.run / apps).as_secs_f64(),
    );
    let table = feature_table(reports);
    let width = table.keys().map(String::len).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "  {:width$}  isolated  all sites  (violations / sites; isolated: every other feature baseline)",
        "feature"
    );
    for (feature, figures) in &table {
        let _ = writeln!(
            out,
            "  {feature:width$}  {:>3} / {:<3}  {:>3} / {:<3}{}",
            figures.isolated_violated,
            figures.isolated_sites,
            figures.violated,
            figures.sites,
            if figures.isolated_violated > 0 {
                "  <- under-grants"
            } else {
                ""
            }
        );
    }
    out
}

/// Every problem of the apps that did not pass, for a failure message: seed, handler, missing
/// grant, and the generated access sites (file:line and features) that need it.
pub fn render_failures(reports: &[AppReport]) -> String {
    let mut out = String::new();
    for report in reports.iter().filter(|report| !report.passed()) {
        let _ = writeln!(
            out,
            "seed {} (app in {}; rerun the seed, or copy the app as a fixture):",
            report.seed,
            report.dir.display()
        );
        for violation in &report.violations {
            let _ = writeln!(out, "  {violation}");
        }
        for (handler, problem) in &report.failed_handlers {
            let short: String = problem.chars().take(240).collect();
            let _ = writeln!(
                out,
                "  seed {}: handler `{handler}` failed: {short}{}",
                report.seed,
                if short.len() < problem.len() {
                    "..."
                } else {
                    ""
                }
            );
        }
        for access in &report.unobserved {
            let _ = writeln!(
                out,
                "  seed {}: generator bug: {access} was generated but never observed",
                report.seed
            );
        }
    }
    out
}
