#[pluto::resource(function(timeout_s = 901))]
async fn f() {}
fn main() {}
