//! Access analysis: which client operations on which resources each handler can reach, and by
//! which chain of calls.
//!
//! Every function of the crate is indexed (free functions, inherent and trait-impl methods,
//! associated functions, functions nested in bodies). From each handler the analysis walks the
//! body, following calls into crate functions with the handles bound to their parameters
//! (through `let` bindings, arguments, return values and struct fields), closures, async blocks
//! and the bodies of macros whose tokens parse as expressions. A method call whose receiver's
//! type is unknown is followed into every crate method of that name. A handle that escapes into
//! code the deducer cannot see (a call into another crate, a value it cannot track) is granted
//! every operation of that one resource, and the grant records where it escaped.

use crate::architecture::{CallChain, CallStep, Escape, Operation, ResourceRef, SourceLocation};
use crate::discover::Declaration;
use crate::imports::{Imports, segments};
use crate::source::{Package, SourceFiles, is_cfg_test};
use pluto_spec::ResourceKind;
use pluto_spec::parse::rust_name;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, Pat, Stmt, Token};

/// A set of resources an expression may evaluate to a handle of.
type Handles = BTreeSet<ResourceRef>;

/// What the analysis knows of a value: the handles it may be, the handles in each of its fields
/// (for struct values built in the crate), and its type when known.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Value {
    handles: Handles,
    fields: BTreeMap<String, Handles>,
    ty: Option<String>,
}

impl Value {
    fn of(handles: Handles) -> Self {
        Self {
            handles,
            ..Self::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.handles.is_empty() && self.fields.is_empty()
    }

    /// Every handle the value is or holds.
    fn all_handles(&self) -> Handles {
        self.handles
            .iter()
            .chain(self.fields.values().flatten())
            .cloned()
            .collect()
    }

    /// The value of either of two branches.
    fn merge(&mut self, other: Value) {
        let was_unknown = *self == Value::default();
        self.handles.extend(other.handles);
        for (field, handles) in other.fields {
            self.fields.entry(field).or_default().extend(handles);
        }
        if was_unknown {
            self.ty = other.ty;
        } else if self.ty != other.ty {
            self.ty = None;
        }
    }
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

/// A function of the crate.
struct FnDef<'a> {
    /// Its signature and body, borrowed from the parsed crate.
    sig: &'a syn::Signature,
    body: &'a syn::Block,
    /// Target and module where it is defined.
    module: (usize, usize),
    /// Module path (crate first) used to resolve names in its body.
    scope: Vec<String>,
    /// `Self` type, for methods.
    self_type: Option<String>,
    /// Functions nested in its body, by name.
    nested: HashMap<String, Vec<String>>,
    /// Whether its body has a struct literal.
    builds_structs: bool,
}

/// What analysing one function with given parameter bindings found.
#[derive(Debug, Clone, Default)]
struct Summary {
    reaches: Vec<Reach>,
    returns: Value,
}

/// A function analysed in a context: its key, its arguments, its receiver.
type AnalysisKey = (Vec<String>, Vec<Value>, Value);

/// The analysis over one crate.
pub struct AccessAnalysis<'a> {
    package: &'a Package,
    files: &'a SourceFiles,
    functions: BTreeMap<Vec<String>, Rc<FnDef<'a>>>,
    methods: HashMap<String, Vec<Vec<String>>>,
    declarations: HashMap<Vec<String>, ResourceRef>,
    imports: HashMap<(usize, usize), Rc<Imports>>,
    module_paths: BTreeSet<Vec<String>>,
    /// Handles stored in fields of struct literals, by (struct, field) and by field name: for
    /// field reads on values whose origin the analysis lost.
    typed_fields: HashMap<(String, String), Handles>,
    named_fields: HashMap<String, Handles>,
    fields_collected: bool,
    memo: HashMap<AnalysisKey, Summary>,
    in_progress: BTreeSet<AnalysisKey>,
}

impl std::fmt::Debug for AccessAnalysis<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessAnalysis")
            .field("functions", &self.functions.len())
            .finish()
    }
}

const CLIENT_OPERATIONS: &[(ResourceKind, &str, Operation)] = &[
    (ResourceKind::KvStore, "get", Operation::KvGet),
    (ResourceKind::KvStore, "get_json", Operation::KvGet),
    (ResourceKind::KvStore, "set", Operation::KvSet),
    (ResourceKind::KvStore, "set_json", Operation::KvSet),
    (ResourceKind::KvStore, "delete", Operation::KvDelete),
    (
        ResourceKind::Sagemaker,
        "invoke",
        Operation::SagemakerInvoke,
    ),
    (
        ResourceKind::Sagemaker,
        "invoke_as",
        Operation::SagemakerInvoke,
    ),
    (
        ResourceKind::Sagemaker,
        "invoke_raw",
        Operation::SagemakerInvoke,
    ),
    (ResourceKind::Function, "invoke", Operation::FunctionInvoke),
    (
        ResourceKind::Function,
        "invoke_as",
        Operation::FunctionInvoke,
    ),
];

/// Methods of handles that need no permission (they read the environment only).
const HARMLESS_METHODS: &[&str] = &[
    "name",
    "endpoint_name",
    "table_name",
    "url",
    "clone",
    "to_owned",
    "as_ref",
    "borrow",
];

/// Calls that wrap a value without using it: a handle passed through them is still tracked.
const WRAPPERS: &[&str] = &[
    "Some",
    "Ok",
    "Err",
    "Box::new",
    "Arc::new",
    "Rc::new",
    "std::sync::Arc::new",
    "std::rc::Rc::new",
    "std::boxed::Box::new",
    "drop",
    "std::mem::drop",
];

/// Constructors of the runtime's own types that take a handle, and the one operation they
/// perform with it (`SageMakerLlm::generate` calls `invoke_raw`).
const PLUTO_CONSUMERS: &[(&[&str], Operation)] = &[(
    &["pluto", "chain", "SageMakerLlm", "new"],
    Operation::SagemakerInvoke,
)];

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
];

impl<'a> AccessAnalysis<'a> {
    /// Indexes the crate's functions and the declarations.
    pub fn new(package: &'a Package, files: &'a SourceFiles, declarations: &[Declaration]) -> Self {
        let mut analysis = Self {
            package,
            files,
            functions: BTreeMap::new(),
            methods: HashMap::new(),
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
            imports: HashMap::new(),
            module_paths: BTreeSet::new(),
            typed_fields: HashMap::new(),
            named_fields: HashMap::new(),
            fields_collected: false,
            memo: HashMap::new(),
            in_progress: BTreeSet::new(),
        };
        for (target_index, target) in package.targets.iter().enumerate() {
            for (module_index, module) in target.modules.iter().enumerate() {
                let mut scope = vec![target.crate_name.clone()];
                scope.extend(module.path.iter().cloned());
                analysis.module_paths.insert(scope.clone());
                analysis.imports.insert(
                    (target_index, module_index),
                    Rc::new(Imports::of(&module.items)),
                );
                for item in &module.items {
                    analysis.index_item(item, (target_index, module_index), &scope);
                }
            }
        }
        analysis
    }

    fn index_item(&mut self, item: &'a syn::Item, module: (usize, usize), scope: &[String]) {
        match item {
            syn::Item::Impl(item_impl) if !is_cfg_test(&item_impl.attrs) => {
                let Some(self_type) = type_name(&item_impl.self_ty) else {
                    return;
                };
                for impl_item in &item_impl.items {
                    if let syn::ImplItem::Fn(method) = impl_item {
                        let mut key = scope.to_vec();
                        key.push(self_type.clone());
                        key.push(method.sig.ident.to_string());
                        self.methods
                            .entry(method.sig.ident.to_string())
                            .or_default()
                            .push(key.clone());
                        self.add_function(
                            key,
                            (&method.sig, &method.block),
                            module,
                            scope,
                            Some(self_type.clone()),
                        );
                    }
                }
            }
            syn::Item::Trait(item_trait) => {
                for trait_item in &item_trait.items {
                    if let syn::TraitItem::Fn(method) = trait_item
                        && let Some(block) = &method.default
                    {
                        let mut key = scope.to_vec();
                        key.push(item_trait.ident.to_string());
                        key.push(method.sig.ident.to_string());
                        self.methods
                            .entry(method.sig.ident.to_string())
                            .or_default()
                            .push(key.clone());
                        self.add_function(key, (&method.sig, block), module, scope, None);
                    }
                }
            }
            // Bodiless `fn x() -> KvStore;` declarations (kept verbatim by syn) have nothing to
            // analyse; calls to them are resolved as declarations.
            syn::Item::Fn(function) if !function.attrs.iter().any(is_cfg_test_attr) => {
                let mut key = scope.to_vec();
                key.push(rust_name(&function.sig.ident));
                self.add_function(key, (&function.sig, &function.block), module, scope, None);
            }
            _ => {}
        }
    }

    fn add_function(
        &mut self,
        key: Vec<String>,
        (sig, body): (&'a syn::Signature, &'a syn::Block),
        module: (usize, usize),
        scope: &[String],
        self_type: Option<String>,
    ) {
        let mut nested = HashMap::new();
        let mut finder = NestedFns { found: Vec::new() };
        finder.visit_block(body);
        for function in finder.found {
            let name = function.sig.ident.to_string();
            let mut nested_key = key.clone();
            nested_key.push(name.clone());
            nested.insert(name, nested_key.clone());
            self.add_function(
                nested_key,
                (&function.sig, &function.block),
                module,
                scope,
                None,
            );
        }
        let mut literals = StructLiterals { found: false };
        literals.visit_block(body);
        let builds_structs = literals.found;
        self.functions.insert(
            key,
            Rc::new(FnDef {
                sig,
                body,
                module,
                scope: scope.to_vec(),
                self_type,
                nested,
                builds_structs,
            }),
        );
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
        }
    }

    fn field_store_size(&self) -> usize {
        self.typed_fields
            .values()
            .chain(self.named_fields.values())
            .map(BTreeSet::len)
            .sum()
    }

    /// Analyses every function of the crate as if it were a handler, and returns how many there
    /// are: for robustness tests and benchmarks over arbitrary crates.
    pub fn analyze_everything(&mut self) -> usize {
        self.collect_field_handles();
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
    }

    fn analyze(&mut self, key: &[String], params: Vec<Value>, receiver: Value) -> Summary {
        let memo_key = (key.to_vec(), params.clone(), receiver.clone());
        if let Some(summary) = self.memo.get(&memo_key) {
            return summary.clone();
        }
        if !self.in_progress.insert(memo_key.clone()) {
            return Summary::default();
        }
        let summary = match self.functions.get(key).cloned() {
            Some(definition) => {
                let body = definition.body;
                let inputs = &definition.sig.inputs;
                let context = Context {
                    module: definition.module,
                    scope: definition.scope.clone(),
                    self_type: definition.self_type.clone(),
                    nested: definition.nested.clone(),
                };
                let mut walker = Walker {
                    analysis: self,
                    context,
                    locals: vec![HashMap::new()],
                    summary: Summary::default(),
                };
                let mut param_index = 0;
                for input in inputs {
                    match input {
                        syn::FnArg::Receiver(_) => {
                            let mut receiver = receiver.clone();
                            if receiver.ty.is_none() {
                                receiver.ty.clone_from(&walker.context.self_type);
                            }
                            walker.bind("self", receiver);
                        }
                        syn::FnArg::Typed(typed) => {
                            if let Some(value) = params.get(param_index) {
                                walker.bind_pattern(&typed.pat, value.clone());
                            }
                            param_index += 1;
                        }
                    }
                }
                let value = walker.block(body);
                walker.summary.returns.merge(value);
                walker.summary
            }
            None => Summary::default(),
        };
        self.in_progress.remove(&memo_key);
        self.memo.insert(memo_key, summary.clone());
        summary
    }

    /// The type a function returns when it is `Self` or its own type (constructors).
    fn returned_type(&self, key: &[String]) -> Option<String> {
        let definition = self.functions.get(key)?;
        let self_type = definition.self_type.as_ref()?;
        match &definition.sig.output {
            syn::ReturnType::Type(_, ty) => match type_name(ty).as_deref() {
                Some("Self") => Some(self_type.clone()),
                Some(name) if name == self_type => Some(self_type.clone()),
                _ => None,
            },
            syn::ReturnType::Default => None,
        }
    }

    fn location(&self, module: (usize, usize), span: Span) -> SourceLocation {
        let file = self.package.targets[module.0].modules[module.1].file;
        self.files.location(file, span)
    }
}

fn is_cfg_test_attr(attr: &syn::Attribute) -> bool {
    is_cfg_test(std::slice::from_ref(attr))
}

fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string()),
        syn::Type::Reference(reference) => type_name(&reference.elem),
        _ => None,
    }
}

/// Functions declared inside a body (not inside nested closures' own items: those too).
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

struct NestedFns<'ast> {
    found: Vec<&'ast syn::ItemFn>,
}

impl<'ast> Visit<'ast> for NestedFns<'ast> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if let syn::Item::Fn(function) = item {
            self.found.push(function);
        }
        // Items of nested functions are indexed when those are.
    }
}

struct Context {
    module: (usize, usize),
    scope: Vec<String>,
    self_type: Option<String>,
    nested: HashMap<String, Vec<String>>,
}

struct Walker<'w, 'a> {
    analysis: &'w mut AccessAnalysis<'a>,
    context: Context,
    locals: Vec<HashMap<String, Value>>,
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
            Pat::Ident(ident) => self.bind(&ident.ident.to_string(), value),
            Pat::Type(typed) => self.bind_pattern(&typed.pat, value),
            Pat::Reference(reference) => self.bind_pattern(&reference.pat, value),
            Pat::TupleStruct(tuple) => {
                let inner = Value::of(value.all_handles());
                for element in &tuple.elems {
                    self.bind_pattern(element, inner.clone());
                }
            }
            Pat::Tuple(tuple) => {
                let inner = Value::of(value.all_handles());
                for element in &tuple.elems {
                    self.bind_pattern(element, inner.clone());
                }
            }
            Pat::Struct(structure) => {
                for field in &structure.fields {
                    let inner = match &field.member {
                        syn::Member::Named(name) => value
                            .fields
                            .get(&name.to_string())
                            .cloned()
                            .unwrap_or_default(),
                        syn::Member::Unnamed(_) => value.all_handles(),
                    };
                    self.bind_pattern(&field.pat, Value::of(inner));
                }
            }
            _ => {}
        }
    }

    fn lookup(&self, name: &str) -> Value {
        self.locals
            .iter()
            .rev()
            .find_map(|scope| scope.get(name))
            .cloned()
            .unwrap_or_default()
    }

    fn location(&self, span: Span) -> SourceLocation {
        self.analysis.location(self.context.module, span)
    }

    fn imports(&self) -> Rc<Imports> {
        self.analysis
            .imports
            .get(&self.context.module)
            .cloned()
            .unwrap_or_default()
    }

    fn block(&mut self, block: &syn::Block) -> Value {
        self.locals.push(HashMap::new());
        let mut value = Value::default();
        for statement in &block.stmts {
            value = self.statement(statement);
        }
        self.locals.pop();
        value
    }

    fn statement(&mut self, statement: &Stmt) -> Value {
        match statement {
            Stmt::Local(local) => {
                if let Some(init) = &local.init {
                    let value = self.expr(&init.expr);
                    if let Some((_, diverge)) = &init.diverge {
                        self.expr(diverge);
                    }
                    self.bind_pattern(&local.pat, value);
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
            Stmt::Macro(statement_macro) => self.macro_tokens(&statement_macro.mac),
            Stmt::Item(_) => Value::default(),
        }
    }

    fn expr(&mut self, expr: &Expr) -> Value {
        match expr {
            Expr::Call(call) => self.call(call),
            Expr::MethodCall(call) => self.method_call(call),
            Expr::Path(path) => {
                if path.qself.is_none() && path.path.segments.len() == 1 {
                    self.lookup(&path.path.segments[0].ident.to_string())
                } else {
                    Value::default()
                }
            }
            Expr::Reference(reference) => self.expr(&reference.expr),
            Expr::Paren(paren) => self.expr(&paren.expr),
            Expr::Group(group) => self.expr(&group.expr),
            Expr::Try(try_expr) => self.expr(&try_expr.expr),
            Expr::Await(await_expr) => self.expr(&await_expr.base),
            Expr::Cast(cast) => self.expr(&cast.expr),
            Expr::Field(field) => {
                let base = self.expr(&field.base);
                self.field(base, &field.member)
            }
            Expr::Struct(literal) => self.struct_literal(literal),
            Expr::Tuple(tuple) => self.elements(&tuple.elems),
            Expr::Array(array) => self.elements(&array.elems),
            Expr::Block(block) => self.block(&block.block),
            Expr::Async(async_block) => {
                self.block(&async_block.block);
                Value::default()
            }
            Expr::Unsafe(unsafe_block) => self.block(&unsafe_block.block),
            Expr::Closure(closure) => {
                self.locals.push(HashMap::new());
                self.expr(&closure.body);
                self.locals.pop();
                Value::default()
            }
            Expr::If(if_expr) => {
                self.expr(&if_expr.cond);
                let mut value = self.block(&if_expr.then_branch);
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
                    self.bind_pattern(&arm.pat, scrutinee.clone());
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
                self.bind_pattern(&let_expr.pat, value);
                Value::default()
            }
            Expr::ForLoop(for_loop) => {
                let iterated = self.expr(&for_loop.expr);
                self.locals.push(HashMap::new());
                self.bind_pattern(&for_loop.pat, Value::of(iterated.all_handles()));
                self.block(&for_loop.body);
                self.locals.pop();
                Value::default()
            }
            Expr::While(while_loop) => {
                self.expr(&while_loop.cond);
                self.block(&while_loop.body);
                Value::default()
            }
            Expr::Loop(loop_expr) => {
                self.block(&loop_expr.body);
                Value::default()
            }
            Expr::Assign(assign) => {
                let value = self.expr(&assign.right);
                match &*assign.left {
                    Expr::Path(path) if path.path.get_ident().is_some() => {
                        let name = path.path.segments[0].ident.to_string();
                        let mut merged = self.lookup(&name);
                        merged.merge(value);
                        self.bind(&name, merged);
                    }
                    Expr::Field(field) => {
                        self.expr(&field.base);
                        if let syn::Member::Named(name) = &field.member {
                            self.record_field(None, &name.to_string(), value.all_handles());
                        }
                    }
                    other => {
                        self.expr(other);
                    }
                }
                Value::default()
            }
            Expr::Return(return_expr) => {
                if let Some(returned) = &return_expr.expr {
                    let value = self.expr(returned);
                    self.summary.returns.merge(value);
                }
                Value::default()
            }
            Expr::Macro(expr_macro) => self.macro_tokens(&expr_macro.mac),
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

    /// A tuple or array: holds every handle its elements hold.
    fn elements(&mut self, elements: &Punctuated<Expr, Token![,]>) -> Value {
        let mut value = Value::default();
        for element in elements {
            let element = self.expr(element);
            value.handles.extend(element.all_handles());
        }
        value
    }

    /// `base.member`: the field's handles when the struct value is known, else what any struct
    /// of that type (or with a field of that name) was built with.
    fn field(&self, base: Value, member: &syn::Member) -> Value {
        match member {
            syn::Member::Named(name) => {
                let name = name.to_string();
                if let Some(handles) = base.fields.get(&name) {
                    return Value::of(handles.clone());
                }
                if !base.fields.is_empty() {
                    return Value::default();
                }
                if !base.handles.is_empty() {
                    return Value::of(base.handles);
                }
                let typed = base
                    .ty
                    .as_ref()
                    .and_then(|ty| self.analysis.typed_fields.get(&(ty.clone(), name.clone())));
                match typed {
                    Some(handles) => Value::of(handles.clone()),
                    None if base.ty.is_some() => Value::default(),
                    None => Value::of(
                        self.analysis
                            .named_fields
                            .get(&name)
                            .cloned()
                            .unwrap_or_default(),
                    ),
                }
            }
            syn::Member::Unnamed(_) => Value::of(base.all_handles()),
        }
    }

    fn record_field(&mut self, ty: Option<&str>, field: &str, handles: Handles) {
        if handles.is_empty() {
            return;
        }
        if let Some(ty) = ty {
            self.analysis
                .typed_fields
                .entry((ty.to_owned(), field.to_owned()))
                .or_default()
                .extend(handles.clone());
        }
        self.analysis
            .named_fields
            .entry(field.to_owned())
            .or_default()
            .extend(handles);
    }

    fn struct_literal(&mut self, literal: &syn::ExprStruct) -> Value {
        let written = segments(&literal.path);
        let ty = match written.last().map(String::as_str) {
            Some("Self") => self.context.self_type.clone(),
            Some(name) => Some(name.to_owned()),
            None => None,
        };
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
            let handles = self.expr(&field.expr).all_handles();
            let name = match &field.member {
                syn::Member::Named(name) => name.to_string(),
                syn::Member::Unnamed(index) => index.index.to_string(),
            };
            self.record_field(ty.as_deref(), &name, handles.clone());
            if !handles.is_empty() {
                value.fields.insert(name, handles);
            }
        }
        value.ty = ty;
        value
    }

    fn call(&mut self, call: &syn::ExprCall) -> Value {
        let arguments: Vec<Value> = call
            .args
            .iter()
            .map(|argument| self.expr(argument))
            .collect();
        let Expr::Path(path) = &*call.func else {
            self.expr(&call.func);
            self.escape_all(&arguments, call.func.span(), "a call through a value");
            return Value::default();
        };
        let written = segments(&path.path);
        if let Some(resource) = self.resolve_declaration(&written) {
            return Value::of(Handles::from([resource]));
        }
        if let Some(key) = self.resolve_function(&written) {
            let summary = self.analysis.analyze(&key, arguments, Value::default());
            if !summary.reaches.is_empty() {
                let step = CallStep {
                    call: written.join("::"),
                    location: self.location(path.span()),
                };
                self.absorb(summary.reaches, step);
            }
            let mut returns = summary.returns;
            if returns.ty.is_none() {
                returns.ty = self.analysis.returned_type(&key);
            }
            return returns;
        }
        let imports = self.imports();
        if let Some((_, operation)) = PLUTO_CONSUMERS
            .iter()
            .find(|(path, _)| imports.names(&written, path))
        {
            // A Pluto type known to perform exactly this operation on the handle it is given.
            let location = self.location(path.span());
            for resource in arguments.iter().flat_map(Value::all_handles) {
                if resource.kind == operation.resource_kind() {
                    let call_text = format!("{}({})", written.join("::"), resource.name);
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
        let text = written.join("::");
        if WRAPPERS.contains(&text.as_str()) {
            let mut value = Value::default();
            for argument in arguments {
                value.merge(argument);
            }
            return value;
        }
        self.escape_all(&arguments, call.func.span(), &format!("a call to `{text}`"));
        Value::default()
    }

    fn method_call(&mut self, call: &syn::ExprMethodCall) -> Value {
        let receiver = self.expr(&call.receiver);
        let arguments: Vec<Value> = call
            .args
            .iter()
            .map(|argument| self.expr(argument))
            .collect();
        let method = call.method.to_string();
        let span = call.method.span();
        let mut handled_receiver = false;
        for resource in &receiver.handles {
            if let Some(operation) = CLIENT_OPERATIONS
                .iter()
                .find(|(kind, name, _)| *kind == resource.kind && *name == method)
                .map(|(_, _, operation)| *operation)
            {
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
                handled_receiver = true;
            }
        }
        if handled_receiver {
            self.escape_all(
                &arguments,
                call.method.span(),
                &format!("an argument of `.{method}`"),
            );
            return Value::default();
        }
        if !receiver.is_empty() && HARMLESS_METHODS.contains(&method.as_str()) {
            return if matches!(method.as_str(), "clone" | "to_owned" | "as_ref" | "borrow") {
                receiver
            } else {
                Value::default()
            };
        }
        let all = self
            .analysis
            .methods
            .get(&method)
            .cloned()
            .unwrap_or_default();
        // With the receiver's type known, only that type's methods (if it has one of that name).
        let typed: Vec<Vec<String>> = match &receiver.ty {
            Some(ty) => all
                .iter()
                .filter(|key| key.len() >= 2 && &key[key.len() - 2] == ty)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let candidates = if typed.is_empty() { all } else { typed };
        if candidates.is_empty() {
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
            return Value::default();
        }
        let mut returns = Value::default();
        for key in candidates {
            let summary = self
                .analysis
                .analyze(&key, arguments.clone(), receiver.clone());
            if !summary.reaches.is_empty() {
                let callee = key[key.len().saturating_sub(2)..].join("::");
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

    fn macro_tokens(&mut self, mac: &syn::Macro) -> Value {
        let name = macro_name(mac);
        let written = segments(&mac.path);
        if self.imports().names(&written, &["pluto", "function"]) {
            if let Ok(target) = syn::parse2::<syn::Path>(mac.tokens.clone())
                && let Some(key) = self.resolve_function(&segments(&target))
                && let Some(resource) = self.analysis.declarations.get(&key)
            {
                return Value::of(Handles::from([resource.clone()]));
            }
            return Value::default();
        }
        if !self.may_involve_handles(&mac.tokens) {
            return Value::default();
        }
        let expressions = parse_macro_expressions(&mac.tokens);
        let formatting = FORMATTING_MACROS.contains(&name.as_str());
        for expression in &expressions {
            let handles = self.expr(expression).all_handles();
            if !formatting && !handles.is_empty() {
                let location = self.location(expression.span());
                self.escape_set(&handles, location, format!("the macro `{name}!`"));
            }
        }
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
            let handles = argument.all_handles();
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

    /// Full path candidates for a path written in the current function.
    fn candidates(&self, written: &[String]) -> Vec<Vec<String>> {
        let scope = &self.context.scope;
        let crate_name = scope.first().cloned().unwrap_or_default();
        let mut out = Vec::new();
        let Some(first) = written.first() else {
            return out;
        };
        if written.len() == 1
            && let Some(nested) = self.context.nested.get(first)
        {
            out.push(nested.clone());
        }
        match first.as_str() {
            "crate" => out.push(
                std::iter::once(crate_name)
                    .chain(written[1..].iter().cloned())
                    .collect(),
            ),
            "self" => out.push(scope.iter().chain(&written[1..]).cloned().collect()),
            "super" => {
                let mut path = scope.clone();
                let mut rest = written;
                while rest.first().is_some_and(|segment| segment == "super") {
                    path.pop();
                    rest = &rest[1..];
                }
                out.push(path.into_iter().chain(rest.iter().cloned()).collect());
            }
            "Self" => {
                if let Some(self_type) = &self.context.self_type {
                    out.push(
                        scope
                            .iter()
                            .cloned()
                            .chain([self_type.clone()])
                            .chain(written[1..].iter().cloned())
                            .collect(),
                    );
                }
            }
            _ => {
                out.push(scope.iter().chain(written).cloned().collect());
                let imports = self
                    .analysis
                    .imports
                    .get(&self.context.module)
                    .cloned()
                    .unwrap_or_default();
                let expanded = imports.expand(written);
                if expanded.first().is_some_and(|segment| segment == "crate") {
                    out.push(
                        std::iter::once(crate_name.clone())
                            .chain(expanded[1..].iter().cloned())
                            .collect(),
                    );
                } else if expanded.first().is_some_and(|segment| segment == "self") {
                    out.push(scope.iter().chain(&expanded[1..]).cloned().collect());
                } else if expanded.first().is_some_and(|segment| segment == "super") {
                    let mut path = scope.clone();
                    path.pop();
                    out.push(
                        path.into_iter()
                            .chain(expanded[1..].iter().cloned())
                            .collect(),
                    );
                } else {
                    out.push(expanded.clone());
                }
                for glob in imports.globs() {
                    let glob_path: Vec<String> = match glob.first().map(String::as_str) {
                        Some("crate") => std::iter::once(crate_name.clone())
                            .chain(glob[1..].iter().cloned())
                            .collect(),
                        Some("self") => scope.iter().chain(&glob[1..]).cloned().collect(),
                        Some("super") => {
                            let mut path = scope.clone();
                            path.pop();
                            path.into_iter().chain(glob[1..].iter().cloned()).collect()
                        }
                        _ => glob.clone(),
                    };
                    out.push(
                        glob_path
                            .into_iter()
                            .chain(written.iter().cloned())
                            .collect(),
                    );
                }
            }
        }
        out
    }

    fn resolve_declaration(&self, written: &[String]) -> Option<ResourceRef> {
        self.candidates(written)
            .into_iter()
            .find_map(|path| self.analysis.declarations.get(&path).cloned())
    }

    fn resolve_function(&self, written: &[String]) -> Option<Vec<String>> {
        self.candidates(written)
            .into_iter()
            .find(|path| self.analysis.functions.contains_key(path))
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
            TokenTree::Punct(punct) if punct.as_char() == ',' => {
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
        .map(|segment| segment.ident.to_string())
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
