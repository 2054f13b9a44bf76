#[pluto::resource(function)]
async fn add((a, b): (i32, i32)) -> i32 {
    a + b
}
fn main() {}
