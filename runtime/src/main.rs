fn main() {
    std::process::exit(brig::cli::main());
}
