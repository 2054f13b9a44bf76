#[pluto::resource(function(url = "public", cors(allow_origins = ["https://example.com/app/"])))]
async fn f() {}
fn main() {}
