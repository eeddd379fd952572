//! The seccomp(2) calls: load a program, probe what the kernel supports. nix has
//! no wrapper for seccomp(2), so these are the module's only raw libc calls.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use serde_json::{json, Value};

use super::{ret, Program, SeccompError};
use super::{FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC, FLAG_WAIT_KILLABLE_RECV};

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;

/// Install the filter on the calling thread (and, with SECCOMP_FILTER_FLAG_TSYNC,
/// on its other threads). Returns the user-notification listener when the
/// program has SCMP_ACT_NOTIFY rules.
///
/// The kernel takes a filter from a thread with no_new_privs set, or with
/// CAP_SYS_ADMIN in its user namespace. So call it after no_new_privs when
/// process.noNewPrivileges is true (as late as possible, right before execve),
/// and before capabilities are dropped when it is false (as runc does). Every
/// syscall made after it, execve included, goes through the filter.
pub fn load(p: &Program) -> Result<Option<OwnedFd>, SeccompError> {
    let insns = p.instructions();
    let prog = libc::sock_fprog {
        len: insns.len() as libc::c_ushort,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `insns`, a live slice of repr(C) instructions laid
    // out as struct sock_filter; the kernel copies it before returning.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            p.flags() as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        let why = match e.raw_os_error() {
            Some(libc::EACCES) => format!(
                "{e}: without no_new_privs, loading a filter needs CAP_SYS_ADMIN \
                 (load it before dropping capabilities, or set process.noNewPrivileges)"
            ),
            Some(libc::EINVAL) => format!(
                "{e}: the kernel refused the filter or its flags {:#x}",
                p.flags()
            ),
            Some(libc::ESRCH) => format!("{e}: another thread could not be synchronized (TSYNC)"),
            _ => e.to_string(),
        };
        return Err(SeccompError::Load(why));
    }
    if p.has_listener() {
        // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns a new fd.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }));
    }
    if r > 0 {
        return Err(SeccompError::Load(format!(
            "thread {r} could not be synchronized (SECCOMP_FILTER_FLAG_TSYNC)"
        )));
    }
    Ok(None)
}

/// The kernel knows this action (SECCOMP_GET_ACTION_AVAIL).
fn action_available(action: u32) -> bool {
    // SAFETY: the kernel reads one u32 from the pointer.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_ulong,
            &action as *const u32,
        ) == 0
    }
}

/// The kernel knows these filter flags: with a NULL program it fails with EFAULT
/// after accepting the flags, and with EINVAL when it does not know one. No
/// filter is installed either way.
fn flags_available(flags: u32) -> bool {
    // SAFETY: a NULL program pointer is never dereferenced by us; the kernel
    // copies from it with copy_from_user and fails with EFAULT.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// The "linux.seccomp" object of `brig features`: what this build compiles and
/// what the running kernel takes.
pub fn features() -> Value {
    let actions: Vec<&str> = [
        ("SCMP_ACT_ALLOW", ret::ALLOW),
        ("SCMP_ACT_ERRNO", ret::ERRNO),
        ("SCMP_ACT_KILL", ret::KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", ret::KILL_PROCESS),
        ("SCMP_ACT_KILL_THREAD", ret::KILL_THREAD),
        ("SCMP_ACT_LOG", ret::LOG),
        ("SCMP_ACT_NOTIFY", ret::USER_NOTIF),
        ("SCMP_ACT_TRACE", ret::TRACE),
        ("SCMP_ACT_TRAP", ret::TRAP),
    ]
    .into_iter()
    .filter(|(_, v)| action_available(*v))
    .map(|(n, _)| n)
    .collect();
    let known = [
        ("SECCOMP_FILTER_FLAG_TSYNC", FLAG_TSYNC),
        ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", FLAG_SPEC_ALLOW),
        ("SECCOMP_FILTER_FLAG_LOG", FLAG_LOG),
        (
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            FLAG_WAIT_KILLABLE_RECV | FLAG_NEW_LISTENER,
        ),
    ];
    let supported: Vec<&str> = known
        .iter()
        .filter(|(_, f)| flags_available(*f))
        .map(|(n, _)| *n)
        .collect();
    json!({
        "enabled": true,
        "actions": actions,
        "operators": [
            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
            "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
        ],
        "archs": ["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
        "knownFlags": known.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "supportedFlags": supported,
    })
}
