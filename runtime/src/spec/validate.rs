//! Validation of a parsed config.json, before anything is created.
//! Each error names the field it is about, with its index where it is in a list.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::SpecError;
use crate::namespaces::ns_name;
use crate::rootfs::mounts::{parse_options, MountOptions};

type Result<T> = std::result::Result<T, SpecError>;

/// Check everything brig can check without touching the system (apart from
/// looking at paths the config names).
pub fn validate(spec: &Spec, bundle: &Path) -> Result<()> {
    validate_parsed(spec, bundle).map(drop)
}

/// [`validate`], returning each mount's options as parsed (the plan keeps them).
pub(super) fn validate_parsed(
    spec: &Spec,
    bundle: &Path,
) -> Result<(Vec<MountOptions>, super::ProcessPlan)> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(SpecError::invalid(
            "ociVersion",
            format!("{version:?}: brig supports OCI runtime spec 1.x"),
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("root", "missing"))?;
    let rootfs = super::rootfs_of(bundle, spec);
    if root.path().as_os_str().is_empty() {
        return Err(SpecError::invalid("root.path", "empty"));
    }
    if !rootfs.is_dir() {
        return Err(SpecError::invalid(
            "root.path",
            format!("{}: no such directory", rootfs.display()),
        ));
    }
    let process = validate_spec_process(spec)?;
    validate_linux(spec)?;
    let mounts = validate_mounts(spec, bundle)?;
    validate_hooks(spec)?;
    if spec.solaris().is_some() || spec.windows().is_some() || spec.vm().is_some() {
        return Err(SpecError::unsupported(
            "solaris/windows/vm",
            "brig runs Linux containers only",
        ));
    }
    Ok((mounts, process))
}

fn validate_spec_process(spec: &Spec) -> Result<super::ProcessPlan> {
    let p = spec
        .process()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("process", "missing: brig needs a process to run"))?;
    check_process(p)
}

/// Check a process (the config's, or one given to `exec`).
pub fn validate_process(p: &Process) -> Result<()> {
    check_process(p).map(drop)
}

/// [`validate_process`], returning the process's compiled plan.
fn check_process(p: &Process) -> Result<super::ProcessPlan> {
    match p.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => return Err(SpecError::invalid("process.args", "must name a program")),
    }
    if p.command_line().is_some() {
        return Err(SpecError::unsupported(
            "process.commandLine",
            "it is for Windows; use process.args",
        ));
    }
    if !p.cwd().is_absolute() {
        return Err(SpecError::invalid(
            "process.cwd",
            format!("{}: must be an absolute path", p.cwd().display()),
        ));
    }
    if let Some(env) = p.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') || e.starts_with('=') {
                return Err(SpecError::invalid(
                    format!("process.env[{i}]"),
                    format!("{e:?}: must be KEY=VALUE"),
                ));
            }
        }
    }
    if let Some(rl) = p.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rl.iter().enumerate() {
            if !seen.insert(format!("{:?}", r.typ())) {
                return Err(SpecError::invalid(
                    format!("process.rlimits[{i}].type"),
                    format!("{:?} given twice", r.typ()),
                ));
            }
            if r.soft() > r.hard() {
                return Err(SpecError::invalid(
                    format!("process.rlimits[{i}]"),
                    format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
                ));
            }
        }
    }
    if let Some(adj) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(SpecError::invalid(
                "process.oomScoreAdj",
                format!("{adj}: must be between -1000 and 1000"),
            ));
        }
    }
    if let Some(profile) = p.apparmor_profile() {
        if !profile.is_empty() {
            return Err(SpecError::unsupported(
                "process.apparmorProfile",
                "AppArmor is not enabled on this host",
            ));
        }
    }
    if p.selinux_label().as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(SpecError::unsupported(
            "process.selinuxLabel",
            "SELinux is not enabled on this host",
        ));
    }
    // process.ioPriority and process.scheduler: checked as they are compiled
    // (super::compile_process), once.
    let plan = super::compile_process(p)?;
    if p.exec_cpu_affinity().is_some() {
        return Err(SpecError::unsupported(
            "process.execCPUAffinity",
            "not implemented yet",
        ));
    }
    if let Some(u) = p.user().umask() {
        if u > 0o777 {
            return Err(SpecError::invalid(
                "process.user.umask",
                format!("{u:o}: must be at most 0777"),
            ));
        }
    }
    Ok(plan)
}

fn validate_linux(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Err(SpecError::invalid(
            "linux",
            "missing: brig runs Linux containers",
        ));
    };
    let mut types = HashSet::new();
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        let field = format!("linux.namespaces[{i}]");
        if !types.insert(ns.typ()) {
            return Err(SpecError::invalid(
                field,
                format!("namespace {} given twice", ns_name(ns.typ())),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err(SpecError::invalid(
                    format!("{field}.path"),
                    format!("{}: must be absolute", path.display()),
                ));
            }
            if !path.exists() {
                return Err(SpecError::invalid(
                    format!("{field}.path"),
                    format!("{}: no such namespace file", path.display()),
                ));
            }
        }
        if ns.typ() == LinuxNamespaceType::Time && !Path::new("/proc/self/ns/time").exists() {
            return Err(SpecError::unsupported(
                field,
                "this kernel has no time namespaces",
            ));
        }
    }
    let has = |t| namespaces.iter().any(|n| n.typ() == t);
    let new_userns = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_userns && !has_maps {
        return Err(SpecError::invalid(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    // With a joined user namespace (by path) the mappings are the namespace's
    // own: runc 1.1 requires them in the config, crun does not; both run.
    if has_maps && !has(LinuxNamespaceType::User) {
        return Err(SpecError::invalid(
            "linux.uidMappings",
            "id mappings need a user namespace in linux.namespaces",
        ));
    }
    if let Some(path) = namespaces
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::User)
        .and_then(|n| n.path().as_ref())
    {
        check_joined_mappings(path, linux)?;
    }
    for (name, maps) in [
        ("linux.uidMappings", linux.uid_mappings()),
        ("linux.gidMappings", linux.gid_mappings()),
    ] {
        if new_userns && maps.as_ref().is_none_or(|m| m.is_empty()) {
            return Err(SpecError::invalid(
                name,
                "missing for the new user namespace",
            ));
        }
        for (i, m) in maps.iter().flatten().enumerate() {
            if m.size() == 0 {
                return Err(SpecError::invalid(
                    format!("{name}[{i}].size"),
                    "must not be 0",
                ));
            }
        }
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(SpecError::invalid(
            "hostname",
            "setting a hostname needs a new uts namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(SpecError::invalid(
            "domainname",
            "setting a domainname needs a new uts namespace",
        ));
    }
    if let Some(time) = linux.time_offsets() {
        if !time.is_empty()
            && !namespaces
                .iter()
                .any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none())
        {
            return Err(SpecError::invalid(
                "linux.timeOffsets",
                "time offsets need a new time namespace",
            ));
        }
        for clock in time.keys() {
            if clock != "monotonic" && clock != "boottime" {
                return Err(SpecError::invalid(
                    format!("linux.timeOffsets.{clock}"),
                    "only monotonic and boottime can be offset",
                ));
            }
        }
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            check_sysctl(key, &|t| has(t), spec.domainname().is_some())?;
        }
    }
    if let Some(prop) = linux.rootfs_propagation() {
        if crate::rootfs::propagation_flags(prop).is_none() {
            return Err(SpecError::invalid(
                "linux.rootfsPropagation",
                format!(
                    "{prop:?}: must be one of shared, slave, private, unbindable (or r-prefixed)"
                ),
            ));
        }
    }
    for (name, paths) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in paths.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return Err(SpecError::invalid(
                    format!("{name}[{i}]"),
                    format!("{p:?}: must be absolute"),
                ));
            }
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        // Anywhere in the container (runtime-spec: "path: the device path
        // in the container"), as runc and crun allow; not the root itself.
        if !d.path().is_absolute() || d.path().parent().is_none() {
            return Err(SpecError::invalid(
                format!("linux.devices[{i}].path"),
                format!("{}: must be an absolute file path", d.path().display()),
            ));
        }
    }
    if linux.intel_rdt().is_some() {
        return Err(SpecError::unsupported(
            "linux.intelRdt",
            "Intel RDT is not implemented",
        ));
    }
    // runtime-spec defines no personality flags; refuse any rather than
    // ignore them (the domain is applied by the init).
    if let Some(flags) = linux
        .personality()
        .as_ref()
        .and_then(|p| p.flags().as_ref())
    {
        if !flags.is_empty() {
            return Err(SpecError::unsupported(
                "linux.personality.flags",
                format!("{flags:?}: brig supports no personality flags, only the domain"),
            ));
        }
    }
    if linux.memory_policy().is_some() {
        return Err(SpecError::unsupported(
            "linux.memoryPolicy",
            "not implemented yet",
        ));
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(SpecError::unsupported(
            "linux.netDevices",
            "not implemented yet",
        ));
    }
    if linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(SpecError::unsupported(
            "linux.mountLabel",
            "SELinux is not enabled on this host",
        ));
    }
    if let Some(cg) = linux.cgroups_path() {
        use std::path::Component;
        if cg.components().any(|c| c == Component::ParentDir) {
            return Err(SpecError::invalid(
                "linux.cgroupsPath",
                format!("{}: must not contain ..", cg.display()),
            ));
        }
        // An empty path means the default; "/" or "." would be the root cgroup
        // (or brig's own), whose destroy would kill everything in it.
        let names_one = cg.components().any(|c| matches!(c, Component::Normal(_)));
        if !cg.as_os_str().is_empty() && !names_one {
            return Err(SpecError::invalid(
                "linux.cgroupsPath",
                format!("{}: names no cgroup of its own", cg.display()),
            ));
        }
    }
    Ok(())
}

/// Mappings given with a joined user namespace must be the namespace's own
/// (runc 1.2 checks the same): they cannot be changed, and ignoring different
/// ones would run the container with ids the config did not ask for. The
/// namespace's maps are readable when the path is /proc/PID/ns/user.
fn check_joined_mappings(path: &Path, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let Some(proc_dir) = path
        .to_str()
        .and_then(|p| p.strip_suffix("/ns/user"))
        .filter(|p| p.starts_with("/proc/"))
    else {
        return Ok(());
    };
    for (name, file, maps) in [
        ("linux.uidMappings", "uid_map", linux.uid_mappings()),
        ("linux.gidMappings", "gid_map", linux.gid_mappings()),
    ] {
        let Some(maps) = maps.as_ref().filter(|m| !m.is_empty()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(format!("{proc_dir}/{file}")) else {
            continue;
        };
        let mut have: Vec<(u64, u64, u64)> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace().map(|x| x.parse::<u64>().ok());
                Some((w.next()??, w.next()??, w.next()??))
            })
            .collect();
        let mut want: Vec<(u64, u64, u64)> = maps
            .iter()
            .map(|m| {
                (
                    u64::from(m.container_id()),
                    u64::from(m.host_id()),
                    u64::from(m.size()),
                )
            })
            .collect();
        have.sort_unstable();
        want.sort_unstable();
        if have != want {
            return Err(SpecError::invalid(
                name,
                format!(
                    "differ from the mappings of the joined user namespace {} ({})",
                    path.display(),
                    text.split_whitespace().collect::<Vec<_>>().join(" ")
                ),
            ));
        }
    }
    Ok(())
}

/// Only namespaced sysctls may be set, and only with their namespace (as runc does).
/// kernel.hostname is refused (runc and crun): it would silently override
/// `hostname`; kernel.domainname likewise when `domainname` is set (crun; runc
/// lets the sysctl win, which loses the field without a word).
fn check_sysctl(
    key: &str,
    has: &dyn Fn(LinuxNamespaceType) -> bool,
    domainname_set: bool,
) -> Result<()> {
    let field = format!("linux.sysctl.{key}");
    if key == "kernel.hostname" {
        return Err(SpecError::invalid(
            field,
            "conflicts with the OCI \"hostname\" field: set hostname instead",
        ));
    }
    if key == "kernel.domainname" && domainname_set {
        return Err(SpecError::invalid(
            field,
            "conflicts with the OCI \"domainname\" field: set only one of them",
        ));
    }
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if key.contains("..") || key.contains('\0') {
        return Err(SpecError::invalid(field, "not a sysctl name"));
    }
    let needs = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        LinuxNamespaceType::Ipc
    } else if key.starts_with("net.") {
        LinuxNamespaceType::Network
    } else if key == "kernel.domainname" {
        LinuxNamespaceType::Uts
    } else {
        return Err(SpecError::invalid(
            field,
            "not a namespaced sysctl: it would change the host",
        ));
    };
    if !has(needs) {
        return Err(SpecError::invalid(
            field,
            format!("needs a new {} namespace", ns_name(needs)),
        ));
    }
    Ok(())
}

fn validate_mounts(spec: &Spec, bundle: &Path) -> Result<Vec<MountOptions>> {
    let mut parsed = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let field = format!("mounts[{i}]");
        if !m.destination().is_absolute() {
            return Err(SpecError::invalid(
                format!("{field}.destination"),
                format!("{}: must be absolute", m.destination().display()),
            ));
        }
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            return Err(SpecError::unsupported(
                format!("{field}.uidMappings"),
                "id-mapped mounts are not implemented yet",
            ));
        }
        let opts = parse_options(m.options().as_deref().unwrap_or(&[]))
            .map_err(|msg| SpecError::invalid(format!("{field}.options"), msg))?;
        let typ = m.typ().as_deref().unwrap_or("");
        if opts.is_bind() {
            let src = m.source().as_ref().ok_or_else(|| {
                SpecError::invalid(format!("{field}.source"), "a bind mount needs a source")
            })?;
            // Relative to the bundle (runtime-spec); `compile` makes it absolute.
            let src = bundle.join(src);
            if !src.exists() {
                return Err(SpecError::invalid(
                    format!("{field}.source"),
                    format!("{}: no such file or directory", src.display()),
                ));
            }
        } else if typ.is_empty() {
            return Err(SpecError::invalid(
                format!("{field}.type"),
                "missing (and the options do not say bind)",
            ));
        }
        parsed.push(opts);
    }
    Ok(parsed)
}

fn validate_hooks(spec: &Spec) -> Result<()> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    #[allow(deprecated)]
    let lists = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (name, list) in lists {
        for (i, h) in list.iter().flatten().enumerate() {
            if !h.path().is_absolute() {
                return Err(SpecError::invalid(
                    format!("hooks.{name}[{i}].path"),
                    format!("{}: must be absolute", h.path().display()),
                ));
            }
            if let Some(t) = h.timeout() {
                if t <= 0 {
                    return Err(SpecError::invalid(
                        format!("hooks.{name}[{i}].timeout"),
                        format!("{t}: must be a positive number of seconds"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroups_path_must_name_a_cgroup() {
        let bundle = tempfile::tempdir().unwrap();
        std::fs::create_dir(bundle.path().join("rootfs")).unwrap();
        let with_path = |p: &str| {
            let mut spec = crate::spec::default_spec();
            let mut linux = spec.linux().clone().unwrap_or_default();
            linux.set_cgroups_path(Some(p.into()));
            spec.set_linux(Some(linux));
            validate(&spec, bundle.path())
        };
        with_path("/brig/named").unwrap();
        with_path("named").unwrap();
        for bad in ["/", "////", ".", "./", "/./.", "/a/../b"] {
            let e = with_path(bad).unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath"), "{bad}: {e}");
        }
    }
}
