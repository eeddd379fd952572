//! Containers: the lifecycle operations, one file each, over the state store.

mod cgroup;
mod create;
mod delete;
mod events;
mod exec;
mod kill;
mod pause;
mod start;
pub mod state;
pub mod store;
pub mod trace;
mod update;
mod wait;

use std::path::{Path, PathBuf};

pub use crate::process::Stdio;
pub use create::{create, create_in, CreateOptions, Created};
pub use delete::{delete, delete_in};
pub use events::{stats, watch as watch_events, Event, EventKind};
pub use exec::{base_process, exec, ExecOptions};
pub use kill::{kill, kill_in, parse_signal};
pub use pause::{pause, pause_in, pids, pids_or_none, ps_lines, resume, resume_in};
pub use start::{start, start_in};
pub use state::{ContainerState, Op, Status, NOT_RUNNING};
pub use store::{validate_id, Store};
pub use trace::set_debug_sink;
pub use update::{update, UpdateError};
pub use wait::{run_foreground, RunOutcome};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container id {0:?}: must be a name of letters, digits and _ + . - (never a path)")]
    BadId(String),
    #[error("container with given ID already exists: {0:?}")]
    Exists(String),
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} has no state: a create is under way, or was interrupted (then delete --force clears it)")]
    NoState(String),
    #[error("{path}: corrupt state: {msg}")]
    Corrupt { path: PathBuf, msg: String },
    #[error("container {id:?} is {status}: {msg}")]
    BadStatus {
        id: String,
        status: Status,
        msg: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Plan(#[from] crate::spec::PlanError),
    #[error(transparent)]
    Cgroup(#[from] brig_cgroups::CgroupError),
    #[error(transparent)]
    Ns(#[from] crate::namespaces::NsError),
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    #[error("{0}")]
    Hook(#[from] crate::hooks::HookError),
    #[error("{0}")]
    Other(String),
}

impl ContainerError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ContainerError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn status(st: &ContainerState, status: Status, msg: &str) -> Self {
        ContainerError::BadStatus {
            id: st.id.clone(),
            status,
            msg: msg.to_string(),
        }
    }

    /// `op` refused on a container in `status`, in the lifecycle table's words.
    fn refused(st: &ContainerState, status: Status, op: Op) -> Self {
        let msg = status.allows(op).err().unwrap_or("not allowed now");
        ContainerError::status(st, status, msg)
    }
}

/// The lifecycle table's answer for `op` on a container in `status`, as an error.
fn check(st: &ContainerState, status: Status, op: Op) -> Result<(), ContainerError> {
    status
        .allows(op)
        .map_err(|msg| ContainerError::status(st, status, msg))
}

/// `state`: the OCI state document of `id`, on the given kernel.
pub fn state_in(
    k: &crate::kernel::Kernel,
    store: &Store,
    id: &str,
) -> Result<serde_json::Value, ContainerError> {
    Ok(store.peek(id)?.oci_json_in(k.processes))
}

/// The state of a container that has processes, or an error saying it has none.
pub(super) fn live_state(store: &Store, id: &str) -> Result<ContainerState, ContainerError> {
    let state = store.peek(id)?;
    check(&state, state.current_status(), Op::Inspect)?;
    Ok(state)
}

/// Where an exec'd process hands its SCMP_ACT_NOTIFY listener: the agent at
/// linux.seccomp.listenerPath, with the container's state (its pid is set to
/// the new process's by the process itself). `None` when there is no agent.
fn seccomp_agent(
    sc: Option<&oci_spec::runtime::LinuxSeccomp>,
    state: &ContainerState,
) -> Result<Option<crate::process::AgentTarget>, ContainerError> {
    let Some(path) = sc.and_then(|s| s.listener_path().as_ref()) else {
        return Ok(None);
    };
    let oci = oci_spec::runtime::StateBuilder::default()
        .version(state.oci_version.clone())
        .id(state.id.clone())
        .status(oci_spec::runtime::ContainerState::Running)
        .pid(state.pid)
        .bundle(state.bundle.clone())
        .annotations(state.annotations.clone())
        .build()
        .map_err(|e| ContainerError::Other(e.to_string()))?;
    Ok(Some(crate::process::AgentTarget {
        path: path.clone(),
        state: oci,
        metadata: sc.and_then(|s| s.listener_metadata().clone()),
    }))
}

/// Write a file atomically (temp + rename): for --pid-file, which a caller may be
/// polling for.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ContainerError> {
    crate::sys::write_atomic(path, data, false).map_err(|e| ContainerError::io(path, e))
}
