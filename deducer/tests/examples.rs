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
    // The QA reads the bucket's documents (list, then get each), `ingest` writes them: exactly
    // the S3 actions each uses.
    assert_eq!(
        grants(architecture, "qa"),
        [
            ("llama".to_owned(), Operation::SagemakerInvoke, false),
            ("docs".to_owned(), Operation::BucketGet, false),
            ("docs".to_owned(), Operation::BucketList, false)
        ]
    );
    assert_eq!(
        grants(architecture, "ingest"),
        [("docs".to_owned(), Operation::BucketPut, false)]
    );
    assert!(deduction.warnings.is_empty(), "{:?}", deduction.warnings);
    // The runtime's SageMakerLlm is known to invoke the endpoint it is given: a precise grant.
    let chatbot = architecture.function("chatbot").expect("chatbot");
    assert_eq!(
        chatbot.grants[0].provenance[0].to_string(),
        "chatbot (src/main.rs:31:10) -> model (src/main.rs:32:22) -> SageMakerLlm::new(llama) (src/main.rs:56:5)"
    );
    // The chatbot and the QA stream; `ingest` answers at once.
    for function in &architecture.functions {
        let streams = function.spec.name != "ingest";
        assert_eq!(
            function.response == pluto_deducer::ResponseMode::Stream,
            streams,
            "{}",
            function.spec.name
        );
    }
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
