//! The kernel seams: every system call the lifecycle makes on processes,
//! cgroups and mounts goes through a narrow trait, one per concern, carried by
//! a [`Kernel`] value that the lifecycle operations take explicitly.
//!
//! - [`ProcessTable`]: process inspection and signals (/proc reads, pidfds);
//! - [`InitSpawner`]: the container init: clone into namespaces, drive its
//!   setup, and release it at `start` (the exec fifo);
//! - [`CgroupSystem`]: the host's cgroup layout and the container's
//!   [`brig_cgroups::CgroupManager`];
//! - [`crate::rootfs::Mounter`]: mount, umount and pivot_root of the rootfs setup.
//!
//! [`LINUX`] is the real kernel. [`crate::kernel::emulator`] is an
//! in-memory one for tests that need no root. Nothing chooses between them
//! with `cfg!(test)`, and no code downcasts a seam to find out which it has.

pub mod emulator;
mod linux;

use std::io;
use std::path::Path;
use std::time::Duration;

use brig_cgroups::{CgroupError, CgroupManager, Layout};
use oci_spec::runtime::LinuxResources;

use crate::container::{ContainerError, ContainerState};
use crate::process::{InitConfig, ProcessError, Spawned};
use crate::rootfs::Mounter;
pub use crate::sys::ProcStat;
pub use linux::{LinuxCgroups, LinuxProcesses, LinuxSpawner, LINUX};

/// Process inspection and signals.
pub trait ProcessTable: Sync {
    /// The state letter and start time of `pid` (/proc/PID/stat), or None
    /// when there is no such process.
    fn stat(&self, pid: i32) -> Option<ProcStat>;
    /// Signal the container's init, but only while it is the process that
    /// started at `start_time` (a pidfd on Linux: a reused pid is never
    /// signalled). `ESRCH` when it is gone.
    fn signal_init(&self, pid: i32, start_time: u64, sig: i32) -> io::Result<()>;
    /// Signal any pid (kill --all over the cgroup's list). Errors are the
    /// caller's to ignore: a process may exit between listing and signal.
    fn signal(&self, pid: i32, sig: i32) -> io::Result<()>;
    /// SIGKILL the init, if it is still the one that started at
    /// `start_time`, and wait up to `timeout` for it to be gone.
    fn kill_and_wait(&self, pid: i32, start_time: u64, timeout: Duration);
}

/// How `start` went, once the init was let go.
#[derive(Debug)]
pub enum Release {
    /// The init exec'd the program.
    Started,
    /// The init wrote why it failed before its execve.
    Failed(Vec<u8>),
    /// The init was gone before it could be let go.
    Gone,
}

/// The container init: made by `create`, let go by `start`.
pub trait InitSpawner: Sync {
    /// Start the init and drive its setup until it waits to be started.
    /// `hooks` runs prestart and createRuntime for the init's pid and returns
    /// the state JSON of the container's own hooks. On error nothing of the
    /// init is left.
    fn spawn_init(
        &self,
        cfg: &InitConfig,
        hooks: &mut dyn FnMut(i32) -> Result<String, String>,
    ) -> Result<Spawned, ProcessError>;
    /// Let the init of `state` go through the exec fifo at `fifo` (which is
    /// removed as soon as it is open), and wait until it exec'd or failed.
    fn release(&self, state: &ContainerState, fifo: &Path) -> Result<Release, ContainerError>;
}

/// The host's cgroups.
pub trait CgroupSystem: Sync {
    /// The hierarchy layout (detected once per call; cheap).
    fn layout(&self) -> Result<Layout, CgroupError>;
    /// Refuse linux.resources this host cannot apply, before anything exists.
    fn validate(&self, layout: &Layout, resources: &LinuxResources) -> Result<(), CgroupError>;
    /// The manager of container `id`. `creator` is /proc/self/cgroup of the
    /// `create` that made it, for a relative cgroupsPath.
    fn manager(
        &self,
        layout: &Layout,
        cgroups_path: Option<&Path>,
        id: &str,
        creator: Option<&str>,
    ) -> Result<Box<dyn CgroupManager>, CgroupError>;
    /// This process's own cgroups (/proc/self/cgroup).
    fn own_cgroups(&self) -> io::Result<String>;
}

/// The kernel the lifecycle runs on: one trait object per concern.
#[derive(Clone, Copy)]
pub struct Kernel<'a> {
    pub processes: &'a dyn ProcessTable,
    pub spawner: &'a dyn InitSpawner,
    pub cgroups: &'a dyn CgroupSystem,
    pub mounter: &'a dyn Mounter,
}

impl std::fmt::Debug for Kernel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kernel")
    }
}
