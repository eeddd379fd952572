//! What the benches read from the host: /proc/meminfo, processes, cgroups and
//! mounts, and the waiting and reaping of container processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// /proc/meminfo, in KiB per field.
#[derive(Debug, Clone, Default)]
pub struct MemInfo(pub BTreeMap<String, i64>);

impl MemInfo {
    pub fn read() -> Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string("/proc/meminfo")?))
    }

    pub fn parse(text: &str) -> Self {
        let mut m = BTreeMap::new();
        for line in text.lines() {
            let Some((k, rest)) = line.split_once(':') else {
                continue;
            };
            if let Some(v) = rest.split_whitespace().next().and_then(|v| v.parse().ok()) {
                m.insert(k.trim().to_string(), v);
            }
        }
        MemInfo(m)
    }

    pub fn kib(&self, field: &str) -> i64 {
        self.0.get(field).copied().unwrap_or(0)
    }
}

/// The fields the density bench reports, as (before - after) for MemAvailable
/// and MemFree and (after - before) for the rest: memory the containers took.
pub const MEM_FIELDS: &[&str] = &[
    "MemAvailable",
    "MemFree",
    "AnonPages",
    "Shmem",
    "Slab",
    "SUnreclaim",
    "KernelStack",
    "PageTables",
    "Percpu",
];

/// Memory taken between two readings, in KiB per field of [`MEM_FIELDS`].
pub fn mem_taken(before: &MemInfo, after: &MemInfo) -> BTreeMap<String, i64> {
    MEM_FIELDS
        .iter()
        .map(|f| {
            let d = match *f {
                "MemAvailable" | "MemFree" => before.kib(f) - after.kib(f),
                _ => after.kib(f) - before.kib(f),
            };
            (f.to_string(), d)
        })
        .collect()
}

/// Makes this process the reaper of its orphaned descendants, so that container
/// inits, whose runtime process exits after `create`, become its children and
/// are reaped here rather than by the host's init.
pub fn become_subreaper() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r != 0 {
        bail!(
            "prctl(PR_SET_CHILD_SUBREAPER): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Reaps every exited child without blocking. Call it only while no
/// `std::process::Child` of ours is running, or it may take that child's status.
pub fn reap_all() -> usize {
    let mut n = 0;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return n;
        }
        n += 1;
    }
}

/// A pidfd: waits for a process that need not be our child.
#[derive(Debug)]
pub struct PidFd {
    pid: i32,
    fd: std::os::fd::OwnedFd,
}

impl PidFd {
    pub fn open(pid: i32) -> Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if r < 0 {
            bail!("pidfd_open({pid}): {}", std::io::Error::last_os_error());
        }
        // SAFETY: r is a new fd that nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(r as i32) };
        Ok(PidFd { pid, fd })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits until the process exits (then reaps it if it is our child).
    /// Errors after `timeout`.
    pub fn wait(&self, timeout: Duration) -> Result<()> {
        use std::os::fd::AsRawFd;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut p = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, ms) };
            if r > 0 {
                break;
            }
            if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if r < 0 {
                bail!(
                    "poll(pidfd {}): {}",
                    self.pid,
                    std::io::Error::last_os_error()
                );
            }
            bail!("process {} still running after {:?}", self.pid, timeout);
        }
        let mut status = 0;
        // SAFETY: waitpid with a valid out pointer; ECHILD when not our child is fine.
        unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        Ok(())
    }
}

/// The fields of /proc/PID/stat the benches use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<ProcStat> {
    // The comm may hold spaces and parens: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Whether the process `pid` that started at `start_time` still exists (a zombie counts).
pub fn alive(pid: i32, start_time: u64) -> bool {
    proc_stat(pid).is_some_and(|s| s.start_time == start_time)
}

pub fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// A field of /proc/PID/status or smaps_rollup, in KiB.
fn kib_field(path: &str, field: &str) -> Option<i64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

pub fn rss_kib(pid: i32) -> Option<i64> {
    kib_field(&format!("/proc/{pid}/status"), "VmRSS")
}

pub fn pss_kib(pid: i32) -> Option<i64> {
    kib_field(&format!("/proc/{pid}/smaps_rollup"), "Pss")
}

/// Every pid on the host.
pub fn all_pids() -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Processes whose executable is `bin` (the runtime's own resident processes).
pub fn processes_of(bin: &Path) -> Vec<i32> {
    let bin = std::fs::canonicalize(bin).unwrap_or_else(|_| bin.to_path_buf());
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&p| p != me)
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| {
                // A deleted or replaced binary reads "PATH (deleted)".
                e == bin || e.to_string_lossy().starts_with(&*bin.to_string_lossy())
            })
        })
        .collect()
}

/// The cgroup directories a process is in, one per mounted hierarchy:
/// (controller list or "" for cgroup2, path inside the hierarchy).
pub fn cgroups_of(pid: i32) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrl = it.next()?.to_string();
            let path = it.next()?.to_string();
            Some((ctrl, path))
        })
        .collect()
}

/// Where each hierarchy of /proc/PID/cgroup is mounted: key is the
/// controller list as /proc/PID/cgroup names it ("" for cgroup2). The layout
/// comes from brig-cgroups' mountinfo parser, the one brig itself uses.
pub fn cgroup_mounts() -> BTreeMap<String, PathBuf> {
    use brig_cgroups::Layout;
    let mut m = BTreeMap::new();
    let (v1, unified) = match brig_cgroups::detect_layout() {
        Ok(Layout::Unified { root }) => (Vec::new(), Some(root)),
        Ok(Layout::Hybrid { v1, unified }) => (v1, Some(unified)),
        Ok(Layout::Legacy { v1 }) => (v1, None),
        Err(_) => return m,
    };
    if let Some(u) = unified {
        m.insert(String::new(), u);
    }
    for h in v1 {
        let mut ctrls = h.controllers;
        ctrls.sort_unstable();
        m.entry(ctrls.join(",")).or_insert(h.mount_point);
    }
    m
}

/// The cgroup directories of `pid` on the host, in every mounted hierarchy.
pub fn cgroup_dirs_of(pid: i32, mounts: &BTreeMap<String, PathBuf>) -> Vec<PathBuf> {
    cgroups_of(pid)
        .into_iter()
        .filter_map(|(ctrl, path)| {
            let mut key: Vec<&str> = ctrl.split(',').filter(|s| !s.is_empty()).collect();
            key.sort_unstable();
            let root = mounts.get(&key.join(","))?;
            Some(root.join(path.trim_start_matches('/')))
        })
        .collect()
}

/// Directories under the cgroup mounts whose name contains `needle`
/// (walks `max_depth` levels).
pub fn cgroup_dirs_named(needle: &str, max_depth: usize) -> Vec<PathBuf> {
    fn walk(dir: &Path, needle: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            if e.file_name().to_string_lossy().contains(needle) {
                out.push(p.clone());
            }
            if depth > 1 {
                walk(&p, needle, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    let mut roots: Vec<PathBuf> = cgroup_mounts().into_values().collect();
    roots.sort();
    roots.dedup();
    for r in roots {
        walk(&r, needle, max_depth, &mut out);
    }
    out
}

/// Mount points on the host (our mount namespace) under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let prefix = dir.to_string_lossy().to_string();
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Polls `cond` until it holds, erroring after `timeout`.
pub fn poll_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(200);
    while !cond() {
        if Instant::now() > deadline {
            bail!("{what}: not done after {timeout:?}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    Ok(())
}

/// The machine, for the reports: cores, kernel, memory.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem = MemInfo::read().map_or(0, |m| m.kib("MemTotal")) / 1024 / 1024;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem} GiB, kernel {kernel}")
}

/// The load average over 1, 5 and 15 minutes (/proc/loadavg), as "a / b / c".
/// The reports quote it at the start and the end of a run: on a shared host,
/// it says how much the neighbours may have moved the numbers.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" / "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Reads a pid file a runtime wrote.
pub fn read_pid_file(path: &Path) -> Result<i32> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    text.trim()
        .parse()
        .with_context(|| format!("{}: not a pid: {text:?}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_parses_and_diffs() {
        let a = MemInfo::parse("MemTotal:  100 kB\nMemAvailable:   80 kB\nSlab: 5 kB\n");
        let b = MemInfo::parse("MemTotal:  100 kB\nMemAvailable:   70 kB\nSlab: 7 kB\n");
        let d = mem_taken(&a, &b);
        assert_eq!(d["MemAvailable"], 10);
        assert_eq!(d["Slab"], 2);
        assert_eq!(d["Percpu"], 0);
    }

    #[test]
    fn stat_with_odd_comm() {
        let s = "42 (a) b) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 777 0 0";
        assert_eq!(
            parse_stat(s),
            Some(ProcStat {
                state: 'S',
                start_time: 777
            })
        );
    }

    #[test]
    fn our_own_process_is_visible() {
        let me = std::process::id() as i32;
        let st = proc_stat(me).expect("own stat");
        assert!(alive(me, st.start_time));
        assert!(!alive(me, st.start_time + 1));
        assert!(rss_kib(me).unwrap_or(0) > 0);
    }

    #[test]
    fn dates() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
    }
}
