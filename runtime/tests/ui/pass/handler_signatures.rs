// Every handler shape the runtime serves.
use pluto::resource;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Order {
    id: u64,
    items: Vec<String>,
}

#[resource(function)]
fn sync_no_args() {}

#[resource(function(url = "none"))]
pub(crate) async fn custom_types(order: Order, mut note: Option<String>) -> Order {
    note.take();
    order
}

#[resource(function(name = "raw-ident"))]
async fn r#type(r#in: String) -> Result<String, std::io::Error> {
    Ok(r#in)
}

#[resource(function)]
async fn static_str() -> &'static str {
    "ok"
}

mod nested {
    use pluto::resource;

    #[resource(function(env(GREETING = "hi", API_KEY = from_env("API_KEY"))))]
    pub async fn inner_handler(n: i32) -> pluto::Result<i32> {
        Ok(n)
    }
}

fn main() {
    let mut names: Vec<&str> = pluto::handler::registered().map(|f| f.name).collect();
    names.sort();
    assert_eq!(names, ["custom-types", "inner-handler", "raw-ident", "static-str", "sync-no-args"]);
    assert_eq!(pluto::function!(nested::inner_handler).name(), "inner-handler");
    assert_eq!(pluto::function!(r#type).name(), "raw-ident");
    let raw = pluto::handler::find("raw-ident").expect("registered");
    assert_eq!(raw.params[0].name, "in");
}
