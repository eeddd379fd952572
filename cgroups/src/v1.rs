//! cgroup v1: one directory per mounted hierarchy.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::fsutil::{self, Backoff, ProcsFile};
use crate::resources::{self, Group};
use crate::{oom, CgroupError, CgroupManager, FreezerState, OomWatcher, Result, Stats, V1Mount};
use crate::{DESTROY_TIMEOUT, FREEZE_TIMEOUT};

#[derive(Debug, Clone)]
pub(crate) struct Hierarchy {
    pub(crate) controllers: Vec<String>,
    pub(crate) mount_point: PathBuf,
    pub(crate) dir: PathBuf,
    procs: ProcsFile,
}

/// A container's cgroup in every mounted v1 hierarchy.
#[derive(Debug, Clone)]
pub struct V1Manager {
    hierarchies: Vec<Hierarchy>,
}

/// Which hierarchy answers "which processes are in the container": one every
/// runtime joins and that exists on every v1 host worth supporting.
const MAIN_ORDER: &[&str] = &["pids", "freezer", "memory", "cpu", "devices"];

impl V1Manager {
    /// The cgroup at `cgroup` (taken from each hierarchy's root; a leading `/`
    /// is allowed) in every hierarchy of `mounts`. The mounts may be any
    /// directories, which is how tests run it over a temp dir.
    pub fn new(mounts: &[V1Mount], cgroup: &Path) -> Result<Self> {
        let rel = crate::strip_root(cgroup);
        Self::with_dirs(
            mounts
                .iter()
                .map(|m| (m.clone(), m.mount_point.join(rel)))
                .collect(),
        )
    }

    /// One explicit directory per hierarchy (for cgroupsPath relative to the
    /// caller's cgroup, which differs between hierarchies).
    pub fn with_dirs(dirs: Vec<(V1Mount, PathBuf)>) -> Result<Self> {
        if dirs.is_empty() {
            return Err(CgroupError::Layout(
                "no cgroup v1 hierarchy is mounted".into(),
            ));
        }
        let hierarchies = dirs
            .into_iter()
            .map(|(m, dir)| {
                Ok(Hierarchy {
                    procs: ProcsFile::new(&dir)?,
                    controllers: m.controllers,
                    mount_point: m.mount_point,
                    dir,
                })
            })
            .collect::<Result<_>>()?;
        Ok(V1Manager { hierarchies })
    }

    /// The cgroup's directory in the hierarchy that binds `controller`
    /// (`name=systemd` for named hierarchies).
    pub fn dir_of(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.dir.as_path())
    }

    pub(crate) fn main_dir(&self) -> &Path {
        MAIN_ORDER
            .iter()
            .find_map(|c| self.dir_of(c))
            .unwrap_or(&self.hierarchies[0].dir)
    }

    pub(crate) fn hierarchies(&self) -> &[Hierarchy] {
        &self.hierarchies
    }

    pub(crate) fn apply_group(&self, g: Group, r: &LinuxResources) -> Result<()> {
        let ctl = g.v1_controller().ok_or_else(|| {
            resources::unsupported(g.field(), "needs cgroup v2, and this manager is cgroup v1")
        })?;
        let dir = self.dir_of(ctl).ok_or_else(|| {
            resources::unsupported(g.field(), format!("the {ctl} controller is not mounted"))
        })?;
        match g {
            Group::Memory => r
                .memory()
                .as_ref()
                .map_or(Ok(()), |m| resources::v1::memory(dir, m)),
            Group::CpuSched => r
                .cpu()
                .as_ref()
                .map_or(Ok(()), |c| resources::v1::cpu(dir, c)),
            Group::Cpuset => r
                .cpu()
                .as_ref()
                .map_or(Ok(()), |c| resources::v1::cpuset(dir, c)),
            Group::Pids => r
                .pids()
                .as_ref()
                .map_or(Ok(()), |p| resources::v1::pids(dir, p)),
            Group::BlockIo => r
                .block_io()
                .as_ref()
                .map_or(Ok(()), |b| resources::v1::blkio(dir, b)),
            Group::Hugetlb => {
                resources::v1::hugetlb(dir, r.hugepage_limits().as_deref().unwrap_or(&[]))
            }
            Group::Devices => resources::v1::devices(dir, r.devices().as_deref().unwrap_or(&[])),
            Group::NetCls => match r.network().as_ref().and_then(|n| n.class_id()) {
                Some(id) => resources::v1::net_cls(dir, id),
                None => Ok(()),
            },
            Group::NetPrio => resources::v1::net_prio(
                dir,
                r.network()
                    .as_ref()
                    .and_then(|n| n.priorities().as_deref())
                    .unwrap_or(&[]),
            ),
            Group::Rdma => match r.rdma() {
                Some(map) => resources::v1::rdma(dir, map),
                None => Ok(()),
            },
            Group::Unified => Err(resources::unsupported(
                g.field(),
                "raw cgroup v2 files cannot be written to a cgroup v1 hierarchy",
            )),
        }
    }

    /// SIGKILL everything in every hierarchy, freezing first where the freezer
    /// is mounted so nothing forks between reading cgroup.procs and the kill.
    pub(crate) fn kill_all(&self) -> Result<()> {
        let freezer = self.dir_of("freezer").filter(|d| d.is_dir());
        let mut frozen = freezer.is_some_and(|d| set_freezer(d, FreezerState::Frozen).is_ok());
        let mut backoff = Backoff::new(DESTROY_TIMEOUT);
        loop {
            let mut pids = Vec::new();
            for h in &self.hierarchies {
                fsutil::procs_recursive(&h.dir, &mut pids)?;
            }
            pids.sort_unstable();
            pids.dedup();
            if pids.is_empty() {
                if let (true, Some(d)) = (frozen, freezer) {
                    set_freezer(d, FreezerState::Thawed)?;
                }
                return Ok(());
            }
            fsutil::kill_all(&pids);
            // Frozen tasks only act on SIGKILL once thawed.
            if let (true, Some(d)) = (frozen, freezer) {
                set_freezer(d, FreezerState::Thawed)?;
                frozen = false;
            }
            if !backoff.wait() {
                return Err(fsutil::timed_out(
                    self.main_dir(),
                    &format!("processes {pids:?} still alive after SIGKILL"),
                    DESTROY_TIMEOUT,
                ));
            }
        }
    }

    pub(crate) fn remove_all(&self) -> Result<()> {
        for h in &self.hierarchies {
            fsutil::remove_tree(&h.dir, DESTROY_TIMEOUT)?;
        }
        Ok(())
    }
}

/// Copy cpuset.cpus/mems from the parent into a directory that has none: a v1
/// cpuset with empty cpus or mems refuses every task. A directory made under
/// a parent with `cgroup.clone_children` set has them already: the kernel
/// copied them at mkdir, without what a write of cpuset.cpus costs, a rebuild
/// of the scheduler's domains that walks every cpuset on the host (with 3,000
/// containers, 1.5 ms of each create: issue 19's density bench).
fn fill_cpuset(parent: &Path, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let cur = fsutil::read_opt(&dir.join(file))?.unwrap_or_default();
        if !cur.trim().is_empty() {
            continue;
        }
        let value = fsutil::read(&parent.join(file))?;
        if !value.trim().is_empty() {
            fsutil::write(&dir.join(file), value.trim())?;
        }
    }
    Ok(())
}

/// Have the kernel give each new child of `dir` its cpus and mems (see
/// [`fill_cpuset`]): `cgroup.clone_children`, written only when not set yet.
fn clone_cpuset_to_children(dir: &Path) -> Result<()> {
    let file = dir.join("cgroup.clone_children");
    match fsutil::read_opt(&file)? {
        Some(v) if v.trim() == "0" => fsutil::write(&file, "1"),
        _ => Ok(()),
    }
}

/// Write freezer.state and wait, with a deadline, until the kernel reports it.
pub(crate) fn set_freezer(dir: &Path, state: FreezerState) -> Result<()> {
    let file = dir.join("freezer.state");
    let want = match state {
        FreezerState::Frozen => "FROZEN",
        FreezerState::Thawed => "THAWED",
    };
    fsutil::write(&file, want)?;
    let mut backoff = Backoff::new(FREEZE_TIMEOUT);
    let mut tries = 0u32;
    loop {
        if fsutil::read(&file)?.trim() == want {
            return Ok(());
        }
        if !backoff.wait() {
            if state == FreezerState::Frozen {
                // Never leave a container stuck half-frozen.
                let _ = fsutil::write(&file, "THAWED");
            }
            return Err(fsutil::timed_out(
                &file,
                &format!("did not become {want}"),
                FREEZE_TIMEOUT,
            ));
        }
        tries += 1;
        // A task forked during the freeze needs another pass of the kernel.
        if tries == 16 {
            tries = 0;
            fsutil::write(&file, want)?;
        }
    }
}

pub(crate) fn freezer_state(dir: &Path) -> Result<FreezerState> {
    let s = fsutil::read(&dir.join("freezer.state"))?;
    // FREEZING is not frozen yet: the container still runs.
    Ok(if s.trim() == "FROZEN" {
        FreezerState::Frozen
    } else {
        FreezerState::Thawed
    })
}

fn no_freezer() -> CgroupError {
    CgroupError::Unsupported {
        field: "freezer".into(),
        why: "the v1 freezer controller is not mounted".into(),
    }
}

impl CgroupManager for V1Manager {
    fn create(&self) -> Result<()> {
        for h in &self.hierarchies {
            if !h.controllers.iter().any(|c| c == "cpuset") {
                fsutil::create_dirs(&h.mount_point, &h.dir, |_, _, _| Ok(()))?;
                continue;
            }
            let default_parent = h.mount_point.join(crate::DEFAULT_PARENT);
            fsutil::create_dirs(&h.mount_point, &h.dir, |parent, dir, made| {
                fill_cpuset(parent, dir)?;
                // The directories above the container's that are brig's own
                // (made here, or its default parent) clone their cpuset into
                // children; a parent of someone else's is left as it is.
                if dir != h.dir && (made || dir == default_parent) {
                    clone_cpuset_to_children(dir)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        let groups = resources::groups(r);
        // Refuse what v1 cannot do before the first write.
        for &g in &groups {
            resources::check_group_v1(g, r)?;
        }
        for g in groups {
            self.apply_group(g, r)?;
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        for h in &self.hierarchies {
            h.procs.add(pid)?;
        }
        Ok(())
    }

    fn join_new_process(&self, _in_unified: bool) -> Result<()> {
        for h in &self.hierarchies {
            h.procs.add_self_thread()?;
        }
        Ok(())
    }

    fn clone_into_dir(&self) -> Option<&Path> {
        None
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        fsutil::procs_recursive(self.main_dir(), &mut pids)?;
        Ok(pids)
    }

    fn freeze(&self) -> Result<()> {
        set_freezer(
            self.dir_of("freezer").ok_or_else(no_freezer)?,
            FreezerState::Frozen,
        )
    }

    fn thaw(&self) -> Result<()> {
        set_freezer(
            self.dir_of("freezer").ok_or_else(no_freezer)?,
            FreezerState::Thawed,
        )
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        freezer_state(self.dir_of("freezer").ok_or_else(no_freezer)?)
    }

    fn destroy(&self) -> Result<()> {
        if !self.hierarchies.iter().any(|h| h.dir.exists()) {
            return Ok(());
        }
        self.kill_all()?;
        self.remove_all()
    }

    fn remove_if_empty(&self) -> Result<bool> {
        for h in &self.hierarchies {
            if !fsutil::try_remove_tree(&h.dir)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn path_of(&self, controller: &str) -> Option<PathBuf> {
        self.dir_of(controller).map(Path::to_path_buf)
    }

    fn stats(&self) -> Result<Stats> {
        crate::collect_stats(Some(self), None)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let dir = self
            .dir_of("memory")
            .ok_or_else(crate::no_memory_controller)?;
        oom::oom_kills(&dir.join("memory.oom_control"))
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        OomWatcher::v1(
            self.dir_of("memory")
                .ok_or_else(crate::no_memory_controller)?,
        )
    }
}
