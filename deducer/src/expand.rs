//! Expansion of the crate's own `macro_rules!` macros, so that the handle operations written in a
//! macro's body are seen where the macro is invoked.
//!
//! Rules are tried in order, as rustc does; a matcher's fragments (`$e:expr`, `$i:ident`,
//! `$t:ty`, `$($x:expr),*`, ...) are parsed with syn, and the transcriber substitutes them,
//! repetitions included. Hygiene is not modelled (it changes which local a name means, never which
//! item). What cannot be expanded is left to the caller, which then grants conservatively.

use proc_macro2::{Delimiter, Group, Ident, Spacing, TokenStream, TokenTree};
use std::collections::HashMap;
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};

/// One element of a matcher.
#[derive(Debug, Clone)]
enum Matcher {
    /// A token to match exactly (compared by its text).
    Token(String),
    /// A delimited group and what is inside.
    Group(Delimiter, Vec<Matcher>),
    /// `$name:kind`.
    Fragment(String, String),
    /// `$( ... ) sep? op`.
    Repeat(Vec<Matcher>, Option<String>, char),
}

/// What a matcher variable captured.
#[derive(Debug, Clone)]
enum Binding {
    Single(TokenStream),
    Many(Vec<Binding>),
}

/// How deeply expansions may nest (recursive macros).
const MAX_EXPANSION_TOKENS: usize = 100_000;

/// Expands an invocation with input `input` of the macro whose `macro_rules!` body is `rules`:
/// the tokens of the first rule that matches, or `None` when none does (or the rules cannot be
/// read).
pub fn expand(rules: &TokenStream, input: &TokenStream) -> Option<TokenStream> {
    for (matcher, transcriber) in parse_rules(rules)? {
        let parser = |stream: ParseStream<'_>| {
            let bindings = match_sequence(stream, &matcher)?;
            if stream.is_empty() {
                Ok(bindings)
            } else {
                Err(stream.error("unexpected tokens"))
            }
        };
        if let Ok(bindings) = parser.parse2(input.clone()) {
            let output = transcribe(&transcriber, &bindings, &[])?;
            if count_tokens(&output) > MAX_EXPANSION_TOKENS {
                return None;
            }
            return Some(output);
        }
    }
    None
}

/// The expansion as statements (a macro in statement or expression position).
pub fn parse_statements(tokens: &TokenStream) -> Option<Vec<syn::Stmt>> {
    if let Ok(statements) = syn::Block::parse_within.parse2(tokens.clone()) {
        return Some(statements);
    }
    syn::parse2::<syn::Expr>(tokens.clone())
        .ok()
        .map(|expr| vec![syn::Stmt::Expr(expr, None)])
}

/// Every path written in `tokens` that could name an item (`a::b::c`, `crate::x`, `$crate::x`),
/// not counting method names after `.`.
pub fn paths_in(tokens: &TokenStream) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let mut index = 0;
    while index < trees.len() {
        match &trees[index] {
            TokenTree::Group(group) => {
                out.extend(paths_in(&group.stream()));
                index += 1;
            }
            TokenTree::Ident(ident) => {
                let after_dot = index > 0
                    && matches!(&trees[index - 1], TokenTree::Punct(p) if p.as_char() == '.');
                let mut path = vec![ident.to_string()];
                let mut next = index + 1;
                while next + 2 < trees.len() + 1
                    && matches!(trees.get(next), Some(TokenTree::Punct(p)) if p.as_char() == ':')
                    && matches!(trees.get(next + 1), Some(TokenTree::Punct(p)) if p.as_char() == ':')
                {
                    match trees.get(next + 2) {
                        Some(TokenTree::Ident(segment)) => {
                            path.push(segment.to_string());
                            next += 3;
                        }
                        _ => break,
                    }
                }
                if !after_dot {
                    out.push(path);
                }
                index = next;
            }
            TokenTree::Punct(punct) if punct.as_char() == '$' => {
                // `$crate::x`: a path from the crate root.
                if let Some(TokenTree::Ident(ident)) = trees.get(index + 1)
                    && ident == "crate"
                {
                    let rest: TokenStream = trees[index + 1..].iter().cloned().collect();
                    if let Some(first) = paths_in(&rest).into_iter().next() {
                        out.push(first);
                    }
                }
                index += 1;
            }
            _ => index += 1,
        }
    }
    out
}

fn count_tokens(tokens: &TokenStream) -> usize {
    tokens
        .clone()
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => 1 + count_tokens(&group.stream()),
            _ => 1,
        })
        .sum()
}

/// `(matcher) => { transcriber };` pairs.
fn parse_rules(rules: &TokenStream) -> Option<Vec<(Vec<Matcher>, TokenStream)>> {
    let trees: Vec<TokenTree> = rules.clone().into_iter().collect();
    let mut out = Vec::new();
    let mut index = 0;
    while index < trees.len() {
        let TokenTree::Group(matcher) = &trees[index] else {
            return None;
        };
        let arrow = matches!(
            (trees.get(index + 1), trees.get(index + 2)),
            (Some(TokenTree::Punct(eq)), Some(TokenTree::Punct(gt)))
                if eq.as_char() == '=' && gt.as_char() == '>'
        );
        if !arrow {
            return None;
        }
        let Some(TokenTree::Group(transcriber)) = trees.get(index + 3) else {
            return None;
        };
        out.push((parse_matcher(&matcher.stream())?, transcriber.stream()));
        index += 4;
        if matches!(trees.get(index), Some(TokenTree::Punct(p)) if p.as_char() == ';') {
            index += 1;
        }
    }
    Some(out)
}

fn parse_matcher(tokens: &TokenStream) -> Option<Vec<Matcher>> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let mut out = Vec::new();
    let mut index = 0;
    while index < trees.len() {
        match &trees[index] {
            TokenTree::Punct(dollar) if dollar.as_char() == '$' => match trees.get(index + 1) {
                Some(TokenTree::Ident(name)) => {
                    let is_fragment = matches!(trees.get(index + 2), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                    match (is_fragment, trees.get(index + 3)) {
                        (true, Some(TokenTree::Ident(kind))) => {
                            out.push(Matcher::Fragment(name.to_string(), kind.to_string()));
                            index += 4;
                        }
                        _ => {
                            out.push(Matcher::Token(format!("${name}")));
                            index += 2;
                        }
                    }
                }
                Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Parenthesis => {
                    let inner = parse_matcher(&group.stream())?;
                    let (separator, op, used) = repetition_tail(&trees[index + 2..])?;
                    out.push(Matcher::Repeat(inner, separator, op));
                    index += 2 + used;
                }
                _ => return None,
            },
            TokenTree::Group(group) => {
                out.push(Matcher::Group(
                    group.delimiter(),
                    parse_matcher(&group.stream())?,
                ));
                index += 1;
            }
            other => {
                out.push(Matcher::Token(other.to_string()));
                index += 1;
            }
        }
    }
    Some(out)
}

/// After `$( ... )`: an optional separator token and the operator; how many tokens that took.
fn repetition_tail(trees: &[TokenTree]) -> Option<(Option<String>, char, usize)> {
    let op = |tree: Option<&TokenTree>| match tree {
        Some(TokenTree::Punct(p)) if matches!(p.as_char(), '*' | '+' | '?') => Some(p.as_char()),
        _ => None,
    };
    if let Some(op) = op(trees.first()) {
        return Some((None, op, 1));
    }
    let separator = trees.first()?.to_string();
    let op = op(trees.get(1))?;
    Some((Some(separator), op, 2))
}

fn match_sequence(
    input: ParseStream<'_>,
    matchers: &[Matcher],
) -> syn::Result<HashMap<String, Binding>> {
    let mut bindings = HashMap::new();
    for matcher in matchers {
        match matcher {
            Matcher::Token(text) => {
                let found: TokenTree = input.parse()?;
                if found.to_string() != *text {
                    return Err(syn::Error::new(found.span(), "token does not match"));
                }
            }
            Matcher::Group(delimiter, inner) => {
                let found: TokenTree = input.parse()?;
                let TokenTree::Group(group) = found else {
                    return Err(syn::Error::new(found.span(), "expected a group"));
                };
                if group.delimiter() != *delimiter {
                    return Err(syn::Error::new(group.span(), "delimiter does not match"));
                }
                let parser = |stream: ParseStream<'_>| {
                    let found = match_sequence(stream, inner)?;
                    if stream.is_empty() {
                        Ok(found)
                    } else {
                        Err(stream.error("unexpected tokens"))
                    }
                };
                bindings.extend(parser.parse2(group.stream())?);
            }
            Matcher::Fragment(name, kind) => {
                let captured = parse_fragment(input, kind)?;
                bindings.insert(name.clone(), Binding::Single(captured));
            }
            Matcher::Repeat(inner, separator, op) => {
                let mut iterations: Vec<HashMap<String, Binding>> = Vec::new();
                loop {
                    if *op == '?' && !iterations.is_empty() {
                        break;
                    }
                    let fork = input.fork();
                    if !iterations.is_empty()
                        && let Some(separator) = separator
                    {
                        match fork.parse::<TokenTree>() {
                            Ok(found) if found.to_string() == *separator => {}
                            _ => break,
                        }
                    }
                    if fork.is_empty() {
                        break;
                    }
                    match match_sequence(&fork, inner) {
                        Ok(found) => {
                            input.advance_to(&fork);
                            iterations.push(found);
                        }
                        Err(_) => break,
                    }
                }
                if *op == '+' && iterations.is_empty() {
                    return Err(input.error("expected at least one repetition"));
                }
                for name in variables(inner) {
                    let values = iterations
                        .iter()
                        .map(|found| {
                            found
                                .get(&name)
                                .cloned()
                                .unwrap_or(Binding::Many(Vec::new()))
                        })
                        .collect();
                    bindings.insert(name, Binding::Many(values));
                }
            }
        }
    }
    Ok(bindings)
}

fn variables(matchers: &[Matcher]) -> Vec<String> {
    let mut out = Vec::new();
    for matcher in matchers {
        match matcher {
            Matcher::Fragment(name, _) => out.push(name.clone()),
            Matcher::Group(_, inner) | Matcher::Repeat(inner, _, _) => out.extend(variables(inner)),
            Matcher::Token(_) => {}
        }
    }
    out
}

/// Parses one fragment of the given kind and returns its tokens (an `expr` wrapped in an
/// invisible group, so that it stays one operand where it is substituted).
fn parse_fragment(input: ParseStream<'_>, kind: &str) -> syn::Result<TokenStream> {
    use quote::ToTokens;
    Ok(match kind {
        "expr" | "expr_2021" => {
            let expr: syn::Expr = input.parse()?;
            let group = Group::new(Delimiter::None, expr.into_token_stream());
            TokenStream::from(TokenTree::Group(group))
        }
        "ident" => input
            .call(<Ident as syn::ext::IdentExt>::parse_any)?
            .into_token_stream(),
        "ty" => input.parse::<syn::Type>()?.into_token_stream(),
        "pat" => syn::Pat::parse_multi_with_leading_vert(input)?.into_token_stream(),
        "pat_param" => syn::Pat::parse_single(input)?.into_token_stream(),
        "path" => input.call(syn::Path::parse_mod_style)?.into_token_stream(),
        "literal" => input.parse::<syn::Lit>()?.into_token_stream(),
        "block" => input.parse::<syn::Block>()?.into_token_stream(),
        "stmt" => input.parse::<syn::Stmt>()?.into_token_stream(),
        "item" => input.parse::<syn::Item>()?.into_token_stream(),
        "lifetime" => input.parse::<syn::Lifetime>()?.into_token_stream(),
        "vis" => input.parse::<syn::Visibility>()?.into_token_stream(),
        "meta" => input.parse::<syn::Meta>()?.into_token_stream(),
        "tt" => input.parse::<TokenTree>()?.into_token_stream(),
        _ => return Err(input.error("unknown fragment kind")),
    })
}

/// Substitutes the bindings into a transcriber; `indexes` picks the current iteration of each
/// enclosing repetition.
fn transcribe(
    tokens: &TokenStream,
    bindings: &HashMap<String, Binding>,
    indexes: &[usize],
) -> Option<TokenStream> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let mut out = TokenStream::new();
    let mut index = 0;
    while index < trees.len() {
        match &trees[index] {
            TokenTree::Punct(dollar) if dollar.as_char() == '$' => match trees.get(index + 1) {
                Some(TokenTree::Ident(name)) if name == "crate" => {
                    out.extend([TokenTree::Ident(Ident::new("crate", name.span()))]);
                    index += 2;
                }
                Some(TokenTree::Ident(name)) => {
                    let binding = lookup(bindings, &name.to_string(), indexes)?;
                    let Binding::Single(captured) = binding else {
                        return None;
                    };
                    out.extend(captured.clone());
                    index += 2;
                }
                Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Parenthesis => {
                    let (separator, _, used) = repetition_tail(&trees[index + 2..])?;
                    let count = repetition_count(&group.stream(), bindings, indexes)?;
                    for iteration in 0..count {
                        if iteration > 0
                            && let Some(separator) = &separator
                        {
                            out.extend(separator_tokens(separator));
                        }
                        let mut nested = indexes.to_vec();
                        nested.push(iteration);
                        out.extend(transcribe(&group.stream(), bindings, &nested)?);
                    }
                    index += 2 + used;
                }
                _ => {
                    out.extend([trees[index].clone()]);
                    index += 1;
                }
            },
            TokenTree::Group(group) => {
                let mut new_group = Group::new(
                    group.delimiter(),
                    transcribe(&group.stream(), bindings, indexes)?,
                );
                new_group.set_span(group.span());
                out.extend([TokenTree::Group(new_group)]);
                index += 1;
            }
            other => {
                out.extend([other.clone()]);
                index += 1;
            }
        }
    }
    Some(out)
}

fn separator_tokens(separator: &str) -> TokenStream {
    separator.parse().unwrap_or_else(|_| {
        TokenStream::from(TokenTree::Punct(proc_macro2::Punct::new(
            ',',
            Spacing::Alone,
        )))
    })
}

/// A variable's binding at the current iteration of each enclosing repetition.
fn lookup<'b>(
    bindings: &'b HashMap<String, Binding>,
    name: &str,
    indexes: &[usize],
) -> Option<&'b Binding> {
    let mut binding = bindings.get(name)?;
    for index in indexes {
        match binding {
            Binding::Many(values) => binding = values.get(*index)?,
            Binding::Single(_) => break,
        }
    }
    Some(binding)
}

/// How many times a repetition of the transcriber runs: the length of the repeated variables
/// it uses at this depth.
fn repetition_count(
    tokens: &TokenStream,
    bindings: &HashMap<String, Binding>,
    indexes: &[usize],
) -> Option<usize> {
    let mut count = None;
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    for (index, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Punct(dollar) if dollar.as_char() == '$' => {
                if let Some(TokenTree::Ident(name)) = trees.get(index + 1)
                    && let Some(Binding::Many(values)) =
                        lookup(bindings, &name.to_string(), indexes)
                {
                    count = Some(count.map_or(values.len(), |c: usize| c.min(values.len())));
                }
            }
            TokenTree::Group(group) => {
                if let Some(inner) = repetition_count(&group.stream(), bindings, indexes) {
                    count = Some(count.map_or(inner, |c: usize| c.min(inner)));
                }
            }
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(source: &str) -> TokenStream {
        let item: syn::ItemMacro = syn::parse_str(source).expect("a macro_rules! item");
        item.mac.tokens
    }

    fn expanded(rules_source: &str, input: &str) -> Option<String> {
        let input: TokenStream = input.parse().expect("tokens");
        expand(&rules(rules_source), &input).map(|tokens| tokens.to_string())
    }

    #[test]
    fn picks_the_first_matching_rule_and_substitutes_fragments() {
        let source = "macro_rules! save { () => { nothing() }; ($k:expr, $v:expr) => { store().set($k, $v) }; }";
        assert_eq!(expanded(source, "").as_deref(), Some("nothing ()"));
        let two = expanded(source, "key, \"v\"").expect("expands");
        assert!(two.starts_with("store () . set ("), "{two}");
        assert_eq!(expanded(source, "a b c"), None);
    }

    #[test]
    fn expands_repetitions_with_separators() {
        let source = "macro_rules! all { ($($s:ident),* $(,)?) => { $( $s().delete(\"k\"); )* }; }";
        let out = expanded(source, "a, b, c,").expect("expands");
        assert_eq!(
            out,
            "a () . delete (\"k\") ; b () . delete (\"k\") ; c () . delete (\"k\") ;"
        );
    }

    #[test]
    fn finds_paths_but_not_method_names() {
        let tokens: TokenStream = "crate::infra::sessions().set(k, $crate::x::y)"
            .parse()
            .expect("tokens");
        let paths = paths_in(&tokens);
        assert!(paths.contains(&vec![
            "crate".to_owned(),
            "infra".to_owned(),
            "sessions".to_owned()
        ]));
        assert!(paths.contains(&vec!["crate".to_owned(), "x".to_owned(), "y".to_owned()]));
        assert!(!paths.iter().any(|path| path == &vec!["set".to_owned()]));
    }
}
