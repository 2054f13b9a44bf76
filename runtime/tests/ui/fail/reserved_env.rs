#[pluto::resource(function(env(AWS_REGION = "eu-west-1")))]
async fn f() {}
fn main() {}
