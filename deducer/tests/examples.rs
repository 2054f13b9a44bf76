//! The example apps deduce to exactly the grants they need.

mod common;

use common::grants;
use pluto_deducer::source::PackageSelector;
use pluto_deducer::{Operation, deduce};

fn example(name: &str) -> PackageSelector {
    common::package(&format!("../examples/{name}"))
}

#[test]
fn langchain_llama() {
    let deduction = deduce(&example("langchain-llama")).expect("the example deduces");
    insta::assert_json_snapshot!(deduction.architecture);
    let architecture = &deduction.architecture;
    assert_eq!(
        grants(architecture, "chatbot"),
        [("llama".to_owned(), Operation::SagemakerInvoke, false)]
    );
    assert_eq!(
        grants(architecture, "qa"),
        [("llama".to_owned(), Operation::SagemakerInvoke, false)]
    );
    assert!(deduction.warnings.is_empty(), "{:?}", deduction.warnings);
    // The runtime's SageMakerLlm is known to invoke the endpoint it is given: a precise grant.
    let chatbot = architecture.function("chatbot").expect("chatbot");
    assert_eq!(
        chatbot.grants[0].provenance[0].to_string(),
        "chatbot (src/main.rs:26:10) -> model (src/main.rs:27:22) -> SageMakerLlm::new(llama) (src/main.rs:43:5)"
    );
    // Both functions stream.
    assert!(
        architecture
            .functions
            .iter()
            .all(|function| function.response == pluto_deducer::ResponseMode::Stream)
    );
}

#[test]
fn chatbot_history() {
    let deduction = deduce(&example("chatbot-history")).expect("the example deduces");
    insta::assert_json_snapshot!(deduction.architecture);
    let architecture = &deduction.architecture;
    assert_eq!(
        grants(architecture, "chat"),
        [
            ("llama".to_owned(), Operation::SagemakerInvoke, false),
            ("chat-history".to_owned(), Operation::KvGet, false),
            ("chat-history".to_owned(), Operation::KvSet, false),
        ]
    );
    assert_eq!(
        grants(architecture, "forget"),
        [("chat-history".to_owned(), Operation::KvDelete, false)]
    );
}
