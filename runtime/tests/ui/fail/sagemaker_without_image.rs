#[pluto::resource(sagemaker(instance_type = "ml.m5.xlarge"))]
fn llama() -> pluto::SageMaker;
fn main() {}
