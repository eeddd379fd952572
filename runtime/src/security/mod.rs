//! Process attributes applied by the container init just before exec: rlimits,
//! the user switch, capabilities and no_new_privs.

pub mod sched;
pub mod seccomp;
use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, PosixRlimit, PosixRlimitType, User};

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{field}: {msg}")]
    Failed { field: String, msg: String },
}

pub(crate) fn failed(field: impl Into<String>, msg: impl ToString) -> SecurityError {
    SecurityError::Failed {
        field: field.into(),
        msg: msg.to_string(),
    }
}

pub fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType as R;
    match t {
        R::RlimitCpu => libc::RLIMIT_CPU,
        R::RlimitFsize => libc::RLIMIT_FSIZE,
        R::RlimitData => libc::RLIMIT_DATA,
        R::RlimitStack => libc::RLIMIT_STACK,
        R::RlimitCore => libc::RLIMIT_CORE,
        R::RlimitRss => libc::RLIMIT_RSS,
        R::RlimitNproc => libc::RLIMIT_NPROC,
        R::RlimitNofile => libc::RLIMIT_NOFILE,
        R::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        R::RlimitAs => libc::RLIMIT_AS,
        R::RlimitLocks => libc::RLIMIT_LOCKS,
        R::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        R::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        R::RlimitNice => libc::RLIMIT_NICE,
        R::RlimitRtprio => libc::RLIMIT_RTPRIO,
        R::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(limits: &[PosixRlimit]) -> Result<(), SecurityError> {
    for (i, r) in limits.iter().enumerate() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: a valid resource id and a pointer to a local struct.
        if unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) } != 0 {
            return Err(failed(
                format!("process.rlimits[{i}]"),
                format!(
                    "setrlimit {:?}: {}",
                    r.typ(),
                    std::io::Error::last_os_error()
                ),
            ));
        }
    }
    Ok(())
}

pub fn set_oom_score_adj(adj: i32) -> Result<(), SecurityError> {
    std::fs::write("/proc/self/oom_score_adj", adj.to_string())
        .map_err(|e| failed("process.oomScoreAdj", e))
}

/// process.capabilities resolved: each set holds the capabilities brig knows
/// and the running kernel has (runtime-spec: the others are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

impl CapSets {
    pub fn resolve(c: &LinuxCapabilities) -> CapSets {
        CapSets {
            bounding: to_caps(c.bounding().as_ref()),
            effective: to_caps(c.effective().as_ref()),
            permitted: to_caps(c.permitted().as_ref()),
            inheritable: to_caps(c.inheritable().as_ref()),
            ambient: to_caps(c.ambient().as_ref()),
        }
    }
}

fn to_caps(set: Option<&Capabilities>) -> CapsHashSet {
    set.into_iter()
        .flatten()
        .filter_map(|c| Cap::from_str(&format!("CAP_{c}")).ok())
        .filter(|c| kernel_knows(*c))
        .collect()
}

/// The running kernel has this capability (PR_CAPBSET_READ fails with EINVAL
/// past /proc/sys/kernel/cap_last_cap). Works without /proc.
fn kernel_knows(c: Cap) -> bool {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_CAPBSET_READ, c.index() as libc::c_ulong, 0, 0, 0) >= 0 }
}

/// runtime-spec 1.1 (config.md, process.capabilities): a name the runtime
/// does not know, or that the running kernel does not have, is logged as a
/// warning and ignored, not an error. Called on config.json's and
/// process.json's text before it is parsed (oci-spec refuses names it does not
/// know): returns the text with those names taken out, after a warning on
/// stderr naming them (runc's wording), or `None` when nothing was dropped.
/// `caps` is the path of the capabilities object: ["process", "capabilities"]
/// for config.json, ["capabilities"] for a process.json.
pub fn drop_unknown_capabilities(text: &[u8], caps: &[&str]) -> Option<Vec<u8>> {
    let mut doc: serde_json::Value = serde_json::from_slice(text).ok()?;
    let mut obj = &mut doc;
    for k in caps {
        obj = obj.get_mut(*k)?;
    }
    let obj = obj.as_object_mut()?;
    let mut dropped = Vec::new();
    for set in [
        "bounding",
        "effective",
        "inheritable",
        "permitted",
        "ambient",
    ] {
        let Some(list) = obj.get_mut(set).and_then(|v| v.as_array_mut()) else {
            continue;
        };
        list.retain(|v| {
            let Some(name) = v.as_str() else { return true };
            if capability_usable(name) {
                return true;
            }
            if !dropped.contains(&name.to_string()) {
                dropped.push(name.to_string());
            }
            false
        });
    }
    if dropped.is_empty() {
        return None;
    }
    eprintln!(
        "brig: warning: ignoring unknown or unavailable capabilities: [{}]",
        dropped.join(" ")
    );
    serde_json::to_vec(&doc).ok()
}

/// A capability name that oci-spec parses, that brig can map to a number, and
/// that the running kernel has.
pub fn capability_usable(name: &str) -> bool {
    let Ok(c) = serde_json::from_value::<oci_spec::runtime::Capability>(name.into()) else {
        return false;
    };
    Cap::from_str(&format!("CAP_{c}")).is_ok_and(kernel_knows)
}

/// Names of capabilities the running kernel knows, for `features`.
pub fn known_capabilities() -> Vec<String> {
    let mut v: Vec<String> = caps::runtime::thread_all_supported()
        .into_iter()
        .map(|c| c.to_string())
        .collect();
    v.sort();
    v
}

/// Drop from the bounding set everything not in it. Needs CAP_SETPCAP, so it runs
/// before the user switch.
pub fn drop_bounding(c: &CapSets) -> Result<(), SecurityError> {
    let keep = &c.bounding;
    let all: HashSet<Cap> = caps::read(None, CapSet::Bounding)
        .map_err(|e| failed("process.capabilities.bounding", e))?;
    for cap in all.difference(keep) {
        caps::drop(None, CapSet::Bounding, *cap)
            .map_err(|e| failed("process.capabilities.bounding", format!("{cap}: {e}")))?;
    }
    Ok(())
}

/// Switch to the container user: supplementary groups, gid, then uid. Capabilities
/// survive the uid change (PR_SET_KEEPCAPS) so that `set_capabilities` can set them.
pub fn switch_user(u: &User) -> Result<(), SecurityError> {
    let groups: Vec<Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // setgroups is denied in a user namespace with setgroups=deny; only call it when asked.
    if !groups.is_empty() || u.gid() != 0 || u.uid() != 0 {
        nix::unistd::setgroups(&groups).map_err(|e| failed("process.user.additionalGids", e))?;
    }
    nix::sys::prctl::set_keepcaps(true).map_err(|e| failed("process.user", e))?;
    let gid = Gid::from_raw(u.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| failed("process.user.gid", e))?;
    let uid = Uid::from_raw(u.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| failed("process.user.uid", e))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| failed("process.user", e))?;
    Ok(())
}

/// Set the effective, permitted, inheritable and ambient sets (after the user
/// switch). Effective, permitted and inheritable go in one capset(2), as runc
/// does: the kernel checks the new inheritable set against the old permitted
/// one, so a cap may be inheritable and not permitted (set one by one, with
/// permitted lowered first, that was EPERM). `extra` is kept in effective and
/// permitted on top: CAP_SYS_ADMIN, when a seccomp filter must still be loaded
/// without no_new_privs. execve drops it: without no_new_privs the new
/// permitted set does not depend on the old one (it is ambient for a
/// non-root user, bounding | inheritable for root, plus file caps).
pub fn set_capabilities(c: &CapSets, extra: Option<Cap>) -> Result<(), SecurityError> {
    let mut permitted = c.permitted.clone();
    let mut effective = c.effective.clone();
    let (inheritable, ambient) = (&c.inheritable, &c.ambient);
    // The kernel refuses an effective cap that is not permitted; runc keeps
    // effective within permitted the same way.
    effective.retain(|c| permitted.contains(c));
    if let Some(x) = extra {
        permitted.insert(x);
        effective.insert(x);
    }
    capset(&effective, &permitted, inheritable).map_err(|e| {
        failed(
            "process.capabilities",
            format!("capset (effective, permitted, inheritable): {e}"),
        )
    })?;
    caps::clear(None, CapSet::Ambient).map_err(|e| failed("process.capabilities.ambient", e))?;
    // The kernel only raises an ambient cap that is permitted and inheritable.
    // runc's default config lists ambient caps without inheritable ones and runc
    // skips them; so does brig, rather than refuse that config.
    for cap in ambient
        .iter()
        .filter(|c| permitted.contains(c) && inheritable.contains(c))
    {
        let cap = *cap;
        caps::raise(None, CapSet::Ambient, cap)
            .map_err(|e| failed("process.capabilities.ambient", format!("{cap}: {e}")))?;
    }
    Ok(())
}

/// capset(2) of the calling thread, version 3 (64 capability bits), all three sets at once.
fn capset(eff: &CapsHashSet, perm: &CapsHashSet, inh: &CapsHashSet) -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const V3: u32 = 0x2008_0522;
    let bits = |s: &CapsHashSet| s.iter().fold(0u64, |m, c| m | c.bitmask());
    let (e, p, i) = (bits(eff), bits(perm), bits(inh));
    let data = [
        Data {
            effective: e as u32,
            permitted: p as u32,
            inheritable: i as u32,
        },
        Data {
            effective: (e >> 32) as u32,
            permitted: (p >> 32) as u32,
            inheritable: (i >> 32) as u32,
        },
    ];
    let mut hdr = Header {
        version: V3,
        pid: 0,
    };
    // SAFETY: a v3 header and an array of two data structs, as capset(2) reads.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub fn set_no_new_privs() -> Result<(), SecurityError> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| failed("process.noNewPrivileges", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_names_map_to_caps() {
        let set: Capabilities =
            serde_json::from_str(r#"["CAP_KILL","CAP_NET_BIND_SERVICE","CAP_AUDIT_WRITE"]"#)
                .unwrap();
        let c = to_caps(Some(&set));
        assert_eq!(c.len(), 3);
        assert!(c.contains(&Cap::CAP_NET_BIND_SERVICE));
    }

    #[test]
    fn every_oci_capability_has_a_number() {
        // Every name oci-spec accepts must map, or a cap in the config would vanish silently.
        for name in known_capabilities() {
            let set: Capabilities = serde_json::from_str(&format!("[\"{name}\"]")).unwrap();
            assert_eq!(to_caps(Some(&set)).len(), 1, "{name}");
        }
    }
}
