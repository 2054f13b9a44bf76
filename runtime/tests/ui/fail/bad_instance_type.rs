#[pluto::resource(sagemaker(image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tgi:1", instance_type = "m5.xlarge"))]
fn llama() -> pluto::SageMaker;
fn main() {}
