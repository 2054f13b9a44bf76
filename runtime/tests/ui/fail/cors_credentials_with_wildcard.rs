#[pluto::resource(function(url = "public", cors(allow_origins = ["*"], allow_credentials = true)))]
async fn f() {}
fn main() {}
