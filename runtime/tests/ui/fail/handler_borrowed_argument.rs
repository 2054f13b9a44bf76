#[pluto::resource(function)]
async fn chat(query: &str) -> String {
    query.to_owned()
}
fn main() {}
