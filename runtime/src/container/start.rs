//! `start`: release the waiting init through the exec fifo, then run poststart hooks.

use super::state::{ContainerState, Op, Status};
use super::store::{Store, FIFO_FILE};
use super::ContainerError;
use crate::hooks::{self, Phase};
use crate::kernel::{Kernel, Release};

/// Start a created container. Returns its state, now running.
pub fn start(store: &Store, id: &str) -> Result<ContainerState, ContainerError> {
    start_in(&crate::kernel::LINUX, store, id)
}

/// [`start`] on the given kernel.
pub fn start_in(k: &Kernel, store: &Store, id: &str) -> Result<ContainerState, ContainerError> {
    let locked = store.lock(id)?;
    let mut state = store.load(&locked, id)?;
    let status = state.current_status_in(k.processes);
    super::check(&state, status, Op::Start)?;
    let fifo_path = locked.dir.join(FIFO_FILE);
    let step = |what: std::fmt::Arguments| super::trace::step("start", id, what);
    step(format_args!(
        "releasing init {} through the exec fifo",
        state.pid
    ));
    let release = k.spawner.release(&state, &fifo_path)?;
    step(format_args!("released: {release:?}"));
    crate::failpoint::hit("start.after-release");
    let report = match release {
        Release::Started => Vec::new(),
        Release::Failed(report) => report,
        Release::Gone => {
            return Err(ContainerError::status(
                &state,
                Status::Stopped,
                "the container init exited before it was started",
            ))
        }
    };
    if !report.is_empty() {
        state.status = Status::Stopped;
        store.save(&locked, &state)?;
        return Err(ContainerError::Other(format!(
            "container {id:?} failed to start: {}",
            String::from_utf8_lossy(&report)
        )));
    }
    // Not saved: the record still says `created`, and a created container
    // whose fifo is gone (release removed it) loads as running (Store::load),
    // so a rewrite here would only cost a write.
    state.status = Status::Running;
    step(format_args!("running; poststart hooks"));
    drop(locked);
    // A failing poststart hook is a warning: the container runs on (runtime spec).
    if let Err(e) = hooks::run_phase(
        state.hooks.as_ref(),
        Phase::Poststart,
        state.hook_json(Status::Running).as_bytes(),
    ) {
        eprintln!("brig: warning: {e}");
    }
    Ok(state)
}
