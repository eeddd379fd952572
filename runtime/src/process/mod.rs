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
mod stdio;
pub mod terminal;
mod user_process;

pub use stdio::Stdio;

use std::os::fd::{OwnedFd, RawFd};
use std::path::PathBuf;

use brig_cgroups::CgroupManager;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType as Ns;

use crate::spec::ContainerPlan;

use crate::namespaces::{self, open_ns};
use crate::rootfs::CgroupMount;
pub use exec::{exit_code, spawn_exec, AgentTarget, ExecConfig};
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
    Init(message::InitError),
    #[error("container init exited during setup ({0})")]
    Died(String),
    #[error("{0}")]
    Hook(String),
}

/// Everything the init needs; it is a fork of the parent, so this is shared memory,
/// not a message.
pub struct InitConfig<'a> {
    /// The compiled config: the init executes it and parses nothing.
    pub plan: &'a ContainerPlan,
    pub cgroup: &'a dyn CgroupManager,
    /// The mounts and pivot_root of the rootfs setup.
    pub mounter: &'a dyn crate::rootfs::Mounter,
    pub cgroup_mounts: Vec<CgroupMount>,
    /// The exec fifo the init blocks on until `start`.
    pub fifo: PathBuf,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// Parent fds the init must close at once (the state dir lock).
    pub close_fds: Vec<RawFd>,
    /// In a user namespace: each bind mount's source cloned on the host side
    /// (see rootfs::RootfsPlan::bind_trees), by index in `mounts`.
    pub bind_trees: Vec<Option<OwnedFd>>,
    /// The process's fds 0-2 (each inherited when not given).
    pub stdio: &'a Stdio,
    /// The session keyring the init joins (`_ses.<id>`, as runc names it);
    /// None with `--no-new-keyring`.
    pub session_keyring: Option<String>,
}

impl InitConfig<'_> {
    /// One clone makes everything unless a user namespace is involved.
    fn single_clone(&self) -> bool {
        !self.plan.ns.has(Ns::User)
    }
}

/// What the init sent up besides messages.
#[derive(Debug, Default)]
pub struct SentFds {
    pub console: Option<OwnedFd>,
}

/// A started init. A seccomp listener never comes up here: the init (or the
/// exec'd process) hands it to the agent itself, right before its execve.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub console: Option<OwnedFd>,
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

/// [`brig_cgroups::clone3_into_cgroup`] for a `File` of the directory.
fn clone3_into_cgroup(flags: CloneFlags, cgroup_dir: &std::fs::File) -> nix::Result<i32> {
    use std::os::fd::AsRawFd;
    brig_cgroups::clone3_into_cgroup(flags.bits() as u64, cgroup_dir.as_raw_fd())
        .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)))
}

/// A new process (fork-like: 0 in the child) with `flags`, that joins `cgroup`
/// first thing with [`CgroupManager::join_new_process`], passing it the bool
/// returned here.
///
/// Where the manager uses cgroup2, the child is created in its cgroup2
/// directory by clone3 with CLONE_INTO_CGROUP (the bool is true), which saves
/// the migration and its RCU grace period. Anything that stops that (pure v1,
/// a kernel before 5.7 with no clone3 or no CLONE_INTO_CGROUP: ENOSYS, E2BIG,
/// EINVAL; a seccomp filter that refuses clone3; a directory that cannot be
/// opened or cannot take the process) falls back to clone(2), and the child
/// then joins cgroup2 through cgroup.procs. A failure the fallback shares
/// (EAGAIN from a pids limit, EPERM for a namespace) is reported by it.
fn clone_for_cgroup(flags: CloneFlags, cgroup: &dyn CgroupManager) -> nix::Result<(i32, bool)> {
    let dir = cgroup.clone_into_dir().and_then(|d| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(d)
            .ok()
    });
    if let Some(dir) = &dir {
        if let Ok(pid) = clone3_into_cgroup(flags, dir) {
            return Ok((pid, true));
        }
    }
    clone_process(flags).map(|pid| (pid, false))
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
        if let Some(j) = cfg.plan.ns.joined(Ns::Pid) {
            save(Ns::Pid)?;
            namespaces::join(j)?;
        }
        if let Some(j) = cfg.plan.ns.joined(Ns::Time) {
            save(Ns::Time)?;
            namespaces::join(j)?;
        }
        if cfg.plan.ns.creates(Ns::Time) {
            save(Ns::Time)?;
            namespaces::unshare(namespaces::clone_flag(Ns::Time))?;
            namespaces::write_time_offsets(&cfg.plan.spec)?;
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
        cfg.plan.ns.new & !(CloneFlags::CLONE_NEWCGROUP | namespaces::clone_flag(Ns::Time))
    } else {
        CloneFlags::empty()
    };
    let (pid, in_unified) = clone_for_cgroup(flags, cfg.cgroup).map_err(ProcessError::Clone)?;
    if pid == 0 {
        drop(parent);
        init::container_init(cfg, in_unified, child);
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
                let linux = cfg.plan.spec.linux().as_ref();
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
            Msg::IdsMapped | Msg::HooksDone { .. } | Msg::Console => {
                return Err(ProcessError::Init(
                    format!("unexpected message {msg:?} from init").into(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brig_cgroups::{Layout, V2Manager};
    use std::path::Path;

    /// Clone a child that waits to be killed; returns its pid and whether it
    /// was created in the cgroup2 directory.
    fn clone_waiting_child(mgr: &dyn CgroupManager) -> (i32, bool) {
        let (pid, in_unified) = clone_for_cgroup(CloneFlags::empty(), mgr).expect("clone");
        if pid == 0 {
            // SAFETY: the child only waits for its SIGKILL; pause and _exit are
            // async-signal-safe, so the copy of a multi-threaded test harness
            // is fine.
            unsafe {
                loop {
                    libc::pause();
                }
            }
        }
        (pid, in_unified)
    }

    fn kill_and_reap(pid: i32) {
        kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        let status = waitpid(Pid::from_raw(pid), None).unwrap();
        assert!(matches!(
            status,
            WaitStatus::Signaled(_, Signal::SIGKILL, _)
        ));
    }

    #[test]
    fn clone3_creates_the_child_in_its_cgroup2_dir() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: this test needs root (it makes a cgroup)");
            return;
        }
        let root = match brig_cgroups::detect_layout().unwrap() {
            Layout::Unified { root } | Layout::Hybrid { unified: root, .. } => root,
            Layout::Legacy { .. } => {
                eprintln!("skipped: no cgroup2 hierarchy on this host");
                return;
            }
        };
        let name = format!("brig-unit-clone3-{}", std::process::id());
        let mgr = V2Manager::new(&root, Path::new(&name)).unwrap();
        std::fs::create_dir(mgr.dir()).unwrap();
        struct Rmdir(PathBuf);
        impl Drop for Rmdir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let _rmdir = Rmdir(mgr.dir().to_path_buf());

        let (pid, in_unified) = clone_waiting_child(&mgr);
        let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        kill_and_reap(pid);
        assert!(in_unified, "clone3 with CLONE_INTO_CGROUP was not used");
        assert!(
            own.lines().any(|l| l == format!("0::/{name}")),
            "the child is not in {name}: {own}"
        );
    }

    #[test]
    fn clone_falls_back_when_clone3_cannot_use_the_dir() {
        // A plain directory, not a cgroup: clone3 refuses its fd, clone(2) runs.
        let tmp = tempfile::tempdir().unwrap();
        let mgr = V2Manager::new(tmp.path(), Path::new("x")).unwrap();
        std::fs::create_dir(mgr.dir()).unwrap();
        let (pid, in_unified) = clone_waiting_child(&mgr);
        kill_and_reap(pid);
        assert!(!in_unified);
    }
}
