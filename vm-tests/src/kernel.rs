//! Kernels as data: a Debian package (name or glob) or a local vmlinuz + module tree.
//!
//! The list lives in `vm-tests/kernels` (one kernel a line: name, source, cgroup modes), and
//! `$BRIG_VM_KERNELS` replaces it with the same format, lines separated by `;`. A package is
//! fetched with `apt-get download`, unpacked with `dpkg-deb -x` and cached under
//! `<cache>/kernels/<package>`; the uncompressed vmlinux is extracted once next to it.

use crate::host;
use crate::vmlinux;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// cgroup2 only (`cgroup_no_v1=all`), every controller delegated below the root.
    V2,
    /// cgroup v1 only: a tmpfs at /sys/fs/cgroup with one hierarchy per controller.
    V1,
    /// v1 hierarchies plus cgroup2 at /sys/fs/cgroup/unified, like the development host.
    Hybrid,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::V2, Mode::V1, Mode::Hybrid];

    pub fn name(self) -> &'static str {
        match self {
            Mode::V2 => "v2",
            Mode::V1 => "v1",
            Mode::Hybrid => "hybrid",
        }
    }

    pub fn parse(s: &str) -> Result<Mode> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown cgroup mode {s:?} (v2, v1 or hybrid)"))
    }

    /// The kernel command line words of this mode (the guest init reads `brig.cgroup=`).
    pub fn cmdline(self) -> &'static str {
        match self {
            Mode::V2 => "brig.cgroup=v2 cgroup_no_v1=all",
            Mode::V1 => "brig.cgroup=v1",
            Mode::Hybrid => "brig.cgroup=hybrid",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A Debian package name; `*` matches any run of characters but `-`; the newest match wins.
    Deb(String),
    /// A kernel image (bzImage or vmlinux) and its `/lib/modules/<release>` directory.
    Path { image: PathBuf, modules: PathBuf },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelEntry {
    /// Short name used in test names and tables (`6.1`).
    pub name: String,
    pub source: Source,
    /// The cgroup modes to test it in.
    pub modes: Vec<Mode>,
}

/// The built-in list (the contents of `vm-tests/kernels`).
pub const DEFAULT_LIST: &str = include_str!("../kernels");

/// Parses the kernel list format:
/// `NAME deb:PACKAGE-GLOB MODES` or `NAME path:IMAGE:MODULES_DIR MODES`, where MODES is a
/// comma-separated list of v2, v1, hybrid. `#` starts a comment; lines may also be separated by `;`.
pub fn parse_list(text: &str) -> Result<Vec<KernelEntry>> {
    let mut out: Vec<KernelEntry> = Vec::new();
    let lines = text
        .lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").split(';'))
        .map(str::trim)
        .filter(|l| !l.is_empty());
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, source, modes] = f[..] else {
            bail!("kernel list line {line:?}: want `NAME SOURCE MODES`");
        };
        let source = if let Some(p) = source.strip_prefix("deb:") {
            Source::Deb(p.to_string())
        } else if let Some(p) = source.strip_prefix("path:") {
            let Some((image, modules)) = p.split_once(':') else {
                bail!("kernel list line {line:?}: want path:IMAGE:MODULES_DIR");
            };
            Source::Path {
                image: image.into(),
                modules: modules.into(),
            }
        } else {
            bail!("kernel list line {line:?}: the source must start with deb: or path:");
        };
        let modes = modes
            .split(',')
            .map(Mode::parse)
            .collect::<Result<Vec<_>>>()?;
        if out.iter().any(|k| k.name == name) {
            bail!("kernel {name} is listed twice");
        }
        out.push(KernelEntry {
            name: name.to_string(),
            source,
            modes,
        });
    }
    Ok(out)
}

/// The kernel list in force: `$BRIG_VM_KERNELS` if set, else `vm-tests/kernels`.
pub fn list() -> Result<Vec<KernelEntry>> {
    match std::env::var("BRIG_VM_KERNELS") {
        Ok(s) => parse_list(&s).context("parsing $BRIG_VM_KERNELS"),
        Err(_) => parse_list(DEFAULT_LIST).context("parsing vm-tests/kernels"),
    }
}

/// A kernel ready to boot.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub name: String,
    /// The package it came from, or the image path.
    pub origin: String,
    /// The uncompressed ELF vmlinux with a PVH note.
    pub vmlinux: PathBuf,
    /// `/lib/modules/<release>`.
    pub modules: PathBuf,
    pub release: String,
}

/// Matches package globs: `*` matches any run of characters except `-`, so that
/// `linux-image-6.1.0-*-amd64` means the plain flavour and not `-rt-amd64` or `-cloud-amd64`.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => {
                let mut i = 0;
                loop {
                    if go(rest, &s[i..]) {
                        return true;
                    }
                    if i == s.len() || s[i] == b'-' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

/// Orders names with their digit runs compared as numbers (`6.1.0-9` < `6.1.0-10`).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut v = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                v.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        v
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let o = match (x.0, y.0) {
            (true, true) => {
                let (nx, ny) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                nx.len().cmp(&ny.len()).then(nx.cmp(ny))
            }
            _ => x.1.cmp(y.1),
        };
        if o.is_ne() {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

fn apt_candidates(pattern: &str) -> Result<Vec<String>> {
    let prefix = pattern.split('*').next().unwrap_or("");
    let out = Command::new("apt-cache")
        .args(["pkgnames", prefix])
        .output()
        .context("running apt-cache pkgnames")?;
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|n| glob_match(pattern, n))
        .map(String::from)
        .collect();
    v.sort_by(|a, b| natural_cmp(a, b));
    Ok(v)
}

/// The package a glob means: the newest that apt knows (after `apt-get update` if it knows
/// none), else the newest already in the cache.
fn resolve_package(pattern: &str, cache: &Path, log: &mut dyn FnMut(&str)) -> Result<String> {
    if !pattern.contains('*') {
        return Ok(pattern.to_string());
    }
    let mut c = apt_candidates(pattern).unwrap_or_default();
    if c.is_empty() {
        log(&format!(
            "apt knows no package matching {pattern}: running apt-get update"
        ));
        host::apt_update();
        c = apt_candidates(pattern).unwrap_or_default();
    }
    if let Some(newest) = c.pop() {
        return Ok(newest);
    }
    let mut cached: Vec<String> = fs::read_dir(cache.join("kernels"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            glob_match(pattern, n) && cache.join("kernels").join(n).join("vmlinux").exists()
        })
        .collect();
    cached.sort_by(|a, b| natural_cmp(a, b));
    cached
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no Debian package matches {pattern} (apt-cache pkgnames found none, and none is cached)"))
}

fn only_subdir(dir: &Path) -> Result<PathBuf> {
    let mut subs: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    match subs.len() {
        1 => Ok(subs.remove(0)),
        n => bail!("{} has {n} module trees, want exactly one", dir.display()),
    }
}

/// Fetches, unpacks and extracts a kernel (or reuses the cached one).
pub fn prepare(entry: &KernelEntry, cache: &Path, log: &mut dyn FnMut(&str)) -> Result<Kernel> {
    match &entry.source {
        Source::Deb(pattern) => {
            let pkg = resolve_package(pattern, cache, log)?;
            let dir = cache.join("kernels").join(&pkg);
            if !dir.join("vmlinux").exists() {
                fetch_deb(&pkg, &dir, log)?;
            }
            let modules = only_subdir(&dir.join("root/lib/modules"))?;
            let release = modules
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(Kernel {
                name: entry.name.clone(),
                origin: pkg,
                vmlinux: dir.join("vmlinux"),
                modules,
                release,
            })
        }
        Source::Path { image, modules } => {
            let bytes = fs::read(image).with_context(|| format!("reading {}", image.display()))?;
            let key = format!("{:016x}", fnv1a(&bytes));
            let dir = cache.join("kernels").join(format!("path-{key}"));
            let vmlinux = dir.join("vmlinux");
            if !vmlinux.exists() {
                fs::create_dir_all(&dir)?;
                write_vmlinux(&bytes, &vmlinux)
                    .with_context(|| format!("extracting vmlinux from {}", image.display()))?;
            }
            Ok(Kernel {
                name: entry.name.clone(),
                origin: image.display().to_string(),
                vmlinux,
                modules: modules.clone(),
                release: modules
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            })
        }
    }
}

fn fnv1a(b: &[u8]) -> u64 {
    let mut h = 0xcbf29ce484222325u64;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn write_vmlinux(image: &[u8], dest: &Path) -> Result<()> {
    let elf = vmlinux::extract(image)?;
    if !crate::elf::has_pvh_note(&elf) {
        bail!("the kernel has no PVH entry note (CONFIG_PVH): QEMU cannot boot it directly");
    }
    let tmp = dest.with_extension("tmp");
    fs::write(&tmp, &elf)?;
    fs::rename(&tmp, dest)?;
    Ok(())
}

fn fetch_deb(pkg: &str, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<()> {
    let parent = dir.parent().expect("kernel dirs have a parent");
    fs::create_dir_all(parent)?;
    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(parent)?;
    log(&format!(
        "kernel {pkg}: first use: apt-get download {pkg} && dpkg-deb -x (cached in {})",
        dir.display()
    ));
    let download = || {
        Command::new("apt-get")
            .args(["download", "-q", pkg])
            .current_dir(work.path())
            .output()
    };
    let mut out = download().context("running apt-get download")?;
    if !out.status.success() {
        host::apt_update();
        out = download().context("running apt-get download")?;
    }
    if !out.status.success() {
        bail!(
            "apt-get download {pkg} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let deb = fs::read_dir(work.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .ok_or_else(|| anyhow::anyhow!("apt-get download {pkg} left no .deb"))?;
    let root = work.path().join("root");
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .status()
        .context("running dpkg-deb")?;
    if !st.success() {
        bail!("dpkg-deb -x {} failed ({st})", deb.display());
    }
    fs::remove_file(&deb)?;
    let image = fs::read_dir(root.join("boot"))
        .context("the package has no /boot")?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz"))
        })
        .ok_or_else(|| anyhow::anyhow!("{pkg} has no /boot/vmlinuz-*"))?;
    let bytes = fs::read(&image)?;
    write_vmlinux(&bytes, &work.path().join("vmlinux"))
        .with_context(|| format!("extracting vmlinux from {}", image.display()))?;
    let kept = work.keep();
    match fs::rename(&kept, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.join("vmlinux").exists() => {
            // Another process cached it first.
            let _ = fs::remove_dir_all(&kept);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&kept);
            Err(e).with_context(|| format!("moving the kernel into {}", dir.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(
            "linux-image-6.1.0-*-amd64",
            "linux-image-6.1.0-56-amd64"
        ));
        assert!(!glob_match(
            "linux-image-6.1.0-*-amd64",
            "linux-image-6.1.0-56-cloud-amd64"
        ));
        assert!(!glob_match(
            "linux-image-6.1.0-*-amd64",
            "linux-image-6.1.0-56-rt-amd64"
        ));
        assert!(glob_match(
            "linux-image-6.12.*+deb12-amd64",
            "linux-image-6.12.117+deb12-amd64"
        ));
        assert!(!glob_match(
            "linux-image-6.12.*+deb12-amd64",
            "linux-image-6.12-amd64"
        ));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b*c", "aXc"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn natural_order() {
        let mut v = [
            "linux-image-6.1.0-10-amd64",
            "linux-image-6.1.0-9-amd64",
            "linux-image-6.1.0-56-amd64",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v[2], "linux-image-6.1.0-56-amd64");
        assert_eq!(v[0], "linux-image-6.1.0-9-amd64");
    }

    #[test]
    fn the_default_list_parses() {
        let l = parse_list(DEFAULT_LIST).unwrap();
        assert!(l.len() >= 2);
        assert!(l.iter().all(|k| !k.modes.is_empty()));
    }

    #[test]
    fn list_format() {
        let l =
            parse_list("a deb:linux-image-x-* v2,v1 # c\n;b path:/boot/v:/lib/modules/r hybrid")
                .unwrap();
        assert_eq!(l[0].modes, [Mode::V2, Mode::V1]);
        assert_eq!(
            l[1].source,
            Source::Path {
                image: "/boot/v".into(),
                modules: "/lib/modules/r".into()
            }
        );
        assert!(parse_list("a deb:x v3").is_err());
        assert!(parse_list("a ftp:x v2").is_err());
        assert!(parse_list("a deb:x v2\na deb:y v1").is_err());
    }
}
