struct Query {
    text: String,
}

#[pluto::resource(function)]
async fn chat(query: Query) -> String {
    query.text
}
fn main() {}
