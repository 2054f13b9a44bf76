#[pluto::resource(kv_store(name = "history"))]
fn history() -> pluto::KvStore;

#[pluto::resource(kv_store(name = "history"))]
fn old_history() -> pluto::KvStore;

fn main() {}
