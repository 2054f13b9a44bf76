#[pluto::resource(function)]
async fn chat<T: serde::de::DeserializeOwned>(query: T) {}
fn main() {}
