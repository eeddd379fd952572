//! Builds brig-init (init-shim/main.rs), the init of `container run --init`,
//! as a static executable that brig embeds: it must run in images without a
//! libc of their own.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "init-shim/main.rs";
    println!("cargo:rerun-if-changed={src}");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("brig-init");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET").expect("TARGET");
    let status = Command::new(rustc)
        .args(["--edition", "2021", "--crate-name", "brig_init", "-O"])
        .args(["-C", "target-feature=+crt-static", "-C", "panic=abort"])
        .args(["-C", "strip=symbols", "--target", &target, "-o"])
        .arg(&out)
        .arg(src)
        .status()
        .expect("running rustc for init-shim/main.rs");
    assert!(status.success(), "building {src} failed");
}
