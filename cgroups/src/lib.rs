//! cgroup managers for brig: one trait, one implementation per cgroup version,
//! and a hybrid manager that routes each controller to the hierarchy it is bound to.
//!
//! The runtime only sees [`CgroupManager`]. It asks [`detect_layout`] once per
//! command and [`manager_for`] for the container's manager.

use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

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
    Hybrid {
        v1: Vec<V1Mount>,
        unified: PathBuf,
    },
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
pub trait CgroupManager: std::fmt::Debug {
    /// Create the cgroup (with parents) in every hierarchy the manager uses.
    fn create(&self) -> Result<()>;
    /// Apply linux.resources. Call [`validate_resources`] first.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Move a process into the cgroup. `pid == 0` means the calling process.
    fn add_process(&self, pid: i32) -> Result<()>;
    /// Host pids of every process in the cgroup.
    fn pids(&self) -> Result<Vec<i32>>;
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn freezer_state(&self) -> Result<FreezerState>;
    /// Kill every process inside (SIGKILL) and remove the cgroup, children included.
    /// Succeeds when the cgroup does not exist.
    fn destroy(&self) -> Result<()>;
    /// The directory of the cgroup in the hierarchy of `controller`
    /// (`"unified"` for the cgroup2 mount), if the manager uses it.
    fn path_of(&self, controller: &str) -> Option<PathBuf>;
}

/// Read the host's layout from /proc/self/mountinfo.
pub fn detect_layout() -> Result<Layout> {
    Err(CgroupError::Layout("not yet detected".into()))
}

/// Check linux.resources against the layout before anything is created.
pub fn validate_resources(_layout: &Layout, _resources: &LinuxResources) -> Result<()> {
    Ok(())
}

/// The manager for a container. `cgroups_path` is linux.cgroupsPath:
/// absolute paths are taken from the hierarchy root, relative ones from the
/// calling process's own cgroup. `None` gives `/brig/<id>`.
pub fn manager_for(
    _layout: &Layout,
    _cgroups_path: Option<&std::path::Path>,
    _id: &str,
) -> Result<Box<dyn CgroupManager>> {
    Err(CgroupError::Layout("no manager yet".into()))
}
