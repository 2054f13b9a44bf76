#[pluto::resource]
fn files() -> pluto::KvStore;
fn main() {}
