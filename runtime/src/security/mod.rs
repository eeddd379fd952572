//! Process attributes applied by the container init just before exec: rlimits,
//! the user switch, capabilities and no_new_privs.

pub mod sched;
pub mod seccomp;
use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, PosixRlimit, PosixRlimitType, Process};

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

fn to_caps(set: Option<&Capabilities>) -> CapsHashSet {
    set.into_iter()
        .flatten()
        .filter_map(|c| Cap::from_str(&format!("CAP_{c}")).ok())
        .collect()
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
pub fn drop_bounding(c: &LinuxCapabilities) -> Result<(), SecurityError> {
    let keep = to_caps(c.bounding().as_ref());
    let all: HashSet<Cap> = caps::read(None, CapSet::Bounding)
        .map_err(|e| failed("process.capabilities.bounding", e))?;
    for cap in all.difference(&keep) {
        caps::drop(None, CapSet::Bounding, *cap)
            .map_err(|e| failed("process.capabilities.bounding", format!("{cap}: {e}")))?;
    }
    Ok(())
}

/// Switch to the container user: supplementary groups, gid, then uid. Capabilities
/// survive the uid change (PR_SET_KEEPCAPS) so that `set_capabilities` can set them.
pub fn switch_user(p: &Process) -> Result<(), SecurityError> {
    let u = p.user();
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

/// Set the effective, permitted, inheritable and ambient sets (after the user switch).
pub fn set_capabilities(c: &LinuxCapabilities) -> Result<(), SecurityError> {
    let permitted = to_caps(c.permitted().as_ref());
    let effective = to_caps(c.effective().as_ref());
    let inheritable = to_caps(c.inheritable().as_ref());
    let ambient = to_caps(c.ambient().as_ref());
    // Permitted can only shrink, and effective must stay within it: lower effective
    // first so the permitted change never leaves it above.
    caps::set(
        None,
        CapSet::Effective,
        &effective.intersection(&permitted).copied().collect(),
    )
    .map_err(|e| failed("process.capabilities.effective", e))?;
    caps::set(None, CapSet::Permitted, &permitted)
        .map_err(|e| failed("process.capabilities.permitted", e))?;
    caps::set(None, CapSet::Inheritable, &inheritable)
        .map_err(|e| failed("process.capabilities.inheritable", e))?;
    caps::set(None, CapSet::Effective, &effective)
        .map_err(|e| failed("process.capabilities.effective", e))?;
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
