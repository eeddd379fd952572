//! `pause` and `resume`: freeze and thaw every process of the container through
//! its cgroup's freezer.

use super::state::{Op, Status};
use super::store::Store;
use super::{cgroup, ContainerError};
use crate::kernel::Kernel;

pub fn pause(store: &Store, id: &str) -> Result<(), ContainerError> {
    set_frozen(&crate::kernel::LINUX, store, id, true)
}

pub fn resume(store: &Store, id: &str) -> Result<(), ContainerError> {
    set_frozen(&crate::kernel::LINUX, store, id, false)
}

/// [`pause`] on the given kernel.
pub fn pause_in(k: &Kernel, store: &Store, id: &str) -> Result<(), ContainerError> {
    set_frozen(k, store, id, true)
}

/// [`resume`] on the given kernel.
pub fn resume_in(k: &Kernel, store: &Store, id: &str) -> Result<(), ContainerError> {
    set_frozen(k, store, id, false)
}

fn set_frozen(k: &Kernel, store: &Store, id: &str, frozen: bool) -> Result<(), ContainerError> {
    let locked = store.lock(id)?;
    let mut state = store.load(&locked, id)?;
    let status = state.current_status_in(k.processes);
    let (from, to) = if frozen {
        (Status::Running, Status::Paused)
    } else {
        (Status::Paused, Status::Running)
    };
    let op = if frozen { Op::Pause } else { Op::Resume };
    super::check(&state, status, op)?;
    let mgr = cgroup::of_state_in(k, &state)?;
    // Pausing records `paused` before it freezes, so that a pause killed in
    // between leaves a record that resume and delete --force both handle (a
    // frozen container recorded as running would not be thawed by delete).
    // Resuming thaws first, for the same reason the other way round.
    if frozen {
        state.status = to;
        store.save(&locked, &state)?;
        if let Err(e) = mgr.freeze() {
            let _ = mgr.thaw();
            state.status = from;
            store.save(&locked, &state)?;
            return Err(e.into());
        }
        Ok(())
    } else {
        mgr.thaw()?;
        state.status = to;
        store.save(&locked, &state)
    }
}

/// Host pids of every process in the container's cgroup, and none for a
/// stopped container whose cgroup is gone (`ps` shows it empty, as runc).
pub fn pids_or_none(store: &Store, id: &str) -> Result<Vec<i32>, ContainerError> {
    let state = store.peek(id)?;
    let mut pids = match cgroup::of_state(&state).and_then(|m| Ok(m.pids()?)) {
        Ok(p) => p,
        Err(_) if state.current_status() == Status::Stopped => Vec::new(),
        Err(e) => return Err(e),
    };
    pids.sort_unstable();
    Ok(pids)
}

/// Host pids of every process in the container's cgroup.
pub fn pids(store: &Store, id: &str) -> Result<Vec<i32>, ContainerError> {
    let state = super::live_state(store, id)?;
    let mut pids = cgroup::of_state(&state)?.pids()?;
    pids.sort_unstable();
    Ok(pids)
}

/// `ps(1)` with `args` (default `-ef`, as runc and docker): its header and the
/// lines whose PID column is one of `pids`. Shared by `brig ps` and the engine's
/// `container top`. The error says what failed, for the caller to prefix.
pub fn ps_lines(pids: &[i32], args: &[String]) -> Result<Vec<String>, String> {
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let shown = args.join(" ");
    let out = std::process::Command::new("ps")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("ps {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ps {shown}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|c| c == "PID") else {
        return Err(format!("ps {shown}: no PID column in its output"));
    };
    let mut kept = vec![header.to_string()];
    kept.extend(
        lines
            .filter(|l| {
                l.split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok())
                    .is_some_and(|p| pids.contains(&p))
            })
            .map(str::to_string),
    );
    Ok(kept)
}
