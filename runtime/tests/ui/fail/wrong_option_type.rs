#[pluto::resource(function(timeout_s = "30"))]
async fn f() {}
fn main() {}
