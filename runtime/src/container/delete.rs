//! `delete`: stop what is left of the container, remove its cgroup and state,
//! then run poststop hooks.

use std::time::Duration;

use super::state::{Op, Status};
use super::store::Store;
use super::{cgroup, ContainerError};
use crate::hooks::{self, Phase};
use crate::kernel::Kernel;

pub fn delete(store: &Store, id: &str, force: bool) -> Result<(), ContainerError> {
    delete_in(&crate::kernel::LINUX, store, id, force)
}

/// [`delete`] on the given kernel.
pub fn delete_in(k: &Kernel, store: &Store, id: &str, force: bool) -> Result<(), ContainerError> {
    if force {
        store.remove_stale_creating(id);
    }
    let locked = match store.lock(id) {
        Err(ContainerError::NotFound(_)) if force => return Ok(()),
        r => r?,
    };
    let state = match store.load(&locked, id) {
        Ok(s) => Some(s),
        // A create killed before it wrote a state, or a damaged file: --force
        // clears it out so the id can be used again.
        Err(ContainerError::NoState(_) | ContainerError::Corrupt { .. }) if force => None,
        Err(e) => return Err(e),
    };
    let Some(state) = state else {
        // No record of a cgroupsPath: the default one is all we can clean.
        let layout = k.cgroups.layout()?;
        k.cgroups.manager(&layout, None, id, None)?.destroy()?;
        return store.remove(locked);
    };
    let step = |what: std::fmt::Arguments| super::trace::step("delete", id, what);
    let status = state.current_status_in(k.processes);
    step(format_args!("status {status}, force {force}"));
    let op = if force { Op::ForceDelete } else { Op::Delete };
    super::check(&state, status, op)?;
    let mgr = cgroup::of_state_in(k, &state)?;
    if status != Status::Stopped {
        // Frozen tasks do not die of SIGKILL until thawed. Thaw whatever the
        // record says: a pause or resume may have been interrupted.
        mgr.thaw()?;
        k.processes
            .kill_and_wait(state.pid, state.init_start_time, Duration::from_secs(10));
    }
    step(format_args!("init {} gone", state.pid));
    crate::failpoint::hit("delete.after-kill");
    // Once the init is dead, the cgroup is normally empty: its pid namespace
    // died with it. Then removing the directories is all there is to do, with
    // no freeze, listing, kill or thaw. rmdir succeeds only on an empty cgroup,
    // so this cannot skip a live process. When something is left (no pid
    // namespace of its own, a process that is still exiting, one frozen by
    // hand), destroy kills it, thawing first, and removes the rest.
    if !mgr.remove_if_empty()? {
        mgr.destroy()?;
    }
    step(format_args!("cgroup removed"));
    crate::failpoint::hit("delete.after-cgroup");
    store.remove(locked)?;
    step(format_args!("state dir removed; poststop hooks"));
    if let Err(e) = hooks::run_phase(
        state.hooks.as_ref(),
        Phase::Poststop,
        state.hook_json(Status::Stopped).as_bytes(),
    ) {
        eprintln!("brig: warning: {e}");
    }
    Ok(())
}
