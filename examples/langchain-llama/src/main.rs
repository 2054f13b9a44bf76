//! A chatbot and a question-answering function over the documents in a bucket, both served by
//! TinyLlama on a SageMaker endpoint (Hugging Face TGI container) and exposed as public Function
//! URLs. Both stream: the first words reach the client while the model is still generating
//! (`curl -N`, or `Accept: text/event-stream` for server-sent events). `ingest` (signed requests
//! only) stores documents in the bucket; `qa` answers from them and cites their names.
//!
//! The app logic lives in `answers.rs` and works with any `pluto::chain::Llm`; the bucket's
//! reading and writing in `library.rs`; this file only declares the infrastructure and wires it up.

mod answers;
mod library;

use pluto::chain::SageMakerLlm;
use pluto::{Bucket, SageMaker, TextStream, resource};

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

#[resource(bucket(name = "docs"))]
fn docs() -> Bucket;

#[resource(function(name = "chatbot", url = "public", timeout_s = 120, memory_mb = 512))]
async fn chat(query: String) -> pluto::Result<TextStream> {
    Ok(answers::chat(model(), &query).await?.into())
}

#[resource(function(name = "qa", url = "public", timeout_s = 120, memory_mb = 512))]
async fn qa(question: String) -> pluto::Result<TextStream> {
    let documents = library::load(docs()).await?;
    Ok(
        answers::answer_from_documents(model(), documents, &question)
            .await?
            .into(),
    )
}

#[resource(function(name = "ingest", timeout_s = 60))]
async fn ingest(documents: Vec<library::NewDocument>) -> pluto::Result<Vec<String>> {
    Ok(library::store(docs(), documents).await?)
}

fn main() {
    pluto::start();
}
// ---------------------------------------------------------------------------------------------

fn model() -> SageMakerLlm {
    SageMakerLlm::new(llama())
}
