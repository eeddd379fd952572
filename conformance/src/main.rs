fn main() -> std::process::ExitCode {
    brig_conformance::cli::main()
}
