//! Parsing and checking of `#[resource(...)]` attributes and the items they sit on.
//!
//! Every error is a [`syn::Error`] whose span points at the offending token, so the proc macro
//! turns it into a compile error at the right place and the deducer into a `file:line:col`
//! diagnostic.

use crate::limits::{
    CORS_MAX_AGE_S, CORS_MAX_HEADERS, CORS_MAX_METHODS, CORS_MAX_ORIGINS,
    DEFAULT_FUNCTION_MEMORY_MB, DEFAULT_FUNCTION_TIMEOUT_S, DEFAULT_INSTANCE_TYPE,
    DEFAULT_SERVERLESS_MAX_CONCURRENCY, DEFAULT_SERVERLESS_MEMORY_MB, FUNCTION_MEMORY_MB,
    FUNCTION_TIMEOUT_S, INSTANCE_COUNT, SERVERLESS_MAX_CONCURRENCY, SERVERLESS_MEMORY_MB,
    SERVERLESS_MEMORY_STEP_MB,
};
use crate::names::{
    check_cors_header, check_cors_method, check_cors_origin, check_env_key, check_instance_type,
    check_resource_name, default_resource_name, parse_ecr_image,
};
use crate::{
    BucketSpec, Cors, DeclaredSpec, EnvValue, FunctionSpec, Hosting, KvStoreSpec, ResourceKind,
    SagemakerSpec, SecretSpec, UrlAuth,
};
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{
    Attribute, Block, FnArg, Ident, LitInt, LitStr, Pat, ReturnType, Signature, Token, Type,
    Visibility,
};

/// A function item as `#[resource]` sees it: with a body (a handler) or without one (a resource
/// declaration such as `fn llama() -> SageMaker;`, which is not valid Rust until the macro rewrites
/// it).
#[derive(Debug, Clone)]
pub struct FnItem {
    /// Outer attributes, doc comments included.
    pub attrs: Vec<Attribute>,
    /// Visibility.
    pub vis: Visibility,
    /// Signature.
    pub sig: Signature,
    /// The body, or `None` for `fn x() -> T;`.
    pub body: Option<Box<Block>>,
}

impl Parse for FnItem {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let body = if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            None
        } else {
            Some(Box::new(input.parse::<Block>()?))
        };
        Ok(Self {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

impl ToTokens for FnItem {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        match &self.body {
            Some(body) => body.to_tokens(tokens),
            None => <Token![;]>::default().to_tokens(tokens),
        }
    }
}

/// A handler's signature, checked to be one the runtime can serve.
#[derive(Debug, Clone)]
pub struct HandlerSignature {
    /// `async fn`?
    pub is_async: bool,
    /// Parameters in order; requests name them in JSON objects and query strings.
    pub params: Vec<HandlerParam>,
    /// What the function returns.
    pub output: HandlerOutput,
    /// Whether it streams its answer: it returns [`TEXT_STREAM`] (`-> TextStream`, or a `Result`
    /// whose `Ok` type is `TextStream`), spelled by that name. The macro and the deducer both
    /// read it from here, so the response mode is known at compile time.
    pub streams: bool,
}

/// The name of the runtime's streaming answer type, `pluto::TextStream`: a handler returning it
/// (directly or in a `Result`) streams.
pub const TEXT_STREAM: &str = "TextStream";

/// One handler parameter.
#[derive(Debug, Clone)]
pub struct HandlerParam {
    /// The binding's identifier (`mut` dropped).
    pub ident: Ident,
    /// Its type, decoded from JSON.
    pub ty: Type,
}

impl HandlerParam {
    /// The name requests use for this parameter (raw identifiers lose their `r#`).
    pub fn name(&self) -> String {
        rust_name(&self.ident)
    }
}

/// An identifier as written without its `r#` (`r#type` is `type`).
pub fn rust_name(ident: &Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#")
        .map_or_else(|| text.clone(), str::to_owned)
}

/// A type as compact text for messages and registrations: `Vec<String>` rather than the
/// `Vec < String >` of `ToTokens`.
pub fn type_text(ty: &Type) -> String {
    let text = ty.to_token_stream().to_string();
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (index, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = index.checked_sub(1).map(|i| chars[i]);
            let after = chars.get(index + 1).copied();
            if matches!(before, Some('<' | '&' | ':' | '(' | '['))
                || matches!(after, Some('<' | '>' | ',' | ':' | ';' | ')' | ']'))
            {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The return type of a handler.
#[derive(Debug, Clone)]
pub enum HandlerOutput {
    /// No return type: the response is `null`.
    Unit,
    /// `-> T`: the response is `T` as JSON.
    Value(Type),
    /// `-> Result<T, E>` (any type whose last path segment is `Result`): `Ok` is the response, `Err`
    /// an error status.
    Result(Type),
}

/// Parses the arguments of `#[resource(...)]` into a resolved [`DeclaredSpec`].
///
/// `rust_ident` is the item's identifier, which supplies the default logical name.
pub fn parse_resource_args(args: TokenStream, rust_ident: &Ident) -> syn::Result<DeclaredSpec> {
    let parser = |input: ParseStream<'_>| parse_kind_and_options(input, rust_ident);
    parser.parse2(args)
}

fn parse_kind_and_options(input: ParseStream<'_>, rust_ident: &Ident) -> syn::Result<DeclaredSpec> {
    if input.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            format!(
                "#[resource] needs a kind: one of {}, e.g. #[resource(kv_store)]",
                kind_list()
            ),
        ));
    }
    let keyword: Ident = input.parse()?;
    let Some(kind) = ResourceKind::from_keyword(&keyword.to_string()) else {
        return Err(syn::Error::new(
            keyword.span(),
            format!(
                "unknown resource kind `{keyword}`; expected one of {}",
                kind_list()
            ),
        ));
    };
    let options = if input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in input);
        content.parse::<TokenStream>()?
    } else {
        TokenStream::new()
    };
    if !input.is_empty() {
        return Err(input.error(
            "#[resource] declares exactly one resource: put its options in parentheses, e.g. \
             #[resource(function(url = \"public\"))]",
        ));
    }
    let default_name = default_resource_name(&rust_ident.to_string());
    match kind {
        ResourceKind::Sagemaker => parse_sagemaker(options, keyword.span(), default_name),
        ResourceKind::KvStore => parse_kv_store(options, default_name),
        ResourceKind::Function => parse_function(options, default_name),
        ResourceKind::Bucket => parse_bucket(options, default_name),
        ResourceKind::Secret => parse_secret(options, default_name),
    }
}

fn kind_list() -> String {
    ResourceKind::ALL
        .map(|k| format!("`{}`", k.keyword()))
        .join(", ")
}

/// Tracks which keys an option list has seen, to reject duplicates and unknown keys.
struct Keys {
    kind: &'static str,
    allowed: &'static [&'static str],
    seen: Vec<String>,
}

impl Keys {
    fn new(kind: &'static str, allowed: &'static [&'static str]) -> Self {
        Self {
            kind,
            allowed,
            seen: Vec::new(),
        }
    }

    /// Returns the key of `meta` after checking it is known and not repeated.
    fn take(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<String> {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .ok_or_else(|| meta.error(format!("expected an option of {}", self.kind)))?;
        if !self.allowed.contains(&key.as_str()) {
            let allowed = self
                .allowed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(meta.error(format!(
                "unknown option `{key}` for {}; expected one of {allowed}",
                self.kind
            )));
        }
        if self.seen.contains(&key) {
            return Err(meta.error(format!("option `{key}` is given twice")));
        }
        self.seen.push(key.clone());
        Ok(key)
    }
}

fn parse_options(
    options: TokenStream,
    on_option: impl FnMut(ParseNestedMeta<'_>) -> syn::Result<()>,
) -> syn::Result<()> {
    if options.is_empty() {
        return Ok(());
    }
    let parser = syn::meta::parser(on_option);
    parser.parse2(options)
}

fn parse_name(meta: &ParseNestedMeta<'_>) -> syn::Result<String> {
    let lit: LitStr = string_value(meta)?;
    let name = lit.value();
    check_resource_name(&name).map_err(|message| syn::Error::new(lit.span(), message))?;
    Ok(name)
}

fn string_value(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    let value = meta.value()?;
    let expr: syn::Expr = value.parse()?;
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Ok(lit),
        other => Err(syn::Error::new(
            other.span(),
            "expected a string literal, e.g. \"value\"",
        )),
    }
}

fn int_value(
    meta: &ParseNestedMeta<'_>,
    range: RangeInclusive<u32>,
    unit: &str,
) -> syn::Result<u32> {
    let value = meta.value()?;
    let expr: syn::Expr = value.parse()?;
    let lit: LitInt = match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(lit),
            ..
        }) => lit,
        other => {
            return Err(syn::Error::new(
                other.span(),
                format!("expected a whole number of {unit}, e.g. {}", range.start()),
            ));
        }
    };
    let number: u64 = lit.base10_parse()?;
    match u32::try_from(number) {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(syn::Error::new(
            lit.span(),
            format!(
                "{number} is out of range: expected {} to {} {unit}",
                range.start(),
                range.end()
            ),
        )),
    }
}

fn parse_env(meta: &ParseNestedMeta<'_>) -> syn::Result<BTreeMap<String, EnvValue>> {
    let mut env = BTreeMap::new();
    meta.parse_nested_meta(|entry| {
        let key = entry
            .path
            .get_ident()
            .map(ToString::to_string)
            .ok_or_else(|| entry.error("expected `NAME = \"value\"`"))?;
        check_env_key(&key).map_err(|message| entry.error(message))?;
        if env.contains_key(&key) {
            return Err(entry.error(format!("environment variable `{key}` is given twice")));
        }
        let value = entry.value()?;
        let expr: syn::Expr = value.parse()?;
        let env_value = match expr {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(lit), .. }) => EnvValue::Literal(lit.value()),
            syn::Expr::Call(call) if is_from_env(&call.func) => {
                let args: Vec<&syn::Expr> = call.args.iter().collect();
                match args.as_slice() {
                    [syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(var), .. })] => {
                        let var_name = var.value();
                        if var_name.is_empty() || var_name.contains('=') {
                            return Err(syn::Error::new(var.span(), "expected the name of a variable"));
                        }
                        EnvValue::FromDeployEnv(var_name)
                    }
                    _ => {
                        return Err(syn::Error::new(
                            call.span(),
                            "from_env takes one string: the deploying machine's variable, e.g. from_env(\"HF_TOKEN\")",
                        ));
                    }
                }
            }
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected a string literal, or from_env(\"VAR\") for a secret read at deploy time",
                ));
            }
        };
        env.insert(key, env_value);
        Ok(())
    })?;
    Ok(env)
}

fn is_from_env(func: &syn::Expr) -> bool {
    matches!(func, syn::Expr::Path(path) if path.path.is_ident("from_env"))
}

fn parse_sagemaker(
    options: TokenStream,
    kind_span: Span,
    default_name: String,
) -> syn::Result<DeclaredSpec> {
    let mut keys = Keys::new(
        "sagemaker",
        &[
            "name",
            "image",
            "instance_type",
            "instance_count",
            "env",
            "serverless",
        ],
    );
    let mut name = default_name;
    let mut image: Option<String> = None;
    let mut instance_type: Option<(String, Span)> = None;
    let mut instance_count: Option<(u32, Span)> = None;
    let mut serverless: Option<(Hosting, Span)> = None;
    let mut env = BTreeMap::new();
    parse_options(options, |meta| {
        match keys.take(&meta)?.as_str() {
            "name" => name = parse_name(&meta)?,
            "image" => {
                let lit = string_value(&meta)?;
                parse_ecr_image(&lit.value())
                    .map_err(|message| syn::Error::new(lit.span(), message))?;
                image = Some(lit.value());
            }
            "instance_type" => {
                let lit = string_value(&meta)?;
                check_instance_type(&lit.value())
                    .map_err(|message| syn::Error::new(lit.span(), message))?;
                instance_type = Some((lit.value(), meta.path.span()));
            }
            "instance_count" => {
                instance_count = Some((
                    int_value(&meta, INSTANCE_COUNT, "instances")?,
                    meta.path.span(),
                ));
            }
            "env" => env = parse_env(&meta)?,
            "serverless" => serverless = Some((parse_serverless(&meta)?, meta.path.span())),
            _ => unreachable!("Keys::take only returns allowed keys"),
        }
        Ok(())
    })?;
    let Some(image) = image else {
        return Err(syn::Error::new(
            kind_span,
            "sagemaker needs `image = \"<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>\"`",
        ));
    };
    let hosting = match (serverless, instance_type, instance_count) {
        (Some(_), Some((_, span)), _) | (Some(_), _, Some((_, span))) => {
            return Err(syn::Error::new(
                span,
                "a serverless endpoint has no instances: remove this option or `serverless(...)`",
            ));
        }
        (Some((hosting, _)), None, None) => hosting,
        (None, instance_type, instance_count) => Hosting::Instances {
            instance_type: instance_type
                .map_or_else(|| DEFAULT_INSTANCE_TYPE.to_owned(), |(t, _)| t),
            initial_instance_count: instance_count.map_or(1, |(count, _)| count),
        },
    };
    Ok(DeclaredSpec::Sagemaker(SagemakerSpec {
        name,
        image,
        hosting,
        env,
    }))
}

fn parse_serverless(meta: &ParseNestedMeta<'_>) -> syn::Result<Hosting> {
    let mut keys = Keys::new("serverless", &["memory_mb", "max_concurrency"]);
    let mut memory_mb = DEFAULT_SERVERLESS_MEMORY_MB;
    let mut max_concurrency = DEFAULT_SERVERLESS_MAX_CONCURRENCY;
    if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|option| {
            match keys.take(&option)?.as_str() {
                "memory_mb" => {
                    let span = option.input.span();
                    memory_mb = int_value(&option, SERVERLESS_MEMORY_MB, "MiB")?;
                    if !memory_mb.is_multiple_of(SERVERLESS_MEMORY_STEP_MB) {
                        return Err(syn::Error::new(
                            span,
                            format!("serverless memory comes in steps of {SERVERLESS_MEMORY_STEP_MB} MiB"),
                        ));
                    }
                }
                "max_concurrency" => {
                    max_concurrency = int_value(&option, SERVERLESS_MAX_CONCURRENCY, "invocations")?;
                }
                _ => unreachable!("Keys::take only returns allowed keys"),
            }
            Ok(())
        })?;
    }
    Ok(Hosting::Serverless {
        memory_mb,
        max_concurrency,
    })
}

fn parse_kv_store(options: TokenStream, default_name: String) -> syn::Result<DeclaredSpec> {
    let mut keys = Keys::new("kv_store", &["name"]);
    let mut name = default_name;
    parse_options(options, |meta| {
        match keys.take(&meta)?.as_str() {
            "name" => name = parse_name(&meta)?,
            _ => unreachable!("Keys::take only returns allowed keys"),
        }
        Ok(())
    })?;
    Ok(DeclaredSpec::KvStore(KvStoreSpec { name }))
}

fn parse_bucket(options: TokenStream, default_name: String) -> syn::Result<DeclaredSpec> {
    let mut keys = Keys::new("bucket", &["name", "versioning"]);
    let mut name = default_name;
    let mut versioning = false;
    parse_options(options, |meta| {
        match keys.take(&meta)?.as_str() {
            "name" => name = parse_name(&meta)?,
            "versioning" => versioning = bool_value(&meta)?,
            _ => unreachable!("Keys::take only returns allowed keys"),
        }
        Ok(())
    })?;
    Ok(DeclaredSpec::Bucket(BucketSpec { name, versioning }))
}

fn parse_secret(options: TokenStream, default_name: String) -> syn::Result<DeclaredSpec> {
    let mut keys = Keys::new("secret", &["name"]);
    let mut name = default_name;
    parse_options(options, |meta| {
        match keys.take(&meta)?.as_str() {
            "name" => name = parse_name(&meta)?,
            _ => unreachable!("Keys::take only returns allowed keys"),
        }
        Ok(())
    })?;
    Ok(DeclaredSpec::Secret(SecretSpec { name }))
}

fn parse_function(options: TokenStream, default_name: String) -> syn::Result<DeclaredSpec> {
    let mut keys = Keys::new(
        "function",
        &["name", "url", "timeout_s", "memory_mb", "env", "cors"],
    );
    let mut spec = FunctionSpec {
        name: default_name,
        url: UrlAuth::Iam,
        timeout_s: DEFAULT_FUNCTION_TIMEOUT_S,
        memory_mb: DEFAULT_FUNCTION_MEMORY_MB,
        env: BTreeMap::new(),
        cors: None,
    };
    let mut cors_span = None;
    parse_options(options, |meta| {
        match keys.take(&meta)?.as_str() {
            "name" => spec.name = parse_name(&meta)?,
            "url" => {
                let lit = string_value(&meta)?;
                spec.url = UrlAuth::from_keyword(&lit.value()).ok_or_else(|| {
                    let mut choices: Vec<String> = UrlAuth::ALL
                        .iter()
                        .map(|auth| format!("\"{}\" ({})", auth.keyword(), auth.meaning()))
                        .collect();
                    let last = choices.pop().unwrap_or_default();
                    syn::Error::new(
                        lit.span(),
                        format!("url is {} or {last}", choices.join(", ")),
                    )
                })?;
            }
            "timeout_s" => spec.timeout_s = int_value(&meta, FUNCTION_TIMEOUT_S, "seconds")?,
            "memory_mb" => spec.memory_mb = int_value(&meta, FUNCTION_MEMORY_MB, "MiB")?,
            "env" => spec.env = parse_env(&meta)?,
            "cors" => {
                spec.cors = Some(parse_cors(&meta)?);
                cors_span = Some(meta.path.span());
            }
            _ => unreachable!("Keys::take only returns allowed keys"),
        }
        Ok(())
    })?;
    if let (UrlAuth::None, Some(span)) = (spec.url, cors_span) {
        return Err(syn::Error::new(
            span,
            "this function has url = \"none\", so there is no Function URL for CORS settings to \
             apply to: remove cors(...), or give the function a URL with url = \"public\" or \
             url = \"iam\"",
        ));
    }
    Ok(DeclaredSpec::Function(spec))
}

/// Parses `cors(allow_origins = [..], allow_methods = [..], allow_headers = [..],
/// expose_headers = [..], max_age_s = N, allow_credentials = true)`.
fn parse_cors(meta: &ParseNestedMeta<'_>) -> syn::Result<Cors> {
    const EXAMPLE: &str = "cors(allow_origins = [\"https://example.com\"])";
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!(
            "cors takes its settings in parentheses and needs at least the allowed origins, e.g. \
             {EXAMPLE}"
        )));
    }
    let mut keys = Keys::new(
        "cors",
        &[
            "allow_origins",
            "allow_methods",
            "allow_headers",
            "expose_headers",
            "max_age_s",
            "allow_credentials",
        ],
    );
    let mut cors = Cors::default();
    let mut origins: Option<Vec<(String, Span)>> = None;
    let content;
    syn::parenthesized!(content in meta.input);
    let settings: TokenStream = content.parse()?;
    parse_options(settings, |option| {
        match keys.take(&option)?.as_str() {
            "allow_origins" => origins = Some(parse_origins(&option)?),
            "allow_methods" => cors.allow_methods = parse_methods(&option)?,
            "allow_headers" => cors.allow_headers = parse_headers(&option, "allow_headers")?,
            "expose_headers" => cors.expose_headers = parse_headers(&option, "expose_headers")?,
            "max_age_s" => cors.max_age_s = Some(int_value(&option, CORS_MAX_AGE_S, "seconds")?),
            "allow_credentials" => cors.allow_credentials = bool_value(&option)?,
            _ => unreachable!("Keys::take only returns allowed keys"),
        }
        Ok(())
    })?;
    let Some(origins) = origins else {
        return Err(syn::Error::new(
            meta.path.span(),
            format!(
                "cors(...) needs `allow_origins`, the origins of the web pages that may call this \
                 function, e.g. {EXAMPLE}"
            ),
        ));
    };
    if cors.allow_credentials
        && let Some((_, span)) = origins.iter().find(|(origin, _)| origin == "*")
    {
        return Err(syn::Error::new(
            *span,
            "allow_credentials = true cannot go with origin \"*\": browsers reject credentialed \
             responses that allow every origin; list the origins that may send cookies or \
             credentials instead, e.g. allow_origins = [\"https://example.com\"]",
        ));
    }
    cors.allow_origins = origins.into_iter().map(|(origin, _)| origin).collect();
    Ok(cors)
}

/// The string literals of `key = ["a", "b"]`, with the span of the brackets.
fn string_list(meta: &ParseNestedMeta<'_>, example: &str) -> syn::Result<(Span, Vec<LitStr>)> {
    let value = meta.value()?;
    let expr: syn::Expr = value.parse()?;
    let syn::Expr::Array(array) = expr else {
        return Err(syn::Error::new(
            expr.span(),
            format!("expected a list of strings, e.g. {example}"),
        ));
    };
    let mut items = Vec::with_capacity(array.elems.len());
    for element in &array.elems {
        match element {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => items.push(lit.clone()),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    format!("expected a string literal, e.g. {example}"),
                ));
            }
        }
    }
    Ok((array.bracket_token.span.join(), items))
}

/// Refuses the item after the `max`-th of a list, pointing at it.
fn check_list_len(items: &[LitStr], max: usize, what: &str) -> syn::Result<()> {
    match items.get(max) {
        Some(extra) => Err(syn::Error::new(
            extra.span(),
            format!(
                "AWS accepts at most {max} {what} in CORS settings; this is number {}",
                max + 1
            ),
        )),
        None => Ok(()),
    }
}

fn parse_origins(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<(String, Span)>> {
    let (brackets, items) = string_list(meta, "[\"https://example.com\"]")?;
    if items.is_empty() {
        return Err(syn::Error::new(
            brackets,
            "allow_origins needs at least one origin, e.g. [\"https://example.com\"]; without \
             cors(...) only pages on the function's own origin can call it",
        ));
    }
    check_list_len(&items, CORS_MAX_ORIGINS, "origins")?;
    let mut origins: Vec<(String, Span)> = Vec::with_capacity(items.len());
    for lit in &items {
        let origin = check_cors_origin(&lit.value())
            .map_err(|message| syn::Error::new(lit.span(), message))?;
        if origins.iter().any(|(seen, _)| *seen == origin) {
            return Err(syn::Error::new(
                lit.span(),
                format!("origin `{origin}` is listed twice"),
            ));
        }
        origins.push((origin, lit.span()));
    }
    if origins.len() > 1
        && let Some((_, span)) = origins.iter().find(|(origin, _)| origin == "*")
    {
        return Err(syn::Error::new(
            *span,
            "\"*\" already allows every origin: list either \"*\" alone or only specific origins",
        ));
    }
    Ok(origins)
}

fn parse_methods(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<String>> {
    let (_, items) = string_list(meta, "[\"GET\", \"POST\"]")?;
    check_list_len(&items, CORS_MAX_METHODS, "methods")?;
    let mut methods: Vec<String> = Vec::with_capacity(items.len());
    for lit in &items {
        let method = check_cors_method(&lit.value())
            .map_err(|message| syn::Error::new(lit.span(), message))?;
        if methods.contains(&method) {
            return Err(syn::Error::new(
                lit.span(),
                format!("method `{method}` is listed twice"),
            ));
        }
        if (method == "*" && !methods.is_empty()) || methods.iter().any(|m| m == "*") {
            return Err(syn::Error::new(
                lit.span(),
                "\"*\" already allows every method: list either \"*\" alone or only specific \
                 methods",
            ));
        }
        methods.push(method);
    }
    Ok(methods)
}

fn parse_headers(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Vec<String>> {
    let (_, items) = string_list(meta, "[\"content-type\"]")?;
    check_list_len(&items, CORS_MAX_HEADERS, "headers")?;
    let mut headers: Vec<String> = Vec::with_capacity(items.len());
    for lit in &items {
        let header = lit.value();
        check_cors_header(&header).map_err(|message| syn::Error::new(lit.span(), message))?;
        if headers
            .iter()
            .any(|seen| seen.eq_ignore_ascii_case(&header))
        {
            return Err(syn::Error::new(
                lit.span(),
                format!("header `{header}` is listed twice in {key} (header names ignore case)"),
            ));
        }
        headers.push(header);
    }
    Ok(headers)
}

fn bool_value(meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
    let value = meta.value()?;
    let expr: syn::Expr = value.parse()?;
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Bool(lit),
            ..
        }) => Ok(lit.value),
        other => Err(syn::Error::new(other.span(), "expected `true` or `false`")),
    }
}

/// Checks the item under a `sagemaker` or `kv_store` declaration: `fn name() -> Handle;`.
pub fn check_handle_declaration(kind: ResourceKind, item: &FnItem) -> syn::Result<()> {
    let handle = kind.handle_type().unwrap_or("?");
    let example = format!("fn {}() -> {handle};", item.sig.ident);
    if let Some(body) = &item.body {
        return Err(syn::Error::new(
            body.brace_token.span.join(),
            format!("a {kind} declaration has no body: write `{example}`"),
        ));
    }
    let sig = &item.sig;
    if let Some(token) = sig.asyncness {
        return Err(syn::Error::new(
            token.span(),
            format!("a {kind} declaration is not async: write `{example}`"),
        ));
    }
    if let Some(param) = sig.inputs.first() {
        return Err(syn::Error::new(
            param.span(),
            format!("a {kind} declaration takes no arguments: write `{example}`"),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("a {kind} declaration is not generic"),
        ));
    }
    if let Some(token) = sig.constness {
        return Err(syn::Error::new(
            token.span(),
            format!("write `{example}` without `const`"),
        ));
    }
    if let Some(token) = sig.unsafety {
        return Err(syn::Error::new(
            token.span(),
            format!("write `{example}` without `unsafe`"),
        ));
    }
    let returns_handle = match &sig.output {
        ReturnType::Type(_, ty) => last_segment(ty).is_some_and(|segment| segment == handle),
        ReturnType::Default => false,
    };
    if !returns_handle {
        let span = match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => sig.ident.span(),
        };
        return Err(syn::Error::new(
            span,
            format!(
                "`#[resource({})]` declares a `{handle}`: write `{example}`",
                kind.keyword()
            ),
        ));
    }
    Ok(())
}

/// Checks the item under a `function` declaration and describes its signature.
pub fn check_handler(item: &FnItem) -> syn::Result<HandlerSignature> {
    let sig = &item.sig;
    if item.body.is_none() {
        return Err(syn::Error::new(
            sig.ident.span(),
            "a function needs a body: `#[resource(function)]` goes on the code Lambda runs",
        ));
    }
    if let Some(token) = sig.constness {
        return Err(syn::Error::new(
            token.span(),
            "a handler cannot be a `const fn`",
        ));
    }
    if let Some(token) = sig.unsafety {
        return Err(syn::Error::new(
            token.span(),
            "a handler cannot be `unsafe`",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new(
            abi.span(),
            "a handler cannot have an `extern` ABI",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "a handler cannot be variadic",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a handler cannot be generic: requests are decoded into concrete types",
        ));
    }
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new(
                    receiver.span(),
                    "#[resource(function)] goes on a free function, not a method",
                ));
            }
            FnArg::Typed(typed) => {
                let ident = match &*typed.pat {
                    Pat::Ident(pat) if pat.subpat.is_none() && pat.by_ref.is_none() => {
                        pat.ident.clone()
                    }
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "handler parameters must be plain names: requests pass arguments by name",
                        ));
                    }
                };
                if ident.to_string().starts_with('_') && ident == "_" {
                    return Err(syn::Error::new(
                        ident.span(),
                        "handler parameters need a name",
                    ));
                }
                check_serde_type(&typed.ty, "argument")?;
                params.push(HandlerParam {
                    ident,
                    ty: (*typed.ty).clone(),
                });
            }
        }
    }
    let output = match &sig.output {
        ReturnType::Default => HandlerOutput::Unit,
        ReturnType::Type(_, ty) => {
            if !matches!(**ty, Type::Reference(_)) {
                check_serde_type(ty, "return")?;
            }
            if last_segment(ty).is_some_and(|segment| segment == "Result") {
                HandlerOutput::Result((**ty).clone())
            } else {
                HandlerOutput::Value((**ty).clone())
            }
        }
    };
    let streams = match &output {
        HandlerOutput::Unit => false,
        HandlerOutput::Value(ty) => is_text_stream(ty),
        HandlerOutput::Result(ty) => first_type_argument(ty).is_some_and(is_text_stream),
    };
    Ok(HandlerSignature {
        is_async: sig.asyncness.is_some(),
        params,
        output,
        streams,
    })
}

fn check_serde_type(ty: &Type, role: &str) -> syn::Result<()> {
    match ty {
        Type::Reference(reference) => Err(syn::Error::new(
            reference.span(),
            format!(
                "handler {role} types must be owned serde types, decoded from or encoded to JSON: \
                 use e.g. `String` instead of `&str`"
            ),
        )),
        Type::ImplTrait(_)
        | Type::TraitObject(_)
        | Type::Infer(_)
        | Type::Ptr(_)
        | Type::BareFn(_)
        | Type::Never(_) => Err(syn::Error::new(
            ty.span(),
            format!(
                "handler {role} types must be concrete serde types (serde::Serialize/Deserialize)"
            ),
        )),
        Type::Paren(inner) => check_serde_type(&inner.elem, role),
        Type::Group(inner) => check_serde_type(&inner.elem, role),
        _ => Ok(()),
    }
}

/// Whether `ty` names the runtime's [`TEXT_STREAM`] (`TextStream`, `pluto::TextStream`).
fn is_text_stream(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|segment| segment == TEXT_STREAM)
}

/// The first generic type argument of a path type: `T` of `Result<T, E>`.
fn first_type_argument(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Path(path) => match &path.path.segments.last()?.arguments {
            syn::PathArguments::AngleBracketed(arguments) => {
                arguments.args.iter().find_map(|argument| match argument {
                    syn::GenericArgument::Type(ty) => Some(ty),
                    _ => None,
                })
            }
            _ => None,
        },
        Type::Group(group) => first_type_argument(&group.elem),
        Type::Paren(paren) => first_type_argument(&paren.elem),
        _ => None,
    }
}

fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string()),
        Type::Group(group) => last_segment(&group.elem),
        Type::Paren(paren) => last_segment(&paren.elem),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(args: TokenStream) -> syn::Result<DeclaredSpec> {
        parse_resource_args(args, &Ident::new("my_thing", Span::call_site()))
    }

    #[test]
    fn buckets_and_secrets_take_a_name_and_buckets_versioning() {
        assert_eq!(
            parse(quote!(bucket)).unwrap(),
            DeclaredSpec::Bucket(BucketSpec {
                name: "my-thing".to_owned(),
                versioning: false
            })
        );
        assert_eq!(
            parse(quote!(bucket(name = "docs", versioning = true))).unwrap(),
            DeclaredSpec::Bucket(BucketSpec {
                name: "docs".to_owned(),
                versioning: true
            })
        );
        assert_eq!(
            parse(quote!(secret(name = "hf-token"))).unwrap(),
            DeclaredSpec::Secret(SecretSpec {
                name: "hf-token".to_owned()
            })
        );
    }

    #[test]
    fn kv_store_defaults_its_name_to_the_identifier() {
        let spec = parse(quote!(kv_store)).unwrap();
        assert_eq!(
            spec,
            DeclaredSpec::KvStore(KvStoreSpec {
                name: "my-thing".into()
            })
        );
    }

    #[test]
    fn function_options_are_resolved_with_defaults() {
        let spec = parse(quote!(function(
            name = "chatbot",
            url = "public",
            timeout_s = 120
        )))
        .unwrap();
        let DeclaredSpec::Function(function) = spec else {
            panic!("not a function")
        };
        assert_eq!(function.name, "chatbot");
        assert_eq!(function.url, UrlAuth::Public);
        assert_eq!(function.timeout_s, 120);
        assert_eq!(function.memory_mb, DEFAULT_FUNCTION_MEMORY_MB);
        let DeclaredSpec::Function(default) = parse(quote!(function)).unwrap() else {
            panic!()
        };
        assert_eq!(default.url, UrlAuth::Iam);
        assert_eq!(default.timeout_s, DEFAULT_FUNCTION_TIMEOUT_S);
    }

    #[test]
    fn sagemaker_accepts_instances_or_serverless_but_not_both() {
        let image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tgi:1";
        let spec = parse(quote!(sagemaker(image = #image, env(HF_TASK = "text-generation", HF_TOKEN = from_env("HF_TOKEN"))))).unwrap();
        let DeclaredSpec::Sagemaker(sagemaker) = spec else {
            panic!()
        };
        assert_eq!(
            sagemaker.hosting,
            Hosting::Instances {
                instance_type: DEFAULT_INSTANCE_TYPE.into(),
                initial_instance_count: 1
            }
        );
        assert_eq!(
            sagemaker.env["HF_TOKEN"],
            EnvValue::FromDeployEnv("HF_TOKEN".into())
        );
        let spec = parse(quote!(sagemaker(image = #image, serverless(memory_mb = 4096)))).unwrap();
        let DeclaredSpec::Sagemaker(sagemaker) = spec else {
            panic!()
        };
        assert_eq!(
            sagemaker.hosting,
            Hosting::Serverless {
                memory_mb: 4096,
                max_concurrency: DEFAULT_SERVERLESS_MAX_CONCURRENCY
            }
        );
        let error =
            parse(quote!(sagemaker(image = #image, serverless, instance_type = "ml.m5.large")))
                .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("serverless endpoint has no instances"),
            "{error}"
        );
    }

    #[test]
    fn bad_options_are_reported_with_a_reason() {
        let cases = [
            (quote!(), "needs a kind"),
            (quote!(queue), "unknown resource kind `queue`"),
            (
                quote!(bucket(versioning = "yes")),
                "expected `true` or `false`",
            ),
            (
                quote!(secret(value = "x")),
                "unknown option `value` for secret",
            ),
            (
                quote!(kv_store(nme = "x")),
                "unknown option `nme` for kv_store",
            ),
            (
                quote!(function(timeout_s = 901)),
                "901 is out of range: expected 1 to 900 seconds",
            ),
            (
                quote!(function(memory_mb = "512")),
                "expected a whole number of MiB",
            ),
            (quote!(function(url = "open")), "url is \"public\""),
            (
                quote!(function(name = "a", name = "b")),
                "option `name` is given twice",
            ),
            (
                quote!(function(env(AWS_REGION = "x"))),
                "reserved by AWS Lambda",
            ),
            (
                quote!(kv_store(name = "Bad_Name")),
                "resource name `Bad_Name`",
            ),
            (
                quote!(sagemaker(instance_type = "ml.m5.large")),
                "sagemaker needs `image",
            ),
            (quote!(kv_store, function), "exactly one resource"),
        ];
        for (args, expected) in cases {
            let text = args.to_string();
            let error = parse(args).expect_err(&text).to_string();
            assert!(
                error.contains(expected),
                "`{text}` gave `{error}`, expected `{expected}`"
            );
        }
    }

    fn cors_of(args: TokenStream) -> Option<Cors> {
        match parse(args) {
            Ok(DeclaredSpec::Function(function)) => function.cors,
            other => panic!("not a function: {other:?}"),
        }
    }

    #[test]
    fn cors_settings_are_parsed_and_normalised() {
        let cors = cors_of(quote!(function(
            url = "public",
            cors(
                allow_origins = ["https://Example.com", "http://localhost:3000"],
                allow_methods = ["get", "Post"],
                allow_headers = ["content-type"],
                expose_headers = ["x-request-id"],
                max_age_s = 300,
                allow_credentials = true
            )
        )))
        .expect("cors is set");
        assert_eq!(
            cors,
            Cors {
                allow_origins: vec!["https://example.com".into(), "http://localhost:3000".into()],
                allow_methods: vec!["GET".into(), "POST".into()],
                allow_headers: vec!["content-type".into()],
                expose_headers: vec!["x-request-id".into()],
                max_age_s: Some(300),
                allow_credentials: true,
            }
        );
        let minimal = cors_of(quote!(function(cors(allow_origins = ["*"])))).expect("cors is set");
        assert_eq!(
            minimal,
            Cors {
                allow_origins: vec!["*".into()],
                ..Cors::default()
            }
        );
        let edges = cors_of(quote!(function(cors(
            allow_origins = ["*"],
            allow_methods = ["*"],
            max_age_s = 0,
            allow_credentials = false
        ))))
        .expect("cors is set");
        assert_eq!(edges.max_age_s, Some(0));
        assert_eq!(edges.allow_methods, ["*"]);
        let most = cors_of(quote!(function(cors(
            allow_origins = ["https://a.example"],
            max_age_s = 86400
        ))))
        .expect("cors is set");
        assert_eq!(most.max_age_s, Some(86_400));
    }

    #[test]
    fn no_cors_means_no_cors_settings_and_no_json_field() {
        let DeclaredSpec::Function(function) = parse(quote!(function(url = "public"))).unwrap()
        else {
            panic!("not a function")
        };
        assert_eq!(function.cors, None);
        let json = serde_json::to_value(&function).unwrap();
        assert!(json.get("cors").is_none(), "{json}");
        let back: FunctionSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, function);
        let with_cors = cors_of(quote!(function(cors(
            allow_origins = ["https://a.example"]
        ))));
        let json = serde_json::to_value(&with_cors).unwrap();
        assert_eq!(json["allow_origins"][0], "https://a.example");
        assert_eq!(json["max_age_s"], serde_json::Value::Null);
    }

    #[test]
    fn bad_cors_settings_are_reported_with_a_reason() {
        let many_origins: Vec<String> =
            (0..=100).map(|i| format!("https://a{i}.example")).collect();
        let many_headers: Vec<String> = (0..=100).map(|i| format!("x-h{i}")).collect();
        let cases = [
            (
                quote!(function(url = "none", cors(allow_origins = ["*"]))),
                "url = \"none\", so there is no Function URL",
            ),
            (
                quote!(function(cors(allow_origins = ["*"]), url = "none")),
                "remove cors(...)",
            ),
            (
                quote!(function(cors)),
                "cors takes its settings in parentheses",
            ),
            (
                quote!(function(cors = true)),
                "cors takes its settings in parentheses",
            ),
            (quote!(function(cors())), "needs `allow_origins`"),
            (
                quote!(function(cors(allow_methods = ["GET"]))),
                "needs `allow_origins`",
            ),
            (
                quote!(function(cors(allow_origins = []))),
                "needs at least one origin",
            ),
            (
                quote!(function(cors(allow_origins = "https://a.example"))),
                "expected a list of strings",
            ),
            (
                quote!(function(cors(allow_origins = [1]))),
                "expected a string literal",
            ),
            (
                quote!(function(cors(allow_origins = ["https://a.example/"]))),
                "write `https://a.example`",
            ),
            (
                quote!(function(cors(allow_origins = ["a.example"]))),
                "has no scheme",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["https://a.example", "https://A.example"]
                ))),
                "origin `https://a.example` is listed twice",
            ),
            (
                quote!(function(cors(allow_origins = ["*", "https://a.example"]))),
                "already allows every origin",
            ),
            (
                quote!(function(cors(allow_origins = [#(#many_origins),*]))),
                "at most 100 origins",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["*"],
                    allow_credentials = true
                ))),
                "allow_credentials = true cannot go with origin \"*\"",
            ),
            (
                quote!(function(cors(
                    allow_credentials = true,
                    allow_origins = ["*"]
                ))),
                "list the origins that may send",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["*"],
                    allow_credentials = "yes"
                ))),
                "expected `true` or `false`",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["*"],
                    allow_methods = ["TRACE"]
                ))),
                "`TRACE` is not a method AWS accepts",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["*"],
                    allow_methods = ["OPTIONS"]
                ))),
                "answers preflight (OPTIONS) requests",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["*"],
                    allow_methods = ["GET", "get"]
                ))),
                "method `GET` is listed twice",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["*"],
                    allow_methods = ["GET", "*"]
                ))),
                "already allows every method",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["*"],
                    allow_methods = ["*", "GET"]
                ))),
                "already allows every method",
            ),
            (
                quote!(function(cors(allow_origins = ["*"], allow_headers = [""]))),
                "header name is empty",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["*"],
                    expose_headers = ["x id"]
                ))),
                "contains ` `",
            ),
            (
                quote!(function(cors(
                    allow_origins = ["*"],
                    allow_headers = ["Content-Type", "content-type"]
                ))),
                "header `content-type` is listed twice in allow_headers",
            ),
            (
                quote!(function(cors(allow_origins = ["*"], expose_headers = [#(#many_headers),*]))),
                "at most 100 headers",
            ),
            (
                quote!(function(cors(allow_origins = ["*"], max_age_s = 86401))),
                "86401 is out of range: expected 0 to 86400 seconds",
            ),
            (
                quote!(function(cors(allow_origins = ["*"], max_age_s = -1))),
                "expected a whole number of seconds",
            ),
            (
                quote!(function(cors(allow_origins = ["*"], max_age = 10))),
                "unknown option `max_age` for cors; expected one of `allow_origins`, \
                 `allow_methods`, `allow_headers`, `expose_headers`, `max_age_s`, \
                 `allow_credentials`",
            ),
            (
                quote!(function(cors(allow_origins = ["*"], allow_origins = ["*"]))),
                "option `allow_origins` is given twice",
            ),
            (
                quote!(function(
                    cors(allow_origins = ["*"]),
                    cors(allow_origins = ["*"])
                )),
                "option `cors` is given twice",
            ),
        ];
        for (args, expected) in cases {
            let text = args.to_string();
            let error = parse(args).expect_err(&text).to_string();
            assert!(
                error.contains(expected),
                "`{text}` gave `{error}`, expected `{expected}`"
            );
        }
    }

    #[test]
    fn cors_errors_point_at_the_offending_token() {
        let args: TokenStream =
            "function(cors(allow_origins = [\"https://a.example\", \"ftp://b\"]))"
                .parse()
                .unwrap();
        let error = parse(args).unwrap_err();
        assert_eq!(error.span().source_text().as_deref(), Some("\"ftp://b\""));
        let args: TokenStream = "function(url = \"none\", cors(allow_origins = [\"*\"]))"
            .parse()
            .unwrap();
        let error = parse(args).unwrap_err();
        assert_eq!(error.span().source_text().as_deref(), Some("cors"));
    }

    #[test]
    fn handler_signatures_are_checked() {
        let ok: FnItem = syn::parse2(quote!(
            async fn chat(query: String, mut n: u32) -> pluto::Result<String> {
                todo!()
            }
        ))
        .unwrap();
        let signature = check_handler(&ok).unwrap();
        assert!(signature.is_async);
        assert_eq!(
            signature
                .params
                .iter()
                .map(HandlerParam::name)
                .collect::<Vec<_>>(),
            ["query", "n"]
        );
        assert!(matches!(signature.output, HandlerOutput::Result(_)));
        assert!(!signature.streams);
        for (item, streams) in [
            (
                quote!(
                    async fn f() -> pluto::Result<pluto::TextStream> {
                        todo!()
                    }
                ),
                true,
            ),
            (
                quote!(
                    async fn f() -> Result<TextStream, MyError> {
                        todo!()
                    }
                ),
                true,
            ),
            (
                quote!(
                    fn f() -> TextStream {
                        todo!()
                    }
                ),
                true,
            ),
            (
                quote!(
                    fn f() -> pluto::Result<String> {
                        todo!()
                    }
                ),
                false,
            ),
            (
                quote!(
                    fn f() -> Vec<TextStream> {
                        todo!()
                    }
                ),
                false,
            ),
            (
                quote!(
                    fn f() {}
                ),
                false,
            ),
        ] {
            let item: FnItem = syn::parse2(item).unwrap();
            assert_eq!(
                check_handler(&item).unwrap().streams,
                streams,
                "{}",
                item.sig.ident
            );
        }
        for (item, expected) in [
            (
                quote!(
                    fn f(x: &str) {}
                ),
                "use e.g. `String` instead of `&str`",
            ),
            (
                quote!(
                    fn f<T>(x: T) {}
                ),
                "cannot be generic",
            ),
            (
                quote!(
                    fn f(&self) {}
                ),
                "not a method",
            ),
            (
                quote!(
                    fn f((a, b): (u8, u8)) {}
                ),
                "plain names",
            ),
            (
                quote!(
                    fn f() -> impl Sized {}
                ),
                "concrete serde types",
            ),
            (
                quote!(
                    fn f();
                ),
                "needs a body",
            ),
        ] {
            let item: FnItem = syn::parse2(item).unwrap();
            let error = check_handler(&item).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn types_are_rendered_compactly() {
        let ty: Type = syn::parse_quote!(std::collections::HashMap<String, Vec<(u8, bool)>>);
        assert_eq!(
            type_text(&ty),
            "std::collections::HashMap<String, Vec<(u8, bool)>>"
        );
        let ty: Type = syn::parse_quote!(Option<[u8; 4]>);
        assert_eq!(type_text(&ty), "Option<[u8; 4]>");
    }

    #[test]
    fn handle_declarations_are_checked() {
        let ok: FnItem = syn::parse2(quote!(
            pub fn llama() -> pluto::SageMaker;
        ))
        .unwrap();
        check_handle_declaration(ResourceKind::Sagemaker, &ok).unwrap();
        for (item, expected) in [
            (
                quote!(
                    fn t() -> KvStore {
                        todo!()
                    }
                ),
                "has no body",
            ),
            (
                quote!(
                    fn t(x: u8) -> KvStore;
                ),
                "takes no arguments",
            ),
            (
                quote!(
                    fn t() -> SageMaker;
                ),
                "declares a `KvStore`",
            ),
            (
                quote!(
                    async fn t() -> KvStore;
                ),
                "not async",
            ),
        ] {
            let item: FnItem = syn::parse2(item).unwrap();
            let error = check_handle_declaration(ResourceKind::KvStore, &item)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
