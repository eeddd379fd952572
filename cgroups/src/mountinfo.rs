//! Pure parsers for `/proc/<pid>/mountinfo` and `/proc/<pid>/cgroup`.
//!
//! Both take the file's text so that every layout can be unit tested without
//! a kernel that has it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::{CgroupError, Layout, Result, V1Mount};

/// Controller names the kernel can bind to a v1 hierarchy. A v1 mount's
/// super options also carry flags (`rw`, `clone_children`, `xattr`,
/// `release_agent=...`), so controllers are picked out by name.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

struct CgroupMount {
    root: String,
    mount_point: PathBuf,
    /// Empty for cgroup2.
    controllers: Vec<String>,
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn parse_line(line: &str) -> Option<CgroupMount> {
    let fields: Vec<&str> = line.split(' ').collect();
    // The optional fields end with a lone "-"; fstype, source and super options follow it.
    let sep = fields.iter().position(|f| *f == "-")?;
    if sep < 6 || fields.len() < sep + 4 {
        return None;
    }
    let fstype = fields[sep + 1];
    let root = String::from_utf8_lossy(&unescape(fields[3])).into_owned();
    let mount_point = PathBuf::from(OsString::from_vec(unescape(fields[4])));
    match fstype {
        "cgroup2" => Some(CgroupMount {
            root,
            mount_point,
            controllers: Vec::new(),
        }),
        "cgroup" => {
            let controllers: Vec<String> = fields[sep + 3]
                .split(',')
                .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_owned)
                .collect();
            if controllers.is_empty() {
                return None;
            }
            Some(CgroupMount {
                root,
                mount_point,
                controllers,
            })
        }
        _ => None,
    }
}

/// Rank of a mount when one hierarchy is mounted more than once: the
/// hierarchy's own root first, then mounts under /sys/fs/cgroup.
fn mount_rank(m: &CgroupMount) -> (bool, bool) {
    (m.root != "/", !m.mount_point.starts_with("/sys/fs/cgroup"))
}

/// Work out the cgroup layout from the text of /proc/self/mountinfo.
pub fn parse_mountinfo(text: &str) -> Result<Layout> {
    let mut v1: Vec<CgroupMount> = Vec::new();
    let mut v2: Vec<CgroupMount> = Vec::new();
    for line in text.lines() {
        let Some(m) = parse_line(line) else { continue };
        if m.controllers.is_empty() {
            v2.push(m);
            continue;
        }
        let mut sorted = m.controllers.clone();
        sorted.sort();
        // A hierarchy mounted twice (bind mounts) is still one hierarchy.
        match v1.iter_mut().find(|e| {
            let mut s = e.controllers.clone();
            s.sort();
            s == sorted
        }) {
            Some(existing) => {
                if mount_rank(&m) < mount_rank(existing) {
                    *existing = m;
                }
            }
            None => v1.push(m),
        }
    }
    let unified = v2
        .iter()
        .min_by_key(|m| (m.mount_point != Path::new("/sys/fs/cgroup"), mount_rank(m)))
        .map(|m| m.mount_point.clone());
    let v1: Vec<V1Mount> = v1
        .into_iter()
        .map(|m| V1Mount {
            controllers: m.controllers,
            mount_point: m.mount_point,
        })
        .collect();
    match (v1.is_empty(), unified) {
        (true, Some(root)) => Ok(Layout::Unified { root }),
        (false, Some(unified)) => Ok(Layout::Hybrid { v1, unified }),
        (false, None) => Ok(Layout::Legacy { v1 }),
        (true, None) => Err(CgroupError::Layout(
            "no cgroup or cgroup2 filesystem is mounted (mountinfo has neither)".into(),
        )),
    }
}

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroup {
    pub hierarchy_id: u32,
    /// Empty for the cgroup2 line (`0::/path`).
    pub controllers: Vec<String>,
    pub path: String,
}

/// Parse the text of `/proc/<pid>/cgroup`.
pub fn parse_proc_cgroup(text: &str) -> Result<Vec<ProcCgroup>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CgroupError::Layout(format!(
                "/proc/self/cgroup: malformed line {line:?}"
            )));
        };
        let hierarchy_id = id.parse().map_err(|_| {
            CgroupError::Layout(format!("/proc/self/cgroup: malformed line {line:?}"))
        })?;
        let controllers = ctrls
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        out.push(ProcCgroup {
            hierarchy_id,
            controllers,
            path: path.to_owned(),
        });
    }
    Ok(out)
}

/// The cgroup path of the v1 hierarchy that binds exactly `controllers`.
pub(crate) fn own_v1_path<'a>(
    entries: &'a [ProcCgroup],
    controllers: &[String],
) -> Option<&'a str> {
    let mut want = controllers.to_vec();
    want.sort();
    entries
        .iter()
        .find(|e| {
            let mut have = e.controllers.clone();
            have.sort();
            e.hierarchy_id != 0 && have == want
        })
        .map(|e| e.path.as_str())
}

/// The cgroup path in the cgroup2 hierarchy (`0::/path`).
pub(crate) fn own_v2_path(entries: &[ProcCgroup]) -> Option<&str> {
    entries
        .iter()
        .find(|e| e.hierarchy_id == 0 && e.controllers.is_empty())
        .map(|e| e.path.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const LEGACY: &str = "\
25 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
26 25 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755
27 26 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
30 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
31 26 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,net_cls,net_prio
32 26 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
33 26 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpuset,clone_children
34 26 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,pids
";

    const UNIFIED: &str = "\
24 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn hybrid_host_layout() {
        let Layout::Hybrid { v1, unified } = parse_mountinfo(HYBRID).unwrap() else {
            panic!("expected hybrid");
        };
        assert_eq!(unified, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(v1.len(), 9);
        assert_eq!(v1[0].controllers, vec!["cpu"]);
        assert_eq!(v1[0].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        let systemd = v1
            .iter()
            .find(|m| m.controllers == ["name=systemd"])
            .unwrap();
        assert_eq!(systemd.mount_point, PathBuf::from("/sys/fs/cgroup/systemd"));
    }

    #[test]
    fn legacy_with_comounts_and_flags() {
        let Layout::Legacy { v1 } = parse_mountinfo(LEGACY).unwrap() else {
            panic!("expected legacy");
        };
        let names: Vec<Vec<String>> = v1.iter().map(|m| m.controllers.clone()).collect();
        assert_eq!(
            names,
            vec![
                vec!["name=systemd".to_string()],
                vec!["cpu".into(), "cpuacct".into()],
                vec!["net_cls".into(), "net_prio".into()],
                vec!["memory".into()],
                vec!["cpuset".into()],
                vec!["pids".into()],
            ]
        );
        assert_eq!(
            v1[1].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
    }

    #[test]
    fn unified_layout() {
        assert_eq!(
            parse_mountinfo(UNIFIED).unwrap(),
            Layout::Unified {
                root: PathBuf::from("/sys/fs/cgroup")
            }
        );
    }

    #[test]
    fn no_cgroup_mounts_is_an_error() {
        let err = parse_mountinfo("22 1 252:1 / / rw - ext4 /dev/vda1 rw\n").unwrap_err();
        assert!(matches!(err, CgroupError::Layout(_)), "{err}");
    }

    #[test]
    fn bind_mount_of_a_subtree_loses_to_the_root_mount() {
        let text = "\
50 1 0:32 /docker/abc /mnt/mem rw - cgroup cgroup rw,memory
51 1 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let Layout::Legacy { v1 } = parse_mountinfo(text).unwrap() else {
            panic!("expected legacy");
        };
        assert_eq!(v1.len(), 1);
        assert_eq!(v1[0].mount_point, PathBuf::from("/sys/fs/cgroup/memory"));
    }

    #[test]
    fn escaped_mount_points() {
        let text = "41 31 0:38 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            parse_mountinfo(text).unwrap(),
            Layout::Unified {
                root: PathBuf::from("/mnt/my cgroup")
            }
        );
    }

    #[test]
    fn proc_cgroup_lines() {
        let text = "9:name=systemd:/user.slice\n4:memory:/a:b\n2:cpu,cpuacct:/\n0::/init.scope\n";
        let e = parse_proc_cgroup(text).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[1].path, "/a:b");
        assert_eq!(
            own_v1_path(&e, &["cpuacct".into(), "cpu".into()]),
            Some("/")
        );
        assert_eq!(
            own_v1_path(&e, &["name=systemd".into()]),
            Some("/user.slice")
        );
        assert_eq!(own_v1_path(&e, &["pids".into()]), None);
        assert_eq!(own_v2_path(&e), Some("/init.scope"));
        assert!(parse_proc_cgroup("garbage\n").is_err());
    }
}
