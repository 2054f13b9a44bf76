#[pluto::resource(kv_store)]
fn history(user: String) -> pluto::KvStore;
fn main() {}
