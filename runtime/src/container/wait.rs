//! `run` in the foreground: create, start, relay signals to the container, wait
//! for its exit, and delete it, as `runc run` does.

use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::{create, CreateOptions};
use super::store::Store;
use super::{delete, start, ContainerError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOutcome {
    /// The container's exit status, or 128+n when signal n killed it.
    pub exit_code: i32,
}

/// Signals that are faults of brig itself stay unblocked.
fn relay_set() -> SigSet {
    let mut s = SigSet::all();
    for sig in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGABRT,
        Signal::SIGTRAP,
    ] {
        s.remove(sig);
    }
    s
}

pub fn run_foreground(
    store: &Store,
    id: &str,
    opts: &CreateOptions,
) -> Result<RunOutcome, ContainerError> {
    // The init may be a grandchild (user namespaces): be its reaper all the same.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| ContainerError::Other(format!("prctl: {e}")))?;
    let set = relay_set();
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
        .map_err(|e| ContainerError::Other(format!("sigprocmask: {e}")))?;
    let result = run_blocked(store, id, opts, &set);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

fn run_blocked(
    store: &Store,
    id: &str,
    opts: &CreateOptions,
    set: &SigSet,
) -> Result<RunOutcome, ContainerError> {
    let created = create(store, id, opts)?;
    let pid = created.state.pid;
    if let Err(e) = start(store, id) {
        let _ = delete(store, id, true);
        return Err(e);
    }
    let exit_code = loop {
        let sig = set
            .wait()
            .map_err(|e| ContainerError::Other(format!("sigwait: {e}")))?;
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
            continue;
        }
        if let Some(code) = reap(pid) {
            break code;
        }
    };
    delete(store, id, true)?;
    Ok(RunOutcome { exit_code })
}

/// Reap every exited child; the init's exit status if it was among them.
fn reap(init: i32) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == init => result = Some(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == init => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}
