//! cgroup managers for brig: one trait, one implementation per cgroup version,
//! and a hybrid manager that routes each controller to the hierarchy it is bound to.
//!
//! The runtime only sees [`CgroupManager`]. It asks [`detect_layout`] once per
//! command, checks linux.resources with [`validate_resources`] before anything
//! exists, and gets the container's manager from [`manager_for`].
//!
//! - v1 ([`V1Manager`]): one directory per mounted hierarchy, `name=systemd`
//!   included; device rules through devices.allow/deny.
//! - v2 ([`V2Manager`]): one directory; controllers are enabled top-down in
//!   the ancestors' cgroup.subtree_control; device rules are an eBPF program.
//! - hybrid ([`HybridManager`]): v1 for controllers bound to v1, cgroup2 for
//!   the rest, and the process joins both.
//!
//! Stats come in the shape of runc's `events --stats` ([`stats::Stats`]); OOM
//! kills are counted by the kernel and waited for with an [`OomWatcher`].
//! Nothing here needs an async runtime.

mod bpf;
mod clone;
mod fsutil;
mod hybrid;
mod mountinfo;
mod oom;
mod resources;
pub mod stats;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

pub use clone::{clone3_into_cgroup, CLONE_INTO_CGROUP};
pub use fsutil::read_proc;
pub use hybrid::HybridManager;
pub use mountinfo::{parse_mountinfo, parse_proc_cgroup, ProcCgroup};
pub use oom::{OomEvent, OomWatcher};
pub use resources::{
    blkio_weight_to_io_weight, check_cpuset_list, check_hugepage_size, shares_to_weight,
};
pub use stats::Stats;
pub use v1::V1Manager;
pub use v2::V2Manager;

/// How long freeze/thaw wait for the kernel to report the new state.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long destroy waits for killed processes to leave and for rmdir.
pub const DESTROY_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors name the controller, file or field they are about.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup layout: {0}")]
    Layout(String),
    #[error("{field}: {msg}")]
    InvalidResource { field: String, msg: String },
    #[error("{field}: not supported on this host: {why}")]
    Unsupported { field: String, why: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, CgroupError>;

/// How cgroups are mounted on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Pure cgroup v2 (`/sys/fs/cgroup` is cgroup2).
    Unified { root: PathBuf },
    /// v1 controllers, plus a cgroup2 mount (usually /sys/fs/cgroup/unified).
    Hybrid { v1: Vec<V1Mount>, unified: PathBuf },
    /// Pure cgroup v1.
    Legacy { v1: Vec<V1Mount> },
}

/// One mounted v1 hierarchy and the controllers bound to it
/// (`cpu,cpuacct` mounted together gives two entries here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
}

/// Freezer state of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezerState {
    Thawed,
    Frozen,
}

/// Everything a runtime needs from a container's cgroup.
/// `Send + Sync` so a manager can be shared with a `pre_exec` closure or a
/// watcher thread.
pub trait CgroupManager: std::fmt::Debug + Send + Sync {
    /// Create the cgroup (with parents) in every hierarchy the manager uses.
    fn create(&self) -> Result<()>;
    /// Apply linux.resources. Call [`validate_resources`] first.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Move a process into the cgroup. `pid == 0` means the calling process.
    fn add_process(&self, pid: i32) -> Result<()>;
    /// Move the calling process into the cgroup, the fast way. For a process
    /// just forked to become a container's init or exec'd process, while it is
    /// still **single-threaded** (a fork copies only the forking thread, and it
    /// has started none).
    ///
    /// Each v1 hierarchy is joined through `tasks` with pid 0, which moves the
    /// calling thread alone and so skips the global lock (and its RCU grace
    /// period, 5-16 ms) that moving a process through cgroup.procs takes; with
    /// one thread, the thread is the process. The cgroup2 directory is written
    /// through cgroup.procs (it has no such shortcut), unless `in_unified` says
    /// the process was created there already by clone3 with CLONE_INTO_CGROUP
    /// (see [`CgroupManager::clone_into_dir`]).
    fn join_new_process(&self, in_unified: bool) -> Result<()>;
    /// The cgroup2 directory a new process can be created in directly
    /// (clone3's CLONE_INTO_CGROUP), when the manager uses cgroup2 (pure v2 and
    /// hybrid). None on pure v1.
    fn clone_into_dir(&self) -> Option<&Path>;
    /// Host pids of every process in the cgroup.
    fn pids(&self) -> Result<Vec<i32>>;
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn freezer_state(&self) -> Result<FreezerState>;
    /// Kill every process inside (SIGKILL) and remove the cgroup, children included.
    /// Succeeds when the cgroup does not exist. Parents such as `/brig` stay:
    /// other containers share them, and removing one could race their create.
    fn destroy(&self) -> Result<()>;
    /// Remove the cgroup (children included) if no process is in it, without
    /// freezing or signalling anything: true when it is gone (or was never
    /// there), false when something is still inside, and then nothing was
    /// removed in the hierarchy that refused. A stopped container's cgroup is
    /// normally empty (its pid namespace died with its init), so `delete` tries
    /// this first and calls [`CgroupManager::destroy`] only when it says false.
    fn remove_if_empty(&self) -> Result<bool>;
    /// The directory of the cgroup in the hierarchy of `controller`
    /// (`"unified"` for the cgroup2 mount), if the manager uses it.
    fn path_of(&self, controller: &str) -> Option<PathBuf>;
    /// Usage counters, in the shape of runc's `events --stats` data. Counters
    /// of a controller the cgroup lacks are left at zero.
    fn stats(&self) -> Result<Stats>;
    /// How many processes the kernel's OOM killer has killed in the cgroup.
    fn oom_kill_count(&self) -> Result<u64>;
    /// A watcher that wakes on the cgroup's OOM events (see [`OomWatcher`]).
    fn oom_watcher(&self) -> Result<OomWatcher>;
}

/// One linux.resources.devices rule (`major`/`minor` None: any).
pub fn device_rule(
    allow: bool,
    typ: oci_spec::runtime::LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> oci_spec::runtime::LinuxDeviceCgroup {
    let mut b = oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(typ)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().expect("every field of a device rule is set")
}

/// Read the host's layout from /proc/self/mountinfo. Call it once per command
/// and pass the result around.
pub fn detect_layout() -> Result<Layout> {
    let path = Path::new("/proc/self/mountinfo");
    parse_mountinfo(&fsutil::read(path)?)
}

/// Check linux.resources against the layout before anything is created:
/// values and their relations, fields the layout's cgroup version cannot
/// express, controllers that are not there, and v1 knobs whose absence shows at
/// the hierarchy root. Errors name the field (`linux.resources.memory.swap`).
/// Knobs that only show below the root (blkio.bfq.weight, io.weight,
/// memory.swap.max, hugetlb page sizes on v2) are checked by
/// [`CgroupManager::apply`], which names the field just the same.
///
/// As in runc, 0 in memory limit/reservation/swap/kernelTCP and cpu
/// shares/quota/period means "not set" (a client such as `update` sends only
/// what changes), and a pids limit of 0 or below means unlimited.
pub fn validate_resources(layout: &Layout, resources: &LinuxResources) -> Result<()> {
    resources::validate(layout, resources)
}

/// The manager for a container. `cgroups_path` is linux.cgroupsPath:
/// absolute paths are taken from the hierarchy root, relative ones from the
/// calling process's own cgroup. `None` gives `/brig/<id>`.
pub fn manager_for(
    layout: &Layout,
    cgroups_path: Option<&std::path::Path>,
    id: &str,
) -> Result<Box<dyn CgroupManager>> {
    let target = CgroupTarget::new(cgroups_path, id)?;
    let own = if target.relative {
        fsutil::read(Path::new("/proc/self/cgroup"))?
    } else {
        String::new()
    };
    build_manager(layout, &target, &own)
}

/// [`manager_for`] with relative paths resolved against the cgroups in
/// `proc_cgroup` (the text of some `/proc/<pid>/cgroup`) instead of the caller's.
pub fn manager_for_process(
    layout: &Layout,
    cgroups_path: Option<&Path>,
    id: &str,
    proc_cgroup: &str,
) -> Result<Box<dyn CgroupManager>> {
    build_manager(layout, &CgroupTarget::new(cgroups_path, id)?, proc_cgroup)
}

/// The parent of every container's cgroup without a cgroupsPath
/// (`/brig/<id>` in each hierarchy).
pub const DEFAULT_PARENT: &str = "brig";

/// A checked cgroupsPath.
struct CgroupTarget {
    relative: bool,
    /// Without a leading `/`.
    path: PathBuf,
}

impl CgroupTarget {
    fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Self> {
        let invalid = |field: &str, msg: String| CgroupError::InvalidResource {
            field: field.into(),
            msg,
        };
        let p = match cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => {
                if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\0']) {
                    return Err(invalid("id", format!("{id:?} cannot name a cgroup")));
                }
                return Ok(CgroupTarget {
                    relative: false,
                    path: Path::new(DEFAULT_PARENT).join(id),
                });
            }
        };
        use std::os::unix::ffi::OsStrExt;
        if p.as_os_str().as_bytes().contains(&0) {
            return Err(invalid(
                "linux.cgroupsPath",
                format!("{} contains a NUL byte", p.display()),
            ));
        }
        let mut path = PathBuf::new();
        for c in p.components() {
            match c {
                Component::Normal(n) => path.push(n),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(invalid(
                        "linux.cgroupsPath",
                        format!("{} must not contain \"..\"", p.display()),
                    ))
                }
            }
        }
        // "/" or "." would make the container's cgroup the root (or the caller's):
        // its destroy would kill every process there.
        if path.as_os_str().is_empty() {
            return Err(invalid(
                "linux.cgroupsPath",
                format!("{} names no cgroup of its own", p.display()),
            ));
        }
        Ok(CgroupTarget {
            relative: !p.is_absolute(),
            path,
        })
    }

    /// The cgroup's directory in a hierarchy mounted at `mount`, where the
    /// reference process sits at `own` (used for relative paths only).
    fn dir(&self, mount: &Path, own: Option<&str>) -> PathBuf {
        let mut d = mount.to_path_buf();
        if self.relative {
            if let Some(own) = own {
                d.push(strip_root(Path::new(own)));
            }
        }
        d.push(&self.path);
        d
    }
}

/// Stats from v1 hierarchies where a controller is bound there, else from the
/// cgroup2 directory. The cgroup must exist.
pub(crate) fn collect_stats(v1: Option<&V1Manager>, v2: Option<&Path>) -> Result<Stats> {
    let main = match (v1, v2) {
        (Some(m), _) => m.main_dir(),
        (None, Some(d)) => d,
        (None, None) => return Ok(Stats::default()),
    };
    if !main.is_dir() {
        return Err(CgroupError::Io {
            path: main.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let on_v1 = |c: &str| v1.and_then(|m| m.dir_of(c));
    let mut s = Stats::default();
    if on_v1("cpu").is_some() || on_v1("cpuacct").is_some() {
        stats::v1_cpu(on_v1("cpu"), on_v1("cpuacct"), &mut s)?;
    } else if let Some(d) = v2 {
        stats::v2_cpu(d, &mut s)?;
    }
    match (on_v1("cpuset"), v2) {
        (Some(d), _) => stats::v1_cpuset(d, &mut s)?,
        (None, Some(d)) => stats::v2_cpuset(d, &mut s)?,
        _ => {}
    }
    match (on_v1("memory"), v2) {
        (Some(d), _) => stats::v1_memory(d, &mut s)?,
        (None, Some(d)) => stats::v2_memory(d, &mut s)?,
        _ => {}
    }
    if let Some(d) = on_v1("pids").or(v2) {
        stats::pids(d, &mut s)?;
    }
    match (on_v1("blkio"), v2) {
        (Some(d), _) => stats::v1_blkio(d, &mut s)?,
        (None, Some(d)) => stats::v2_io(d, &mut s)?,
        _ => {}
    }
    match (on_v1("hugetlb"), v2) {
        (Some(d), _) => stats::v1_hugetlb(d, &mut s)?,
        (None, Some(d)) => stats::v2_hugetlb(d, &mut s)?,
        _ => {}
    }
    Ok(s)
}

/// The error for stats/OOM calls on a manager without a memory cgroup.
pub(crate) fn no_memory_controller() -> CgroupError {
    CgroupError::Unsupported {
        field: "memory".into(),
        why: "the memory controller is not available to this cgroup".into(),
    }
}

/// `p` without its leading `/`, for joining under a mount point.
pub(crate) fn strip_root(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

fn build_manager(
    layout: &Layout,
    target: &CgroupTarget,
    own: &str,
) -> Result<Box<dyn CgroupManager>> {
    let entries = if target.relative {
        parse_proc_cgroup(own)?
    } else {
        Vec::new()
    };
    // Outside its cgroup namespace's root a process sees paths with "..": a
    // relative cgroupsPath cannot be resolved from there without leaving the
    // hierarchy.
    if let Some(e) = entries.iter().find(|e| {
        Path::new(&e.path)
            .components()
            .any(|c| c == Component::ParentDir)
    }) {
        return Err(CgroupError::InvalidResource {
            field: "linux.cgroupsPath".into(),
            msg: format!(
                "relative, but our own cgroup {:?} lies outside our cgroup namespace",
                e.path
            ),
        });
    }
    let own_v1 = |m: &V1Mount| -> Result<Option<&str>> {
        if !target.relative {
            return Ok(None);
        }
        mountinfo::own_v1_path(&entries, &m.controllers)
            .map(Some)
            .ok_or_else(|| {
                CgroupError::Layout(format!(
                    "no line for {} in /proc/self/cgroup to resolve a relative linux.cgroupsPath",
                    m.controllers.join(",")
                ))
            })
    };
    let own_v2 = || -> Result<Option<&str>> {
        if !target.relative {
            return Ok(None);
        }
        mountinfo::own_v2_path(&entries).map(Some).ok_or_else(|| {
            CgroupError::Layout(
                "no 0:: line in /proc/self/cgroup to resolve a relative linux.cgroupsPath".into(),
            )
        })
    };
    let v1_dirs = |v1: &[V1Mount]| -> Result<Vec<(V1Mount, PathBuf)>> {
        v1.iter()
            .map(|m| Ok((m.clone(), target.dir(&m.mount_point, own_v1(m)?))))
            .collect()
    };
    Ok(match layout {
        Layout::Unified { root } => Box::new(V2Manager::with_dir(
            root,
            target.dir(root, own_v2()?),
            true,
        )?),
        Layout::Hybrid { v1, unified } => Box::new(HybridManager::with_dirs(
            v1_dirs(v1)?,
            unified,
            target.dir(unified, own_v2()?),
        )?),
        Layout::Legacy { v1 } => Box::new(V1Manager::with_dirs(v1_dirs(v1)?)?),
    })
}

/// For `pre_exec` closures, which must return `io::Error`.
impl From<CgroupError> for std::io::Error {
    fn from(e: CgroupError) -> std::io::Error {
        match e {
            CgroupError::Io { path, source } => {
                std::io::Error::new(source.kind(), format!("{}: {source}", path.display()))
            }
            other => std::io::Error::other(other.to_string()),
        }
    }
}
