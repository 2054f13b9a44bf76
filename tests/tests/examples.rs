//! The example apps, run as Lambda function processes against moto: the chatbot and QA functions
//! of `langchain-llama` and the KV-backed history of `chatbot-history`.

use aws_sdk_dynamodb::types::AttributeValue;
use pluto_tests::app::{FunctionUnderTest, OutcomeExt, build_workspace_binary};
use pluto_tests::events::{UrlEvent, response_parts};
use pluto_tests::moto::moto;
use serde_json::{Value, json};

async fn url_call(
    package: &str,
    handler: &str,
    env: &[(String, String)],
    body: Value,
) -> (u16, Value) {
    let binary = build_workspace_binary(package);
    let api = FunctionUnderTest::start(&binary, handler, env);
    let response = api
        .invoke(UrlEvent::post_json(&body).build())
        .await
        .response();
    response_parts(&response)
}

#[tokio::test]
async fn langchain_llama_chatbot_answers_with_the_models_reply() {
    let _queue = moto()
        .queue_sagemaker_results(&[(
            r#"[{"generated_text": " Paris is the capital of France."}]"#,
            "application/json",
        )])
        .await;
    let env = moto().env_with(&[("PLUTO_SAGEMAKER_LLAMA", "llama-endpoint-chat")]);
    let answer = url_call(
        "langchain-llama",
        "chatbot",
        &env,
        json!(["What is the capital of France?"]),
    )
    .await;
    assert_eq!(answer, (200, json!("Paris is the capital of France.")));
}

#[tokio::test]
async fn langchain_llama_qa_answers_from_the_document() {
    let _queue = moto()
        .queue_sagemaker_results(&[(
            r#"[{"generated_text": " It is closed on Sundays.</s>"}]"#,
            "application/json",
        )])
        .await;
    let env = moto().env_with(&[("PLUTO_SAGEMAKER_LLAMA", "llama-endpoint-qa")]);
    let answer = url_call(
        "langchain-llama",
        "qa",
        &env,
        json!({"question": "Is Aurora Bakery open on Sundays?"}),
    )
    .await;
    assert_eq!(answer, (200, json!("It is closed on Sundays.")));
}

#[tokio::test]
async fn langchain_llama_reports_a_missing_endpoint_grant() {
    let answer = url_call(
        "langchain-llama",
        "qa",
        &moto().env_with(&[]),
        json!(["Hello?"]),
    )
    .await;
    assert_eq!(answer.0, 500);
    let message = answer.1["error"].as_str().expect("an error");
    assert!(
        message.contains("function `qa` uses SageMaker endpoint `llama`"),
        "{message}"
    );
}

#[tokio::test]
async fn chatbot_history_keeps_each_session_in_the_kv_store() {
    let table = "examples-chat-history";
    let dynamodb = moto().create_kv_table(table).await;
    let env = moto().env_with(&[
        ("PLUTO_SAGEMAKER_LLAMA", "llama-endpoint-history"),
        ("PLUTO_KV_STORE_CHAT_HISTORY", table),
    ]);

    let _queue = moto()
        .queue_sagemaker_results(&[
            (
                r#"[{"generated_text": " Nice to meet you, Ada!"}]"#,
                "application/json",
            ),
            (
                r#"[{"generated_text": " Your name is Ada."}]"#,
                "application/json",
            ),
        ])
        .await;
    let first = url_call(
        "chatbot-history",
        "chat",
        &env,
        json!({"session_id": "s1", "message": "My name is Ada."}),
    )
    .await;
    assert_eq!(
        first,
        (200, json!({"answer": "Nice to meet you, Ada!", "turns": 1}))
    );
    let second = url_call(
        "chatbot-history",
        "chat",
        &env,
        json!(["s1", "What is my name?"]),
    )
    .await;
    assert_eq!(
        second,
        (200, json!({"answer": "Your name is Ada.", "turns": 2}))
    );

    let stored = dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("s1".into()))
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the session is stored");
    let AttributeValue::S(text) = &stored["value"] else {
        panic!("a string value")
    };
    let turns: Value = serde_json::from_str(text).expect("JSON history");
    assert_eq!(
        turns,
        json!([
            {"user": "My name is Ada.", "assistant": "Nice to meet you, Ada!"},
            {"user": "What is my name?", "assistant": "Your name is Ada."}
        ])
    );

    assert_eq!(
        url_call("chatbot-history", "forget", &env, json!(["s1"])).await,
        (200, Value::Null)
    );
    let gone = dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("s1".into()))
        .send()
        .await
        .expect("GetItem");
    assert!(gone.item.is_none(), "forget deletes the session");
}
