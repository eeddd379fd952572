//! A busybox image made from the host's static `/bin/busybox` (Debian's busybox-static): a
//! rootfs tarball for `podman import`, and an OCI image-layout archive for `ctr images import`.
//! No registry is needed.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

pub const BUSYBOX: &str = "/bin/busybox";

/// The rootfs layer as an uncompressed tar: busybox, a link per applet, /etc/passwd and
/// /etc/group, the usual empty directories, and /www/index.html for the network scenarios.
pub fn rootfs_tar() -> Result<Vec<u8>> {
    crate::ensure_packages(&["busybox-static"])?;
    let busybox = std::fs::read(BUSYBOX).with_context(|| format!("reading {BUSYBOX}"))?;
    if !crate::image::is_static(&busybox) {
        bail!("{BUSYBOX} is not a static binary: install busybox-static");
    }
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .context("busybox --list")?;
    let applets = String::from_utf8_lossy(&list.stdout).into_owned();
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        b.append_data(&mut h, path, std::io::empty())?;
        Ok(())
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, path, data)?;
        Ok(())
    };
    for (d, m) in [
        ("./", 0o755),
        ("bin", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("run", 0o755),
        ("var", 0o755),
        ("var/tmp", 0o1777),
        ("www", 0o755),
    ] {
        dir(&mut b, d, m)?;
    }
    file(&mut b, "bin/busybox", 0o755, &busybox)?;
    for a in applets.split_whitespace() {
        if a == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        b.append_link(&mut h, format!("bin/{a}"), "busybox")?;
    }
    file(
        &mut b,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )?;
    file(&mut b, "etc/group", 0o644, b"root:x:0:\nnobody:x:65534:\n")?;
    file(&mut b, "www/index.html", 0o644, b"brig-engine-tests\n")?;
    b.finish()?;
    Ok(b.into_inner()?)
}

/// Whether a 64-bit little-endian ELF executable has no PT_INTERP segment (no dynamic loader).
pub fn is_static(elf: &[u8]) -> bool {
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    };
    if !elf.starts_with(b"\x7fELF") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        elf.get(o..o + 4) != Some(&3u32.to_le_bytes()[..])
    })
}

fn sha256(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

/// One image for an OCI archive: its name and the process its config runs.
pub struct ImageDef<'a> {
    /// The full reference, e.g. `docker.io/library/brig-busybox:test`.
    pub name: &'a str,
    pub entrypoint: &'a [&'a str],
    pub cmd: &'a [&'a str],
}

/// Writes an OCI image-layout tar holding the busybox layer once and one manifest per image,
/// each named by `io.containerd.image.name` (what `ctr images import` takes as its name).
pub fn write_oci_archive(out: &Path, images: &[ImageDef]) -> Result<()> {
    let layer = rootfs_tar()?;
    let layer_digest = sha256(&layer);
    let mut blobs: Vec<(String, Vec<u8>)> = vec![(layer_digest.clone(), layer.clone())];
    let mut manifests = Vec::new();
    for img in images {
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Entrypoint": img.entrypoint,
                "Cmd": img.cmd,
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
        });
        let config = serde_json::to_vec(&config)?;
        let config_digest = sha256(&config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{config_digest}"),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": format!("sha256:{layer_digest}"),
                "size": layer.len(),
            }],
        });
        let manifest = serde_json::to_vec(&manifest)?;
        let manifest_digest = sha256(&manifest);
        let tag = img.name.rsplit_once(':').map(|x| x.1).unwrap_or("latest");
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {
                "io.containerd.image.name": img.name,
                "org.opencontainers.image.ref.name": tag,
            },
        }));
        blobs.push((config_digest, config));
        blobs.push((manifest_digest, manifest));
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
    let mut b = tar::Builder::new(
        std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    let mut add = |path: &str, data: &[u8], dir: bool| -> Result<()> {
        let mut h = tar::Header::new_ustar();
        if dir {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_mode(0o644);
        }
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, path, data)?;
        Ok(())
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, false)?;
    add("index.json", &serde_json::to_vec(&index)?, false)?;
    add("blobs", b"", true)?;
    add("blobs/sha256", b"", true)?;
    let mut seen = std::collections::HashSet::new();
    for (d, data) in &blobs {
        if seen.insert(d.clone()) {
            add(&format!("blobs/sha256/{d}"), data, false)?;
        }
    }
    b.finish()?;
    Ok(())
}
