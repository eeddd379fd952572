//! Link the brig binary as a position-dependent executable (as Debian's runc
//! is). A PIE of this size carries ~17,000 relative relocations that ld.so
//! applies at every start, dirtying ~80 pages of RELRO data: about a
//! millisecond of each `brig run` on this machine (docs/benchmarks.md, "where
//! the time goes"). Heap, stack and libraries stay randomized.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
