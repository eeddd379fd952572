//! `image tag`, `image save` and `image load`: names, and images moved as
//! oci-archive tarballs (an OCI image layout in a tar, what `skopeo inspect
//! oci-archive:FILE`, `podman load` and `brig image load` read).
//!
//! A saved archive has one index.json entry per reference given, each
//! annotated with the full reference (`org.opencontainers.image.ref.name`,
//! as podman writes it, and containerd's `io.containerd.image.name`), and
//! every blob of those images once.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;

use serde_json::json;

use super::{msg, Engine, Result};
use crate::image::{self, store::normalize_ref, Digest, ImportFormat, ImportOptions};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

impl Engine {
    /// `image tag SOURCE TARGET`: give the image SOURCE names (a name, an id
    /// or an id prefix) the name TARGET too (moved from another image if it
    /// had it, as docker does).
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let _lock = self.images.lock()?;
        let img = self.images.resolve(source)?;
        let name = normalize_ref(target)?;
        let mut refs = self.images.refs()?;
        refs.insert(name, img.id.clone());
        self.images.save_refs(&refs)?;
        Ok(())
    }

    /// `image save`: the images as one oci-archive, written to `out`.
    pub fn save(&self, references: &[String], out: &mut dyn Write) -> Result<()> {
        if references.is_empty() {
            return Err(msg("image save: name at least one image"));
        }
        let _lock = self.images.lock()?;
        let mut entries = Vec::new();
        let mut blobs: Vec<Digest> = Vec::new();
        let mut seen = BTreeSet::new();
        for r in references {
            let img = self.images.resolve(r)?;
            // The name to write: the one given, or (given an id) the image's
            // first name, or none.
            let name = normalize_ref(r)
                .ok()
                .filter(|n| {
                    self.images.refs().ok().and_then(|m| m.get(n).cloned()) == Some(img.id.clone())
                })
                .or_else(|| self.images.names_of(&img.id).ok()?.into_iter().next());
            let manifest = self.images.read_blob(&img.id, image::import::MAX_JSON)?;
            let mut ann = serde_json::Map::new();
            if let Some(n) = &name {
                ann.insert(REF_NAME.into(), json!(n));
                ann.insert(CONTAINERD_NAME.into(), json!(n));
            }
            let mut e = json!({
                "mediaType": MANIFEST,
                "digest": img.id.as_str(),
                "size": manifest.len(),
            });
            if !ann.is_empty() {
                e["annotations"] = serde_json::Value::Object(ann);
            }
            entries.push(e);
            for d in std::iter::once(&img.id)
                .chain(std::iter::once(&img.config))
                .chain(img.layers.iter().map(|l| &l.digest))
            {
                if seen.insert(d.clone()) {
                    blobs.push(d.clone());
                }
            }
        }
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
        let index = serde_json::to_vec(&index).map_err(|e| msg(e.to_string()))?;
        let mut ar = tar::Builder::new(out);
        let werr = |e: std::io::Error| msg(format!("image save: writing the archive: {e}"));
        let add = |ar: &mut tar::Builder<&mut dyn Write>,
                   path: &str,
                   mode: u32,
                   size: u64,
                   data: &mut dyn Read|
         -> Result<()> {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(if size == u64::MAX {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            h.set_size(if size == u64::MAX { 0 } else { size });
            h.set_mode(mode);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            ar.append_data(&mut h, path, data).map_err(werr)
        };
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        add(
            &mut ar,
            "oci-layout",
            0o644,
            layout.len() as u64,
            &mut &layout[..],
        )?;
        add(
            &mut ar,
            "index.json",
            0o644,
            index.len() as u64,
            &mut &index[..],
        )?;
        add(&mut ar, "blobs/", 0o755, u64::MAX, &mut std::io::empty())?;
        add(
            &mut ar,
            "blobs/sha256/",
            0o755,
            u64::MAX,
            &mut std::io::empty(),
        )?;
        for d in &blobs {
            let p = self.images.blob_path(d);
            let f = std::fs::File::open(&p).map_err(|e| image::ImageError::io(&p, e))?;
            let size = f
                .metadata()
                .map_err(|e| image::ImageError::io(&p, e))?
                .len();
            // Checked as it is written: a blob corrupted in the store is not
            // passed on.
            let mut hr = image::HashingReader::new(f);
            add(
                &mut ar,
                &format!("blobs/sha256/{}", d.hex()),
                0o644,
                size,
                &mut hr,
            )?;
            let (got, _) = hr.finish().map_err(|e| image::ImageError::io(&p, e))?;
            if &got != d {
                return Err(image::ImageError::Corrupt {
                    digest: d.to_string(),
                    actual: got.to_string(),
                }
                .into());
            }
        }
        ar.into_inner().map_err(werr)?.flush().map_err(werr)?;
        Ok(())
    }

    /// `image load`: every image of an oci-archive, each under the name its
    /// index.json entry gives (`io.containerd.image.name`, or a full
    /// reference in `org.opencontainers.image.ref.name`). Returns the names.
    pub fn load(&self, file: &Path) -> Result<Vec<String>> {
        let f = std::fs::File::open(file).map_err(|e| image::ImageError::io(file, e))?;
        let mut ar = tar::Archive::new(std::io::BufReader::new(f));
        let bad = |e: std::io::Error| msg(format!("{}: not a tar file: {e}", file.display()));
        let mut index = None;
        for e in ar.entries().map_err(bad)? {
            let mut e = e.map_err(bad)?;
            let p = e.path_bytes().to_vec();
            if p == b"index.json" || p == b"./index.json" {
                let mut d = Vec::new();
                (&mut e)
                    .take(image::import::MAX_JSON + 1)
                    .read_to_end(&mut d)
                    .map_err(bad)?;
                index = Some(d);
                break;
            }
        }
        let index = index.ok_or_else(|| {
            msg(format!(
                "{}: no index.json: not an oci-archive (brig loads OCI archives; `brig image import FILE NAME` takes a rootfs tarball)",
                file.display()
            ))
        })?;
        let index = image::import::parse_index(&index)?;
        let mut jobs = Vec::new();
        for (i, m) in index.manifests().iter().enumerate() {
            let ann = m.annotations().clone().unwrap_or_default();
            let tag = ann.get(REF_NAME).cloned();
            let name = ann
                .get(CONTAINERD_NAME)
                .cloned()
                .or_else(|| tag.clone().filter(|t| t.contains('/') || t.contains(':')));
            let hint = tag
                .as_ref()
                .map(|t| format!(" --source-tag {t}"))
                .unwrap_or_default();
            let Some(name) = name else {
                return Err(msg(format!(
                    "{}: index.json manifest {i} has no image name ({REF_NAME} {tag:?}); import it with `brig image import {} NAME{}`",
                    file.display(),
                    file.display(),
                    hint
                )));
            };
            let name = name.strip_prefix("docker.io/library/").unwrap_or(&name);
            let name = normalize_ref(name)?;
            jobs.push((name, tag));
        }
        if jobs.is_empty() {
            return Err(msg(format!(
                "{}: index.json lists no image",
                file.display()
            )));
        }
        let mut out = Vec::new();
        for (name, tag) in jobs {
            image::import(
                &self.images,
                &ImportOptions {
                    source: file.to_path_buf(),
                    format: Some(ImportFormat::OciArchive),
                    source_tag: if index.manifests().len() > 1 {
                        tag
                    } else {
                        None
                    },
                    name: name.clone(),
                },
            )?;
            out.push(name);
        }
        Ok(out)
    }
}
