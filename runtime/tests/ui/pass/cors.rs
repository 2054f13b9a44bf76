// CORS settings on Function URLs: the full set, the least one can write, and an IAM URL.
use pluto::resource;

#[resource(function(
    name = "chatbot",
    url = "public",
    cors(
        allow_origins = ["https://example.com", "http://localhost:3000"],
        allow_methods = ["GET", "post"],
        allow_headers = ["content-type"],
        expose_headers = ["x-request-id"],
        max_age_s = 300,
        allow_credentials = true,
    ),
))]
async fn chat(query: String) -> pluto::Result<String> {
    Ok(query)
}

#[resource(function(url = "public", cors(allow_origins = ["*"])))]
async fn anyone() -> u32 {
    42
}

#[resource(function(cors(allow_origins = ["https://admin.example.com"], allow_methods = ["*"])))]
fn signed_only() {}

fn main() {
    let _ = pluto::function!(chat);
    let _ = pluto::function!(anyone);
    let _ = pluto::function!(signed_only);
}
