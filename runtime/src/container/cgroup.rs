//! Glue between a container and its cgroup manager: which manager, which
//! resources (with the devices every container needs), and how the hierarchies
//! appear under a `cgroup` mount.

use std::path::Path;

use brig_cgroups::{CgroupManager, Layout};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

use super::{ContainerError, ContainerState};
use crate::kernel::Kernel;
use crate::rootfs::CgroupMount;

/// The manager for a new container. A relative cgroupsPath is taken from our own
/// cgroups; their text is returned so that the state can keep it.
pub fn manager(
    k: &Kernel,
    layout: &Layout,
    cgroups_path: Option<&Path>,
    id: &str,
) -> Result<(Box<dyn CgroupManager>, Option<String>), ContainerError> {
    match cgroups_path {
        Some(p) if p.is_relative() => {
            let own = k
                .cgroups
                .own_cgroups()
                .map_err(|e| ContainerError::io(Path::new("/proc/self/cgroup"), e))?;
            let mgr = k.cgroups.manager(layout, Some(p), id, Some(&own))?;
            Ok((mgr, Some(own)))
        }
        p => Ok((k.cgroups.manager(layout, p, id, None)?, None)),
    }
}

/// The manager of an existing container, for the later commands. A relative
/// cgroupsPath resolves against the cgroups of the `create` that made it, which
/// the state recorded, not against whoever runs this command.
pub fn of_state(state: &ContainerState) -> Result<Box<dyn CgroupManager>, ContainerError> {
    of_state_in(&crate::kernel::LINUX, state)
}

/// [`of_state`] on the given kernel.
pub fn of_state_in(
    k: &Kernel,
    state: &ContainerState,
) -> Result<Box<dyn CgroupManager>, ContainerError> {
    let layout = k.cgroups.layout()?;
    let path = state.cgroups_path.as_deref();
    Ok(k.cgroups
        .manager(&layout, path, &state.id, state.creator_cgroups.as_deref())?)
}

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    brig_cgroups::device_rule(true, typ, major, minor, access)
}

/// linux.resources, with the device rules runc always applies, whether or not
/// the config has any: deny all first, then the config's rules in order, then
/// allow what every container has (the default nodes, ptys, mknod). Without the
/// deny-all a config with no rules would leave the device cgroup open
/// (`a *:* rwm`: with CAP_MKNOD the container could reach host devices);
/// without the defaults a config's "deny all" would leave the container
/// without /dev/null. Nothing is added for linux.devices: a config that makes
/// a node and denies it access means it.
pub fn resources(spec: &Spec) -> LinuxResources {
    let linux = spec.linux().as_ref();
    let mut res = linux
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    use LinuxDeviceType::{A, B, C};
    let mut rules = vec![brig_cgroups::device_rule(false, A, None, None, "rwm")];
    rules.extend(res.devices().clone().unwrap_or_default());
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

/// The cgroup a new container is to join must be usable, which is checked
/// before anything is made (so a refusal leaves nothing behind, and never
/// touches a cgroup brig did not create):
///
/// - Not frozen, in the v1 freezer or in cgroup2's `cgroup.freeze` (hybrid
///   hosts have both), nor under a frozen parent: the init would freeze as
///   it joined, and create would wait for it for ever. runc refuses the same
///   way ("container's cgroup unexpectedly frozen").
/// - Empty. runtime-spec leaves sharing a cgroupsPath open, but a container's
///   cgroup is its own: `kill --all`, `delete --force`, `ps`, `pause` and the
///   OOM count act on everything in it, so a process already there would be
///   frozen, listed and killed as the container's. runc 1.2 refuses this
///   ("container's cgroup is not empty"); runc 1.1.5 still accepted it.
pub fn check_usable(mgr: &dyn CgroupManager) -> Result<(), ContainerError> {
    let refuse = |why: String| {
        ContainerError::Spec(crate::spec::SpecError::invalid("linux.cgroupsPath", why))
    };
    if let Some(dir) = mgr.path_of("freezer") {
        if let Some((at, state)) = v1_freezing(&dir) {
            return Err(refuse(format!(
                "container's cgroup unexpectedly frozen ({} is {state})",
                at.display()
            )));
        }
    }
    if let Some(dir) = mgr.path_of("unified") {
        // cgroup.events' `frozen` is the effective state, a frozen parent's included.
        if let Some((at, events)) = nearest_existing(&dir, "cgroup.events") {
            if events.lines().any(|l| l.trim() == "frozen 1") {
                return Err(refuse(format!(
                    "container's cgroup unexpectedly frozen ({} says frozen 1)",
                    at.display()
                )));
            }
        }
        if let Ok(f) = std::fs::read_to_string(dir.join("cgroup.freeze")) {
            if f.trim() == "1" {
                return Err(refuse(format!(
                    "container's cgroup unexpectedly frozen ({}/cgroup.freeze is 1)",
                    dir.display()
                )));
            }
        }
    }
    let mut dirs: Vec<std::path::PathBuf> =
        ["devices", "freezer", "memory", "pids", "cpu", "unified"]
            .iter()
            .filter_map(|c| mgr.path_of(c))
            .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        let mut pids = Vec::new();
        procs_recursive(&dir, &mut pids);
        if !pids.is_empty() {
            pids.sort_unstable();
            pids.dedup();
            return Err(refuse(format!(
                "container's cgroup is not empty: {} process(es) found in {} (pids {:?})",
                pids.len(),
                dir.display(),
                &pids[..pids.len().min(8)]
            )));
        }
    }
    Ok(())
}

/// Whether the v1 cgroup `dir` is frozen, or would be when made: the file
/// that says so, and its text. An existing cgroup's own `freezer.state`; for
/// one about to be made, its nearest existing ancestor's `self_freezing` and
/// `parent_freezing` (a new cgroup inherits both). Not that ancestor's
/// freezer.state: reading it walks every cgroup below it, every container's
/// under brig's parent (O(containers) per create; issue 19's density bench).
fn v1_freezing(dir: &Path) -> Option<(std::path::PathBuf, String)> {
    let at = dir.ancestors().find(|p| p.exists())?;
    let read = |f: &str| {
        let p = at.join(f);
        std::fs::read_to_string(&p)
            .ok()
            .map(|t| (p, t.trim().to_string()))
    };
    if at == dir {
        return read("freezer.state").filter(|(_, s)| s != "THAWED");
    }
    ["freezer.self_freezing", "freezer.parent_freezing"]
        .iter()
        .filter_map(|f| read(f))
        .find(|(_, s)| s == "1")
}

/// `file` of `dir`, or of its nearest ancestor that exists: a cgroup about to
/// be made inherits its parent's freezing.
fn nearest_existing(dir: &Path, file: &str) -> Option<(std::path::PathBuf, String)> {
    let mut d = Some(dir);
    while let Some(p) = d {
        if let Ok(text) = std::fs::read_to_string(p.join(file)) {
            return Some((p.join(file), text.trim().to_string()));
        }
        if p.exists() {
            // Exists but lacks the file (a cgroup root): nothing to say.
            return None;
        }
        d = p.parent();
    }
    None
}

fn procs_recursive(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                procs_recursive(&e.path(), out);
            }
        }
    }
}

/// The manager of an existing sub-cgroup `sub` of a container's cgroup, for
/// `exec --cgroup`. It must exist in every hierarchy the container uses:
/// brig does not make it (nor remove it).
pub fn sub_of_state(
    state: &ContainerState,
    sub: &Path,
) -> Result<Box<dyn CgroupManager>, ContainerError> {
    let bad = |msg: String| ContainerError::Other(format!("--cgroup {}: {msg}", sub.display()));
    if sub.is_absolute()
        || sub
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(bad(
            "must be a path below the container's cgroup (no /, . or ..)".into(),
        ));
    }
    let layout = crate::kernel::LINUX.cgroups.layout()?;
    let base = match &state.cgroups_path {
        Some(p) => p.clone(),
        None => Path::new("/brig").join(&state.id),
    };
    let path = base.join(sub);
    let mgr = match &state.creator_cgroups {
        Some(text) => brig_cgroups::manager_for_process(&layout, Some(&path), &state.id, text)?,
        None => brig_cgroups::manager_for(&layout, Some(&path), &state.id)?,
    };
    let top = of_state(state)?;
    for ctrl in ["devices", "freezer", "memory", "pids", "cpu", "unified"] {
        if let (Some(d), Some(_)) = (mgr.path_of(ctrl), top.path_of(ctrl)) {
            if !d.is_dir() {
                return Err(bad(format!("{} does not exist", d.display())));
            }
        }
    }
    Ok(mgr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// runc: without linux.resources.devices the device cgroup still starts
    /// from deny-all and opens only the default devices.
    #[test]
    fn no_device_rules_still_deny_all_first() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": {"resources": {"memory": {"limit": 1048576}}}
        }))
        .unwrap();
        let rules = resources(&spec).devices().clone().unwrap();
        assert!(!rules[0].allow());
        assert_eq!(rules[0].typ(), Some(LinuxDeviceType::A));
        assert!(rules[1..].iter().all(|r| r.allow()));
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"}
        }))
        .unwrap();
        assert!(!resources(&spec).devices().clone().unwrap()[0].allow());
    }

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
        // Deny all, the config's rules, then only the defaults every container has.
        assert!(!rules[0].allow());
        assert_eq!(rules[2].access().as_deref(), Some("r"));
        for r in &rules[3..] {
            assert!(r.allow());
            assert_ne!((r.major(), r.minor()), (Some(1), Some(11)), "{r:?}");
            assert!(matches!(
                r.typ(),
                Some(LinuxDeviceType::C | LinuxDeviceType::B)
            ));
        }
    }
}
