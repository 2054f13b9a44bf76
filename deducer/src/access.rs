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
use crate::discover::{Declaration, as_fn_item};
use crate::imports::{Imports, segments};
use crate::source::{Package, SourceFiles, is_cfg_test};
use pluto_spec::ResourceKind;
use pluto_spec::parse::FnItem;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, Pat, Stmt, Token};

/// A set of resources an expression may evaluate to a handle of.
type Handles = BTreeSet<ResourceRef>;

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
struct FnDef {
    item: FnItem,
    /// Target and module where it is defined.
    module: (usize, usize),
    /// Module path (crate first) used to resolve names in its body.
    scope: Vec<String>,
    /// `Self` type, for methods.
    self_type: Option<String>,
    /// Functions nested in its body, by name.
    nested: HashMap<String, Vec<String>>,
}

/// What analysing one function with given parameter bindings found.
#[derive(Debug, Clone, Default)]
struct Summary {
    reaches: Vec<Reach>,
    returns: Handles,
}

/// The analysis over one crate.
pub struct AccessAnalysis<'a> {
    package: &'a Package,
    files: &'a SourceFiles,
    functions: BTreeMap<Vec<String>, FnDef>,
    methods: HashMap<String, Vec<Vec<String>>>,
    declarations: HashMap<Vec<String>, ResourceRef>,
    imports: HashMap<(usize, usize), Imports>,
    module_paths: BTreeSet<Vec<String>>,
    field_handles: HashMap<String, Handles>,
    memo: HashMap<(Vec<String>, Vec<Handles>, Handles), Summary>,
    in_progress: BTreeSet<(Vec<String>, Vec<Handles>, Handles)>,
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
            field_handles: HashMap::new(),
            memo: HashMap::new(),
            in_progress: BTreeSet::new(),
        };
        for (target_index, target) in package.targets.iter().enumerate() {
            for (module_index, module) in target.modules.iter().enumerate() {
                let mut scope = vec![target.crate_name.clone()];
                scope.extend(module.path.iter().cloned());
                analysis.module_paths.insert(scope.clone());
                analysis
                    .imports
                    .insert((target_index, module_index), Imports::of(&module.items));
                for item in &module.items {
                    analysis.index_item(item, (target_index, module_index), &scope);
                }
            }
        }
        analysis
    }

    fn index_item(&mut self, item: &syn::Item, module: (usize, usize), scope: &[String]) {
        match item {
            syn::Item::Impl(item_impl) if !is_cfg_test(&item_impl.attrs) => {
                let Some(self_type) = type_name(&item_impl.self_ty) else {
                    return;
                };
                for impl_item in &item_impl.items {
                    if let syn::ImplItem::Fn(method) = impl_item {
                        let item = FnItem {
                            attrs: method.attrs.clone(),
                            vis: method.vis.clone(),
                            sig: method.sig.clone(),
                            body: Some(Box::new(method.block.clone())),
                        };
                        let mut key = scope.to_vec();
                        key.push(self_type.clone());
                        key.push(method.sig.ident.to_string());
                        self.methods
                            .entry(method.sig.ident.to_string())
                            .or_default()
                            .push(key.clone());
                        self.add_function(key, item, module, scope, Some(self_type.clone()));
                    }
                }
            }
            syn::Item::Trait(item_trait) => {
                for trait_item in &item_trait.items {
                    if let syn::TraitItem::Fn(method) = trait_item
                        && let Some(block) = &method.default
                    {
                        let item = FnItem {
                            attrs: method.attrs.clone(),
                            vis: syn::Visibility::Inherited,
                            sig: method.sig.clone(),
                            body: Some(Box::new(block.clone())),
                        };
                        let mut key = scope.to_vec();
                        key.push(item_trait.ident.to_string());
                        key.push(method.sig.ident.to_string());
                        self.methods
                            .entry(method.sig.ident.to_string())
                            .or_default()
                            .push(key.clone());
                        self.add_function(key, item, module, scope, None);
                    }
                }
            }
            other => {
                if let Some(function) = as_fn_item(other) {
                    if function.attrs.iter().any(is_cfg_test_attr) {
                        return;
                    }
                    let mut key = scope.to_vec();
                    key.push(
                        function
                            .sig
                            .ident
                            .to_string()
                            .trim_start_matches("r#")
                            .to_owned(),
                    );
                    self.add_function(key, function, module, scope, None);
                }
            }
        }
    }

    fn add_function(
        &mut self,
        key: Vec<String>,
        item: FnItem,
        module: (usize, usize),
        scope: &[String],
        self_type: Option<String>,
    ) {
        let mut nested = HashMap::new();
        if let Some(body) = &item.body {
            let mut finder = NestedFns::default();
            finder.visit_block(body);
            for function in finder.found {
                let name = function.sig.ident.to_string();
                let mut nested_key = key.clone();
                nested_key.push(name.clone());
                nested.insert(name, nested_key.clone());
                self.add_function(nested_key, function, module, scope, None);
            }
        }
        self.functions.insert(
            key,
            FnDef {
                item,
                module,
                scope: scope.to_vec(),
                self_type,
                nested,
            },
        );
    }

    /// Everything the handler declared by `declaration` can reach.
    pub fn handler_reaches(&mut self, declaration: &Declaration) -> Vec<Reach> {
        // Struct fields holding handles are found crate-wide first: any function may store one.
        if self.field_handles.is_empty() {
            self.collect_field_handles();
        }
        self.analyze(&declaration.rust_path, Vec::new(), Handles::new())
            .reaches
    }

    /// Analyses every function of the crate as if it were a handler, and returns how many there
    /// are: for robustness tests and benchmarks over arbitrary crates.
    pub fn analyze_everything(&mut self) -> usize {
        self.collect_field_handles();
        let keys: Vec<Vec<String>> = self.functions.keys().cloned().collect();
        for key in &keys {
            self.analyze(key, Vec::new(), Handles::new());
        }
        keys.len()
    }

    fn collect_field_handles(&mut self) {
        let keys: Vec<Vec<String>> = self.functions.keys().cloned().collect();
        for key in keys {
            self.analyze(&key, Vec::new(), Handles::new());
        }
        self.memo.clear();
    }

    fn analyze(&mut self, key: &[String], params: Vec<Handles>, self_handles: Handles) -> Summary {
        let memo_key = (key.to_vec(), params.clone(), self_handles.clone());
        if let Some(summary) = self.memo.get(&memo_key) {
            return summary.clone();
        }
        if !self.in_progress.insert(memo_key.clone()) {
            return Summary::default();
        }
        let summary = match self.functions.get(key) {
            Some(definition) => {
                let body = definition.item.body.clone();
                let inputs: Vec<syn::FnArg> = definition.item.sig.inputs.iter().cloned().collect();
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
                for input in &inputs {
                    match input {
                        syn::FnArg::Receiver(_) => {
                            walker.bind("self", self_handles.clone());
                        }
                        syn::FnArg::Typed(typed) => {
                            if let Some(handles) = params.get(param_index) {
                                walker.bind_pattern(&typed.pat, handles.clone());
                            }
                            param_index += 1;
                        }
                    }
                }
                if let Some(body) = body {
                    let value = walker.block(&body);
                    walker.summary.returns.extend(value);
                }
                walker.summary
            }
            None => Summary::default(),
        };
        self.in_progress.remove(&memo_key);
        self.memo.insert(memo_key, summary.clone());
        summary
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
#[derive(Default)]
struct NestedFns {
    found: Vec<FnItem>,
}

impl<'ast> Visit<'ast> for NestedFns {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if let Some(function) = as_fn_item(item) {
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
    locals: Vec<HashMap<String, Handles>>,
    summary: Summary,
}

impl Walker<'_, '_> {
    fn bind(&mut self, name: &str, handles: Handles) {
        if let Some(scope) = self.locals.last_mut() {
            scope.insert(name.to_owned(), handles);
        }
    }

    fn bind_pattern(&mut self, pattern: &Pat, handles: Handles) {
        match pattern {
            Pat::Ident(ident) => self.bind(&ident.ident.to_string(), handles),
            Pat::Type(typed) => self.bind_pattern(&typed.pat, handles),
            Pat::Reference(reference) => self.bind_pattern(&reference.pat, handles),
            Pat::TupleStruct(tuple) => {
                for element in &tuple.elems {
                    self.bind_pattern(element, handles.clone());
                }
            }
            _ => {}
        }
    }

    fn lookup(&self, name: &str) -> Handles {
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

    fn block(&mut self, block: &syn::Block) -> Handles {
        self.locals.push(HashMap::new());
        let mut value = Handles::new();
        for statement in &block.stmts {
            value = self.statement(statement);
        }
        self.locals.pop();
        value
    }

    fn statement(&mut self, statement: &Stmt) -> Handles {
        match statement {
            Stmt::Local(local) => {
                if let Some(init) = &local.init {
                    let handles = self.expr(&init.expr);
                    if let Some((_, diverge)) = &init.diverge {
                        self.expr(diverge);
                    }
                    self.bind_pattern(&local.pat, handles);
                }
                Handles::new()
            }
            Stmt::Expr(expr, semicolon) => {
                let value = self.expr(expr);
                if semicolon.is_some() {
                    Handles::new()
                } else {
                    value
                }
            }
            Stmt::Macro(statement_macro) => {
                self.macro_tokens(&statement_macro.mac);
                Handles::new()
            }
            Stmt::Item(_) => Handles::new(),
        }
    }

    fn expr(&mut self, expr: &Expr) -> Handles {
        match expr {
            Expr::Call(call) => self.call(call),
            Expr::MethodCall(call) => self.method_call(call),
            Expr::Path(path) => {
                if path.qself.is_none() && path.path.segments.len() == 1 {
                    self.lookup(&path.path.segments[0].ident.to_string())
                } else {
                    Handles::new()
                }
            }
            Expr::Reference(reference) => self.expr(&reference.expr),
            Expr::Paren(paren) => self.expr(&paren.expr),
            Expr::Group(group) => self.expr(&group.expr),
            Expr::Try(try_expr) => self.expr(&try_expr.expr),
            Expr::Await(await_expr) => self.expr(&await_expr.base),
            Expr::Cast(cast) => self.expr(&cast.expr),
            Expr::Field(field) => {
                self.expr(&field.base);
                match &field.member {
                    syn::Member::Named(name) => self
                        .analysis
                        .field_handles
                        .get(&name.to_string())
                        .cloned()
                        .unwrap_or_default(),
                    syn::Member::Unnamed(_) => Handles::new(),
                }
            }
            Expr::Struct(literal) => {
                for field in &literal.fields {
                    let handles = self.expr(&field.expr);
                    if let syn::Member::Named(name) = &field.member
                        && !handles.is_empty()
                    {
                        self.analysis
                            .field_handles
                            .entry(name.to_string())
                            .or_default()
                            .extend(handles);
                    }
                }
                if let Some(rest) = &literal.rest {
                    self.expr(rest);
                }
                Handles::new()
            }
            Expr::Block(block) => self.block(&block.block),
            Expr::Async(async_block) => {
                self.block(&async_block.block);
                Handles::new()
            }
            Expr::Unsafe(unsafe_block) => self.block(&unsafe_block.block),
            Expr::Closure(closure) => {
                self.locals.push(HashMap::new());
                self.expr(&closure.body);
                self.locals.pop();
                Handles::new()
            }
            Expr::If(if_expr) => {
                self.expr(&if_expr.cond);
                let mut value = self.block(&if_expr.then_branch);
                if let Some((_, otherwise)) = &if_expr.else_branch {
                    value.extend(self.expr(otherwise));
                }
                value
            }
            Expr::Match(match_expr) => {
                let scrutinee = self.expr(&match_expr.expr);
                let mut value = Handles::new();
                for arm in &match_expr.arms {
                    self.locals.push(HashMap::new());
                    self.bind_pattern(&arm.pat, scrutinee.clone());
                    if let Some((_, guard)) = &arm.guard {
                        self.expr(guard);
                    }
                    value.extend(self.expr(&arm.body));
                    self.locals.pop();
                }
                value
            }
            Expr::Let(let_expr) => {
                let handles = self.expr(&let_expr.expr);
                self.bind_pattern(&let_expr.pat, handles);
                Handles::new()
            }
            Expr::ForLoop(for_loop) => {
                self.expr(&for_loop.expr);
                self.block(&for_loop.body);
                Handles::new()
            }
            Expr::While(while_loop) => {
                self.expr(&while_loop.cond);
                self.block(&while_loop.body);
                Handles::new()
            }
            Expr::Loop(loop_expr) => {
                self.block(&loop_expr.body);
                Handles::new()
            }
            Expr::Assign(assign) => {
                let handles = self.expr(&assign.right);
                if let Expr::Path(path) = &*assign.left {
                    if let Some(ident) = path.path.get_ident() {
                        self.bind(&ident.to_string(), handles);
                    }
                } else {
                    self.expr(&assign.left);
                }
                Handles::new()
            }
            Expr::Return(return_expr) => {
                if let Some(value) = &return_expr.expr {
                    let handles = self.expr(value);
                    self.summary.returns.extend(handles);
                }
                Handles::new()
            }
            Expr::Macro(expr_macro) => self.macro_tokens(&expr_macro.mac),
            other => {
                let mut children = ChildExprs::default();
                children.visit_expr(other);
                for child in children.found {
                    self.expr(&child);
                }
                Handles::new()
            }
        }
    }

    fn call(&mut self, call: &syn::ExprCall) -> Handles {
        let arguments: Vec<Handles> = call
            .args
            .iter()
            .map(|argument| self.expr(argument))
            .collect();
        let Expr::Path(path) = &*call.func else {
            self.expr(&call.func);
            self.escape_all(&arguments, call.func.span(), "a call through a value");
            return Handles::new();
        };
        let written = segments(&path.path);
        if let Some(resource) = self.resolve_declaration(&written) {
            return Handles::from([resource]);
        }
        if let Some(key) = self.resolve_function(&written) {
            let summary = self.analysis.analyze(&key, arguments, Handles::new());
            let step = CallStep {
                call: written.join("::"),
                location: self.location(path.span()),
            };
            self.absorb(summary.reaches, step);
            return summary.returns;
        }
        let imports = self
            .analysis
            .imports
            .get(&self.context.module)
            .cloned()
            .unwrap_or_default();
        if let Some((_, operation)) = PLUTO_CONSUMERS
            .iter()
            .find(|(path, _)| imports.names(&written, path))
        {
            // A Pluto type known to perform exactly this operation on the handle it is given.
            let location = self.location(path.span());
            for resource in arguments.iter().flatten() {
                if resource.kind == operation.resource_kind() {
                    self.summary.reaches.push(Reach {
                        resource: resource.clone(),
                        operation: *operation,
                        steps: vec![CallStep {
                            call: format!("{}({})", written.join("::"), resource.name),
                            location: location.clone(),
                        }],
                        escaped: None,
                    });
                }
            }
            return Handles::new();
        }
        let text = written.join("::");
        if WRAPPERS.contains(&text.as_str()) {
            return arguments.into_iter().flatten().collect();
        }
        self.escape_all(&arguments, call.func.span(), &format!("a call to `{text}`"));
        Handles::new()
    }

    fn method_call(&mut self, call: &syn::ExprMethodCall) -> Handles {
        let receiver = self.expr(&call.receiver);
        let arguments: Vec<Handles> = call
            .args
            .iter()
            .map(|argument| self.expr(argument))
            .collect();
        let method = call.method.to_string();
        let location = self.location(call.method.span());
        let mut handled_receiver = false;
        for resource in &receiver {
            if let Some(operation) = CLIENT_OPERATIONS
                .iter()
                .find(|(kind, name, _)| *kind == resource.kind && *name == method)
                .map(|(_, _, operation)| *operation)
            {
                let call_text = format!("{}.{method}", compact(&call.receiver.to_token_stream()));
                self.summary.reaches.push(Reach {
                    resource: resource.clone(),
                    operation,
                    steps: vec![CallStep {
                        call: call_text,
                        location: location.clone(),
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
            return Handles::new();
        }
        if !receiver.is_empty() && HARMLESS_METHODS.contains(&method.as_str()) {
            return if method == "clone"
                || method == "to_owned"
                || method == "as_ref"
                || method == "borrow"
            {
                receiver
            } else {
                Handles::new()
            };
        }
        let candidates = self
            .analysis
            .methods
            .get(&method)
            .cloned()
            .unwrap_or_default();
        if candidates.is_empty() {
            let receiver_text = compact(&call.receiver.to_token_stream());
            if !receiver.is_empty() {
                self.escape_set(
                    &receiver,
                    location.clone(),
                    format!("a call to `{receiver_text}.{method}`"),
                );
            }
            self.escape_all(
                &arguments,
                call.method.span(),
                &format!("a call to `.{method}`"),
            );
            return Handles::new();
        }
        let mut returns = Handles::new();
        for key in candidates {
            let summary = self
                .analysis
                .analyze(&key, arguments.clone(), receiver.clone());
            let callee = key[key.len().saturating_sub(2)..].join("::");
            self.absorb(
                summary.reaches,
                CallStep {
                    call: callee,
                    location: location.clone(),
                },
            );
            returns.extend(summary.returns);
        }
        returns
    }

    fn macro_tokens(&mut self, mac: &syn::Macro) -> Handles {
        let name = mac
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string())
            .unwrap_or_default();
        let written = segments(&mac.path);
        let imports = self
            .analysis
            .imports
            .get(&self.context.module)
            .cloned()
            .unwrap_or_default();
        if imports.names(&written, &["pluto", "function"]) {
            if let Ok(target) = syn::parse2::<syn::Path>(mac.tokens.clone())
                && let Some(key) = self.resolve_function(&segments(&target))
                && let Some(resource) = self.analysis.declarations.get(&key)
            {
                return Handles::from([resource.clone()]);
            }
            return Handles::new();
        }
        let expressions = parse_macro_expressions(&mac.tokens);
        let formatting = FORMATTING_MACROS.contains(&name.as_str());
        for expression in &expressions {
            let handles = self.expr(expression);
            if !formatting && !handles.is_empty() {
                let location = self.location(expression.span());
                self.escape_set(&handles, location, format!("the macro `{name}!`"));
            }
        }
        Handles::new()
    }

    /// Adds a callee's reaches, prefixed with the call that led there.
    fn absorb(&mut self, reaches: Vec<Reach>, step: CallStep) {
        for mut reach in reaches {
            reach.steps.insert(0, step.clone());
            self.summary.reaches.push(reach);
        }
    }

    fn escape_all(&mut self, arguments: &[Handles], at: Span, into: &str) {
        for handles in arguments {
            if !handles.is_empty() {
                let location = self.location(at);
                self.escape_set(handles, location, into.to_owned());
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
struct ChildExprs {
    found: Vec<Expr>,
    depth: usize,
}

impl<'ast> Visit<'ast> for ChildExprs {
    fn visit_expr(&mut self, expr: &'ast Expr) {
        if self.depth == 0 {
            self.depth += 1;
            syn::visit::visit_expr(self, expr);
            self.depth -= 1;
        } else {
            self.found.push(expr.clone());
        }
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.found.push(Expr::Block(syn::ExprBlock {
            attrs: Vec::new(),
            label: None,
            block: block.clone(),
        }));
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
