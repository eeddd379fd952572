//! OCI images: a content-addressed blob store, import of OCI layouts, oci-archive
//! tarballs and plain rootfs tarballs, safe layer unpacking, and overlay snapshots.
//!
//! Everything lives under one root (default /var/lib/brig, see `ImageStore`):
//! blobs by sha256 digest, one directory per unpacked layer (keyed by its diff
//! id, so every image that has the layer shares it), image records, and the
//! per-container snapshots of the `engine` front end. See docs/images.md.

pub mod import;
pub mod registry;
pub mod snapshot;
pub mod store;
pub mod unpack;

use std::path::{Path, PathBuf};

pub use import::{import, ImportFormat, ImportOptions};
pub use store::{ImageRecord, ImageStore, LayerRecord, StoreLock};
pub use unpack::{unpack_layer, UnpackError};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("blob {digest}: corrupt: its content hashes to {actual}; the blob is not used")]
    Corrupt { digest: String, actual: String },
    #[error("{0}")]
    BadDigest(String),
    #[error("layer {layer}: {source}")]
    Unpack {
        layer: String,
        #[source]
        source: UnpackError,
    },
    #[error("image {0:?}: no such image")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    InUse(String),
    #[error("{0}")]
    Registry(String),
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

impl ImageError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> ImageError {
    ImageError::Invalid(msg.into())
}

/// A sha256 digest, `sha256:` and 64 lowercase hex digits: the only algorithm
/// brig stores (every tool that writes OCI layouts uses it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Digest> {
        let Some(hex) = s.strip_prefix("sha256:") else {
            return Err(ImageError::BadDigest(format!(
                "digest {s:?}: brig supports sha256 digests only (sha256:<64 hex digits>)"
            )));
        };
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ImageError::BadDigest(format!(
                "digest {s:?}: not sha256:<64 lowercase hex digits>"
            )));
        }
        Ok(Digest(s.to_string()))
    }

    pub fn from_sha256(hash: &[u8]) -> Digest {
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        for b in hash {
            s.push_str(&format!("{b:02x}"));
        }
        Digest(s)
    }

    pub fn of(data: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest::from_sha256(&sha2::Sha256::digest(data))
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 12-digit short form that `image ls` shows.
    pub fn short(&self) -> &str {
        &self.0[7..19]
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    count: u64,
}

impl<R: std::io::Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        use sha2::Digest as _;
        HashingReader {
            inner,
            hasher: sha2::Sha256::new(),
            count: 0,
        }
    }

    /// Read what is left (a tar reader stops at the end-of-archive blocks, and
    /// the digest covers every byte), then return the digest and byte count.
    pub fn finish(mut self) -> std::io::Result<(Digest, u64)> {
        use sha2::Digest as _;
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok((Digest::from_sha256(&self.hasher.finalize()), self.count))
    }
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// What a layer stream is compressed with, from its first bytes (media types
/// lie often enough, and docker's differ from OCI's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A decompressing reader over `r`, by sniffing its first bytes.
pub fn decompress<'a, R: std::io::BufRead + 'a>(
    mut r: R,
) -> std::io::Result<Box<dyn std::io::Read + 'a>> {
    let head = r.fill_buf()?;
    Ok(match Compression::sniff(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    })
}
