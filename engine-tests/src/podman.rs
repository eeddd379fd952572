//! A private podman: its own containers.conf and storage.conf (vfs storage, cgroupfs, file
//! events, k8s-file logs, netavark with its own config dir) under a temp dir, run inside a
//! [`Sandbox`] so that its default bridge network and rules never reach the host.

use crate::{run_ok, CgroupParent, Runtime, Sandbox};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const IMAGE: &str = "localhost/brig-busybox:test";

pub struct Podman {
    pub runtime: Runtime,
    pub cgroup: CgroupParent,
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
}

impl Podman {
    pub fn start(runtime: Runtime) -> Result<Podman> {
        // catatonit is only a Recommends of podman: `pod create` builds its pause image from it.
        crate::ensure_packages(&[
            "podman",
            "netavark",
            "conmon",
            "catatonit",
            "busybox-static",
        ])?;
        let dir = tempfile::Builder::new()
            .prefix("brig-engine-podman-")
            .tempdir()?;
        let d = dir.path();
        // A container in a user namespace (--uidmap) must be able to reach its rootfs below.
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o711))?;
        for sub in ["root", "runroot", "tmp", "networks"] {
            std::fs::create_dir(d.join(sub))?;
        }
        // The same for the vfs driver's dirs, which it would make 0700.
        for sub in ["root/vfs", "root/vfs/dir"] {
            std::fs::create_dir(d.join(sub))?;
            std::fs::set_permissions(
                d.join(sub),
                std::os::unix::fs::PermissionsExt::from_mode(0o711),
            )?;
        }
        std::fs::write(
            d.join("containers.conf"),
            format!(
                r#"[containers]
log_driver = "k8s-file"
# podman's default ulimits exceed this kind of host's hard limits (and a pod's infra
# container takes no --ulimit).
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
tmp_dir = "{d}/tmp"
[network]
network_backend = "netavark"
network_config_dir = "{d}/networks"
"#,
                d = d.display()
            ),
        )?;
        std::fs::write(
            d.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n",
                d = d.display()
            ),
        )?;
        std::fs::write(d.join("registries.conf"), "")?;
        // podman keeps a blob-info cache in /var/lib/containers whatever --root says.
        let sandbox = Sandbox::new(&[Path::new("/var/lib/containers")])?;
        let cgroup = CgroupParent::new(&format!("brig-engine-podman-{}", crate::run_tag()));
        let p = Podman {
            runtime,
            cgroup,
            sandbox,
            dir,
        };
        let tar = p.dir.path().join("busybox.tar");
        std::fs::write(&tar, crate::image::rootfs_tar()?)?;
        run_ok(
            p.cmd()
                .args(["import", "--change", "CMD [\"sh\"]"])
                .arg(&tar)
                .arg(IMAGE),
        )
        .context("podman import of the busybox rootfs")?;
        Ok(p)
    }

    /// `podman --runtime RUNTIME` with the private configuration, inside the sandbox.
    pub fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = self.sandbox.command("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
            .arg("--runtime")
            .arg(&self.runtime.path);
        c
    }

    /// The options every `run`/`create` gets: no pull, our cgroup parent, and the ulimits this
    /// host needs (podman's defaults exceed its hard limits).
    pub fn run_args(&self) -> Vec<String> {
        vec![
            "--pull=never".into(),
            "--cgroup-parent".into(),
            self.cgroup.path(),
            "--ulimit".into(),
            "nofile=1024:1024".into(),
            "--ulimit".into(),
            "nproc=1024:1024".into(),
        ]
    }

    /// `podman ARGS`, whatever its exit status.
    pub fn podman(&self, args: &[&str]) -> Result<Output> {
        crate::run_any(self.cmd().args(args))
    }

    /// `podman ARGS`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> Result<String> {
        Ok(crate::stdout(&run_ok(self.cmd().args(args))?))
    }

    /// `podman run RUN_ARGS ARGS`, whatever its exit status.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let mut c = self.cmd();
        c.arg("run").args(self.run_args()).args(args);
        crate::run_any(&mut c)
    }

    pub fn inspect(&self, name: &str, format: &str) -> Result<String> {
        Ok(self
            .ok(&["inspect", "--format", format, name])?
            .trim()
            .to_string())
    }

    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = crate::run_any(self.cmd().args(["rm", "-a", "-f", "-t", "0"]));
        // conmon outlives podman by design; anything still naming our dirs is ours.
        crate::kill_processes_with(&self.dir.path().display().to_string());
    }
}
