//! The guest's initramfs: busybox with its applet links, the init script, the modules in load
//! order, the payload script and whatever files the payload needs. Written uncompressed: under
//! TCG the kernel unpacks plain cpio far faster than it decompresses anything.

use crate::cpio::CpioWriter;
use crate::modules::ModuleSet;
use anyhow::{Context, Result};
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest init (stage 1 and 2); see the comments at its top.
pub const INIT: &str = include_str!("init.sh");

#[derive(Clone, Debug)]
pub enum Content {
    Host(PathBuf),
    Bytes(Vec<u8>),
}

/// A file to put into the guest.
#[derive(Clone, Debug)]
pub struct GuestFile {
    pub path: String,
    pub mode: u32,
    pub content: Content,
}

impl GuestFile {
    pub fn host(path: impl Into<String>, host: impl Into<PathBuf>, mode: u32) -> Self {
        GuestFile {
            path: path.into(),
            mode,
            content: Content::Host(host.into()),
        }
    }
    pub fn bytes(path: impl Into<String>, data: impl Into<Vec<u8>>, mode: u32) -> Self {
        GuestFile {
            path: path.into(),
            mode,
            content: Content::Bytes(data.into()),
        }
    }
}

pub struct Spec<'a> {
    /// A static busybox.
    pub busybox: &'a Path,
    pub modules: &'a ModuleSet,
    /// The shell script the init runs once the guest is set up. It writes its report (if any)
    /// to /run/brig-vm/report; its exit code goes back to the host.
    pub payload: &'a str,
    pub files: &'a [GuestFile],
}

/// Writes the initramfs to `out` and returns its size in bytes.
pub fn build(spec: &Spec<'_>, out: &Path) -> Result<u64> {
    let f = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = CpioWriter::new(BufWriter::new(f));
    for d in [
        "dev", "proc", "sys", "tmp", "run", "root", "home", "mnt", "var", "etc", "usr/bin",
        "usr/sbin", "sbin",
    ] {
        w.dir(d, if d == "tmp" { 0o1777 } else { 0o755 })?;
    }
    w.char_device("dev/console", 0o600, 5, 1)?;
    w.file("init", 0o755, INIT.as_bytes())?;
    let bb =
        fs::read(spec.busybox).with_context(|| format!("reading {}", spec.busybox.display()))?;
    w.file("bin/busybox", 0o755, &bb)?;
    let list = Command::new(spec.busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("running {} --list", spec.busybox.display()))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let a = applet.trim();
        if a.is_empty() || a == "busybox" || a.contains('/') {
            continue;
        }
        w.symlink(&format!("bin/{a}"), "busybox")?;
    }
    let mut order = String::new();
    for m in &spec.modules.load_order {
        w.file(
            &format!("lib/modules/brig-vm/{}.ko", m.name),
            0o644,
            &m.data,
        )?;
        order.push_str(&m.name);
        order.push('\n');
    }
    w.file("etc/brig-vm/modules", 0o644, order.as_bytes())?;
    w.file("etc/brig-vm/payload", 0o755, spec.payload.as_bytes())?;
    w.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    w.file(
        "etc/group",
        0o644,
        b"root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
    )?;
    w.file("etc/hostname", 0o644, b"brig-vm\n")?;
    for f in spec.files {
        if w.contains(&f.path) {
            continue;
        }
        match &f.content {
            Content::Bytes(b) => w.file(&f.path, f.mode, b)?,
            Content::Host(p) => {
                let b = fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                w.file(&f.path, f.mode, &b)?;
            }
        }
    }
    w.finish()?;
    Ok(fs::metadata(out)?.len())
}
