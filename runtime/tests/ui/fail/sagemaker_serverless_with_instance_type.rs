#[pluto::resource(sagemaker(
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tgi:1",
    serverless(memory_mb = 2048),
    instance_type = "ml.m5.xlarge",
))]
fn llama() -> pluto::SageMaker;
fn main() {}
