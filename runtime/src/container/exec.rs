//! `exec`: run another process in a running container.

use std::path::PathBuf;

use oci_spec::runtime::Process;

use super::state::Status;
use super::store::Store;
use super::wait::{relay_until_exit, with_signals_blocked};
use super::{cgroup, write_atomic, ContainerError};
use crate::process::{spawn_exec, ExecConfig};

#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
}

/// The process `exec` starts from when no --process file is given: the one in
/// the container's config.json, as runc does.
pub fn base_process(store: &Store, id: &str) -> Result<Process, ContainerError> {
    let state = store.peek(id)?;
    let (_, spec) = crate::spec::load_bundle(&state.bundle)?;
    spec.process()
        .clone()
        .ok_or_else(|| crate::spec::SpecError::invalid("process", "missing").into())
}

/// Run the process; returns its exit status, or 0 once it runs with `detach`.
pub fn exec(store: &Store, id: &str, opts: &ExecOptions) -> Result<i32, ContainerError> {
    crate::spec::validate_process(&opts.process)?;
    let state = store.peek(id)?;
    let status = state.current_status();
    if !matches!(status, Status::Running | Status::Created) {
        let why = if status == Status::Paused {
            "resume it first"
        } else {
            "exec needs a running container"
        };
        return Err(ContainerError::status(&state, status, why));
    }
    let layout = brig_cgroups::detect_layout()?;
    let mgr = cgroup::manager(&layout, state.cgroups_path.as_deref(), id)?;
    let cfg = ExecConfig {
        init_pid: state.pid,
        process: &opts.process,
        cgroup: mgr.as_ref(),
        preserve_fds: opts.preserve_fds,
        close_fds: Vec::new(),
    };
    let spawn = || -> Result<i32, ContainerError> {
        let pid = spawn_exec(&cfg)?;
        if let Some(pf) = &opts.pid_file {
            let pf = std::path::absolute(pf).map_err(|e| ContainerError::io(pf, e))?;
            write_atomic(&pf, pid.to_string().as_bytes())?;
        }
        Ok(pid)
    };
    if opts.detach {
        spawn()?;
        return Ok(0);
    }
    with_signals_blocked(|set| {
        let pid = spawn()?;
        relay_until_exit(pid, set)
    })
}
