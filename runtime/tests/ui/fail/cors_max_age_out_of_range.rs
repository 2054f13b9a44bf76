#[pluto::resource(function(url = "public", cors(allow_origins = ["*"], max_age_s = 90000)))]
async fn f() {}
fn main() {}
