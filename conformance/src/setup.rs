//! What a run needs before the first check: the static probe, the base rootfs, a scratch
//! directory and a cgroup parent that the run removes again.

use anyhow::{bail, Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable that names a prebuilt static probe.
pub const PROBE_ENV: &str = "BRIG_PROBE";
/// The environment variable that names the static busybox to put in the rootfs.
pub const BUSYBOX_ENV: &str = "BRIG_BUSYBOX";
/// Where the probe sits inside every container.
pub const PROBE_IN_CONTAINER: &str = "/probe";

/// The workspace this crate was built from, if it is still there.
pub fn workspace_dir() -> Option<PathBuf> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    ws.join("conformance/probe/Cargo.toml")
        .exists()
        .then_some(ws)
}

/// Finds the probe: `$BRIG_PROBE` if set, else builds it statically with cargo into
/// `<workspace>/target/brig-probe` (its own target dir, so that a running `cargo test` does not
/// hold its lock).
pub fn find_or_build_probe(log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(PROBE_ENV) {
        let p = PathBuf::from(p);
        ensure_static(&p).with_context(|| format!("{PROBE_ENV}={}", p.display()))?;
        return Ok(p);
    }
    let Some(ws) = workspace_dir() else {
        bail!("no probe: set {PROBE_ENV} to a static brig-probe binary (the workspace this suite was built from is gone)");
    };
    let target_dir = ws.join("target/brig-probe");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    log(&format!(
        "probe: cargo build -p brig-probe --release --target x86_64-unknown-linux-gnu (static, target dir {}; a no-op when up to date)",
        target_dir.display()
    ));
    let status = Command::new(&cargo)
        .current_dir(&ws)
        .args([
            "build",
            "--quiet",
            "-p",
            "brig-probe",
            "--release",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .status()
        .with_context(|| format!("running {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("building brig-probe failed ({status}); set {PROBE_ENV} to a prebuilt static probe");
    }
    let p = target_dir.join("x86_64-unknown-linux-gnu/release/brig-probe");
    ensure_static(&p)?;
    Ok(p)
}

/// Finds a static busybox: `$BRIG_BUSYBOX`, else /bin/busybox (Debian's busybox-static).
pub fn find_busybox() -> Result<PathBuf> {
    let p = std::env::var_os(BUSYBOX_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"));
    if !p.exists() {
        bail!(
            "{} not found: install a static busybox (`apt-get install busybox-static`) or set {BUSYBOX_ENV}",
            p.display()
        );
    }
    ensure_static(&p).with_context(|| {
        format!(
            "{} must be statically linked (Debian: `apt-get install busybox-static`)",
            p.display()
        )
    })?;
    Ok(p)
}

/// Fails unless `path` is an ELF executable without a program interpreter (statically linked).
pub fn ensure_static(path: &Path) -> Result<()> {
    let b = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        bail!("{} is not a 64-bit little-endian ELF file", path.display());
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[32..40].try_into()?) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        if o + 4 > b.len() {
            bail!("{} has a truncated program header table", path.display());
        }
        const PT_INTERP: u32 = 3;
        if u32::from_le_bytes(b[o..o + 4].try_into()?) == PT_INTERP {
            bail!(
                "{} is dynamically linked; it must run in an empty rootfs",
                path.display()
            );
        }
    }
    Ok(())
}

fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x100000001b3);
    }
}

/// Directories every container may mount on: they exist in the base rootfs so that no runtime
/// ever needs to create them in the shared, read-only base.
pub const ROOTFS_DIRS: &[&str] = &[
    "bin", "dev", "proc", "sys", "tmp", "etc", "run", "mnt", "out", "in", "hooklog", "merged",
    "data", "var",
];

/// Builds (or reuses) the base rootfs: busybox with its applet links, the probe at /probe, and the
/// mount point directories. It is cached under `cache_dir`, keyed by the two binaries.
pub fn base_rootfs(cache_dir: &Path, busybox: &Path, probe: &Path) -> Result<PathBuf> {
    let bb = fs::read(busybox).with_context(|| format!("reading {}", busybox.display()))?;
    let pr = fs::read(probe).with_context(|| format!("reading {}", probe.display()))?;
    let mut h = 0xcbf29ce484222325u64;
    fnv1a(&mut h, b"brig-conformance rootfs v1");
    for d in ROOTFS_DIRS {
        fnv1a(&mut h, d.as_bytes());
    }
    fnv1a(&mut h, &bb);
    fnv1a(&mut h, &pr);
    let dest = cache_dir.join(format!("rootfs-{h:016x}"));
    if dest.join("probe").exists() {
        return Ok(dest);
    }
    fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating cache dir {}", cache_dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".rootfs-build-")
        .tempdir_in(cache_dir)?;
    let root = tmp.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755))?;
    for d in ROOTFS_DIRS {
        fs::create_dir_all(root.join(d))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    copy_exec(busybox, &root.join("bin/busybox"))?;
    copy_exec(probe, &root.join("probe"))?;
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("running {} --list", busybox.display()))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))?;
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    let kept = tmp.keep();
    match fs::rename(&kept, &dest) {
        Ok(()) => Ok(dest),
        // Another run built the same rootfs first: use theirs.
        Err(_) if dest.join("probe").exists() => {
            let _ = fs::remove_dir_all(&kept);
            Ok(dest)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&kept);
            Err(e).with_context(|| format!("moving the rootfs to {}", dest.display()))
        }
    }
}

fn copy_exec(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Where the base rootfs can live: `dir`, unless a directory above it is
/// closed to others (no o+x). A user namespace's root walks the path to the
/// rootfs as an unprivileged host user, so a cache under such a directory (a
/// clone made in `mktemp -d`, or /root/.cache) fails every user-namespace
/// check on EACCES, with runc, crun and brig alike. Then the cache is
/// /var/tmp/brig-conformance-UID (0755, ours, not a symlink) instead.
pub fn reachable_cache_dir(dir: &Path) -> Result<PathBuf> {
    let closed = dir
        .ancestors()
        .filter_map(|a| fs::metadata(a).ok().map(|m| (a, m)))
        .find(|(_, m)| m.permissions().mode() & 0o001 == 0);
    let Some((closed, _)) = closed else {
        return Ok(dir.to_path_buf());
    };
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::geteuid().as_raw();
    let alt = PathBuf::from(format!("/var/tmp/brig-conformance-{uid}"));
    match fs::create_dir(&alt) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(e).with_context(|| format!("creating {}", alt.display()))
        }
        _ => {}
    }
    let m = fs::symlink_metadata(&alt)?;
    if !m.is_dir() || m.uid() != uid {
        bail!(
            "{} is not a directory of uid {uid}; remove it, or give --cache-dir a directory others can enter ({} cannot be)",
            alt.display(),
            closed.display()
        );
    }
    fs::set_permissions(&alt, fs::Permissions::from_mode(0o755))?;
    Ok(alt)
}

/// Default cache dir: `<workspace>/target/brig-conformance` when the workspace is there, else
/// `$XDG_CACHE_HOME/brig-conformance` or `~/.cache/brig-conformance`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(ws) = workspace_dir() {
        return ws.join("target/brig-conformance");
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("brig-conformance");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/brig-conformance")
}

/// Copies a directory tree (files, directories, symlinks) without following symlinks.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else if meta.is_dir() {
        fs::create_dir_all(to)?;
        fs::set_permissions(to, meta.permissions())?;
        for e in fs::read_dir(from)? {
            let e = e?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
    } else {
        fs::copy(from, to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_below_a_closed_directory_moves_where_a_mapped_root_can_reach() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("cache");
        fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(reachable_cache_dir(&dir).unwrap(), dir);
        fs::set_permissions(t.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let alt = reachable_cache_dir(&dir).unwrap();
        let s = alt.to_string_lossy();
        assert!(s.starts_with("/var/tmp/brig-conformance-"), "{s}");
        assert_eq!(
            fs::metadata(&alt).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
}
