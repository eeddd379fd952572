//! The host side: packages installed on first use, the cache directory, shared libraries of a
//! dynamic binary.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The QEMU binary and the firmware the harness boots with.
pub const QEMU: &str = "qemu-system-x86_64";
pub const QBOOT: &str = "/usr/share/qemu/qboot.rom";

/// The workspace this crate was built in, if it is still there.
pub fn workspace_dir() -> Option<PathBuf> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    ws.join("vm-tests/Cargo.toml").exists().then_some(ws)
}

/// `$BRIG_VM_CACHE`, else `<workspace>/target/vm-cache`, else `~/.cache/brig-vm`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("BRIG_VM_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(ws) = workspace_dir() {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| ws.join("target"));
        return target.join("vm-cache");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/brig-vm")
}

static APT: Mutex<()> = Mutex::new(());

pub fn is_root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `apt-get update`, best effort (its failure shows in the next apt command's error).
pub fn apt_update() {
    let _g = APT.lock().unwrap_or_else(|e| e.into_inner());
    let _ = Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs the Debian packages that are missing, and says so on stderr.
pub fn ensure_packages(pkgs: &[&str], log: &mut dyn FnMut(&str)) -> Result<()> {
    let _g = APT.lock().unwrap_or_else(|e| e.into_inner());
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing Debian packages {missing:?}: run as root (the harness installs them) or `apt-get install {}`",
            missing.join(" ")
        );
    }
    log(&format!(
        "first use: installing {} (apt-get install)",
        missing.join(" ")
    ));
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if install() {
        return Ok(());
    }
    let _ = Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    if !install() {
        bail!("apt-get install {} failed", missing.join(" "));
    }
    Ok(())
}

/// The packages the harness needs on the host.
pub const HOST_PACKAGES: &[&str] = &["qemu-system-x86", "busybox-static"];

/// A file of the host to put into the guest at the same path.
#[derive(Clone, Debug)]
pub struct HostFile {
    pub guest_path: String,
    pub host_path: PathBuf,
}

/// The shared libraries (and the dynamic loader) a binary needs, from `ldd`; empty for a
/// static binary.
pub fn shared_libraries(binary: &Path) -> Result<Vec<HostFile>> {
    if brig_conformance::setup::ensure_static(binary).is_ok() {
        return Ok(Vec::new());
    }
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .with_context(|| format!("running ldd {}", binary.display()))?;
    if !out.status.success() {
        bail!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once("=>") {
            Some((_, r)) => r.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            v.push(HostFile {
                guest_path: p.to_string(),
                host_path: PathBuf::from(p),
            });
        } else if line.contains("not found") {
            bail!(
                "{}: a library is missing: {}",
                binary.display(),
                line.trim()
            );
        }
    }
    Ok(v)
}
