//! COPY and ADD into a mounted snapshot: files keep their mode and mtime;
//! their owner is `--chown`'s, else 0:0 from the context (docker sends the
//! context with ids reset) or the source's own from another stage. A
//! destination path resolves inside the rootfs (its symlinks too); an entry
//! in the way of a new one is replaced, never followed.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

/// uid and gid for every copied entry, or None to keep the source's.
pub type Owner = Option<(u32, u32)>;

fn cstr(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in a path"))
}

fn lchown(p: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    let c = cstr(p)?;
    // SAFETY: a valid C string.
    if unsafe { libc::lchown(c.as_ptr(), uid, gid) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn set_mtime(p: &Path, m: &std::fs::Metadata) -> std::io::Result<()> {
    let c = cstr(p)?;
    let t = libc::timespec {
        tv_sec: m.mtime(),
        tv_nsec: m.mtime_nsec(),
    };
    let ts = [t, t];
    // SAFETY: a valid C string and two timespecs.
    if unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn remove_non_dir(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn ids(m: &std::fs::Metadata, owner: Owner) -> (u32, u32) {
    owner.unwrap_or((m.uid(), m.gid()))
}

/// Make `dir` (a resolved host path inside the rootfs) and its missing
/// parents, 0755, owned by `owner` (root's by default): as buildah, the dirs
/// a `COPY --chown` makes are the user's too.
pub fn mkdir_p(dir: &Path, owner: Owner) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(p) = dir.parent() {
        mkdir_p(p, owner)?;
    }
    remove_non_dir(dir)?;
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => Ok(()),
        Ok(()) => {
            let (uid, gid) = owner.unwrap_or((0, 0));
            lchown(dir, uid, gid)
        }
    }
}

/// Copy the entry `src` (not followed if a symlink) to `dst` (a host path
/// whose parent exists and is resolved), recursively, with the entries
/// below it that `keep` accepts.
pub fn copy_entry(
    src: &Path,
    dst: &Path,
    owner: Owner,
    keep: &mut dyn FnMut(&Path) -> bool,
) -> std::io::Result<()> {
    let m = std::fs::symlink_metadata(src)?;
    let (uid, gid) = ids(&m, owner);
    let ft = m.file_type();
    if ft.is_dir() {
        let existed = std::fs::symlink_metadata(dst).is_ok_and(|d| d.is_dir());
        if !existed {
            remove_non_dir(dst)?;
            std::fs::create_dir(dst)?;
        }
        lchown(dst, uid, gid)?;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        copy_dir_filtered(src, dst, owner, keep)?;
        set_mtime(dst, &m)?;
    } else if ft.is_symlink() {
        if std::fs::symlink_metadata(dst).is_ok_and(|d| d.is_dir()) {
            return Err(std::io::Error::other(format!(
                "{}: a directory is in the way of a symlink",
                dst.display()
            )));
        }
        remove_non_dir(dst)?;
        std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)?;
        lchown(dst, uid, gid)?;
        set_mtime(dst, &m)?;
    } else if ft.is_file() {
        if std::fs::symlink_metadata(dst).is_ok_and(|d| d.is_dir()) {
            return Err(std::io::Error::other(format!(
                "{}: a directory is in the way of a file",
                dst.display()
            )));
        }
        remove_non_dir(dst)?;
        let mut from = std::fs::File::open(src)?;
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(dst)?;
        std::io::copy(&mut from, &mut to)?;
        std::os::unix::fs::fchown(&to, Some(uid), Some(gid))?;
        // After the chown, which clears set-id bits.
        to.set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        drop(to);
        set_mtime(dst, &m)?;
    } else {
        return Err(std::io::Error::other(format!(
            "{}: a device, fifo or socket: COPY takes files, dirs and symlinks only",
            src.display()
        )));
    }
    Ok(())
}

use std::os::unix::fs::PermissionsExt;

/// Copy what is in the dir `src` into the existing dir `dst`: the entries
/// `keep` accepts (given their host path), at every level.
pub fn copy_dir_filtered(
    src: &Path,
    dst: &Path,
    owner: Owner,
    keep: &mut dyn FnMut(&Path) -> bool,
) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(src)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for n in names {
        let s = src.join(&n);
        if !keep(&s) {
            continue;
        }
        copy_entry(&s, &dst.join(&n), owner, keep)?;
    }
    Ok(())
}

/// A content hash of a tree (paths, types, modes, owners, sizes, contents,
/// link targets; not mtimes, as docker's cache checksum), for the build cache.
pub fn hash_tree(
    p: &Path,
    rel: &str,
    h: &mut sha2::Sha256,
    keep: &mut dyn FnMut(&Path) -> bool,
    with_owner: bool,
) -> std::io::Result<()> {
    let m = std::fs::symlink_metadata(p)?;
    h.update(format!("{rel}\0{:o}\0", m.mode()).as_bytes());
    if with_owner {
        h.update(format!("{}:{}\0", m.uid(), m.gid()).as_bytes());
    }
    let ft = m.file_type();
    if ft.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(p)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for n in names {
            let c = p.join(&n);
            if keep(&c) {
                hash_tree(
                    &c,
                    &format!("{rel}/{}", n.to_string_lossy()),
                    h,
                    keep,
                    with_owner,
                )?;
            }
        }
    } else if ft.is_symlink() {
        h.update(std::fs::read_link(p)?.as_os_str().as_bytes());
    } else if ft.is_file() {
        let mut f = std::fs::File::open(p)?;
        let mut buf = vec![0u8; 64 << 10];
        h.update(m.len().to_le_bytes());
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    h.update(b"\n");
    Ok(())
}

/// Whether `p` is a tar archive (plain, gzip or zstd): what ADD extracts.
pub fn is_tar(p: &Path) -> bool {
    let Ok(f) = std::fs::File::open(p) else {
        return false;
    };
    let Ok(mut r) = crate::image::decompress(std::io::BufReader::new(f)) else {
        return false;
    };
    let mut head = [0u8; 512];
    if r.read_exact(&mut head).is_err() {
        return false;
    }
    &head[257..262] == b"ustar"
}

/// Extract the tar `p` into the dir `dst` (owners and modes as the archive
/// says, as docker's ADD does).
pub fn extract_tar(p: &Path, dst: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(p)?;
    let r = crate::image::decompress(std::io::BufReader::new(f))?;
    let mut a = tar::Archive::new(r);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.set_preserve_mtime(true);
    a.set_overwrite(true);
    a.set_unpack_xattrs(false);
    a.unpack(dst)
}

/// The path `p` (absolute, in the container) resolved inside `root`.
pub fn in_root(root: &Path, p: &str) -> PathBuf {
    brig_runtime::rootfs::mounts::secure_join(root, Path::new(p))
}
