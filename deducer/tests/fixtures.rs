//! The deducer over fixture crates (`tests/fixtures/*`, read and never built): every access
//! pattern it follows, and every declaration error it reports.

mod common;

use common::grants;
use pluto_deducer::architecture::ResponseMode;
use pluto_deducer::diagnostics::DeduceError;
use pluto_deducer::source::PackageSelector;
use pluto_deducer::{Operation, deduce};

fn fixture(name: &str) -> PackageSelector {
    common::package(&format!("tests/fixtures/{name}"))
}

fn grant(resource: &str, operation: Operation) -> (String, Operation, bool) {
    (resource.to_owned(), operation, false)
}

#[test]
fn patterns_snapshot() {
    let deduction = deduce(&fixture("patterns")).expect("the fixture deduces");
    insta::assert_json_snapshot!(deduction.architecture);
    insta::assert_json_snapshot!("patterns_warnings", deduction.warnings);
}

#[test]
fn let_bindings_helper_chains_and_handle_arguments() {
    let architecture = deduce(&fixture("patterns")).expect("deduces").architecture;
    assert_eq!(
        grants(&architecture, "chat"),
        [
            grant("model", Operation::SagemakerInvoke),
            grant("sessions", Operation::KvGet),
            grant("sessions", Operation::KvSet)
        ]
    );
    let chat = architecture.function("chat").expect("chat");
    let invoke = chat
        .grants
        .iter()
        .find(|g| g.operation == Operation::SagemakerInvoke)
        .expect("invoke");
    assert_eq!(
        invoke.provenance[0].to_string(),
        "chat (src/main.rs:25:10) -> llm::answer (src/main.rs:28:18) -> super::llm::call (src/llm/mod.rs:11:5) -> \
         model().invoke (src/llm/mod.rs:15:25)"
    );
}

#[test]
fn cors_settings_are_carried_into_the_architecture() {
    let architecture = deduce(&fixture("patterns")).expect("deduces").architecture;
    let chat = architecture.function("chat").expect("chat");
    let cors = chat.spec.cors.as_ref().expect("chat declares cors(...)");
    assert_eq!(cors.allow_origins, ["https://chat.example.com"]);
    assert_eq!(cors.allow_methods, ["POST"], "methods are upper-cased");
    assert_eq!(cors.allow_headers, ["content-type"]);
    assert_eq!(cors.max_age_s, Some(600));
    assert!(!cors.allow_credentials);
    let summarize = architecture.function("summarize").expect("summarize");
    assert_eq!(summarize.spec.cors, None);
}

#[test]
fn a_shared_helper_grants_only_what_it_needs() {
    let architecture = deduce(&fixture("patterns")).expect("deduces").architecture;
    assert_eq!(
        grants(&architecture, "summarize"),
        [grant("model", Operation::SagemakerInvoke)]
    );
}

#[test]
fn struct_fields_methods_closures_nested_functions_and_macros() {
    let architecture = deduce(&fixture("patterns")).expect("deduces").architecture;
    assert_eq!(
        grants(&architecture, "admin"),
        [
            grant("audit-log", Operation::KvDelete),
            grant("cache", Operation::KvSet),
            grant("sessions", Operation::KvGet),
            grant("sessions", Operation::KvDelete),
        ]
    );
}

#[test]
fn an_escaping_handle_gets_every_operation_of_that_resource_only() {
    let architecture = deduce(&fixture("patterns")).expect("deduces").architecture;
    assert_eq!(
        grants(&architecture, "exporter"),
        [
            ("sessions".to_owned(), Operation::KvGet, true),
            ("sessions".to_owned(), Operation::KvSet, true),
            ("sessions".to_owned(), Operation::KvDelete, true),
        ]
    );
    let exporter = architecture.function("exporter").expect("exporter");
    let escape = exporter.grants[0].escaped.as_ref().expect("conservative");
    assert_eq!(escape.into, "a call to `backup_crate::backup`");
    assert_eq!(escape.location.to_string(), "src/main.rs:59:5");
}

#[test]
fn function_handles_grant_invoke_on_the_target() {
    let architecture = deduce(&fixture("patterns")).expect("deduces").architecture;
    assert_eq!(
        grants(&architecture, "caller"),
        [grant("summarize", Operation::FunctionInvoke)]
    );
}

#[test]
fn urls_read_are_recorded_including_a_function_linking_to_itself() {
    let architecture = deduce(&fixture("patterns")).expect("deduces").architecture;
    assert_eq!(
        grants(&architecture, "links"),
        [
            grant("chat", Operation::FunctionUrl),
            grant("links", Operation::FunctionUrl)
        ]
    );
}

#[test]
fn unused_resources_and_urls_that_do_not_exist_are_warned_about() {
    let deduction = deduce(&fixture("patterns")).expect("deduces");
    let messages: Vec<&str> = deduction
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "KV store `unused-table` is declared but no function uses it",
            "function `hidden` reads the URL of function `hidden`, which has none (url = \"none\")"
        ]
    );
}

#[test]
fn declaration_errors_are_reported_together_with_places_and_hints() {
    let Err(DeduceError::Invalid(diagnostics)) = deduce(&fixture("broken")) else {
        panic!("the broken fixture must not deduce");
    };
    insta::assert_json_snapshot!(diagnostics);
    let rendered: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    let all = rendered.join("\n");
    for expected in [
        "cannot find the file of module `missing`",
        "the name `dup` is already used",
        "resource name `Bad_Name`",
        "use e.g. `String` instead of `&str`",
        "`inner` is declared inside a function body",
        "no Function URL for CORS settings to apply to",
    ] {
        assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
    }
}

#[test]
fn same_named_fields_of_different_structs_keep_their_own_handles() {
    let architecture = deduce(&fixture("fields")).expect("deduces").architecture;
    assert_eq!(
        grants(&architecture, "user"),
        [grant("users", Operation::KvGet)]
    );
    assert_eq!(
        grants(&architecture, "order"),
        [
            grant("orders", Operation::KvGet),
            grant("orders", Operation::KvDelete)
        ]
    );
}

#[test]
fn trait_objects_select_vec_and_if_let() {
    let deduction = deduce(&fixture("macros")).expect("deduces");
    let architecture = &deduction.architecture;
    assert_eq!(
        grants(architecture, "through-trait"),
        [grant("primary", Operation::KvGet)]
    );
    assert_eq!(
        grants(architecture, "race"),
        [grant("replica", Operation::KvGet)]
    );
    // `vec![primary(), replica()].len()` performs nothing on either store.
    assert_eq!(grants(architecture, "fan-out"), []);
    assert_eq!(
        grants(architecture, "ask"),
        [grant("model", Operation::SagemakerInvoke)]
    );
}

#[test]
fn streaming_snapshot() {
    let deduction = deduce(&fixture("streaming")).expect("the fixture deduces");
    insta::assert_json_snapshot!(deduction.architecture);
}

#[test]
fn handlers_returning_a_text_stream_record_the_stream_response_mode() {
    let architecture = deduce(&fixture("streaming")).expect("deduces").architecture;
    let mode = |name: &str| architecture.function(name).expect(name).response;
    assert_eq!(mode("chat-stream"), ResponseMode::Stream);
    assert_eq!(mode("echo-stream"), ResponseMode::Stream);
    assert_eq!(mode("chat"), ResponseMode::Buffered);
}

#[test]
fn a_streaming_invoke_grants_the_invoke_of_its_endpoint_with_its_place() {
    let architecture = deduce(&fixture("streaming")).expect("deduces").architecture;
    assert_eq!(
        grants(&architecture, "chat-stream"),
        [grant("llama", Operation::SagemakerInvoke)]
    );
    let chat_stream = architecture.function("chat-stream").expect("chat-stream");
    assert_eq!(
        chat_stream.grants[0].provenance[0].to_string(),
        "chat-stream (src/main.rs:11:10) -> llama().invoke_stream (src/main.rs:13:26)"
    );
    assert_eq!(grants(&architecture, "echo-stream"), []);
}

#[test]
fn buckets_and_secrets_snapshot() {
    let deduction = deduce(&fixture("buckets_secrets")).expect("the fixture deduces");
    insta::assert_json_snapshot!(deduction.architecture);
}

#[test]
fn each_bucket_and_secret_method_grants_exactly_its_operation() {
    let architecture = deduce(&fixture("buckets_secrets"))
        .expect("deduces")
        .architecture;
    assert_eq!(
        grants(&architecture, "reader"),
        [
            grant("docs", Operation::BucketGet),
            grant("docs", Operation::BucketList)
        ]
    );
    assert_eq!(
        grants(&architecture, "writer"),
        [
            grant("docs", Operation::BucketPut),
            grant("docs", Operation::BucketDelete)
        ]
    );
    assert_eq!(
        grants(&architecture, "sign-upload"),
        [grant("uploads", Operation::BucketPut)]
    );
    assert_eq!(
        grants(&architecture, "token-user"),
        [grant("hf-token", Operation::SecretGet)]
    );
    let escaped: Vec<(String, Operation, bool)> = [
        Operation::BucketGet,
        Operation::BucketPut,
        Operation::BucketDelete,
        Operation::BucketList,
    ]
    .into_iter()
    .map(|operation| ("uploads".to_owned(), operation, true))
    .collect();
    assert_eq!(grants(&architecture, "escaper"), escaped);
    let writer = architecture.function("writer").expect("writer");
    assert_eq!(
        writer.grants[0].provenance[0].to_string(),
        "writer (src/main.rs:28:10) -> store (src/main.rs:29:5) -> bucket.put (src/main.rs:35:12)"
    );
}
