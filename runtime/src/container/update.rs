//! `update`: change the resource limits of a live container. The cgroup is the
//! source of truth, so nothing is persisted: `events --stats` and the cgroup
//! files show what is in force.
//!
//! Everything is validated against the host's layout before the first write.
//! The kernel can still refuse a value that looked fine (a memory limit it
//! cannot reclaim down to, a cpu that is not online); the parts are applied one
//! at a time so that such an error says exactly what had already taken effect.

use brig_cgroups::{CgroupError, CgroupManager};
use oci_spec::runtime::{LinuxCpu, LinuxResources};

use super::state::Op;
use super::store::Store;
use super::{cgroup, ContainerError};

/// What went wrong in an update: before anything was written, or part-way.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// The kernel refused a part after earlier parts were written.
    #[error("{source} (update partly applied: {} took effect before this; nothing after it was written)", applied.join(", "))]
    Partial {
        source: CgroupError,
        applied: Vec<&'static str>,
    },
}

impl UpdateError {
    /// The cgroup error inside, if that is what it is (for naming the CLI flag).
    pub fn cgroup_error(&self) -> Option<&CgroupError> {
        match self {
            UpdateError::Container(ContainerError::Cgroup(e)) => Some(e),
            UpdateError::Partial { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<CgroupError> for UpdateError {
    fn from(e: CgroupError) -> Self {
        UpdateError::Container(e.into())
    }
}

/// Apply `resources` to the cgroup of a created, running or paused container.
///
/// As in runc (and in [`brig_cgroups::validate_resources`]), 0 in memory
/// limit/reservation/swap, cpu shares/quota/period and blkio weight means
/// "leave as it is", and so does a pids limit of 0; -1 means unlimited.
/// Device rules are refused: they are fixed at create (runc ignores them in
/// an update; brig says so instead).
pub fn update(store: &Store, id: &str, resources: &LinuxResources) -> Result<(), UpdateError> {
    let locked = store.lock(id)?;
    let state = store.load(&locked, id)?;
    let status = state.current_status();
    super::check(&state, status, Op::Update)?;
    let mut resources = resources.clone();
    if resources.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(CgroupError::InvalidResource {
            field: "linux.resources.devices".into(),
            msg: "device rules are set at create and cannot be updated \
                  (runc ignores them here; brig refuses rather than ignore them)"
                .into(),
        }
        .into());
    }
    if resources.pids().is_some_and(|p| p.limit() == 0) {
        resources.set_pids(None);
    }
    let layout = crate::kernel::LINUX.cgroups.layout()?;
    brig_cgroups::validate_resources(&layout, &resources)?;
    let mgr = cgroup::of_state(&state)?;
    apply_in_parts(mgr.as_ref(), &resources)?;
    // Held to the end: a concurrent delete waits until the writes are done.
    drop(locked);
    Ok(())
}

/// Apply one part after another; an error after the first write says which
/// parts took effect.
fn apply_in_parts(mgr: &dyn CgroupManager, r: &LinuxResources) -> Result<(), UpdateError> {
    let mut applied = Vec::new();
    for (name, part) in parts(r) {
        if let Err(source) = mgr.apply(&part) {
            return Err(if applied.is_empty() {
                source.into()
            } else {
                UpdateError::Partial { source, applied }
            });
        }
        applied.push(name);
    }
    Ok(())
}

/// `r` cut into the pieces the kernel may refuse one by one, in the order
/// they are written: the ones a kernel refuses most often (cpus that are not
/// online, a memory limit below what cannot be reclaimed) first.
fn parts(r: &LinuxResources) -> Vec<(&'static str, LinuxResources)> {
    let mut out = Vec::new();
    let mut push = |name, part: LinuxResources| {
        if part != LinuxResources::default() {
            out.push((name, part));
        }
    };
    let part = LinuxResources::default;
    if let Some(c) = r.cpu() {
        let mut cpuset = LinuxCpu::default();
        cpuset.set_cpus(c.cpus().clone()).set_mems(c.mems().clone());
        if cpuset != LinuxCpu::default() {
            push(
                "linux.resources.cpu.cpus/mems",
                part().set_cpu(Some(cpuset)).clone(),
            );
        }
    }
    push(
        "linux.resources.memory",
        part().set_memory(*r.memory()).clone(),
    );
    if let Some(c) = r.cpu() {
        let mut sched = c.clone();
        sched.set_cpus(None).set_mems(None);
        if sched != LinuxCpu::default() {
            push("linux.resources.cpu", part().set_cpu(Some(sched)).clone());
        }
    }
    push("linux.resources.pids", part().set_pids(*r.pids()).clone());
    push(
        "linux.resources.blockIO",
        part().set_block_io(r.block_io().clone()).clone(),
    );
    push(
        "linux.resources.hugepageLimits",
        part()
            .set_hugepage_limits(r.hugepage_limits().clone())
            .clone(),
    );
    push(
        "linux.resources.network",
        part().set_network(r.network().clone()).clone(),
    );
    push(
        "linux.resources.rdma",
        part().set_rdma(r.rdma().clone()).clone(),
    );
    push(
        "linux.resources.unified",
        part().set_unified(r.unified().clone()).clone(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn parts_split_cpuset_from_scheduling_and_skip_empty_ones() {
        let r: LinuxResources = serde_json::from_value(serde_json::json!({
            "cpu": {"cpus": "0", "quota": 50000, "period": 100000},
            "memory": {"limit": 1048576},
            "pids": {"limit": 5},
            "blockIO": {}
        }))
        .unwrap();
        let p = parts(&r);
        let names: Vec<_> = p.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "linux.resources.cpu.cpus/mems",
                "linux.resources.memory",
                "linux.resources.cpu",
                "linux.resources.pids",
                "linux.resources.blockIO",
            ]
        );
        assert_eq!(
            p[0].1.cpu().as_ref().unwrap(),
            &LinuxCpuBuilder::default().cpus("0").build().unwrap()
        );
        let sched = p[2].1.cpu().as_ref().unwrap();
        assert_eq!((sched.quota(), sched.cpus()), (Some(50000), &None));

        // Only scheduling: no cpuset part.
        let mut r = LinuxResources::default();
        r.set_cpu(Some(
            LinuxCpuBuilder::default().shares(512u64).build().unwrap(),
        ));
        let names: Vec<_> = parts(&r).iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["linux.resources.cpu"]);
        assert!(parts(&LinuxResources::default()).is_empty());
    }

    #[test]
    fn partial_errors_say_what_took_effect() {
        let e = UpdateError::Partial {
            source: CgroupError::InvalidResource {
                field: "linux.resources.memory.limit".into(),
                msg: "busy".into(),
            },
            applied: vec!["linux.resources.cpu.cpus/mems"],
        };
        let s = e.to_string();
        assert!(s.starts_with("linux.resources.memory.limit: busy"), "{s}");
        assert!(s.contains("cpu.cpus/mems took effect"), "{s}");
        assert!(e.cgroup_error().is_some());
    }
}
