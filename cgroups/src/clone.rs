//! clone3(2) with CLONE_INTO_CGROUP: a new process that starts life in a
//! cgroup2 directory, so it never migrates there (and never waits for the RCU
//! grace period a migration through cgroup.procs costs). Used by the runtime's
//! process spawning and by the benches' cgroup-join experiment.

use std::os::fd::RawFd;

/// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2, Linux 5.7), the
/// same layout on every architecture.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Not in the libc crate as a u64 (it does not fit a c_int).
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3 with `flags` (CLONE_NEW* and the like) | CLONE_INTO_CGROUP into the
/// cgroup2 directory open as `cgroup_dir`, exit signal SIGCHLD. Fork-like (no
/// CLONE_VM, no new stack): returns 0 in the child and its pid in the parent.
/// Errors are the kernel's: ENOSYS or E2BIG before 5.7, EINVAL, EBUSY (a
/// threaded or domain-invalid cgroup), EAGAIN, EPERM.
///
/// As with fork(2), the child of a multi-threaded caller may only make
/// async-signal-safe calls before it execs or exits.
pub fn clone3_into_cgroup(flags: u64, cgroup_dir: RawFd) -> std::io::Result<i32> {
    let args = CloneArgs {
        flags: flags | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_dir as u64,
        ..CloneArgs::default()
    };
    // SAFETY: without CLONE_VM the child gets a copy of the caller's memory, as
    // with fork(2). `args` lives across the call and its size is passed with it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}
