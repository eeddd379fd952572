//! Starting the container init: the clone into namespaces (parent side, here),
//! the init's own setup (init.rs), and the sync protocol between them (message.rs).
//!
//! There is no re-exec of brig: the init is a fork of the `brig create` process
//! and runs the setup from memory, which keeps startup cheap. Without a user
//! namespace one clone(2) makes every namespace at once. With one, the init
//! makes the user namespace first so that it owns the others, waits for the parent
//! to write its id maps, and forks once more into the new pid namespace.

mod exec;
mod init;
pub mod message;
pub mod terminal;
mod user_process;

use std::os::fd::{OwnedFd, RawFd};
use std::path::PathBuf;

use brig_cgroups::CgroupManager;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType as Ns, Spec};

use crate::namespaces::{self, open_ns, NsPlan};
use crate::rootfs::CgroupMount;
pub use exec::{exit_code, spawn_exec, ExecConfig};
use message::{channel, ChannelError, Msg};

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Ns(#[from] namespaces::NsError),
    #[error("clone: {0}")]
    Clone(nix::Error),
    /// The init reported a setup error.
    #[error("{0}")]
    Init(String),
    #[error("container init exited during setup ({0})")]
    Died(String),
    #[error("{0}")]
    Hook(String),
}

/// Everything the init needs; it is a fork of the parent, so this is shared memory,
/// not a message.
pub struct InitConfig<'a> {
    pub spec: &'a Spec,
    pub rootfs: PathBuf,
    pub ns: NsPlan,
    pub cgroup: &'a dyn CgroupManager,
    pub cgroup_mounts: Vec<CgroupMount>,
    /// The exec fifo the init blocks on until `start`.
    pub fifo: PathBuf,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// Parent fds the init must close at once (the state dir lock).
    pub close_fds: Vec<RawFd>,
    /// linux.seccomp, compiled (in `create`, before anything was made).
    pub seccomp: Option<crate::security::seccomp::Program>,
}

impl InitConfig<'_> {
    /// One clone makes everything unless a user namespace is involved.
    fn single_clone(&self) -> bool {
        !self.ns.has(Ns::User)
    }
}

/// What the init sent up besides messages.
#[derive(Debug, Default)]
pub struct SentFds {
    pub console: Option<OwnedFd>,
    pub seccomp_listener: Option<OwnedFd>,
}

/// A started init.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub console: Option<OwnedFd>,
    pub seccomp_listener: Option<OwnedFd>,
}

/// clone(2) with a fork-like stack: returns 0 in the child.
fn clone_process(flags: CloneFlags) -> nix::Result<i32> {
    // SAFETY: without CLONE_VM the child gets a copy of our memory, exactly as with
    // fork(2); brig is single-threaded here, so no lock can be held across it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags.bits() | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        Err(nix::Error::last())
    } else {
        Ok(r as i32)
    }
}

/// Namespaces that only affect children (pid, time) are entered by the parent
/// before the clone and left again right after, so that hooks the parent runs
/// stay in the runtime's namespaces.
struct ChildrenNs {
    restore: Vec<(namespaces::JoinNs, bool)>,
}

impl ChildrenNs {
    fn enter(cfg: &InitConfig) -> Result<Self, ProcessError> {
        let mut restore = Vec::new();
        let mut save = |t: Ns| -> Result<(), ProcessError> {
            let path = PathBuf::from(format!("/proc/self/ns/{}", namespaces::ns_name(t)));
            let fd = open_ns(&path, t)?;
            restore.push((namespaces::JoinNs { typ: t, path, fd }, true));
            Ok(())
        };
        let fast = cfg.single_clone();
        if let Some(j) = cfg.ns.joined(Ns::Pid) {
            save(Ns::Pid)?;
            namespaces::join(j)?;
        }
        if let Some(j) = cfg.ns.joined(Ns::Time) {
            save(Ns::Time)?;
            namespaces::join(j)?;
        }
        if cfg.ns.creates(Ns::Time) {
            save(Ns::Time)?;
            namespaces::unshare(namespaces::clone_flag(Ns::Time))?;
            namespaces::write_time_offsets(cfg.spec)?;
        }
        let _ = fast;
        Ok(ChildrenNs { restore })
    }

    fn leave(self) -> Result<(), ProcessError> {
        for (ns, _) in self.restore {
            namespaces::join(&ns)?;
        }
        Ok(())
    }
}

/// Start the container init and drive its setup until it waits on the exec fifo.
/// `hooks` runs prestart and createRuntime for the init's pid and returns the state
/// JSON the init passes to createContainer and startContainer hooks.
/// Returns the init's host pid, with the fds it sent up: the master of its
/// terminal and its seccomp listener, when it has them. On error the init is killed.
pub fn spawn_init(
    cfg: &InitConfig,
    hooks: &mut dyn FnMut(i32) -> Result<String, String>,
) -> Result<Spawned, ProcessError> {
    let (parent, child) = channel()?;
    let children_ns = ChildrenNs::enter(cfg)?;
    let flags = if cfg.single_clone() {
        // The cgroup namespace is made by the init after it joins its cgroup, so
        // that the cgroup is the namespace's root.
        cfg.ns.new & !(CloneFlags::CLONE_NEWCGROUP | namespaces::clone_flag(Ns::Time))
    } else {
        CloneFlags::empty()
    };
    let pid = clone_process(flags).map_err(ProcessError::Clone)?;
    if pid == 0 {
        drop(parent);
        init::container_init(cfg, child);
    }
    drop(child);
    children_ns.leave()?;
    let first = pid;
    let mut init_pid = pid;
    let mut fds = SentFds::default();
    let result = drive(cfg, &parent, first, &mut init_pid, &mut fds, hooks);
    if result.is_err() {
        let _ = kill(Pid::from_raw(init_pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(first), None);
    }
    result.map(|()| Spawned {
        pid: init_pid,
        console: fds.console,
        seccomp_listener: fds.seccomp_listener,
    })
}

fn drive(
    cfg: &InitConfig,
    ch: &message::Channel,
    first: i32,
    init_pid: &mut i32,
    fds: &mut SentFds,
    hooks: &mut dyn FnMut(i32) -> Result<String, String>,
) -> Result<(), ProcessError> {
    loop {
        let msg = match ch.recv_fd() {
            Ok((Msg::Console, fd)) => {
                fds.console = fd;
                continue;
            }
            Ok((Msg::SeccompListener, fd)) => {
                fds.seccomp_listener = fd;
                continue;
            }
            Ok((m, _)) => m,
            Err(ChannelError::Closed) if *init_pid != first => {
                return Err(ProcessError::Died("the init closed the sync socket".into()));
            }
            Err(ChannelError::Closed) => {
                let how = match waitpid(Pid::from_raw(first), None) {
                    Ok(WaitStatus::Exited(_, c)) => format!("exit status {c}"),
                    Ok(WaitStatus::Signaled(_, s, _)) => format!("killed by {s}"),
                    Ok(other) => format!("{other:?}"),
                    Err(e) => e.to_string(),
                };
                return Err(ProcessError::Died(how));
            }
            Err(e) => return Err(e.into()),
        };
        match msg {
            Msg::MapIds => {
                let linux = cfg.spec.linux().as_ref();
                let uid = linux
                    .and_then(|l| l.uid_mappings().clone())
                    .unwrap_or_default();
                let gid = linux
                    .and_then(|l| l.gid_mappings().clone())
                    .unwrap_or_default();
                namespaces::write_id_maps(first, &uid, &gid)?;
                ch.send(&Msg::IdsMapped)?;
            }
            Msg::Pid(p) => {
                *init_pid = p;
                // The intermediate exits right after telling us; reap it.
                let _ = waitpid(Pid::from_raw(first), None);
            }
            Msg::MountsReady => match hooks(*init_pid) {
                Ok(state) => ch.send(&Msg::HooksDone { state })?,
                Err(e) => return Err(ProcessError::Hook(e)),
            },
            Msg::Ready => return Ok(()),
            Msg::Error(e) => return Err(ProcessError::Init(e)),
            Msg::IdsMapped | Msg::HooksDone { .. } | Msg::Console | Msg::SeccompListener => {
                return Err(ProcessError::Init(format!(
                    "unexpected message {msg:?} from init"
                )))
            }
        }
    }
}
