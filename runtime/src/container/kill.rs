//! `kill`: send a signal to the init, or with `all` to every process in the cgroup.

use super::state::{Op, Status};
use super::store::Store;
use super::{cgroup, ContainerError};
use crate::kernel::Kernel;

/// The highest signal number (SIGRTMAX on Linux).
fn sigrtmax() -> i32 {
    libc::SIGRTMAX()
}

/// Parse a signal as runc does: `KILL`, `SIGKILL`, `sigkill`, `9`, and `0`
/// (no signal: the liveness probe engines use). An empty string is runc's
/// default, SIGTERM. Beyond runc 1.1.5, which knows only the numbers of the
/// real-time signals, `RTMIN`, `RTMIN+N`, `RTMAX-N` and `RTMAX` (with or
/// without `SIG`) are accepted, as kill(1) and crun do. `SIG0` is refused, as
/// runc refuses it: 0 is a number, not a name.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    if s.is_empty() {
        return Ok(libc::SIGTERM);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i32>() {
            Ok(n) if (0..=sigrtmax()).contains(&n) => Ok(n),
            _ => Err(format!(
                "signal {s:?}: no such signal number (0 to {})",
                sigrtmax()
            )),
        };
    }
    let unknown = || format!("unknown signal {s:?}");
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = |base: i32, rest: &str, sign: i32| -> Result<i32, String> {
        let n = if rest.is_empty() {
            0
        } else {
            rest.parse::<i32>().map_err(|_| unknown())?
        };
        let sig = base + sign * n;
        if (libc::SIGRTMIN()..=sigrtmax()).contains(&sig) {
            Ok(sig)
        } else {
            Err(format!(
                "signal {s:?}: out of the real-time range {}..{}",
                libc::SIGRTMIN(),
                sigrtmax()
            ))
        }
    };
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), rest.strip_prefix('+').unwrap_or(rest), 1);
    }
    if let Some(rest) = bare.strip_prefix("RTMAX") {
        return rt(sigrtmax(), rest.strip_prefix('-').unwrap_or(rest), -1);
    }
    if bare.is_empty() || bare.bytes().any(|b| !b.is_ascii_alphanumeric()) {
        return Err(unknown());
    }
    format!("SIG{bare}")
        .parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| unknown())
}

/// Send `sig` to the container's init, or with `all` to every process of its
/// cgroup.
///
/// A stopped container answers as runc does, because containerd's shim
/// depends on both answers: when a container exits it kills it, and with
/// `--all` whatever is left in a pod's shared pid namespace. Plain `kill`
/// fails with runc's "container not running" (which the shim reads as "already
/// gone"; any other error makes it retry for ever, and pods never stop), and
/// `kill --all` succeeds, signalling whatever is still in the cgroup: with a
/// shared pid namespace, the init's children outlive it there.
pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<(), ContainerError> {
    kill_in(&crate::kernel::LINUX, store, id, sig, all)
}

/// [`kill`] on the given kernel.
pub fn kill_in(
    k: &Kernel,
    store: &Store,
    id: &str,
    sig: i32,
    all: bool,
) -> Result<(), ContainerError> {
    let locked = store.lock(id)?;
    let state = store.load(&locked, id)?;
    let status = state.current_status_in(k.processes);
    super::check(&state, status, if all { Op::KillAll } else { Op::Kill })?;
    if all {
        let mgr = match cgroup::of_state_in(k, &state) {
            Ok(m) => m,
            Err(e) if status == Status::Stopped => {
                super::trace::debug(&format!("kill --all of stopped {id}: {e}"));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        // A stopped container's cgroup may be gone already: nothing to signal.
        let pids = match mgr.pids() {
            Ok(p) => p,
            Err(_) if status == Status::Stopped => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for pid in pids {
            // A process may exit between the listing and the signal.
            let _ = k.processes.signal(pid, sig);
        }
        thaw_for_kill(mgr.as_ref(), sig)?;
        return Ok(());
    }
    if let Err(e) = k
        .processes
        .signal_init(state.pid, state.init_start_time, sig)
    {
        // Exited since the check above: what runc says of a stopped container.
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Err(ContainerError::refused(&state, Status::Stopped, Op::Kill));
        }
        return Err(ContainerError::Other(format!(
            "kill {} signal {sig}: {e}",
            state.pid
        )));
    }
    if let Ok(mgr) = cgroup::of_state_in(k, &state) {
        thaw_for_kill(mgr.as_ref(), sig)?;
    }
    Ok(())
}

/// A frozen task does not die of SIGKILL until it is thawed (v1 freezer), so
/// a KILL thaws, as runc's does; whatever the record says, since a pause may
/// have been interrupted between its freeze and its state write. Other
/// signals stay pending until `resume`.
fn thaw_for_kill(mgr: &dyn brig_cgroups::CgroupManager, sig: i32) -> Result<(), ContainerError> {
    if sig == libc::SIGKILL && matches!(mgr.freezer_state(), Ok(brig_cgroups::FreezerState::Frozen))
    {
        mgr.thaw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("9"), Ok(libc::SIGKILL));
        assert_eq!(parse_signal("0"), Ok(0));
        assert_eq!(parse_signal("64"), Ok(64));
        assert_eq!(parse_signal(""), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("KILL"), Ok(libc::SIGKILL));
        assert_eq!(parse_signal("SIGTERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("sigusr1"), Ok(libc::SIGUSR1));
        assert_eq!(parse_signal("cont"), Ok(libc::SIGCONT));
        assert_eq!(parse_signal("RTMIN"), Ok(libc::SIGRTMIN()));
        assert_eq!(parse_signal("SIGRTMIN+3"), Ok(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("rtmax-1"), Ok(libc::SIGRTMAX() - 1));
        assert!(parse_signal("RTMIN+99").is_err());
        assert!(parse_signal("SIG0").unwrap_err().contains("SIG0"));
        assert!(parse_signal("NOPE").unwrap_err().contains("NOPE"));
        assert!(parse_signal("SIG").is_err());
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("999").is_err());
        assert!(parse_signal("-1").is_err());
    }
}
