//! A private containerd: its own config file, socket, root and state dirs under a temp dir,
//! the plugins it does not need disabled, run inside a [`Sandbox`]. With `cri`, its CRI plugin
//! runs the runtime under test as the runc binary of `io.containerd.runc.v2`, with a CNI bridge
//! conflist in a private conf dir and a pause image built from busybox.

use crate::image::{write_oci_archive, ImageDef};
use crate::{log, run_ok, wait_until, CgroupParent, Runtime, Sandbox};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const IMAGE: &str = "docker.io/library/brig-busybox:test";
pub const PAUSE_IMAGE: &str = "docker.io/library/brig-pause:test";
/// The CRI plugin's containerd namespace.
pub const CRI_NAMESPACE: &str = "k8s.io";
/// The CNI bridge inside the sandbox, and its subnet (which exists only in there).
pub const CNI_BRIDGE: &str = "brigeng0";
pub const CNI_SUBNET: &str = "10.233.7.0/24";

pub struct Containerd {
    pub runtime: Runtime,
    pub cri: bool,
    /// The containerd namespace the images are in: `k8s.io` for the CRI plugin, else a
    /// namespace of this run (ctr puts a container's cgroup at `/NAMESPACE/ID`).
    pub namespace: String,
    /// The cgroup parent of every container: the ctr namespace, or the pods' cgroup_parent.
    pub cgroup: CgroupParent,
    child: Option<Child>,
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
}

impl Containerd {
    pub fn start(runtime: Runtime, cri: bool) -> Result<Containerd> {
        let mut pkgs = vec!["containerd", "busybox-static"];
        if cri {
            pkgs.push("containernetworking-plugins");
        }
        crate::ensure_packages(&pkgs)?;
        let dir = tempfile::Builder::new()
            .prefix("brig-engine-containerd-")
            .tempdir()?;
        let d = dir.path().to_path_buf();
        for sub in ["root", "state", "opt", "cni", "ipam", "logs"] {
            std::fs::create_dir(d.join(sub))?;
        }
        std::fs::write(d.join("config.toml"), config(&d, &runtime, cri))?;
        if cri {
            std::fs::write(d.join("cni/10-brig-engine.conflist"), cni_conflist(&d))?;
        }
        // The CNI library keeps its result cache in /var/lib/cni whatever the config says.
        let sandbox = Sandbox::new(&[Path::new("/var/lib/cni")])?;
        let log_file = std::fs::File::create(d.join("containerd.log"))?;
        let child = sandbox
            .command("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting containerd")?;
        let namespace = if cri {
            CRI_NAMESPACE.to_string()
        } else {
            format!("brig-engine-ctr-{}", crate::run_tag())
        };
        let cgroup = CgroupParent::new(&if cri {
            format!("brig-engine-cri-{}", crate::run_tag())
        } else {
            namespace.clone()
        });
        let mut c = Containerd {
            runtime,
            cri,
            namespace,
            cgroup,
            child: Some(child),
            sandbox,
            dir,
        };
        let sock = c.socket();
        wait_until(Duration::from_secs(30), "containerd's socket", || {
            if let Some(st) = c.child.as_mut().expect("child").try_wait()? {
                bail!("containerd exited {st}: {}", c.log_tail());
            }
            Ok(sock.exists().then_some(()))
        })?;
        let archive = d.join("images.tar");
        write_oci_archive(
            &archive,
            &[
                ImageDef {
                    name: IMAGE,
                    entrypoint: &[],
                    cmd: &["sh"],
                },
                ImageDef {
                    name: PAUSE_IMAGE,
                    entrypoint: &["sleep", "2147483647"],
                    cmd: &[],
                },
            ],
        )?;
        run_ok(c.ctr().args(["images", "import"]).arg(&archive))
            .context("ctr images import of the busybox OCI archive")?;
        Ok(c)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// `ctr --address SOCK --namespace NS`, inside the sandbox.
    pub fn ctr(&self) -> Command {
        let mut c = self.sandbox.command("ctr");
        c.arg("--address")
            .arg(self.socket())
            .arg("--namespace")
            .arg(&self.namespace);
        c
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The shims (and anything else) still running for this containerd.
    pub fn leftover_processes(&self) -> Vec<(i32, String)> {
        let me = self.child.as_ref().map(|c| c.id() as i32);
        crate::processes_with(&self.dir.path().display().to_string())
            .into_iter()
            .filter(|(p, _)| Some(*p) != me)
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let r = wait_until(Duration::from_secs(10), "containerd to exit", || {
                Ok(child.try_wait()?)
            });
            if r.is_err() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Shims outlive containerd by design; the ones naming our socket are ours.
        let left = crate::processes_with(&self.dir.path().display().to_string());
        if !left.is_empty() {
            log(&format!("containerd left processes: {left:?}"));
            crate::kill_processes_with(&self.dir.path().display().to_string());
        }
    }
}

fn config(d: &Path, runtime: &Runtime, cri: bool) -> String {
    let d = d.display();
    let mut disabled = vec![
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.tracing.processor.v1.otlp",
        "io.containerd.internal.v1.tracing",
    ];
    if !cri {
        disabled.push("io.containerd.grpc.v1.cri");
    }
    let disabled: Vec<String> = disabled.iter().map(|p| format!("\"{p}\"")).collect();
    let mut s = format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disabled}]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  level = "info"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{d}/opt"
"#,
        disabled = disabled.join(", ")
    );
    if cri {
        s.push_str(&format!(
            r#"  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{PAUSE_IMAGE}"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    disable_tcp_service = true
    enable_selinux = false
    disable_apparmor = true
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "engine"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.engine]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.engine.options]
          BinaryName = "{rt}"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{d}/cni"
      max_conf_num = 1
"#,
            rt = runtime.path.display()
        ));
    }
    s
}

fn cni_conflist(d: &Path) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "brig-engine",
        "plugins": [{
            "type": "bridge",
            "bridge": CNI_BRIDGE,
            "isGateway": true,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": CNI_SUBNET}]],
                "dataDir": d.join("ipam"),
            },
        }],
    }))
    .expect("json")
}
