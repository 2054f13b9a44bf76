#[pluto::resource(bucket)]
fn files() -> pluto::KvStore;
fn main() {}
