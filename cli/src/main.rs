fn main() {
    std::process::exit(brig::main());
}
