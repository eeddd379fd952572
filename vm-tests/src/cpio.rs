//! A writer for the `newc` cpio format, the one the kernel unpacks as an initramfs.
//!
//! Each entry is a 110-byte ASCII header (`070701` and 13 fields of 8 hex digits), the name with
//! its NUL, padding to 4 bytes, then the data padded to 4 bytes. The archive ends with an entry
//! named `TRAILER!!!`. Parent directories are added on demand, so callers only name files.

use std::collections::BTreeSet;
use std::io::{self, Write};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
    dirs: BTreeSet<String>,
    names: BTreeSet<String>,
}

/// Normalises an archive path: no leading `/`, no empty or `.` components; `..` is refused.
fn norm(path: &str) -> io::Result<String> {
    let mut parts = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cpio path {path:?} contains .."),
                ))
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cpio path {path:?} is empty"),
        ));
    }
    Ok(parts.join("/"))
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            written: 0,
            next_ino: 1,
            dirs: BTreeSet::new(),
            names: BTreeSet::new(),
        }
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.out.write_all(&[0u8; 3][..n])?;
        self.written += n as u64;
        Ok(())
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            u32::try_from(data.len()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} is larger than 4 GiB"),
                )
            })?,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        let mut header = String::with_capacity(110);
        header.push_str("070701");
        for f in fields {
            header.push_str(&format!("{f:08x}"));
        }
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.written += header.len() as u64 + name.len() as u64 + 1;
        self.pad()?;
        self.out.write_all(data)?;
        self.written += data.len() as u64;
        self.pad()
    }

    /// Adds the parent directories of `name` that are not in the archive yet (mode 0755).
    fn parents(&mut self, name: &str) -> io::Result<()> {
        let mut prefix = String::new();
        let comps: Vec<&str> = name.split('/').collect();
        for c in &comps[..comps.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            if !self.dirs.contains(&prefix) {
                self.dirs.insert(prefix.clone());
                self.names.insert(prefix.clone());
                let p = prefix.clone();
                self.entry(&p, S_IFDIR | 0o755, (0, 0), &[])?;
            }
        }
        Ok(())
    }

    fn claim(&mut self, name: &str) -> io::Result<()> {
        if !self.names.insert(name.to_string()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{name} is already in the archive"),
            ));
        }
        Ok(())
    }

    pub fn dir(&mut self, path: &str, perm: u32) -> io::Result<()> {
        let name = norm(path)?;
        if self.dirs.contains(&name) {
            return Ok(());
        }
        self.parents(&name)?;
        self.claim(&name)?;
        self.dirs.insert(name.clone());
        self.entry(&name, S_IFDIR | (perm & 0o7777), (0, 0), &[])
    }

    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        let name = norm(path)?;
        self.parents(&name)?;
        self.claim(&name)?;
        self.entry(&name, S_IFREG | (perm & 0o7777), (0, 0), data)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        let name = norm(path)?;
        self.parents(&name)?;
        self.claim(&name)?;
        self.entry(&name, S_IFLNK | 0o777, (0, 0), target.as_bytes())
    }

    pub fn char_device(&mut self, path: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        let name = norm(path)?;
        self.parents(&name)?;
        self.claim(&name)?;
        self.entry(&name, S_IFCHR | (perm & 0o7777), (major, minor), &[])
    }

    /// Whether `path` is already in the archive.
    pub fn contains(&self, path: &str) -> bool {
        norm(path).is_ok_and(|n| self.names.contains(&n))
    }

    /// Writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One entry read back from a newc archive (used by the tests).
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub rdev: (u32, u32),
    pub data: Vec<u8>,
}

/// Parses a newc archive up to its trailer.
pub fn read_all(mut b: &[u8]) -> io::Result<Vec<Entry>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let total = b.len();
    let mut out = Vec::new();
    loop {
        if b.len() < 110 || &b[..6] != b"070701" {
            return Err(bad("bad cpio header magic"));
        }
        let field = |i: usize| -> io::Result<u32> {
            let s = std::str::from_utf8(&b[6 + i * 8..14 + i * 8]).map_err(|_| bad("hex"))?;
            u32::from_str_radix(s, 16).map_err(|_| bad("hex"))
        };
        let mode = field(1)?;
        let size = field(6)? as usize;
        let rdev = (field(9)?, field(10)?);
        let namesize = field(11)? as usize;
        let pos = total - b.len();
        let name_end = 110 + namesize;
        let data_start = (pos + name_end).div_ceil(4) * 4 - pos;
        let data_end = data_start + size;
        let next = (pos + data_end).div_ceil(4) * 4 - pos;
        if b.len() < data_end || namesize == 0 {
            return Err(bad("truncated cpio entry"));
        }
        let name = String::from_utf8_lossy(&b[110..name_end - 1]).into_owned();
        if name == "TRAILER!!!" {
            return Ok(out);
        }
        out.push(Entry {
            name,
            mode,
            rdev,
            data: b[data_start..data_end].to_vec(),
        });
        b = &b[next.min(b.len())..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_parents_and_padding() {
        let mut w = CpioWriter::new(Vec::new());
        w.file("/bin/busybox", 0o755, b"abcde").unwrap();
        w.symlink("bin/sh", "busybox").unwrap();
        w.dir("/tmp", 0o1777).unwrap();
        w.char_device("dev/console", 0o600, 5, 1).unwrap();
        w.file("etc/x", 0o644, b"").unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let e = read_all(&bytes).unwrap();
        let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/busybox",
                "bin/sh",
                "tmp",
                "dev",
                "dev/console",
                "etc",
                "etc/x"
            ]
        );
        assert_eq!(e[1].data, b"abcde");
        assert_eq!(e[1].mode, S_IFREG | 0o755);
        assert_eq!(e[2].data, b"busybox");
        assert_eq!(e[2].mode & 0o170000, S_IFLNK);
        assert_eq!(e[3].mode, S_IFDIR | 0o1777);
        assert_eq!(e[5].rdev, (5, 1));
    }

    #[test]
    fn duplicates_and_dotdot_are_refused() {
        let mut w = CpioWriter::new(Vec::new());
        w.file("a/b", 0o644, b"1").unwrap();
        assert!(w.file("/a/b", 0o644, b"2").is_err());
        assert!(w.file("a/../c", 0o644, b"2").is_err());
        assert!(w.contains("/a/b"));
        assert!(w.contains("a"));
    }

    /// busybox's cpio reads what we write (when a busybox is installed).
    #[test]
    fn busybox_cpio_lists_it() {
        let bb = std::path::Path::new("/bin/busybox");
        if !bb.exists() {
            eprintln!("SKIPPED busybox_cpio_lists_it: no /bin/busybox");
            return;
        }
        let mut w = CpioWriter::new(Vec::new());
        w.file("x/y/z", 0o644, b"hello").unwrap();
        w.symlink("x/l", "y/z").unwrap();
        let bytes = w.finish().unwrap();
        let mut child = std::process::Command::new(bb)
            .args(["cpio", "-t"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let listed = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            listed.lines().collect::<Vec<_>>(),
            ["x", "x/y", "x/y/z", "x/l"]
        );
    }
}
