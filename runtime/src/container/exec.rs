//! `exec`: run another process in a running container.

use std::path::PathBuf;

use std::os::fd::OwnedFd;

use oci_spec::runtime::Process;

use super::state::{Op, Status};
use super::store::Store;
use super::wait::{relay_until_exit, with_signals_blocked};
use super::{cgroup, write_atomic, ContainerError};
use crate::process::terminal::send_to_console_socket;
use crate::process::{spawn_exec, ExecConfig};

#[derive(Debug)]
pub struct ExecOptions {
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
    /// Where to send the terminal's master, if the process has a terminal.
    pub console_socket: Option<PathBuf>,
    /// Where to send a pidfd of the process (runc's --pidfd-socket).
    pub pidfd_socket: Option<PathBuf>,
    /// Exec in a paused container too (runc's --ignore-paused).
    pub ignore_paused: bool,
    /// An existing sub-cgroup of the container's to run in (runc's --cgroup).
    pub sub_cgroup: Option<PathBuf>,
    /// The process's fds 0-2 when it has no terminal (default: brig's own).
    pub stdio: crate::process::Stdio,
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

/// Whether the container's init is gone, or goes within a second: after a
/// failed exec, to tell a container that was stopping from a real failure.
fn init_exits_soon(state: &super::state::ContainerState) -> bool {
    if !state.init_alive() {
        return true;
    }
    let exited = crate::sys::pidfd_open(state.pid).is_ok_and(|fd| {
        crate::sys::wait_pidfd(&fd, Some(std::time::Duration::from_secs(1))).unwrap_or(false)
    });
    exited || !state.init_alive()
}

/// Run the process; returns its exit status, or 0 once it runs with `detach`.
pub fn exec(store: &Store, id: &str, opts: &ExecOptions) -> Result<i32, ContainerError> {
    crate::spec::validate_process(&opts.process)?;
    let terminal = opts.process.terminal().unwrap_or(false);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(ContainerError::Other(
            "--tty with --detach needs --console-socket".into(),
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(ContainerError::Other(
            "--console-socket needs --tty (process.terminal)".into(),
        ));
    }
    let state = store.peek(id)?;
    let status = state.current_status();
    let op = if opts.ignore_paused {
        Op::ExecIgnorePaused
    } else {
        Op::Exec
    };
    super::check(&state, status, op)?;
    let mgr = match &opts.sub_cgroup {
        None => cgroup::of_state(&state)?,
        Some(sub) => cgroup::sub_of_state(&state, sub)?,
    };
    // The container's seccomp profile, as recorded at create, applies to what
    // runs in it later too (an edited config.json in the bundle does not).
    let seccomp = crate::spec::compile_seccomp(state.seccomp.as_ref())?;
    let cfg = ExecConfig {
        init_pid: state.pid,
        process: &opts.process,
        cgroup: mgr.as_ref(),
        preserve_fds: opts.preserve_fds,
        close_fds: Vec::new(),
        agent: super::seccomp_agent(state.seccomp.as_ref(), &state)?,
        seccomp,
        personality: state.personality.as_ref(),
        stdio: &opts.stdio,
        session_keyring: state.session_keyring(),
    };
    let spawn = || -> Result<(i32, Option<OwnedFd>), ContainerError> {
        let spawned = spawn_exec(&cfg).map_err(|e| {
            // The container may be stopping since the check above (a racing
            // kill): a pid namespace whose init is dying refuses new pids, so
            // the fork there fails with ENOMEM while the init still exits.
            // Say what happened, not the errno.
            if init_exits_soon(&state) {
                ContainerError::status(
                    &state,
                    Status::Stopped,
                    "cannot exec in a stopped container (exec needs a running container)",
                )
            } else {
                ContainerError::from(e)
            }
        })?;
        let (pid, mut console) = (spawned.pid, spawned.console);
        if let (Some(path), Some(master)) = (&opts.console_socket, &console) {
            send_to_console_socket(path, master).map_err(|e| {
                ContainerError::Other(format!("--console-socket {}: {e}", path.display()))
            })?;
            console = None;
        }
        if let Some(path) = &opts.pidfd_socket {
            crate::sys::send_pidfd_to_socket(path, pid).map_err(|e| {
                // Nobody was told of the process: it does not outlive the error.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                ContainerError::Other(format!("--pidfd-socket {}: {e}", path.display()))
            })?;
        }
        if let Some(pf) = &opts.pid_file {
            let pf = std::path::absolute(pf).map_err(|e| ContainerError::io(pf, e))?;
            write_atomic(&pf, pid.to_string().as_bytes())?;
        }
        Ok((pid, console))
    };
    if opts.detach {
        spawn()?;
        return Ok(0);
    }
    with_signals_blocked(|set| {
        let (pid, console) = spawn()?;
        relay_until_exit(pid, set, console, &opts.stdio)
    })
}
