#[pluto::resource(function(url = "open"))]
async fn f() {}
fn main() {}
