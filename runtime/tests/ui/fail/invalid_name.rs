#[pluto::resource(kv_store(name = "Chat_History"))]
fn history() -> pluto::KvStore;
fn main() {}
