//! `kill`: send a signal to the init, or with `all` to every process in the cgroup.

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::state::Status;
use super::store::Store;
use super::{cgroup, ContainerError};

/// Parse a signal as runc does: `KILL`, `SIGKILL`, `sigkill` or `9`.
pub fn parse_signal(s: &str) -> Result<Signal, String> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("signal {s:?}: no such signal number"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| format!("signal {s:?}: unknown signal name"))
}

pub fn kill(store: &Store, id: &str, sig: Signal, all: bool) -> Result<(), ContainerError> {
    let locked = store.lock(id)?;
    let state = store.load(&locked, id)?;
    let status = state.current_status();
    if status == Status::Stopped {
        return Err(ContainerError::status(
            &state,
            status,
            "cannot signal a stopped container",
        ));
    }
    let mgr = cgroup::of_state(&state)?;
    if all {
        for pid in mgr.pids()? {
            // A process may exit between the listing and the signal.
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
        }
    } else {
        nix::sys::signal::kill(Pid::from_raw(state.pid), sig)
            .map_err(|e| ContainerError::Other(format!("kill {} {sig}: {e}", state.pid)))?;
    }
    // A frozen task does not die of SIGKILL until it is thawed (v1 freezer), so
    // a KILL thaws, as runc's does; whatever the record says, since a pause may
    // have been interrupted between its freeze and its state write. Other
    // signals stay pending until `resume`.
    if sig == Signal::SIGKILL
        && matches!(mgr.freezer_state(), Ok(brig_cgroups::FreezerState::Frozen))
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
        assert_eq!(parse_signal("9"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("KILL"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("SIGTERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("sigusr1"), Ok(Signal::SIGUSR1));
        assert!(parse_signal("NOPE").unwrap_err().contains("NOPE"));
        assert!(parse_signal("999").is_err());
        assert!(parse_signal("").is_err());
    }
}
