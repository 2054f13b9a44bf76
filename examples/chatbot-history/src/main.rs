//! A conversational chatbot: each session's history is kept in a KV store (DynamoDB), so the
//! model sees the conversation so far. TinyLlama on SageMaker answers, streamed token by token;
//! the whole reply joins the history once the stream has ended.

mod conversation;

use conversation::Turn;
use pluto::chain::SageMakerLlm;
use pluto::{KvStore, SageMaker, TextStream, resource};

// --- infrastructure -------------------------------------------------------------------------
#[resource(sagemaker(
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04",
    env(
        HF_MODEL_ID = "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        HF_TASK = "text-generation"
    ),
))]
fn llama() -> SageMaker;

#[resource(kv_store(name = "chat-history"))]
fn history() -> KvStore;

#[resource(function(name = "chat", url = "public", timeout_s = 120, memory_mb = 512))]
async fn chat(session_id: String, message: String) -> pluto::Result<TextStream> {
    let turns: Vec<Turn> = history().get_json(&session_id).await?.unwrap_or_default();
    let reply = conversation::reply(SageMakerLlm::new(llama()), &turns, &message).await?;
    Ok(conversation::remember_when_done(
        reply,
        |answer| async move {
            let turns = conversation::record(turns, message, answer);
            history().set_json(&session_id, &turns).await
        },
    ))
}

#[resource(function(name = "forget", url = "public"))]
async fn forget(session_id: String) -> pluto::Result<()> {
    Ok(history().delete(&session_id).await?)
}

fn main() {
    pluto::start();
}
// ---------------------------------------------------------------------------------------------
