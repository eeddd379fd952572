//! The persisted state of a container, and the status it has now.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// An operation on an existing container, as the lifecycle table knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start,
    /// `kill` of the init.
    Kill,
    /// `kill --all`: whatever is in the cgroup, also of a stopped container.
    KillAll,
    Pause,
    Resume,
    Delete,
    /// `delete --force`.
    ForceDelete,
    Exec,
    /// `exec --ignore-paused`.
    ExecIgnorePaused,
    Update,
    /// `events`, `events --stats`, and what else reads the live processes.
    Inspect,
}

/// What runc says of a container with no process to signal. containerd's shim
/// (`checkKillError`) and podman match this text to tell "already gone" from
/// a real failure: keep it.
pub const NOT_RUNNING: &str = "container not running";

impl Status {
    /// The lifecycle table: the one place that says which operation is legal
    /// in which status. `Err` carries the error text, runc's words first (what
    /// scripts and engines may match, see docs/cli-compat.md), then brig's.
    pub fn allows(self, op: Op) -> Result<(), &'static str> {
        use Status::*;
        match (op, self) {
            (Op::Start, Created) => Ok(()),
            (Op::Start, Running) => Err(
                "cannot start an already running container (only a created container can be started)",
            ),
            (Op::Start, Stopped) => Err(
                "cannot start a container that has stopped (only a created container can be started)",
            ),
            (Op::Start, _) => Err("only a created container can be started"),
            (Op::Kill, Stopped) => Err(NOT_RUNNING),
            (Op::Kill, _) | (Op::KillAll, _) => Ok(()),
            (Op::Pause, Running) => Ok(()),
            (Op::Pause, _) => {
                Err("container not running (only a running container can be paused)")
            }
            (Op::Resume, Paused) => Ok(()),
            (Op::Resume, _) => {
                Err("container not paused (only a paused container can be resumed)")
            }
            (Op::Delete, Running | Paused) => Err(
                "cannot delete a container that is not stopped (stop it first, or use delete --force)",
            ),
            (Op::Delete, _) | (Op::ForceDelete, _) => Ok(()),
            (Op::Exec | Op::ExecIgnorePaused, Running | Created) => Ok(()),
            (Op::ExecIgnorePaused, Paused) => Ok(()),
            (Op::Exec, Paused) => Err(
                "cannot exec in a paused container (resume it first, or exec --ignore-paused)",
            ),
            (Op::Exec | Op::ExecIgnorePaused, _) => {
                Err("cannot exec in a stopped container (exec needs a running container)")
            }
            (Op::Update, Created | Running | Paused) => Ok(()),
            (Op::Update, _) => Err("only a created, running or paused container can be updated"),
            (Op::Inspect, Stopped) => {
                Err("container not running (it has no processes to report on)")
            }
            (Op::Inspect, _) => Ok(()),
        }
    }
}

/// What `--root/<id>/state.json` holds: the OCI state plus what later commands
/// need without reading the bundle again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    /// Host pid of the container init; 0 before it exists.
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Start time of the init from /proc/PID/stat, to detect a reused pid.
    pub init_start_time: u64,
    /// linux.cgroupsPath as given (None: the default /brig/<id>).
    pub cgroups_path: Option<PathBuf>,
    /// /proc/self/cgroup of the `create` that made the container, when
    /// cgroupsPath is relative to it.
    #[serde(default)]
    pub creator_cgroups: Option<String>,
    /// The hooks later phases run (poststart, poststop).
    pub hooks: Option<Hooks>,
    /// Whether the init has its own pid namespace: killing it then ends every process.
    pub own_pid_ns: bool,
    /// linux.seccomp as it was at create: exec applies the container's
    /// profile, not whatever the bundle's config.json says by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// linux.personality as it was at create: exec'd processes run in the
    /// container's execution domain too, as in runc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<oci_spec::runtime::LinuxPersonality>,
    /// Created with `--no-new-keyring`: exec'd processes keep the caller's
    /// session keyring too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_new_keyring: bool,
}

impl ContainerState {
    /// The session keyring the container's processes join (runc's name),
    /// None with `--no-new-keyring`.
    pub fn session_keyring(&self) -> Option<String> {
        (!self.no_new_keyring).then(|| format!("_ses.{}", self.id))
    }

    /// The status now: the recorded one, unless the init is gone (exited, a zombie,
    /// or its pid reused by another process), which makes it stopped.
    pub fn current_status(&self) -> Status {
        self.current_status_in(crate::kernel::LINUX.processes)
    }

    /// [`Self::current_status`] on the given kernel.
    pub fn current_status_in(&self, procs: &dyn crate::kernel::ProcessTable) -> Status {
        match self.status {
            Status::Stopped => Status::Stopped,
            // A record left in `creating` by a create that was killed: nothing runs.
            Status::Creating if self.pid <= 0 => Status::Stopped,
            s => {
                if self.init_alive_in(procs) {
                    s
                } else {
                    Status::Stopped
                }
            }
        }
    }

    pub fn init_alive(&self) -> bool {
        self.init_alive_in(crate::kernel::LINUX.processes)
    }

    /// [`Self::init_alive`] on the given kernel.
    pub fn init_alive_in(&self, procs: &dyn crate::kernel::ProcessTable) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match procs.stat(self.pid) {
            Some(st) => st.start_time == self.init_start_time && st.state != 'Z' && st.state != 'X',
            None => false,
        }
    }

    /// The OCI state document, as `brig state` prints it (the runc shape).
    pub fn oci_json(&self) -> serde_json::Value {
        self.oci_json_in(crate::kernel::LINUX.processes)
    }

    /// [`Self::oci_json`] on the given kernel.
    pub fn oci_json_in(&self, procs: &dyn crate::kernel::ProcessTable) -> serde_json::Value {
        let status = self.current_status_in(procs);
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "status": status.to_string(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
        })
    }

    /// The state hooks get on stdin: the spec's fields only.
    pub fn hook_json(&self, status: Status) -> String {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status.to_string(),
            "pid": self.pid,
            "bundle": self.bundle,
            "annotations": self.annotations,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{Op, Status, NOT_RUNNING};

    const ALL: [Status; 5] = [
        Status::Creating,
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Stopped,
    ];

    /// Which statuses allow each operation, written out as a list (the table
    /// in `allows` is a match; this is the same rules the other way round).
    #[test]
    fn the_table() {
        use Status::*;
        let legal: &[(Op, &[Status])] = &[
            (Op::Start, &[Created]),
            (Op::Kill, &[Creating, Created, Running, Paused]),
            (Op::KillAll, &ALL),
            (Op::Pause, &[Running]),
            (Op::Resume, &[Paused]),
            (Op::Delete, &[Creating, Created, Stopped]),
            (Op::ForceDelete, &ALL),
            (Op::Exec, &[Created, Running]),
            (Op::ExecIgnorePaused, &[Created, Running, Paused]),
            (Op::Update, &[Created, Running, Paused]),
            (Op::Inspect, &[Creating, Created, Running, Paused]),
        ];
        for (op, ok) in legal {
            for s in ALL {
                assert_eq!(s.allows(*op).is_ok(), ok.contains(&s), "{op:?} on {s}");
            }
        }
    }

    /// runc's words lead the error texts (docs/cli-compat.md).
    #[test]
    fn runc_words() {
        use Status::*;
        let cases = [
            (
                Op::Start,
                Running,
                "cannot start an already running container",
            ),
            (
                Op::Start,
                Stopped,
                "cannot start a container that has stopped",
            ),
            (Op::Resume, Running, "container not paused"),
            (Op::Pause, Paused, "container not running"),
            (Op::Pause, Stopped, "container not running"),
            (Op::Exec, Paused, "cannot exec in a paused container"),
            (Op::Exec, Stopped, "cannot exec in a stopped container"),
            (Op::Kill, Stopped, NOT_RUNNING),
            (Op::Inspect, Stopped, NOT_RUNNING),
        ];
        for (op, s, words) in cases {
            let e = s.allows(op).unwrap_err();
            assert!(e.starts_with(words), "{op:?} on {s}: {e}");
        }
        assert_eq!(Stopped.allows(Op::Kill), Err(NOT_RUNNING));
    }
}
