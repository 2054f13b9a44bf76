use pluto::{Bucket, Secret, resource};
use std::time::Duration;

#[resource(bucket(name = "docs", versioning = true))]
fn docs() -> Bucket;

#[resource(secret)]
fn hf_token() -> Secret;

#[resource(function)]
async fn use_both(key: String) -> pluto::Result<(Option<String>, usize, String)> {
    let text = docs().get_text(&key).await?;
    let token = hf_token().get().await?;
    let url = docs().presign_get(&key, Duration::from_secs(60)).await?;
    Ok((text, token.len(), url))
}

fn main() {
    assert_eq!(docs().name(), "docs");
    assert_eq!(hf_token().name(), "hf-token");
}
