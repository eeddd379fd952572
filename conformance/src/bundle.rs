//! Per-check OCI bundles: a config.json generated from code around the shared base rootfs.
//!
//! The config is kept as JSON so that a check can set any field, including ones a runtime may
//! not know; before it is written it must parse as an `oci_spec::runtime::Spec`, so the suite never
//! hands a runtime a config that is not valid OCI.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub struct Bundle {
    pub dir: PathBuf,
    /// The container id this bundle is meant for (fresh for every bundle).
    pub id: String,
    pub config: Value,
    /// Write the config without checking it against the oci-spec types: for checks that hand a
    /// runtime an unknown property or an invalid value on purpose.
    pub raw: bool,
}

/// The default config: like `runc spec`, with a read-only root shared by all checks, a tmpfs at
/// /tmp, and new pid, network, ipc, uts and mount namespaces.
pub fn default_config(rootfs: &Path, args: &[String], cgroups_path: &str) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true,
        },
        "root": {"path": rootfs.display().to_string(), "readonly": true},
        "hostname": "brig-conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777"]},
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"},
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    })
}

pub const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

impl Bundle {
    /// Sets the value at a dotted path (`linux.resources.memory.limit`), creating objects on the way.
    pub fn set(&mut self, path: &str, value: Value) -> &mut Self {
        let mut cur = &mut self.config;
        let parts: Vec<&str> = path.split('.').collect();
        for (i, p) in parts.iter().enumerate() {
            if !cur.is_object() {
                *cur = json!({});
            }
            let obj = cur.as_object_mut().expect("made an object above");
            if i == parts.len() - 1 {
                obj.insert((*p).to_string(), value);
                return self;
            }
            cur = obj.entry((*p).to_string()).or_insert_with(|| json!({}));
        }
        self
    }

    /// Appends to the array at a dotted path, creating it if needed.
    pub fn push(&mut self, path: &str, value: Value) -> &mut Self {
        let cur = self.get_mut(path);
        if !cur.is_array() {
            *cur = json!([]);
        }
        cur.as_array_mut().expect("made an array above").push(value);
        self
    }

    fn get_mut(&mut self, path: &str) -> &mut Value {
        let mut cur = &mut self.config;
        for p in path.split('.') {
            if !cur.is_object() {
                *cur = json!({});
            }
            cur = cur
                .as_object_mut()
                .expect("made an object above")
                .entry(p.to_string())
                .or_insert(Value::Null);
        }
        cur
    }

    /// Removes the namespace of this type from `linux.namespaces`.
    pub fn without_namespace(&mut self, kind: &str) -> &mut Self {
        if let Some(a) = self.config["linux"]["namespaces"].as_array_mut() {
            a.retain(|n| n["type"] != kind);
        }
        self
    }

    /// Adds (or replaces) a namespace entry, optionally joining the one at `path`.
    pub fn with_namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        self.without_namespace(kind);
        let mut ns = json!({"type": kind});
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        self.push("linux.namespaces", ns)
    }

    /// Adds a bind mount of a host directory.
    pub fn bind(&mut self, host: &Path, dest: &str, readonly: bool) -> &mut Self {
        let mut opts = vec!["rbind", "rprivate"];
        if readonly {
            opts.push("ro");
        }
        self.push(
            "mounts",
            json!({"destination": dest, "type": "bind", "source": host.display().to_string(),
                   "options": opts}),
        )
    }

    /// Replaces the process arguments with the probe and these arguments.
    pub fn probe_args(&mut self, args: &[&str]) -> &mut Self {
        let mut v = vec![crate::setup::PROBE_IN_CONTAINER.to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        self.set("process.args", json!(v))
    }

    /// Validates the config against the oci-spec types and writes `config.json`.
    pub fn write(&self) -> Result<PathBuf, String> {
        let text = serde_json::to_string_pretty(&self.config).map_err(|e| e.to_string())?;
        if !self.raw {
            serde_json::from_str::<oci_spec::runtime::Spec>(&text)
                .map_err(|e| format!("suite bug: generated config.json is not valid OCI: {e}"))?;
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let p = self.dir.join("config.json");
        std::fs::write(&p, text).map_err(|e| format!("writing {}: {e}", p.display()))?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_oci() {
        let b = Bundle {
            dir: PathBuf::from("/nonexistent"),
            id: "x".into(),
            config: default_config(Path::new("/rootfs"), &["/probe".into()], "/x/y"),
            raw: false,
        };
        let text = serde_json::to_string(&b.config).unwrap();
        serde_json::from_str::<oci_spec::runtime::Spec>(&text).unwrap();
    }

    #[test]
    fn set_and_push_create_paths() {
        let mut b = Bundle {
            dir: PathBuf::new(),
            id: "x".into(),
            config: json!({}),
            raw: false,
        };
        b.set("linux.resources.memory.limit", json!(5));
        b.push("linux.resources.devices", json!({"allow": true}));
        assert_eq!(b.config["linux"]["resources"]["memory"]["limit"], 5);
        assert_eq!(b.config["linux"]["resources"]["devices"][0]["allow"], true);
    }
}
