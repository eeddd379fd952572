//! The few host-side system calls the suite makes itself, kept in one place.

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// Whether a process exists and has not exited. A zombie (exited, not yet reaped by whoever
/// inherited it) counts as gone.
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let exists = pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || errno() == libc::EPERM);
    exists && !is_zombie(pid)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until `pid` (not necessarily our child) has exited, up to `timeout`. A pidfd becomes
/// readable when the process exits, so no polling is needed. Returns false on timeout.
pub async fn wait_pid_exit(pid: i32, timeout: Duration) -> std::io::Result<bool> {
    let fd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(true),
        Err(e) => return Err(e),
    };
    // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and the same for the
    // AsyncFd's whole life.
    let afd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    match tokio::time::timeout(timeout, afd.readable()).await {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            // A last look, for kernels that report exit only to waiters.
            Ok(!pid_alive(pid))
        }
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Mounts an overlay on the host, as an engine would.
pub fn mount_overlay(
    lower: &[&std::path::Path],
    upper: &std::path::Path,
    work: &std::path::Path,
    target: &std::path::Path,
) -> nix::Result<()> {
    let lowers: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
}

/// Unmounts lazily (a mount busy because of a leaked process must still go away).
pub fn unmount(target: &std::path::Path) -> nix::Result<()> {
    nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH)
}

/// Mount points on the host at or under `prefix`.
pub fn host_mounts_under(prefix: &std::path::Path) -> Vec<String> {
    let p = prefix.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|mp| mp == &p || mp.starts_with(&format!("{p}/")))
        .collect()
}

/// Creates a SysV shared memory segment on the host; it is removed by [`shm_remove`].
pub fn shm_create(key: i32) -> std::io::Result<i32> {
    // SAFETY: shmget takes no pointers.
    let id = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(id)
}

pub fn shm_remove(id: i32) {
    // SAFETY: IPC_RMID takes no buffer.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
}

/// Host SysV shm keys.
pub fn host_shm_keys() -> Vec<i64> {
    std::fs::read_to_string("/proc/sysvipc/shm")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The inode of one of our own namespaces.
pub fn own_ns(kind: &str) -> Option<u64> {
    ns_of(&format!("/proc/self/ns/{kind}"))
}

/// The inode of a namespace link such as /proc/123/ns/net.
pub fn ns_of(link: &str) -> Option<u64> {
    let t = std::fs::read_link(link).ok()?;
    let s = t.to_string_lossy();
    s.rsplit_once('[')?.1.trim_end_matches(']').parse().ok()
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads an extended attribute (no symlink following); `None` if absent.
pub fn lgetxattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated and buf has the length we pass.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}
