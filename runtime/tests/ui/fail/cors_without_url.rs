#[pluto::resource(function(url = "none", cors(allow_origins = ["https://example.com"])))]
async fn f() {}
fn main() {}
