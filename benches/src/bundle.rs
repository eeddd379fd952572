//! The busybox bundle the benches run: one rootfs (a copy of the static busybox
//! and a symlink per applet) shared by every container, and one config.json per
//! scenario beside it. The rootfs is never written by a container: /dev and
//! /proc are mounts in each container's own mount namespace.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// A scenario's configuration. Every one of them has pid, mount, ipc and uts
/// namespaces, no terminal, and root's default capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    /// Two mounts (/proc, a tmpfs /dev), no network namespace, no limits.
    Base,
    /// Base plus a network namespace, and five mounts: /proc, /dev (tmpfs),
    /// /dev/pts (devpts), /dev/shm (tmpfs) and /sys (sysfs, read-only).
    NetMounts,
    /// Base plus limits: memory 256 MiB, cpu quota 50 ms per 100 ms and
    /// shares 512, 128 pids.
    Limits,
}

impl Config {
    pub fn name(self) -> &'static str {
        match self {
            Config::Base => "base",
            Config::NetMounts => "netns-5mounts",
            Config::Limits => "limits",
        }
    }
}

/// A bundle directory: `rootfs/` and `config.json`.
#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
}

impl Bundle {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
}

/// Where the benches keep their bundles: a temp dir removed on drop.
#[derive(Debug)]
pub struct Bundles {
    tmp: tempfile::TempDir,
    rootfs: PathBuf,
}

/// The busybox the rootfs is built from (`busybox-static` installs it at /bin/busybox).
pub fn find_busybox() -> Result<PathBuf> {
    let candidates = [
        std::env::var_os("BUSYBOX").map(PathBuf::from),
        Some(PathBuf::from("/bin/busybox")),
        Some(PathBuf::from("/usr/bin/busybox")),
    ];
    for c in candidates.into_iter().flatten() {
        if c.is_file() {
            return Ok(c);
        }
    }
    bail!("no busybox found (install busybox-static, or set BUSYBOX=/path/to/static/busybox)")
}

impl Bundles {
    /// Builds the rootfs in a new temp dir.
    pub fn new() -> Result<Self> {
        let tmp = tempfile::Builder::new()
            .prefix("brig-bench-bundle.")
            .tempdir()
            .context("temp dir for the bundles")?;
        let rootfs = tmp.path().join("rootfs");
        build_rootfs(&rootfs, &find_busybox()?)?;
        Ok(Bundles { tmp, rootfs })
    }

    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// Writes `<tmp>/<name>/config.json` for `cfg`, running `args`.
    pub fn bundle(&self, name: &str, cfg: Config, args: &[&str]) -> Result<Bundle> {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
        let config = config(&self.rootfs, cfg, args);
        let path = dir.join("config.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config)?)
            .with_context(|| format!("{}", path.display()))?;
        Ok(Bundle { dir })
    }
}

/// Copies busybox into `rootfs/bin` and links every applet to it.
pub fn build_rootfs(rootfs: &Path, busybox: &Path) -> Result<()> {
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "root"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    let bin = rootfs.join("bin");
    std::fs::copy(busybox, bin.join("busybox"))
        .with_context(|| format!("copy {} into the rootfs", busybox.display()))?;
    let out = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("{} --list", busybox.display()))?;
    if !out.status.success() {
        bail!("{} --list failed: {}", busybox.display(), out.status);
    }
    let list = String::from_utf8_lossy(&out.stdout);
    let mut n = 0;
    for applet in list.split_whitespace() {
        if applet == "busybox" || applet.contains('/') {
            continue;
        }
        std::os::unix::fs::symlink("busybox", bin.join(applet))?;
        n += 1;
    }
    if !bin.join("true").exists() || !bin.join("sleep").exists() {
        bail!(
            "{} has no `true` or `sleep` applet ({n} applets)",
            busybox.display()
        );
    }
    Ok(())
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": source, "options": options})
}

/// The config.json of a scenario (the shape of `runc spec`, trimmed).
pub fn config(rootfs: &Path, cfg: Config, args: &[&str]) -> Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
    ];
    let mut linux = json!({
        "namespaces": [],
        "maskedPaths": [],
        "readonlyPaths": [],
    });
    match cfg {
        Config::Base => {}
        Config::NetMounts => {
            namespaces.push(json!({"type": "network"}));
            mounts.push(mount(
                "/dev/pts",
                "devpts",
                "devpts",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                ],
            ));
            mounts.push(mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            ));
            mounts.push(mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            ));
        }
        Config::Limits => {
            linux["resources"] = json!({
                "memory": {"limit": 256u64 << 20},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                "pids": {"limit": 128},
            });
        }
    }
    linux["namespaces"] = Value::Array(namespaces);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true,
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": "bench",
        "mounts": mounts,
        "linux": linux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_differ_where_they_say() {
        let r = Path::new("/r");
        let base = config(r, Config::Base, &["/bin/true"]);
        let net = config(r, Config::NetMounts, &["/bin/true"]);
        let lim = config(r, Config::Limits, &["/bin/true"]);
        assert_eq!(base["mounts"].as_array().unwrap().len(), 2);
        assert_eq!(net["mounts"].as_array().unwrap().len(), 5);
        let has_net = |v: &Value| {
            v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "network")
        };
        assert!(!has_net(&base) && has_net(&net) && !has_net(&lim));
        assert!(base["linux"]["resources"].is_null());
        assert_eq!(lim["linux"]["resources"]["pids"]["limit"], 128);
        assert_eq!(base["root"]["path"], "/r");
    }
}
