// Streaming handlers: `TextStream`, spelled by that name, plain or in a `Result`.
use pluto::{TextStream, resource};

#[resource(function)]
async fn plain(n: u32) -> TextStream {
    TextStream::new(futures_util::stream::iter(
        (0..n).map(|index| Ok::<_, pluto::Error>(index.to_string())),
    ))
}

#[resource(function(name = "in-result"))]
async fn in_result(text: String) -> pluto::Result<TextStream> {
    if text.is_empty() {
        Err(pluto::HttpError::new(400, "no text"))?
    }
    Ok(TextStream::once(text))
}

#[resource(function(name = "qualified"))]
fn qualified() -> Result<pluto::TextStream, std::io::Error> {
    Ok(pluto::TextStream::empty())
}

#[resource(function(name = "buffered"))]
async fn buffered() -> String {
    String::new()
}

fn main() {
    let streams = |name: &str| {
        pluto::handler::find(name)
            .map(|function| function.streams)
            .expect("registered")
    };
    assert!(streams("plain"));
    assert!(streams("in-result"));
    assert!(streams("qualified"));
    assert!(!streams("buffered"));
}
