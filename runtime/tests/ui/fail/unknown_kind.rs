#[pluto::resource(queue)]
fn jobs() -> pluto::KvStore;
fn main() {}
