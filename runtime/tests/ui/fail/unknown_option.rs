#[pluto::resource(kv_store(nmae = "sessions"))]
fn sessions() -> pluto::KvStore;
fn main() {}
