//! Layer unpacking: one tar stream into one directory, never outside it.
//!
//! The rules (docs/images.md has the why):
//! - An entry's name is split into components. `.` and empty components are
//!   dropped; a `..` component or an absolute name is refused. The same holds
//!   for a hard link's target.
//! - Every directory on the way is opened relative to the one before with
//!   `O_NOFOLLOW | O_DIRECTORY`, starting from the layer directory's fd, so a
//!   symlink (absolute, relative, or a chain) is never followed: an entry below
//!   a symlink is refused. Missing parents are made (mode 0755), as tar does.
//! - The last component is made with the `*at` calls on the parent's fd, after
//!   removing whatever the layer put there before (so a file never writes
//!   through an earlier symlink or hard link). Hard links use `linkat` without
//!   `AT_SYMLINK_FOLLOW`.
//! - `.wh.NAME` becomes an overlay whiteout (a 0/0 character device), and
//!   `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory. Other
//!   `.wh..wh.` entries (aufs metadata) carry nothing for overlay and are skipped.
//!   Xattrs in the `trusted.overlay.` namespace are never taken from a tar: they
//!   would steer overlayfs itself.
//! - Ownership, modes (set after chown, so set-id bits stay), mtimes and xattrs
//!   come from the headers; directory mtimes are set last.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Why a layer was refused.
#[derive(Debug, thiserror::Error)]
#[error("entry {entry:?}: {msg}")]
pub struct UnpackError {
    pub entry: String,
    pub msg: String,
}

fn err(entry: &[u8], msg: impl Into<String>) -> UnpackError {
    UnpackError {
        entry: String::from_utf8_lossy(entry).into_owned(),
        msg: msg.into(),
    }
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const META_PREFIX: &[u8] = b".wh..wh.";

/// Unpack the tar stream `r` into `dest`, an existing directory that belongs to
/// this layer alone (an empty temporary directory). Returns the number of entries.
pub fn unpack_layer<R: Read>(r: R, dest: &Path) -> Result<u64, UnpackError> {
    let root = open_dir_path(dest).map_err(|e| err(b"", format!("{}: {e}", dest.display())))?;
    let mut ar = tar::Archive::new(r);
    let mut dir_times: Vec<(Vec<Vec<u8>>, i64, i64)> = Vec::new();
    let mut count = 0u64;
    let entries = ar
        .entries()
        .map_err(|e| err(b"", format!("not a tar stream: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| err(b"", format!("bad tar header: {e}")))?;
        let name = entry.path_bytes().into_owned();
        let comps = components(&name)?;
        unpack_entry(&root, &mut entry, &name, &comps, &mut dir_times)?;
        count += 1;
    }
    // Children change their directory's mtime: directories come last, deepest first.
    dir_times.sort_by_key(|(c, _, _)| std::cmp::Reverse(c.len()));
    for (comps, sec, nsec) in dir_times {
        let fd = if comps.is_empty() {
            dup(&root)
        } else {
            walk(&root, &comps, false).map_err(|e| err(&comps.join(&b'/'), e))?
        };
        set_times(fd.as_raw_fd(), None, sec, nsec)
            .map_err(|e| err(&comps.join(&b'/'), e.to_string()))?;
    }
    Ok(count)
}

/// The components of a tar name, refusing `..` and absolute names.
pub fn components(name: &[u8]) -> Result<Vec<Vec<u8>>, UnpackError> {
    if name.first() == Some(&b'/') {
        return Err(err(
            name,
            "absolute name: a layer may only name paths inside it",
        ));
    }
    if name.contains(&0) {
        return Err(err(name, "NUL byte in name"));
    }
    let mut out = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(err(
                    name,
                    "`..` in name: a layer may only name paths inside it",
                ))
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn cstr(b: &[u8]) -> CString {
    CString::new(b).expect("NUL refused by components()")
}

fn last_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn dup(fd: &OwnedFd) -> OwnedFd {
    fd.try_clone().expect("dup of a directory fd")
}

fn open_dir_path(p: &Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(p.as_os_str().as_bytes())?;
    open_dir_at(libc::AT_FDCWD, &c)
}

fn open_dir_at(dir: RawFd, name: &CString) -> std::io::Result<OwnedFd> {
    // SAFETY: a valid C string; the fd is checked.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last_err());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open the directory `comps` below `root`, one component at a time, never
/// following a symlink. With `create`, missing directories are made.
fn walk(root: &OwnedFd, comps: &[Vec<u8>], create: bool) -> Result<OwnedFd, String> {
    let mut cur = dup(root);
    for c in comps {
        let name = cstr(c);
        let next = match open_dir_at(cur.as_raw_fd(), &name) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                // SAFETY: valid fd and C string.
                if unsafe { libc::mkdirat(cur.as_raw_fd(), name.as_ptr(), 0o755) } != 0 {
                    let e = last_err();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(format!("mkdir {}: {e}", String::from_utf8_lossy(c)));
                    }
                }
                open_dir_at(cur.as_raw_fd(), &name)
            }
            r => r,
        };
        cur = next.map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => format!(
                "{} is a symlink or not a directory: brig never follows a symlink while unpacking",
                String::from_utf8_lossy(c)
            ),
            _ => format!("{}: {e}", String::from_utf8_lossy(c)),
        })?;
    }
    Ok(cur)
}

/// What is at `name` in `dir`, without following a symlink.
fn lstat_at(dir: RawFd, name: &CString) -> std::io::Result<libc::stat> {
    // SAFETY: an all-zero stat is valid; the pointers are valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r != 0 {
        return Err(last_err());
    }
    Ok(st)
}

/// Remove whatever `name` is in `dir` (a directory with its contents).
fn remove_at(dir: RawFd, name: &CString) -> std::io::Result<()> {
    // SAFETY: valid fd and C string.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let e = last_err();
    match e.raw_os_error() {
        Some(libc::ENOENT) => Ok(()),
        Some(libc::EISDIR) => {
            let sub = open_dir_at(dir, name)?;
            clear_dir(&sub)?;
            // SAFETY: valid fd and C string.
            if unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) } != 0 {
                return Err(last_err());
            }
            Ok(())
        }
        _ => Err(e),
    }
}

/// Remove every entry of the directory `fd`.
fn clear_dir(fd: &OwnedFd) -> std::io::Result<()> {
    let names = read_dir_names(fd)?;
    for n in names {
        remove_at(fd.as_raw_fd(), &n)?;
    }
    Ok(())
}

fn read_dir_names(fd: &OwnedFd) -> std::io::Result<Vec<CString>> {
    let own = dup(fd);
    // SAFETY: fdopendir takes the dup; closedir frees it.
    let d = unsafe { libc::fdopendir(own.as_raw_fd()) };
    if d.is_null() {
        return Err(last_err());
    }
    std::mem::forget(own);
    // SAFETY: rewind a fresh DIR (the fd offset is shared with the original).
    unsafe { libc::rewinddir(d) };
    let mut names = Vec::new();
    loop {
        // SAFETY: d is a valid DIR until closedir.
        let ent = unsafe { libc::readdir64(d) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        let b = name.to_bytes();
        if b != b"." && b != b".." {
            names.push(name.to_owned());
        }
    }
    // SAFETY: closes the DIR and its fd.
    unsafe { libc::closedir(d) };
    Ok(names)
}

/// Set atime and mtime on `fd` itself, or on `name` in the directory `fd`
/// without following it.
fn set_times(fd: RawFd, name: Option<&CString>, sec: i64, nsec: i64) -> std::io::Result<()> {
    let ts = [
        libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        },
        libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        },
    ];
    // SAFETY: valid pointers; a NULL name means fd itself (utimensat's futimens form).
    let r = unsafe {
        match name {
            Some(n) => libc::utimensat(fd, n.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW),
            None => libc::futimens(fd, ts.as_ptr()),
        }
    };
    if r != 0 {
        return Err(last_err());
    }
    Ok(())
}

struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    mtime_nsec: i64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

fn meta_of<R: Read>(entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<Meta, UnpackError> {
    let h = entry.header();
    let bad = |what: &str, e: std::io::Error| err(name, format!("bad {what} in header: {e}"));
    let mut m = Meta {
        uid: h.uid().map_err(|e| bad("uid", e))? as u32,
        gid: h.gid().map_err(|e| bad("gid", e))? as u32,
        mode: h.mode().map_err(|e| bad("mode", e))? & 0o7777,
        mtime: h.mtime().map_err(|e| bad("mtime", e))? as i64,
        mtime_nsec: 0,
        xattrs: Vec::new(),
    };
    if let Ok(Some(pax)) = entry.pax_extensions() {
        for ext in pax {
            let ext = ext.map_err(|e| err(name, format!("bad PAX header: {e}")))?;
            let key = ext.key_bytes();
            let value = ext.value_bytes();
            let num = || -> Result<u32, UnpackError> {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| err(name, "bad uid/gid in PAX header"))
            };
            match key {
                b"uid" => m.uid = num()?,
                b"gid" => m.gid = num()?,
                b"mtime" => {
                    let v = std::str::from_utf8(value).unwrap_or("");
                    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
                    m.mtime = s
                        .parse()
                        .map_err(|_| err(name, "bad mtime in PAX header"))?;
                    let frac: String = frac.chars().chain("000000000".chars()).take(9).collect();
                    m.mtime_nsec = frac.parse().unwrap_or(0);
                }
                _ => {
                    if let Some(x) = key.strip_prefix(b"SCHILY.xattr.") {
                        if x.starts_with(b"trusted.overlay.") || x.is_empty() || x.contains(&0) {
                            continue;
                        }
                        m.xattrs.push((cstr(x), value.to_vec()));
                    }
                }
            }
        }
    }
    Ok(m)
}

fn chown_at(dir: RawFd, name: &CString, m: &Meta) -> std::io::Result<()> {
    // SAFETY: valid fd and C string; no symlink is followed.
    if unsafe { libc::fchownat(dir, name.as_ptr(), m.uid, m.gid, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(last_err());
    }
    Ok(())
}

/// Xattrs on `name` in `dir` without following it: through the /proc path of
/// the directory fd, with lsetxattr (which does not follow the last component).
fn xattrs_at(dir: RawFd, name: &CString, m: &Meta) -> std::io::Result<()> {
    for (k, v) in &m.xattrs {
        let mut p = format!("/proc/self/fd/{dir}/").into_bytes();
        p.extend_from_slice(name.to_bytes());
        let p = cstr(&p);
        // SAFETY: valid C strings and buffer.
        let r = unsafe { libc::lsetxattr(p.as_ptr(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
        if r != 0 {
            return Err(last_err());
        }
    }
    Ok(())
}

fn fd_meta(fd: RawFd, m: &Meta) -> std::io::Result<()> {
    // SAFETY: fd is valid for the calls.
    unsafe {
        if libc::fchown(fd, m.uid, m.gid) != 0 || libc::fchmod(fd, m.mode) != 0 {
            return Err(last_err());
        }
        for (k, v) in &m.xattrs {
            if libc::fsetxattr(fd, k.as_ptr(), v.as_ptr().cast(), v.len(), 0) != 0 {
                return Err(last_err());
            }
        }
    }
    Ok(())
}

fn unpack_entry<R: Read>(
    root: &OwnedFd,
    entry: &mut tar::Entry<'_, R>,
    full: &[u8],
    comps: &[Vec<u8>],
    dir_times: &mut Vec<(Vec<Vec<u8>>, i64, i64)>,
) -> Result<(), UnpackError> {
    use tar::EntryType as T;
    let kind = entry.header().entry_type();
    let m = meta_of(entry, full)?;
    let e = |msg: String| err(full, msg);
    let io = |what: &str, x: std::io::Error| err(full, format!("{what}: {x}"));

    let Some((last, parents)) = comps.split_last() else {
        // The layer's root ("./"): its metadata only.
        if kind != T::Directory {
            return Err(e("the root of a layer must be a directory".into()));
        }
        fd_meta(root.as_raw_fd(), &m).map_err(|x| io("metadata", x))?;
        dir_times.push((Vec::new(), m.mtime, m.mtime_nsec));
        return Ok(());
    };
    let parent = walk(root, parents, true).map_err(e)?;
    let pfd = parent.as_raw_fd();

    // Whiteouts.
    if let Some(rest) = last.strip_prefix(WHITEOUT_PREFIX) {
        if last.as_slice() == OPAQUE {
            let (k, v) = (cstr(b"trusted.overlay.opaque"), b"y");
            // SAFETY: valid fd, C string and buffer.
            if unsafe { libc::fsetxattr(pfd, k.as_ptr(), v.as_ptr().cast(), 1, 0) } != 0 {
                return Err(io("opaque directory (trusted.overlay.opaque)", last_err()));
            }
            return Ok(());
        }
        if last.starts_with(META_PREFIX) {
            return Ok(());
        }
        if rest.is_empty() || rest == b"." || rest == b".." {
            return Err(e("whiteout of nothing".into()));
        }
        let target = cstr(rest);
        remove_at(pfd, &target).map_err(|x| io("remove before whiteout", x))?;
        // SAFETY: valid fd and C string; a 0/0 char device is overlay's whiteout.
        if unsafe { libc::mknodat(pfd, target.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) } != 0 {
            return Err(io("whiteout (mknod 0/0)", last_err()));
        }
        return Ok(());
    }

    let name = cstr(last);
    if kind == T::Directory {
        match lstat_at(pfd, &name) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
            Ok(_) => remove_at(pfd, &name).map_err(|x| io("replace", x))?,
            Err(_) => {}
        }
        // SAFETY: valid fd and C string.
        if unsafe { libc::mkdirat(pfd, name.as_ptr(), 0o700) } != 0 {
            let x = last_err();
            if x.raw_os_error() != Some(libc::EEXIST) {
                return Err(io("mkdir", x));
            }
        }
        let dir = open_dir_at(pfd, &name).map_err(|x| io("open", x))?;
        fd_meta(dir.as_raw_fd(), &m).map_err(|x| io("metadata", x))?;
        dir_times.push((comps.to_vec(), m.mtime, m.mtime_nsec));
        return Ok(());
    }

    // Anything else replaces what the layer put at this name before.
    remove_at(pfd, &name).map_err(|x| io("replace", x))?;
    match kind {
        T::GNUSparse => {
            return Err(e(
                "GNU sparse files are not supported (their holes could expand without bound)"
                    .into(),
            ))
        }
        T::Regular | T::Continuous => {
            // SAFETY: valid fd and C string; O_EXCL|O_NOFOLLOW: a fresh file only.
            let fd = unsafe {
                libc::openat(
                    pfd,
                    name.as_ptr(),
                    libc::O_WRONLY
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600,
                )
            };
            if fd < 0 {
                return Err(io("create", last_err()));
            }
            // SAFETY: a fresh fd we own.
            let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
            std::io::copy(entry, &mut f).map_err(|x| io("write", x))?;
            fd_meta(f.as_raw_fd(), &m).map_err(|x| io("metadata", x))?;
            set_times(f.as_raw_fd(), None, m.mtime, m.mtime_nsec).map_err(|x| io("mtime", x))?;
        }
        T::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| e("symlink without a target".into()))?;
            if target.is_empty() || target.contains(&0) {
                return Err(e("symlink with an empty or NUL target".into()));
            }
            let t = cstr(&target);
            // SAFETY: valid C strings and fd. The target is stored, never followed.
            if unsafe { libc::symlinkat(t.as_ptr(), pfd, name.as_ptr()) } != 0 {
                return Err(io("symlink", last_err()));
            }
            chown_at(pfd, &name, &m).map_err(|x| io("chown", x))?;
            xattrs_at(pfd, &name, &m).map_err(|x| io("xattr", x))?;
            set_times(pfd, Some(&name), m.mtime, m.mtime_nsec).map_err(|x| io("mtime", x))?;
        }
        T::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| e("hard link without a target".into()))?
                .into_owned();
            let tcomps = components(&target).map_err(|x| {
                e(format!(
                    "hard link target {:?}: {}",
                    String::from_utf8_lossy(&target),
                    x.msg
                ))
            })?;
            let Some((tlast, tparents)) = tcomps.split_last() else {
                return Err(e("hard link to the layer's root".into()));
            };
            let tdir =
                walk(root, tparents, false).map_err(|x| e(format!("hard link target: {x}")))?;
            let tname = cstr(tlast);
            // SAFETY: valid fds and C strings; flags 0: a symlink target is linked
            // itself, never followed.
            if unsafe { libc::linkat(tdir.as_raw_fd(), tname.as_ptr(), pfd, name.as_ptr(), 0) } != 0
            {
                return Err(io(
                    &format!(
                        "hard link to {:?} (it must be earlier in the same layer)",
                        String::from_utf8_lossy(&target)
                    ),
                    last_err(),
                ));
            }
        }
        T::Char | T::Block | T::Fifo => {
            let h = entry.header();
            let major = h.device_major().ok().flatten().unwrap_or(0);
            let minor = h.device_minor().ok().flatten().unwrap_or(0);
            let ty = match kind {
                T::Char => libc::S_IFCHR,
                T::Block => libc::S_IFBLK,
                _ => libc::S_IFIFO,
            };
            // SAFETY: valid fd and C string.
            let r = unsafe {
                libc::mknodat(pfd, name.as_ptr(), ty | 0o600, libc::makedev(major, minor))
            };
            if r != 0 {
                return Err(io("mknod", last_err()));
            }
            chown_at(pfd, &name, &m).map_err(|x| io("chown", x))?;
            // SAFETY: valid fd and C string; a device or fifo is no symlink.
            if unsafe { libc::fchmodat(pfd, name.as_ptr(), m.mode, 0) } != 0 {
                return Err(io("chmod", last_err()));
            }
            xattrs_at(pfd, &name, &m).map_err(|x| io("xattr", x))?;
            set_times(pfd, Some(&name), m.mtime, m.mtime_nsec).map_err(|x| io("mtime", x))?;
        }
        other => {
            return Err(e(format!(
                "unsupported tar entry type {:?}",
                other.as_byte() as char
            )))
        }
    }
    Ok(())
}

/// Remove a directory tree without following a symlink in it (for a temporary
/// layer dir that may hold anything a hostile layer put there).
pub fn remove_tree(path: &Path) -> std::io::Result<()> {
    let fd = match open_dir_path(path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        r => r?,
    };
    clear_dir(&fd)?;
    drop(fd);
    std::fs::remove_dir(path)
}
