#[pluto::resource(function(url = "public", cors(allow_origins = ["*"], allow_origin = ["*"])))]
async fn f() {}
fn main() {}
