//! The runtimes under benchmark, driven through their runc-compatible CLI, each
//! with its own `--root` in a temp dir. A `Runtime` force-deletes every
//! container it made and removes its root when dropped, panics included.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::host::{self, PidFd};

/// The runtimes the benches know, in report order.
pub const KNOWN: &[&str] = &["brig", "runc", "crun", "youki"];

/// How long any single wait in a bench may take before it is an error.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// crun's refusal of a hybrid host (cgroup2 mounted beside v1 hierarchies).
pub const CRUN_HYBRID_ERROR: &str = "cgroups in hybrid mode not supported";

/// The target dir this bench binary was built into (`<target>/release/deps/<bench>`).
pub fn target_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(d));
    }
    let exe = std::env::current_exe().ok()?;
    // <target>/<profile>/deps/<exe>
    Some(exe.parent()?.parent()?.parent()?.to_path_buf())
}

/// Where the benches write their JSON, tables and plots: `<target>/brig-benches`.
pub fn out_dir() -> PathBuf {
    let d = target_dir()
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("brig-benches");
    let _ = std::fs::create_dir_all(&d);
    d
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Finds a runtime's binary: `<NAME>_BIN` from the environment, else (brig) the
/// workspace's release build, else (the others) $PATH.
pub fn find_binary(name: &str) -> Result<PathBuf, String> {
    let var = format!("{}_BIN", name.to_uppercase());
    if let Some(p) = std::env::var_os(&var) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{var}={} is not a file", p.display()))
        };
    }
    if name == "brig" {
        let p = target_dir()
            .map(|t| t.join("release/brig"))
            .ok_or("no target dir")?;
        if p.is_file() {
            warn_if_stale(&p);
            return Ok(p);
        }
        return Err(format!(
            "{} is missing: run `cargo build --release -p brig` first, or set BRIG_BIN",
            p.display()
        ));
    }
    which(name).ok_or_else(|| format!("`{name}` is not installed (not on $PATH, {var} unset)"))
}

/// Warns when the release brig is older than its sources.
fn warn_if_stale(bin: &Path) {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return;
    };
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut newest = None;
    let mut stack: Vec<_> = ["runtime/src", "engine/src", "cli/src", "cgroups/src"]
        .iter()
        .map(|d| ws.join(d))
        .collect();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                if newest.is_none_or(|n| t > n) {
                    newest = Some(t);
                }
            }
        }
    }
    if newest.is_some_and(|n| n > built) {
        eprintln!(
            "brig-benches: warning: {} is older than runtime/, engine/, cli/ or cgroups/src; \
             run `cargo build --release -p brig` to bench the current code",
            bin.display()
        );
    }
}

/// The runtimes to bench: `BRIG_BENCH_RUNTIMES` (comma separated) or all of [`KNOWN`].
pub fn selected() -> Vec<String> {
    match std::env::var("BRIG_BENCH_RUNTIMES") {
        Ok(s) if !s.trim().is_empty() => s
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => KNOWN.iter().map(|s| s.to_string()).collect(),
    }
}

/// One runtime with its own state root.
#[derive(Debug)]
pub struct Runtime {
    pub name: String,
    pub bin: PathBuf,
    pub version: String,
    root: Option<tempfile::TempDir>,
    /// Ids created and not yet deleted: force-deleted on drop.
    live: RefCell<BTreeSet<String>>,
    errlog: PathBuf,
}

/// The phases of one create → start → wait → delete cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    pub create: Duration,
    pub start: Duration,
    pub wait: Duration,
    pub delete: Duration,
}

impl Phases {
    pub fn total(&self) -> Duration {
        self.create + self.start + self.wait + self.delete
    }

    pub fn get(&self, phase: &str) -> Duration {
        match phase {
            "create" => self.create,
            "start" => self.start,
            "wait" => self.wait,
            "delete" => self.delete,
            _ => self.total(),
        }
    }
}

impl Runtime {
    pub fn new(name: &str, bin: PathBuf) -> Result<Self> {
        let root = tempfile::Builder::new()
            .prefix(&format!("brig-bench-{name}-root."))
            .tempdir()
            .context("temp dir for --root")?;
        let errlog = root.path().join("stderr.log");
        let version = Command::new(&bin)
            .arg("--version")
            .output()
            .ok()
            .map(|o| {
                let out = String::from_utf8_lossy(&o.stdout).to_string();
                out.lines().next().unwrap_or("").trim().to_string()
            })
            .unwrap_or_default();
        // The state dirs live in `<root>/state`, beside the error log.
        std::fs::create_dir(root.path().join("state"))?;
        Ok(Runtime {
            name: name.to_string(),
            bin,
            version,
            root: Some(root),
            live: RefCell::new(BTreeSet::new()),
            errlog,
        })
    }

    /// The `--root` passed to every command.
    pub fn root(&self) -> PathBuf {
        self.root.as_ref().expect("root").path().join("state")
    }

    fn command(&self) -> Result<Command> {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root());
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.errlog)
            .with_context(|| format!("{}", self.errlog.display()))?;
        // The container inherits create's stdio: a file, never a pipe we would
        // wait on for EOF.
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        Ok(c)
    }

    /// Runs `args`, timing spawn to exit. The error carries what the command
    /// wrote on stderr.
    pub fn exec(&self, args: &[&std::ffi::OsStr]) -> Result<Duration> {
        let mut c = self.command()?;
        c.args(args);
        let before = std::fs::metadata(&self.errlog).map_or(0, |m| m.len());
        let t = Instant::now();
        let status = c
            .status()
            .with_context(|| format!("spawn {}", self.bin.display()))?;
        let dt = t.elapsed();
        if !status.success() {
            let mut err = String::new();
            if let Ok(mut f) = File::open(&self.errlog) {
                let _ = f.seek(SeekFrom::Start(before));
                let _ = f.read_to_string(&mut err);
            }
            let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
            bail!("{} {}: {status}: {}", self.name, args.join(" "), err.trim());
        }
        Ok(dt)
    }

    pub fn create(&self, id: &str, bundle: &Path, pid_file: &Path) -> Result<Duration> {
        self.live.borrow_mut().insert(id.to_string());
        self.exec(&[
            "create".as_ref(),
            "--bundle".as_ref(),
            bundle.as_os_str(),
            "--pid-file".as_ref(),
            pid_file.as_os_str(),
            id.as_ref(),
        ])
    }

    pub fn start(&self, id: &str) -> Result<Duration> {
        self.exec(&["start".as_ref(), id.as_ref()])
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<Duration> {
        self.exec(&["kill".as_ref(), id.as_ref(), signal.as_ref()])
    }

    pub fn delete(&self, id: &str) -> Result<Duration> {
        let dt = self.exec(&["delete".as_ref(), id.as_ref()])?;
        self.live.borrow_mut().remove(id);
        Ok(dt)
    }

    pub fn delete_force(&self, id: &str) -> Result<Duration> {
        let dt = self.exec(&["delete".as_ref(), "--force".as_ref(), id.as_ref()])?;
        self.live.borrow_mut().remove(id);
        Ok(dt)
    }

    /// `run` in the foreground: returns when the container exited and is gone.
    pub fn run(&self, id: &str, bundle: &Path) -> Result<Duration> {
        self.live.borrow_mut().insert(id.to_string());
        let dt = self.exec(&[
            "run".as_ref(),
            "--bundle".as_ref(),
            bundle.as_os_str(),
            id.as_ref(),
        ])?;
        if self.root().join(id).exists() {
            bail!(
                "{} run {id}: the state dir is still there after run",
                self.name
            );
        }
        self.live.borrow_mut().remove(id);
        Ok(dt)
    }

    /// create, start, wait for the exit, delete: each phase timed on its own.
    /// The pid file is read and the pidfd opened between create and start,
    /// outside every phase.
    pub fn cycle(&self, id: &str, bundle: &Path) -> Result<Phases> {
        let pid_file = self.root.as_ref().expect("root").path().join("pid");
        let _ = std::fs::remove_file(&pid_file);
        let create = self.create(id, bundle, &pid_file)?;
        let pidfd = PidFd::open(host::read_pid_file(&pid_file)?)?;
        let start = self.start(id)?;
        let t = Instant::now();
        pidfd.wait(DEADLINE)?;
        let wait = t.elapsed();
        let delete = self.delete(id)?;
        Ok(Phases {
            create,
            start,
            wait,
            delete,
        })
    }

    /// The names of the state dirs under `--root` (empty when nothing leaked).
    pub fn state_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.root())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Force-deletes every container this runtime still has.
    pub fn cleanup(&self) {
        let ids: Vec<String> = self.live.borrow().iter().cloned().collect();
        let mut all: BTreeSet<String> = ids.into_iter().collect();
        all.extend(self.state_dirs());
        for id in all {
            if let Err(e) = self.delete_force(&id) {
                // A container that never got created has nothing to delete.
                if self.root().join(&id).exists() {
                    eprintln!("brig-benches: cleanup: {e:#}");
                }
            }
            self.live.borrow_mut().remove(&id);
        }
        host::reap_all();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.cleanup();
        if let Some(root) = self.root.take() {
            let path = root.path().to_path_buf();
            if let Err(e) = root.close() {
                eprintln!("brig-benches: remove {}: {e}", path.display());
            }
        }
    }
}

/// Makes crun work on a hybrid host, as DESIGN.md allows: when a trial `run`
/// fails with crun's hybrid-mode refusal, mounts the hugetlb v1 hierarchy
/// (`mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup
/// /sys/fs/cgroup/hugetlb`) and says so. Returns a note for the reports.
pub fn smoke_test(rt: &Runtime, bundle: &Path) -> Result<Option<String>> {
    let id = format!("smoke-{}-{}", rt.name, std::process::id());
    match rt.run(&id, bundle) {
        Ok(_) => Ok(None),
        Err(e) if rt.name == "crun" && format!("{e:#}").contains(CRUN_HYBRID_ERROR) => {
            rt.cleanup();
            let note = apply_hugetlb_mount()?;
            eprintln!("brig-benches: crun said \"{CRUN_HYBRID_ERROR}\"; {note}");
            rt.run(&id, bundle)
                .context("crun still fails after the hugetlb mount")?;
            Ok(Some(note))
        }
        Err(e) => Err(e),
    }
}

fn apply_hugetlb_mount() -> Result<String> {
    let dir = Path::new("/sys/fs/cgroup/hugetlb");
    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let status = Command::new("mount")
        .args(["-t", "cgroup", "-o", "hugetlb", "cgroup"])
        .arg(dir)
        .status()
        .context("spawn mount")?;
    if !status.success() {
        bail!(
            "mount -t cgroup -o hugetlb cgroup {}: {status}",
            dir.display()
        );
    }
    Ok(format!(
        "applied `mkdir -p {0} && mount -t cgroup -o hugetlb cgroup {0}` (DESIGN.md); \
         it stays mounted (undo: umount {0})",
        dir.display()
    ))
}

/// The runtimes found and working, each smoke-tested with a `run` of
/// /bin/true in `bundle`; the rest are skipped with a message on stderr.
/// Returns the runtimes and the notes to print in the reports.
pub fn discover(bundle: &Path) -> (Vec<Runtime>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for name in selected() {
        let bin = match find_binary(&name) {
            Ok(b) => b,
            Err(why) => {
                let msg = format!("{name}: skipped: {why}");
                eprintln!("brig-benches: {msg}");
                notes.push(msg);
                continue;
            }
        };
        let rt = match Runtime::new(&name, bin) {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("brig-benches: {name}: skipped: {e:#}");
                continue;
            }
        };
        match smoke_test(&rt, bundle) {
            Ok(note) => {
                if let Some(n) = note {
                    notes.push(format!("crun: {n}"));
                }
                eprintln!(
                    "brig-benches: {name}: {} ({})",
                    rt.bin.display(),
                    rt.version
                );
                out.push(rt);
            }
            Err(e) => {
                let msg = format!("{name}: skipped: its trial run failed: {e:#}");
                eprintln!("brig-benches: {msg}");
                notes.push(msg);
            }
        }
    }
    (out, notes)
}
