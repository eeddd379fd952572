//! Glue between a container and its cgroup manager: which manager, which
//! resources (with the devices every container needs), and how the hierarchies
//! appear under a `cgroup` mount.

use std::path::Path;

use brig_cgroups::{CgroupManager, Layout};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

use super::{ContainerError, ContainerState};
use crate::rootfs::CgroupMount;

/// The manager for a new container. A relative cgroupsPath is taken from our own
/// cgroups; their text is returned so that the state can keep it.
pub fn manager(
    layout: &Layout,
    cgroups_path: Option<&Path>,
    id: &str,
) -> Result<(Box<dyn CgroupManager>, Option<String>), ContainerError> {
    match cgroups_path {
        Some(p) if p.is_relative() => {
            let own = std::fs::read_to_string("/proc/self/cgroup")
                .map_err(|e| ContainerError::io(Path::new("/proc/self/cgroup"), e))?;
            let mgr = brig_cgroups::manager_for_process(layout, Some(p), id, &own)?;
            Ok((mgr, Some(own)))
        }
        p => Ok((brig_cgroups::manager_for(layout, p, id)?, None)),
    }
}

/// The manager of an existing container, for the later commands. A relative
/// cgroupsPath resolves against the cgroups of the `create` that made it, which
/// the state recorded, not against whoever runs this command.
pub fn of_state(state: &ContainerState) -> Result<Box<dyn CgroupManager>, ContainerError> {
    let layout = brig_cgroups::detect_layout()?;
    let path = state.cgroups_path.as_deref();
    Ok(match &state.creator_cgroups {
        Some(text) => brig_cgroups::manager_for_process(&layout, path, &state.id, text)?,
        None => brig_cgroups::manager_for(&layout, path, &state.id)?,
    })
}

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    brig_cgroups::device_rule(true, typ, major, minor, access)
}

/// linux.resources, with device rules appended that allow what every container
/// has (the default nodes, ptys, mknod), as runc does. Without them a config's
/// "deny all" would leave the container without /dev/null. Nothing is added
/// for linux.devices: a config that makes a node and denies it access means it.
pub fn resources(spec: &Spec) -> LinuxResources {
    let linux = spec.linux().as_ref();
    let mut res = linux
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    if let Some(rules) = res.devices().clone() {
        use LinuxDeviceType::{B, C};
        let mut rules = rules;
        rules.push(rule(C, None, None, "m"));
        rules.push(rule(B, None, None, "m"));
        for (_, major, minor) in crate::rootfs::DEFAULT_DEVICES {
            rules.push(rule(C, Some(major as i64), Some(minor as i64), "rwm"));
        }
        rules.push(rule(C, Some(136), None, "rwm")); // pty slaves
        rules.push(rule(C, Some(5), Some(2), "rwm")); // /dev/ptmx
        rules.push(rule(C, Some(5), Some(1), "rwm")); // /dev/console
                                                      // linux.devices only makes nodes: what the container may do with them
                                                      // is for the config's own rules, as in runc and crun. (An implicit
                                                      // `rwm` here once opened what those rules denied.)
        res.set_devices(Some(rules));
    }
    res
}

/// The hierarchies to show under a `cgroup` mount in the container.
pub fn cgroup_mounts(layout: &Layout, mgr: &dyn CgroupManager) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    let v1 = match layout {
        Layout::Unified { .. } => {
            if let Some(dir) = mgr.path_of("unified") {
                out.push(CgroupMount {
                    name: String::new(),
                    fstype: "cgroup2",
                    data: String::new(),
                    host_dir: dir,
                });
            }
            return out;
        }
        Layout::Hybrid { v1, .. } | Layout::Legacy { v1 } => v1,
    };
    for m in v1 {
        let Some(first) = m.controllers.first() else {
            continue;
        };
        let Some(dir) = mgr.path_of(first) else {
            continue;
        };
        let Some(name) = m.mount_point.file_name() else {
            continue;
        };
        let data = if first.starts_with("name=") {
            format!("none,{}", m.controllers.join(","))
        } else {
            m.controllers.join(",")
        };
        out.push(CgroupMount {
            name: name.to_string_lossy().into_owned(),
            fstype: "cgroup",
            data,
            host_dir: dir,
        });
    }
    if let (Layout::Hybrid { .. }, Some(dir)) = (layout, mgr.path_of("unified")) {
        out.push(CgroupMount {
            name: "unified".into(),
            fstype: "cgroup2",
            data: String::new(),
            host_dir: dir,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_devices_add_no_device_rule() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": {
                "devices": [
                    {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11},
                    {"path": "/dev/fifo", "type": "p", "major": 0, "minor": 0}
                ],
                "resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}
                ]}
            }
        }))
        .unwrap();
        let rules = resources(&spec).devices().clone().unwrap();
        // The config's rules first, then only the defaults every container has.
        assert_eq!(rules[1].access().as_deref(), Some("r"));
        for r in &rules[2..] {
            assert!(r.allow());
            assert_ne!((r.major(), r.minor()), (Some(1), Some(11)), "{r:?}");
            assert!(matches!(
                r.typ(),
                Some(LinuxDeviceType::C | LinuxDeviceType::B)
            ));
        }
    }
}
