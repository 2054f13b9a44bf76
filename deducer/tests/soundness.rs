//! The deducer never under-grants: one fixture crate per family of Rust features (imports,
//! traits, the crate's macros, containers, values), each with a snapshot of its grant table and
//! exact assertions per case. Regression tests are named after the bug they pin.

mod common;

use common::grants;
use pluto_deducer::diagnostics::DeduceError;
use pluto_deducer::{Architecture, Operation, deduce};
use std::fmt::Write as _;

fn architecture(fixture: &str) -> Architecture {
    deduce(&common::package(&format!("tests/fixtures/{fixture}")))
        .unwrap_or_else(|error| panic!("the {fixture} fixture deduces: {error:?}"))
        .architecture
}

/// A precise grant.
fn exact(resource: &str, operation: Operation) -> (String, Operation, bool) {
    (resource.to_owned(), operation, false)
}

/// Every operation of `resource`, granted conservatively.
fn conservative(resource: &str) -> Vec<(String, Operation, bool)> {
    [Operation::KvGet, Operation::KvSet, Operation::KvDelete]
        .into_iter()
        .map(|operation| (resource.to_owned(), operation, true))
        .collect()
}

/// One line per grant: `function: resource operation (exact | conservative: why)`.
fn grant_table(architecture: &Architecture) -> String {
    let mut out = String::new();
    for function in &architecture.functions {
        if function.grants.is_empty() {
            let _ = writeln!(out, "{}: (no grant)", function.spec.name);
        }
        for grant in &function.grants {
            let how = match &grant.escaped {
                Some(escape) => format!("conservative: escapes into {}", escape.into),
                None => "exact".to_owned(),
            };
            let _ = writeln!(
                out,
                "{}: {} {} ({how})",
                function.spec.name,
                grant.resource.name,
                grant.operation.label()
            );
        }
    }
    out
}

#[test]
fn imports_snapshot() {
    insta::assert_snapshot!(grant_table(&architecture("imports")));
}

#[test]
fn use_of_a_resource_from_another_module_grants_its_operation() {
    // The bug: `use infra::sessions;` then `sessions()` deduced no grant at all.
    let architecture = architecture("imports");
    assert_eq!(
        grants(&architecture, "remember"),
        [exact("sessions", Operation::KvSet)]
    );
}

#[test]
fn nested_groups_renames_self_and_re_exports_resolve() {
    let architecture = architecture("imports");
    assert_eq!(
        grants(&architecture, "grouped"),
        [
            exact("audit", Operation::KvGet),
            exact("cache", Operation::KvDelete)
        ]
    );
    assert_eq!(
        grants(&architecture, "renamed"),
        [
            exact("audit", Operation::KvSet),
            exact("sessions", Operation::KvGet)
        ]
    );
    assert_eq!(
        grants(&architecture, "reexported"),
        [
            exact("audit", Operation::KvGet),
            exact("audit", Operation::KvSet),
            exact("cache", Operation::KvDelete)
        ]
    );
}

#[test]
fn block_uses_body_items_and_shadowing_locals() {
    let architecture = architecture("imports");
    assert_eq!(
        grants(&architecture, "scoped"),
        [
            exact("audit", Operation::KvDelete),
            exact("cache", Operation::KvSet)
        ]
    );
    assert_eq!(grants(&architecture, "shadowed"), []);
    assert_eq!(
        grants(&architecture, "placed-and-relative"),
        [
            exact("audit", Operation::KvGet),
            exact("sessions", Operation::KvDelete)
        ]
    );
}

#[test]
fn traits_snapshot() {
    insta::assert_snapshot!(grant_table(&architecture("traits")));
}

#[test]
fn a_user_trait_implemented_for_a_handle_grants_what_its_impl_does() {
    let architecture = architecture("traits");
    assert_eq!(
        grants(&architecture, "via-impl"),
        [exact("notes", Operation::KvSet)]
    );
    assert_eq!(
        grants(&architecture, "via-default"),
        [exact("archive", Operation::KvSet)]
    );
    assert_eq!(
        grants(&architecture, "via-blanket"),
        [exact("ledger", Operation::KvDelete)]
    );
    assert_eq!(
        grants(&architecture, "via-generic"),
        [exact("notes", Operation::KvSet)]
    );
    assert_eq!(
        grants(&architecture, "via-dyn"),
        [exact("ledger", Operation::KvGet)]
    );
    assert_eq!(
        grants(&architecture, "via-qualified"),
        [
            exact("archive", Operation::KvSet),
            exact("ledger", Operation::KvSet)
        ]
    );
}

#[test]
fn methods_of_user_types_named_like_handle_operations_grant_nothing() {
    let architecture = architecture("traits");
    assert_eq!(grants(&architecture, "same-names"), []);
}

#[test]
fn macro_rules_snapshot() {
    insta::assert_snapshot!(grant_table(&architecture("macro_rules")));
}

#[test]
fn operations_in_the_crates_own_macros_are_granted_exactly() {
    let architecture = architecture("macro_rules");
    assert_eq!(
        grants(&architecture, "with-macro"),
        [exact("sessions", Operation::KvSet)]
    );
    assert_eq!(
        grants(&architecture, "with-repetition"),
        [
            exact("audit", Operation::KvDelete),
            exact("sessions", Operation::KvDelete)
        ]
    );
    assert_eq!(
        grants(&architecture, "with-literal-rule"),
        [exact("audit", Operation::KvGet)]
    );
    assert_eq!(
        grants(&architecture, "with-recursion"),
        [
            exact("metrics", Operation::KvGet),
            exact("sessions", Operation::KvGet)
        ]
    );
    assert_eq!(
        grants(&architecture, "with-exported"),
        [exact("metrics", Operation::KvSet)]
    );
}

#[test]
fn a_macro_that_cannot_be_expanded_grants_what_it_names_conservatively() {
    let architecture = architecture("macro_rules");
    assert_eq!(
        grants(&architecture, "with-unexpandable"),
        conservative("audit")
    );
}

#[test]
fn containers_snapshot() {
    insta::assert_snapshot!(grant_table(&architecture("containers")));
}

#[test]
fn handles_in_containers_grant_what_is_used_on_them() {
    let architecture = architecture("containers");
    assert_eq!(
        grants(&architecture, "option-and-result"),
        [
            exact("green", Operation::KvGet),
            exact("red", Operation::KvSet)
        ]
    );
    assert_eq!(
        grants(&architecture, "vec-and-iterators"),
        [
            exact("green", Operation::KvGet),
            exact("green", Operation::KvDelete),
            exact("red", Operation::KvGet),
            exact("red", Operation::KvDelete)
        ]
    );
    assert_eq!(
        grants(&architecture, "arrays-tuples-and-indexes"),
        [
            exact("blue", Operation::KvSet),
            exact("green", Operation::KvGet),
            exact("red", Operation::KvSet)
        ]
    );
    assert_eq!(
        grants(&architecture, "smart-pointers"),
        [
            exact("blue", Operation::KvDelete),
            exact("green", Operation::KvSet),
            exact("red", Operation::KvGet)
        ]
    );
    assert_eq!(
        grants(&architecture, "map-values"),
        [
            exact("blue", Operation::KvGet),
            exact("red", Operation::KvGet)
        ]
    );
}

#[test]
fn spawned_tasks_joins_and_branches() {
    let architecture = architecture("containers");
    assert_eq!(
        grants(&architecture, "tasks"),
        [
            exact("blue", Operation::KvGet),
            exact("green", Operation::KvSet),
            exact("red", Operation::KvGet)
        ]
    );
    assert_eq!(
        grants(&architecture, "branches"),
        [
            exact("blue", Operation::KvDelete),
            exact("green", Operation::KvDelete),
            exact("red", Operation::KvDelete)
        ]
    );
}

#[test]
fn a_function_item_given_to_an_iterator_is_called_with_its_elements() {
    let architecture = architecture("containers");
    assert_eq!(
        grants(&architecture, "function-item-adapters"),
        [
            exact("blue", Operation::KvDelete),
            exact("red", Operation::KvDelete)
        ]
    );
}

#[test]
fn a_handle_passed_to_a_closure_is_granted_conservatively() {
    let architecture = architecture("containers");
    let mut expected = vec![exact("green", Operation::KvGet)];
    expected.extend(conservative("red"));
    expected.sort();
    let mut found = grants(&architecture, "closures");
    found.sort();
    assert_eq!(found, expected);
}

#[test]
fn values_snapshot() {
    insta::assert_snapshot!(grant_table(&architecture("values")));
}

#[test]
fn function_items_statics_derefs_and_loop_values_are_followed() {
    let architecture = architecture("values");
    assert_eq!(
        grants(&architecture, "function-items"),
        [
            exact("first", Operation::KvGet),
            exact("second", Operation::KvSet)
        ]
    );
    assert_eq!(
        grants(&architecture, "statics"),
        [
            exact("second", Operation::KvGet),
            exact("third", Operation::KvDelete)
        ]
    );
    assert_eq!(
        grants(&architecture, "derefs-and-loops"),
        [
            exact("first", Operation::KvDelete),
            exact("second", Operation::KvSet),
            exact("third", Operation::KvGet)
        ]
    );
}

#[test]
fn a_handle_made_from_a_name_is_an_error_at_its_place() {
    let error = deduce(&common::package("tests/fixtures/handle_from_name"))
        .expect_err("a handle from a name cannot be attributed");
    let DeduceError::Invalid(diagnostics) = error else {
        panic!("expected declaration errors, got {error:?}");
    };
    let rendered: Vec<String> = diagnostics
        .iter()
        .map(|diagnostic| format!("{}: {}", diagnostic.location, diagnostic.message))
        .collect();
    assert_eq!(
        rendered,
        [
            "src/main.rs:10:17: `KvStore::__declared` makes a handle from a name, so Pluto cannot tell which resource it is"
        ]
    );
    assert!(
        diagnostics[0]
            .hint
            .as_deref()
            .is_some_and(|hint| hint.contains("#[resource(kind)]"))
    );
}

#[test]
fn an_unused_resource_warning_names_where_it_is_referenced() {
    let deduction = deduce(&common::package("tests/fixtures/imports")).expect("deduces");
    let warning = deduction
        .warnings
        .iter()
        .find(|warning| warning.message.contains("`orphan`"))
        .expect("orphan is reported");
    assert_eq!(
        warning.message,
        "KV store `orphan` is declared but no function uses it"
    );
    assert_eq!(
        warning.hint.as_deref(),
        Some(
            "it is referenced at src/main.rs:78:5, in code no function reaches; it is still created"
        )
    );
}

#[test]
fn the_summary_counts_exact_and_conservative_grants() {
    let summary = architecture("containers").grant_summary();
    assert_eq!(
        summary.to_string(),
        "9 functions, 26 grants: 23 exact, 3 conservative"
    );
}

#[test]
fn a_binary_calling_its_library_of_the_same_name_gets_the_librarys_grants() {
    let architecture = architecture("lib_and_bin");
    assert_eq!(
        grants(&architecture, "from-binary"),
        [
            exact("shared", Operation::KvSet),
            exact("shared", Operation::KvDelete)
        ]
    );
}

/// Fails unless `function` is granted every `(resource, operation label)` of `needed` (exactly
/// or conservatively).
fn assert_grants_include(function: &str, needed: &[(&str, &str)]) {
    let architecture = architecture("regressions");
    let granted: Vec<(String, &str)> = architecture
        .function(function)
        .unwrap_or_else(|| panic!("no function {function}"))
        .grants
        .iter()
        .map(|grant| (grant.resource.name.clone(), grant.operation.label()))
        .collect();
    for (resource, operation) in needed {
        assert!(
            granted
                .iter()
                .any(|(name, label)| name == resource && label == operation),
            "{function} needs {operation} on {resource}; granted: {granted:?}"
        );
    }
}

#[test]
fn regression_mut_vec_argument() {
    assert_grants_include("mut-vec-argument", &[("a", "set")]);
}
#[test]
fn regression_mut_option_argument() {
    assert_grants_include("mut-option-argument", &[("a", "set")]);
}
#[test]
fn regression_push_into_self_field() {
    assert_grants_include("push-into-self-field", &[("a", "delete")]);
}
#[test]
fn regression_get_or_insert_with_fn_item() {
    assert_grants_include("get-or-insert-with-fn-item", &[("a", "set")]);
}
#[test]
fn regression_field_set_after_construction() {
    assert_grants_include(
        "field-set-after-construction",
        &[("a", "delete"), ("b", "get")],
    );
}
#[test]
fn regression_assign_through_method_place() {
    assert_grants_include(
        "assign-through-method-place",
        &[("a", "set"), ("a", "delete")],
    );
}
#[test]
fn regression_mutual_recursion() {
    assert_grants_include("mutual-recursion", &[("a", "get"), ("a", "set")]);
}
#[test]
fn regression_labelled_breaks() {
    assert_grants_include(
        "labelled-breaks",
        &[("a", "set"), ("b", "set"), ("a", "delete")],
    );
}
#[test]
fn regression_return_in_closure_and_async() {
    assert_grants_include(
        "return-in-closure-and-async",
        &[("a", "set"), ("b", "delete")],
    );
}
#[test]
fn regression_function_made_by_module_macro() {
    assert_grants_include("function-made-by-module-macro", &[("a", "set")]);
}
#[test]
fn regression_function_made_by_body_macro() {
    assert_grants_include("function-made-by-body-macro", &[("a", "set")]);
}
#[test]
fn regression_impl_in_body() {
    assert_grants_include("impl-in-body", &[("a", "set")]);
}
#[test]
fn regression_macro_defined_in_body() {
    assert_grants_include("macro-defined-in-body", &[("a", "delete")]);
}
#[test]
fn regression_thread_local_static() {
    assert_grants_include("thread-local-static", &[("a", "set")]);
}
#[test]
fn regression_impl_through_type_alias() {
    assert_grants_include("impl-through-type-alias", &[("a", "set")]);
}
#[test]
fn regression_default_through_trait_path() {
    assert_grants_include("default-through-trait-path", &[("a", "set")]);
}
#[test]
fn regression_from_and_into_to_a_handle() {
    assert_grants_include(
        "from-and-into-to-a-handle",
        &[("a", "set"), ("b", "delete")],
    );
}
#[test]
fn regression_deref_to_a_static_handle() {
    assert_grants_include("deref-to-a-static-handle", &[("a", "set")]);
}
#[test]
fn regression_deref_through_a_method() {
    assert_grants_include("deref-through-a-method", &[("a", "delete")]);
}

#[test]
fn regressions_snapshot() {
    insta::assert_snapshot!(grant_table(&architecture("regressions")));
}

#[test]
fn writes_through_shared_references_and_borrowing_locals_reach_the_container() {
    let architecture = architecture("aliases");
    assert_eq!(
        grants(&architecture, "interior-mutability"),
        [exact("a", Operation::KvSet)]
    );
    assert_eq!(
        grants(&architecture, "write-through-alias"),
        [
            exact("a", Operation::KvGet),
            exact("a", Operation::KvDelete),
            exact("b", Operation::KvGet)
        ]
    );
}
