//! The container init: runs in the cloned child, sets the container up, waits on
//! the exec fifo for `start`, and execs the user's process.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, Gid, Uid};
use oci_spec::runtime::LinuxNamespaceType as Ns;

use super::message::{Channel, InitError, Msg};
use super::user_process::{self, step};
use super::InitConfig;
use crate::hooks::{self, Phase};
use crate::namespaces;
use crate::rootfs::{self, RootfsPlan};
use crate::security;

/// Never returns: the init either execs the user process or exits after
/// reporting its error to the parent.
/// `in_unified`: the clone made it in its cgroup2 directory already.
pub(super) fn container_init(cfg: &InitConfig, in_unified: bool, ch: Channel) -> ! {
    let told_start = std::cell::Cell::new(false);
    let err = match setup(cfg, in_unified, &ch, &told_start) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Before Ready the parent is listening; after it, `start` got the error
    // through the fifo and reports it (once), else only stderr is left.
    if ch.send(&Msg::Error(err.clone())).is_err() && !told_start.get() {
        eprintln!("brig: container init: {err}");
    }
    // SAFETY: _exit skips atexit handlers and buffers that belong to the parent.
    unsafe { libc::_exit(127) }
}

enum Never {}

fn setup(
    cfg: &InitConfig,
    in_unified: bool,
    ch: &Channel,
    told_start: &std::cell::Cell<bool>,
) -> Result<Never, InitError> {
    for fd in &cfg.close_fds {
        let _ = nix::unistd::close(*fd);
    }
    step("stdio", cfg.stdio.install(3 + cfg.preserve_fds))?;
    // Whatever brig inherited past stdio and the preserved fds goes at any exec
    // from here on (hooks included), not only at the program's.
    step("fds", crate::sys::cloexec_from(3 + cfg.preserve_fds))?;
    // Until the exec, this process runs the brig binary inside the container:
    // non-dumpable, its /proc/PID/exe cannot be opened by the container's
    // processes (CVE-2019-5736, overwriting the runtime through it).
    step("prctl", nix::sys::prctl::set_dumpable(false))?;
    // Die with the parent while it drives the setup.
    step("prctl", nix::sys::prctl::set_pdeathsig(Signal::SIGKILL))?;
    let process = &cfg.plan.process;
    // A SCMP_ACT_NOTIFY listener goes straight from here to the seccomp agent,
    // right before the execve (see user_process::exec). Its socket is reached
    // now, while the path is the runtime's and we are still the runtime's user.
    let agent_sock = match agent_path(cfg) {
        Some(path) => Some(step(
            "linux.seccomp.listenerPath",
            crate::security::seccomp::connect_agent(path),
        )?),
        None => None,
    };

    // Join the cgroup first: a cgroup namespace made later has it as root, and
    // nothing the init does escapes the limits. This process is a fresh clone
    // of one thread of brig and has started no thread of its own, so it is
    // single-threaded, which join_new_process needs: on v1 it moves the calling
    // thread only (through `tasks`), and here that thread is the whole process.
    step("joining cgroup", cfg.cgroup.join_new_process(in_unified))?;
    if let Some(adj) = process.oom_score_adj {
        step("process.oomScoreAdj", security::set_oom_score_adj(adj))?;
    }

    // The fifo lives outside the rootfs: hold it by an O_PATH fd across
    // pivot_root. Opened while still the host's root in the host's mounts:
    // the state root is 0700, which a user namespace's root cannot walk.
    let fifo = step(
        "exec fifo",
        open(&cfg.fifo, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()),
    )?;
    enter_namespaces(cfg, ch)?;
    // In the container's namespaces (the keyring belongs to its user namespace).
    user_process::new_session(cfg.session_keyring.as_deref())?;

    if let Some(h) = &cfg.plan.hostname {
        step("hostname", nix::unistd::sethostname(h))?;
    }
    if let Some(d) = &cfg.plan.domainname {
        step("domainname", set_domainname(d))?;
    }

    let mounter = cfg.mounter;
    let plan = RootfsPlan {
        propagation: cfg.plan.rootfs_propagation,
        devices: &cfg.plan.devices,
        mounts: &cfg.plan.mounts,
        rootfs: &cfg.plan.rootfs,
        cgroups: &cfg.cgroup_mounts,
        mount_cgroupfs: cfg.plan.ns.has(Ns::Cgroup) && !cfg.plan.ns.has(Ns::User),
        bind_devices: cfg.plan.ns.has(Ns::User),
        bind_trees: &cfg.bind_trees,
    };
    step("rootfs", rootfs::prepare(mounter, &plan))?;
    for fd in cfg.bind_trees.iter().flatten() {
        let _ = nix::unistd::close(fd.as_raw_fd());
    }

    // The parent runs prestart and createRuntime now; both sides read the
    // same plan, so the parent waits for MountsReady only when this sends it.
    let state = if cfg.plan.needs_hook_state() {
        ch.send(&Msg::MountsReady).map_err(|e| e.to_string())?;
        match ch.recv().map_err(|e| e.to_string())? {
            Msg::HooksDone { state } => state,
            other => return Err(format!("unexpected message {other:?}").into()),
        }
    } else {
        String::new()
    };
    let hook_list = cfg.plan.hooks.as_ref();
    let hook_env = process.env.as_deref();
    step(
        "createContainer hook",
        hooks::run_phase_env(
            hook_list,
            Phase::CreateContainer,
            state.as_bytes(),
            hook_env,
        ),
    )?;

    step(
        "pivot_root",
        rootfs::pivot(mounter, &cfg.plan.rootfs, cfg.no_pivot),
    )?;
    for s in &cfg.plan.sysctl {
        step(
            &format!("linux.sysctl.{}", s.key),
            std::fs::write(&s.path, &s.value),
        )?;
    }
    step("rootfs", rootfs::finish(mounter, cfg.plan))?;
    if process.terminal {
        super::terminal::setup_in_container(
            ch,
            process.console_size.as_ref(),
            true,
            process.user.uid(),
        )?;
    }

    if let Some(p) = &cfg.plan.personality {
        set_personality(p)?;
    }
    let prepared = user_process::prepare(process, true)?;
    let agent = match agent_sock {
        Some(sock) => Some(user_process::Agent {
            sock,
            message: agent_message(cfg, &state)?,
        }),
        None => None,
    };
    user_process::set_credentials(process, cfg.plan.seccomp.as_ref())?;

    // From here the parent is gone (create returned): errors go to stderr,
    // and to `start` through the fifo.
    step("prctl", nix::sys::prctl::set_pdeathsig(None))?;
    ch.send(&Msg::Ready).map_err(|e| e.to_string())?;
    let started = wait_for_start(&fifo)?;
    // `start` reads the fifo to its end: it closes at our execve (close-on-exec),
    // or after we wrote why we failed. So start returns, and runs poststart,
    // only once the startContainer hooks ran and the program runs.
    let tell_start = |e: InitError| {
        if nix::unistd::write(&started, e.to_string().as_bytes()).is_ok() {
            told_start.set(true);
        }
        e
    };
    step(
        "startContainer hook",
        hooks::run_phase_env(hook_list, Phase::StartContainer, state.as_bytes(), hook_env),
    )
    .map_err(tell_start)?;
    Err(tell_start(user_process::exec(
        &prepared,
        cfg.preserve_fds,
        cfg.plan.seccomp.as_ref(),
        agent.as_ref(),
    )))
}

/// linux.seccomp.listenerPath, when the filter has a SCMP_ACT_NOTIFY rule.
fn agent_path<'a>(cfg: &InitConfig<'a>) -> Option<&'a std::path::Path> {
    cfg.plan.seccomp_listener.as_ref().map(|l| l.path.as_path())
}

/// The ContainerProcessState for the seccomp agent, from the state JSON the
/// hooks get (the container's host pid, status created).
fn agent_message(cfg: &InitConfig, state: &str) -> Result<Vec<u8>, InitError> {
    let st: oci_spec::runtime::State =
        serde_json::from_str(state).map_err(|e| InitError::at("linux.seccomp: state", e))?;
    let metadata = cfg
        .plan
        .seccomp_listener
        .as_ref()
        .and_then(|l| l.metadata.as_deref());
    crate::security::seccomp::listener_message(&st, metadata)
        .map_err(|e| InitError::at("linux.seccomp.listenerPath", e))
}

/// Enter every namespace the config names. In the single-clone case the new ones
/// exist already (but the cgroup one); otherwise make them here, user first.
fn enter_namespaces(cfg: &InitConfig, ch: &Channel) -> Result<(), InitError> {
    let children_only = |t: Ns| matches!(t, Ns::Pid | Ns::Time);
    for j in cfg.plan.ns.join.iter().filter(|j| !children_only(j.typ)) {
        step("linux.namespaces", namespaces::join(j))?;
    }
    if cfg.plan.ns.joined(Ns::User).is_some() {
        // A joined user namespace maps ids its own way: become its root (when
        // mapped) for the rest of the setup, as with a new one; otherwise the
        // unmapped host uid makes every file the setup creates fail (EOVERFLOW).
        let _ = nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0));
        let _ = nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0));
    }
    let cgroup = namespaces::clone_flag(Ns::Cgroup);
    if cfg.single_clone() {
        if cfg.plan.ns.creates(Ns::Cgroup) {
            step("linux.namespaces", namespaces::unshare(cgroup))?;
        }
        return Ok(());
    }
    if cfg.plan.ns.creates(Ns::User) {
        step(
            "linux.namespaces",
            namespaces::unshare(CloneFlags::CLONE_NEWUSER),
        )?;
        ch.send(&Msg::MapIds).map_err(|e| e.to_string())?;
        match ch.recv().map_err(|e| e.to_string())? {
            Msg::IdsMapped => {}
            other => return Err(format!("unexpected message {other:?}").into()),
        }
        // Become the namespace's root (when mapped) for the rest of the setup.
        let _ = nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0));
        let _ = nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0));
    }
    let rest = cfg.plan.ns.new & !(CloneFlags::CLONE_NEWUSER | namespaces::clone_flag(Ns::Time));
    step("linux.namespaces", namespaces::unshare(rest))?;
    if cfg.plan.ns.creates(Ns::Pid) {
        // unshare(CLONE_NEWPID) only moves our children: fork the real init.
        // SAFETY: single-threaded process.
        match step("fork", unsafe { nix::unistd::fork() })? {
            ForkResult::Child => {}
            ForkResult::Parent { child } => {
                let code = if ch.send(&Msg::Pid(child.as_raw())).is_ok() {
                    0
                } else {
                    1
                };
                // SAFETY: leave without running the parent's exit handlers.
                unsafe { libc::_exit(code) }
            }
        }
        // No parent-death signal here: our parent is the intermediate, which exits
        // now. If brig dies, the next send or recv on the sync socket fails instead.
    }
    Ok(())
}

/// linux.personality: the execution domain the container's program runs in
/// (`uname -m` says i686 under LINUX32), kept across execve. Before the
/// seccomp filter, which may not allow personality(2).
pub(super) fn set_personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<(), String> {
    use oci_spec::runtime::LinuxPersonalityDomain as D;
    const PER_LINUX: libc::c_ulong = 0x0000;
    const PER_LINUX32: libc::c_ulong = 0x0008;
    let persona = match p.domain() {
        D::PerLinux => PER_LINUX,
        D::PerLinux32 => PER_LINUX32,
    };
    // SAFETY: personality(2) takes a plain integer and touches no memory.
    if unsafe { libc::personality(persona) } < 0 {
        return Err(format!(
            "linux.personality.domain: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn set_domainname(name: &str) -> Result<(), std::io::Error> {
    // SAFETY: pointer and length of a live byte slice.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Block until `start` opens the fifo for reading, then tell it we are going.
fn wait_for_start(fifo: &OwnedFd) -> Result<OwnedFd, InitError> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let fd = step(
        "exec fifo (is /proc mounted?)",
        open(
            path.as_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ),
    )?;
    step("exec fifo", nix::unistd::write(&fd, b"0"))?;
    Ok(fd)
}
