//! The content-addressed store under the image root:
//!
//! ```text
//! ROOT/lock                     flock: one writer at a time (import, rm, containers)
//! ROOT/blobs/sha256/HEX         blobs, named by the sha256 of their content
//! ROOT/layers/HEX               one unpacked layer, named by its diff id (the
//!                               sha256 of the uncompressed tar), shared by all
//! ROOT/images/HEX.json          an image record, named by its manifest digest
//! ROOT/refs.json                name:tag -> manifest digest
//! ROOT/tmp                      blobs and layers being written
//! ROOT/downloads/HEX[.partial]  blobs of a pull not yet committed (resumable)
//! ```
//!
//! The engine keeps its own folders (containers, volumes) under the same
//! root (brig-engine's `store::EngineDirs`); the image store knows nothing of them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{invalid, Digest, HashingReader, ImageError, Result};

/// Where everything lives, unless `--image-root` or BRIG_IMAGE_ROOT says otherwise.
pub const DEFAULT_ROOT: &str = "/var/lib/brig";

#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

/// The store's exclusive lock; released on drop.
#[derive(Debug)]
pub struct StoreLock(#[allow(dead_code)] File);

/// One layer of an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    /// The blob as distributed (maybe compressed).
    pub digest: Digest,
    /// The sha256 of the uncompressed tar; names the unpacked directory.
    pub diff_id: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    pub media_type: String,
}

/// An imported image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    /// The manifest's digest: the image's id.
    pub id: Digest,
    pub config: Digest,
    pub layers: Vec<LayerRecord>,
    /// When brig imported it (RFC 3339).
    pub imported: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |e| ImageError::io(path, e)
}

impl ImageStore {
    /// The store at `root`, made (mode 0700) if missing.
    pub fn open(root: &Path) -> Result<ImageStore> {
        let root = std::path::absolute(root).map_err(io(root))?;
        let s = root.to_string_lossy();
        if s.contains(':') || s.contains(',') {
            return Err(invalid(format!(
                "--image-root {s}: must not contain ':' or ',' (overlayfs mount options split on them)"
            )));
        }
        let store = ImageStore { root };
        for d in ["blobs/sha256", "layers", "images", "tmp"] {
            let p = store.root.join(d);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&store.root, std::fs::Permissions::from_mode(0o700))
            .map_err(io(&store.root))?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Take the store's lock, waiting for another brig that holds it.
    pub fn lock(&self) -> Result<StoreLock> {
        let p = self.root.join("lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io(&p))?;
        // SAFETY: a valid fd.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(ImageError::io(&p, std::io::Error::last_os_error()));
        }
        Ok(StoreLock(f))
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// A fresh path under ROOT/tmp.
    pub fn temp_path(&self, what: &str) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{what}-{}", crate::util::random_hex(8)))
    }

    /// Write a blob from `r`. With `expected`, the content must hash to it, or
    /// nothing is stored. Returns the digest and size.
    pub fn put_blob(&self, r: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let tmp = self.temp_path("blob");
        let result = (|| {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            let mut hr = HashingReader::new(r);
            std::io::copy(&mut hr, &mut f).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
            let (digest, size) = hr.finish().map_err(io(&tmp))?;
            if let Some(exp) = expected {
                if *exp != digest {
                    return Err(ImageError::Corrupt {
                        digest: exp.to_string(),
                        actual: digest.to_string(),
                    });
                }
            }
            let dst = self.blob_path(&digest);
            std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
            Ok((digest, size))
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    }

    pub fn put_bytes(&self, data: &[u8]) -> Result<Digest> {
        Ok(self.put_blob(data, None)?.0)
    }

    /// A blob's content, checked against its digest; at most `limit` bytes.
    pub fn read_blob(&self, d: &Digest, limit: u64) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let f = File::open(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => invalid(format!("blob {d}: missing from the store")),
            _ => ImageError::io(&p, e),
        })?;
        let mut hr = HashingReader::new(f);
        let mut data = Vec::new();
        (&mut hr)
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(io(&p))?;
        if data.len() as u64 > limit {
            return Err(invalid(format!("blob {d}: larger than {limit} bytes")));
        }
        let (actual, _) = hr.finish().map_err(io(&p))?;
        if actual != *d {
            return Err(ImageError::Corrupt {
                digest: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(data)
    }

    /// Make sure the layer `l` is unpacked: from its blob (checked against both
    /// its digest and its diff id) into a temporary dir, renamed into place
    /// when complete. A layer that is there already is used as it is.
    pub fn ensure_layer(&self, l: &LayerRecord) -> Result<PathBuf> {
        self.ensure_layer_from(l, &self.blob_path(&l.digest))
    }

    /// [`ensure_layer`](Self::ensure_layer) from a blob at `p` (a pull
    /// unpacks a layer as soon as its download is verified, before the blob
    /// moves into the store).
    pub fn ensure_layer_from(&self, l: &LayerRecord, p: &Path) -> Result<PathBuf> {
        let dir = self.layer_dir(&l.diff_id);
        if dir.is_dir() {
            return Ok(dir);
        }
        let p = p.to_path_buf();
        let f = File::open(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                invalid(format!("layer blob {}: missing from the store", l.digest))
            }
            _ => ImageError::io(&p, e),
        })?;
        let tmp = self.temp_path("layer");
        std::fs::create_dir(&tmp).map_err(io(&tmp))?;
        let result = (|| {
            let mut blob = HashingReader::new(f);
            let mut diff =
                HashingReader::new(super::decompress(BufReader::new(&mut blob)).map_err(io(&p))?);
            let unpacked = super::unpack_layer(&mut diff, &tmp);
            // The digests are checked first: a corrupt blob says so, whatever
            // the unpacker made of it.
            let diff_digest = diff.finish().ok().map(|(d, _)| d);
            let (blob_digest, _) = blob.finish().map_err(io(&p))?;
            if blob_digest != l.digest {
                return Err(ImageError::Corrupt {
                    digest: l.digest.to_string(),
                    actual: blob_digest.to_string(),
                });
            }
            unpacked.map_err(|e| ImageError::Unpack {
                layer: l.digest.to_string(),
                source: e,
            })?;
            match diff_digest {
                Some(d) if d == l.diff_id => {}
                Some(d) => {
                    return Err(invalid(format!(
                        "layer {}: its uncompressed content hashes to {d}, but the image config's diff id is {}",
                        l.digest, l.diff_id
                    )))
                }
                None => {
                    return Err(invalid(format!(
                        "layer {}: cannot be decompressed",
                        l.digest
                    )))
                }
            }
            let d = File::open(&tmp).map_err(io(&tmp))?;
            // SAFETY: syncs the filesystem of a valid fd.
            unsafe { libc::syncfs(d.as_raw_fd()) };
            match std::fs::rename(&tmp, &dir) {
                Ok(()) => Ok(()),
                // Another brig unpacked it meanwhile.
                Err(_) if dir.is_dir() => Ok(()),
                Err(e) => Err(ImageError::io(&dir, e)),
            }
        })();
        let _ = super::unpack::remove_tree(&tmp);
        result.map(|()| dir)
    }

    // ---- image records and refs ----

    fn image_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    pub fn save_image(&self, rec: &ImageRecord) -> Result<()> {
        write_json(&self.image_path(&rec.id), rec)
    }

    pub fn load_image(&self, id: &Digest) -> Result<ImageRecord> {
        let p = self.image_path(id);
        let data = std::fs::read(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ImageError::NotFound(id.to_string()),
            _ => ImageError::io(&p, e),
        })?;
        serde_json::from_slice(&data).map_err(|e| invalid(format!("{}: {e}", p.display())))
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let e = e.map_err(io(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(hex) = name.strip_suffix(".json") {
                if let Ok(d) = Digest::parse(&format!("sha256:{hex}")) {
                    out.push(self.load_image(&d)?);
                }
            }
        }
        out.sort_by(|a, b| a.imported.cmp(&b.imported));
        Ok(out)
    }

    pub fn remove_image_record(&self, id: &Digest) -> Result<()> {
        let p = self.image_path(id);
        std::fs::remove_file(&p).map_err(io(&p))
    }

    pub fn refs(&self) -> Result<BTreeMap<String, Digest>> {
        let p = self.root.join("refs.json");
        match std::fs::read(&p) {
            Ok(d) => {
                serde_json::from_slice(&d).map_err(|e| invalid(format!("{}: {e}", p.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ImageError::io(&p, e)),
        }
    }

    pub fn save_refs(&self, refs: &BTreeMap<String, Digest>) -> Result<()> {
        write_json(&self.root.join("refs.json"), refs)
    }

    /// The image a reference names: `name[:tag]` (tag `latest` by default), a
    /// full `sha256:` id, or a unique prefix (6 or more hex digits) of an id.
    pub fn resolve(&self, reference: &str) -> Result<ImageRecord> {
        if reference.starts_with("sha256:") {
            let d = Digest::parse(reference)?;
            return self.load_image(&d);
        }
        let refs = self.refs()?;
        if let Some(d) = refs.get(&normalize_ref(reference)?) {
            return self.load_image(d);
        }
        if reference.len() >= 6 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<_> = self
                .images()?
                .into_iter()
                .filter(|i| i.id.hex().starts_with(reference))
                .collect();
            match matches.len() {
                1 => return Ok(matches.into_iter().next().expect("one")),
                0 => {}
                _ => {
                    return Err(invalid(format!(
                        "image {reference:?}: the prefix matches several images"
                    )))
                }
            }
        }
        Err(ImageError::NotFound(reference.to_string()))
    }

    /// The names that point at `id`.
    pub fn names_of(&self, id: &Digest) -> Result<Vec<String>> {
        Ok(self
            .refs()?
            .into_iter()
            .filter(|(_, d)| d == id)
            .map(|(n, _)| n)
            .collect())
    }

    /// Remove every blob, layer and temporary file that no image refers to.
    /// Returns how many blobs and layers went. The caller holds the lock.
    pub fn gc(&self) -> Result<(usize, usize)> {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for img in self.images()? {
            blobs.insert(img.id.hex().to_string());
            blobs.insert(img.config.hex().to_string());
            for l in &img.layers {
                blobs.insert(l.digest.hex().to_string());
                layers.insert(l.diff_id.hex().to_string());
            }
        }
        // What a running build uses (see engine::build): its lease, kept
        // while the process that wrote it lives.
        for (b, l) in self.leased() {
            blobs.extend(b);
            layers.extend(l);
        }
        let mut removed = (0, 0);
        let bdir = self.root.join("blobs/sha256");
        for e in std::fs::read_dir(&bdir).map_err(io(&bdir))? {
            let e = e.map_err(io(&bdir))?;
            if !blobs.contains(e.file_name().to_string_lossy().as_ref()) {
                std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
                removed.0 += 1;
            }
        }
        let ldir = self.root.join("layers");
        for e in std::fs::read_dir(&ldir).map_err(io(&ldir))? {
            let e = e.map_err(io(&ldir))?;
            if !layers.contains(e.file_name().to_string_lossy().as_ref()) {
                super::unpack::remove_tree(&e.path()).map_err(io(&e.path()))?;
                removed.1 += 1;
            }
        }
        // Downloads of unfinished pulls (see image::registry): kept for a
        // resume until the next gc, except those a pull is writing (it holds
        // their flock).
        let ddir = self.root.join("downloads");
        for e in std::fs::read_dir(&ddir).into_iter().flatten().flatten() {
            if let Ok(f) = File::open(e.path()) {
                // SAFETY: a valid fd.
                if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let tdir = self.root.join("tmp");
        for e in std::fs::read_dir(&tdir).map_err(io(&tdir))?.flatten() {
            let _ =
                super::unpack::remove_tree(&e.path()).or_else(|_| std::fs::remove_file(e.path()));
        }
        Ok(removed)
    }
}

/// A lease on blobs and layers (hex digests) that `gc` keeps while the
/// process `pid` lives: a build, which does not hold the store's lock while
/// its RUN containers run.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lease {
    pub pid: u32,
    pub blobs: Vec<String>,
    pub layers: Vec<String>,
}

impl ImageStore {
    pub fn lease_path(&self, name: &str) -> PathBuf {
        self.root.join("leases").join(format!("{name}.json"))
    }

    /// The blobs and layers of the leases of live processes; the others'
    /// files are removed.
    fn leased(&self) -> Vec<(Vec<String>, Vec<String>)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.root.join("leases"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let lease = std::fs::read(e.path())
                .ok()
                .and_then(|d| serde_json::from_slice::<Lease>(&d).ok());
            match lease {
                Some(l) if Path::new(&format!("/proc/{}", l.pid)).exists() => {
                    out.push((l.blobs, l.layers))
                }
                _ => {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        out
    }
}

/// Write JSON atomically (temp file, fsync, rename).
pub(crate) fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    write_json_with(path, v, true)
}

/// [`write_json`], with the fsync only when `sync`.
pub(crate) fn write_json_with<T: Serialize>(path: &Path, v: &T, sync: bool) -> Result<()> {
    let data = serde_json::to_vec_pretty(v).map_err(|e| invalid(e.to_string()))?;
    brig_runtime::sys::write_atomic(path, &data, sync).map_err(io(path))
}

/// `name[:tag]` with the tag made explicit (`latest`), checked: a name is
/// lowercase letters, digits and `._-/` (as docker's), a tag up to 128 of
/// letters, digits and `._-`.
pub fn normalize_ref(r: &str) -> Result<String> {
    let bad = |why: &str| invalid(format!("image reference {r:?}: {why}"));
    // A colon after the last slash starts the tag (a registry port comes before it).
    let (name, tag) = match r.rfind(':') {
        Some(i) if !r[i..].contains('/') => (&r[..i], &r[i + 1..]),
        _ => (r, "latest"),
    };
    if name.is_empty() || name.len() > 255 {
        return Err(bad("the name must be 1 to 255 characters"));
    }
    if !name
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'/' | b':'))
        || !name.as_bytes()[0].is_ascii_alphanumeric()
    {
        return Err(bad(
            "the name must start with a letter or digit and hold only lowercase letters, digits and . _ - /",
        ));
    }
    if tag.is_empty()
        || tag.len() > 128
        || !tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(bad("the tag must be 1 to 128 letters, digits and . _ -"));
    }
    Ok(format!("{name}:{tag}"))
}
