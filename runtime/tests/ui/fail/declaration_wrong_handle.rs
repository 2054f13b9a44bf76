#[pluto::resource(kv_store)]
fn history() -> pluto::SageMaker;
fn main() {}
