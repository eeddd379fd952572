//! Helpers of the robustness tests (model, crash, concurrency, exhaustion):
//! a mark that tags every process of a test bed, and leak checks that poll
//! with a deadline until the host holds nothing of a container.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::*;

/// The environment variable that tags a bed's processes: brig itself (and the
/// init, a fork of brig, until its execve) and the container's programs.
pub const MARK: &str = "BRIG_TEST_MARK";

/// How long a leak may take to go away (a SIGKILLed process still exiting).
/// Only a ceiling: the checks return as soon as the host is clean.
pub const SETTLE: Duration = Duration::from_secs(20);

/// A bed whose containers carry `MARK=<mark>` in their environment.
pub fn marked_bed(args: &[&str]) -> (Bed, String) {
    let mut bed = Bed::new(args);
    let mark = bed
        .tmp
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let env = bed.config["process"]["env"].as_array_mut().unwrap();
    env.push(format!("{MARK}={mark}").into());
    (bed, mark)
}

/// Pids of the processes whose environment holds `MARK=mark`.
pub fn marked_pids(mark: &str) -> Vec<i32> {
    let needle = format!("{MARK}={mark}");
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// Every cgroup directory of `id` under brig's default parent, in any hierarchy
/// mounted here (v1 controllers, the cgroup2 mount, a named hierarchy).
pub fn cgroup_dirs_of(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = e.path().join("brig").join(id);
        if p.exists() {
            out.push(p);
        }
    }
    for p in default_cgroup_dirs(id) {
        if p.exists() && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// What is left of container `id` of `bed` on the host; empty when nothing.
/// Processes are those of the bed's mark: call it when no other container of
/// the bed should be running.
pub fn leaks(bed: &Bed, id: &str, mark: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if bed.root.join(id).exists() {
        out.push(format!("state dir {}", bed.root.join(id).display()));
    }
    for d in cgroup_dirs_of(id) {
        out.push(format!("cgroup {}", d.display()));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mounts.lines() {
        let bundle = bed.bundle.to_str().unwrap();
        let root = bed.root.to_str().unwrap();
        if line.contains(bundle) || line.contains(&format!("{root}/")) {
            out.push(format!("mount {line}"));
        }
    }
    if let Some(mark) = mark {
        for pid in marked_pids(mark) {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            out.push(format!("process {pid}: {cmd}"));
        }
    }
    out
}

/// Poll until [`leaks`] is empty; panic with what is left after [`SETTLE`].
pub fn assert_clean(bed: &Bed, id: &str, mark: Option<&str>) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let left = leaks(bed, id, mark);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id}: left behind after {SETTLE:?}:\n  {}",
            left.join("\n  ")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `brig list --format json` works and gives the ids it lists.
pub fn list_ids(bed: &Bed) -> Vec<String> {
    let out = bed.brig(&["list", "--format", "json"]);
    let text = ok(&out);
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("list --format json is not JSON ({e}): {text}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// brig did not crash: it exited (0 or an error), and an error says what it is.
pub fn exited_cleanly(out: &Output) -> bool {
    if out.status.code().is_none() {
        return false;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    !err.contains("panicked") && !err.contains("RUST_BACKTRACE")
}

/// A small xorshift generator: seeded from the environment or the clock, the
/// seed printed so that a failing run can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(var: &str) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    ^ u64::from(std::process::id())
            });
        eprintln!("{var}={seed}");
        Rng(seed | 1)
    }

    pub fn from_seed(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A count from the environment, or the default of the bounded CI run.
pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Poll `cond` until it holds; panic with `what` after [`SETTLE`].
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !cond() {
        assert!(Instant::now() < deadline, "waited {SETTLE:?} for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A tmpfs mounted on a temp dir of its own for a test, unmounted (lazily) and
/// removed on drop. Keep it declared after the `Bed` whose root it holds (or in
/// a struct after it), so that the bed force-deletes its containers first.
pub struct Tmpfs {
    dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    pub fn mount(opts: &str) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("brig-tmpfs")
            .tempdir()
            .unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mount tmpfs -o {opts} at {}",
            dir.path().display()
        );
        Tmpfs { dir: Some(dir) }
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// Fill it: one file of data until ENOSPC, or (`inodes`) empty files until
    /// ENOSPC. Returns what was written, to be removed with [`Tmpfs::free`].
    pub fn fill(&self, inodes: bool) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        std::fs::create_dir_all(&filler).unwrap();
        if inodes {
            for n in 0.. {
                if std::fs::File::create(filler.join(n.to_string())).is_err() {
                    break;
                }
            }
        } else {
            let mut f = std::fs::File::create(filler.join("data")).unwrap();
            let block = vec![0u8; 4096];
            while f.write_all(&block).is_ok() {}
        }
        filler
    }

    pub fn free(&self, filler: &Path) {
        std::fs::remove_dir_all(filler).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.path())
            .status();
        drop(self.dir.take());
    }
}
