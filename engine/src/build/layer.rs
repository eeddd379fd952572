//! A snapshot's upper dir as an OCI layer tar: overlayfs whiteouts (char
//! devices 0:0) become `.wh.NAME` files, opaque dirs (xattr
//! `trusted.overlay.opaque=y`) get a `.wh..wh..opq` entry, hard links within
//! the layer stay links. overlayfs' own xattrs are not copied (no xattrs are:
//! brig's layers carry none).

use std::collections::HashMap;
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Whether overlayfs marked the dir `p` opaque.
pub fn is_opaque(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 8];
    for name in [
        &b"trusted.overlay.opaque\0"[..],
        &b"user.overlay.opaque\0"[..],
    ] {
        // SAFETY: valid C strings and a buffer of its stated size.
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                name.as_ptr().cast(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n == 1 && buf[0] == b'y' {
            return true;
        }
    }
    false
}

fn header(m: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(m.mode() & 0o7777);
    h.set_uid(m.uid().into());
    h.set_gid(m.gid().into());
    h.set_mtime(m.mtime().max(0) as u64);
    h.set_size(0);
    h
}

/// Write the tar of the upper dir `upper` to `out`. Returns the number of
/// entries.
pub fn write_layer<W: Write>(upper: &Path, out: W) -> std::io::Result<usize> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut n = 0;
    walk(upper, "", &mut b, &mut links, &mut n)?;
    b.into_inner()?.flush()?;
    Ok(n)
}

fn walk<W: Write>(
    dir: &Path,
    prefix: &str,
    b: &mut tar::Builder<W>,
    links: &mut HashMap<(u64, u64), String>,
    n: &mut usize,
) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let p = dir.join(&name);
        let name = name.to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        let m = std::fs::symlink_metadata(&p)?;
        let ft = m.file_type();
        *n += 1;
        if ft.is_char_device() && m.rdev() == 0 {
            let mut h = header(&m, tar::EntryType::Regular);
            h.set_mode(0o644);
            b.append_data(&mut h, format!("{prefix}.wh.{name}"), std::io::empty())?;
        } else if ft.is_dir() {
            let mut h = header(&m, tar::EntryType::Directory);
            b.append_data(&mut h, format!("{rel}/"), std::io::empty())?;
            if is_opaque(&p) {
                let mut h = header(&m, tar::EntryType::Regular);
                h.set_mode(0o644);
                b.append_data(&mut h, format!("{rel}/.wh..wh..opq"), std::io::empty())?;
            }
            walk(&p, &format!("{rel}/"), b, links, n)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&p)?;
            let mut h = header(&m, tar::EntryType::Symlink);
            b.append_link(&mut h, &rel, &target)?;
        } else if ft.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = links.get(&(m.dev(), m.ino())) {
                    let mut h = header(&m, tar::EntryType::Link);
                    b.append_link(&mut h, &rel, first)?;
                    continue;
                }
                links.insert((m.dev(), m.ino()), rel.clone());
            }
            let mut h = header(&m, tar::EntryType::Regular);
            h.set_size(m.len());
            let f = std::fs::File::open(&p)?;
            b.append_data(&mut h, &rel, f)?;
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else if ft.is_fifo() {
                tar::EntryType::Fifo
            } else {
                // A socket: tar has no type for it (docker skips them too).
                continue;
            };
            let mut h = header(&m, kind);
            let rdev = m.rdev();
            h.set_device_major(libc::major(rdev))?;
            h.set_device_minor(libc::minor(rdev))?;
            b.append_data(&mut h, &rel, std::io::empty())?;
        }
    }
    Ok(())
}
