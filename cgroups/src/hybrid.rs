//! Hybrid hosts: v1 hierarchies for the controllers bound to v1, and the
//! cgroup2 mount for the rest (hugetlb on this project's build hosts).

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::resources::{self, Group};
use crate::v1::{self, V1Manager};
use crate::v2::{self, V2Manager};
use crate::{CgroupManager, FreezerState, OomWatcher, Result, Stats, V1Mount};

/// The same cgroup in every v1 hierarchy and in the cgroup2 hierarchy. The
/// process joins both, so that tools reading cgroup2 (systemd, `cat
/// /proc/self/cgroup`'s `0::` line) see it where v1 tools do.
#[derive(Debug, Clone)]
pub struct HybridManager {
    v1: V1Manager,
    v2: V2Manager,
}

impl HybridManager {
    /// The cgroup at `cgroup` (from each hierarchy's root) in every v1
    /// hierarchy of `v1` and in the cgroup2 hierarchy at `unified`. The
    /// directories may be anywhere (tests use a temp dir).
    pub fn new(v1: &[V1Mount], unified: &Path, cgroup: &Path) -> Result<Self> {
        let rel = crate::strip_root(cgroup);
        Self::with_dirs(
            v1.iter()
                .map(|m| (m.clone(), m.mount_point.join(rel)))
                .collect(),
            unified,
            unified.join(rel),
        )
    }

    /// Explicit directories, for a cgroupsPath relative to the caller's cgroup.
    pub fn with_dirs(
        v1_dirs: Vec<(V1Mount, PathBuf)>,
        unified_root: &Path,
        unified_dir: PathBuf,
    ) -> Result<Self> {
        Ok(HybridManager {
            v1: V1Manager::with_dirs(v1_dirs)?,
            // Not every controller: on a hybrid host the cgroup2 side only
            // gets what apply routes to it, so the host's cgroup2 tree stays
            // as it was unless a resource needs it.
            v2: V2Manager::with_dir(unified_root, unified_dir, false)?,
        })
    }

    pub fn v1(&self) -> &V1Manager {
        &self.v1
    }

    pub fn v2(&self) -> &V2Manager {
        &self.v2
    }

    /// v1 where the controller is bound to v1; everything else goes to cgroup2.
    fn split(&self, r: &LinuxResources) -> (Vec<Group>, Vec<Group>) {
        resources::groups(r).into_iter().partition(|g| {
            g.v1_controller()
                .is_some_and(|c| self.v1.dir_of(c).is_some())
        })
    }
}

impl CgroupManager for HybridManager {
    fn create(&self) -> Result<()> {
        self.v1.create()?;
        self.v2.create()
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        let (on_v1, on_v2) = self.split(r);
        for &g in &on_v1 {
            resources::check_group_v1(g, r)?;
        }
        for &g in &on_v2 {
            resources::check_group_v2(g, r)?;
        }
        for g in on_v1 {
            self.v1.apply_group(g, r)?;
        }
        self.v2.apply_groups(&on_v2, r)
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        self.v1.add_process(pid)?;
        self.v2.add_process(pid)
    }

    fn join_new_process(&self, in_unified: bool) -> Result<()> {
        self.v1.join_new_process(in_unified)?;
        self.v2.join_new_process(in_unified)
    }

    fn clone_into_dir(&self) -> Option<&Path> {
        Some(self.v2.dir())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.v1.pids()
    }

    fn freeze(&self) -> Result<()> {
        match self.v1.dir_of("freezer") {
            Some(d) => v1::set_freezer(d, FreezerState::Frozen),
            None => v2::set_freeze(self.v2.dir(), FreezerState::Frozen),
        }
    }

    fn thaw(&self) -> Result<()> {
        match self.v1.dir_of("freezer") {
            Some(d) => v1::set_freezer(d, FreezerState::Thawed),
            None => v2::set_freeze(self.v2.dir(), FreezerState::Thawed),
        }
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        match self.v1.dir_of("freezer") {
            Some(d) => v1::freezer_state(d),
            None => v2::freeze_state(self.v2.dir()),
        }
    }

    fn destroy(&self) -> Result<()> {
        let v2_exists = self.v2.dir().exists();
        let v1_exists = self.v1.hierarchies().iter().any(|h| h.dir.exists());
        if !v1_exists && !v2_exists {
            return Ok(());
        }
        // cgroup.kill on the cgroup2 side signals every joined process in one
        // write. A task frozen by the v1 freezer only dies once thawed, which
        // the v1 pass does; it also catches processes that only joined v1.
        if v2_exists {
            self.v2.send_kill()?;
        }
        if v1_exists {
            self.v1.kill_all()?;
        }
        if v2_exists {
            self.v2.wait_empty()?;
        }
        self.v1.remove_all()?;
        self.v2.remove_all()
    }

    fn remove_if_empty(&self) -> Result<bool> {
        Ok(self.v1.remove_if_empty()? && self.v2.remove_if_empty()?)
    }

    fn path_of(&self, controller: &str) -> Option<PathBuf> {
        if controller == "unified" {
            return Some(self.v2.dir().to_path_buf());
        }
        self.v1
            .path_of(controller)
            .or_else(|| self.v2.path_of(controller))
    }

    fn stats(&self) -> Result<Stats> {
        crate::collect_stats(Some(&self.v1), Some(self.v2.dir()))
    }

    fn oom_kill_count(&self) -> Result<u64> {
        match self.v1.dir_of("memory") {
            Some(_) => self.v1.oom_kill_count(),
            None => self.v2.oom_kill_count(),
        }
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        match self.v1.dir_of("memory") {
            Some(_) => self.v1.oom_watcher(),
            None => self.v2.oom_watcher(),
        }
    }
}
