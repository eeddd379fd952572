//! The static binaries the guest runs: brig, brig-conformance and brig-probe, built from this
//! workspace with `+crt-static` for x86_64-unknown-linux-gnu (the only target installed here),
//! into their own target dir so that a running `cargo test` does not hold its lock.

use anyhow::{bail, Context, Result};
use brig_conformance::setup::ensure_static;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "x86_64-unknown-linux-gnu";
pub const PACKAGES: [&str; 3] = ["brig", "brig-conformance", "brig-probe"];

#[derive(Clone, Debug)]
pub struct Artifacts {
    pub brig: PathBuf,
    pub conformance: PathBuf,
    pub probe: PathBuf,
    pub busybox: PathBuf,
}

/// `$BRIG_VM_BIN_DIR` (prebuilt static brig, brig-conformance and brig-probe), else builds them.
pub fn static_binaries(cache: &Path, log: &mut dyn FnMut(&str)) -> Result<Artifacts> {
    let busybox = brig_conformance::setup::find_busybox()?;
    let dir = match std::env::var_os("BRIG_VM_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => build(cache, log)?,
    };
    let a = Artifacts {
        brig: dir.join("brig"),
        conformance: dir.join("brig-conformance"),
        probe: dir.join("brig-probe"),
        busybox,
    };
    for p in [&a.brig, &a.conformance, &a.probe] {
        ensure_static(p).with_context(|| format!("{} (the guest has no libc)", p.display()))?;
    }
    Ok(a)
}

fn build(cache: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let Some(ws) = crate::host::workspace_dir() else {
        bail!("the workspace this harness was built from is gone: set BRIG_VM_BIN_DIR to a directory with static brig, brig-conformance and brig-probe");
    };
    let target_dir = cache.join("cargo");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    log(&format!(
        "static build: RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target {TARGET} -p brig -p brig-conformance -p brig-probe (target dir {}; a no-op when up to date)",
        target_dir.display()
    ));
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&ws)
        .args(["build", "--quiet", "--release", "--target", TARGET]);
    for p in PACKAGES {
        cmd.args(["-p", p]);
    }
    let status = cmd
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .status()
        .with_context(|| format!("running {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("the static build failed ({status})");
    }
    Ok(target_dir.join(TARGET).join("release"))
}
