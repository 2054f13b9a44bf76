#[pluto::resource(function(env(PLUTO_HANDLER = "other")))]
async fn f() {}
fn main() {}
