//! Helpers for the real-kernel tests: unique cgroups that are destroyed on drop,
//! and children that join the cgroup between fork and exec, as the runtime does.

#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brig_cgroups::{detect_layout, manager_for, CgroupManager, Layout};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Every controller name a layout can answer `path_of` for.
pub fn controllers(layout: &Layout) -> Vec<String> {
    let mut out = Vec::new();
    match layout {
        Layout::Unified { .. } => out.push("unified".to_string()),
        Layout::Hybrid { v1, .. } => {
            out.extend(v1.iter().flat_map(|m| m.controllers.clone()));
            out.push("unified".to_string());
        }
        Layout::Legacy { v1 } => out.extend(v1.iter().flat_map(|m| m.controllers.clone())),
    }
    out
}

/// True (with a message) when not root: these tests write the host's
/// cgroups, and each returns at once then.
pub fn skip_without_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    eprintln!("skipped: this test needs root (it creates cgroups on the real kernel)");
    true
}

/// A cgroup at /brig-test/<pid>-<n>, destroyed (with /brig-test when it is the
/// last one) on drop.
pub struct TestCgroup {
    pub layout: Layout,
    pub mgr: Arc<dyn CgroupManager>,
    pub path: String,
    parents: Vec<PathBuf>,
    /// Children started with `start_sh`, reaped after destroy.
    owned: std::sync::Mutex<Vec<Child>>,
}

impl TestCgroup {
    pub fn new() -> TestCgroup {
        Self::with_layout(detect_layout().expect("detect layout"))
    }

    /// On a layout narrowed from the host's (to reach a code path this host
    /// would not take by itself).
    pub fn with_layout(layout: Layout) -> TestCgroup {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the kernel tests create cgroups and must run as root"
        );
        let path = format!(
            "/brig-test/{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mgr: Arc<dyn CgroupManager> =
            Arc::from(manager_for(&layout, Some(path.as_ref()), "unused").expect("manager"));
        let parents = controllers(&layout)
            .iter()
            .filter_map(|c| mgr.path_of(c))
            .filter_map(|p| p.parent().map(PathBuf::from))
            .collect();
        {
            // Not between another test's removal of the shared /brig-test
            // parents and their re-creation here (see Drop).
            let _g = PARENTS.lock().unwrap_or_else(|e| e.into_inner());
            mgr.create().expect("create");
        }
        TestCgroup {
            layout,
            mgr,
            path,
            parents,
            owned: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// `sh -c script` inside the cgroup: it joins in the forked child, before exec.
    pub fn spawn_sh(&self, script: &str) -> Child {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        self.spawn(cmd)
    }

    /// Like `spawn_sh`, but the guard keeps the child and reaps it on drop.
    pub fn start_sh(&self, script: &str) -> u32 {
        let child = self.spawn_sh(script);
        let pid = child.id();
        self.owned.lock().unwrap().push(child);
        pid
    }

    pub fn spawn(&self, mut cmd: Command) -> Child {
        let mgr = Arc::clone(&self.mgr);
        // SAFETY: add_process(0) opens and writes prepared C strings only; it
        // allocates nothing on success, so it is fine between fork and exec.
        unsafe {
            cmd.pre_exec(move || mgr.add_process(0).map_err(Into::into));
        }
        cmd.spawn().expect("spawn into the cgroup")
    }

    pub fn dir(&self, controller: &str) -> PathBuf {
        self.mgr
            .path_of(controller)
            .unwrap_or_else(|| panic!("no {controller} hierarchy here"))
    }

    pub fn read(&self, controller: &str, file: &str) -> String {
        let p = self.dir(controller).join(file);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
}

/// Held while a test makes its cgroup (and so the shared parents) and while
/// one removes the parents: a removal between another test's mkdir of
/// /brig-test and of its own dir below made that create fail with ENOENT.
static PARENTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let res = self.mgr.destroy();
        for mut c in self.owned.lock().unwrap().drain(..) {
            let _ = c.wait();
        }
        {
            let _g = PARENTS.lock().unwrap_or_else(|e| e.into_inner());
            for p in &self.parents {
                // Another test may still use /brig-test; the last one removes it.
                let _ = std::fs::remove_dir(p);
            }
        }
        if let Err(e) = res {
            if !std::thread::panicking() {
                panic!("destroy {}: {e}", self.path);
            }
        }
    }
}

/// Poll `f` until it returns Some, or panic with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}
