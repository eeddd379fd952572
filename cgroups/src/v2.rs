//! cgroup v2: one directory in the unified hierarchy.

use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::fsutil::{self, Backoff, ProcsFile};
use crate::resources::{self, Group};
use crate::{oom, CgroupManager, FreezerState, OomWatcher, Result, Stats};
use crate::{DESTROY_TIMEOUT, FREEZE_TIMEOUT};

/// A container's cgroup in a cgroup2 hierarchy.
#[derive(Debug, Clone)]
pub struct V2Manager {
    root: PathBuf,
    dir: PathBuf,
    procs: ProcsFile,
    /// Pure v2 turns every available controller on at create, as runc and crun
    /// do, so stats and later updates find their files. On a hybrid host the
    /// cgroup2 side only turns on what apply needs.
    enable_all: bool,
}

impl V2Manager {
    /// The cgroup at `cgroup` (from the hierarchy root; a leading `/` is
    /// allowed) in the cgroup2 hierarchy mounted at `root`, which may be any
    /// directory (tests use a temp dir).
    pub fn new(root: &Path, cgroup: &Path) -> Result<Self> {
        Self::with_dir(root, root.join(crate::strip_root(cgroup)), true)
    }

    pub(crate) fn with_dir(root: &Path, dir: PathBuf, enable_all: bool) -> Result<Self> {
        Ok(V2Manager {
            root: root.to_path_buf(),
            procs: ProcsFile::new(&dir)?,
            dir,
            enable_all,
        })
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Directories from the hierarchy root down to the cgroup's parent: the
    /// ones whose cgroup.subtree_control decides the cgroup's controllers.
    fn ancestors(&self) -> Vec<PathBuf> {
        let mut out = vec![self.root.clone()];
        let rel = self.dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
        let mut cur = self.root.clone();
        let comps: Vec<_> = rel.components().collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            cur.push(c);
            out.push(cur.clone());
        }
        out
    }

    fn enable_all_available(&self) -> Result<()> {
        for dir in self.ancestors() {
            let available = fsutil::read(&dir.join("cgroup.controllers"))?;
            let list: Vec<&str> = available.split_whitespace().collect();
            if list.is_empty() {
                continue;
            }
            let file = dir.join("cgroup.subtree_control");
            let all: Vec<String> = list.iter().map(|c| format!("+{c}")).collect();
            if fsutil::write_raw(&file, &all.join(" ")).is_err() {
                // One refusal (cpu with realtime tasks at the root, say) fails
                // the whole write; take the rest one by one. A controller left
                // off shows up as Unsupported when a resource needs it.
                for c in &all {
                    let _ = fsutil::write_raw(&file, c);
                }
            }
        }
        Ok(())
    }

    /// Make sure the cgroup has `needed` controllers, enabling them top-down in
    /// the ancestors' cgroup.subtree_control when it does not.
    pub(crate) fn ensure_controllers(&self, needed: &[(&str, &str)]) -> Result<()> {
        if needed.is_empty() {
            return Ok(());
        }
        let have = fsutil::read(&self.dir.join("cgroup.controllers"))?;
        let have: Vec<&str> = have.split_whitespace().collect();
        let missing: Vec<_> = needed.iter().filter(|(c, _)| !have.contains(c)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        for dir in self.ancestors() {
            let file = dir.join("cgroup.subtree_control");
            for (ctl, field) in &missing {
                fsutil::write_raw(&file, &format!("+{ctl}")).map_err(|e| {
                    resources::unsupported(
                        *field,
                        format!(
                            "cannot enable the {ctl} controller in {}: {e}",
                            file.display()
                        ),
                    )
                })?;
            }
        }
        Ok(())
    }

    pub(crate) fn apply_group(&self, g: Group, r: &LinuxResources) -> Result<()> {
        let dir = &self.dir;
        match g {
            Group::Memory => r
                .memory()
                .as_ref()
                .map_or(Ok(()), |m| resources::v2::memory(dir, m)),
            Group::CpuSched => r
                .cpu()
                .as_ref()
                .map_or(Ok(()), |c| resources::v2::cpu(dir, c)),
            Group::Cpuset => r
                .cpu()
                .as_ref()
                .map_or(Ok(()), |c| resources::v2::cpuset(dir, c)),
            Group::Pids => r
                .pids()
                .as_ref()
                .map_or(Ok(()), |p| resources::v1::pids(dir, p)),
            Group::BlockIo => r
                .block_io()
                .as_ref()
                .map_or(Ok(()), |b| resources::v2::io(dir, b)),
            Group::Hugetlb => {
                resources::v2::hugetlb(dir, r.hugepage_limits().as_deref().unwrap_or(&[]))
            }
            Group::Rdma => match r.rdma() {
                Some(map) => resources::v1::rdma(dir, map),
                None => Ok(()),
            },
            Group::Unified => match r.unified() {
                Some(map) => resources::v2::unified(dir, map),
                None => Ok(()),
            },
            Group::Devices => crate::bpf::apply(dir, r.devices().as_deref().unwrap_or(&[])),
            Group::NetCls | Group::NetPrio => resources::check_group_v2(g, r),
        }
    }

    /// Apply the groups routed to this hierarchy, enabling their controllers first.
    pub(crate) fn apply_groups(&self, groups: &[Group], r: &LinuxResources) -> Result<()> {
        for &g in groups {
            resources::check_group_v2(g, r)?;
        }
        let mut needed: Vec<(&str, &str)> = groups
            .iter()
            .filter_map(|g| g.v2_controller().map(|c| (c, g.field())))
            .collect();
        let unified_keys: Vec<String> = r
            .unified()
            .iter()
            .flat_map(|m| m.keys())
            .filter_map(|k| k.split('.').next().map(str::to_owned))
            .collect();
        if groups.contains(&Group::Unified) {
            for k in &unified_keys {
                if !needed.iter().any(|(c, _)| c == k) {
                    needed.push((k, resources::UNIFIED));
                }
            }
        }
        self.ensure_controllers(&needed)?;
        for &g in groups {
            self.apply_group(g, r)?;
        }
        Ok(())
    }

    /// SIGKILL everything below the cgroup: cgroup.kill where the kernel has it
    /// (5.14+), else freeze, kill each pid, thaw.
    pub(crate) fn kill_all(&self) -> Result<()> {
        if self.send_kill()? {
            return self.wait_empty();
        }
        let frozen = set_freeze(&self.dir, FreezerState::Frozen).is_ok();
        let mut pids = Vec::new();
        fsutil::procs_recursive(&self.dir, &mut pids)?;
        fsutil::kill_all(&pids);
        if frozen {
            set_freeze(&self.dir, FreezerState::Thawed)?;
        }
        let mut backoff = Backoff::new(DESTROY_TIMEOUT);
        loop {
            let mut pids = Vec::new();
            fsutil::procs_recursive(&self.dir, &mut pids)?;
            if pids.is_empty() {
                return self.wait_empty();
            }
            fsutil::kill_all(&pids);
            if !backoff.wait() {
                return Err(fsutil::timed_out(
                    &self.dir,
                    &format!("processes {pids:?} still alive after SIGKILL"),
                    DESTROY_TIMEOUT,
                ));
            }
        }
    }

    /// Write cgroup.kill: SIGKILL to the whole subtree in one go, frozen
    /// (cgroup2 freezer) or not. False when the kernel predates it.
    pub(crate) fn send_kill(&self) -> Result<bool> {
        let file = self.dir.join("cgroup.kill");
        match fsutil::write_raw(&file, "1") {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(fsutil::io_err(file, e)),
        }
    }

    /// Wait for "populated 0": the kernel's own word that nothing is left.
    pub(crate) fn wait_empty(&self) -> Result<()> {
        let events = self.dir.join("cgroup.events");
        let mut backoff = Backoff::new(DESTROY_TIMEOUT);
        loop {
            match fsutil::read_opt(&events)? {
                None => return Ok(()),
                Some(t) if fsutil::flat_keyed(&t, "populated") == Some(0) => return Ok(()),
                Some(_) => {}
            }
            if !backoff.wait() {
                return Err(fsutil::timed_out(
                    &events,
                    "the cgroup still has processes after SIGKILL",
                    DESTROY_TIMEOUT,
                ));
            }
        }
    }

    pub(crate) fn remove_all(&self) -> Result<()> {
        fsutil::remove_tree(&self.dir, DESTROY_TIMEOUT)
    }
}

/// cgroup.freeze, then wait for cgroup.events to say the kernel got there.
pub(crate) fn set_freeze(dir: &Path, state: FreezerState) -> Result<()> {
    let want = match state {
        FreezerState::Frozen => 1,
        FreezerState::Thawed => 0,
    };
    fsutil::write(&dir.join("cgroup.freeze"), &want.to_string())?;
    let events = dir.join("cgroup.events");
    let mut backoff = Backoff::new(FREEZE_TIMEOUT);
    loop {
        if fsutil::flat_keyed(&fsutil::read(&events)?, "frozen") == Some(want) {
            return Ok(());
        }
        if !backoff.wait() {
            if state == FreezerState::Frozen {
                let _ = fsutil::write(&dir.join("cgroup.freeze"), "0");
            }
            return Err(fsutil::timed_out(
                &events,
                &format!("did not reach \"frozen {want}\""),
                FREEZE_TIMEOUT,
            ));
        }
    }
}

pub(crate) fn freeze_state(dir: &Path) -> Result<FreezerState> {
    let events = fsutil::read(&dir.join("cgroup.events"))?;
    Ok(if fsutil::flat_keyed(&events, "frozen") == Some(1) {
        FreezerState::Frozen
    } else {
        FreezerState::Thawed
    })
}

impl CgroupManager for V2Manager {
    fn create(&self) -> Result<()> {
        fsutil::create_dirs(&self.root, &self.dir, |_, _, _| Ok(()))?;
        if self.enable_all {
            self.enable_all_available()?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        self.apply_groups(&resources::groups(r), r)
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        self.procs.add(pid)
    }

    fn join_new_process(&self, in_unified: bool) -> Result<()> {
        if in_unified {
            return Ok(());
        }
        self.procs.add(0)
    }

    fn clone_into_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        fsutil::procs_recursive(&self.dir, &mut pids)?;
        Ok(pids)
    }

    fn freeze(&self) -> Result<()> {
        set_freeze(&self.dir, FreezerState::Frozen)
    }

    fn thaw(&self) -> Result<()> {
        set_freeze(&self.dir, FreezerState::Thawed)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        freeze_state(&self.dir)
    }

    fn destroy(&self) -> Result<()> {
        if !self.dir.exists() {
            return Ok(());
        }
        self.kill_all()?;
        self.remove_all()
    }

    fn remove_if_empty(&self) -> Result<bool> {
        fsutil::try_remove_tree(&self.dir)
    }

    fn path_of(&self, controller: &str) -> Option<PathBuf> {
        if controller == "unified" {
            return Some(self.dir.clone());
        }
        let available = fsutil::read(&self.root.join("cgroup.controllers")).ok()?;
        available
            .split_whitespace()
            .any(|c| c == controller)
            .then(|| self.dir.clone())
    }

    fn stats(&self) -> Result<Stats> {
        crate::collect_stats(None, Some(&self.dir))
    }

    fn oom_kill_count(&self) -> Result<u64> {
        oom::oom_kills(&self.dir.join("memory.events"))
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        OomWatcher::v2(&self.dir)
    }
}
