//! Real engines driving a runc-compatible runtime: podman, containerd through `ctr`, and
//! containerd's CRI plugin through a small CRI client. The runtime is the workspace's
//! `target/debug/brig` unless `$BRIG_ENGINE_RUNTIME` names another binary (runc, crun), so that
//! the same scenarios run against the reference runtimes.
//!
//! Every engine runs inside a [`Sandbox`]: a holder process in its own network and mount
//! namespaces, with fresh tmpfs mounts on `/run` and on the engine's fixed state directories.
//! Bridges, iptables rules, network namespaces and mounts that an engine makes therefore live and
//! die with the holder, and the host's network is never touched.

pub mod containerd;
pub mod cri;
pub mod image;
pub mod podman;

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub fn log(msg: &str) {
    eprintln!("brig-engine-tests: {msg}");
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The workspace this crate was built in.
pub fn workspace_dir() -> Option<PathBuf> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    ws.join("engine-tests/Cargo.toml").exists().then_some(ws)
}

/// The runtime binary the engines are given.
#[derive(Clone, Debug)]
pub struct Runtime {
    pub path: PathBuf,
    /// The file name (`brig`, `runc`, `crun`), for names and messages.
    pub name: String,
}

/// `$BRIG_ENGINE_RUNTIME`, else the workspace's `target/debug/brig`, built with
/// `cargo build -p brig` when it is missing.
pub fn runtime_under_test() -> Result<Runtime> {
    let path = match std::env::var_os("BRIG_ENGINE_RUNTIME") {
        Some(p) => PathBuf::from(p),
        None => {
            let ws = workspace_dir().ok_or_else(|| {
                anyhow!("no workspace to find target/debug/brig in: set BRIG_ENGINE_RUNTIME")
            })?;
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| ws.join("target"));
            let brig = target.join("debug/brig");
            if !brig.is_file() {
                log(&format!(
                    "{} is missing: cargo build -p brig",
                    brig.display()
                ));
                let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let st = Command::new(cargo)
                    .args(["build", "-p", "brig"])
                    .current_dir(&ws)
                    .status()
                    .context("running cargo build -p brig")?;
                if !st.success() {
                    bail!("cargo build -p brig failed: {st}");
                }
            }
            brig
        }
    };
    let path = std::fs::canonicalize(&path)
        .with_context(|| format!("the runtime {} does not exist", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "runtime".into());
    Ok(Runtime { path, name })
}

static APT: Mutex<()> = Mutex::new(());

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs the Debian packages that are missing (first use on a fresh machine), and says so
/// on stderr.
pub fn ensure_packages(pkgs: &[&str]) -> Result<()> {
    let _g = APT.lock().unwrap_or_else(|e| e.into_inner());
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    log(&format!(
        "first use: installing {} (apt-get install)",
        missing.join(" ")
    ));
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if install() {
        return Ok(());
    }
    let _ = Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    if !install() {
        bail!("apt-get install {} failed", missing.join(" "));
    }
    Ok(())
}

/// Polls `f` until it gives a value, or fails naming `what` after `timeout`.
pub fn wait_until<T>(
    timeout: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(match last_err {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a command to its end and gives its output, failing with its stderr when it fails.
pub fn run_ok(cmd: &mut Command) -> Result<Output> {
    let out = run_any(cmd)?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(out)
}

/// Runs a command to its end and gives its output, whatever its status.
pub fn run_any(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A holder process in new network and mount namespaces. `/run` and each of `private_dirs` is
/// a fresh tmpfs in there; a directory of `private_dirs` that did not exist is created for the
/// mount and removed again on drop. Everything mounted or configured inside is gone once the
/// holder and the processes started in it have exited.
pub struct Sandbox {
    holder: Child,
    created: Vec<PathBuf>,
}

impl Sandbox {
    pub fn new(private_dirs: &[&Path]) -> Result<Sandbox> {
        ensure_packages(&["util-linux", "iproute2"])?;
        let mut created = Vec::new();
        for d in private_dirs {
            if !d.exists() {
                std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
                created.push(d.to_path_buf());
            }
        }
        let script = r#"set -e
mount -t tmpfs -o mode=0755 brig-engine-run /run
for d in "$@"; do mount -t tmpfs -o mode=0700 brig-engine-priv "$d"; done
ip link set lo up
echo ready
exec sleep 2147483647"#;
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
            ])
            .arg(script)
            .arg("sh")
            .args(private_dirs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the sandbox holder (unshare)")?;
        let mut line = String::new();
        let out = holder.stdout.take().expect("piped");
        BufReader::new(out).read_line(&mut line)?;
        let sb = Sandbox { holder, created };
        if line.trim() != "ready" {
            bail!("the sandbox holder failed to set up its namespaces");
        }
        Ok(sb)
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// A command that runs `program` inside the sandbox's namespaces.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.pid().to_string())
            .args(["-n", "-m", "--"])
            .arg(program);
        c
    }

    /// The sandbox's mount table.
    pub fn mountinfo(&self) -> Result<String> {
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid()))
            .context("reading the sandbox's mountinfo")
    }

    /// Mount points in the sandbox whose line mentions `needle`.
    pub fn mounts_with(&self, needle: &str) -> Result<Vec<String>> {
        Ok(self
            .mountinfo()?
            .lines()
            .filter(|l| l.contains(needle))
            .map(|l| l.split_whitespace().nth(4).unwrap_or("").to_string())
            .collect())
    }

    /// The network namespaces an engine left in /run/netns inside the sandbox.
    pub fn netns_files(&self) -> Result<Vec<String>> {
        let dir = format!("/proc/{}/root/run/netns", self.pid());
        match std::fs::read_dir(&dir) {
            Ok(rd) => Ok(rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("reading {dir}")),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        for d in self.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The processes whose command line contains `needle` (other than this one).
pub fn processes_with(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            found.push((pid, cmd.trim().to_string()));
        }
    }
    found
}

/// Kills (SIGKILL) the processes whose command line contains `needle`: only for needles that
/// name this run's private directories, so that they are ours.
pub fn kill_processes_with(needle: &str) {
    for (pid, cmd) in processes_with(needle) {
        log(&format!("killing leftover process {pid}: {cmd}"));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// A cgroup path (relative to each hierarchy's root) that the engines put their containers
/// under; removed from every hierarchy on drop, children first.
pub struct CgroupParent {
    pub name: String,
}

impl CgroupParent {
    pub fn new(name: &str) -> CgroupParent {
        CgroupParent {
            name: name.trim_matches('/').to_string(),
        }
    }

    /// `/name` as engines take it.
    pub fn path(&self) -> String {
        format!("/{}", self.name)
    }

    /// The cgroup directories below the parent (not the parent itself), in every hierarchy.
    pub fn children(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for h in hierarchies() {
            let p = h.join(&self.name);
            collect_dirs(&p, &mut out);
        }
        out
    }

    /// Kills what still runs below the parent (an engine that failed may leave a container's
    /// processes behind; everything below this run's parent is ours), then removes the cgroups
    /// in every hierarchy, children first.
    pub fn remove(&self) -> Result<()> {
        let mut dirs = Vec::new();
        for h in hierarchies() {
            let p = h.join(&self.name);
            if p.exists() {
                collect_dirs(&p, &mut dirs);
                dirs.push(p);
            }
        }
        if dirs.is_empty() {
            return Ok(());
        }
        let mut killed = std::collections::BTreeSet::new();
        for d in &dirs {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if killed.insert(pid) {
                    log(&format!("killing process {pid} left in {}", d.display()));
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        // Dirs are listed children before parents; a cgroup empties a moment after its
        // processes are reaped, so one deadline covers them all.
        let left = wait_until(
            Duration::from_secs(10),
            "the cgroups to be removable",
            || {
                let left: Vec<&PathBuf> = dirs
                    .iter()
                    .filter(|d| match std::fs::remove_dir(d) {
                        Ok(()) => false,
                        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
                    })
                    .collect();
                Ok(left.is_empty().then_some(()))
            },
        );
        if left.is_err() {
            let still: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
            bail!("cgroups left that could not be removed: {still:?}");
        }
        if !killed.is_empty() {
            bail!(
                "{} processes were left in the engines' cgroups (killed)",
                killed.len()
            );
        }
        Ok(())
    }
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            log(&format!("{e:#}"));
        }
    }
}

fn hierarchies() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return out;
    };
    for l in mi.lines() {
        let (pre, post) = match l.split_once(" - ") {
            Some(x) => x,
            None => continue,
        };
        let fstype = post.split_whitespace().next().unwrap_or("");
        if fstype == "cgroup" || fstype == "cgroup2" {
            if let Some(mp) = pre.split_whitespace().nth(4) {
                out.push(PathBuf::from(mp));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Subdirectories of `dir`, deepest first.
fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            collect_dirs(&p, out);
            out.push(p);
        }
    }
}

/// A unique, short tag for this test process's names.
pub fn run_tag() -> String {
    format!("{:x}", std::process::id())
}

/// Why the scenarios cannot run here, if so: each test binary then reports them as ignored.
/// (Every scenario is its own libtest-mimic trial, so `cargo test -p brig-engine-tests --test
/// podman -- NAME` filters as usual.)
pub fn skip_reason() -> Option<String> {
    if !is_root() {
        return Some("the engine tests need root".into());
    }
    None
}

/// Turns an anyhow result into a libtest-mimic one.
pub fn trial_result(r: Result<()>) -> Result<(), libtest_mimic::Failed> {
    r.map_err(|e| format!("{e:#}").into())
}
