//! How the brig binary is linked, for its start time (docs/benchmarks.md,
//! issue 19). Every container costs one or two brig processes, so what the
//! loader does before main is paid per container.
//!
//! 1. Position-dependent (`-no-pie`, as Debian builds runc). A PIE of this size
//!    carries ~17,000 relative relocations that ld.so applies at every start,
//!    dirtying ~80 pages of RELRO data: about half a millisecond of each `brig
//!    run` here. Heap, stack and libraries stay randomized.
//! 2. The unwinder from libgcc_eh.a, not libgcc_s.so (what `gcc -static-libgcc`
//!    does for C). Loading libgcc_s costs a mapping, its symbol lookups and its
//!    constructor, `__cpu_indicator_init`, whose CPUID instructions each trap to
//!    the hypervisor in a VM (~6 µs each on this machine): ~0.15 ms per start.
//!    Listed before std's `-lgcc_s`, the archive resolves the `_Unwind_*`
//!    symbols first, and `--as-needed` then drops libgcc_s. Panics and
//!    backtraces unwind as before.
//!
//! A static build (the VM tests' `crt-static`, for guests without a libc) is
//! left as rustc makes it: `-no-pie` would turn its `-static-pie` into a
//! dynamic link, and it links libgcc_eh already.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if features.split(',').any(|f| f == "crt-static") {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu") {
        if let Some(dir) = libgcc_eh_dir() {
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
        }
    }
}

/// The directory of the C compiler's libgcc_eh.a; None (and libgcc_s stays)
/// when the compiler has none.
fn libgcc_eh_dir() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // Not found, the compiler echoes the bare name.
    if !path.is_absolute() || !path.exists() {
        println!("cargo:warning=no libgcc_eh.a: brig links libgcc_s.so");
        return None;
    }
    path.parent().map(PathBuf::from)
}
