//! `exec`: a new process in every namespace and the cgroup of a running
//! container's init, with its own process attributes.

use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use brig_cgroups::CgroupManager;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType as Ns, Process};

use super::message::{channel, Channel, ChannelError, Msg};
use super::user_process::{self, step};
use super::{clone_for_cgroup, ProcessError};
use crate::namespaces::{self, open_ns, JoinNs};

pub struct ExecConfig<'a> {
    /// Host pid of the container's init, whose namespaces are joined.
    pub init_pid: i32,
    pub process: &'a Process,
    pub cgroup: &'a dyn CgroupManager,
    pub preserve_fds: i32,
    pub close_fds: Vec<RawFd>,
    /// The container's linux.seccomp, compiled: it applies to exec'd processes too.
    pub seccomp: Option<crate::security::seccomp::Program>,
}

const ORDER: [Ns; 8] = [
    Ns::User,
    Ns::Mount,
    Ns::Network,
    Ns::Ipc,
    Ns::Uts,
    Ns::Cgroup,
    Ns::Pid,
    Ns::Time,
];

/// The init's namespaces that differ from ours, user first (it owns the others).
fn namespaces_of(pid: i32) -> Result<Vec<JoinNs>, ProcessError> {
    let mut out = Vec::new();
    for t in ORDER {
        let name = namespaces::ns_name(t);
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let ours = PathBuf::from(format!("/proc/self/ns/{name}"));
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            continue; // a kernel without this namespace kind
        };
        use std::os::unix::fs::MetadataExt;
        if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
            let fd = open_ns(&theirs, t)?;
            out.push(JoinNs {
                typ: t,
                path: theirs,
                fd,
            });
        }
    }
    Ok(out)
}

/// Start the process; returns its host pid once it has exec'd (or an error from
/// its setup, such as a missing program), with its terminal's master and seccomp
/// listener if it has them.
pub fn spawn_exec(cfg: &ExecConfig) -> Result<super::Spawned, ProcessError> {
    let nss = namespaces_of(cfg.init_pid)?;
    let (parent, child) = channel()?;
    // pid and time namespaces apply to children: enter them for the clone only.
    let mut restore = Vec::new();
    for j in nss.iter().filter(|j| matches!(j.typ, Ns::Pid | Ns::Time)) {
        let name = namespaces::ns_name(j.typ);
        let path = PathBuf::from(format!("/proc/self/ns/{name}"));
        let fd = open_ns(&path, j.typ)?;
        restore.push(JoinNs {
            typ: j.typ,
            path,
            fd,
        });
        namespaces::join(j)?;
    }
    let pid = clone_for_cgroup(nix::sched::CloneFlags::empty(), cfg.cgroup);
    if !matches!(pid, Ok((0, _))) {
        // Only the parent goes back: the child stays in the container's namespaces.
        for r in &restore {
            namespaces::join(r)?;
        }
    }
    let (pid, in_unified) = pid.map_err(ProcessError::Clone)?;
    if pid == 0 {
        drop(parent);
        let err = match exec_child(cfg, in_unified, &nss, &child) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        let _ = child.send(&Msg::Error(err));
        // SAFETY: leave without running the parent's exit handlers.
        unsafe { libc::_exit(127) }
    }
    drop(child);
    // The socket closes on exec: EOF means the program runs.
    let mut fds = super::SentFds::default();
    loop {
        match parent.recv_fd() {
            Err(ChannelError::Closed) => {
                return Ok(super::Spawned {
                    pid,
                    console: fds.console,
                    seccomp_listener: fds.seccomp_listener,
                })
            }
            Ok((Msg::Console, fd)) => fds.console = fd,
            Ok((Msg::SeccompListener, fd)) => fds.seccomp_listener = fd,
            Ok((Msg::Error(e), _)) => {
                let _ = waitpid(Pid::from_raw(pid), None);
                return Err(ProcessError::Init(e));
            }
            Ok((other, _)) => {
                return Err(ProcessError::Init(format!("unexpected message {other:?}")))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

enum Never {}

fn exec_child(
    cfg: &ExecConfig,
    in_unified: bool,
    nss: &[JoinNs],
    ch: &Channel,
) -> Result<Never, String> {
    for fd in &cfg.close_fds {
        let _ = nix::unistd::close(*fd);
    }
    // Not dumpable until the exec: see the init (CVE-2019-5736).
    step("prctl", nix::sys::prctl::set_dumpable(false))?;
    // A fresh clone of one thread, with no thread of its own yet: single-threaded,
    // as join_new_process needs (see the init).
    step("joining cgroup", cfg.cgroup.join_new_process(in_unified))?;
    if let Some(adj) = cfg.process.oom_score_adj() {
        step(
            "process.oomScoreAdj",
            crate::security::set_oom_score_adj(adj),
        )?;
    }
    for j in nss.iter().filter(|j| !matches!(j.typ, Ns::Pid | Ns::Time)) {
        step("joining namespace", namespaces::join(j))?;
    }
    // setns into a mount namespace leaves us at its root: the container's /.
    if cfg.process.terminal().unwrap_or(false) {
        super::terminal::setup_in_container(ch, cfg.process.console_size().as_ref(), false)?;
    }
    let prepared = user_process::prepare(cfg.process)?;
    if let Some(fd) = user_process::set_credentials(cfg.process, cfg.seccomp.as_ref())? {
        ch.send_fds(&Msg::SeccompListener, &[fd.as_raw_fd()])
            .map_err(|e| e.to_string())?;
    }
    let late = user_process::late_seccomp(cfg.process, cfg.seccomp.as_ref());
    Err(user_process::exec(&prepared, cfg.preserve_fds, late))
}

/// How a waited-for process ended, as an exit status (128+n for signal n).
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}
