//! Helpers of the image tests: OCI layouts written by hand (layers built with
//! the `tar` crate, hostile ones byte by byte), and a test bed with its own
//! --root and --image-root that removes its containers and mounts on drop.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use sha2::Digest as _;

use crate::common::BRIG;

pub fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

#[derive(Clone, Copy, Debug)]
pub enum Comp {
    Plain,
    Gzip,
    Zstd,
}

/// One tar layer under construction.
pub struct Layer {
    b: tar::Builder<Vec<u8>>,
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

/// Write `name` into the header's name field as raw bytes (the tar crate
/// refuses `..` and absolute names, which hostile layers need).
fn raw_name(h: &mut tar::Header, name: &[u8]) {
    let old = h.as_old_mut();
    old.name = [0; 100];
    old.name[..name.len()].copy_from_slice(name);
}

fn raw_link(h: &mut tar::Header, link: &[u8]) {
    let old = h.as_old_mut();
    old.linkname = [0; 100];
    old.linkname[..link.len()].copy_from_slice(link);
}

impl Default for Layer {
    fn default() -> Self {
        Layer::new()
    }
}

impl Layer {
    pub fn new() -> Layer {
        Layer {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub fn dir(mut self, name: &str) -> Self {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        raw_name(&mut h, name.as_bytes());
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn file(mut self, name: &str, data: &[u8]) -> Self {
        self = self.file_mode(name, data, 0o644);
        self
    }

    pub fn file_mode(mut self, name: &str, data: &[u8], mode: u32) -> Self {
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        raw_name(&mut h, name.as_bytes());
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn symlink(mut self, name: &str, target: &str) -> Self {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        raw_name(&mut h, name.as_bytes());
        raw_link(&mut h, target.as_bytes());
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn hardlink(mut self, name: &str, target: &str) -> Self {
        let mut h = header(tar::EntryType::Link, 0o644, 0);
        raw_name(&mut h, name.as_bytes());
        raw_link(&mut h, target.as_bytes());
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    /// busybox with the applets the tests use, and /etc/passwd and /etc/group.
    pub fn busybox(self) -> Self {
        let bb = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
        let mut l = self
            .dir("bin/")
            .dir("etc/")
            .dir("tmp/")
            .file_mode("bin/busybox", &bb, 0o755);
        for a in [
            "sh", "cat", "echo", "ls", "id", "rm", "stat", "grep", "pwd", "hostname", "mkdir",
            "touch", "sleep", "wc", "test", "env", "readlink",
        ] {
            l = l.symlink(&format!("bin/{a}"), "busybox");
        }
        l.file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .file("etc/group", b"root:x:0:\nnogroup:x:65534:nobody\n")
    }

    pub fn tar(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

pub fn compress(data: &[u8], c: Comp) -> Vec<u8> {
    match c {
        Comp::Plain => data.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(data, 1).unwrap(),
    }
}

fn media(c: Comp) -> &'static str {
    match c {
        Comp::Plain => "application/vnd.oci.image.layer.v1.tar",
        Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

fn put(dir: &Path, data: &[u8]) -> String {
    let d = sha(data);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    d
}

/// Write an OCI layout at `dir` with these layers (bottom first) and image
/// config `config` (the `config` object of the image config), tagged `tag`.
/// Returns the layer blobs' digests.
pub fn write_layout(
    dir: &Path,
    layers: &[(Vec<u8>, Comp)],
    config: Value,
    tag: &str,
) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut digests = Vec::new();
    for (tar, c) in layers {
        diff_ids.push(sha(tar));
        let blob = compress(tar, *c);
        let d = put(dir, &blob);
        digests.push(d.clone());
        descs.push(json!({"mediaType": media(*c), "digest": d, "size": blob.len()}));
    }
    let cfg = json!({
        "architecture": arch(), "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().enumerate().map(|(i, _)| json!({"created_by": format!("layer {i}")})).collect::<Vec<_>>(),
    });
    let cfg = serde_json::to_vec(&cfg).unwrap();
    let cd = put(dir, &cfg);
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cfg.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = put(dir, &m);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": m.len(),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    digests
}

/// A test's --root, --image-root and scratch space. On drop, every container
/// is removed with --force and any mount left below the temp dir goes.
pub struct ImgBed {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub image_root: PathBuf,
}

impl Default for ImgBed {
    fn default() -> Self {
        ImgBed::new()
    }
}

impl ImgBed {
    pub fn new() -> ImgBed {
        let tmp = tempfile::Builder::new()
            .prefix("brig-img")
            .tempdir()
            .unwrap();
        ImgBed {
            root: tmp.path().join("state"),
            image_root: tmp.path().join("images"),
            tmp,
        }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BRIG);
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            // The env var, not --image-root: that goes after the command
            // group, and not every command here is an engine command.
            .env("BRIG_IMAGE_ROOT", &self.image_root)
            .stdin(Stdio::null())
            // Never the host's bridge: these tests run in the host's network
            // namespace (tests/network.rs covers bridge networks, in its own).
            .env("BRIG_NETWORK", "none")
            .env("BRIG_NETWORK_ROOT", self.tmp.path().join("networks"))
            .env("BRIG_NETNS_DIR", self.tmp.path().join("netns"));
        c
    }

    pub fn brig(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Run brig; panic with its stderr unless it succeeds; return its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.brig(args);
        assert!(
            o.status.success(),
            "brig {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run brig; panic unless it fails; return its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.brig(args);
        assert!(
            !o.status.success(),
            "brig {args:?} succeeded: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// Import the layout at `dir` as `name`.
    pub fn import(&self, dir: &Path, name: &str) -> String {
        self.ok(&["image", "import", dir.to_str().unwrap(), name])
            .trim()
            .to_string()
    }

    /// A busybox image with the given extra layers on top, imported as `name`.
    pub fn busybox_image(&self, name: &str, extra: Vec<(Vec<u8>, Comp)>, config: Value) -> PathBuf {
        let dir = self.path(&format!("layout-{}", name.replace([':', '/'], "_")));
        let mut layers = vec![(Layer::new().busybox().tar(), Comp::Gzip)];
        layers.extend(extra);
        write_layout(&dir, &layers, config, "latest");
        self.import(&dir, name);
        dir
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.image_root.join("containers").join(id)
    }

    /// Names of the entries of a dir below the image root (empty if missing).
    pub fn entries(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.image_root.join(sub))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Mounts below the temp dir, from /proc/self/mountinfo.
    pub fn mounts(&self) -> Vec<String> {
        let t = self.tmp.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&t))
            .collect()
    }

    /// Nothing of a container is left: no record, no mount, no runtime state.
    pub fn assert_no_containers(&self) {
        assert_eq!(
            self.entries("containers"),
            Vec::<String>::new(),
            "container dirs left"
        );
        assert_eq!(self.mounts(), Vec::<String>::new(), "mounts left");
        for sub in ["networks/attachments", "netns"] {
            let left: Vec<_> = std::fs::read_dir(self.tmp.path().join(sub))
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "network {sub} left: {left:?}");
        }
        let state: Vec<_> = std::fs::read_dir(&self.root)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(state.is_empty(), "runtime state left: {state:?}");
    }
}

impl Drop for ImgBed {
    fn drop(&mut self) {
        for id in self.entries("containers") {
            let _ = self.brig(&["container", "rm", "--force", &id]);
        }
        for m in self.mounts().into_iter().rev() {
            let c = std::ffi::CString::new(m).unwrap();
            // SAFETY: a valid C string.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}
