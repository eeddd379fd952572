//! create → add a child → pids → destroy on the real kernel.

mod common;

use std::os::unix::process::ExitStatusExt;

use brig_cgroups::Layout;
use common::{controllers, TestCgroup};

#[test]
fn create_join_list_destroy_leaves_nothing() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    let mut child = cg.spawn_sh("exec sleep 1000");
    let pid = child.id() as i32;

    assert_eq!(cg.mgr.pids().unwrap(), vec![pid]);
    let names = controllers(&cg.layout);
    let dirs: Vec<_> = names.iter().map(|c| cg.dir(c)).collect();
    for (name, dir) in names.iter().zip(&dirs) {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{pid} not in {name} ({})",
            dir.display()
        );
    }
    // The kernel's own view of the child: the line of every mounted hierarchy
    // ends in our path. (A v1 hierarchy can outlive its mount; that one is
    // not joinable and not in the layout.)
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let entries = brig_cgroups::parse_proc_cgroup(&own).unwrap();
    let mut seen = 0;
    for e in &entries {
        let mounted = match &cg.layout {
            Layout::Unified { .. } => e.hierarchy_id == 0,
            Layout::Hybrid { v1, .. } | Layout::Legacy { v1 } => {
                (e.hierarchy_id == 0 && matches!(cg.layout, Layout::Hybrid { .. }))
                    || v1.iter().any(|m| {
                        let (mut a, mut b) = (m.controllers.clone(), e.controllers.clone());
                        a.sort();
                        b.sort();
                        a == b
                    })
            }
        };
        if mounted {
            assert_eq!(e.path, cg.path, "{e:?}");
            seen += 1;
        }
    }
    assert_eq!(seen, dirs.len(), "{own}");

    cg.mgr.destroy().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    // Absent is fine.
    cg.mgr.destroy().unwrap();
}

#[test]
fn destroy_removes_child_cgroups_and_their_processes() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    let mut outer = cg.spawn_sh("exec sleep 1000");
    // A nested cgroup with its own process, in every hierarchy.
    let nested: Vec<_> = controllers(&cg.layout)
        .iter()
        .map(|c| cg.dir(c).join("inner/deeper"))
        .collect();
    let mut inner = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    for d in &nested {
        std::fs::create_dir_all(d).unwrap();
        let cpus = d.parent().unwrap().parent().unwrap().join("cpuset.cpus");
        if cpus.exists() {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v =
                    std::fs::read_to_string(d.parent().unwrap().parent().unwrap().join(f)).unwrap();
                std::fs::write(d.parent().unwrap().join(f), v.trim()).unwrap();
                std::fs::write(d.join(f), v.trim()).unwrap();
            }
        }
        std::fs::write(d.join("cgroup.procs"), inner.id().to_string()).unwrap();
    }
    let mut pids = cg.mgr.pids().unwrap();
    pids.sort();
    let mut want = vec![outer.id() as i32, inner.id() as i32];
    want.sort();
    assert_eq!(pids, want, "pids() walks child cgroups");

    cg.mgr.destroy().unwrap();
    assert_eq!(outer.wait().unwrap().signal(), Some(9));
    assert_eq!(inner.wait().unwrap().signal(), Some(9));
    for d in &nested {
        assert!(!d.parent().unwrap().parent().unwrap().exists());
    }
}

/// The host's layout, and on a hybrid host also its v1 part alone (pure v1)
/// and its cgroup2 part alone (pure v2), so that each manager runs here.
fn layouts() -> Vec<Layout> {
    let host = brig_cgroups::detect_layout().unwrap();
    let mut out = vec![host.clone()];
    if let Layout::Hybrid { v1, unified } = host {
        out.push(Layout::Legacy { v1 });
        out.push(Layout::Unified { root: unified });
    }
    out
}

/// Every mounted hierarchy's line of /proc/PID/cgroup names the test's cgroup.
fn assert_in_every_hierarchy(cg: &TestCgroup, pid: u32) {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let entries = brig_cgroups::parse_proc_cgroup(&own).unwrap();
    let names = controllers(&cg.layout);
    for name in &names {
        let e = entries
            .iter()
            .find(|e| {
                if name == "unified" {
                    e.hierarchy_id == 0
                } else {
                    e.controllers.iter().any(|c| c == name)
                }
            })
            .unwrap_or_else(|| panic!("no {name} line in {own}"));
        assert_eq!(e.path, cg.path, "{name} in {:?}: {own}", cg.layout);
    }
}

#[test]
fn join_new_process_moves_a_forked_child_into_every_hierarchy() {
    if common::skip_without_root() {
        return;
    }
    use std::os::unix::process::CommandExt;
    for layout in layouts() {
        let cg = TestCgroup::with_layout(layout);
        let mgr = std::sync::Arc::clone(&cg.mgr);
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("1000");
        // SAFETY: join_new_process opens and writes prepared C strings only. The
        // child between fork and exec is single-threaded, as it requires.
        unsafe {
            cmd.pre_exec(move || mgr.join_new_process(false).map_err(Into::into));
        }
        let mut child = cmd.spawn().expect("spawn into the cgroup");
        assert_in_every_hierarchy(&cg, child.id());
        assert_eq!(cg.mgr.pids().unwrap(), vec![child.id() as i32]);
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn remove_if_empty_leaves_a_busy_cgroup_and_removes_an_empty_one() {
    if common::skip_without_root() {
        return;
    }
    for layout in layouts() {
        let cg = TestCgroup::with_layout(layout);
        let dirs: Vec<_> = controllers(&cg.layout).iter().map(|c| cg.dir(c)).collect();
        let mut child = cg.spawn_sh("exec sleep 1000");
        assert!(!cg.mgr.remove_if_empty().unwrap(), "{:?}", cg.layout);
        assert_eq!(child.try_wait().unwrap(), None, "it signalled the child");
        assert_in_every_hierarchy(&cg, child.id());

        // A child cgroup, empty: removed with its parent.
        let nested = dirs[0].join("inner");
        std::fs::create_dir(&nested).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(cg.mgr.remove_if_empty().unwrap(), "{:?}", cg.layout);
        for d in &dirs {
            assert!(!d.exists(), "{} left behind", d.display());
        }
        assert!(cg.mgr.remove_if_empty().unwrap(), "absent is removed");
    }
}
