//! A chatbot and a question-answering function over a short document, both served by TinyLlama
//! on a SageMaker endpoint (Hugging Face TGI container) and exposed as public Function URLs.
//! Both stream: the first words reach the client while the model is still generating
//! (`curl -N`, or `Accept: text/event-stream` for server-sent events).
//!
//! The app logic lives in `answers.rs` and works with any `pluto::chain::Llm`; this file only
//! declares the infrastructure and wires it up.

mod answers;

use pluto::chain::SageMakerLlm;
use pluto::{SageMaker, TextStream, resource};

// --- infrastructure -------------------------------------------------------------------------
#[resource(sagemaker(
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04",
    instance_type = "ml.m5.xlarge",
    env(
        HF_MODEL_ID = "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        HF_TASK = "text-generation"
    ),
))]
fn llama() -> SageMaker;

#[resource(function(name = "chatbot", url = "public", timeout_s = 120, memory_mb = 512))]
async fn chat(query: String) -> pluto::Result<TextStream> {
    Ok(answers::chat(model(), &query).await?.into())
}

#[resource(function(name = "qa", url = "public", timeout_s = 120, memory_mb = 512))]
async fn qa(question: String) -> pluto::Result<TextStream> {
    Ok(answers::answer_from_document(model(), &question)
        .await?
        .into())
}

fn main() {
    pluto::start();
}
// ---------------------------------------------------------------------------------------------

fn model() -> SageMakerLlm {
    SageMakerLlm::new(llama())
}
