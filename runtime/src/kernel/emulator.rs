//! An in-process emulated kernel: the [`super::Kernel`] seams over an
//! in-memory world, deterministic and without root.
//!
//! - **Processes** are simulated: a pid, a start time from a logical clock,
//!   and a scripted program ([`Program`]) read from `process.args`. The init
//!   waits for `start` as the real one does; signals follow the rules of a
//!   pid namespace's init (a signal it has no handler for is dropped, SIGKILL
//!   always kills), and a frozen process keeps its signals pending until it is
//!   thawed. An ended process is reaped at once; its exit status is kept.
//! - **cgroups** are a tree of keys (`/brig/<id>`): processes, memory.max with
//!   memory accounting and the OOM kill (exit 137, an oom_kill event),
//!   pids.max (a spawn past it fails with EAGAIN), and the freezer.
//! - **mounts** are a table: every mount the rootfs plan asks for is recorded
//!   with its parsed flags and data; [`Overlay`] models overlayfs with copy-up
//!   and whiteouts over a directory.
//!
//! The state store (`--root`), the exec fifo and the bundle stay real files in
//! a directory the test owns: they need no privilege.
//!
//! Scripted programs (`process.args`):
//! - `emu-exit N`: exits with N as soon as it is started;
//! - `emu-oom BYTES`: allocates BYTES once started, then waits; killed by
//!   the OOM killer (137) when that exceeds its cgroup's memory.max;
//! - `emu-fail`: the exec fails (what `start` reports);
//! - `emu-hang [SIG...]`: waits for ever, exiting 0 on each signal named;
//! - `sh -c SCRIPT`: `true` and `exit N` exit, a script with
//!   `trap 'exit 0' TERM` waits and exits 0 on TERM, anything else waits;
//! - anything else waits for ever with no handler.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brig_cgroups::{CgroupError, CgroupManager, FreezerState, Layout, OomWatcher, Stats};
use nix::mount::{MntFlags, MsFlags};
use oci_spec::runtime::LinuxResources;

use super::{CgroupSystem, InitSpawner, Kernel, ProcStat, ProcessTable, Release};
use crate::container::{ContainerError, ContainerState};
use crate::process::message::InitError;
use crate::process::{InitConfig, ProcessError, Spawned};
use crate::rootfs::Mounter;

/// What a simulated process does once started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// Exit with this status at once.
    Exit(i32),
    /// Allocate this many bytes, then wait.
    Oom(u64),
    /// The execve fails.
    Fail,
    /// Wait for ever; exit 0 on each of these signals.
    Hang { traps: Vec<i32> },
}

impl Program {
    /// The program `args` names (see the module's documentation).
    pub fn from_args(args: &[String]) -> Program {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        match arg(0) {
            "emu-exit" => Program::Exit(arg(1).parse().unwrap_or(0)),
            "emu-oom" => Program::Oom(arg(1).parse().unwrap_or(0)),
            "emu-fail" => Program::Fail,
            "emu-hang" => Program::Hang {
                traps: args[1..]
                    .iter()
                    .filter_map(|s| crate::container::parse_signal(s).ok())
                    .collect(),
            },
            "sh" | "/bin/sh" if arg(1) == "-c" => {
                let script = arg(2).trim();
                if script == "true" {
                    Program::Exit(0)
                } else if let Some(n) = script.strip_prefix("exit ") {
                    Program::Exit(n.trim().parse().unwrap_or(1))
                } else if script.contains("trap 'exit 0' TERM") {
                    Program::Hang {
                        traps: vec![libc::SIGTERM],
                    }
                } else {
                    Program::Hang { traps: Vec::new() }
                }
            }
            _ => Program::Hang { traps: Vec::new() },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The init, waiting on the exec fifo: brig's own code, no handlers.
    WaitingStart,
    Running,
}

#[derive(Debug, Clone)]
struct Proc {
    start_time: u64,
    phase: Phase,
    program: Program,
    cgroup: Option<String>,
    pending: Vec<i32>,
}

/// One emulated cgroup.
#[derive(Debug, Default, Clone)]
pub struct Cgroup {
    pub procs: BTreeSet<i32>,
    pub frozen: bool,
    pub memory_max: Option<u64>,
    pub memory_current: u64,
    pub pids_max: Option<u64>,
    pub oom_kills: u64,
}

/// One entry of the emulated mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRecord {
    pub source: Option<PathBuf>,
    pub target: PathBuf,
    pub fstype: Option<String>,
    pub flags: MsFlags,
    pub data: Option<String>,
}

/// Something the emulated kernel did, in order: what the tests check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Spawned {
        pid: i32,
    },
    Exited {
        pid: i32,
        code: i32,
    },
    OomKill {
        pid: i32,
        cgroup: String,
    },
    /// The running program caught `sig` with a handler of its own.
    Handled {
        pid: i32,
        sig: i32,
    },
}

#[derive(Debug, Default, Clone)]
struct World {
    clock: u64,
    next_pid: i32,
    procs: BTreeMap<i32, Proc>,
    exited: BTreeMap<i32, i32>,
    cgroups: BTreeMap<String, Cgroup>,
    mounts: Vec<MountRecord>,
    events: Vec<Event>,
}

impl World {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn exit(&mut self, pid: i32, code: i32) {
        if let Some(p) = self.procs.remove(&pid) {
            if let Some(cg) = p.cgroup.as_ref().and_then(|k| self.cgroups.get_mut(k)) {
                cg.procs.remove(&pid);
                if let Program::Oom(bytes) = p.program {
                    if p.phase == Phase::Running {
                        cg.memory_current = cg.memory_current.saturating_sub(bytes);
                    }
                }
            }
            self.exited.insert(pid, code);
            self.events.push(Event::Exited { pid, code });
        }
    }

    fn frozen(&self, pid: i32) -> bool {
        self.procs
            .get(&pid)
            .and_then(|p| p.cgroup.as_ref())
            .and_then(|k| self.cgroups.get(k))
            .is_some_and(|c| c.frozen)
    }

    /// Deliver `sig` to `pid` as to the init of a pid namespace.
    fn deliver(&mut self, pid: i32, sig: i32) {
        if sig == 0 || !self.procs.contains_key(&pid) {
            return;
        }
        if self.frozen(pid) {
            self.procs.get_mut(&pid).expect("checked").pending.push(sig);
            return;
        }
        let p = &self.procs[&pid];
        if sig == libc::SIGKILL {
            self.exit(pid, 128 + sig);
            return;
        }
        let trapped = p.phase == Phase::Running
            && matches!(&p.program, Program::Hang { traps } if traps.contains(&sig));
        if trapped {
            self.events.push(Event::Handled { pid, sig });
            self.exit(pid, 0);
        }
        // Otherwise: no handler, and the init of a pid namespace drops it.
    }

    fn thaw(&mut self, key: &str) {
        let Some(cg) = self.cgroups.get_mut(key) else {
            return;
        };
        cg.frozen = false;
        let pids: Vec<i32> = cg.procs.iter().copied().collect();
        for pid in pids {
            let pending = self
                .procs
                .get_mut(&pid)
                .map(|p| std::mem::take(&mut p.pending))
                .unwrap_or_default();
            for sig in pending {
                self.deliver(pid, sig);
            }
        }
    }

    /// The program of `pid` starts (after the exec).
    fn run(&mut self, pid: i32) -> Release {
        let Some(p) = self.procs.get_mut(&pid) else {
            return Release::Gone;
        };
        p.phase = Phase::Running;
        match p.program.clone() {
            Program::Exit(code) => {
                self.exit(pid, code);
                Release::Started
            }
            Program::Fail => {
                self.exit(pid, 127);
                Release::Failed(b"process.args[0]: exec failed (emulated)".to_vec())
            }
            Program::Oom(bytes) => {
                let key = p.cgroup.clone();
                let cg = key.as_ref().and_then(|k| self.cgroups.get_mut(k));
                if let Some(cg) = cg {
                    cg.memory_current += bytes;
                    if cg.memory_max.is_some_and(|max| cg.memory_current > max) {
                        cg.oom_kills += 1;
                        let cgroup = key.expect("has a cgroup");
                        self.events.push(Event::OomKill { pid, cgroup });
                        self.exit(pid, 128 + libc::SIGKILL);
                    }
                }
                Release::Started
            }
            Program::Hang { .. } => Release::Started,
        }
    }
}

/// The emulated kernel. [`Emulator::kernel`] gives the seams over it.
#[derive(Debug, Clone)]
pub struct Emulator {
    world: Arc<Mutex<World>>,
    /// What a container's `process.args` runs ([`Program::from_args`] unless
    /// a test gives its own, as the conformance suite's adapter does for its
    /// probe).
    programs: fn(&[String]) -> Program,
}

impl Default for Emulator {
    fn default() -> Self {
        Emulator::new()
    }
}

impl Emulator {
    pub fn new() -> Self {
        Emulator::with_programs(Program::from_args)
    }

    /// An emulator whose processes run `programs(process.args)`.
    pub fn with_programs(programs: fn(&[String]) -> Program) -> Self {
        let e = Emulator {
            world: Arc::default(),
            programs,
        };
        e.lock().next_pid = 1000;
        e
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The [`Kernel`] whose every seam is this emulator.
    pub fn kernel(&self) -> Kernel<'_> {
        Kernel {
            processes: self,
            spawner: self,
            cgroups: self,
            mounter: self,
        }
    }

    /// A copy of the whole emulated kernel, independent from now on: what a
    /// crash of brig at this moment leaves behind (the kernel's objects
    /// outlive the process that made them).
    pub fn snapshot(&self) -> Emulator {
        Emulator {
            world: Arc::new(Mutex::new(self.lock().clone())),
            programs: self.programs,
        }
    }

    /// The exit status of a process that ended (128+n when signal n killed it).
    pub fn exit_code(&self, pid: i32) -> Option<i32> {
        self.lock().exited.get(&pid).copied()
    }

    /// Whether `pid` is a live process.
    pub fn alive(&self, pid: i32) -> bool {
        self.lock().procs.contains_key(&pid)
    }

    /// The live processes.
    pub fn pids(&self) -> Vec<i32> {
        self.lock().procs.keys().copied().collect()
    }

    /// A copy of the cgroup at `key` (`/brig/<id>`), if it exists.
    pub fn cgroup(&self, key: &str) -> Option<Cgroup> {
        self.lock().cgroups.get(key).cloned()
    }

    /// The keys of every cgroup that exists.
    pub fn cgroups(&self) -> Vec<String> {
        self.lock().cgroups.keys().cloned().collect()
    }

    /// The mount table, in mount order.
    pub fn mounts(&self) -> Vec<MountRecord> {
        self.lock().mounts.clone()
    }

    /// Everything that happened, in order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }
}

impl ProcessTable for Emulator {
    fn stat(&self, pid: i32) -> Option<ProcStat> {
        let w = self.lock();
        w.procs.get(&pid).map(|p| ProcStat {
            state: if w.frozen(pid) { 'D' } else { 'S' },
            start_time: p.start_time,
        })
    }

    fn signal_init(&self, pid: i32, start_time: u64, sig: i32) -> io::Result<()> {
        let mut w = self.lock();
        match w.procs.get(&pid) {
            Some(p) if p.start_time == start_time => {
                w.deliver(pid, sig);
                Ok(())
            }
            _ => Err(io::Error::from_raw_os_error(libc::ESRCH)),
        }
    }

    fn signal(&self, pid: i32, sig: i32) -> io::Result<()> {
        let mut w = self.lock();
        if !w.procs.contains_key(&pid) {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        w.deliver(pid, sig);
        Ok(())
    }

    fn kill_and_wait(&self, pid: i32, start_time: u64, _timeout: Duration) {
        let mut w = self.lock();
        if w.procs
            .get(&pid)
            .is_some_and(|p| p.start_time == start_time)
        {
            w.deliver(pid, libc::SIGKILL);
        }
    }
}

impl InitSpawner for Emulator {
    fn spawn_init(
        &self,
        cfg: &InitConfig,
        hooks: &mut dyn FnMut(i32) -> Result<String, String>,
    ) -> Result<Spawned, ProcessError> {
        let plan = cfg.plan;
        let program = (self.programs)(&plan.process.args);
        let pid = {
            let mut w = self.lock();
            let pid = w.next_pid;
            w.next_pid += 1;
            let start_time = w.tick();
            w.procs.insert(
                pid,
                Proc {
                    start_time,
                    phase: Phase::WaitingStart,
                    program,
                    cgroup: None,
                    pending: Vec::new(),
                },
            );
            w.events.push(Event::Spawned { pid });
            pid
        };
        let undo = |e: ProcessError| {
            self.lock().exit(pid, 128 + libc::SIGKILL);
            e
        };
        // Through the manager's trait, as the real init joins it.
        cfg.cgroup
            .add_process(pid)
            .map_err(|e| undo(ProcessError::Init(InitError::at("joining cgroup", e))))?;
        // The rootfs: every planned mount, with the flags and data parsed once.
        for m in &plan.mounts {
            let dest = crate::rootfs::secure_join(&plan.rootfs, m.mount.destination());
            cfg.mounter
                .mount(
                    m.mount.source().as_deref(),
                    &dest,
                    m.mount.typ().as_deref(),
                    m.opts.flags,
                    m.opts.data_string().as_deref(),
                )
                .map_err(|e| {
                    undo(ProcessError::Init(InitError::at(
                        "rootfs",
                        format!("mounting {}: {e}", dest.display()),
                    )))
                })?;
        }
        // As the real init: the hooks' stop only when there is a hook to run.
        if cfg.plan.needs_hook_state() {
            hooks(pid).map_err(|e| undo(ProcessError::Hook(e)))?;
        }
        Ok(Spawned { pid, console: None })
    }

    fn release(&self, state: &ContainerState, fifo: &Path) -> Result<Release, ContainerError> {
        let mut w = self.lock();
        let ours = w
            .procs
            .get(&state.pid)
            .is_some_and(|p| p.start_time == state.init_start_time);
        if !ours {
            return Ok(Release::Gone);
        }
        // As on Linux: the fifo is gone once the init is let go.
        std::fs::remove_file(fifo).map_err(|e| ContainerError::io(fifo, e))?;
        Ok(w.run(state.pid))
    }
}

/// The emulated cgroup of one container.
#[derive(Debug)]
struct EmuCgroup {
    world: Arc<Mutex<World>>,
    key: String,
}

impl EmuCgroup {
    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn no_cgroup(key: &str) -> CgroupError {
    CgroupError::Io {
        path: PathBuf::from(key),
        source: io::Error::from_raw_os_error(libc::ENOENT),
    }
}

impl CgroupManager for EmuCgroup {
    fn create(&self) -> brig_cgroups::Result<()> {
        self.lock().cgroups.entry(self.key.clone()).or_default();
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> brig_cgroups::Result<()> {
        let mut w = self.lock();
        let cg = w
            .cgroups
            .get_mut(&self.key)
            .ok_or_else(|| no_cgroup(&self.key))?;
        if let Some(limit) = r.memory().as_ref().and_then(|m| m.limit()) {
            cg.memory_max = u64::try_from(limit).ok();
        }
        if let Some(p) = r.pids().as_ref() {
            cg.pids_max = u64::try_from(p.limit()).ok();
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> brig_cgroups::Result<()> {
        let mut w = self.lock();
        let cg = w
            .cgroups
            .get_mut(&self.key)
            .ok_or_else(|| no_cgroup(&self.key))?;
        if cg.pids_max.is_some_and(|max| cg.procs.len() as u64 >= max) {
            return Err(CgroupError::Io {
                path: PathBuf::from(&self.key).join("pids.max"),
                source: io::Error::from_raw_os_error(libc::EAGAIN),
            });
        }
        cg.procs.insert(pid);
        if let Some(p) = w.procs.get_mut(&pid) {
            p.cgroup = Some(self.key.clone());
        }
        Ok(())
    }

    fn join_new_process(&self, _in_unified: bool) -> brig_cgroups::Result<()> {
        // Simulated processes join through add_process.
        Ok(())
    }

    fn clone_into_dir(&self) -> Option<&Path> {
        None
    }

    fn pids(&self) -> brig_cgroups::Result<Vec<i32>> {
        let w = self.lock();
        let cg = w
            .cgroups
            .get(&self.key)
            .ok_or_else(|| no_cgroup(&self.key))?;
        Ok(cg.procs.iter().copied().collect())
    }

    fn freeze(&self) -> brig_cgroups::Result<()> {
        let mut w = self.lock();
        let cg = w
            .cgroups
            .get_mut(&self.key)
            .ok_or_else(|| no_cgroup(&self.key))?;
        cg.frozen = true;
        Ok(())
    }

    fn thaw(&self) -> brig_cgroups::Result<()> {
        let mut w = self.lock();
        if !w.cgroups.contains_key(&self.key) {
            return Err(no_cgroup(&self.key));
        }
        w.thaw(&self.key);
        Ok(())
    }

    fn freezer_state(&self) -> brig_cgroups::Result<FreezerState> {
        let w = self.lock();
        let cg = w
            .cgroups
            .get(&self.key)
            .ok_or_else(|| no_cgroup(&self.key))?;
        Ok(if cg.frozen {
            FreezerState::Frozen
        } else {
            FreezerState::Thawed
        })
    }

    fn destroy(&self) -> brig_cgroups::Result<()> {
        let mut w = self.lock();
        let Some(cg) = w.cgroups.get(&self.key) else {
            return Ok(());
        };
        let pids: Vec<i32> = cg.procs.iter().copied().collect();
        w.thaw(&self.key);
        for pid in pids {
            w.deliver(pid, libc::SIGKILL);
        }
        w.cgroups.remove(&self.key);
        Ok(())
    }

    fn remove_if_empty(&self) -> brig_cgroups::Result<bool> {
        let mut w = self.lock();
        match w.cgroups.get(&self.key) {
            None => Ok(true),
            Some(cg) if cg.procs.is_empty() => {
                w.cgroups.remove(&self.key);
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    fn path_of(&self, _controller: &str) -> Option<PathBuf> {
        // No cgroupfs: nothing for the checks that read files to read.
        None
    }

    fn stats(&self) -> brig_cgroups::Result<Stats> {
        let w = self.lock();
        let cg = w
            .cgroups
            .get(&self.key)
            .ok_or_else(|| no_cgroup(&self.key))?;
        let mut s = Stats::default();
        s.memory.usage.usage = cg.memory_current;
        s.pids.current = cg.procs.len() as u64;
        Ok(s)
    }

    fn oom_kill_count(&self) -> brig_cgroups::Result<u64> {
        let w = self.lock();
        let cg = w
            .cgroups
            .get(&self.key)
            .ok_or_else(|| no_cgroup(&self.key))?;
        Ok(cg.oom_kills)
    }

    fn oom_watcher(&self) -> brig_cgroups::Result<OomWatcher> {
        Err(CgroupError::Unsupported {
            field: "events".into(),
            why: "the emulated kernel has no OOM eventfd; read Emulator::events".into(),
        })
    }
}

impl CgroupSystem for Emulator {
    fn layout(&self) -> Result<Layout, CgroupError> {
        Ok(Layout::Unified {
            root: PathBuf::from("/emulated/cgroup"),
        })
    }

    fn validate(&self, _layout: &Layout, _resources: &LinuxResources) -> Result<(), CgroupError> {
        Ok(())
    }

    fn manager(
        &self,
        _layout: &Layout,
        cgroups_path: Option<&Path>,
        id: &str,
        creator: Option<&str>,
    ) -> Result<Box<dyn CgroupManager>, CgroupError> {
        let key = match cgroups_path {
            None => format!("/brig/{id}"),
            Some(p) if p.is_absolute() => p.display().to_string(),
            Some(p) => {
                let own = creator
                    .and_then(|c| c.lines().find_map(|l| l.strip_prefix("0::")))
                    .unwrap_or("/");
                Path::new(own).join(p).display().to_string()
            }
        };
        Ok(Box::new(EmuCgroup {
            world: self.world.clone(),
            key,
        }))
    }

    fn own_cgroups(&self) -> io::Result<String> {
        Ok("0::/emulated\n".into())
    }
}

impl Mounter for Emulator {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        self.lock().mounts.push(MountRecord {
            source: source.map(Path::to_path_buf),
            target: target.to_path_buf(),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        });
        Ok(())
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        let mut w = self.lock();
        let before = w.mounts.len();
        if flags.contains(MntFlags::MNT_DETACH) {
            w.mounts.retain(|m| !m.target.starts_with(target));
        } else if let Some(i) = w.mounts.iter().rposition(|m| m.target == target) {
            w.mounts.remove(i);
        }
        if w.mounts.len() == before {
            return Err(nix::Error::EINVAL);
        }
        Ok(())
    }
}

/// overlayfs, modelled over plain directories: `lower` layers (top first),
/// one `upper`. A write copies the file up; a removal of a lower file leaves
/// a whiteout (`.wh.<name>`, the OCI layer form, so no mknod and no root); a
/// directory made where a lower one was removed is opaque (`.wh..wh..opq`).
#[derive(Debug, Clone)]
pub struct Overlay {
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
}

const OPAQUE: &str = ".wh..wh..opq";

fn whiteout_of(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    p.with_file_name(format!(".wh.{name}"))
}

impl Overlay {
    /// Where `rel` is seen: the upper layer, else the first lower layer that
    /// has it, unless a whiteout or an opaque directory above hides it.
    pub fn resolve(&self, rel: &Path) -> Option<PathBuf> {
        let layers = std::iter::once(&self.upper).chain(self.lower.iter());
        for layer in layers {
            if layer.join(whiteout_of(rel)).exists() {
                return None;
            }
            let p = layer.join(rel);
            if p.symlink_metadata().is_ok() {
                return Some(p);
            }
            // An opaque directory on the way hides everything below it.
            let opaque = rel
                .ancestors()
                .skip(1)
                .any(|a| layer.join(a).join(OPAQUE).exists());
            if opaque {
                return None;
            }
        }
        None
    }

    pub fn read(&self, rel: &Path) -> io::Result<Vec<u8>> {
        let p = self
            .resolve(rel)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        std::fs::read(p)
    }

    /// Write `rel` in the upper layer, copying the file (and its directories)
    /// up first.
    pub fn write(&self, rel: &Path, data: &[u8]) -> io::Result<()> {
        let dest = self.upper.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _ = std::fs::remove_file(self.upper.join(whiteout_of(rel)));
        std::fs::write(dest, data)
    }

    /// Copy a lower file up without changing it (what a chmod or an open for
    /// writing does).
    pub fn copy_up(&self, rel: &Path) -> io::Result<()> {
        let data = self.read(rel)?;
        self.write(rel, &data)
    }

    /// Remove `rel`: from the upper layer, and with a whiteout when a lower
    /// layer still has it.
    pub fn remove(&self, rel: &Path) -> io::Result<()> {
        if self.resolve(rel).is_none() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        let up = self.upper.join(rel);
        if up.is_dir() {
            std::fs::remove_dir_all(&up)?;
        } else if up.symlink_metadata().is_ok() {
            std::fs::remove_file(&up)?;
        }
        let below = self
            .lower
            .iter()
            .any(|l| l.join(rel).symlink_metadata().is_ok());
        if below {
            let wh = self.upper.join(whiteout_of(rel));
            if let Some(parent) = wh.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(wh, b"")?;
        }
        Ok(())
    }

    /// Make directory `rel` in the upper layer; opaque when it replaces a
    /// removed lower directory.
    pub fn mkdir(&self, rel: &Path) -> io::Result<()> {
        let wh = self.upper.join(whiteout_of(rel));
        let replaced = wh.exists();
        std::fs::create_dir_all(self.upper.join(rel))?;
        if replaced {
            std::fs::remove_file(wh)?;
            std::fs::write(self.upper.join(rel).join(OPAQUE), b"")?;
        }
        Ok(())
    }

    /// The names in directory `rel` as the merged view shows them, sorted.
    pub fn list(&self, rel: &Path) -> io::Result<Vec<String>> {
        let mut names = BTreeSet::new();
        let mut hidden = BTreeSet::new();
        let layers = std::iter::once(&self.upper).chain(self.lower.iter());
        for layer in layers {
            let dir = layer.join(rel);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd {
                let name = e?.file_name().to_string_lossy().into_owned();
                if name == OPAQUE {
                    continue;
                }
                if let Some(h) = name.strip_prefix(".wh.") {
                    hidden.insert(h.to_string());
                } else if !hidden.contains(&name) {
                    names.insert(name);
                }
            }
            if dir.join(OPAQUE).exists() {
                break;
            }
        }
        Ok(names.into_iter().collect())
    }
}
