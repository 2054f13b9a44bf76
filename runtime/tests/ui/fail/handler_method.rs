struct Bot;
impl Bot {
    #[pluto::resource(function)]
    async fn chat(&self, query: String) -> String {
        query
    }
}
fn main() {}
