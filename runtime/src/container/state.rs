//! The persisted state of a container, and the status it has now.

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};

use crate::sys::proc_stat;

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
        match self.status {
            Status::Stopped => Status::Stopped,
            // A record left in `creating` by a create that was killed: nothing runs.
            Status::Creating if self.pid <= 0 => Status::Stopped,
            s => {
                if self.init_alive() {
                    s
                } else {
                    Status::Stopped
                }
            }
        }
    }

    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match proc_stat(self.pid) {
            Some(st) => st.start_time == self.init_start_time && st.state != 'Z' && st.state != 'X',
            None => false,
        }
    }

    /// The OCI state document, as `brig state` prints it (the runc shape).
    pub fn oci_json(&self) -> serde_json::Value {
        let status = self.current_status();
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
