//! Link the brig binary as a position-dependent executable (as Debian's runc
//! is). A PIE of this size carries ~17,000 relative relocations that ld.so
//! applies at every start, dirtying ~80 pages of RELRO data: about half a
//! millisecond of each `brig run` on this machine (docs/benchmarks.md, issue
//! 19). Heap, stack and libraries stay randomized. A static build (the VM
//! tests' `crt-static`, for guests without a libc) is left as rustc makes it:
//! `-no-pie` would turn its `-static-pie` into a dynamic link.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if !features.split(',').any(|f| f == "crt-static") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
