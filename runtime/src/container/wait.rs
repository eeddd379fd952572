//! Waiting in the foreground: `run` (create, start, wait, delete, as `runc run`
//! does) and the relay of signals to the container's process.

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::{create, CreateOptions};
use super::store::Store;
use super::{delete, start, ContainerError};
use crate::process::exit_code;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOutcome {
    /// The container's exit status, or 128+n when signal n killed it.
    pub exit_code: i32,
}

/// Run `f` with every signal blocked that brig relays (all but its own faults),
/// so that none is lost between the spawn and the wait.
pub(super) fn with_signals_blocked<T>(
    f: impl FnOnce(&SigSet) -> Result<T, ContainerError>,
) -> Result<T, ContainerError> {
    let mut set = SigSet::all();
    for sig in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGABRT,
        Signal::SIGTRAP,
    ] {
        set.remove(sig);
    }
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
        .map_err(|e| ContainerError::Other(format!("sigprocmask: {e}")))?;
    let result = f(&set);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

/// Forward every signal to `pid` until it exits; its exit status (128+n for signal n).
pub(super) fn relay_until_exit(pid: i32, set: &SigSet) -> Result<i32, ContainerError> {
    loop {
        let sig = set
            .wait()
            .map_err(|e| ContainerError::Other(format!("sigwait: {e}")))?;
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
            continue;
        }
        if let Some(code) = reap(pid) {
            return Ok(code);
        }
    }
}

pub fn run_foreground(
    store: &Store,
    id: &str,
    opts: &CreateOptions,
) -> Result<RunOutcome, ContainerError> {
    // The init may be a grandchild (user namespaces): be its reaper all the same.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| ContainerError::Other(format!("prctl: {e}")))?;
    with_signals_blocked(|set| {
        let created = create(store, id, opts)?;
        if let Err(e) = start(store, id) {
            let _ = delete(store, id, true);
            return Err(e);
        }
        let exit_code = relay_until_exit(created.state.pid, set)?;
        delete(store, id, true)?;
        Ok(RunOutcome { exit_code })
    })
}

/// Reap every exited child; the exit status of `pid` if it was among them.
fn reap(pid: i32) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(st) if st.pid() == Some(Pid::from_raw(pid)) => result = exit_code(st),
            Ok(_) => {}
        }
    }
}
