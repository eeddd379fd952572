//! The container plan: config.json compiled once, before anything exists.
//!
//! `compile` loads and validates the bundle and keeps what validation parsed:
//! each mount's flags, propagation and data, the process's scheduler and I/O
//! priority, the seccomp program, the namespace actions. The init executes
//! the plan; nothing downstream parses mount options or sched attributes again.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{Hooks, LinuxDevice, LinuxPersonality, Mount, PosixRlimit, Spec, User};

use super::SpecError;
use crate::namespaces::NsPlan;
use crate::rootfs::mounts::MountOptions;
use crate::security::sched::SchedAttr;
use crate::security::seccomp::Program;
use crate::security::CapSets;

/// One entry of `mounts`, with its options parsed and a relative bind source
/// made absolute against the bundle.
#[derive(Debug, Clone)]
pub struct PlannedMount {
    pub mount: Mount,
    pub opts: MountOptions,
}

/// `process` compiled: everything the init (and exec) apply to the process
/// and its execve, with the values validation computed, so that they only
/// apply them.
#[derive(Debug)]
pub struct ProcessPlan {
    /// process.args (not empty: validated).
    pub args: Vec<String>,
    /// process.env as configured (the init adds HOME when it is missing).
    pub env: Option<Vec<String>>,
    pub cwd: PathBuf,
    pub terminal: bool,
    pub console_size: Option<oci_spec::runtime::Box>,
    /// process.user: uid, gid, additionalGids, umask.
    pub user: User,
    /// process.capabilities, each set resolved to the capabilities the
    /// running kernel has (the others are ignored, as runtime-spec says).
    pub capabilities: Option<CapSets>,
    pub no_new_privileges: bool,
    pub rlimits: Vec<PosixRlimit>,
    pub oom_score_adj: Option<i32>,
    /// process.ioPriority as the value ioprio_set(2) takes.
    pub ioprio: Option<i32>,
    /// process.scheduler as the struct sched_setattr(2) takes.
    pub sched: Option<SchedAttr>,
}

/// One entry of linux.sysctl: the file under /proc/sys it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// The key as configured (`net.ipv4.ip_forward`), for errors.
    pub key: String,
    /// `/proc/sys/net/ipv4/ip_forward`.
    pub path: PathBuf,
    pub value: String,
}

/// Where a SCMP_ACT_NOTIFY listener goes (linux.seccomp.listenerPath and
/// listenerMetadata), when the compiled filter has such a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompListener {
    pub path: PathBuf,
    pub metadata: Option<String>,
}

/// config.json compiled: everything create and the init act on.
#[derive(Debug)]
pub struct ContainerPlan {
    /// The bundle, absolute.
    pub bundle: PathBuf,
    /// The spec as loaded (bind sources absolute); kept for what is recorded
    /// in the state (hooks, annotations) and for fields the plan does not
    /// type yet.
    pub spec: Spec,
    /// root.path resolved against the bundle.
    pub rootfs: PathBuf,
    pub mounts: Vec<PlannedMount>,
    pub process: ProcessPlan,
    /// linux.seccomp compiled to BPF.
    pub seccomp: Option<Program>,
    /// Which namespaces to make and which to join.
    pub ns: NsPlan,
    /// hostname and domainname, when set and not empty.
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// linux.sysctl, by key.
    pub sysctl: Vec<Sysctl>,
    /// linux.personality.
    pub personality: Option<LinuxPersonality>,
    /// hooks: the init runs createContainer and startContainer.
    pub hooks: Option<Hooks>,
    /// The seccomp agent's socket, when the program has a SCMP_ACT_NOTIFY rule.
    pub seccomp_listener: Option<SeccompListener>,
    /// linux.rootfsPropagation as mount flags.
    pub rootfs_propagation: Option<MsFlags>,
    /// root.readonly.
    pub readonly_root: bool,
    /// linux.readonlyPaths and linux.maskedPaths (paths in the container).
    pub readonly_paths: Vec<PathBuf>,
    pub masked_paths: Vec<PathBuf>,
    /// linux.devices.
    pub devices: Vec<LinuxDevice>,
}

impl ContainerPlan {
    /// Whether the init must stop after its mounts for the runtime's prestart
    /// and createRuntime hooks, and take the created state back for its own
    /// createContainer and startContainer hooks and the seccomp agent. Without
    /// any of them the init goes straight on: one round trip less per create.
    pub fn needs_hook_state(&self) -> bool {
        use crate::hooks::Phase;
        let any_hook = self.hooks.as_ref().is_some_and(|h| {
            [
                Phase::Prestart,
                Phase::CreateRuntime,
                Phase::CreateContainer,
                Phase::StartContainer,
            ]
            .iter()
            .any(|p| !p.list(h).is_empty())
        });
        any_hook || self.seccomp_listener.is_some()
    }
}

/// linux.sysctl as the files it writes, sorted by key.
fn compile_sysctl(spec: &Spec) -> Vec<Sysctl> {
    let mut v: Vec<Sysctl> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
        .map(|(k, v)| Sysctl {
            key: k.clone(),
            path: PathBuf::from("/proc/sys").join(k.replace('.', "/")),
            value: v.clone(),
        })
        .collect();
    v.sort_by(|a, b| a.key.cmp(&b.key));
    v
}

/// The process plan of a validated `Process`; the errors name the field.
pub fn compile_process(p: &oci_spec::runtime::Process) -> Result<ProcessPlan, SpecError> {
    let ioprio = p
        .io_priority()
        .as_ref()
        .map(crate::security::sched::ioprio_value)
        .transpose()
        .map_err(|m| SpecError::invalid("process.ioPriority.priority", m))?;
    let sched = p
        .scheduler()
        .as_ref()
        .map(crate::security::sched::sched_attr)
        .transpose()
        .map_err(|(f, m)| SpecError::invalid(f, m))?;
    Ok(ProcessPlan {
        args: p.args().clone().unwrap_or_default(),
        env: p.env().clone(),
        cwd: p.cwd().clone(),
        terminal: p.terminal().unwrap_or(false),
        console_size: p.console_size(),
        user: p.user().clone(),
        capabilities: p.capabilities().as_ref().map(CapSets::resolve),
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        rlimits: p.rlimits().clone().unwrap_or_default(),
        oom_score_adj: p.oom_score_adj(),
        ioprio,
        sched,
    })
}

/// Why a bundle did not compile: the config is wrong (naming the field), or
/// a namespace it names to join cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Ns(#[from] crate::namespaces::NsError),
}

/// Load `<bundle>/config.json`, validate it, and compile it into a plan.
pub fn compile(bundle: &Path) -> Result<ContainerPlan, PlanError> {
    let (bundle, spec) = super::load_raw(bundle)?;
    compile_spec(bundle, spec)
}

/// [`compile_spec`] for a spec already in memory and the bundle it belongs
/// to (made absolute, as [`compile`] makes it): the engine builds one, and
/// does not read back the config.json it wrote.
pub fn compile_in_memory(bundle: &Path, spec: Spec) -> Result<ContainerPlan, PlanError> {
    let bundle = std::path::absolute(bundle).map_err(|source| SpecError::Read {
        path: bundle.to_path_buf(),
        source,
    })?;
    compile_spec(bundle, spec)
}

/// [`compile`] for a spec already in memory: the engine builds one without a
/// round trip through config.json.
pub fn compile_spec(bundle: PathBuf, mut spec: Spec) -> Result<ContainerPlan, PlanError> {
    let (opts, process) = super::validate::validate_parsed(&spec, &bundle)?;
    let mut mounts: Vec<PlannedMount> = spec
        .mounts()
        .iter()
        .flatten()
        .cloned()
        .zip(opts)
        .map(|(mount, opts)| PlannedMount { mount, opts })
        .collect();
    // runtime-spec: bind sources are absolute or relative to the bundle.
    for m in &mut mounts {
        if let Some(src) = m
            .mount
            .source()
            .clone()
            .filter(|s| m.opts.is_bind() && s.is_relative())
        {
            m.mount.set_source(Some(bundle.join(src)));
        }
    }
    if spec.mounts().is_some() {
        spec.set_mounts(Some(mounts.iter().map(|m| m.mount.clone()).collect()));
    }
    let seccomp = super::compile_seccomp(super::seccomp_of(&spec))?;
    let ns = NsPlan::from_spec(&spec)?;
    let rootfs = super::rootfs_of(&bundle, &spec);
    let seccomp_listener = seccomp
        .as_ref()
        .filter(|p| p.has_listener())
        .and_then(|_| super::seccomp_of(&spec))
        .and_then(|s| {
            Some(SeccompListener {
                path: s.listener_path().clone()?,
                metadata: s.listener_metadata().clone(),
            })
        });
    let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let linux = spec.linux().as_ref();
    let paths = |v: Option<&Vec<String>>| -> Vec<PathBuf> {
        v.into_iter().flatten().map(PathBuf::from).collect()
    };
    Ok(ContainerPlan {
        rootfs_propagation: linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .and_then(crate::rootfs::mounts::propagation_flags),
        readonly_root: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        readonly_paths: paths(linux.and_then(|l| l.readonly_paths().as_ref())),
        masked_paths: paths(linux.and_then(|l| l.masked_paths().as_ref())),
        devices: linux.and_then(|l| l.devices().clone()).unwrap_or_default(),
        hostname: non_empty(spec.hostname()),
        domainname: non_empty(spec.domainname()),
        sysctl: compile_sysctl(&spec),
        personality: spec.linux().as_ref().and_then(|l| l.personality().clone()),
        hooks: spec.hooks().clone(),
        seccomp_listener,
        bundle,
        spec,
        rootfs,
        mounts,
        process,
        seccomp,
        ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::mount::MsFlags;

    fn bundle_with(mounts: serde_json::Value, scheduler: serde_json::Value) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("rootfs")).unwrap();
        std::fs::create_dir_all(tmp.path().join("data")).unwrap();
        let mut c: serde_json::Value =
            serde_json::from_str(super::super::default_spec_text()).unwrap();
        c["mounts"] = mounts;
        c["process"]["scheduler"] = scheduler;
        std::fs::write(tmp.path().join("config.json"), c.to_string()).unwrap();
        tmp
    }

    #[test]
    fn mounts_and_the_scheduler_are_parsed_once_into_the_plan() {
        let tmp = bundle_with(
            serde_json::json!([
                {"destination": "/data", "source": "data", "options": ["rbind", "ro", "rslave"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "mode=1777", "size=64k"]}
            ]),
            serde_json::json!({"policy": "SCHED_BATCH", "nice": 3}),
        );
        let plan = compile(tmp.path()).unwrap();
        assert_eq!(plan.mounts.len(), 2);
        let bind = &plan.mounts[0];
        // A relative bind source is the bundle's, made absolute once.
        assert_eq!(
            bind.mount.source().as_deref(),
            Some(plan.bundle.join("data").as_path())
        );
        assert_eq!(
            plan.spec.mounts().as_ref().unwrap()[0].source(),
            bind.mount.source()
        );
        assert!(bind
            .opts
            .flags
            .contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(bind.opts.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        let tmpfs = &plan.mounts[1];
        assert_eq!(
            tmpfs.opts.data_string().as_deref(),
            Some("mode=1777,size=64k")
        );
        assert!(plan.process.sched.is_some());
        assert_eq!(plan.rootfs, plan.bundle.join("rootfs"));
    }

    #[test]
    fn the_init_settings_are_typed_in_the_plan() {
        let tmp = bundle_with(serde_json::json!([]), serde_json::Value::Null);
        let path = tmp.path().join("config.json");
        let mut c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        c["hostname"] = "box".into();
        c["domainname"] = "".into();
        c["linux"]["sysctl"] =
            serde_json::json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"});
        c["hooks"] = serde_json::json!({"createContainer": [{"path": "/bin/true"}]});
        std::fs::write(&path, c.to_string()).unwrap();
        let plan = compile(tmp.path()).unwrap();
        assert_eq!(plan.hostname.as_deref(), Some("box"));
        // An empty name is left alone, as when it is missing.
        assert_eq!(plan.domainname, None);
        assert_eq!(
            plan.sysctl,
            [
                Sysctl {
                    key: "kernel.msgmax".into(),
                    path: "/proc/sys/kernel/msgmax".into(),
                    value: "8192".into()
                },
                Sysctl {
                    key: "net.ipv4.ip_forward".into(),
                    path: "/proc/sys/net/ipv4/ip_forward".into(),
                    value: "1".into()
                },
            ]
        );
        let hooks = plan.hooks.as_ref().unwrap();
        assert_eq!(hooks.create_container().as_ref().unwrap().len(), 1);
        assert!(plan.seccomp_listener.is_none());
    }

    #[test]
    fn the_init_stops_for_hooks_only_when_one_needs_it() {
        let tmp = bundle_with(serde_json::json!([]), serde_json::Value::Null);
        let path = tmp.path().join("config.json");
        let base: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let with = |hooks: serde_json::Value| {
            let mut c = base.clone();
            c["hooks"] = hooks;
            std::fs::write(&path, c.to_string()).unwrap();
            compile(tmp.path()).unwrap().needs_hook_state()
        };
        let one = serde_json::json!([{"path": "/bin/true"}]);
        assert!(!with(serde_json::Value::Null));
        assert!(!with(serde_json::json!({"prestart": []})));
        // Poststart and poststop run in start and delete, not in the init.
        assert!(!with(
            serde_json::json!({"poststart": one, "poststop": one})
        ));
        for phase in [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
        ] {
            assert!(with(serde_json::json!({ phase: one })), "{phase}");
        }
    }

    #[test]
    fn errors_still_name_the_field() {
        let tmp = bundle_with(
            serde_json::json!([{"destination": "/x", "source": "missing", "options": ["bind"]}]),
            serde_json::Value::Null,
        );
        let e = compile(tmp.path()).unwrap_err().to_string();
        assert!(
            e.contains("mounts[0].source") && e.contains("/missing: no such file"),
            "{e}"
        );
        let tmp = bundle_with(
            serde_json::json!([]),
            serde_json::json!({"policy": "SCHED_FIFO", "priority": 0}),
        );
        let e = compile(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("process.scheduler.priority"), "{e}");
    }
}
