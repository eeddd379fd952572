//! The uncompressed vmlinux inside a bzImage, as scripts/extract-vmlinux finds it.
//!
//! QEMU boots an ELF vmlinux that carries a PVH note directly (qboot + `-kernel vmlinux`),
//! which under TCG is several seconds faster than letting the bzImage decompress itself.
//! The setup header says where the compressed payload is (boot protocol 2.08+); when it
//! does not, every known compression magic is tried in turn, as extract-vmlinux does.

use crate::elf;
use anyhow::{bail, Context, Result};
use std::io::Read;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    fn sniff(b: &[u8]) -> Option<Compression> {
        if b.starts_with(&[0x1f, 0x8b, 0x08]) {
            Some(Compression::Gzip)
        } else if b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Compression::Xz)
        } else if b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    fn magic(self) -> &'static [u8] {
        match self {
            Compression::Gzip => &[0x1f, 0x8b, 0x08],
            Compression::Xz => &[0xfd, b'7', b'z', b'X', b'Z', 0],
            Compression::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
        }
    }

    /// Decompresses one stream (trailing bytes after it are ignored).
    pub fn decompress(self, b: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(b.len() * 4);
        match self {
            Compression::Gzip => {
                flate2::read::GzDecoder::new(b).read_to_end(&mut out)?;
            }
            Compression::Xz => xz_one_stream(b, &mut out)?,
            Compression::Zstd => {
                zstd::stream::read::Decoder::new(b)?
                    .single_frame()
                    .read_to_end(&mut out)?;
            }
        }
        Ok(out)
    }
}

/// Decodes one xz stream and stops at its end. (xz2's reader treats the kernel's trailing
/// 4-byte size as a corrupt second stream.)
fn xz_one_stream(b: &[u8], out: &mut Vec<u8>) -> Result<()> {
    use xz2::stream::{Action, Status, Stream};
    let mut s = Stream::new_stream_decoder(u64::MAX, 0)?;
    loop {
        if out.capacity() - out.len() < 1 << 16 {
            out.reserve(1 << 20);
        }
        let (in_before, out_before) = (s.total_in(), out.len());
        let input = &b[s.total_in() as usize..];
        match s.process_vec(input, out, Action::Run)? {
            Status::StreamEnd => return Ok(()),
            _ if s.total_in() == in_before && out.len() == out_before => {
                bail!("the xz stream is truncated")
            }
            _ => {}
        }
    }
}

/// Where the setup header says the compressed kernel is.
fn payload(b: &[u8]) -> Option<&[u8]> {
    if b.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let version = u16::from_le_bytes(b.get(0x206..0x208)?.try_into().ok()?);
    if version < 0x208 {
        return None;
    }
    let setup_sects = match *b.get(0x1f1)? {
        0 => 4,
        n => n as usize,
    };
    let off = u32::from_le_bytes(b.get(0x248..0x24c)?.try_into().ok()?) as usize;
    let len = u32::from_le_bytes(b.get(0x24c..0x250)?.try_into().ok()?) as usize;
    let start = (setup_sects + 1) * 512 + off;
    b.get(start..start + len)
}

/// Returns the ELF vmlinux from a bzImage (or the input itself when it already is one).
pub fn extract(image: &[u8]) -> Result<Vec<u8>> {
    if elf::is_elf64le(image) {
        return Ok(image.to_vec());
    }
    if let Some(p) = payload(image) {
        if let Some(c) = Compression::sniff(p) {
            let out = c
                .decompress(p)
                .with_context(|| format!("decompressing the {c:?} kernel payload"))?;
            if elf::is_elf64le(&out) {
                return Ok(out);
            }
        }
    }
    // extract-vmlinux's way: try every magic at every offset until an ELF comes out.
    for c in [Compression::Xz, Compression::Zstd, Compression::Gzip] {
        let magic = c.magic();
        let mut from = 0;
        while let Some(pos) = image[from..]
            .windows(magic.len())
            .position(|w| w == magic)
            .map(|p| p + from)
        {
            if let Ok(out) = c.decompress(&image[pos..]) {
                if elf::is_elf64le(&out) {
                    return Ok(out);
                }
            }
            from = pos + 1;
        }
    }
    bail!("no gzip, xz or zstd compressed ELF kernel found in the image")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A fake bzImage: setup header pointing at a compressed fake ELF, with trailing bytes.
    fn fake_bzimage(c: Compression, elf: &[u8]) -> Vec<u8> {
        let compressed = match c {
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), Default::default());
                e.write_all(elf).unwrap();
                e.finish().unwrap()
            }
            Compression::Xz => {
                let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
                e.write_all(elf).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(elf, 3).unwrap(),
        };
        let mut img = vec![0u8; 5 * 512];
        img[0x1f1] = 4;
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        img.extend_from_slice(&[0xaa; 100]); // code before the payload
        img[0x248..0x24c].copy_from_slice(&100u32.to_le_bytes());
        img[0x24c..0x250].copy_from_slice(&(compressed.len() as u32).to_le_bytes());
        img.extend_from_slice(&compressed);
        img.extend_from_slice(&[0x55; 37]); // trailing data (size, signature...)
        img
    }

    fn fake_elf() -> Vec<u8> {
        let mut e = b"\x7fELF\x02\x01\x01".to_vec();
        e.resize(4096, 7);
        e
    }

    #[test]
    fn every_compression_through_the_header() {
        for c in [Compression::Gzip, Compression::Xz, Compression::Zstd] {
            assert_eq!(extract(&fake_bzimage(c, &fake_elf())).unwrap(), fake_elf());
        }
    }

    #[test]
    fn magic_scan_without_the_header() {
        let mut img = fake_bzimage(Compression::Xz, &fake_elf());
        img[0x202..0x206].copy_from_slice(b"XXXX");
        assert_eq!(extract(&img).unwrap(), fake_elf());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(extract(&[0u8; 8192]).is_err());
    }
}
