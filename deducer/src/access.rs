//! Access analysis: which client operations on which resources each handler can reach, and by
//! which chain of calls.
//!
//! Every function of the crate is indexed under its full path (free functions, methods of
//! inherent and trait impls keyed by the type they are for, trait default methods, functions
//! nested in bodies), and so are constants and statics. From each handler the analysis walks the
//! body, resolving every path with [`crate::resolve`] and following calls into crate functions
//! with what is known of their arguments: which handles a value is, which it holds (containers),
//! its fields, its type, and the functions it may be (function items passed as values). Method
//! calls dispatch on the receiver's type into the crate's impls, trait default methods and
//! blanket impls; on an unknown type, into every crate method of that name. The crate's own
//! `macro_rules!` macros are expanded ([`crate::expand`]).
//!
//! The rule is never to under-grant: a handle that reaches code the analysis cannot see (another
//! crate, an unknown method, a macro it cannot expand) is granted every operation of its
//! resource, and the grant records where it escaped. A handle made from a run-time string is an
//! error ([`AccessAnalysis::errors`]).

use crate::architecture::{CallChain, CallStep, Escape, Operation, ResourceRef, SourceLocation};
use crate::diagnostics::Diagnostic;
use crate::discover::Declaration;
use crate::expand;
use crate::resolve::{BlockScope, Def, DefKind, DefMap, Namespace, segments};
use crate::source::{Package, SourceFiles, is_cfg_test};
use pluto_model::operation::{HANDLE_METHODS_WITHOUT_OPERATION, RUNTIME_CONSUMERS};
use pluto_spec::ResourceKind;
use pluto_spec::parse::rust_name;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, Pat, Stmt, Token};

/// A set of resources an expression may evaluate to a handle of.
type Handles = BTreeSet<ResourceRef>;

/// How many functions that can reach no handle [`AccessAnalysis::analyze_everything`] walks
/// anyway (a robustness sweep over other crates, where no function can reach a handle).
const EVERYTHING_WALK_BUDGET: usize = 20_000;

/// How often a recursive function is walked again with its own result so far.
const MAX_RECURSION_ROUNDS: usize = 4;

/// How much a summary says: grows as a recursive function's result grows.
fn summary_size(summary: &Summary) -> usize {
    summary.reaches.len()
        + summary.returns.all_handles().len()
        + summary.returns.all_callables().len()
}

/// How many values (fields, elements) a value may be made of before it is widened.
const MAX_VALUE_NODES: usize = 32;

/// How deeply containers nest before a value is widened to "any shape holding these handles".
const MAX_VALUE_DEPTH: usize = 4;

/// How deeply macro expansions may nest (a recursive macro expands once per level).
const MAX_EXPANSION_DEPTH: usize = 32;

/// What the analysis knows of a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Value {
    /// The handles the value may be (through `&`, `Box`, `Arc`: they call like the handle).
    handles: Handles,
    /// What an element may be, when the value is a container (`Vec`, `Option`, tuple, array,
    /// `HashMap`, a tuple struct or enum variant of the crate).
    element: Option<Box<Value>>,
    /// The fields of a struct value built in the crate.
    fields: BTreeMap<String, Value>,
    /// Its type, when known: a full path (`["pluto", "KvStore"]`, `["app", "store", "Repo"]`).
    ty: Option<Vec<String>>,
    /// Functions (or declarations) the value may be: `let make = sessions;`.
    callables: BTreeSet<Vec<String>>,
    /// What calling the value returns, when it is a closure of the crate.
    returns: Option<Box<Value>>,
    /// Any shape holding these handles: containers nested too deeply to follow one by one.
    widened: bool,
}

impl Value {
    fn of(handles: Handles) -> Self {
        Self {
            handles,
            ..Self::default()
        }
    }

    fn handle(resource: ResourceRef) -> Self {
        let ty = Some(vec![
            "pluto".to_owned(),
            handle_type(resource.kind).to_owned(),
        ]);
        Self {
            handles: Handles::from([resource]),
            ty,
            ..Self::default()
        }
    }

    /// A container whose elements are `element`.
    fn container(element: Value) -> Self {
        Self {
            element: (!element.is_empty()).then(|| Box::new(element)),
            ..Self::default()
        }
        .bounded()
    }

    fn is_empty(&self) -> bool {
        self.handles.is_empty()
            && self.element.is_none()
            && self.fields.is_empty()
            && self.callables.is_empty()
            && self.returns.is_none()
    }

    /// Whether the value can lead to no handle: it is, holds and may call none.
    fn holds_nothing(&self) -> bool {
        self.all_handles().is_empty() && self.all_callables().is_empty()
    }

    /// The values this one is made of: its element, its fields, what it returns when called.
    fn parts(&self) -> impl Iterator<Item = &Value> {
        self.element
            .as_deref()
            .into_iter()
            .chain(self.fields.values())
            .chain(self.returns.as_deref())
    }

    /// Every handle the value is or holds.
    fn all_handles(&self) -> Handles {
        let mut out = self.handles.clone();
        for part in self.parts() {
            out.extend(part.all_handles());
        }
        out
    }

    /// What an element may be: the element of a container, or, for a value of unknown shape,
    /// any handle it holds.
    fn element(&self) -> Value {
        if self.widened {
            return self.clone();
        }
        match &self.element {
            Some(element) => (**element).clone(),
            None => Value::of(self.all_handles()),
        }
    }

    /// The value of either of two branches.
    fn merge(&mut self, other: Value) {
        let was_unknown = *self == Value::default();
        self.handles.extend(other.handles);
        self.element = merge_parts(self.element.take(), other.element);
        for (field, value) in other.fields {
            self.fields.entry(field).or_default().merge(value);
        }
        self.callables.extend(other.callables);
        self.returns = merge_parts(self.returns.take(), other.returns);
        self.widened |= other.widened;
        if was_unknown {
            self.ty = other.ty;
        } else if self.ty != other.ty {
            self.ty = None;
        }
        *self = std::mem::take(self).bounded();
    }

    fn depth(&self) -> usize {
        1 + self.parts().map(Value::depth).max().unwrap_or(0)
    }

    /// How many values make up this one.
    fn nodes(&self) -> usize {
        1 + self.parts().map(Value::nodes).sum::<usize>()
    }

    /// Every function the value is or holds.
    fn all_callables(&self) -> BTreeSet<Vec<String>> {
        let mut out = self.callables.clone();
        for part in self.parts() {
            out.extend(part.all_callables());
        }
        out
    }

    /// The value, widened when it nests deeper than [`MAX_VALUE_DEPTH`] or is made of more than
    /// [`MAX_VALUE_NODES`] values (so recursion through containers ends and builders stay small).
    fn bounded(self) -> Value {
        // Structure that holds no handle tells nothing: only the type (for dispatch) stays.
        if self.holds_nothing() {
            return Value {
                ty: self.ty,
                ..Value::default()
            };
        }
        let structured =
            self.element.is_some() || !self.fields.is_empty() || self.returns.is_some();
        if !(self.widened && structured)
            && (self.widened
                || (self.depth() <= MAX_VALUE_DEPTH && self.nodes() <= MAX_VALUE_NODES))
        {
            return self;
        }
        Value {
            handles: self.all_handles(),
            callables: self.all_callables(),
            widened: true,
            ..Value::default()
        }
    }
}

/// Either of two optional parts of a value (an element, what a closure returns).
fn merge_parts(mine: Option<Box<Value>>, theirs: Option<Box<Value>>) -> Option<Box<Value>> {
    match (mine, theirs) {
        (Some(mut mine), Some(theirs)) => {
            mine.merge(*theirs);
            Some(mine)
        }
        (mine, theirs) => mine.or(theirs),
    }
}

/// The runtime's type of a handle of this kind.
fn handle_type(kind: ResourceKind) -> &'static str {
    // Functions are ordinary Rust functions; their handle (`function!(x)`) is `Function`.
    kind.handle_type().unwrap_or("Function")
}

/// One way a handler reaches an operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reach {
    /// The resource.
    pub resource: ResourceRef,
    /// The operation.
    pub operation: Operation,
    /// Calls from the analysed function to the operation (the handler itself not included).
    pub steps: Vec<CallStep>,
    /// Set when the operation is granted because the handle escaped.
    pub escaped: Option<Escape>,
}

/// The code of an analysed definition.
#[derive(Clone, Copy)]
enum Body<'a> {
    /// A function's block.
    Block(&'a syn::Block),
    /// A constant's or static's initializer.
    Expr(&'a Expr),
}

/// A function (or constant) of the crate.
struct FnDef<'a> {
    /// Its parameters (none for constants).
    inputs: Vec<&'a syn::FnArg>,
    body: Body<'a>,
    /// Target and module where it is defined (for locations).
    module: (usize, usize),
    /// Full path of that module (for name resolution).
    module_path: Vec<String>,
    /// The type of `Self`, for methods.
    self_type: Option<Vec<String>>,
    /// The trait it belongs to: the trait of its impl, or its own trait for default methods.
    trait_path: Option<Vec<String>>,
    /// How a call to it is shown in provenance: `Repo::load`, `helpers::save`.
    display: String,
    /// Whether its body has a struct literal.
    builds_structs: bool,
    /// The type its return type names, when that is `Self` or a crate type.
    returns_type: Option<Vec<String>>,
    /// Names of the type parameters in scope (its own and its impl's; `Self` in traits).
    type_params: BTreeSet<String>,
    /// Its return type, if any.
    output: Option<&'a syn::Type>,
}

impl<'a> FnDef<'a> {
    /// A function with this signature and body, written in `module_path`; the other facts
    /// default to those of a free function.
    fn new(
        sig: &'a syn::Signature,
        body: Body<'a>,
        module: (usize, usize),
        module_path: &[String],
        display: String,
    ) -> Self {
        Self {
            inputs: sig.inputs.iter().collect(),
            output: return_type(sig),
            body,
            module,
            module_path: module_path.to_vec(),
            self_type: None,
            trait_path: None,
            display,
            builds_structs: false,
            returns_type: None,
            type_params: type_params(&sig.generics).collect(),
        }
    }
}

/// An `impl` block: the type it is for (`None` for a blanket impl over a type parameter), and
/// the trait it implements.
struct ImplDef {
    trait_path: Option<Vec<String>>,
    /// Its methods: name -> key.
    methods: BTreeMap<String, Vec<String>>,
}

/// What analysing one function with given parameter bindings found.
#[derive(Debug, Clone, Default)]
struct Summary {
    reaches: Vec<Reach>,
    returns: Value,
    /// What each parameter holds at the end (writes through `&mut` reach the caller).
    outs: Vec<Value>,
    /// What `self` holds at the end.
    receiver_out: Value,
}

/// A function analysed in a context: its key, its arguments, its receiver.
type AnalysisKey = (Vec<String>, Vec<Value>, Value);

/// The analysis over one crate.
pub struct AccessAnalysis<'a> {
    package: &'a Package,
    files: &'a SourceFiles,
    defs: &'a DefMap,
    functions: BTreeMap<Vec<String>, Rc<FnDef<'a>>>,
    /// Method keys by method name (impl methods and trait default methods).
    methods: HashMap<String, Vec<Vec<String>>>,
    impls: Vec<ImplDef>,
    /// The crate's structs, enums, unions and type aliases, with the module they are in.
    type_items: HashMap<Vec<String>, (Vec<String>, &'a syn::Item)>,
    /// Whether a crate type may hold a handle, once known.
    type_holds: RefCell<HashMap<Vec<String>, bool>>,
    /// Whether a function may return a handle, once known.
    fn_returns_handles: RefCell<HashMap<Vec<String>, bool>>,
    /// Which functions, statics and macros (by name) name each identifier in their code.
    named_in: HashMap<String, BTreeSet<String>>,
    /// Names of the functions, statics and macros whose code names, transitively, a
    /// declaration, `function!` or a field known to hold a handle: only they can reach one
    /// unless one is passed to them ([`AccessAnalysis::refresh_producers`]).
    producers: BTreeSet<String>,
    /// Indexes into `impls` by the type they are for; blanket impls under `None`.
    impls_by_type: HashMap<Option<Vec<String>>, Vec<usize>>,
    declarations: HashMap<Vec<String>, ResourceRef>,
    /// Handles stored in fields of struct literals, by (struct, field) and by field name: for
    /// field reads on values whose origin the analysis lost.
    typed_fields: HashMap<(Vec<String>, String), Value>,
    named_fields: HashMap<String, Value>,
    fields_collected: bool,
    memo: HashMap<AnalysisKey, Summary>,
    in_progress: BTreeSet<AnalysisKey>,
    /// Functions in progress that were reached again (recursion).
    recursion_hits: BTreeSet<AnalysisKey>,
    /// The result so far of each recursive function in progress.
    partial: HashMap<AnalysisKey, Summary>,
    /// Memo entries in the order they were made (to drop those a recursive round outdated).
    memo_log: Vec<AnalysisKey>,
    /// Walks of functions that can reach no handle still allowed (robustness sweeps walk
    /// everything, up to this budget).
    extra_walks: usize,
    errors: BTreeSet<Diagnostic>,
    /// Macro expansions being walked, one inside the other.
    expansion_depth: usize,
    /// The resources named in the module-level item macros (`thread_local!`, the crate's own
    /// macros defining functions): what code those macros generate may use.
    macro_made: Handles,
    /// `macro_rules!` macros defined inside function bodies, by full path.
    body_macros: HashMap<Vec<String>, TokenStream>,
}

impl std::fmt::Debug for AccessAnalysis<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessAnalysis")
            .field("functions", &self.functions.len())
            .finish()
    }
}

/// Whether `method` is a handle method that needs no permission (it reads the handle only).
fn harmless_method(method: &str) -> bool {
    HANDLE_METHODS_WITHOUT_OPERATION
        .iter()
        .any(|(_, name)| *name == method)
}

/// Methods every type has that return the value itself (handles are `Copy`).
const SAME_VALUE_METHODS: &[&str] = &[
    "clone",
    "to_owned",
    "as_ref",
    "as_mut",
    "borrow",
    "borrow_mut",
    "deref",
    "into",
];

/// Methods of std's containers, iterators, `Option`, `Result`, `Arc`, locks and futures that
/// only move elements around: their result may be the container or any of its elements, and
/// closures given to them are called with elements.
const CONTAINER_METHODS: &[&str] = &[
    "all",
    "and_then",
    "any",
    "as_deref",
    "as_deref_mut",
    "as_mut",
    "as_ref",
    "as_slice",
    "borrow",
    "borrow_mut",
    "chain",
    "clone",
    "cloned",
    "collect",
    "copied",
    "cycle",
    "drain",
    "entry",
    "enumerate",
    "expect",
    "extend",
    "filter",
    "filter_map",
    "find",
    "find_map",
    "first",
    "first_mut",
    "flat_map",
    "flatten",
    "fold",
    "for_each",
    "get",
    "get_mut",
    "get_or_insert",
    "get_or_insert_with",
    "insert",
    "into_iter",
    "into_values",
    "iter",
    "iter_mut",
    "last",
    "last_mut",
    "lock",
    "map",
    "map_err",
    "max_by_key",
    "min_by_key",
    "next",
    "ok",
    "ok_or",
    "ok_or_else",
    "or",
    "or_default",
    "or_else",
    "or_insert",
    "or_insert_with",
    "partition",
    "peekable",
    "pop",
    "pop_back",
    "pop_front",
    "push",
    "push_back",
    "push_front",
    "read",
    "remove",
    "rev",
    "skip",
    "skip_while",
    "split_first",
    "split_last",
    "step_by",
    "swap_remove",
    "take",
    "take_while",
    "to_owned",
    "to_vec",
    "try_for_each",
    "unwrap",
    "unwrap_or",
    "unwrap_or_default",
    "unwrap_or_else",
    "values",
    "values_mut",
    "write",
    "zip",
    "inspect",
    "sort_by_key",
    "retain",
    "dedup_by_key",
    "unzip",
    "as_slice_mut",
    "get_key_value",
];

/// Methods of std's containers that store their arguments in the container.
const INSERTING_METHODS: &[&str] = &[
    "insert",
    "push",
    "push_back",
    "push_front",
    "extend",
    "append",
    "get_or_insert",
    "get_or_insert_with",
    "or_insert",
    "or_insert_with",
    "replace",
];

/// Methods of containers and handles that read no element and perform nothing.
const INERT_METHODS: &[&str] = &[
    "len",
    "is_empty",
    "is_some",
    "is_none",
    "is_ok",
    "is_err",
    "capacity",
    "count",
    "contains_key",
    "keys",
    "clear",
    "fmt",
    "hash",
    "eq",
    "ne",
    "cmp",
    "partial_cmp",
];

/// Paths (their last segments) of calls that return their argument: `Box::new(h)` calls like `h`.
const TRANSPARENT_CALLS: &[&[&str]] = &[
    &["Box", "new"],
    &["Arc", "new"],
    &["Rc", "new"],
    &["Arc", "clone"],
    &["Rc", "clone"],
    &["Clone", "clone"],
    &["Box", "pin"],
    &["identity"],
    &["Mutex", "new"],
    &["RwLock", "new"],
    &["RefCell", "new"],
    &["Cell", "new"],
    &["Cow", "Borrowed"],
    &["Cow", "Owned"],
    &["From", "from"],
    &["Into", "into"],
];

/// Paths (their last segments) of calls that put their arguments in a container.
const CONTAINER_CALLS: &[&[&str]] = &[
    &["Some"],
    &["Ok"],
    &["Err"],
    &["Vec", "from"],
    &["HashMap", "from"],
    &["BTreeMap", "from"],
    &["VecDeque", "from"],
    &["HashMap", "from_iter"],
    &["Vec", "from_iter"],
    &["iter", "once"],
    &["iter", "repeat"],
    &["std", "iter", "once"],
];

/// Calls that run a future or closure they are given (its handles are used by the code the
/// walker already followed when it read the argument).
const SPAWNING_CALLS: &[&[&str]] = &[
    &["spawn"],
    &["spawn_blocking"],
    &["block_on"],
    &["timeout"],
    &["drop"],
    &["mem", "drop"],
    &["join_all"],
    &["try_join_all"],
    &["pin"],
    &["LazyLock", "new"],
    &["LazyCell", "new"],
    &["Lazy", "new"],
];

/// The runtime's constructor of a handle from a name, which the macro alone may call.
const HANDLE_FROM_NAME: &str = "__declared";

/// Macros that only format or assert their arguments: a handle named in them does not escape.
const FORMATTING_MACROS: &[&str] = &[
    "format",
    "print",
    "println",
    "eprint",
    "eprintln",
    "write",
    "writeln",
    "panic",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "dbg",
    "trace",
    "debug",
    "info",
    "warn",
    "error",
    "todo",
    "unimplemented",
    "unreachable",
    "format_args",
];

/// Macros that evaluate their expressions and give them back (as a tuple, a list or a value).
const COLLECTING_MACROS: &[&str] = &["vec", "join", "try_join", "select", "matches"];

impl<'a> AccessAnalysis<'a> {
    /// Indexes the crate's functions, impls and the declarations.
    pub fn new(
        package: &'a Package,
        files: &'a SourceFiles,
        defs: &'a DefMap,
        declarations: &[Declaration],
    ) -> Self {
        let mut analysis = Self {
            package,
            files,
            defs,
            functions: BTreeMap::new(),
            methods: HashMap::new(),
            impls: Vec::new(),
            impls_by_type: HashMap::new(),
            type_items: HashMap::new(),
            type_holds: RefCell::new(HashMap::new()),
            fn_returns_handles: RefCell::new(HashMap::new()),
            named_in: HashMap::new(),
            producers: BTreeSet::new(),
            declarations: declarations
                .iter()
                .map(|d| {
                    (
                        d.rust_path.clone(),
                        ResourceRef {
                            kind: d.spec.kind(),
                            name: d.spec.name().to_owned(),
                        },
                    )
                })
                .collect(),
            typed_fields: HashMap::new(),
            named_fields: HashMap::new(),
            fields_collected: false,
            memo: HashMap::new(),
            in_progress: BTreeSet::new(),
            recursion_hits: BTreeSet::new(),
            partial: HashMap::new(),
            memo_log: Vec::new(),
            extra_walks: 0,
            errors: BTreeSet::new(),
            expansion_depth: 0,
            macro_made: Handles::new(),
            body_macros: HashMap::new(),
        };
        // Types first: impls are keyed by the type an alias stands for.
        for target in &package.targets {
            for module in &target.modules {
                let mut scope = vec![target.crate_name.clone()];
                scope.extend(module.path.iter().cloned());
                for item in &module.items {
                    if let Some(name) = type_item_name(item) {
                        let mut key = scope.clone();
                        key.push(name);
                        analysis.type_items.insert(key, (scope.clone(), item));
                    }
                }
            }
        }
        for (target_index, target) in package.targets.iter().enumerate() {
            for (module_index, module) in target.modules.iter().enumerate() {
                let mut scope = vec![target.crate_name.clone()];
                scope.extend(module.path.iter().cloned());
                for item in &module.items {
                    analysis.index_item(item, (target_index, module_index), &scope);
                }
            }
        }
        analysis.named_in = analysis.index_names();
        analysis.refresh_producers();
        analysis.macro_made = analysis.resources_in_item_macros();
        analysis
    }

    /// The resources named in module-level macro invocations and in the rules of the crate's
    /// macros they invoke: the items those macros generate are not indexed, so what they may do
    /// is granted conservatively where code calls something the analysis cannot find.
    fn resources_in_item_macros(&self) -> Handles {
        let mut found = Handles::new();
        for target in &self.package.targets {
            for module in &target.modules {
                let mut module_path = vec![target.crate_name.clone()];
                module_path.extend(module.path.iter().cloned());
                for item in &module.items {
                    let syn::Item::Macro(item_macro) = item else {
                        continue;
                    };
                    if item_macro.ident.is_some() {
                        continue;
                    }
                    let mut texts = vec![item_macro.mac.tokens.clone()];
                    if let Some(name) = item_macro.mac.path.segments.last() {
                        for definition in self.defs.macros_named(&rust_name(&name.ident)) {
                            texts.extend(self.macro_rules(definition));
                        }
                    }
                    for tokens in &texts {
                        for path in expand::paths_in(tokens) {
                            for def in self
                                .defs
                                .resolve(&module_path, &[], &path, Namespace::Value)
                            {
                                if let Some(resource) = self.declarations.get(def.path()) {
                                    found.insert(resource.clone());
                                }
                            }
                        }
                    }
                }
            }
        }
        found
    }

    /// Which code names each identifier: functions and statics by their name, macros by theirs.
    fn index_names(&self) -> HashMap<String, BTreeSet<String>> {
        let mut named_in: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut index = |owner: String, idents: BTreeSet<String>| {
            for ident in idents {
                named_in.entry(ident).or_default().insert(owner.clone());
            }
        };
        for (key, definition) in &self.functions {
            let mut finder = IdentFinder::default();
            match definition.body {
                Body::Block(block) => finder.visit_block(block),
                Body::Expr(expr) => finder.visit_expr(expr),
            }
            if let Some(name) = key.last() {
                index(name.clone(), finder.idents);
            }
        }
        for target in &self.package.targets {
            for module in &target.modules {
                for item in &module.items {
                    match item {
                        syn::Item::Macro(item_macro) => {
                            if let Some(ident) = &item_macro.ident {
                                let mut idents = BTreeSet::new();
                                collect_idents(&item_macro.mac.tokens, &mut idents);
                                index(rust_name(ident), idents);
                            }
                        }
                        syn::Item::Use(item_use) => {
                            let mut renames = Vec::new();
                            use_renames(&item_use.tree, &mut Vec::new(), &mut renames);
                            for (alias, target) in renames {
                                index(alias, BTreeSet::from([target]));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        named_in
    }

    /// Recomputes the code that may reach a handle by itself: from the declarations' names,
    /// `function` and the fields known to hold handles, every function, static or macro whose
    /// code names one of them, transitively (by name, so over-approximated).
    fn refresh_producers(&mut self) {
        // Without declarations there is no handle at all; `function!` makes handles of the
        // app's functions only.
        let declares_functions = self
            .declarations
            .values()
            .any(|resource| resource.kind == ResourceKind::Function);
        let mut producers: BTreeSet<String> = self
            .declarations
            .keys()
            .filter_map(|path| path.last().cloned())
            .chain(declares_functions.then(|| "function".to_owned()))
            .chain(self.named_fields.keys().cloned())
            .collect();
        let mut queue: Vec<String> = producers.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            for owner in self.named_in.get(&name).into_iter().flatten() {
                if producers.insert(owner.clone()) {
                    queue.push(owner.clone());
                }
            }
        }
        if producers != self.producers {
            self.fn_returns_handles.borrow_mut().clear();
        }
        self.producers = producers;
    }

    /// Errors found while analysing: handles the analysis cannot attribute to a declaration.
    pub fn errors(&self) -> Vec<Diagnostic> {
        self.errors.iter().cloned().collect()
    }

    /// The full path of a type written in `module` (through the crate's type aliases).
    fn resolve_type(&self, module: &[String], ty: &syn::Type) -> Option<Vec<String>> {
        self.resolve_type_at(module, ty, 0)
    }

    fn resolve_type_at(
        &self,
        module: &[String],
        ty: &syn::Type,
        depth: usize,
    ) -> Option<Vec<String>> {
        let path = type_path(ty)?;
        let written = segments(path);
        let def = self
            .defs
            .resolve(module, &[], &written, Namespace::Type)
            .into_iter()
            .next()?;
        if let Def::Local(alias_path, DefKind::TypeAlias) = &def
            && depth < 8
            && let Some((alias_module, syn::Item::Type(alias))) = self.type_items.get(alias_path)
        {
            return self.resolve_type_at(alias_module, &alias.ty, depth + 1);
        }
        Some(canonical_type(def.path()))
    }

    fn index_item(&mut self, item: &'a syn::Item, module: (usize, usize), scope: &[String]) {
        match item {
            syn::Item::Impl(_) => self.index_impl(item, module, scope, None),
            _ => self.index_other(item, module, scope),
        }
    }

    /// Indexes an `impl` block written in `scope` (or in the body of the function `local.0`,
    /// whose own types are `local.1`).
    fn index_impl(
        &mut self,
        item: &'a syn::Item,
        module: (usize, usize),
        scope: &[String],
        local: Option<(&Vec<String>, &BTreeSet<String>)>,
    ) {
        match item {
            syn::Item::Impl(item_impl) if !is_cfg_test(&item_impl.attrs) => {
                let generics: BTreeSet<String> = item_impl
                    .generics
                    .type_params()
                    .map(|param| param.ident.to_string())
                    .collect();
                let blanket = type_path(&item_impl.self_ty)
                    .and_then(|path| path.get_ident())
                    .is_some_and(|ident| generics.contains(&ident.to_string()));
                let body_type = local.and_then(|(function, types)| {
                    let ident = type_path(&item_impl.self_ty)?.get_ident()?.to_string();
                    types.contains(&ident).then(|| {
                        let mut path = function.clone();
                        path.push(ident);
                        path
                    })
                });
                let self_type = if blanket {
                    None
                } else if body_type.is_some() {
                    body_type
                } else {
                    self.resolve_type(scope, &item_impl.self_ty)
                };
                let trait_path = item_impl.trait_.as_ref().and_then(|(_, path, _)| {
                    self.defs
                        .resolve(scope, &[], &segments(path), Namespace::Type)
                        .into_iter()
                        .next()
                        .map(|def| def.path().to_vec())
                });
                let type_label = self_type
                    .as_ref()
                    .and_then(|path| path.last().cloned())
                    .unwrap_or_else(|| "_".to_owned());
                let mut methods = BTreeMap::new();
                for impl_item in &item_impl.items {
                    if let syn::ImplItem::Fn(method) = impl_item {
                        let name = rust_name(&method.sig.ident);
                        let mut key = match &self_type {
                            Some(path) => path.clone(),
                            None => scope.to_vec(),
                        };
                        if let Some(trait_path) = &trait_path {
                            key.push(format!("<impl {} for {type_label}>", trait_path.join("::")));
                        }
                        key.push(name.clone());
                        self.methods
                            .entry(name.clone())
                            .or_default()
                            .push(key.clone());
                        methods.insert(name.clone(), key.clone());
                        let returns_type =
                            self.returns_type(scope, &method.sig, self_type.as_ref());
                        let mut definition = FnDef::new(
                            &method.sig,
                            Body::Block(&method.block),
                            module,
                            scope,
                            format!("{type_label}::{name}"),
                        );
                        definition.self_type.clone_from(&self_type);
                        definition.trait_path.clone_from(&trait_path);
                        definition.returns_type = returns_type;
                        definition.type_params.extend(generics.iter().cloned());
                        self.add_function(key, definition);
                    }
                }
                self.impls_by_type
                    .entry(self_type.clone())
                    .or_default()
                    .push(self.impls.len());
                self.impls.push(ImplDef {
                    trait_path,
                    methods,
                });
            }
            _ => {}
        }
    }

    /// Indexes the items other than impls: traits' default methods, functions, statics, types.
    fn index_other(&mut self, item: &'a syn::Item, module: (usize, usize), scope: &[String]) {
        match item {
            syn::Item::Trait(item_trait) => {
                let trait_name = rust_name(&item_trait.ident);
                let mut trait_path = scope.to_vec();
                trait_path.push(trait_name.clone());
                for trait_item in &item_trait.items {
                    if let syn::TraitItem::Fn(method) = trait_item
                        && let Some(block) = &method.default
                    {
                        let name = rust_name(&method.sig.ident);
                        let mut key = trait_path.clone();
                        key.push(name.clone());
                        self.methods
                            .entry(name.clone())
                            .or_default()
                            .push(key.clone());
                        let mut definition = FnDef::new(
                            &method.sig,
                            Body::Block(block),
                            module,
                            scope,
                            format!("{trait_name}::{name}"),
                        );
                        definition.trait_path = Some(trait_path.clone());
                        definition
                            .type_params
                            .extend(type_params(&item_trait.generics).chain(["Self".to_owned()]));
                        self.add_function(key, definition);
                    }
                }
            }
            // Bodiless `fn x() -> KvStore;` declarations (kept verbatim by syn) have nothing to
            // analyse; calls to them are resolved as declarations.
            syn::Item::Fn(function) if !function.attrs.iter().any(is_cfg_test_attr) => {
                let name = rust_name(&function.sig.ident);
                let mut key = scope.to_vec();
                key.push(name.clone());
                let returns_type = self.returns_type(scope, &function.sig, None);
                let mut definition = FnDef::new(
                    &function.sig,
                    Body::Block(&function.block),
                    module,
                    scope,
                    display_path(scope, &name),
                );
                definition.returns_type = returns_type;
                self.add_function(key, definition);
            }
            syn::Item::Const(constant) => {
                self.add_static(scope, module, &constant.ident, &constant.ty, &constant.expr);
            }
            syn::Item::Static(static_item) => {
                self.add_static(
                    scope,
                    module,
                    &static_item.ident,
                    &static_item.ty,
                    &static_item.expr,
                );
            }
            syn::Item::Struct(_)
            | syn::Item::Enum(_)
            | syn::Item::Type(_)
            | syn::Item::Union(_) => {
                if let Some(name) = type_item_name(item) {
                    let mut key = scope.to_vec();
                    key.push(name);
                    self.type_items.insert(key, (scope.to_vec(), item));
                }
            }
            _ => {}
        }
    }

    fn add_static(
        &mut self,
        scope: &[String],
        module: (usize, usize),
        ident: &syn::Ident,
        ty: &'a syn::Type,
        expr: &'a Expr,
    ) {
        let name = rust_name(ident);
        let mut key = scope.to_vec();
        key.push(name.clone());
        self.add_function(
            key,
            FnDef {
                inputs: Vec::new(),
                output: Some(ty),
                body: Body::Expr(expr),
                module,
                module_path: scope.to_vec(),
                self_type: None,
                trait_path: None,
                display: display_path(scope, &name),
                builds_structs: false,
                returns_type: None,
                type_params: BTreeSet::new(),
            },
        );
    }

    /// Whether the function with this key may return a handle (or something holding one), judged
    /// from its return type: only such functions are tracked as values (`let make = sessions;`).
    fn may_return_handle(&self, key: &[String]) -> bool {
        if self.declarations.contains_key(key) {
            return true;
        }
        if let Some(known) = self.fn_returns_handles.borrow().get(key) {
            return *known;
        }
        let produces = key.last().is_some_and(|name| self.producers.contains(name));
        let answer = match self.functions.get(key) {
            Some(definition) => {
                produces
                    && definition
                        .output
                        .is_some_and(|ty| self.type_may_hold(&definition.module_path, ty))
            }
            // Not a function of the crate's we index: assume it may.
            None => true,
        };
        self.fn_returns_handles
            .borrow_mut()
            .insert(key.to_vec(), answer);
        answer
    }

    /// Whether a value of type `ty`, written in `module`, may be or hold a handle: it names a
    /// `pluto` type, a crate type that may hold one, a type parameter, `Self`, `impl` or `dyn`.
    fn type_may_hold(&self, module: &[String], ty: &syn::Type) -> bool {
        match ty {
            syn::Type::Path(path) => {
                if path.qself.is_some() || path.path.is_ident("Self") {
                    return true;
                }
                let written = segments(&path.path);
                let named = match self
                    .defs
                    .resolve(module, &[], &written, Namespace::Type)
                    .into_iter()
                    .next()
                {
                    Some(Def::Extern(full)) => {
                        full.first().is_some_and(|first| first == "pluto")
                            || (full.len() == 1 && !KNOWN_STD_TYPES.contains(&full[0].as_str()))
                    }
                    Some(Def::Local(
                        full,
                        DefKind::Struct | DefKind::Enum | DefKind::TypeAlias,
                    )) => self.local_type_may_hold(&full),
                    Some(Def::Local(_, DefKind::Trait)) | None => true,
                    Some(_) => false,
                };
                named
                    || path
                        .path
                        .segments
                        .iter()
                        .any(|segment| match &segment.arguments {
                            syn::PathArguments::AngleBracketed(arguments) => {
                                arguments.args.iter().any(|argument| match argument {
                                    syn::GenericArgument::Type(inner) => {
                                        self.type_may_hold(module, inner)
                                    }
                                    syn::GenericArgument::AssocType(assoc) => {
                                        self.type_may_hold(module, &assoc.ty)
                                    }
                                    _ => false,
                                })
                            }
                            syn::PathArguments::Parenthesized(arguments) => match &arguments.output
                            {
                                syn::ReturnType::Type(_, output) => {
                                    self.type_may_hold(module, output)
                                }
                                syn::ReturnType::Default => false,
                            },
                            syn::PathArguments::None => false,
                        })
            }
            syn::Type::Reference(inner) => self.type_may_hold(module, &inner.elem),
            syn::Type::Paren(inner) => self.type_may_hold(module, &inner.elem),
            syn::Type::Group(inner) => self.type_may_hold(module, &inner.elem),
            syn::Type::Array(inner) => self.type_may_hold(module, &inner.elem),
            syn::Type::Slice(inner) => self.type_may_hold(module, &inner.elem),
            syn::Type::Ptr(inner) => self.type_may_hold(module, &inner.elem),
            syn::Type::Tuple(tuple) => tuple
                .elems
                .iter()
                .any(|element| self.type_may_hold(module, element)),
            syn::Type::BareFn(function) => match &function.output {
                syn::ReturnType::Type(_, output) => self.type_may_hold(module, output),
                syn::ReturnType::Default => false,
            },
            syn::Type::Never(_) => false,
            _ => true,
        }
    }

    /// Whether a struct, enum or alias of the crate may hold a handle in any field.
    fn local_type_may_hold(&self, path: &[String]) -> bool {
        if let Some(known) = self.type_holds.borrow().get(path) {
            return *known;
        }
        let Some((module, item)) = self.type_items.get(path) else {
            return true;
        };
        // A type that contains itself holds a handle only through another field.
        self.type_holds.borrow_mut().insert(path.to_vec(), false);
        let fields_hold = |fields: &syn::Fields| {
            fields
                .iter()
                .any(|field| self.type_may_hold(module, &field.ty))
        };
        let answer = match item {
            syn::Item::Struct(structure) => {
                !structure.generics.params.is_empty() || fields_hold(&structure.fields)
            }
            syn::Item::Enum(enumeration) => {
                !enumeration.generics.params.is_empty()
                    || enumeration
                        .variants
                        .iter()
                        .any(|variant| fields_hold(&variant.fields))
            }
            syn::Item::Union(union) => {
                !union.generics.params.is_empty()
                    || union
                        .fields
                        .named
                        .iter()
                        .any(|field| self.type_may_hold(module, &field.ty))
            }
            syn::Item::Type(alias) => {
                !alias.generics.params.is_empty() || self.type_may_hold(module, &alias.ty)
            }
            _ => true,
        };
        self.type_holds.borrow_mut().insert(path.to_vec(), answer);
        answer
    }

    /// The crate type a function returns, when it is `Self` or a type of the crate.
    fn returns_type(
        &self,
        module: &[String],
        sig: &syn::Signature,
        self_type: Option<&Vec<String>>,
    ) -> Option<Vec<String>> {
        let syn::ReturnType::Type(_, ty) = &sig.output else {
            return None;
        };
        let path = type_path(ty)?;
        if path.is_ident("Self") {
            return self_type.cloned();
        }
        let resolved = self.resolve_type(module, ty)?;
        self.defs.is_module(&resolved[..1]).then_some(resolved)
    }

    fn add_function(&mut self, key: Vec<String>, mut definition: FnDef<'a>) {
        let mut finder = NestedFns::default();
        let mut literals = StructLiterals { found: false };
        match definition.body {
            Body::Block(block) => {
                finder.visit_block(block);
                literals.visit_block(block);
            }
            Body::Expr(expr) => {
                finder.visit_expr(expr);
                literals.visit_expr(expr);
            }
        }
        for function in finder.found {
            let name = rust_name(&function.sig.ident);
            let mut nested_key = key.clone();
            nested_key.push(name.clone());
            let nested = FnDef::new(
                &function.sig,
                Body::Block(&function.block),
                definition.module,
                &definition.module_path,
                name,
            );
            self.add_function(nested_key, nested);
        }
        for item_macro in finder.macros {
            if let Some(ident) = &item_macro.ident {
                let mut macro_key = key.clone();
                macro_key.push(rust_name(ident));
                self.body_macros
                    .insert(macro_key, item_macro.mac.tokens.clone());
            }
        }
        for item in finder.impls {
            self.index_impl(
                item,
                definition.module,
                &definition.module_path,
                Some((&key, &finder.types)),
            );
        }
        definition.builds_structs = literals.found;
        self.functions.insert(key, Rc::new(definition));
    }

    /// Everything each handler can reach, in the order given.
    ///
    /// Field reads whose struct value was lost fall back to what struct literals anywhere stored
    /// in that field; analysing a handler can reveal more such stores, so the handlers are analysed
    /// again until those stores stop growing (usually once), making every handler's result
    /// independent of the order of analysis.
    pub fn handlers_reaches(&mut self, handlers: &[&Declaration]) -> Vec<Vec<Reach>> {
        if !self.fields_collected {
            self.collect_field_handles();
        }
        loop {
            self.refresh_producers();
            let before = self.field_store_size();
            let reaches: Vec<Vec<Reach>> = handlers
                .iter()
                .map(|handler| {
                    self.analyze(&handler.rust_path, Vec::new(), Value::default())
                        .reaches
                })
                .collect();
            if self.field_store_size() == before {
                return reaches;
            }
            self.memo.clear();
            self.memo_log.clear();
        }
    }

    fn field_store_size(&self) -> usize {
        self.typed_fields
            .values()
            .chain(self.named_fields.values())
            .map(|value| {
                1 + value.all_handles().len() + value.all_callables().len() + value.depth()
            })
            .sum()
    }

    /// Analyses every function of the crate as if it were a handler, and returns how many there
    /// are: for robustness tests and benchmarks over arbitrary crates.
    pub fn analyze_everything(&mut self) -> usize {
        self.extra_walks = EVERYTHING_WALK_BUDGET;
        self.collect_field_handles();
        self.refresh_producers();
        let keys: Vec<Vec<String>> = self.functions.keys().cloned().collect();
        for key in &keys {
            self.analyze(key, Vec::new(), Value::default());
        }
        keys.len()
    }

    /// Pre-pass: the functions that build structs, analysed without arguments, record which
    /// handles go into which fields.
    fn collect_field_handles(&mut self) {
        self.fields_collected = true;
        let keys: Vec<Vec<String>> = self
            .functions
            .iter()
            .filter(|(_, definition)| definition.builds_structs)
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            self.analyze(&key, Vec::new(), Value::default());
        }
        self.memo.clear();
        self.memo_log.clear();
    }

    fn analyze(&mut self, key: &[String], params: Vec<Value>, receiver: Value) -> Summary {
        let params: Vec<Value> = params.into_iter().map(Value::bounded).collect();
        let receiver = receiver.bounded();
        // Given nothing that holds a handle, code that names no producer reaches none.
        let given_nothing = params.iter().chain([&receiver]).all(Value::holds_nothing);
        let relevant = key.last().is_some_and(|name| self.producers.contains(name));
        if given_nothing && !relevant && self.extra_walks > 0 {
            self.extra_walks -= 1;
        } else if given_nothing && !relevant {
            let ty = self
                .functions
                .get(key)
                .and_then(|definition| definition.returns_type.clone());
            return Summary {
                returns: Value {
                    ty,
                    ..Value::default()
                },
                ..Summary::default()
            };
        }
        let memo_key = (key.to_vec(), params.clone(), receiver.clone());
        if let Some(summary) = self.memo.get(&memo_key) {
            return summary.clone();
        }
        if self.in_progress.contains(&memo_key) {
            // Recursion: the approximation so far; results that depend on it are not memoized.
            self.recursion_hits.insert(memo_key.clone());
            return self.partial.get(&memo_key).cloned().unwrap_or_default();
        }
        self.in_progress.insert(memo_key.clone());
        let log_start = self.memo_log.len();
        let mut summary = self.analyze_once(key, &params, &receiver);
        // A function that reached itself runs again with its own result so far, until that
        // stops growing.
        // What the recursive calls were given: nothing at first.
        let mut given = Summary::default();
        for _ in 0..MAX_RECURSION_ROUNDS {
            if !self.recursion_hits.remove(&memo_key)
                || summary_size(&summary) <= summary_size(&given)
            {
                break;
            }
            given = summary.clone();
            self.partial.insert(memo_key.clone(), summary.clone());
            // What was computed from the smaller result so far is computed again.
            for stale in self.memo_log.drain(log_start..) {
                self.memo.remove(&stale);
            }
            summary = self.analyze_once(key, &params, &receiver);
        }
        self.recursion_hits.remove(&memo_key);
        self.partial.remove(&memo_key);
        self.in_progress.remove(&memo_key);
        self.memo_log.push(memo_key.clone());
        self.memo.insert(memo_key, summary.clone());
        summary
    }

    /// One walk of a function's body with these parameters and receiver.
    fn analyze_once(&mut self, key: &[String], params: &[Value], receiver: &Value) -> Summary {
        match self.functions.get(key).cloned() {
            Some(definition) => {
                let context = Context {
                    module: definition.module,
                    module_path: definition.module_path.clone(),
                    function: key.to_vec(),
                    self_type: definition.self_type.clone(),
                    type_params: definition.type_params.clone(),
                };
                let mut walker = Walker {
                    analysis: self,
                    context,
                    locals: vec![HashMap::new()],
                    blocks: Vec::new(),
                    breaks: Vec::new(),
                    returns: Vec::new(),
                    call_outs: (Vec::new(), Value::default()),
                    inline_fns: HashMap::new(),
                    aliases: HashMap::new(),
                    summary: Summary::default(),
                };
                let mut param_index = 0;
                for input in &definition.inputs {
                    match input {
                        syn::FnArg::Receiver(_) => {
                            let mut receiver = receiver.clone();
                            if receiver.ty.is_none() {
                                receiver.ty.clone_from(&walker.context.self_type);
                            }
                            walker.bind("self", receiver);
                        }
                        syn::FnArg::Typed(typed) => {
                            let value = params.get(param_index).cloned().unwrap_or_default();
                            walker.bind_pattern(&typed.pat, value);
                            param_index += 1;
                        }
                    }
                }
                let value = match definition.body {
                    Body::Block(block) => walker.block(block),
                    Body::Expr(expr) => walker.expr(expr),
                };
                walker.summary.returns.merge(value);
                for input in &definition.inputs {
                    match input {
                        syn::FnArg::Receiver(_) => {
                            walker.summary.receiver_out = walker.lookup("self");
                        }
                        syn::FnArg::Typed(typed) => {
                            let out = match &*typed.pat {
                                Pat::Ident(ident) => walker.lookup(&rust_name(&ident.ident)),
                                _ => Value::default(),
                            };
                            walker.summary.outs.push(out);
                        }
                    }
                }
                if walker.summary.returns.ty.is_none() {
                    walker
                        .summary
                        .returns
                        .ty
                        .clone_from(&definition.returns_type);
                }
                walker.summary
            }
            None => Summary::default(),
        }
    }

    /// The methods a call `.method()` on a value of type `ty` may run.
    fn dispatch(&self, ty: Option<&Vec<String>>, method: &str) -> Vec<Vec<String>> {
        let Some(ty) = ty else {
            return self.methods.get(method).cloned().unwrap_or_default();
        };
        let mut out: Vec<Vec<String>> = Vec::new();
        let applicable = [Some(ty.clone()), None]
            .into_iter()
            .flat_map(|key| self.impls_by_type.get(&key).cloned().unwrap_or_default());
        for index in applicable {
            let impl_def = &self.impls[index];
            if let Some(key) = impl_def.methods.get(method) {
                out.push(key.clone());
            } else if let Some(trait_path) = &impl_def.trait_path {
                let mut default = trait_path.clone();
                default.push(method.to_owned());
                if self.functions.contains_key(&default) {
                    out.push(default);
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The crate's implementations of `method` of the std trait named `trait_name` (`From`).
    fn trait_methods(&self, trait_name: &str, method: &str) -> Vec<Vec<String>> {
        self.methods
            .get(method)
            .into_iter()
            .flatten()
            .filter(|key| {
                self.functions.get(*key).is_some_and(|definition| {
                    definition
                        .trait_path
                        .as_ref()
                        .and_then(|path| path.last())
                        .is_some_and(|last| last == trait_name)
                })
            })
            .cloned()
            .collect()
    }

    /// The methods `Type::method` or `Trait::method` (written as a path) may run.
    fn associated(&self, owner: &[String], owner_kind: DefKind, method: &str) -> Vec<Vec<String>> {
        let mut exact = owner.to_vec();
        exact.push(method.to_owned());
        if owner_kind == DefKind::Trait {
            let mut out: Vec<Vec<String>> = self
                .methods
                .get(method)
                .into_iter()
                .flatten()
                .filter(|key| {
                    self.functions
                        .get(*key)
                        .is_some_and(|definition| definition.trait_path.as_deref() == Some(owner))
                })
                .cloned()
                .collect();
            if self.functions.contains_key(&exact) && !out.contains(&exact) {
                out.push(exact);
            }
            return out;
        }
        if self.functions.contains_key(&exact) {
            return vec![exact];
        }
        self.dispatch(Some(&owner.to_vec()), method)
    }

    fn location(&self, module: (usize, usize), span: Span) -> SourceLocation {
        let file = self.package.targets[module.0].modules[module.1].file;
        self.files.location(file, span)
    }
}

/// Types of std (and its prelude) that hold a handle only through their type arguments.
const KNOWN_STD_TYPES: &[&str] = &[
    "String",
    "str",
    "bool",
    "char",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "f32",
    "f64",
    "Vec",
    "Option",
    "Result",
    "Box",
    "Arc",
    "Rc",
    "HashMap",
    "BTreeMap",
    "HashSet",
    "BTreeSet",
    "VecDeque",
    "Cow",
    "Mutex",
    "RwLock",
    "RefCell",
    "Cell",
    "Pin",
    "PhantomData",
    "Duration",
    "Instant",
    "SystemTime",
    "PathBuf",
    "Path",
    "OsString",
    "Bytes",
];

/// A function's return type.
fn return_type(sig: &syn::Signature) -> Option<&syn::Type> {
    match &sig.output {
        syn::ReturnType::Type(_, ty) => Some(ty),
        syn::ReturnType::Default => None,
    }
}

/// The name of a struct, enum, union or type alias.
fn type_item_name(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Struct(structure) => Some(rust_name(&structure.ident)),
        syn::Item::Enum(enumeration) => Some(rust_name(&enumeration.ident)),
        syn::Item::Union(union) => Some(rust_name(&union.ident)),
        syn::Item::Type(alias) => Some(rust_name(&alias.ident)),
        _ => None,
    }
}

/// Values and functions of Rust's preludes: a path naming one alone was not made by a macro.
const PRELUDE_NAMES: &[&str] = &[
    "None", "Some", "Ok", "Err", "drop", "Box", "Vec", "String", "Option", "Result", "Default",
    "identity", "std", "core", "alloc",
];

/// std traits whose methods, called by path (`Default::default()`), run the crate's impls.
const STD_TRAITS: &[&str] = &[
    "Default",
    "From",
    "Into",
    "TryFrom",
    "TryInto",
    "FromStr",
    "Clone",
    "FromIterator",
    "Deref",
    "AsRef",
    "ToOwned",
    "ToString",
];

/// The names of a generics list's type parameters.
fn type_params(generics: &syn::Generics) -> impl Iterator<Item = String> + '_ {
    generics.type_params().map(|param| param.ident.to_string())
}

/// `crate::a::b::f` shown as `a::b::f` (`f` for the root module).
fn display_path(module: &[String], name: &str) -> String {
    module
        .iter()
        .skip(1)
        .map(String::as_str)
        .chain([name])
        .collect::<Vec<_>>()
        .join("::")
}

/// The runtime's handle types, wherever the app names them from (`pluto::KvStore`,
/// `pluto::kv_store::KvStore`), as `["pluto", "KvStore"]`.
fn canonical_type(path: &[String]) -> Vec<String> {
    if path.first().is_some_and(|first| first == "pluto")
        && let Some(last) = path.last()
        && ResourceKind::ALL
            .iter()
            .any(|kind| handle_type(*kind) == last.as_str())
    {
        return vec!["pluto".to_owned(), last.clone()];
    }
    path.to_vec()
}

fn is_cfg_test_attr(attr: &syn::Attribute) -> bool {
    is_cfg_test(std::slice::from_ref(attr))
}

/// The path naming a type, through references, `Box<T>`-like wrappers are kept as written.
fn type_path(ty: &syn::Type) -> Option<&syn::Path> {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => Some(&path.path),
        syn::Type::Reference(reference) => type_path(&reference.elem),
        syn::Type::Paren(paren) => type_path(&paren.elem),
        syn::Type::Group(group) => type_path(&group.elem),
        _ => None,
    }
}

/// Whether `written` ends with the segments `suffix`.
fn ends_with(written: &[String], suffix: &[&str]) -> bool {
    written.len() >= suffix.len()
        && written[written.len() - suffix.len()..]
            .iter()
            .map(String::as_str)
            .eq(suffix.iter().copied())
}

/// Whether a body has a struct literal.
struct StructLiterals {
    found: bool,
}

impl<'ast> Visit<'ast> for StructLiterals {
    fn visit_expr_struct(&mut self, _: &'ast syn::ExprStruct) {
        self.found = true;
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Macro bodies may build structs too, except those that only format.
        let name = macro_name(mac);
        if !FORMATTING_MACROS.contains(&name.as_str()) {
            self.found = true;
        }
    }
}

/// Every identifier in a body, macro tokens included.
#[derive(Default)]
struct IdentFinder {
    idents: BTreeSet<String>,
}

impl<'ast> Visit<'ast> for IdentFinder {
    fn visit_ident(&mut self, ident: &'ast proc_macro2::Ident) {
        self.idents.insert(rust_name(ident));
    }

    fn visit_index(&mut self, index: &'ast syn::Index) {
        // `self.0`: tuple fields are stored under their position.
        self.idents.insert(index.index.to_string());
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        syn::visit::visit_macro(self, mac);
        collect_idents(&mac.tokens, &mut self.idents);
    }
}

/// `use a::b as c;` pairs (`c`, `b`), and `use a::b::{self as c}` pairs (`c`, `b`): a name
/// that stands for another.
fn use_renames(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, String)>) {
    match tree {
        syn::UseTree::Path(path) => {
            prefix.push(rust_name(&path.ident));
            use_renames(&path.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Rename(rename) => {
            let original = rust_name(&rename.ident);
            let target = if original == "self" {
                prefix.last().cloned().unwrap_or_default()
            } else {
                original
            };
            out.push((rust_name(&rename.rename), target));
        }
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                use_renames(tree, prefix, out);
            }
        }
        syn::UseTree::Name(_) | syn::UseTree::Glob(_) => {}
    }
}

/// Every identifier in a token stream.
fn collect_idents(tokens: &TokenStream, out: &mut BTreeSet<String>) {
    for tree in tokens.clone() {
        match tree {
            TokenTree::Ident(ident) => {
                out.insert(rust_name(&ident));
            }
            TokenTree::Group(group) => collect_idents(&group.stream(), out),
            _ => {}
        }
    }
}

/// Functions declared inside a body (not inside nested functions: those are indexed with them).
#[derive(Default)]
struct NestedFns<'ast> {
    found: Vec<&'ast syn::ItemFn>,
    impls: Vec<&'ast syn::Item>,
    macros: Vec<&'ast syn::ItemMacro>,
    types: BTreeSet<String>,
}

impl<'ast> Visit<'ast> for NestedFns<'ast> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        match item {
            syn::Item::Fn(function) => self.found.push(function),
            syn::Item::Impl(_) => self.impls.push(item),
            syn::Item::Macro(item_macro) if item_macro.ident.is_some() => {
                self.macros.push(item_macro);
            }
            other => {
                if let Some(name) = type_item_name(other) {
                    self.types.insert(name);
                }
            }
        }
    }
}

struct Context {
    module: (usize, usize),
    module_path: Vec<String>,
    /// The key of the function being walked (nested functions are keyed under it).
    function: Vec<String>,
    self_type: Option<Vec<String>>,
    /// Type parameters in scope: `T::make()` may be any crate method `make`.
    type_params: BTreeSet<String>,
}

struct Walker<'w, 'a> {
    analysis: &'w mut AccessAnalysis<'a>,
    context: Context,
    locals: Vec<HashMap<String, Value>>,
    /// The item scopes of the blocks being walked, outermost first.
    blocks: Vec<BlockScope>,
    /// The loops and labelled blocks being walked: label, whether a loop, what `break` gave.
    breaks: Vec<(Option<String>, bool, Value)>,
    /// What `return` gave in each closure or async block being walked (innermost last).
    returns: Vec<Value>,
    /// What the callees of the call being walked left in their parameters and `self`.
    call_outs: (Vec<Value>, Value),
    /// Functions a macro expansion defined in a body, walked where they were defined: what
    /// they return.
    inline_fns: HashMap<Vec<String>, Value>,
    /// Locals bound from a place of another local (`let list = map.entry(k).or_default();`,
    /// `for slot in v.iter_mut()`): what is written into them reaches that local too.
    aliases: HashMap<String, String>,
    summary: Summary,
}

impl Walker<'_, '_> {
    fn bind(&mut self, name: &str, value: Value) {
        if let Some(scope) = self.locals.last_mut() {
            scope.insert(name.to_owned(), value);
        }
    }

    fn bind_pattern(&mut self, pattern: &Pat, value: Value) {
        match pattern {
            Pat::Ident(ident) => {
                let bound = match &ident.subpat {
                    Some((_, sub)) => {
                        self.bind_pattern(sub, value.clone());
                        value
                    }
                    None => value,
                };
                self.bind(&rust_name(&ident.ident), bound);
            }
            Pat::Type(typed) => self.bind_pattern(&typed.pat, value),
            Pat::Reference(reference) => self.bind_pattern(&reference.pat, value),
            Pat::Paren(paren) => self.bind_pattern(&paren.pat, value),
            Pat::TupleStruct(tuple) => {
                let inner = value.element();
                for element in &tuple.elems {
                    self.bind_pattern(element, inner.clone());
                }
            }
            Pat::Tuple(tuple) => {
                let inner = value.element();
                for element in &tuple.elems {
                    self.bind_pattern(element, inner.clone());
                }
            }
            Pat::Slice(slice) => {
                for element in &slice.elems {
                    // `[first, rest @ ..]`: an element, or the rest of the container.
                    let mut inner = value.element();
                    inner.merge(value.clone());
                    self.bind_pattern(element, inner);
                }
            }
            Pat::Or(or) => {
                for case in &or.cases {
                    self.bind_pattern(case, value.clone());
                }
            }
            Pat::Struct(structure) => {
                for field in &structure.fields {
                    let inner = match &field.member {
                        syn::Member::Named(name) => self.field(value.clone(), &rust_name(name)),
                        syn::Member::Unnamed(_) => value.element(),
                    };
                    self.bind_pattern(&field.pat, inner);
                }
            }
            _ => {}
        }
    }

    /// The value of a local, or `None` when no local has that name.
    fn local(&self, name: &str) -> Option<Value> {
        self.locals
            .iter()
            .rev()
            .find_map(|scope| scope.get(name))
            .cloned()
    }

    fn lookup(&self, name: &str) -> Value {
        self.local(name).unwrap_or_default()
    }

    fn location(&self, span: Span) -> SourceLocation {
        self.analysis.location(self.context.module, span)
    }

    fn resolve(&self, written: &[String], namespace: Namespace) -> Vec<Def> {
        self.analysis
            .defs
            .resolve(&self.context.module_path, &self.blocks, written, namespace)
    }

    /// What a path written in the current function names, `Self` included.
    fn resolve_path(&self, path: &syn::Path, namespace: Namespace) -> Vec<Def> {
        let written = segments(path);
        if written.first().is_some_and(|first| first == "Self")
            && let Some(self_type) = &self.context.self_type
        {
            let mut full = self_type.clone();
            full.extend(written[1..].iter().cloned());
            let kind = if written.len() == 1 {
                DefKind::Struct
            } else {
                DefKind::Associated
            };
            return vec![Def::Local(full, kind)];
        }
        if path.leading_colon.is_some() {
            return self.analysis.defs.resolve_absolute(&written, namespace);
        }
        self.resolve(&written, namespace)
    }

    fn block(&mut self, block: &syn::Block) -> Value {
        self.statements(&block.stmts)
    }

    fn statements(&mut self, statements: &[Stmt]) -> Value {
        let items: Vec<&syn::Item> = statements
            .iter()
            .filter_map(|statement| match statement {
                Stmt::Item(item) => Some(item),
                _ => None,
            })
            .collect();
        let scope = self.analysis.defs.block_scope(
            &self.context.module_path,
            &self.blocks,
            &self.context.function,
            &items,
        );
        let pushed_scope = !scope.is_empty();
        if pushed_scope {
            self.blocks.push(scope);
        }
        self.locals.push(HashMap::new());
        // Functions a macro expansion defines here were never indexed: walk them now.
        for item in &items {
            if let syn::Item::Fn(function) = item {
                let mut key = self.context.function.clone();
                key.push(rust_name(&function.sig.ident));
                if !self.analysis.functions.contains_key(&key)
                    && !self.inline_fns.contains_key(&key)
                {
                    self.inline_fns.insert(key.clone(), Value::default());
                    self.returns.push(Value::default());
                    let mut returned = self.block(&function.block);
                    if let Some(early) = self.returns.pop() {
                        returned.merge(early);
                    }
                    self.inline_fns.insert(key, returned);
                }
            }
        }
        let mut value = Value::default();
        for statement in statements {
            value = self.statement(statement);
        }
        self.locals.pop();
        if pushed_scope {
            self.blocks.pop();
        }
        value
    }

    fn statement(&mut self, statement: &Stmt) -> Value {
        match statement {
            Stmt::Local(local) => {
                let value = match &local.init {
                    Some(init) => {
                        let value = self.expr(&init.expr);
                        if let Some((_, diverge)) = &init.diverge {
                            self.expr(diverge);
                        }
                        value
                    }
                    None => Value::default(),
                };
                match &local.init {
                    Some(init) => self.bind_from(&local.pat, &init.expr, value),
                    None => self.bind_pattern(&local.pat, value),
                }
                Value::default()
            }
            Stmt::Expr(expr, semicolon) => {
                let value = self.expr(expr);
                if semicolon.is_some() {
                    Value::default()
                } else {
                    value
                }
            }
            Stmt::Macro(statement_macro) => self.macro_call(&statement_macro.mac),
            Stmt::Item(_) => Value::default(),
        }
    }

    fn expr(&mut self, expr: &Expr) -> Value {
        match expr {
            Expr::Call(call) => self.call(call),
            Expr::MethodCall(call) => self.method_call(call),
            Expr::Path(path) => self.path_value(path),
            Expr::Reference(reference) => self.expr(&reference.expr),
            Expr::RawAddr(raw) => self.expr(&raw.expr),
            Expr::Unary(unary) => {
                let value = self.expr(&unary.expr);
                match unary.op {
                    syn::UnOp::Deref(_) => value,
                    _ => Value::default(),
                }
            }
            Expr::Paren(paren) => self.expr(&paren.expr),
            Expr::Group(group) => self.expr(&group.expr),
            Expr::Try(try_expr) => {
                let value = self.expr(&try_expr.expr);
                // `x?` unwraps an `Option`/`Result`: the value or its element.
                let mut unwrapped = value.element();
                unwrapped.merge(value);
                unwrapped
            }
            Expr::Await(await_expr) => self.expr(&await_expr.base),
            Expr::Cast(cast) => self.expr(&cast.expr),
            Expr::Field(field) => {
                let base = self.expr(&field.base);
                match &field.member {
                    syn::Member::Named(name) => self.field(base, &rust_name(name)),
                    syn::Member::Unnamed(_) => base.element(),
                }
            }
            Expr::Index(index) => {
                let base = self.expr(&index.expr);
                self.expr(&index.index);
                base.element()
            }
            Expr::Struct(literal) => self.struct_literal(literal),
            Expr::Tuple(tuple) => self.elements(&tuple.elems),
            Expr::Array(array) => self.elements(&array.elems),
            Expr::Repeat(repeat) => {
                let element = self.expr(&repeat.expr);
                self.expr(&repeat.len);
                Value::container(element)
            }
            Expr::Block(block) => match &block.label {
                Some(label) => {
                    self.breaks
                        .push((Some(label.name.ident.to_string()), false, Value::default()));
                    let mut value = self.block(&block.block);
                    if let Some((_, _, broken)) = self.breaks.pop() {
                        value.merge(broken);
                    }
                    value
                }
                None => self.block(&block.block),
            },
            Expr::Async(async_block) => {
                self.returns.push(Value::default());
                let mut value = self.block(&async_block.block);
                if let Some(returned) = self.returns.pop() {
                    value.merge(returned);
                }
                value
            }
            Expr::Unsafe(unsafe_block) => self.block(&unsafe_block.block),
            Expr::TryBlock(try_block) => self.block(&try_block.block),
            Expr::Const(const_block) => self.block(&const_block.block),
            Expr::Closure(closure) => self.closure(closure, &Value::default()),
            Expr::If(if_expr) => {
                self.locals.push(HashMap::new());
                self.expr(&if_expr.cond);
                let mut value = self.block(&if_expr.then_branch);
                self.locals.pop();
                if let Some((_, otherwise)) = &if_expr.else_branch {
                    let otherwise = self.expr(otherwise);
                    value.merge(otherwise);
                }
                value
            }
            Expr::Match(match_expr) => {
                let scrutinee = self.expr(&match_expr.expr);
                let mut value = Value::default();
                for arm in &match_expr.arms {
                    self.locals.push(HashMap::new());
                    self.bind_from(&arm.pat, &match_expr.expr, scrutinee.clone());
                    if let Some((_, guard)) = &arm.guard {
                        self.expr(guard);
                    }
                    let arm_value = self.expr(&arm.body);
                    value.merge(arm_value);
                    self.locals.pop();
                }
                value
            }
            Expr::Let(let_expr) => {
                let value = self.expr(&let_expr.expr);
                self.bind_from(&let_expr.pat, &let_expr.expr, value);
                Value::default()
            }
            Expr::ForLoop(for_loop) => {
                let iterated = self.expr(&for_loop.expr);
                self.locals.push(HashMap::new());
                self.bind_from(&for_loop.pat, &for_loop.expr, iterated.element());
                self.breaks
                    .push((label_name(&for_loop.label), true, Value::default()));
                self.block(&for_loop.body);
                self.breaks.pop();
                self.locals.pop();
                Value::default()
            }
            Expr::While(while_loop) => {
                self.locals.push(HashMap::new());
                self.expr(&while_loop.cond);
                self.breaks
                    .push((label_name(&while_loop.label), true, Value::default()));
                self.block(&while_loop.body);
                self.breaks.pop();
                self.locals.pop();
                Value::default()
            }
            Expr::Loop(loop_expr) => {
                self.breaks
                    .push((label_name(&loop_expr.label), true, Value::default()));
                self.block(&loop_expr.body);
                self.breaks
                    .pop()
                    .map(|(_, _, value)| value)
                    .unwrap_or_default()
            }
            Expr::Break(break_expr) => {
                if let Some(value) = &break_expr.expr {
                    let value = self.expr(value);
                    let label = break_expr
                        .label
                        .as_ref()
                        .map(|label| label.ident.to_string());
                    let target =
                        self.breaks
                            .iter_mut()
                            .rev()
                            .find(|(name, is_loop, _)| match &label {
                                Some(label) => name.as_ref() == Some(label),
                                None => *is_loop,
                            });
                    if let Some((_, _, target)) = target {
                        target.merge(value);
                    }
                }
                Value::default()
            }
            Expr::Assign(assign) => {
                let value = self.expr(&assign.right);
                self.assign(&assign.left, value);
                Value::default()
            }
            Expr::Return(return_expr) => {
                if let Some(returned) = &return_expr.expr {
                    let value = self.expr(returned);
                    match self.returns.last_mut() {
                        Some(closure_returns) => closure_returns.merge(value),
                        None => self.summary.returns.merge(value),
                    }
                }
                Value::default()
            }
            Expr::Macro(expr_macro) => self.macro_call(&expr_macro.mac),
            other => {
                let mut children = ChildExprs {
                    exprs: Vec::new(),
                    blocks: Vec::new(),
                    depth: 0,
                };
                children.visit_expr(other);
                for child in children.exprs {
                    self.expr(child);
                }
                for block in children.blocks {
                    self.block(block);
                }
                Value::default()
            }
        }
    }

    /// `left = value`: the place may now hold `value` too.
    fn assign(&mut self, left: &Expr, value: Value) {
        match left {
            Expr::Path(path) if path.path.get_ident().is_some() => {
                let name = rust_name(&path.path.segments[0].ident);
                let mut merged = self.lookup(&name);
                merged.merge(value);
                self.rebind(&name, merged);
            }
            Expr::Field(field) => {
                let base = self.expr(&field.base);
                if let syn::Member::Named(name) = &field.member {
                    self.record_field(base.ty.as_ref(), &rust_name(name), value.clone());
                }
                // Writing into a field of a local: the local now holds the value.
                if let Some(root) = root_local(&field.base) {
                    let mut merged = self.lookup(&root);
                    if let syn::Member::Named(name) = &field.member {
                        merged
                            .fields
                            .entry(rust_name(name))
                            .or_default()
                            .merge(value);
                    } else {
                        merged.merge(Value::container(value));
                    }
                    self.rebind(&root, merged);
                }
            }
            Expr::Index(index) => {
                self.expr(&index.index);
                if let Some(root) = root_local(&index.expr) {
                    let mut merged = self.lookup(&root);
                    merged.merge(Value::container(value));
                    self.rebind(&root, merged);
                }
            }
            Expr::Unary(unary) => self.assign(&unary.expr, value),
            Expr::Paren(paren) => self.assign(&paren.expr, value),
            other => {
                self.expr(other);
                // `*x.as_mut().unwrap() = h`, `*map.get_mut(k).unwrap() = h`: `x` holds `h` now.
                if let Some(root) = root_local(other) {
                    let mut merged = self.lookup(&root);
                    merged.merge(Value::container(value));
                    self.rebind(&root, merged);
                }
            }
        }
    }

    /// Changes the value of the innermost local named `name` (or binds it here).
    fn rebind(&mut self, name: &str, value: Value) {
        self.rebind_aliased(name, value, 0);
    }

    /// [`Walker::rebind`], and what `name` borrows from holds `value` too.
    fn rebind_aliased(&mut self, name: &str, value: Value, depth: usize) {
        if let Some(target) = self.aliases.get(name).cloned()
            && target != name
            && depth < MAX_ALIAS_CHAIN
        {
            // The alias may be the whole of the target or one element of it.
            let mut merged = self.lookup(&target);
            merged.merge(value.clone());
            merged.merge(Value::container(value.clone()));
            self.rebind_aliased(&target, merged, depth + 1);
        }
        for scope in self.locals.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = value;
                return;
            }
        }
        self.bind(name, value);
    }

    /// Binds `pattern` to `value` read from `source`: the names it binds alias the local
    /// `source` is a place of, if any.
    fn bind_from(&mut self, pattern: &Pat, source: &Expr, value: Value) {
        let mut names = Vec::new();
        pattern_names(pattern, &mut names);
        let root = root_local(source);
        for name in names {
            match &root {
                Some(root) if *root != name => {
                    self.aliases.insert(name, root.clone());
                }
                _ => {
                    self.aliases.remove(&name);
                }
            }
        }
        self.bind_pattern(pattern, value);
    }

    /// A closure: its body is walked with its parameters bound to `arguments` (each parameter
    /// to that value), and the value is what calling it returns.
    fn closure(&mut self, closure: &syn::ExprClosure, argument: &Value) -> Value {
        self.locals.push(HashMap::new());
        for input in &closure.inputs {
            self.bind_pattern(input, argument.clone());
        }
        self.returns.push(Value::default());
        let mut returned = self.expr(&closure.body);
        if let Some(early) = self.returns.pop() {
            returned.merge(early);
        }
        self.locals.pop();
        Value {
            returns: (!returned.is_empty()).then(|| Box::new(returned)),
            ..Value::default()
        }
    }

    fn path_value(&mut self, path: &syn::ExprPath) -> Value {
        if path.qself.is_none()
            && let Some(ident) = path.path.get_ident()
            && let Some(value) = self.local(&rust_name(ident))
        {
            return value;
        }
        let mut value = Value::default();
        let function = match self
            .resolve_path(&path.path, Namespace::Value)
            .into_iter()
            .next()
        {
            Some(Def::Local(full, DefKind::Fn)) => full,
            Some(Def::Local(full, DefKind::Associated))
                if self.analysis.functions.contains_key(&full) =>
            {
                full
            }
            Some(Def::Local(full, DefKind::Static)) => {
                let summary = self.analysis.analyze(&full, Vec::new(), Value::default());
                let step = CallStep {
                    call: compact(&path.to_token_stream()),
                    location: self.location(path.span()),
                };
                self.absorb(summary.reaches, step);
                return summary.returns;
            }
            Some(Def::Extern(full))
                if full.len() == 1
                    && !self.analysis.macro_made.is_empty()
                    && !PRELUDE_NAMES.contains(&full[0].as_str()) =>
            {
                // A static no scope declares (`thread_local!`, `lazy_static!`).
                let made = self.analysis.macro_made.clone();
                let location = self.location(path.span());
                self.escape_set(
                    &made,
                    location,
                    format!("`{}`, which a macro may have generated", full[0]),
                );
                return Value::of(made);
            }
            _ => return value,
        };
        // A function named as a value may be called by code the analysis cannot see: what it
        // does is needed here. One that may return a handle is carried as a value too.
        let produces = function
            .last()
            .is_some_and(|name| self.analysis.producers.contains(name));
        if produces && !self.analysis.declarations.contains_key(&function) {
            let summary = self
                .analysis
                .analyze(&function, Vec::new(), Value::default());
            let step = CallStep {
                call: compact(&path.to_token_stream()),
                location: self.location(path.span()),
            };
            self.absorb(summary.reaches, step);
        }
        if self.analysis.may_return_handle(&function) {
            value.callables.insert(function);
        }
        value
    }

    /// The crate function a path names, when it names one (not a local).
    fn crate_function(&self, path: &syn::ExprPath) -> Option<Vec<String>> {
        if path.qself.is_none()
            && let Some(ident) = path.path.get_ident()
            && self.local(&rust_name(ident)).is_some()
        {
            return None;
        }
        match self
            .resolve_path(&path.path, Namespace::Value)
            .into_iter()
            .next()?
        {
            Def::Local(key, DefKind::Fn | DefKind::Associated)
                if self.analysis.functions.contains_key(&key) =>
            {
                Some(key)
            }
            _ => None,
        }
    }

    /// A tuple or array: a container of its elements.
    fn elements(&mut self, elements: &Punctuated<Expr, Token![,]>) -> Value {
        let mut element = Value::default();
        for expr in elements {
            let value = self.expr(expr);
            element.merge(value);
        }
        Value::container(element)
    }

    /// `base.name`: the field's value when the struct value is known, else what any struct of
    /// that type (or with a field of that name) was built with.
    fn field(&self, base: Value, name: &str) -> Value {
        if base.widened {
            return base;
        }
        let mut known = Value::default();
        if let Some(value) = base.fields.get(name) {
            known = value.clone();
        }
        if !base.handles.is_empty() || base.element.is_some() {
            known.merge(Value::of(base.all_handles()));
        }
        // What any struct of that type (or with a field of that name) was given, too: the
        // field may have been written where the analysis did not see this value.
        let typed = base.ty.as_ref().and_then(|ty| {
            self.analysis
                .typed_fields
                .get(&(ty.clone(), name.to_owned()))
        });
        let stored = match typed {
            Some(value) => value.clone(),
            None if base.ty.is_some() => Value::default(),
            None => self
                .analysis
                .named_fields
                .get(name)
                .cloned()
                .unwrap_or_default(),
        };
        known.merge(stored);
        known
    }

    fn record_field(&mut self, ty: Option<&Vec<String>>, field: &str, value: Value) {
        if value.all_handles().is_empty() && value.callables.is_empty() {
            return;
        }
        if let Some(ty) = ty {
            self.analysis
                .typed_fields
                .entry((ty.clone(), field.to_owned()))
                .or_default()
                .merge(value.clone());
        }
        self.analysis
            .named_fields
            .entry(field.to_owned())
            .or_default()
            .merge(value);
    }

    fn struct_literal(&mut self, literal: &syn::ExprStruct) -> Value {
        let ty = self
            .resolve_path(&literal.path, Namespace::Type)
            .into_iter()
            .next()
            .map(|def| canonical_type(def.path()));
        let mut value = match &literal.rest {
            Some(rest) => {
                let rest = self.expr(rest);
                Value {
                    fields: rest.fields,
                    ..Value::default()
                }
            }
            None => Value::default(),
        };
        for field in &literal.fields {
            let field_value = self.expr(&field.expr);
            let name = match &field.member {
                syn::Member::Named(name) => rust_name(name),
                syn::Member::Unnamed(index) => index.index.to_string(),
            };
            self.record_field(ty.as_ref(), &name, field_value.clone());
            if !field_value.is_empty() {
                value.fields.insert(name, field_value);
            }
        }
        value.ty = ty;
        value.bounded()
    }

    fn call(&mut self, call: &syn::ExprCall) -> Value {
        self.call_outs = (Vec::new(), Value::default());
        let value = self.call_inner(call);
        let arguments: Vec<&Expr> = call.args.iter().collect();
        // `Type::method(&mut x, ..)` passes `x` as `self`.
        let receiver_is_first = !self.call_outs.1.holds_nothing();
        self.write_back(None, &arguments, receiver_is_first);
        value
    }

    fn call_inner(&mut self, call: &syn::ExprCall) -> Value {
        let arguments: Vec<Value> = call
            .args
            .iter()
            .map(|argument| self.expr(argument))
            .collect();
        let span = call.func.span();
        let Expr::Path(path) = &*call.func else {
            let callee = self.expr(&call.func);
            return self.call_value(callee, arguments, span, "a call through a value");
        };
        if path.qself.is_none()
            && let Some(ident) = path.path.get_ident()
            && let Some(callee) = self.local(&rust_name(ident))
        {
            return self.call_value(
                callee,
                arguments,
                span,
                &format!("a call to the local `{ident}`"),
            );
        }
        let written = segments(&path.path);
        let text = written.join("::");
        // `<T as Trait>::method`: the trait's method.
        let defs = match &path.qself {
            Some(qself) if qself.position > 0 => self.resolve_path(&path.path, Namespace::Value),
            Some(qself) => {
                let owner = self
                    .analysis
                    .resolve_type(&self.context.module_path, &qself.ty);
                match (owner, written.last()) {
                    (Some(owner), Some(method)) => {
                        let mut full = owner;
                        full.push(method.clone());
                        vec![Def::Local(full, DefKind::Associated)]
                    }
                    _ => Vec::new(),
                }
            }
            None => self.resolve_path(&path.path, Namespace::Value),
        };
        let Some(def) = defs.first().cloned() else {
            self.escape_all(&arguments, span, &format!("a call to `{text}`"));
            return Value::default();
        };
        match def {
            Def::Local(full, DefKind::Fn) => self.call_function(&full, &text, arguments, span),
            Def::Local(full, DefKind::Associated) => {
                let (owner, method) = full.split_at(full.len() - 1);
                let owner_kind = self.owner_kind(owner);
                if owner_kind.is_none() {
                    // A variant of an enum of the crate, or an unknown associated item.
                    if self.is_enum_variant(owner) {
                        return self.constructed(arguments, Some(owner.to_vec()));
                    }
                }
                let candidates = self.analysis.associated(
                    owner,
                    owner_kind.unwrap_or(DefKind::Struct),
                    &method[0],
                );
                if candidates.is_empty() {
                    if owner_kind == Some(DefKind::Enum) {
                        return self.constructed(arguments, Some(owner.to_vec()));
                    }
                    self.escape_all(&arguments, span, &format!("a call to `{text}`"));
                    return Value::default();
                }
                self.call_path_candidates(candidates, arguments, span)
            }
            Def::Local(full, DefKind::Struct) => self.constructed(arguments, Some(full)),
            Def::Local(full, DefKind::Static) => {
                let callee = self.analysis.analyze(&full, Vec::new(), Value::default());
                self.absorb(
                    callee.reaches,
                    CallStep {
                        call: text.clone(),
                        location: self.location(span),
                    },
                );
                self.call_value(
                    callee.returns,
                    arguments,
                    span,
                    &format!("a call to `{text}`"),
                )
            }
            Def::Extern(full) => self.call_extern(&full, &written, arguments, span),
            _ => {
                self.escape_all(&arguments, span, &format!("a call to `{text}`"));
                Value::default()
            }
        }
    }

    /// The kind of a local item named by `owner`, when it is a type or trait.
    fn owner_kind(&self, owner: &[String]) -> Option<DefKind> {
        let (module, name) = owner.split_at(owner.len().checked_sub(1)?);
        self.analysis
            .defs
            .resolve(module, &[], &[name[0].clone()], Namespace::Type)
            .into_iter()
            .find_map(|def| match def {
                Def::Local(path, kind) if path == owner => Some(kind),
                _ => None,
            })
            .or_else(|| {
                self.analysis
                    .impls_by_type
                    .contains_key(&Some(owner.to_vec()))
                    .then_some(DefKind::Struct)
            })
    }

    fn is_enum_variant(&self, owner: &[String]) -> bool {
        owner.len() >= 2 && self.owner_kind(owner).is_none() && {
            let parent = &owner[..owner.len() - 1];
            self.owner_kind(parent) == Some(DefKind::Enum)
        }
    }

    /// A tuple struct or enum variant built from `arguments`.
    fn constructed(&mut self, arguments: Vec<Value>, ty: Option<Vec<String>>) -> Value {
        let mut element = Value::default();
        for argument in arguments {
            element.merge(argument);
        }
        let mut value = Value::container(element);
        value.ty = ty;
        value
    }

    fn call_function(
        &mut self,
        key: &[String],
        text: &str,
        arguments: Vec<Value>,
        span: Span,
    ) -> Value {
        if let Some(resource) = self.analysis.declarations.get(key) {
            return Value::handle(resource.clone());
        }
        if let Some(returned) = self.inline_fns.get(key) {
            let returned = returned.clone();
            self.escape_all(&arguments, span, &format!("a call to `{text}`"));
            return returned;
        }
        if !self.analysis.functions.contains_key(key) {
            self.escape_all(&arguments, span, &format!("a call to `{text}`"));
            return Value::default();
        }
        let summary = self.analysis.analyze(key, arguments, Value::default());
        self.note_outs(&summary);
        if !summary.reaches.is_empty() {
            let step = CallStep {
                call: text.to_owned(),
                location: self.location(span),
            };
            self.absorb(summary.reaches, step);
        }
        summary.returns
    }

    /// Keeps what a callee left in its parameters, for [`Walker::write_back`].
    fn note_outs(&mut self, summary: &Summary) {
        let (outs, receiver) = &mut self.call_outs;
        for (index, out) in summary.outs.iter().enumerate() {
            if outs.len() <= index {
                outs.resize(index + 1, Value::default());
            }
            outs[index].merge(out.clone());
        }
        receiver.merge(summary.receiver_out.clone());
    }

    /// After a call: writes the callees made through `&mut` arguments (and `&mut self`) reach
    /// the places the caller passed.
    fn write_back(
        &mut self,
        receiver: Option<&Expr>,
        arguments: &[&Expr],
        receiver_is_first: bool,
    ) {
        let (outs, receiver_out) = std::mem::take(&mut self.call_outs);
        let mut places: Vec<(&Expr, Value)> = Vec::new();
        let mut outs = outs.into_iter();
        let mut arguments = arguments.iter();
        if receiver_is_first && let Some(first) = arguments.next() {
            places.push((first, receiver_out.clone()));
        }
        if let Some(receiver) = receiver {
            places.push((receiver, receiver_out));
        }
        for argument in arguments {
            if let Some(out) = outs.next() {
                places.push((argument, out));
            }
        }
        for (place, out) in places {
            if out.holds_nothing() {
                continue;
            }
            // Through `&` too: `RefCell`, `Mutex` and atomics change behind shared references.
            let place = match place {
                Expr::Reference(reference) => &*reference.expr,
                other => other,
            };
            if root_local(place).is_some() {
                self.assign(place, out);
            }
        }
    }

    /// `Type::method(a, b)`: for a method taking `self`, `a` is the receiver.
    fn call_path_candidates(
        &mut self,
        candidates: Vec<Vec<String>>,
        arguments: Vec<Value>,
        span: Span,
    ) -> Value {
        let mut returns = Value::default();
        for key in candidates {
            let takes_self = self.analysis.functions.get(&key).is_some_and(|definition| {
                matches!(definition.inputs.first(), Some(syn::FnArg::Receiver(_)))
            });
            let value = match (takes_self, arguments.split_first()) {
                (true, Some((receiver, rest))) => {
                    self.call_candidates(vec![key], rest.to_vec(), receiver.clone(), span)
                }
                _ => self.call_candidates(vec![key], arguments.clone(), Value::default(), span),
            };
            returns.merge(value);
        }
        returns
    }

    fn call_candidates(
        &mut self,
        candidates: Vec<Vec<String>>,
        arguments: Vec<Value>,
        receiver: Value,
        span: Span,
    ) -> Value {
        let mut returns = Value::default();
        for key in candidates {
            let summary = self
                .analysis
                .analyze(&key, arguments.clone(), receiver.clone());
            self.note_outs(&summary);
            if !summary.reaches.is_empty() {
                let callee = self
                    .analysis
                    .functions
                    .get(&key)
                    .map(|definition| definition.display.clone())
                    .unwrap_or_else(|| key.join("::"));
                let location = self.location(span);
                self.absorb(
                    summary.reaches,
                    CallStep {
                        call: callee,
                        location,
                    },
                );
            }
            returns.merge(summary.returns);
        }
        returns
    }

    /// Calling a value: the functions it may be, what a closure returns; its arguments escape
    /// when the callee is not known.
    fn call_value(
        &mut self,
        callee: Value,
        arguments: Vec<Value>,
        span: Span,
        into: &str,
    ) -> Value {
        let mut returns = Value::default();
        let known = !callee.callables.is_empty() || callee.returns.is_some();
        for key in &callee.callables {
            let text = key.last().cloned().unwrap_or_default();
            let value = self.call_function(key, &text, arguments.clone(), span);
            returns.merge(value);
        }
        if let Some(closure_returns) = callee.returns {
            returns.merge(*closure_returns);
        }
        // A closure's parameters were not bound to these arguments: they escape into it.
        if !known || callee.callables.is_empty() {
            self.escape_all(&arguments, span, into);
        }
        returns
    }

    fn call_extern(
        &mut self,
        full: &[String],
        written: &[String],
        arguments: Vec<Value>,
        span: Span,
    ) -> Value {
        let text = written.join("::");
        if full.last().is_some_and(|last| last == HANDLE_FROM_NAME) {
            let location = self.location(span);
            self.analysis.errors.insert(Diagnostic::error(
                location,
                format!(
                    "`{text}` makes a handle from a name, so Pluto cannot tell which resource it is"
                ),
                Some(
                    "declare the resource with `#[resource(kind)] fn name() -> Handle;` and call \
                     `name()` to get its handle"
                        .to_owned(),
                ),
            ));
            return Value::default();
        }
        let def = Def::Extern(full.to_vec());
        if let Some(operation) = RUNTIME_CONSUMERS
            .iter()
            .find(|consumer| def.is_extern(consumer.path))
            .map(|consumer| &consumer.operation)
        {
            // A Pluto type known to perform exactly this operation on the handle it is given.
            let location = self.location(span);
            for resource in arguments.iter().flat_map(Value::all_handles) {
                if resource.kind == operation.resource_kind() {
                    let call_text = format!("{text}({})", resource.name);
                    self.summary.reaches.push(Reach {
                        resource,
                        operation: *operation,
                        steps: vec![CallStep {
                            call: call_text,
                            location: location.clone(),
                        }],
                        escaped: None,
                    });
                }
            }
            return Value::default();
        }
        if TRANSPARENT_CALLS
            .iter()
            .any(|suffix| ends_with(full, suffix))
        {
            let mut value = Value::default();
            for argument in arguments {
                value.merge(argument);
            }
            return value;
        }
        if CONTAINER_CALLS.iter().any(|suffix| ends_with(full, suffix)) {
            let mut element = Value::default();
            for argument in arguments {
                // `Vec::from([a, b])`: the elements of the array.
                let inner = if argument.element.is_some() {
                    argument.element()
                } else {
                    argument
                };
                element.merge(inner);
            }
            return Value::container(element);
        }
        if SPAWNING_CALLS.iter().any(|suffix| ends_with(full, suffix)) {
            // What the future or closure gives back, behind a `JoinHandle`/`Result`/lazy cell.
            let mut output = Value::default();
            for argument in arguments {
                if !argument.callables.is_empty() {
                    let called = self.call_value(argument.clone(), Vec::new(), span, "");
                    output.merge(called);
                }
                match argument.returns {
                    Some(returns) => output.merge(*returns),
                    None => output.merge(argument),
                }
            }
            let mut value = Value::container(output.clone());
            value.merge(output);
            return value;
        }
        // `KvStore::from(tag)`, `Default::default()`, `W::default()` through a std trait: the
        // crate's impls of it.
        if let Some((method, owner)) = full.split_last()
            && !owner.is_empty()
        {
            let owner = canonical_type(owner);
            let by_type = self.analysis.dispatch(Some(&owner), method);
            let candidates = if !by_type.is_empty() {
                by_type
            } else if owner.len() == 1 && STD_TRAITS.contains(&owner[0].as_str()) {
                self.analysis.trait_methods(&owner[0], method)
            } else {
                Vec::new()
            };
            if !candidates.is_empty() {
                return self.call_path_candidates(candidates, arguments, span);
            }
        }
        // A function no scope declares: one a macro generated (or a glob import of another crate
        // provides). It may use what the crate's item macros name.
        if full.len() == 1
            && !self.analysis.macro_made.is_empty()
            && !PRELUDE_NAMES.contains(&full[0].as_str())
        {
            let made = self.analysis.macro_made.clone();
            let location = self.location(span);
            self.escape_set(
                &made,
                location,
                format!("`{text}`, which a macro may have generated"),
            );
            self.escape_all(&arguments, span, &format!("a call to `{text}`"));
            return Value::of(made);
        }
        // `T::make()` where `T` is a type parameter: any crate method of that name.
        if full.len() == 2
            && self.context.type_params.contains(&full[0])
            && let Some(candidates) = self.analysis.methods.get(&full[1]).cloned()
        {
            return self.call_path_candidates(candidates, arguments, span);
        }
        self.escape_all(&arguments, span, &format!("a call to `{text}`"));
        Value::default()
    }

    fn method_call(&mut self, call: &syn::ExprMethodCall) -> Value {
        let value = self.method_call_inner(call);
        let arguments: Vec<&Expr> = call.args.iter().collect();
        self.write_back(Some(&call.receiver), &arguments, false);
        value
    }

    fn method_call_inner(&mut self, call: &syn::ExprMethodCall) -> Value {
        let receiver = self.expr(&call.receiver);
        self.call_outs = (Vec::new(), Value::default());
        let method = rust_name(&call.method);
        let span = call.method.span();
        // Closures given to a container's methods are called with its elements.
        let container = receiver.element.is_some() || receiver.widened;
        let arguments: Vec<Value> = call
            .args
            .iter()
            .map(|argument| match argument {
                Expr::Closure(closure) if container => {
                    let mut element = receiver.element();
                    element.merge(receiver.clone());
                    self.closure(closure, &element)
                }
                Expr::Path(path) if container => {
                    // `stores.iter().for_each(save)`: the function is called with elements.
                    match self.crate_function(path) {
                        Some(key) => {
                            let mut element = receiver.element();
                            element.merge(receiver.clone());
                            let text = compact(&path.to_token_stream());
                            let returned =
                                self.call_function(&key, &text, vec![element], path.span());
                            Value {
                                returns: (!returned.is_empty()).then(|| Box::new(returned)),
                                ..Value::default()
                            }
                        }
                        None => self.expr(argument),
                    }
                }
                other => self.expr(other),
            })
            .collect();
        let mut performed = false;
        for resource in &receiver.handles {
            if let Some(operation) = Operation::of_handle_method(resource.kind, &method) {
                let call_text = format!("{}.{method}", compact(&call.receiver.to_token_stream()));
                let location = self.location(span);
                self.summary.reaches.push(Reach {
                    resource: resource.clone(),
                    operation,
                    steps: vec![CallStep {
                        call: call_text,
                        location,
                    }],
                    escaped: None,
                });
                performed = true;
            }
        }
        // The crate's own methods first: a crate type's method named like a std one is its own.
        let candidates = if receiver.widened {
            self.analysis.dispatch(None, &method)
        } else {
            self.analysis.dispatch(receiver.ty.as_ref(), &method)
        };
        let crate_typed = receiver
            .ty
            .as_ref()
            .is_some_and(|ty| self.analysis.defs.is_module(&ty[..1]));
        let passes_through = (container || !receiver.handles.is_empty())
            && CONTAINER_METHODS.contains(&method.as_str())
            && (!crate_typed || candidates.is_empty());
        let ran_crate_methods = !candidates.is_empty();
        let mut value = Value::default();
        if ran_crate_methods {
            value = self.call_candidates(candidates, arguments.clone(), receiver.clone(), span);
            if !passes_through {
                return value;
            }
        }
        if let Some(conversion) = match method.as_str() {
            "into" => Some(("From", "from")),
            "try_into" => Some(("TryFrom", "try_from")),
            _ => None,
        } {
            // `x.into()` runs the crate's `From` impls that may take `x`.
            let candidates = self.analysis.trait_methods(conversion.0, conversion.1);
            if !candidates.is_empty() {
                let converted = self.call_candidates(
                    candidates,
                    vec![receiver.clone()],
                    Value::default(),
                    span,
                );
                value.merge(converted);
            }
        }
        if SAME_VALUE_METHODS.contains(&method.as_str()) && !receiver.is_empty() {
            value.merge(receiver);
            return value;
        }
        if !performed
            && !ran_crate_methods
            && INSERTING_METHODS.contains(&method.as_str())
            && let Some(root) = root_local(&call.receiver)
        {
            // `map.insert(k, h)`: the local now holds the arguments as elements.
            let mut element = Value::default();
            for argument in &arguments {
                let inserted = match &argument.returns {
                    Some(returns) => (**returns).clone(),
                    None => argument.clone(),
                };
                element.merge(inserted);
                // `get_or_insert_with(make)`: what `make` returns is inserted.
                if !argument.callables.is_empty() {
                    let made = self.call_value(argument.clone(), Vec::new(), span, "");
                    element.merge(made);
                }
            }
            if let Expr::Field(field) = &*call.receiver
                && let syn::Member::Named(name) = &field.member
            {
                let base = self.expr(&field.base);
                self.record_field(
                    base.ty.as_ref(),
                    &rust_name(name),
                    Value::container(element.clone()),
                );
            }
            let mut merged = self.lookup(&root);
            merged.merge(Value::container(element));
            self.rebind(&root, merged);
            if passes_through {
                value.merge(receiver.element());
                value.merge(receiver);
            }
            return value;
        }
        if passes_through && !performed {
            // The container itself, or any element; or what a closure argument returned.
            value.merge(receiver.element());
            value.merge(receiver);
            for argument in arguments {
                match argument.returns {
                    Some(returns) => value.merge(*returns),
                    None => value.merge(argument),
                }
            }
            return value;
        }
        if performed || ran_crate_methods {
            if performed {
                self.escape_all(
                    &arguments,
                    call.method.span(),
                    &format!("an argument of `.{method}`"),
                );
            }
            return value;
        }
        if (harmless_method(&method) && !receiver.handles.is_empty())
            || INERT_METHODS.contains(&method.as_str())
        {
            self.escape_all(&arguments, span, &format!("an argument of `.{method}`"));
            return value;
        }
        if ran_crate_methods {
            return value;
        }
        // A crate type that derefs to something: the method is the target's.
        let deref = self
            .analysis
            .dispatch(receiver.ty.as_ref().filter(|_| !receiver.widened), "deref");
        if !deref.is_empty() && method != "deref" {
            let target = self.call_candidates(deref, Vec::new(), receiver.clone(), span);
            let mut performed_on_target = false;
            for resource in &target.handles {
                if let Some(operation) = Operation::of_handle_method(resource.kind, &method) {
                    let location = self.location(span);
                    self.summary.reaches.push(Reach {
                        resource: resource.clone(),
                        operation,
                        steps: vec![CallStep {
                            call: format!("{}.{method}", compact(&call.receiver.to_token_stream())),
                            location,
                        }],
                        escaped: None,
                    });
                    performed_on_target = true;
                }
            }
            if performed_on_target {
                self.escape_all(&arguments, span, &format!("an argument of `.{method}`"));
                return value;
            }
            let handles = target.all_handles();
            if !handles.is_empty() {
                let location = self.location(span);
                self.escape_set(
                    &handles,
                    location,
                    format!("a call to `.{method}` through `Deref`"),
                );
            }
        }
        // No crate method ran: the receiver's handles and the arguments escape into it.
        let receiver_handles = receiver.all_handles();
        if !receiver_handles.is_empty() {
            let receiver_text = compact(&call.receiver.to_token_stream());
            let location = self.location(span);
            self.escape_set(
                &receiver_handles,
                location,
                format!("a call to `{receiver_text}.{method}`"),
            );
        }
        self.escape_all(
            &arguments,
            call.method.span(),
            &format!("a call to `.{method}`"),
        );
        value
    }

    fn macro_call(&mut self, mac: &syn::Macro) -> Value {
        let name = macro_name(mac);
        let defs = self.resolve_path(&mac.path, Namespace::Macro);
        if defs.iter().any(|def| def.is_extern(&["pluto", "function"])) {
            if let Ok(target) = syn::parse2::<syn::Path>(mac.tokens.clone())
                && let Some(Def::Local(key, DefKind::Fn)) = self
                    .resolve_path(&target, Namespace::Value)
                    .into_iter()
                    .next()
                && let Some(resource) = self.analysis.declarations.get(&key)
            {
                return Value::handle(resource.clone());
            }
            return Value::default();
        }
        let local_macros: Vec<Vec<String>> = defs
            .iter()
            .filter_map(|def| match def {
                Def::Local(path, DefKind::Macro) => Some(path.clone()),
                _ => None,
            })
            .collect();
        if !local_macros.is_empty() {
            return self.local_macro(mac, &name, &local_macros);
        }
        if name == "vec" {
            return self.vec_macro(&mac.tokens);
        }
        if !self.may_involve_handles(&mac.tokens) {
            return Value::default();
        }
        let expressions = parse_macro_expressions(&mac.tokens);
        let formatting = FORMATTING_MACROS.contains(&name.as_str());
        let collecting = COLLECTING_MACROS.contains(&name.as_str());
        let mut collected = Value::default();
        for expression in &expressions {
            let value = self.expr(expression);
            let handles = value.all_handles();
            if collecting {
                collected.merge(value);
            } else if !formatting && !handles.is_empty() {
                let location = self.location(expression.span());
                self.escape_set(&handles, location, format!("the macro `{name}!`"));
            }
        }
        if collecting {
            return Value::container(collected);
        }
        Value::default()
    }

    /// `vec![a, b]` and `vec![a; n]`.
    fn vec_macro(&mut self, tokens: &TokenStream) -> Value {
        use syn::parse::Parser;
        let repeat = |input: syn::parse::ParseStream<'_>| {
            let element: Expr = input.parse()?;
            input.parse::<Token![;]>()?;
            let count: Expr = input.parse()?;
            Ok((element, count))
        };
        if let Ok((element, count)) = repeat.parse2(tokens.clone()) {
            let element = self.expr(&element);
            self.expr(&count);
            return Value::container(element);
        }
        let mut element = Value::default();
        for expression in parse_macro_expressions(tokens) {
            let value = self.expr(&expression);
            element.merge(value);
        }
        Value::container(element)
    }

    /// A `macro_rules!` macro of the crate: its expansion is walked like code written in place.
    /// When it cannot be expanded, every resource named in the invocation or the macro's rules is
    /// granted every operation.
    fn local_macro(&mut self, mac: &syn::Macro, name: &str, definitions: &[Vec<String>]) -> Value {
        let location = self.location(mac.path.span());
        let expansion = definitions.iter().find_map(|definition| {
            let rules = self.analysis.macro_rules(definition)?;
            expand::expand(&rules, &mac.tokens)
        });
        if let Some(tokens) =
            expansion.filter(|_| self.analysis.expansion_depth < MAX_EXPANSION_DEPTH)
            && let Some(statements) = expand::parse_statements(&tokens)
        {
            self.analysis.expansion_depth += 1;
            let value = self.statements(&statements);
            self.analysis.expansion_depth -= 1;
            return value;
        }
        // Not expanded: conservative over every resource the macro could name.
        let mut named = Handles::new();
        let mut texts: Vec<TokenStream> = vec![mac.tokens.clone()];
        for definition in definitions {
            if let Some(rules) = self.analysis.macro_rules(definition) {
                texts.push(rules);
            }
        }
        for tokens in &texts {
            for path in expand::paths_in(tokens) {
                if let Some(Def::Local(key, DefKind::Fn)) =
                    self.resolve(&path, Namespace::Value).into_iter().next()
                    && let Some(resource) = self.analysis.declarations.get(&key)
                {
                    named.insert(resource.clone());
                }
            }
        }
        for expression in parse_macro_expressions(&mac.tokens) {
            named.extend(self.expr(&expression).all_handles());
        }
        self.escape_set(
            &named,
            location,
            format!("the macro `{name}!`, which Pluto could not expand"),
        );
        Value::default()
    }

    /// Whether macro tokens could call anything or name a handle: they hold a call, block or
    /// index (any group), or a local that holds handles. Most `format!`s do not, and are not
    /// parsed.
    fn may_involve_handles(&self, tokens: &TokenStream) -> bool {
        tokens.clone().into_iter().any(|tree| match tree {
            TokenTree::Group(_) => true,
            TokenTree::Ident(ident) => !self.lookup(&ident.to_string()).is_empty(),
            _ => false,
        })
    }

    /// Adds a callee's reaches, prefixed with the call that led there.
    fn absorb(&mut self, reaches: Vec<Reach>, step: CallStep) {
        for mut reach in reaches {
            reach.steps.insert(0, step.clone());
            self.summary.reaches.push(reach);
        }
    }

    fn escape_all(&mut self, arguments: &[Value], at: Span, into: &str) {
        for argument in arguments {
            let mut handles = argument.all_handles();
            // A function item passed on may be called there: what it returns escapes too.
            for key in &argument.callables {
                if let Some(resource) = self.analysis.declarations.get(key) {
                    handles.insert(resource.clone());
                } else {
                    let summary = self.analysis.analyze(key, Vec::new(), Value::default());
                    handles.extend(summary.returns.all_handles());
                    let step = CallStep {
                        call: key.last().cloned().unwrap_or_default(),
                        location: self.location(at),
                    };
                    self.absorb(summary.reaches, step);
                }
            }
            if !handles.is_empty() {
                let location = self.location(at);
                self.escape_set(&handles, location, into.to_owned());
            }
        }
    }

    fn escape_set(&mut self, handles: &Handles, location: SourceLocation, into: String) {
        for resource in handles {
            for operation in Operation::all_of(resource.kind) {
                self.summary.reaches.push(Reach {
                    resource: resource.clone(),
                    operation,
                    steps: vec![CallStep {
                        call: format!("`{}` escapes into {into}", resource.name),
                        location: location.clone(),
                    }],
                    escaped: Some(Escape {
                        into: into.clone(),
                        location: location.clone(),
                    }),
                });
            }
        }
    }
}

impl AccessAnalysis<'_> {
    /// The rules of the `macro_rules!` macro with this full path.
    fn macro_rules(&self, path: &[String]) -> Option<TokenStream> {
        if let Some(tokens) = self.body_macros.get(path) {
            return Some(tokens.clone());
        }
        let (module, name) = path.split_at(path.len().checked_sub(1)?);
        for target in &self.package.targets {
            for candidate in &target.modules {
                let mut full = vec![target.crate_name.clone()];
                full.extend(candidate.path.iter().cloned());
                if full != module {
                    continue;
                }
                for item in &candidate.items {
                    if let syn::Item::Macro(item_macro) = item
                        && item_macro.mac.path.is_ident("macro_rules")
                        && item_macro
                            .ident
                            .as_ref()
                            .is_some_and(|ident| rust_name(ident) == name[0])
                    {
                        return Some(item_macro.mac.tokens.clone());
                    }
                }
            }
        }
        None
    }
}

/// The name of a loop's label (`'outer`), without the quote.
fn label_name(label: &Option<syn::Label>) -> Option<String> {
    label.as_ref().map(|label| label.name.ident.to_string())
}

/// How long a chain of locals borrowing from locals is followed.
const MAX_ALIAS_CHAIN: usize = 8;

/// The names a pattern binds.
fn pattern_names(pattern: &Pat, out: &mut Vec<String>) {
    match pattern {
        Pat::Ident(ident) => {
            out.push(rust_name(&ident.ident));
            if let Some((_, sub)) = &ident.subpat {
                pattern_names(sub, out);
            }
        }
        Pat::Type(typed) => pattern_names(&typed.pat, out),
        Pat::Reference(reference) => pattern_names(&reference.pat, out),
        Pat::Paren(paren) => pattern_names(&paren.pat, out),
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|p| pattern_names(p, out)),
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| pattern_names(p, out)),
        Pat::Slice(slice) => slice.elems.iter().for_each(|p| pattern_names(p, out)),
        Pat::Or(or) => or.cases.iter().for_each(|p| pattern_names(p, out)),
        Pat::Struct(structure) => structure
            .fields
            .iter()
            .for_each(|field| pattern_names(&field.pat, out)),
        _ => {}
    }
}

/// The local a place expression starts from: `state` in `state.stores[0].inner`.
fn root_local(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) => path.path.get_ident().map(rust_name),
        Expr::Field(field) => root_local(&field.base),
        Expr::Index(index) => root_local(&index.expr),
        Expr::Paren(paren) => root_local(&paren.expr),
        Expr::Unary(unary) => root_local(&unary.expr),
        Expr::Reference(reference) => root_local(&reference.expr),
        Expr::MethodCall(call) => root_local(&call.receiver),
        _ => None,
    }
}

/// The direct sub-expressions of an expression kind the walker does not model.
#[derive(Default)]
struct ChildExprs<'ast> {
    exprs: Vec<&'ast Expr>,
    blocks: Vec<&'ast syn::Block>,
    depth: usize,
}

impl<'ast> Visit<'ast> for ChildExprs<'ast> {
    fn visit_expr(&mut self, expr: &'ast Expr) {
        if self.depth == 0 {
            self.depth += 1;
            syn::visit::visit_expr(self, expr);
            self.depth -= 1;
        } else {
            self.exprs.push(expr);
        }
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.blocks.push(block);
    }
}

/// The expressions in a macro's tokens: a comma-separated list (`format!`, `vec!`, `join!`), a
/// block of statements, or, failing both, every `=`/`=>`/`,`-separated chunk that parses.
fn parse_macro_expressions(tokens: &TokenStream) -> Vec<Expr> {
    use syn::parse::Parser;
    if let Ok(list) = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens.clone()) {
        return list.into_iter().collect();
    }
    if let Ok(statements) = syn::Block::parse_within.parse2(tokens.clone()) {
        return vec![Expr::Block(syn::ExprBlock {
            attrs: Vec::new(),
            label: None,
            block: syn::Block {
                brace_token: Default::default(),
                stmts: statements,
            },
        })];
    }
    let mut expressions = Vec::new();
    let mut chunk = TokenStream::new();
    let mut previous_was_eq = false;
    let flush = |chunk: &mut TokenStream, expressions: &mut Vec<Expr>| {
        if let Ok(expr) = syn::parse2::<Expr>(std::mem::take(chunk)) {
            expressions.push(expr);
        }
    };
    for tree in tokens.clone() {
        match &tree {
            TokenTree::Punct(punct) if punct.as_char() == ',' || punct.as_char() == ';' => {
                flush(&mut chunk, &mut expressions);
                previous_was_eq = false;
            }
            TokenTree::Punct(punct) if punct.as_char() == '=' => {
                flush(&mut chunk, &mut expressions);
                previous_was_eq = true;
            }
            TokenTree::Punct(punct) if punct.as_char() == '>' && previous_was_eq => {
                previous_was_eq = false;
            }
            _ => {
                previous_was_eq = false;
                chunk.extend([tree.clone()]);
            }
        }
    }
    flush(&mut chunk, &mut expressions);
    expressions
}

/// The macro's own name: `join` for `tokio::join!`.
fn macro_name(mac: &syn::Macro) -> String {
    mac.path
        .segments
        .last()
        .map(|segment| rust_name(&segment.ident))
        .unwrap_or_default()
}

/// Token text without the spaces `ToTokens` puts everywhere: `llama().invoke`.
fn compact(tokens: &TokenStream) -> String {
    tokens.to_string().replace(' ', "")
}

/// The chains found for one grant, the first escape among them, and whether any chain is precise.
type GrantEvidence = (BTreeSet<CallChain>, Option<Escape>, bool);

/// Merges reaches into grants: per resource and operation, the chains that need it, shortest
/// first (at most `max_chains`), marked conservative only when every chain is an escape.
pub fn merge(
    reaches: Vec<Reach>,
    handler: CallStep,
    max_chains: usize,
) -> Vec<crate::architecture::Grant> {
    let mut by_target: BTreeMap<(ResourceRef, Operation), GrantEvidence> = BTreeMap::new();
    for reach in reaches {
        let entry = by_target
            .entry((reach.resource.clone(), reach.operation))
            .or_insert_with(|| (BTreeSet::new(), None, false));
        let mut steps = vec![handler.clone()];
        steps.extend(reach.steps);
        entry.0.insert(CallChain { steps });
        match reach.escaped {
            Some(escape) => {
                if entry.1.is_none() {
                    entry.1 = Some(escape);
                }
            }
            None => entry.2 = true,
        }
    }
    by_target
        .into_iter()
        .map(|((resource, operation), (chains, escape, precise))| {
            let mut chains: Vec<CallChain> = chains.into_iter().collect();
            chains.sort_by_key(|chain| chain.steps.len());
            chains.truncate(max_chains);
            crate::architecture::Grant {
                resource,
                operation,
                provenance: chains,
                escaped: if precise { None } else { escape },
            }
        })
        .collect()
}
