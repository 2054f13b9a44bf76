#[pluto::resource(function(url = "public", cors(allow_origins = ["*"], allow_methods = ["get", "options"])))]
async fn f() {}
fn main() {}
