//! The last steps before the user's program runs, shared by the container init
//! and `exec`: rlimits, cwd, the program lookup, credentials, and the execve.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use oci_spec::runtime::Process;

use std::os::fd::OwnedFd;

use crate::security;
use crate::security::seccomp::{self, Program};

pub(super) fn step<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// The program, argv and envp, resolved and checked before anything irreversible.
pub(super) struct Prepared {
    program: CString,
    args: Vec<CString>,
    env: Vec<CString>,
}

fn cstrings(field: &str, v: Option<&Vec<String>>) -> Result<Vec<CString>, String> {
    v.into_iter()
        .flatten()
        .map(|s| CString::new(s.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{field}: NUL byte in an entry"))
}

/// rlimits, I/O priority, scheduler, the working directory (made if missing, as runc does), and
/// the program lookup in the container's PATH: everything that needs root.
pub(super) fn prepare(process: &Process) -> Result<Prepared, String> {
    if let Some(rl) = process.rlimits() {
        step("rlimits", security::set_rlimits(rl))?;
    }
    if let Some(io) = process.io_priority() {
        step("ioPriority", security::sched::set_io_priority(io))?;
    }
    if let Some(s) = process.scheduler() {
        step("scheduler", security::sched::set_scheduler(s))?;
    }
    let cwd = process.cwd();
    if !cwd.exists() {
        step("process.cwd", std::fs::create_dir_all(cwd))?;
    }
    step("process.cwd", nix::unistd::chdir(cwd))?;
    let env = cstrings("process.env", process.env().as_ref())?;
    let args = cstrings("process.args", process.args().as_ref())?;
    let arg0 = args.first().ok_or("process.args: empty")?;
    let program = find_program(
        &arg0.to_string_lossy(),
        process.env().as_deref().unwrap_or(&[]),
    )
    .map_err(|e| format!("process.args[0]: {e}"))?;
    Ok(Prepared { program, args, env })
}

/// Become the container's user with its capabilities, umask and no_new_privs.
///
/// The seccomp filter needs CAP_SYS_ADMIN unless no_new_privs is set: without
/// no_new_privs it goes in here, before the capabilities drop (as runc does);
/// with it, here too when it has a NOTIFY listener (whose fd must reach the
/// agent before `create` returns), and otherwise at the exec, as late as can be.
/// Returns the listener fd, if the filter has one.
pub(super) fn set_credentials(
    process: &Process,
    seccomp: Option<&Program>,
) -> Result<Option<OwnedFd>, String> {
    let nnp = process.no_new_privileges().unwrap_or(false);
    let mut listener = None;
    if let (Some(p), false) = (seccomp, nnp) {
        listener = step("linux.seccomp", seccomp::load(p))?;
    }
    let caps = process.capabilities().as_ref();
    if let Some(c) = caps {
        step("capabilities", security::drop_bounding(c))?;
    }
    step("user", security::switch_user(process))?;
    if let Some(c) = caps {
        step("capabilities", security::set_capabilities(c))?;
    }
    let umask = process.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(Mode::from_bits_truncate(umask));
    if nnp {
        step("noNewPrivileges", security::set_no_new_privs())?;
        if let Some(p) = seccomp.filter(|p| p.has_listener()) {
            listener = step("linux.seccomp", seccomp::load(p))?;
        }
    }
    Ok(listener)
}

/// The filter still to load at the exec: the one `set_credentials` left.
pub(super) fn late_seccomp<'a>(
    process: &Process,
    seccomp: Option<&'a Program>,
) -> Option<&'a Program> {
    let nnp = process.no_new_privileges().unwrap_or(false);
    seccomp.filter(|p| nnp && !p.has_listener())
}

/// Exec the program with only stdio and the preserved fds open, no signal
/// blocked, and the seccomp filter `late` (if any) loaded last. Returns only on
/// failure.
pub(super) fn exec(p: &Prepared, preserve_fds: i32, late: Option<&Program>) -> String {
    if let Err(e) = step("fds", crate::sys::cloexec_from(3 + preserve_fds)) {
        return e;
    }
    if let Err(e) = step(
        "signal mask",
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None),
    ) {
        return e;
    }
    if let Some(prog) = late {
        if let Err(e) = step("linux.seccomp", seccomp::load(prog)) {
            return e;
        }
    }
    let e = nix::unistd::execve(&p.program, &p.args, &p.env).unwrap_err();
    format!("exec {}: {e}", p.program.to_string_lossy())
}

/// Resolve the program the way execvp would, with the container's PATH, so that
/// a missing program fails `create` instead of the exec after `start`.
fn find_program(arg0: &str, env: &[String]) -> Result<CString, String> {
    let executable =
        |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && p.is_file();
    if arg0.contains('/') {
        if !executable(Path::new(arg0)) {
            return Err(format!("{arg0:?}: no such executable"));
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
