//! Small file helpers over cgroupfs, each error naming the path it is about.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::{CgroupError, Result};

pub(crate) fn io_err(path: impl Into<PathBuf>, source: io::Error) -> CgroupError {
    CgroupError::Io {
        path: path.into(),
        source,
    }
}

pub(crate) fn read(path: &Path) -> Result<String> {
    read_proc(path).map_err(|e| io_err(path, e))
}

/// Read a /proc or cgroupfs file whole. They report a size of 0, so
/// `fs::read_to_string` starts at 32 bytes and doubles: /proc/self/mountinfo
/// took 8 reads, each a walk of the seq_file. One 8 KiB buffer reads most in one.
pub fn read_proc(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut s = String::with_capacity(8192);
    fs::File::open(path)?.read_to_string(&mut s)?;
    Ok(s)
}

/// `None` when the file does not exist (a controller file this kernel lacks).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match read_proc(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

/// cgroupfs wants a value in one write and never creates files, so no O_CREAT
/// (which would turn a missing file into EACCES instead of ENOENT). O_TRUNC is
/// a no-op there and keeps plain files in tests exact.
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(value.as_bytes())
}

pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    write_raw(path, value).map_err(|e| io_err(path, e))
}

/// Write a resource value, turning a kernel refusal into an error that names the
/// OCI field: a missing file means the host lacks the knob (`Unsupported`),
/// anything else is the kernel rejecting the value.
pub(crate) fn write_field(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    let path = dir.join(file);
    match write_raw(&path, value) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if dir.is_dir() {
                Err(CgroupError::Unsupported {
                    field: field.to_owned(),
                    why: format!("{} does not exist on this kernel", path.display()),
                })
            } else {
                Err(io_err(dir, e))
            }
        }
        Err(e) => Err(CgroupError::InvalidResource {
            field: field.to_owned(),
            msg: format!("writing {value:?} to {}: {e}", path.display()),
        }),
    }
}

/// A flat `key value` file (cpu.stat, memory.stat, memory.events, cgroup.events).
pub(crate) fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

/// Sleeps growing from 100µs to 10ms, so short waits stay short.
pub(crate) struct Backoff {
    delay: Duration,
    deadline: Instant,
}

impl Backoff {
    pub(crate) fn new(timeout: Duration) -> Self {
        Backoff {
            delay: Duration::from_micros(100),
            deadline: Instant::now() + timeout,
        }
    }

    /// Sleep once; false when the deadline has passed.
    pub(crate) fn wait(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        std::thread::sleep(self.delay.min(self.deadline - now));
        self.delay = (self.delay * 2).min(Duration::from_millis(10));
        true
    }
}

pub(crate) fn timed_out(path: &Path, what: &str, timeout: Duration) -> CgroupError {
    io_err(
        path,
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} within {timeout:?}"),
        ),
    )
}

fn parse_pids(path: &Path, text: &str, out: &mut Vec<i32>) -> Result<()> {
    for line in text.lines().filter(|l| !l.is_empty()) {
        let pid = line.trim().parse().map_err(|_| {
            io_err(
                path,
                io::Error::new(io::ErrorKind::InvalidData, format!("bad pid {line:?}")),
            )
        })?;
        out.push(pid);
    }
    Ok(())
}

/// Pids in `dir` and every cgroup below it. A missing dir has none.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    match read_opt(&procs)? {
        Some(text) => parse_pids(&procs, &text, out)?,
        None => return Ok(()),
    }
    for sub in child_dirs(dir)? {
        procs_recursive(&sub, out)?;
    }
    Ok(())
}

fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let ft = entry.file_type().map_err(|e| io_err(entry.path(), e))?;
        if ft.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

pub(crate) fn kill_all(pids: &[i32]) {
    for &pid in pids {
        // ESRCH: it exited on its own, which is what we want anyway.
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// rmdir `dir` and its child cgroups, deepest first. A cgroup whose last task
/// has just died can report EBUSY for a moment, so retry until the deadline.
pub(crate) fn remove_tree(dir: &Path, timeout: Duration) -> Result<()> {
    for sub in child_dirs(dir)? {
        remove_tree(&sub, timeout)?;
    }
    let mut backoff = Backoff::new(timeout);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if !backoff.wait() {
                    return Err(io_err(dir, e));
                }
            }
            Err(e) => return Err(io_err(dir, e)),
        }
    }
}

/// rmdir `dir` and its child cgroups, deepest first, if no process is in any
/// of them; no signal, no freezer. `Ok(false)` as soon as one is busy (a
/// process is still inside, or one has only just left): the caller then falls
/// back to killing what is inside and [`remove_tree`]. The common case, a
/// container whose processes are all gone, costs one rmdir and no directory
/// listing.
pub(crate) fn try_remove_tree(dir: &Path) -> Result<bool> {
    let rmdir = |d: &Path| match fs::remove_dir(d) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        // cgroupfs says EBUSY for children and for processes alike; a plain
        // directory (tests) says ENOTEMPTY for children.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => Ok(false),
        Err(e) => Err(io_err(d, e)),
    };
    if rmdir(dir)? {
        return Ok(true);
    }
    // Busy: child cgroups, or processes. Only the first can be dealt with here.
    let subs = child_dirs(dir)?;
    if subs.is_empty() {
        return Ok(false);
    }
    for sub in subs {
        if !try_remove_tree(&sub)? {
            return Ok(false);
        }
    }
    rmdir(dir)
}

/// `mkdir -p`, calling `created` for each directory this call made, parents first.
pub(crate) fn create_dirs(
    root: &Path,
    dir: &Path,
    mut created: impl FnMut(&Path, &Path, bool) -> Result<()>,
) -> Result<()> {
    let rel = dir.strip_prefix(root).map_err(|_| {
        io_err(
            dir,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not below the hierarchy root {}", root.display()),
            ),
        )
    })?;
    let mut cur = root.to_path_buf();
    for comp in rel.components() {
        let parent = cur.clone();
        cur.push(comp);
        let made = match fs::create_dir(&cur) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io_err(&cur, e)),
        };
        created(&parent, &cur, made)?;
    }
    Ok(())
}

/// cgroup.procs (and, for v1, `tasks`) of one cgroup, prepared up front so
/// that joining needs no allocation: the runtime calls it in a forked child,
/// before exec.
#[derive(Debug, Clone)]
pub(crate) struct ProcsFile {
    path: CString,
    tasks: CString,
}

fn c_path(p: PathBuf) -> Result<CString> {
    CString::new(p.into_os_string().into_vec()).map_err(|_| CgroupError::InvalidResource {
        field: "linux.cgroupsPath".into(),
        msg: "contains a NUL byte".into(),
    })
}

impl ProcsFile {
    pub(crate) fn new(dir: &Path) -> Result<Self> {
        Ok(ProcsFile {
            path: c_path(dir.join("cgroup.procs"))?,
            tasks: c_path(dir.join("tasks"))?,
        })
    }

    /// Move process `pid` (0: the caller's whole thread group) through
    /// cgroup.procs.
    pub(crate) fn add(&self, pid: i32) -> Result<()> {
        let mut buf = [0u8; 12];
        let digits = format_pid(pid, &mut buf).ok_or_else(|| CgroupError::InvalidResource {
            field: "pid".into(),
            msg: format!("{pid} is not a process id"),
        })?;
        write_c(&self.path, digits)
    }

    /// Move the calling thread alone, through a v1 hierarchy's `tasks` file.
    ///
    /// Moving a whole process (cgroup.procs) takes the kernel's global
    /// cgroup_threadgroup_rwsem for writing, which first waits for an RCU grace
    /// period unless another migration ran within the last one: 5-16 ms on an
    /// idle host, the largest single cost of a container start. The kernel skips
    /// that lock when a thread moves itself alone (pid 0 written to `tasks`). For
    /// a single-threaded caller that is the same move as cgroup.procs; with more
    /// threads it would leave the others behind, so only
    /// [`crate::CgroupManager::join_new_process`] calls this.
    pub(crate) fn add_self_thread(&self) -> Result<()> {
        write_c(&self.tasks, b"0")
    }
}

/// One write of `value` to the cgroup file at `path`, without allocating.
fn write_c(path: &CString, value: &[u8]) -> Result<()> {
    let name = || PathBuf::from(OsStr::from_bytes(path.to_bytes()));
    let fd = nix::fcntl::open(
        path.as_c_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(name(), e.into()))?;
    loop {
        match nix::unistd::write(&fd, value) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io_err(name(), e.into())),
        }
    }
}

/// Decimal digits of a non-negative pid, into a stack buffer.
fn format_pid(pid: i32, buf: &mut [u8; 12]) -> Option<&[u8]> {
    if pid < 0 {
        return None;
    }
    let mut n = pid as u32;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Some(&buf[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_digits() {
        let mut b = [0u8; 12];
        assert_eq!(format_pid(0, &mut b).unwrap(), b"0");
        assert_eq!(format_pid(4194304, &mut b).unwrap(), b"4194304");
        assert_eq!(format_pid(i32::MAX, &mut b).unwrap(), b"2147483647");
        assert!(format_pid(-1, &mut b).is_none());
    }

    #[test]
    fn flat_keyed_files() {
        let t = "usage_usec 10\nnr_throttled 3\nthrottled_usec 99\n";
        assert_eq!(flat_keyed(t, "nr_throttled"), Some(3));
        assert_eq!(flat_keyed(t, "nr_periods"), None);
    }

    #[test]
    fn write_field_names_the_field() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write_field(
            tmp.path(),
            "memory.max",
            "1",
            "linux.resources.memory.limit",
        )
        .unwrap_err();
        assert!(
            matches!(&err, CgroupError::Unsupported { field, .. } if field == "linux.resources.memory.limit"),
            "{err}"
        );
        std::fs::write(tmp.path().join("memory.max"), "").unwrap();
        write_field(tmp.path(), "memory.max", "1", "x").unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("memory.max")).unwrap(),
            "1"
        );
    }

    #[test]
    fn try_remove_tree_removes_nested_empty_dirs() {
        // The busy case needs a real cgroup: see tests/lifecycle.rs.
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("c");
        fs::create_dir_all(d.join("a/b")).unwrap();
        assert!(try_remove_tree(&d).unwrap());
        assert!(!d.exists());
        assert!(try_remove_tree(&d).unwrap(), "a missing dir is removed");
    }

    #[test]
    fn procs_file_appends_to_an_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cgroup.procs"), "").unwrap();
        ProcsFile::new(tmp.path()).unwrap().add(42).unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("cgroup.procs")).unwrap(),
            "42"
        );
        std::fs::write(tmp.path().join("tasks"), "").unwrap();
        ProcsFile::new(tmp.path())
            .unwrap()
            .add_self_thread()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("tasks")).unwrap(),
            "0"
        );
        let missing = ProcsFile::new(&tmp.path().join("nope")).unwrap();
        assert!(matches!(
            missing.add_self_thread(),
            Err(CgroupError::Io { path, .. }) if path.ends_with("nope/tasks")
        ));
        assert!(matches!(missing.add(1), Err(CgroupError::Io { .. })));
    }
}
