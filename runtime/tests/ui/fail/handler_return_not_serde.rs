struct Answer;

#[pluto::resource(function)]
async fn chat(query: String) -> Answer {
    let _ = query;
    Answer
}
fn main() {}
