//! Small system helpers, and the raw libc calls nix has no wrapper for, kept in one place.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Replace `path` whole or not at all: write `.NAME.tmp` beside it, then
/// swap it in ([`replace_file`]; a reader sees the old file or the new one). With
/// `sync`, the data is fsynced before the rename, for files that must survive
/// a power loss (image and network records on /var/lib); without, for what
/// describes processes a power loss ends anyway (state, pid files). The temp
/// file is removed on failure.
pub fn write_atomic(path: &std::path::Path, data: &[u8], sync: bool) -> io::Result<()> {
    replace_file(path, data, sync, 0o666)
}

/// Write `data` to `path` through a temp file (`.NAME.tmp`, made with
/// `mode` less the umask), swapped in atomically: a reader sees the old or
/// the new file, never part of one. `sync` also fsyncs the new file first.
///
/// The swap is `renameat2(RENAME_EXCHANGE)`, then the temp name (now the old
/// file) is unlinked. A plain rename over an existing file makes ext4
/// (auto_da_alloc, on by default) start writeback of the new file at once;
/// then every later replace and the final unlink wait for that I/O: 0.3-2.8
/// ms per container state on this project's hosts, where /run is on the root
/// disk (docs/benchmarks.md, "where the time goes"). An exchange leaves both
/// files' data in the page cache, and the unlink of a file never written back
/// costs no I/O. With no file yet, or on a filesystem without
/// RENAME_EXCHANGE, it is a plain rename.
pub fn replace_file(path: &std::path::Path, data: &[u8], sync: bool, mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let r = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        if sync {
            f.sync_all()?;
        }
        drop(f);
        let cwd = nix::fcntl::AT_FDCWD;
        let exchange = nix::fcntl::RenameFlags::RENAME_EXCHANGE;
        match nix::fcntl::renameat2(cwd, &tmp, cwd, path, exchange) {
            // The temp name holds the old file now; a leftover (a crash right
            // here) is truncated by the next write.
            Ok(()) => std::fs::remove_file(&tmp),
            Err(nix::Error::ENOENT | nix::Error::EINVAL) => std::fs::rename(&tmp, path),
            Err(e) => Err(e.into()),
        }
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// pidfd_open(2).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with two integer arguments; the result is a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// runc's `--pidfd-socket`: a pidfd of `pid` to the unix socket at `path`
/// (SCM_RIGHTS, with the name "pidfd"), for a caller that waits for or
/// signals the process without the races of a pid.
pub fn send_pidfd_to_socket(path: &std::path::Path, pid: i32) -> io::Result<()> {
    let fd = pidfd_open(pid)?;
    send_fd_to_socket(path, b"pidfd", &fd)
}

/// Connect to the unix socket at `path` and send `fd` with `name` as the
/// message, as runc's utils.SendFile does (and its --console-socket).
pub fn send_fd_to_socket(path: &std::path::Path, name: &[u8], fd: &OwnedFd) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let sock = std::os::unix::net::UnixStream::connect(path)?;
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[io::IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// Wait until the pidfd's process exits, or the timeout passes. True when it exited.
pub fn wait_pidfd(fd: &OwnedFd, timeout: Option<Duration>) -> io::Result<bool> {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(n > 0);
    }
}

/// Wait for a child with an optional timeout. `None` when it timed out.
pub fn wait_child_timeout(
    child: &mut Child,
    timeout: Option<Duration>,
) -> io::Result<Option<ExitStatus>> {
    if let Some(t) = timeout {
        let fd = pidfd_open(child.id() as i32)?;
        if !wait_pidfd(&fd, Some(t))? {
            return Ok(None);
        }
    }
    child.wait().map(Some)
}

/// The `struct mount_attr` of mount_setattr(2) (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) with AT_RECURSIVE: set and clear MOUNT_ATTR_* flags on the
/// mount at `path` and every mount under it. ENOSYS on kernels before 5.12.
pub fn mount_setattr_recursive(path: &std::path::Path, set: u64, clear: u64) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a NUL-terminated path and a live struct of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            (libc::AT_RECURSIVE | libc::AT_NO_AUTOMOUNT) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path`
/// (with every mount under it when `recursive`), as an fd that move_mount(2)
/// attaches elsewhere, in another mount namespace too. Opened by the caller's
/// credentials: a path the later user of the fd could not walk is fine.
pub fn open_tree_clone(path: &std::path::Path, recursive: bool) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: a NUL-terminated path; the result is a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// move_mount(2) of a detached tree (from [`open_tree_clone`]) onto `target`.
pub fn move_mount_fd(tree: &OwnedFd, target: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
    let c = std::ffi::CString::new(target.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a live fd, an empty C string and a NUL-terminated path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What /proc/PID/stat says about a process: its state letter and start time
/// (clock ticks since boot), which tell a live process from a reused pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = brig_cgroups::read_proc(format!("/proc/{pid}/stat").as_ref()).ok()?;
    parse_proc_stat(&text)
}

/// Parse /proc/PID/stat. The command name may hold spaces and parens, so split
/// after the last ')'.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is the state; start time is field 22, so 19 more after it.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// The time now, as RFC 3339 in UTC with nanoseconds, the format of runc's `created`.
pub fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, dd) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Mark every fd from `from` up close-on-exec, so that exec passes only stdio and
/// the preserved fds.
pub fn cloexec_from(from: i32) -> io::Result<()> {
    // SAFETY: close_range only changes flags of fds in the range.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            from as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// [`cloexec_from`], async-signal-safe (for a pre_exec closure): where the
/// kernel has no CLOSE_RANGE_CLOEXEC (before 5.11), each fd from `from` to
/// `upto` is marked with fcntl instead.
pub fn cloexec_from_upto(from: i32, upto: i32) -> io::Result<()> {
    if cloexec_from(from).is_ok() {
        return Ok(());
    }
    for fd in from..=upto {
        // SAFETY: fcntl on an fd number; EBADF for one that is not open is fine.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_handles_odd_command_names() {
        let s = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(
            parse_proc_stat(s),
            Some(ProcStat {
                state: 'S',
                start_time: 123456
            })
        );
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn own_stat_is_readable() {
        let me = proc_stat(std::process::id() as i32).unwrap();
        assert!(me.state == 'R' || me.state == 'S');
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_210_096, 5);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.000000005Z");
    }
}
