fn main() {
    pluto::start();
}
