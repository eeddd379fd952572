//! Reading a container's cgroup files from the host, whichever cgroup version serves each
//! controller. The container's cgroups are found from /proc/<pid>/cgroup, never guessed from the
//! config, so the suite does not depend on how a runtime maps cgroupsPath.

use crate::host::HostFacts;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The cgroup directories of one process.
#[derive(Clone, Debug, Default)]
pub struct ProcCgroups {
    /// v1 controller → directory on the host.
    pub v1: BTreeMap<String, PathBuf>,
    /// The v1 path as the kernel reports it (relative to the hierarchy root), per controller.
    pub v1_paths: BTreeMap<String, String>,
    /// The cgroup2 directory on the host, if the host mounts cgroup2.
    pub v2: Option<PathBuf>,
    pub v2_path: Option<String>,
}

impl ProcCgroups {
    pub fn of_pid(host: &HostFacts, pid: i32) -> std::io::Result<ProcCgroups> {
        let s = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        Ok(Self::parse(host, &s))
    }

    pub fn parse(host: &HostFacts, s: &str) -> ProcCgroups {
        let mut pc = ProcCgroups::default();
        for line in s.lines() {
            let mut it = line.splitn(3, ':');
            let (Some(h), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let rel = path.trim_start_matches('/');
            if h == "0" && ctrls.is_empty() {
                pc.v2 = host.v2_mount.as_ref().map(|m| m.join(rel));
                pc.v2_path = Some(path.to_string());
                continue;
            }
            for c in ctrls.split(',') {
                if let Some(m) = host.v1.get(c) {
                    pc.v1.insert(c.to_string(), m.join(rel));
                    pc.v1_paths.insert(c.to_string(), path.to_string());
                }
            }
        }
        pc
    }

    /// The directory serving `controller`: its v1 hierarchy if there is one, else cgroup2.
    pub fn dir(&self, controller: &str) -> Option<(Version, &Path)> {
        if let Some(p) = self.v1.get(controller) {
            return Some((Version::V1, p));
        }
        self.v2.as_deref().map(|p| (Version::V2, p))
    }

    /// Reads the interface file for `controller`: `v1_file` on v1, `v2_file` on v2. Returns the
    /// file's path and its trimmed content.
    pub fn read(
        &self,
        controller: &str,
        v1_file: &str,
        v2_file: &str,
    ) -> Result<(PathBuf, String), String> {
        let (ver, dir) = self
            .dir(controller)
            .ok_or_else(|| format!("the container has no {controller} cgroup"))?;
        let f = match ver {
            Version::V1 => dir.join(v1_file),
            Version::V2 => dir.join(v2_file),
        };
        fs::read_to_string(&f)
            .map(|s| (f.clone(), s.trim().to_string()))
            .map_err(|e| format!("reading {}: {e}", f.display()))
    }

    /// Every directory of this process's cgroups.
    pub fn all_dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.v1.values().cloned().collect();
        v.extend(self.v2.clone());
        v.sort();
        v.dedup();
        v
    }
}

/// Parses `key value` lines (cpu.stat, memory.events, memory.oom_control, pids.events).
pub fn kv(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == key).then(|| it.next()?.parse().ok())?
    })
}

/// Removes a cgroup directory and everything under it, deepest first. Only empty cgroups can be
/// removed; any still holding processes stay and are reported.
pub fn remove_tree(dir: &Path) -> Vec<String> {
    let mut errs = Vec::new();
    if !dir.exists() {
        return errs;
    }
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                errs.extend(remove_tree(&e.path()));
            }
        }
    }
    if let Err(e) = fs::remove_dir(dir) {
        errs.push(format!("{}: {e}", dir.display()));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hybrid_host() -> HostFacts {
        let mut h = HostFacts::detect();
        h.v1 = [
            ("memory", "/sys/fs/cgroup/memory"),
            ("cpu", "/sys/fs/cgroup/cpu"),
            ("cpuacct", "/sys/fs/cgroup/cpuacct"),
        ]
        .into_iter()
        .map(|(c, p)| (c.to_string(), PathBuf::from(p)))
        .collect();
        h.v2_mount = Some(PathBuf::from("/sys/fs/cgroup/unified"));
        h
    }

    #[test]
    fn proc_cgroup_parses_hybrid() {
        let h = hybrid_host();
        let pc = ProcCgroups::parse(
            &h,
            "9:name=systemd:/\n4:memory:/bc/x\n2:cpu,cpuacct:/bc/x\n0::/bc/x\n",
        );
        assert_eq!(
            pc.dir("memory"),
            Some((Version::V1, Path::new("/sys/fs/cgroup/memory/bc/x")))
        );
        assert_eq!(
            pc.dir("cpuacct").map(|d| d.1),
            Some(Path::new("/sys/fs/cgroup/cpuacct/bc/x"))
        );
        // A controller without a v1 hierarchy is served by cgroup2.
        assert_eq!(
            pc.dir("pids"),
            Some((Version::V2, Path::new("/sys/fs/cgroup/unified/bc/x")))
        );
        assert_eq!(pc.v1_paths.get("cpu").map(String::as_str), Some("/bc/x"));
        assert!(!pc.v1.contains_key("name=systemd"));
    }

    #[test]
    fn kv_parses() {
        let s = "nr_periods 10\nnr_throttled 3\nthrottled_time 55\n";
        assert_eq!(kv(s, "nr_throttled"), Some(3));
        assert_eq!(kv(s, "nope"), None);
        assert_eq!(
            kv("oom_kill_disable 0\nunder_oom 0\noom_kill 2", "oom_kill"),
            Some(2)
        );
    }
}
