//! Facts about the host, detected once per run, and the requirements that checks state as data.

use crate::runtime::{Op, RuntimeUnderTest};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupLayout {
    /// Only cgroup2, mounted at the cgroup root.
    Unified,
    /// v1 controllers, plus a cgroup2 mount (usually /sys/fs/cgroup/unified).
    Hybrid,
    /// Only v1 controllers.
    Legacy,
    /// No cgroup filesystem at all.
    None,
}

impl fmt::Display for CgroupLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupLayout::Unified => "unified (v2)",
            CgroupLayout::Hybrid => "hybrid (v1 + v2)",
            CgroupLayout::Legacy => "legacy (v1)",
            CgroupLayout::None => "none",
        })
    }
}

/// Which cgroup version serves a controller on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControllerHome {
    /// A v1 hierarchy mounted at this path.
    V1(PathBuf),
    /// Enabled in the cgroup2 tree mounted at this path.
    V2(PathBuf),
}

#[derive(Clone, Debug)]
pub struct HostFacts {
    pub is_root: bool,
    pub kernel: String,
    pub layout: CgroupLayout,
    /// v1 controller name → mount point (named hierarchies such as name=systemd are left out).
    pub v1: BTreeMap<String, PathBuf>,
    /// The cgroup2 mount point, if any.
    pub v2_mount: Option<PathBuf>,
    /// Controllers available at the cgroup2 root.
    pub v2_controllers: Vec<String>,
    /// The capability bounding set of this process.
    pub cap_bounding: u64,
    pub apparmor: bool,
    pub selinux: bool,
    pub user_ns: bool,
    pub filesystems: Vec<String>,
    /// Whether `/` has shared propagation.
    pub root_shared: bool,
    /// The first real disk: (name, major, minor).
    pub block_device: Option<(String, u64, u64)>,
    pub swap_accounting: bool,
    /// Whether writes to memory.kmem.limit_in_bytes take effect (v1 only).
    pub kmem_limit_honoured: bool,
    pub cpus: Vec<usize>,
}

pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_RESOURCE: u32 = 24;

impl HostFacts {
    pub fn detect() -> HostFacts {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut v1 = BTreeMap::new();
        let mut v2_mount = None;
        let mut root_shared = false;
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let lf: Vec<&str> = left.split(' ').collect();
            let rf: Vec<&str> = right.split(' ').collect();
            let (Some(mp), Some(fstype)) = (lf.get(4), rf.first()) else {
                continue;
            };
            if *mp == "/" {
                root_shared = lf[6..].iter().any(|o| o.starts_with("shared:"));
            }
            match *fstype {
                "cgroup2" => v2_mount = Some(PathBuf::from(mp)),
                "cgroup" => {
                    let opts = rf.get(2).copied().unwrap_or("");
                    for o in opts.split(',') {
                        if KNOWN_V1.contains(&o) {
                            v1.insert(o.to_string(), PathBuf::from(mp));
                        }
                    }
                }
                _ => {}
            }
        }
        let v2_controllers: Vec<String> = v2_mount
            .as_ref()
            .and_then(|m| fs::read_to_string(m.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let layout = match (v1.is_empty(), &v2_mount) {
            (true, Some(_)) => CgroupLayout::Unified,
            (false, Some(_)) => CgroupLayout::Hybrid,
            (false, None) => CgroupLayout::Legacy,
            (true, None) => CgroupLayout::None,
        };
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cap_bounding = status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        let lsm = fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
        let apparmor = lsm.split(',').any(|l| l.trim() == "apparmor")
            && fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .map(|s| s.trim() == "Y")
                .unwrap_or(false);
        let selinux = Path::new("/sys/fs/selinux/enforce").exists();
        let user_ns = Path::new("/proc/self/ns/user").exists()
            && fs::read_to_string("/proc/sys/user/max_user_namespaces")
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0);
        let filesystems = fs::read_to_string("/proc/filesystems")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(String::from))
            .collect();
        let swap_accounting = v1
            .get("memory")
            .is_some_and(|m| m.join("memory.memsw.limit_in_bytes").exists())
            || (v2_controllers.iter().any(|c| c == "memory"));
        let kmem_limit_honoured = v1
            .get("memory")
            .is_some_and(|m| probe_kmem_limit(m).unwrap_or(false));
        // SAFETY: geteuid takes no arguments and cannot fail.
        let is_root = unsafe { libc::geteuid() } == 0;
        HostFacts {
            is_root,
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            layout,
            v1,
            v2_mount,
            v2_controllers,
            cap_bounding,
            apparmor,
            selinux,
            user_ns,
            filesystems,
            root_shared,
            block_device: first_disk(),
            swap_accounting,
            kmem_limit_honoured,
            cpus: online_cpus(),
        }
    }

    /// Where a controller lives: a v1 hierarchy if one is mounted, else the cgroup2 tree if the
    /// controller is enabled there.
    pub fn controller(&self, name: &str) -> Option<ControllerHome> {
        if let Some(p) = self.v1.get(name) {
            return Some(ControllerHome::V1(p.clone()));
        }
        let v2_name = match name {
            "blkio" => "io",
            "cpuacct" => "cpu",
            "freezer" | "devices" => return self.v2_mount.clone().map(ControllerHome::V2),
            n => n,
        };
        if self.v2_controllers.iter().any(|c| c == v2_name) {
            return self.v2_mount.clone().map(ControllerHome::V2);
        }
        None
    }

    /// The root of every cgroup hierarchy on the host (v1 controllers, named v1 hierarchies
    /// such as name=systemd, and cgroup2).
    pub fn cgroup_roots(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.v1.values().cloned().collect();
        v.extend(self.v2_mount.clone());
        if let Ok(mi) = fs::read_to_string("/proc/self/mountinfo") {
            for l in mi.lines() {
                if l.contains(" - cgroup ") && l.contains("name=") {
                    if let Some(mp) = l.split(' ').nth(4) {
                        v.push(PathBuf::from(mp));
                    }
                }
            }
        }
        v.sort();
        v.dedup();
        v
    }

    pub fn has_cap_in_bounding(&self, cap: u32) -> bool {
        self.cap_bounding & (1u64 << cap) != 0
    }

    /// A one-line summary for report headers.
    pub fn summary(&self) -> String {
        format!(
            "kernel {}, cgroups {}, cpus {:?}",
            self.kernel, self.layout, self.cpus
        )
    }
}

const KNOWN_V1: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
];

fn online_cpus() -> Vec<usize> {
    let s = fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    parse_cpu_list(s.trim())
}

/// Parses a kernel cpu list such as `0-2,4`.
pub fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut v = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    v.extend(a..=b);
                }
            }
            None => v.extend(part.parse::<usize>().ok()),
        }
    }
    v
}

fn first_disk() -> Option<(String, u64, u64)> {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !(n.starts_with("loop") || n.starts_with("ram") || n.starts_with("zram")))
        .collect();
    names.sort();
    let name = names.into_iter().next()?;
    let dev = fs::read_to_string(format!("/sys/block/{name}/dev")).ok()?;
    let (maj, min) = dev.trim().split_once(':')?;
    Some((name, maj.parse().ok()?, min.parse().ok()?))
}

/// Writes a kmem limit into a scratch v1 memory cgroup and reads it back.
fn probe_kmem_limit(memory_mount: &Path) -> std::io::Result<bool> {
    let dir = memory_mount.join(format!("brig-conformance-kmem-{}", std::process::id()));
    let file = dir.join("memory.kmem.limit_in_bytes");
    fs::create_dir(&dir)?;
    let res = (|| {
        if !file.exists() {
            return Ok(false);
        }
        fs::write(&file, "67108864")?;
        Ok(fs::read_to_string(&file)?.trim() == "67108864")
    })();
    let _ = fs::remove_dir(&dir);
    res
}

/// A requirement a check states as data. When one is unmet the check is skipped with the reason.
#[derive(Clone, Copy, Debug)]
pub enum Req {
    /// The suite runs as root (when the runtime needs it: see
    /// [`RuntimeUnderTest::needs_root`]).
    Root,
    /// The containers run on the host's kernel, where the check observes them (/proc, cgroupfs,
    /// mounts, namespaces, the probe's answers): not on an emulated one.
    HostKernel,
    /// The runtime implements this operation.
    Op(Op),
    /// The cgroup controller is available (v1 hierarchy or enabled on cgroup2).
    Controller(&'static str),
    /// A v1-only cgroup interface file of a controller (for example `memory.swappiness`).
    CgroupV1File(&'static str, &'static str),
    /// The cgroup interface file exists for the controller in whatever version serves it:
    /// (controller, v1 file, v2 file).
    CgroupFile(&'static str, &'static str, &'static str),
    /// The kernel supports this namespace kind (a /proc/self/ns entry).
    Namespace(&'static str),
    /// Unprivileged-style user namespaces are enabled.
    UserNamespaces,
    /// The kernel knows this filesystem type.
    Filesystem(&'static str),
    /// This capability is in the suite's bounding set.
    Capability(u32, &'static str),
    AppArmor,
    SeLinux,
    /// `/` has shared mount propagation.
    RootSharedPropagation,
    /// A block device to throttle.
    BlockDevice,
    /// Swap accounting is available (memory.memsw.* on v1, memory.swap.* on v2).
    SwapAccounting,
    /// At least this many online cpus.
    Cpus(usize),
}

impl Req {
    /// `None` when met, else the reason it is not.
    pub fn unmet(&self, host: &HostFacts, rt: &dyn RuntimeUnderTest) -> Option<String> {
        match *self {
            Req::Root => (!host.is_root && rt.needs_root())
                .then(|| "the suite is not running as root".into()),
            Req::HostKernel => (!rt.host_kernel()).then(|| {
                "the runtime runs on an emulated kernel: this check observes the container \
                 through the host's (/proc, cgroupfs, mounts, namespaces or the probe)"
                    .into()
            }),
            Req::Op(op) => (!rt.supports(op))
                .then(|| format!("runtime does not implement `{}`", op.subcommand())),
            Req::Controller(c) => host
                .controller(c)
                .is_none()
                .then(|| format!("cgroup controller {c} is not available on this host")),
            Req::CgroupV1File(c, file) => match host.v1.get(c) {
                Some(m) if m.join(file).exists() => None,
                Some(_) => Some(format!("host has no {file} in the v1 {c} hierarchy")),
                None => Some(format!(
                    "{file} is a cgroup v1 interface and {c} is not a v1 hierarchy here"
                )),
            },
            Req::CgroupFile(c, f1, f2) => match host.controller(c) {
                Some(ControllerHome::V1(m)) => (!m.join(f1).exists())
                    .then(|| format!("host has no {f1} in the v1 {c} hierarchy")),
                Some(ControllerHome::V2(_)) => {
                    // v2 interface files appear only in non-root groups; trust the controller.
                    (f2.is_empty()).then(|| format!("{f1} has no cgroup v2 equivalent"))
                }
                None => Some(format!(
                    "cgroup controller {c} is not available on this host"
                )),
            },
            Req::Namespace(kind) => (!Path::new(&format!("/proc/self/ns/{kind}")).exists())
                .then(|| format!("kernel has no {kind} namespace")),
            Req::UserNamespaces => {
                (!host.user_ns).then(|| "user namespaces are disabled on this host".into())
            }
            Req::Filesystem(fs) => (!host.filesystems.iter().any(|f| f == fs))
                .then(|| format!("kernel does not support the {fs} filesystem")),
            Req::Capability(cap, name) => (!host.has_cap_in_bounding(cap))
                .then(|| format!("{name} is not in the host's capability bounding set")),
            Req::AppArmor => {
                (!host.apparmor).then(|| "AppArmor is not enabled on this host".into())
            }
            Req::SeLinux => (!host.selinux).then(|| "SELinux is not enabled on this host".into()),
            Req::RootSharedPropagation => {
                (!host.root_shared).then(|| "`/` has private mount propagation on this host".into())
            }
            Req::BlockDevice => host
                .block_device
                .is_none()
                .then(|| "no block device on this host".into()),
            Req::SwapAccounting => (!host.swap_accounting)
                .then(|| "swap accounting is not enabled on this host".into()),
            Req::Cpus(n) => (host.cpus.len() < n)
                .then(|| format!("needs {n} online cpus, host has {}", host.cpus.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,4"), vec![0, 1, 2, 4]);
        assert_eq!(parse_cpu_list("1"), vec![1]);
        assert!(parse_cpu_list("").is_empty());
    }
}
