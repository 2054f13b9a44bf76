#[pluto::resource(function)]
async fn chat() -> impl serde::Serialize {
    1
}
fn main() {}
