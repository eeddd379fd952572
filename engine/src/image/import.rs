//! Import: an OCI image layout (a directory), an oci-archive (the layout in a
//! tar), or a plain rootfs tarball (one layer, as `docker import` makes).
//!
//! index.json → manifest (a nested index is followed; entries for another
//! platform are skipped) → config → layers. Every blob is checked against its
//! digest as it is copied in, and every layer against its diff id as it is
//! unpacked. A failed import removes what it added.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use super::store::{normalize_ref, ImageRecord, ImageStore, LayerRecord};
use super::{invalid, Digest, HashingReader, ImageError, Result};

/// JSON blobs (index, manifest, config) larger than this are refused.
pub const MAX_JSON: u64 = 4 << 20;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// An OCI image layout directory (umoci's and skopeo's `oci:DIR`).
    Oci,
    /// An OCI image layout in a tar file (skopeo's `oci-archive:FILE`).
    OciArchive,
    /// A tarball of a root filesystem (maybe gzip or zstd): a one-layer image.
    Rootfs,
}

impl ImportFormat {
    /// The names `--format` takes, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["oci", "oci-archive", "rootfs"];
}

impl std::str::FromStr for ImportFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<ImportFormat, String> {
        match s {
            "oci" => Ok(ImportFormat::Oci),
            "oci-archive" => Ok(ImportFormat::OciArchive),
            "rootfs" => Ok(ImportFormat::Rootfs),
            _ => Err(format!(
                "{s:?}: the format is one of {}",
                ImportFormat::NAMES.join(", ")
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub source: PathBuf,
    /// None: guess from the source.
    pub format: Option<ImportFormat>,
    /// The manifest to take from a layout with several (its ref.name annotation).
    pub source_tag: Option<String>,
    /// The name:tag to give the image.
    pub name: String,
}

/// Where the layout's blobs come from.
enum Source {
    Dir(PathBuf),
    /// Already copied into the store (an archive is read once, front to back).
    Store,
}

/// Import an image. Returns its record. The caller holds no lock; this takes it.
pub fn import(store: &ImageStore, opts: &ImportOptions) -> Result<ImageRecord> {
    let name = normalize_ref(&opts.name)?;
    let src = &opts.source;
    let meta = std::fs::metadata(src).map_err(|e| ImageError::io(src, e))?;
    let format = match opts.format {
        Some(f) => f,
        None if meta.is_dir() => ImportFormat::Oci,
        None => guess_file_format(src)?,
    };
    if format == ImportFormat::Rootfs && opts.source_tag.is_some() {
        return Err(invalid(
            "--source-tag: a rootfs tarball has no tags; leave it out",
        ));
    }
    let _lock = store.lock()?;
    let result = match format {
        ImportFormat::Oci => {
            if !meta.is_dir() {
                return Err(invalid(format!(
                    "{}: an OCI layout is a directory",
                    src.display()
                )));
            }
            let layout = read_small(&src.join("oci-layout"))?;
            check_layout(&layout, src)?;
            let index = read_small(&src.join("index.json"))?;
            import_layout(store, &Source::Dir(src.clone()), &index, opts)
        }
        ImportFormat::OciArchive => import_archive(store, src, opts),
        ImportFormat::Rootfs => import_rootfs(store, src),
    };
    let rec = match result {
        Ok(r) => r,
        Err(e) => {
            // Whatever this import added and no image uses goes.
            let _ = store.gc();
            return Err(e);
        }
    };
    let mut refs = store.refs()?;
    refs.insert(name, rec.id.clone());
    store.save_refs(&refs)?;
    // Blobs that came with an archive but belong to no image.
    store.gc()?;
    Ok(rec)
}

fn read_small(p: &Path) -> Result<Vec<u8>> {
    let f = File::open(p).map_err(|e| ImageError::io(p, e))?;
    let mut data = Vec::new();
    f.take(MAX_JSON + 1)
        .read_to_end(&mut data)
        .map_err(|e| ImageError::io(p, e))?;
    if data.len() as u64 > MAX_JSON {
        return Err(invalid(format!(
            "{}: larger than {MAX_JSON} bytes",
            p.display()
        )));
    }
    Ok(data)
}

fn check_layout(data: &[u8], src: &Path) -> Result<()> {
    let v: serde_json::Value = serde_json::from_slice(data)
        .map_err(|e| invalid(format!("{}/oci-layout: {e}", src.display())))?;
    match v.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(s) if s.starts_with("1.") => Ok(()),
        other => Err(invalid(format!(
            "{}/oci-layout: imageLayoutVersion {other:?}: brig reads version 1.x layouts",
            src.display()
        ))),
    }
}

/// A file: an oci-archive if it is a tar with an `oci-layout` entry, else a
/// rootfs tarball.
fn guess_file_format(src: &Path) -> Result<ImportFormat> {
    let f = File::open(src).map_err(|e| ImageError::io(src, e))?;
    let mut r = BufReader::new(f);
    let head = std::io::BufRead::fill_buf(&mut r).map_err(|e| ImageError::io(src, e))?;
    if super::Compression::sniff(head) != super::Compression::None {
        return Ok(ImportFormat::Rootfs);
    }
    let mut ar = tar::Archive::new(r);
    let entries = ar.entries().map_err(|e| ImageError::io(src, e))?;
    for e in entries {
        let Ok(e) = e else { break };
        if trim_dot(&e.path_bytes()) == b"oci-layout" {
            return Ok(ImportFormat::OciArchive);
        }
    }
    Ok(ImportFormat::Rootfs)
}

fn trim_dot(p: &[u8]) -> &[u8] {
    p.strip_prefix(b"./").unwrap_or(p)
}

fn import_archive(store: &ImageStore, src: &Path, opts: &ImportOptions) -> Result<ImageRecord> {
    let f = File::open(src).map_err(|e| ImageError::io(src, e))?;
    let mut ar = tar::Archive::new(BufReader::new(f));
    let (mut layout, mut index) = (None, None);
    let bad = |e: std::io::Error| invalid(format!("{}: not a tar file: {e}", src.display()));
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = trim_dot(&entry.path_bytes()).to_vec();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let small = |entry: &mut tar::Entry<_>| -> Result<Vec<u8>> {
            let mut d = Vec::new();
            entry
                .take(MAX_JSON + 1)
                .read_to_end(&mut d)
                .map_err(|e| ImageError::io(src, e))?;
            if d.len() as u64 > MAX_JSON {
                return Err(invalid(
                    "oci-archive: index.json or oci-layout is too large",
                ));
            }
            Ok(d)
        };
        match path.as_slice() {
            b"oci-layout" => layout = Some(small(&mut entry)?),
            b"index.json" => index = Some(small(&mut entry)?),
            p => {
                if let Some(hex) = p.strip_prefix(b"blobs/sha256/") {
                    let d = Digest::parse(&format!("sha256:{}", String::from_utf8_lossy(hex)))?;
                    // The name is the digest: the content must match it.
                    store.put_blob(&mut entry, Some(&d))?;
                }
            }
        }
    }
    let layout =
        layout.ok_or_else(|| invalid(format!("{}: no oci-layout entry", src.display())))?;
    check_layout(&layout, src)?;
    let index = index.ok_or_else(|| invalid(format!("{}: no index.json entry", src.display())))?;
    import_layout(store, &Source::Store, &index, opts)
}

/// Copy a blob from the source into the store (checked), unless it is there.
fn fetch(store: &ImageStore, src: &Source, d: &Digest) -> Result<()> {
    match src {
        Source::Store => {
            if store.has_blob(d) {
                Ok(())
            } else {
                Err(invalid(format!("blob {d}: missing from the archive")))
            }
        }
        Source::Dir(dir) => {
            let p = dir.join("blobs/sha256").join(d.hex());
            let f = File::open(&p).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    invalid(format!("blob {d}: missing from {}", dir.display()))
                }
                _ => ImageError::io(&p, e),
            })?;
            store.put_blob(f, Some(d)).map(|_| ())
        }
    }
}

fn digest_of(d: &oci_spec::image::Digest) -> Result<Digest> {
    Digest::parse(d.as_ref())
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        a => a,
    }
}

fn media(m: &oci_spec::image::MediaType) -> String {
    m.to_string()
}

pub(crate) fn is_index(m: &str) -> bool {
    m == "application/vnd.oci.image.index.v1+json"
        || m == "application/vnd.docker.distribution.manifest.list.v2+json"
}

pub(crate) fn is_manifest(m: &str) -> bool {
    m == "application/vnd.oci.image.manifest.v1+json"
        || m == "application/vnd.docker.distribution.manifest.v2+json"
}

/// index.json (or a nested index) → the one manifest to import.
pub fn pick_manifest(
    index: &ImageIndex,
    source_tag: Option<&str>,
) -> Result<oci_spec::image::Descriptor> {
    let mut candidates = Vec::new();
    let mut tags = Vec::new();
    for d in index.manifests() {
        let mt = media(d.media_type());
        if !is_manifest(&mt) && !is_index(&mt) {
            continue;
        }
        if let Some(p) = d.platform() {
            if p.os().to_string() != "linux" || p.architecture().to_string() != host_arch() {
                continue;
            }
        }
        let tag = d
            .annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .cloned();
        if let Some(t) = &tag {
            tags.push(t.clone());
        }
        match (source_tag, &tag) {
            (Some(want), Some(t)) if want == t => candidates.push(d.clone()),
            (Some(_), _) => {}
            (None, _) => candidates.push(d.clone()),
        }
    }
    match candidates.len() {
        1 => Ok(candidates.pop().expect("one")),
        0 => Err(invalid(match source_tag {
            Some(t) => format!("index.json: no manifest tagged {t:?} (tags: {tags:?})"),
            None => format!(
                "index.json: no image manifest for linux/{} in it",
                host_arch()
            ),
        })),
        n => Err(invalid(format!(
            "index.json: {n} manifests; pick one with --source-tag (tags: {tags:?})"
        ))),
    }
}

/// Parse an index, manifest and config as brig reads them (for the fuzzer too).
pub fn parse_index(data: &[u8]) -> Result<ImageIndex> {
    ImageIndex::from_reader(data).map_err(|e| invalid(format!("index: {e}")))
}

pub fn parse_manifest(data: &[u8]) -> Result<ImageManifest> {
    ImageManifest::from_reader(data).map_err(|e| invalid(format!("manifest: {e}")))
}

pub fn parse_config(data: &[u8]) -> Result<ImageConfiguration> {
    ImageConfiguration::from_reader(data).map_err(|e| invalid(format!("image config: {e}")))
}

/// The layers of a manifest with their diff ids from the config, checked.
pub fn layer_records(
    manifest: &ImageManifest,
    config: &ImageConfiguration,
) -> Result<Vec<LayerRecord>> {
    layer_records_for(manifest, config, host_arch())
}

/// [`layer_records`] for an image of architecture `want_arch` (a pull with
/// `--platform` may fetch another architecture's image on purpose).
pub fn layer_records_for(
    manifest: &ImageManifest,
    config: &ImageConfiguration,
    want_arch: &str,
) -> Result<Vec<LayerRecord>> {
    if config.os().to_string() != "linux" {
        return Err(invalid(format!(
            "image config: os {}: brig runs linux images only",
            config.os()
        )));
    }
    let arch = config.architecture().to_string();
    if arch != want_arch {
        return Err(invalid(format!(
            "image config: architecture {arch}: {}",
            if want_arch == host_arch() {
                format!("this host runs {want_arch}")
            } else {
                format!("--platform asked for {want_arch}")
            }
        )));
    }
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(invalid(format!(
            "the manifest has {} layers but the config's rootfs.diff_ids has {}",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let mut out = Vec::new();
    for (i, (l, diff)) in manifest.layers().iter().zip(diff_ids).enumerate() {
        let mt = media(l.media_type());
        let known = [
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.nondistributable.v1.tar",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        ];
        if !known.contains(&mt.as_str()) {
            return Err(invalid(format!(
                "manifest layers[{i}]: media type {mt}: brig unpacks tar, tar+gzip and tar+zstd layers only"
            )));
        }
        out.push(LayerRecord {
            digest: digest_of(l.digest())?,
            diff_id: Digest::parse(diff)
                .map_err(|e| invalid(format!("image config rootfs.diff_ids[{i}]: {e}")))?,
            size: l.size(),
            media_type: mt,
        });
    }
    Ok(out)
}

fn import_layout(
    store: &ImageStore,
    src: &Source,
    index_json: &[u8],
    opts: &ImportOptions,
) -> Result<ImageRecord> {
    let mut index = parse_index(index_json)?;
    let mut tag = opts.source_tag.clone();
    // A nested index is followed (at most a few levels).
    let manifest_desc = loop {
        let d = pick_manifest(&index, tag.as_deref())?;
        let digest = digest_of(d.digest())?;
        fetch(store, src, &digest)?;
        let data = store.read_blob(&digest, MAX_JSON)?;
        if is_index(&media(d.media_type())) {
            index = parse_index(&data)?;
            tag = None;
            continue;
        }
        break (d, digest, data);
    };
    let (desc, id, data) = manifest_desc;
    if desc.size() != data.len() as u64 {
        return Err(invalid(format!(
            "manifest {id}: index.json says {} bytes, the blob has {}",
            desc.size(),
            data.len()
        )));
    }
    let manifest = parse_manifest(&data)?;
    let cfg_digest = digest_of(manifest.config().digest())?;
    fetch(store, src, &cfg_digest)?;
    let cfg_data = store.read_blob(&cfg_digest, MAX_JSON)?;
    let config = parse_config(&cfg_data)?;
    let layers = layer_records(&manifest, &config)?;
    for l in &layers {
        fetch(store, src, &l.digest)?;
        let size = std::fs::metadata(store.blob_path(&l.digest))
            .map_err(|e| ImageError::io(&store.blob_path(&l.digest), e))?
            .len();
        if size != l.size {
            return Err(invalid(format!(
                "layer {}: the manifest says {} bytes, the blob has {size}",
                l.digest, l.size
            )));
        }
        store.ensure_layer(l)?;
    }
    let rec = ImageRecord {
        id,
        config: cfg_digest,
        layers,
        imported: brig_runtime::sys::rfc3339_now(),
    };
    store.save_image(&rec)?;
    Ok(rec)
}

/// A rootfs tarball: stored as it is (one layer), with a config and a manifest
/// that brig writes, as `docker import` does.
fn import_rootfs(store: &ImageStore, src: &Path) -> Result<ImageRecord> {
    let f = File::open(src).map_err(|e| ImageError::io(src, e))?;
    let (digest, size) = store.put_blob(f, None)?;
    // The diff id: the sha256 of the uncompressed stream.
    let p = store.blob_path(&digest);
    let f = File::open(&p).map_err(|e| ImageError::io(&p, e))?;
    let mut r = BufReader::new(f);
    let head = std::io::BufRead::fill_buf(&mut r).map_err(|e| ImageError::io(&p, e))?;
    let compression = super::Compression::sniff(head);
    let diff = HashingReader::new(super::decompress(r).map_err(|e| ImageError::io(&p, e))?);
    let (diff_id, _) = diff
        .finish()
        .map_err(|e| invalid(format!("{}: cannot be decompressed: {e}", src.display())))?;
    let media_type = match compression {
        super::Compression::None => "application/vnd.oci.image.layer.v1.tar",
        super::Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        super::Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    };
    let layer = LayerRecord {
        digest: digest.clone(),
        diff_id: diff_id.clone(),
        size,
        media_type: media_type.to_string(),
    };
    store.ensure_layer(&layer)?;
    let now = brig_runtime::sys::rfc3339_now();
    let config = serde_json::json!({
        "created": now,
        "architecture": host_arch(),
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.as_str()]},
        "history": [{"created": now, "created_by": format!("brig image import {}", src.display()), "comment": "imported from a rootfs tarball"}],
    });
    let cfg_bytes = serde_json::to_vec(&config).map_err(|e| invalid(e.to_string()))?;
    let cfg_digest = store.put_bytes(&cfg_bytes)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cfg_digest.as_str(),
            "size": cfg_bytes.len(),
        },
        "layers": [{"mediaType": media_type, "digest": digest.as_str(), "size": size}],
    });
    let m_bytes = serde_json::to_vec(&manifest).map_err(|e| invalid(e.to_string()))?;
    let id = store.put_bytes(&m_bytes)?;
    let rec = ImageRecord {
        id,
        config: cfg_digest,
        layers: vec![layer],
        imported: now,
    };
    store.save_image(&rec)?;
    Ok(rec)
}

/// The config of an image, read (and checked) from the store.
pub fn image_config(store: &ImageStore, rec: &ImageRecord) -> Result<ImageConfiguration> {
    parse_config(&store.read_blob(&rec.config, MAX_JSON)?)
}

/// A layer, when it was made and what made it.
pub type HistoryRow = (LayerRecord, Option<String>, Option<String>);

/// `docker history`-like rows: for each layer, its digest, size and the
/// history entry that made it (if the config says).
pub fn history(store: &ImageStore, rec: &ImageRecord) -> Result<Vec<HistoryRow>> {
    let cfg = image_config(store, rec)?;
    let hist: Vec<_> = cfg
        .history()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|h| !h.empty_layer().unwrap_or(false))
        .collect();
    Ok(rec
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let h = hist.get(i);
            (
                l.clone(),
                h.and_then(|h| h.created().clone()),
                h.and_then(|h| h.created_by().clone().or_else(|| h.comment().clone())),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: serde_json::Value) -> ImageIndex {
        parse_index(
            serde_json::to_string(&serde_json::json!({"schemaVersion": 2, "manifests": entries}))
                .unwrap()
                .as_bytes(),
        )
        .unwrap()
    }

    fn entry(hex: char, platform: Option<(&str, &str)>, tag: Option<&str>) -> serde_json::Value {
        let mut e = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", hex.to_string().repeat(64)),
            "size": 1,
        });
        if let Some((os, arch)) = platform {
            e["platform"] = serde_json::json!({"os": os, "architecture": arch});
        }
        if let Some(t) = tag {
            e["annotations"] = serde_json::json!({REF_NAME: t});
        }
        e
    }

    #[test]
    fn the_manifest_for_this_platform_is_picked() {
        let other = if host_arch() == "arm64" {
            "amd64"
        } else {
            "arm64"
        };
        let i = index(serde_json::json!([
            entry('a', Some(("linux", other)), None),
            entry('b', Some(("linux", host_arch())), None),
            entry('c', Some(("windows", host_arch())), None),
        ]));
        let d = pick_manifest(&i, None).unwrap();
        assert!(d.digest().to_string().ends_with(&"b".repeat(64)));
    }

    #[test]
    fn several_tags_need_source_tag() {
        let i = index(serde_json::json!([
            entry('a', None, Some("v1")),
            entry('b', None, Some("v2")),
        ]));
        let e = pick_manifest(&i, None).unwrap_err().to_string();
        assert!(
            e.contains("--source-tag") && e.contains("v1") && e.contains("v2"),
            "{e}"
        );
        let d = pick_manifest(&i, Some("v2")).unwrap();
        assert!(d.digest().to_string().ends_with(&"b".repeat(64)));
        let e = pick_manifest(&i, Some("v3")).unwrap_err().to_string();
        assert!(e.contains("v3"), "{e}");
    }

    #[test]
    fn references_are_normalized_and_checked() {
        use crate::image::store::normalize_ref;
        assert_eq!(normalize_ref("busybox").unwrap(), "busybox:latest");
        assert_eq!(normalize_ref("a/b:1.0").unwrap(), "a/b:1.0");
        assert_eq!(normalize_ref("reg:5000/a").unwrap(), "reg:5000/a:latest");
        for bad in ["", "Busy", "a:", ":x", "-a", "a:b c", "a@b"] {
            assert!(normalize_ref(bad).is_err(), "{bad:?}");
        }
    }
}
