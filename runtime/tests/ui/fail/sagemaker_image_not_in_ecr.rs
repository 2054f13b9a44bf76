#[pluto::resource(sagemaker(image = "ghcr.io/huggingface/text-generation-inference:1.4"))]
fn llama() -> pluto::SageMaker;
fn main() {}
