#[pluto::resource(kv_store)]
struct History;
fn main() {}
