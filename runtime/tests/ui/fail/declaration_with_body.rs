#[pluto::resource(kv_store)]
fn history() -> pluto::KvStore {
    todo!()
}
fn main() {}
