use pluto::{SageMaker, resource};

#[resource(sagemaker(
    name = "small-model",
    image = "763104351884.dkr.ecr.us-west-2.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1",
    serverless(memory_mb = 6144, max_concurrency = 2),
    env(HF_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct", HUGGING_FACE_HUB_TOKEN = from_env("HF_TOKEN")),
))]
pub fn small() -> pluto::SageMaker;

#[resource(kv_store(name = "sessions"))]
fn session_store() -> pluto::KvStore;

fn main() {
    let endpoint: SageMaker = small();
    assert_eq!(endpoint.name(), "small-model");
    assert_eq!(session_store().name(), "sessions");
}
