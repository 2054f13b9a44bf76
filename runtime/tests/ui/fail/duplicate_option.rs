#[pluto::resource(function(timeout_s = 10, timeout_s = 20))]
async fn f() {}
fn main() {}
