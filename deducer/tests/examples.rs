//! The example apps deduce to exactly the grants they need.

use pluto_deducer::source::PackageSelector;
use pluto_deducer::{Operation, deduce};
use std::path::PathBuf;

fn example(name: &str) -> PackageSelector {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .join("Cargo.toml");
    PackageSelector {
        manifest_path: Some(manifest),
        package: None,
    }
}

fn grants(
    architecture: &pluto_deducer::Architecture,
    function: &str,
) -> Vec<(String, Operation, bool)> {
    architecture
        .function(function)
        .unwrap_or_else(|| panic!("no function {function}"))
        .grants
        .iter()
        .map(|grant| {
            (
                grant.resource.name.clone(),
                grant.operation,
                grant.escaped.is_some(),
            )
        })
        .collect()
}

#[test]
fn langchain_llama() {
    let deduction = deduce(&example("langchain-llama")).expect("the example deduces");
    insta::assert_json_snapshot!(deduction.architecture);
    let architecture = &deduction.architecture;
    assert_eq!(
        grants(architecture, "chatbot"),
        [("llama".to_owned(), Operation::SagemakerInvoke, true)]
    );
    assert_eq!(
        grants(architecture, "qa"),
        [("llama".to_owned(), Operation::SagemakerInvoke, true)]
    );
    assert!(deduction.warnings.is_empty(), "{:?}", deduction.warnings);
}

#[test]
fn chatbot_history() {
    let deduction = deduce(&example("chatbot-history")).expect("the example deduces");
    insta::assert_json_snapshot!(deduction.architecture);
    let architecture = &deduction.architecture;
    assert_eq!(
        grants(architecture, "chat"),
        [
            ("llama".to_owned(), Operation::SagemakerInvoke, true),
            ("chat-history".to_owned(), Operation::KvGet, false),
            ("chat-history".to_owned(), Operation::KvSet, false),
        ]
    );
    assert_eq!(
        grants(architecture, "forget"),
        [("chat-history".to_owned(), Operation::KvDelete, false)]
    );
}
