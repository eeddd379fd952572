//! The last steps before the user's program runs, shared by the container init
//! and `exec`: rlimits, cwd, the program lookup, credentials, and the execve.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::Mode;

use std::os::fd::AsFd;

use super::message::InitError;
use crate::security;
use crate::security::seccomp::{self, Program};
use crate::spec::ProcessPlan;

pub(super) fn step<T, E: std::fmt::Display + 'static>(
    what: &str,
    r: Result<T, E>,
) -> Result<T, InitError> {
    r.map_err(|e| InitError::at(what, e))
}

/// Make the process a session leader (with or without a terminal), then,
/// unless `keyring` is None, join the session keyring of that name, as runc
/// does for the init and for each exec'd process.
///
/// The new session: the container has no controlling terminal of the
/// caller's to open as /dev/tty (ENXIO) and push input into with TIOCSTI
/// (CVE-2016-7545), and a signal to the caller's process group does not
/// reach it. A terminal container gets its own pty as controlling terminal
/// afterwards (terminal::setup_in_container).
///
/// The keyring: a new anonymous session keyring `_ses.<id>`, so that the
/// container does not possess the caller's session keyring (and its keys).
/// Its user gets search permission, as runc gives it, so that an exec'd
/// process, joining by the same name, finds the container's keyring rather
/// than making another one. A kernel without keyrings (ENOSYS) is no error.
pub(super) fn new_session(keyring: Option<&str>) -> Result<(), InitError> {
    step("setsid", nix::unistd::setsid())?;
    join_session_keyring(keyring).map_err(InitError::from)
}

fn join_session_keyring(keyring: Option<&str>) -> Result<(), String> {
    let Some(name) = keyring else {
        return Ok(());
    };
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    const KEYCTL_SETPERM: libc::c_long = 5;
    const KEYCTL_DESCRIBE: libc::c_long = 6;
    const KEY_USR_SEARCH: u32 = 0x0008_0000;
    let err = |what: &str| {
        format!(
            "session keyring {name:?}: {what}: {}",
            std::io::Error::last_os_error()
        )
    };
    let cname = CString::new(name).map_err(|_| format!("session keyring {name:?}: NUL byte"))?;
    // SAFETY: keyctl(2) with a NUL-terminated name.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            cname.as_ptr(),
        )
    };
    if id < 0 {
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            return Ok(());
        }
        return Err(err("join"));
    }
    // "type;uid;gid;perm;description", perm in hex.
    let mut buf = [0u8; 512];
    // SAFETY: keyctl(2) writing at most buf.len() bytes into buf.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            id,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(err("describe"));
    }
    let text = String::from_utf8_lossy(&buf[..(n as usize).min(buf.len())]).into_owned();
    let perm = text
        .split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p.trim_end_matches('\0'), 16).ok())
        .ok_or_else(|| format!("session keyring {name:?}: describe: {text:?}"))?;
    // SAFETY: keyctl(2) with integer arguments.
    if unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, id, perm | KEY_USR_SEARCH) } < 0 {
        return Err(err("setperm"));
    }
    Ok(())
}

/// The program, argv and envp, resolved and checked before anything
/// irreversible, with the NULL-terminated pointer arrays execve takes built
/// ahead: nothing may allocate between the seccomp load and the execve (a
/// profile may deny mmap or brk).
pub(super) struct Prepared {
    program: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

fn cstrings(field: &str, v: Option<&Vec<String>>) -> Result<Vec<CString>, String> {
    v.into_iter()
        .flatten()
        .map(|s| CString::new(s.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{field}: NUL byte in an entry"))
}

fn pointers(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// rlimits, I/O priority, scheduler, the working directory (made if missing, as runc does),
/// HOME, and the program lookup in the container's PATH: everything that needs root.
/// `create_cwd`: make a missing cwd (the init); an exec'd process fails
/// instead, as with runc: exec does not change the container's files.
pub(super) fn prepare(plan: &ProcessPlan, create_cwd: bool) -> Result<Prepared, InitError> {
    if !plan.rlimits.is_empty() {
        step("rlimits", security::set_rlimits(&plan.rlimits))?;
    }
    if let Some(io) = plan.ioprio {
        step("ioPriority", security::sched::set_io_priority(io))?;
    }
    if let Some(s) = &plan.sched {
        step("scheduler", security::sched::set_scheduler(s))?;
    }
    let cwd = &plan.cwd;
    if create_cwd && !cwd.exists() {
        step("process.cwd", std::fs::create_dir_all(cwd))?;
    }
    step(
        &format!("process.cwd {:?}: chdir", cwd.display().to_string()),
        nix::unistd::chdir(cwd),
    )?;
    let mut env_list = plan.env.clone().unwrap_or_default();
    if !env_list.iter().any(|e| e.starts_with("HOME=")) {
        // As runc: the user's home from the container's /etc/passwd, else "/".
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let home = passwd_home(&passwd, plan.user.uid()).unwrap_or("/");
        env_list.push(format!("HOME={home}"));
    }
    let env = cstrings("process.env", Some(&env_list))?;
    let args = cstrings("process.args", Some(&plan.args))?;
    let arg0 = args.first().ok_or("process.args: empty")?;
    let program = find_program(&arg0.to_string_lossy(), &env_list)
        .map_err(|e| format!("process.args[0]: {e}"))?;
    let (argv, envp) = (pointers(&args), pointers(&env));
    Ok(Prepared {
        program,
        args,
        env,
        argv,
        envp,
    })
}

/// The home directory of the first passwd(5) entry with `uid`.
fn passwd_home(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && !f[0].starts_with(['#', '+', '-']) && f[2].parse() == Ok(uid))
            .then_some(f[5])
            .filter(|h| !h.is_empty())
    })
}

/// Become the container's user with its capabilities, umask and no_new_privs:
/// everything but the seccomp filter, which [`exec`] loads right before the
/// execve.
///
/// Without no_new_privs the kernel takes a filter only from a thread with
/// CAP_SYS_ADMIN, so then CAP_SYS_ADMIN stays in the effective and permitted
/// sets until the execve, which drops it (see [`security::set_capabilities`]):
/// no capset or setuid comes after the load, where a profile could deny it.
pub(super) fn set_credentials(
    plan: &ProcessPlan,
    seccomp: Option<&Program>,
) -> Result<(), InitError> {
    let nnp = plan.no_new_privileges;
    let caps = plan.capabilities.as_ref();
    if let Some(c) = caps {
        step("capabilities", security::drop_bounding(c))?;
    }
    step("user", security::switch_user(&plan.user))?;
    let keep = (seccomp.is_some() && !nnp).then_some(caps::Capability::CAP_SYS_ADMIN);
    match caps {
        Some(c) => step("capabilities", security::set_capabilities(c, keep))?,
        None if keep.is_some() => {
            // No capabilities object: the user switch left what it left, and
            // only a non-root user lost CAP_SYS_ADMIN from effective.
            step(
                "capabilities",
                caps::raise(
                    None,
                    caps::CapSet::Effective,
                    caps::Capability::CAP_SYS_ADMIN,
                ),
            )?;
        }
        None => {}
    }
    let umask = plan.user.umask().unwrap_or(0o022);
    nix::sys::stat::umask(Mode::from_bits_truncate(umask));
    if nnp {
        step("noNewPrivileges", security::set_no_new_privs())?;
    }
    Ok(())
}

/// Where a SCMP_ACT_NOTIFY listener goes: a socket connected to the seccomp
/// agent (opened early, while linux.seccomp.listenerPath could be reached
/// from the runtime's mount namespace), and the message built in advance.
pub(super) struct Agent {
    pub sock: std::os::unix::net::UnixStream,
    pub message: Vec<u8>,
}

/// Exec the program with only stdio and the preserved fds open and no signal
/// blocked. The seccomp filter goes in last: after it, the only syscalls are
/// the handover of its listener to the agent (sendmsg) and the execve itself.
/// Returns only on failure.
pub(super) fn exec(
    p: &Prepared,
    preserve_fds: i32,
    seccomp: Option<&Program>,
    agent: Option<&Agent>,
) -> InitError {
    if let Err(e) = step("fds", crate::sys::cloexec_from(3 + preserve_fds)) {
        return e;
    }
    if let Err(e) = step(
        "signal mask",
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None),
    ) {
        return e;
    }
    if let Some(prog) = seccomp {
        if prog.has_listener() && agent.is_none() {
            return InitError::at(
                "linux.seccomp",
                "a SCMP_ACT_NOTIFY rule needs a listenerPath",
            );
        }
        // The listener is close-on-exec (the kernel makes it so): it never
        // reaches the program, and the agent's socket neither.
        let listener = match seccomp::load(prog) {
            Ok(l) => l,
            Err(e) => return InitError::at("linux.seccomp", e),
        };
        if let (Some(l), Some(a)) = (&listener, agent) {
            if let Err(e) = seccomp::hand_over(a.sock.as_fd(), l.as_fd(), &a.message) {
                return InitError::at("linux.seccomp.listenerPath", format!("send: {e}"));
            }
        }
        // Kept open until the execve: closing it would be a syscall.
        std::mem::forget(listener);
    }
    // SAFETY: NUL-terminated strings and NULL-terminated pointer arrays that
    // `p` owns, built before the filter was loaded.
    unsafe { libc::execve(p.program.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr()) };
    let e = std::io::Error::last_os_error();
    let _ = (&p.args, &p.env);
    InitError::at(&format!("exec {}", p.program.to_string_lossy()), e)
}

/// Resolve the program the way execvp would, with the container's PATH, so that
/// a missing program fails `create` instead of the exec after `start`.
fn find_program(arg0: &str, env: &[String]) -> Result<CString, String> {
    let executable =
        |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && p.is_file();
    if arg0.contains('/') {
        let p = Path::new(arg0);
        if !executable(p) {
            // A file that is there but cannot be run is told apart from a
            // missing one (docker's exit codes 126 and 127 follow from it).
            return Err(match std::fs::metadata(p) {
                Ok(m) if m.is_dir() => format!("{arg0:?}: is a directory: cannot be invoked"),
                Ok(_) => format!("{arg0:?}: not executable (permission denied): cannot be invoked"),
                Err(_) => format!("{arg0:?}: no such executable"),
            });
        }
        return CString::new(arg0).map_err(|e| e.to_string());
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(arg0);
        if executable(&p) {
            return CString::new(p.as_os_str().as_bytes()).map_err(|e| e.to_string());
        }
    }
    Err(format!("{arg0:?}: executable file not found in $PATH"))
}
