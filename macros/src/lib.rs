//! The `#[resource]` attribute and the `function!` macro of Pluto.
//!
//! `#[resource(kind(options))]` declares a cloud resource on an ordinary Rust function. The option
//! model (kinds, keys, defaults, limits, name rules) lives in `pluto-spec`, which the deducer
//! shares; this crate only turns a parsed declaration into code:
//!
//! - `#[resource(sagemaker(...))] fn llama() -> SageMaker;` becomes a function returning the
//!   endpoint's handle (likewise `kv_store` and `KvStore`, `bucket` and `Bucket`, `secret` and
//!   `Secret`);
//! - `#[resource(function(...))] async fn chat(query: String) -> pluto::Result<String> { .. }`
//!   stays as written, and is registered with the runtime's handler dispatch, which decodes each
//!   request into the parameters and encodes the result as JSON; a handler returning
//!   `TextStream` (or a `Result` of it), spelled by that name, is registered as streaming and
//!   its stream is handed to the runtime as is;
//! - `function!(chat)` is the `pluto::Function` handle of a declared function.
//!
//! Generated code refers to the runtime as `::pluto`.

use pluto_spec::DeclaredSpec;
use pluto_spec::parse::{
    FnItem, HandlerOutput, HandlerSignature, check_handle_declaration, check_handler,
    parse_resource_args, rust_name, type_text,
};
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Path};

/// Declares a cloud resource or a function. Kinds and options: `sagemaker(image = "..", ..)`,
/// `kv_store(name = "..")`, `bucket(name = "..", versioning = bool)`, `secret(name = "..")`,
/// `function(name, url, timeout_s, memory_mb, env(..), cors(..))`; the
/// README's "Declaring resources" lists every option with its default and limits.
///
/// `cors(...)` sets the CORS settings of the function's URL, for calls from web pages on other
/// origins (without it, browsers allow only same-origin calls):
///
/// ```ignore
/// #[resource(function(
///     url = "public",
///     cors(
///         allow_origins = ["https://example.com"], // required: `*`, or `http(s)://host[:port]`
///         allow_methods = ["GET", "POST"],         // GET PUT HEAD POST PATCH DELETE, or `*`
///         allow_headers = ["content-type"],        // request headers pages may send
///         expose_headers = ["x-request-id"],       // response headers pages may read
///         max_age_s = 300,                         // preflight cache, 0..=86400
///         allow_credentials = true,                // cookies; not with origin `*`
///     ),
/// ))]
/// async fn chat(query: String) -> pluto::Result<String> { .. }
/// ```
#[proc_macro_attribute]
pub fn resource(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_resource(args.into(), item.into()).into()
}

/// The `pluto::Function` handle of a function declared with `#[resource(function(...))]`, by its
/// Rust path: `pluto::function!(chat)` or `pluto::function!(crate::api::chat)`.
#[proc_macro]
pub fn function(input: TokenStream) -> TokenStream {
    expand_function_handle(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand_resource(args: TokenStream2, item_tokens: TokenStream2) -> TokenStream2 {
    let item: FnItem = match syn::parse2(item_tokens.clone()) {
        Ok(item) => item,
        Err(_) => {
            let span = item_tokens
                .clone()
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |token| token.span());
            let error = syn::Error::new(
                span,
                "#[resource] goes on a function: `fn name() -> KvStore;` declares a resource, \
                 `async fn name(..) -> .. { .. }` a Lambda function",
            )
            .into_compile_error();
            return quote! { #error #item_tokens };
        }
    };
    let result = parse_resource_args(args.clone(), &item.sig.ident).and_then(|spec| {
        let name_span = literal_span(args, spec.name()).unwrap_or_else(|| item.sig.ident.span());
        match &spec {
            DeclaredSpec::Sagemaker(_)
            | DeclaredSpec::KvStore(_)
            | DeclaredSpec::Bucket(_)
            | DeclaredSpec::Secret(_) => expand_handle_declaration(&spec, &item, name_span),
            DeclaredSpec::Function(_) => expand_handler(&spec, &item, name_span),
        }
    });
    match result {
        Ok(tokens) => tokens,
        Err(error) => {
            // Keep the item (with a body, so rustc does not add "free function without a body") so
            // that the only error the user sees is ours.
            let error = error.into_compile_error();
            let mut item = item;
            if item.body.is_none() {
                item.body = Some(Box::new(syn::parse_quote!({ ::core::unreachable!() })));
            }
            quote! { #error #item }
        }
    }
}

/// A hidden constant named after the resource: two declarations of the same name in one module
/// collide on it, which rustc reports at the second one. (Duplicates across modules are found by
/// the deducer and by `pluto::start`.)
fn name_guard(name: &str, span: Span) -> TokenStream2 {
    let encoded: String = name
        .chars()
        .map(|c| if c == '-' { '_' } else { c })
        .collect();
    let guard = Ident::new(&format!("__pluto_resource_name_is_taken__{encoded}"), span);
    quote_spanned! {span=>
        #[doc(hidden)]
        #[allow(non_upper_case_globals, dead_code)]
        const #guard: () = ();
    }
}

/// The span of the string literal `"text"` among the attribute's tokens (the `name = "..."`).
fn literal_span(tokens: TokenStream2, text: &str) -> Option<Span> {
    let wanted = format!("{text:?}");
    tokens.into_iter().find_map(|tree| match tree {
        proc_macro2::TokenTree::Literal(literal) if literal.to_string() == wanted => {
            Some(literal.span())
        }
        proc_macro2::TokenTree::Group(group) => literal_span(group.stream(), text),
        _ => None,
    })
}

fn expand_handle_declaration(
    spec: &DeclaredSpec,
    item: &FnItem,
    name_span: Span,
) -> syn::Result<TokenStream2> {
    let kind = spec.kind();
    check_handle_declaration(kind, item)?;
    let Some(handle) = kind.handle_type() else {
        unreachable!("functions are expanded by expand_handler")
    };
    let handle = format_ident!("{handle}");
    let FnItem {
        attrs, vis, sig, ..
    } = item;
    let ident = &sig.ident;
    let output = &sig.output;
    let name = spec.name();
    let guard = name_guard(name, name_span);
    // The return type stays as written (checked to name the handle), so the user's import of
    // `KvStore` or `SageMaker` is used.
    Ok(quote! {
        #(#attrs)*
        #vis fn #ident() #output {
            ::pluto::#handle::__declared(#name)
        }
        #guard
    })
}

fn expand_handler(
    spec: &DeclaredSpec,
    item: &FnItem,
    name_span: Span,
) -> syn::Result<TokenStream2> {
    let signature: HandlerSignature = check_handler(item)?;
    let ident = &item.sig.ident;
    let vis = &item.vis;
    let name = spec.name();
    let guard = name_guard(name, name_span);
    let handle_fn = handle_fn_ident(ident);
    let rust_name = rust_name(ident);

    let mut decodes = Vec::new();
    let mut bindings = Vec::new();
    let mut param_specs = Vec::new();
    for (index, param) in signature.params.iter().enumerate() {
        let binding = format_ident!("__pluto_arg_{}", index);
        let ty = &param.ty;
        decodes.push(quote_spanned! {ty.span()=>
            let #binding = ::pluto::__private::arg::<#ty>(&mut __pluto_args, #index)?;
        });
        bindings.push(binding);
        let param_name = param.name();
        let type_text = type_text(ty);
        param_specs
            .push(quote! { ::pluto::__private::Param { name: #param_name, ty: #type_text } });
    }
    let call = if signature.is_async {
        quote! { #ident(#(#bindings),*).await }
    } else {
        quote! { #ident(#(#bindings),*) }
    };
    let streams = signature.streams;
    let output = match (&signature.output, streams) {
        (HandlerOutput::Unit, _) => quote! {
            ::pluto::__private::value_output(__pluto_out).map(::pluto::__private::HandlerValue::Json)
        },
        (HandlerOutput::Value(ty), false) => quote_spanned! {ty.span()=>
            ::pluto::__private::value_output(__pluto_out).map(::pluto::__private::HandlerValue::Json)
        },
        (HandlerOutput::Result(ty), false) => quote_spanned! {ty.span()=>
            ::pluto::__private::result_output(__pluto_out).map(::pluto::__private::HandlerValue::Json)
        },
        (HandlerOutput::Value(ty), true) => {
            quote_spanned! {ty.span()=> ::pluto::__private::stream_output(__pluto_out) }
        }
        (HandlerOutput::Result(ty), true) => {
            quote_spanned! {ty.span()=> ::pluto::__private::stream_result_output(__pluto_out) }
        }
    };
    Ok(quote! {
        #item

        #[doc(hidden)]
        #[allow(non_snake_case, dead_code)]
        #vis fn #handle_fn() -> ::pluto::Function {
            ::pluto::Function::__declared(#name)
        }

        #guard

        const _: () = {
            fn __pluto_call(mut __pluto_args: ::pluto::__private::ArgumentValues) -> ::pluto::__private::HandlerFuture {
                ::std::boxed::Box::pin(async move {
                    #(#decodes)*
                    let __pluto_out = #call;
                    #output
                })
            }
            ::pluto::__private::inventory::submit! {
                ::pluto::__private::FunctionRegistration {
                    name: #name,
                    rust_path: ::core::concat!(::core::module_path!(), "::", #rust_name),
                    params: &[#(#param_specs),*],
                    streams: #streams,
                    call: __pluto_call,
                }
            }
        };
    })
}

fn handle_fn_ident(ident: &Ident) -> Ident {
    format_ident!("__pluto_function_{}", rust_name(ident), span = ident.span())
}

fn expand_function_handle(input: TokenStream2) -> syn::Result<TokenStream2> {
    let mut path: Path = syn::parse2(input).map_err(|error| {
        syn::Error::new(
            error.span(),
            "expected the Rust name of a function declared with #[resource(function(...))], e.g. function!(chat)",
        )
    })?;
    let Some(last) = path.segments.last_mut() else {
        return Err(syn::Error::new(path.span(), "expected a function name"));
    };
    last.ident = handle_fn_ident(&last.ident);
    Ok(quote! { #path() })
}
