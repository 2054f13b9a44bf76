//! A Pluto app used by the integration tests: handlers for every dispatch path, and handlers
//! that use each resource client. It is an ordinary Pluto app: `fn main() { pluto::start() }`.

mod handlers;

fn main() {
    pluto::start();
}
