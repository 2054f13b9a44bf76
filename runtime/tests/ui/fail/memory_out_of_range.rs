#[pluto::resource(function(memory_mb = 64))]
async fn f() {}
fn main() {}
