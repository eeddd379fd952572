//! Namespaces: which to create, which to join, and the id mappings of a user namespace.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("linux.namespaces: {path}: {msg}")]
    Open { path: PathBuf, msg: String },
    #[error("joining {typ} namespace {path}: {errno}")]
    Join {
        typ: &'static str,
        path: PathBuf,
        errno: nix::Error,
    },
    #[error("creating namespaces ({flags:?}): {errno}")]
    Unshare {
        flags: CloneFlags,
        errno: nix::Error,
    },
    #[error("writing {file}: {source}")]
    Mapping {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The name runc and /proc/PID/ns use for a namespace type.
pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// A namespace to join, opened by the parent before the clone so that a bad
/// path fails early and the child only calls setns.
#[derive(Debug)]
pub struct JoinNs {
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

/// What the config asks for.
#[derive(Debug)]
pub struct NsPlan {
    /// Namespaces to create, user, pid, time and cgroup included.
    pub new: CloneFlags,
    pub join: Vec<JoinNs>,
}

impl NsPlan {
    pub fn from_spec(spec: &Spec) -> Result<Self, NsError> {
        let mut plan = NsPlan {
            new: CloneFlags::empty(),
            join: Vec::new(),
        };
        let list = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for ns in list {
            match ns.path() {
                None => plan.new |= clone_flag(ns.typ()),
                Some(path) => {
                    let fd = open_ns(path, ns.typ())?;
                    plan.join.push(JoinNs {
                        typ: ns.typ(),
                        path: path.clone(),
                        fd,
                    });
                }
            }
        }
        // The user namespace is joined first: the others are owned by it.
        plan.join.sort_by_key(|j| j.typ != LinuxNamespaceType::User);
        Ok(plan)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(clone_flag(t))
    }

    pub fn joined(&self, t: LinuxNamespaceType) -> Option<&JoinNs> {
        self.join.iter().find(|j| j.typ == t)
    }

    /// Whether the container gets a mount namespace of its own.
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.creates(t) || self.joined(t).is_some()
    }
}

const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Open a namespace file and check that it is a namespace of the expected type.
pub fn open_ns(path: &Path, typ: LinuxNamespaceType) -> Result<OwnedFd, NsError> {
    let err = |msg: String| NsError::Open {
        path: path.to_path_buf(),
        msg,
    };
    let f = File::open(path).map_err(|e| err(e.to_string()))?;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
    let got = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE as _) };
    if got < 0 {
        return Err(err("not a namespace file".into()));
    }
    if got != clone_flag(typ).bits() {
        return Err(err(format!("not a {} namespace", ns_name(typ))));
    }
    Ok(f.into())
}

/// setns(2) into an opened namespace.
pub fn join(ns: &JoinNs) -> Result<(), NsError> {
    nix::sched::setns(ns.fd.as_fd(), clone_flag(ns.typ)).map_err(|errno| NsError::Join {
        typ: ns_name(ns.typ),
        path: ns.path.clone(),
        errno,
    })
}

pub fn unshare(flags: CloneFlags) -> Result<(), NsError> {
    if flags.is_empty() {
        return Ok(());
    }
    nix::sched::unshare(flags).map_err(|errno| NsError::Unshare { flags, errno })
}

/// The text of a uid_map or gid_map file.
pub fn mapping_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write the id mappings of process `pid`'s new user namespace (from the parent,
/// which holds the capabilities for it in the outer namespace).
pub fn write_id_maps(
    pid: i32,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<(), NsError> {
    for (name, maps) in [("uid_map", uid), ("gid_map", gid)] {
        let file = PathBuf::from(format!("/proc/{pid}/{name}"));
        std::fs::write(&file, mapping_text(maps))
            .map_err(|source| NsError::Mapping { file, source })?;
    }
    Ok(())
}

/// Write the clock offsets of a time namespace created by unshare, before any
/// process enters it.
pub fn write_time_offsets(spec: &Spec) -> Result<(), NsError> {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()) else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in offsets {
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    let file = PathBuf::from("/proc/self/timens_offsets");
    std::fs::write(&file, text).map_err(|source| NsError::Mapping { file, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_text_is_one_line_per_range() {
        let m: LinuxIdMapping =
            serde_json::from_str(r#"{"containerID":0,"hostID":100000,"size":65536}"#).unwrap();
        assert_eq!(mapping_text(&[m]), "0 100000 65536\n");
    }

    #[test]
    fn open_ns_checks_the_type() {
        assert!(open_ns(Path::new("/proc/self/ns/net"), LinuxNamespaceType::Network).is_ok());
        let e = open_ns(Path::new("/proc/self/ns/net"), LinuxNamespaceType::Uts).unwrap_err();
        assert!(e.to_string().contains("not a uts namespace"), "{e}");
        let e = open_ns(Path::new("/etc/hostname"), LinuxNamespaceType::Uts).unwrap_err();
        assert!(e.to_string().contains("not a namespace file"), "{e}");
    }
}
