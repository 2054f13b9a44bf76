// The declarations of the chat example, as a user writes them.
use pluto::{KvStore, SageMaker, resource};

#[resource(sagemaker(
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04",
    instance_type = "ml.m5.xlarge",
    env(HF_MODEL_ID = "TinyLlama/TinyLlama-1.1B-Chat-v1.0", HF_TASK = "text-generation"),
))]
fn llama() -> SageMaker;

#[resource(kv_store)]
fn conversations() -> KvStore;

#[resource(function(name = "chatbot", url = "public", timeout_s = 120, memory_mb = 512))]
async fn chat(query: String) -> pluto::Result<String> {
    let _ = (llama(), conversations());
    Ok(query)
}

fn main() {
    assert_eq!(llama().name(), "llama");
    assert_eq!(conversations().name(), "conversations");
    let chatbot = pluto::handler::find("chatbot").expect("chatbot is registered");
    assert!(chatbot.rust_path.ends_with("::chat"), "{}", chatbot.rust_path);
    assert_eq!(chatbot.params[0].name, "query");
    assert_eq!(pluto::function!(chat).name(), "chatbot");
}
