//! `exec`: a new process in every namespace and the cgroup of a running
//! container's init, with its own process attributes.

use super::message::InitError;
use std::os::fd::RawFd;
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
    /// The container's linux.personality: `brig exec` runs in its caller's
    /// execution domain, so the process gets the container's set, not inherited.
    pub personality: Option<&'a oci_spec::runtime::LinuxPersonality>,
    /// Where a SCMP_ACT_NOTIFY listener goes, and with what.
    pub agent: Option<AgentTarget>,
    /// The process's fds 0-2 (each inherited when not given).
    pub stdio: &'a super::Stdio,
    /// The container's session keyring, joined by name (see the init); None
    /// when it was created with `--no-new-keyring`.
    pub session_keyring: Option<String>,
}

/// The seccomp agent of a filter with SCMP_ACT_NOTIFY rules: its socket
/// (linux.seccomp.listenerPath), the container's state (the pid is set to the
/// new process's) and linux.seccomp.listenerMetadata.
pub struct AgentTarget {
    pub path: PathBuf,
    pub state: oci_spec::runtime::State,
    pub metadata: Option<String>,
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
                })
            }
            Ok((Msg::Console, fd)) => fds.console = fd,
            Ok((Msg::Error(e), _)) => {
                let _ = waitpid(Pid::from_raw(pid), None);
                return Err(ProcessError::Init(e));
            }
            Ok((other, _)) => {
                return Err(ProcessError::Init(
                    format!("unexpected message {other:?}").into(),
                ))
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
) -> Result<Never, InitError> {
    for fd in &cfg.close_fds {
        let _ = nix::unistd::close(*fd);
    }
    step("stdio", cfg.stdio.install(3 + cfg.preserve_fds))?;
    // Whatever brig inherited past stdio and the preserved fds goes at any exec
    // from here on (hooks included), not only at the program's.
    step("fds", crate::sys::cloexec_from(3 + cfg.preserve_fds))?;
    // Not dumpable until the exec: see the init (CVE-2019-5736).
    step("prctl", nix::sys::prctl::set_dumpable(false))?;
    // The seccomp agent's socket, while its path and /proc are the host's:
    // this process's pid there is the one the agent needs.
    let agent = match cfg
        .agent
        .as_ref()
        .filter(|_| cfg.seccomp.as_ref().is_some_and(|p| p.has_listener()))
    {
        Some(t) => {
            let sock = step(
                "linux.seccomp.listenerPath",
                crate::security::seccomp::connect_agent(&t.path),
            )?;
            let me = step("/proc/self", std::fs::read_link("/proc/self"))?;
            let pid: i32 = me
                .to_string_lossy()
                .parse()
                .map_err(|_| "/proc/self: not a pid")?;
            let mut st = t.state.clone();
            st.set_pid(Some(pid));
            let message = crate::security::seccomp::listener_message(&st, t.metadata.as_deref())?;
            Some(user_process::Agent { sock, message })
        }
        None => None,
    };
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
    user_process::new_session(cfg.session_keyring.as_deref())?;
    if cfg.process.terminal().unwrap_or(false) {
        super::terminal::setup_in_container(
            ch,
            cfg.process.console_size().as_ref(),
            false,
            cfg.process.user().uid(),
        )?;
    }
    // Before the seccomp filter, which may refuse personality(2) (as in the init).
    if let Some(p) = cfg.personality {
        super::init::set_personality(p)?;
    }
    let compiled = crate::spec::compile_process(cfg.process).map_err(|e| e.to_string())?;
    let prepared = user_process::prepare(&compiled, false)?;
    user_process::set_credentials(&compiled, cfg.seccomp.as_ref())?;
    Err(user_process::exec(
        &prepared,
        cfg.preserve_fds,
        cfg.seccomp.as_ref(),
        agent.as_ref(),
    ))
}

/// How a waited-for process ended, as an exit status (128+n for signal n).
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}
