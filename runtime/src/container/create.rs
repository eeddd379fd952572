//! `create`: validate everything, then make the state dir, the cgroup and the
//! init, which waits on the exec fifo. A failure undoes all of it.

use std::path::{Path, PathBuf};

use brig_cgroups::CgroupManager;
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNamespaceType;

use super::cgroup;
use super::state::{ContainerState, Status};
use super::store::{Locked, Store, FIFO_FILE};
use super::{write_atomic, ContainerError};
use crate::hooks::{self, Phase};
use crate::kernel::Kernel;
use crate::process::InitConfig;
use crate::spec;

#[derive(Debug, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// Where to send the master of the container's terminal (runc's --console-socket).
    pub console_socket: Option<PathBuf>,
    /// Where to send a pidfd of the container's init (runc's --pidfd-socket).
    pub pidfd_socket: Option<PathBuf>,
    /// The caller relays the terminal itself (`run` in the foreground).
    pub foreground: bool,
    /// The init's fds 0-2 when it has no terminal (default: brig's own).
    pub stdio: crate::process::Stdio,
    /// runc's `--no-new-keyring`: keep the caller's session keyring.
    pub no_new_keyring: bool,
    /// The config, when the caller has it in memory already (the engine,
    /// which built it): compiled instead of reading `bundle`/config.json
    /// again. The bundle is still the container's bundle (hooks, state).
    pub spec: Option<spec::Spec>,
    /// Systemd socket activation: brig got this many fds from 3 on
    /// (LISTEN_FDS, with LISTEN_PID our pid). They go to the container before
    /// the `preserve_fds` ones, with LISTEN_FDS=n and LISTEN_PID=1 in its
    /// environment, as runc passes them.
    pub listen_fds: i32,
}

/// A created container: its init waits for `start`.
#[derive(Debug)]
pub struct Created {
    pub state: ContainerState,
    /// The terminal's master, when the process has a terminal and no console
    /// socket took it.
    pub console: Option<std::os::fd::OwnedFd>,
}

/// A terminal goes to a console socket, or to a caller that stays to relay it.
fn check_terminal(spec: &spec::Spec, opts: &CreateOptions) -> Result<(), ContainerError> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    match (&opts.console_socket, terminal) {
        (None, true) if !opts.foreground => Err(spec::SpecError::invalid(
            "process.terminal",
            "a terminal needs --console-socket (or `run` in the foreground)",
        )
        .into()),
        (Some(_), false) => Err(ContainerError::Other(
            "--console-socket: the config's process.terminal is false".into(),
        )),
        (Some(path), true) => {
            use std::os::unix::fs::FileTypeExt;
            match std::fs::metadata(path) {
                Ok(m) if m.file_type().is_socket() => Ok(()),
                Ok(_) => Err(ContainerError::Other(format!(
                    "--console-socket {}: not a socket",
                    path.display()
                ))),
                Err(e) => Err(ContainerError::Other(format!(
                    "--console-socket {}: {e}",
                    path.display()
                ))),
            }
        }
        _ => Ok(()),
    }
}

/// Undoes a half-made container unless disarmed.
struct Undo<'a> {
    store: &'a Store,
    locked: Option<Locked>,
    cgroup: Option<Box<dyn CgroupManager>>,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.destroy();
        }
        if let Some(l) = self.locked.take() {
            let _ = self.store.remove(l);
        }
    }
}

pub fn create(store: &Store, id: &str, opts: &CreateOptions) -> Result<Created, ContainerError> {
    create_in(&crate::kernel::LINUX, store, id, opts)
}

/// [`create`] on the given kernel.
pub fn create_in(
    k: &Kernel,
    store: &Store,
    id: &str,
    opts: &CreateOptions,
) -> Result<Created, ContainerError> {
    // Everything that can be checked is checked before anything exists.
    super::validate_id(id)?;
    let step = |what: std::fmt::Arguments| super::trace::step("create", id, what);
    let mut plan = match &opts.spec {
        Some(s) => spec::compile_in_memory(&opts.bundle, s.clone())?,
        None => spec::compile(&opts.bundle)?,
    };
    if opts.listen_fds > 0 {
        let mut env = plan.process.env.clone().unwrap_or_default();
        env.push(format!("LISTEN_FDS={}", opts.listen_fds));
        env.push("LISTEN_PID=1".to_string());
        plan.process.env = Some(env.clone());
        if let Some(p) = plan.spec.process_mut() {
            p.set_env(Some(env));
        }
    }
    step(format_args!(
        "config compiled: {} mounts, namespaces {:?}, seccomp {}",
        plan.mounts.len(),
        plan.ns.new,
        if plan.seccomp.is_some() { "yes" } else { "no" }
    ));
    let (bundle, spec) = (&plan.bundle, &plan.spec);
    check_terminal(spec, opts)?;
    let layout = k.cgroups.layout()?;
    // The config's own resources first, so that errors give its rules' indexes.
    if let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        k.cgroups.validate(&layout, r)?;
    }
    let resources = cgroup::resources(spec);
    k.cgroups.validate(&layout, &resources)?;
    let ns = &plan.ns;
    if !ns.has(LinuxNamespaceType::Mount) {
        return Err(spec::SpecError::invalid(
            "linux.namespaces",
            "brig needs a mount namespace (add {\"type\": \"mount\"})",
        )
        .into());
    }
    // Before anything exists: a missing source fails here, leaving nothing.
    let bind_trees = open_bind_sources(&plan)?;
    let linux = spec.linux().as_ref();
    let cgroups_path = linux.and_then(|l| l.cgroups_path().clone());
    let (mgr, creator_cgroups) = cgroup::manager(k, &layout, cgroups_path.as_deref(), id)?;
    let rootfs = plan.rootfs.clone();

    let locked = store.create_locked(id)?;
    // After the id is taken (a duplicate id says so, whatever its cgroup
    // holds), before anything else is made.
    if let Err(e) = cgroup::check_usable(mgr.as_ref()) {
        let _ = store.remove(locked);
        return Err(e);
    }
    step(format_args!(
        "state dir {} made and locked",
        locked.dir.display()
    ));
    crate::failpoint::hit("create.after-mkdir");
    let mut undo = Undo {
        store,
        locked: None,
        cgroup: None,
    };
    let mut state = ContainerState {
        oci_version: spec.version().clone(),
        id: id.to_string(),
        status: Status::Creating,
        pid: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: crate::sys::rfc3339_now(),
        owner: owner_name(nix::unistd::geteuid().as_raw()),
        annotations: spec.annotations().clone().unwrap_or_default(),
        init_start_time: 0,
        cgroups_path,
        creator_cgroups,
        hooks: spec.hooks().clone(),
        own_pid_ns: ns.creates(LinuxNamespaceType::Pid),
        seccomp: spec::seccomp_of(spec).cloned(),
        personality: plan.personality.clone(),
        no_new_keyring: opts.no_new_keyring,
    };
    // Recorded before the cgroup exists, so that delete --force after a crash
    // here knows what to clean up.
    let lock_fd = locked.raw_fd();
    let dir = locked.dir.clone();
    // Held by the guard first: a failed first write removes the directory too.
    let locked = &*undo.locked.insert(locked);
    store.save(locked, &state)?;
    step(format_args!("state saved (creating)"));
    crate::failpoint::hit("create.after-state");

    let fifo = dir.join(FIFO_FILE);
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622))
        .map_err(|e| ContainerError::io(&fifo, e.into()))?;
    // The init may have switched to another user before it opens the fifo to
    // write; the umask must not take that right away.
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .map_err(|e| ContainerError::io(&fifo, e))?;

    mgr.create()?;
    undo.cgroup = Some(mgr);
    let mgr = undo.cgroup.as_deref().expect("just set");
    mgr.apply(&resources)?;
    step(format_args!("cgroup made, resources applied"));
    crate::failpoint::hit("create.after-cgroup");

    let cfg = InitConfig {
        plan: &plan,
        cgroup_mounts: cgroup::cgroup_mounts(&layout, mgr),
        cgroup: mgr,
        mounter: k.mounter,
        fifo,
        bind_trees,
        no_pivot: opts.no_pivot,
        preserve_fds: opts.listen_fds + opts.preserve_fds,
        close_fds: vec![lock_fd],
        stdio: &opts.stdio,
        session_keyring: state.session_keyring(),
    };
    let mut run_create_hooks = |pid: i32| -> Result<String, String> {
        state.pid = pid;
        let json = state.hook_json(Status::Creating);
        let h = spec.hooks().as_ref();
        step(format_args!(
            "init {pid} set up its mounts; prestart and createRuntime hooks"
        ));
        hooks::run_phase(h, Phase::Prestart, json.as_bytes()).map_err(|e| e.to_string())?;
        hooks::run_phase(h, Phase::CreateRuntime, json.as_bytes()).map_err(|e| e.to_string())?;
        Ok(state.hook_json(Status::Created))
    };
    let spawned = k.spawner.spawn_init(&cfg, &mut run_create_hooks)?;
    let (pid, mut console) = (spawned.pid, spawned.console);
    step(format_args!("init {pid} waits for start"));
    crate::failpoint::hit("create.after-spawn");
    if let (Some(path), Some(master)) = (&opts.console_socket, &console) {
        crate::process::terminal::send_to_console_socket(path, master).map_err(|e| {
            ContainerError::Other(format!("--console-socket {}: {e}", path.display()))
        })?;
        console = None;
    }
    if let Some(path) = &opts.pidfd_socket {
        crate::sys::send_pidfd_to_socket(path, pid).map_err(|e| {
            ContainerError::Other(format!("--pidfd-socket {}: {e}", path.display()))
        })?;
    }

    state.pid = pid;
    state.status = Status::Created;
    state.init_start_time = k.processes.stat(pid).map(|s| s.start_time).ok_or_else(|| {
        ContainerError::Other(format!("container init {pid} vanished after setup"))
    })?;
    let locked = undo.locked.as_ref().expect("held");
    store.save(locked, &state)?;
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid)?;
    }
    step(format_args!("state saved (created, pid {pid})"));
    // Done: keep everything.
    undo.cgroup = None;
    undo.locked = None;
    Ok(Created { state, console })
}

/// The name of `uid`, for the state's `owner`: from /etc/passwd, as runc
/// reads it, and through NSS (getpwuid_r) only for a uid that file lacks (a
/// directory user). NSS first would cost every create nscd's socket,
/// /etc/nsswitch.conf and then /etc/passwd anyway. Empty when nobody knows it.
/// In a user namespace, each bind mount's source as a detached clone made
/// here, with host root's right to walk to it (runc and crun also open bind
/// sources on the host side). The container's root may not be able to reach a
/// source under a directory only host root can enter. Elsewhere: none.
fn open_bind_sources(
    plan: &spec::ContainerPlan,
) -> Result<Vec<Option<std::os::fd::OwnedFd>>, ContainerError> {
    if !plan.ns.has(LinuxNamespaceType::User) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (i, planned) in plan.mounts.iter().enumerate() {
        let (m, opts) = (&planned.mount, &planned.opts);
        let tree = match m.source() {
            Some(src) if opts.is_bind() => Some(
                crate::sys::open_tree_clone(src, opts.flags.contains(nix::mount::MsFlags::MS_REC))
                    .map_err(|e| {
                        ContainerError::Other(format!("mounts[{i}].source: {}: {e}", src.display()))
                    })?,
            ),
            _ => None,
        };
        out.push(tree);
    }
    Ok(out)
}

fn owner_name(uid: u32) -> String {
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        if let Some(name) = passwd_name(&passwd, uid) {
            return name.to_string();
        }
    }
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default()
}

/// The first name in passwd(5) text whose uid is `uid`.
fn passwd_name(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid = fields.nth(1)?;
        (!name.is_empty() && !name.starts_with(['#', '+', '-']) && entry_uid.parse() == Ok(uid))
            .then_some(name)
    })
}

fn write_pid_file(path: &Path, pid: i32) -> Result<(), ContainerError> {
    let path = std::path::absolute(path).map_err(|e| ContainerError::io(path, e))?;
    write_atomic(&path, pid.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::passwd_name;

    #[test]
    fn passwd_names_by_uid() {
        let text = "# comment\n+nis\nroot:x:0:0:root:/root:/bin/sh\n\
                    bad line\ntoor:x:0:0::/:/bin/sh\nalice:x:1000:1000::/home/a:/bin/sh\n";
        assert_eq!(passwd_name(text, 0), Some("root"));
        assert_eq!(passwd_name(text, 1000), Some("alice"));
        assert_eq!(passwd_name(text, 1001), None);
        assert_eq!(passwd_name("", 0), None);
    }
}
