//! Shared helpers of the real-kernel tests: a busybox bundle in a temp dir, a
//! private `--root`, and a guard that force-deletes every container a test made,
//! even when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

pub const BRIG: &str = env!("CARGO_BIN_EXE_brig");
const BUSYBOX: &str = "/bin/busybox";

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A unique container id for this test process.
pub fn unique_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// A busybox rootfs with every applet linked into /bin.
pub fn make_rootfs(dir: &Path) {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install busybox-static (scripts/test does)"
    );
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let bb = dir.join("bin/busybox");
    if std::fs::hard_link(BUSYBOX, &bb).is_err() {
        std::fs::copy(BUSYBOX, &bb).unwrap();
    }
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// A test's bundle, state root and containers.
pub struct Bed {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub config: Value,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Bed {
    /// A bundle with runc's default config, running `args`.
    pub fn new(args: &[&str]) -> Bed {
        let tmp = tempfile::Builder::new()
            .prefix("brig-test")
            .tempdir()
            .unwrap();
        let root = tmp.path().join("state");
        let bundle = tmp.path().join("bundle");
        make_rootfs(&bundle.join("rootfs"));
        let out = Command::new(BRIG)
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "brig spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
        config["process"]["args"] = serde_json::json!(args);
        // No terminal (runc's default has one): tests read the container's stdout.
        config["process"]["terminal"] = Value::Bool(false);
        // A writable root: tests write to it unless they ask otherwise.
        config["root"]["readonly"] = Value::Bool(false);
        Bed {
            tmp,
            root,
            bundle,
            config,
            ids: Default::default(),
        }
    }

    pub fn write_config(&self) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// `brig --root R ARGS...`, stdio captured, stdin closed.
    pub fn brig(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BRIG);
        c.arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    /// Write the config and `create` a container. Its stdio goes to files in the
    /// temp dir: the container inherits brig's stdio, so a pipe would stay open
    /// for the container's whole life.
    pub fn create(&self, id: &str) -> Output {
        self.write_config();
        let status = self.create_cmd(id).status().unwrap();
        self.create_output(id, status)
    }

    /// The `create` command, stdio on files, for tests that spawn it themselves.
    pub fn create_cmd(&self, id: &str) -> Command {
        self.track(id);
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let out = std::fs::File::create(self.tmp.path().join(format!("{id}.out"))).unwrap();
        let err = std::fs::File::create(self.tmp.path().join(format!("{id}.{n}.err"))).unwrap();
        let mut c = self.command(&["create", "--bundle", self.bundle.to_str().unwrap(), id]);
        c.stdout(out).stderr(err);
        c
    }

    /// Turn a finished create into an Output whose stderr is what brig wrote.
    pub fn create_output(&self, id: &str, status: std::process::ExitStatus) -> Output {
        let mut stderr = Vec::new();
        for e in std::fs::read_dir(self.tmp.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{id}.")) && name.ends_with(".err") {
                stderr.extend(std::fs::read(e.path()).unwrap());
                let _ = std::fs::remove_file(e.path());
            }
        }
        Output {
            status,
            stdout: Vec::new(),
            stderr,
        }
    }

    /// What the container wrote to stdout (for containers made with `create`).
    pub fn container_output(&self, id: &str) -> String {
        std::fs::read_to_string(self.tmp.path().join(format!("{id}.out"))).unwrap_or_default()
    }

    /// Write the config and `run` it in the foreground, capturing its output.
    pub fn run(&self, id: &str) -> Output {
        self.write_config();
        self.track(id);
        self.brig(&["run", "--bundle", self.bundle.to_str().unwrap(), id])
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.brig(&["state", id]);
        assert!(
            out.status.success(),
            "state {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    /// Poll `state` until the status is `want`, with a deadline (no fixed sleeps).
    pub fn wait_status(&self, id: &str, want: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            // The container may not exist yet (a `run` racing with us).
            let out = self.brig(&["state", id]);
            let s = if out.status.success() {
                serde_json::from_slice::<Value>(&out.stdout).unwrap()["status"]
                    .as_str()
                    .unwrap()
                    .to_string()
            } else {
                String::from_utf8_lossy(&out.stderr).into_owned()
            };
            if s == want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id}: status {s}, waited for {want}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.brig(&["delete", "--force", id]);
        }
    }
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Assert a failure whose stderr mentions `needle`.
pub fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure mentioning {needle:?}, got success; stderr: {err}"
    );
    assert!(
        err.contains(needle),
        "stderr does not mention {needle:?}: {err}"
    );
}

/// The host cgroup v1 memory dir brig uses by default for `id`.
pub fn default_cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for c in ["memory", "pids", "cpu", "freezer", "devices"] {
        let p = Path::new("/sys/fs/cgroup").join(c).join("brig").join(id);
        v.push(p);
    }
    v.push(Path::new("/sys/fs/cgroup/unified/brig").join(id));
    v.push(Path::new("/sys/fs/cgroup/brig").join(id));
    v
}

/// Nothing of a container is left on the host.
pub fn assert_no_trace(bed: &Bed, id: &str) {
    assert!(!bed.root.join(id).exists(), "state dir of {id} left behind");
    for d in default_cgroup_dirs(id) {
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(bed.bundle.to_str().unwrap()),
        "a mount of the bundle is left behind"
    );
}

/// The real-kernel tests run real containers: they need root. Without it a
/// test says so and returns (true), instead of failing on the first mount.
pub fn skip_without_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    eprintln!("skipped: this test needs root (it runs real containers on the real kernel)");
    true
}

/// Accept one connection on `listener` and receive the fd sent on it
/// (SCM_RIGHTS), with the message sent beside it: runc's protocol for
/// --console-socket and --pidfd-socket.
pub fn recv_fd(listener: &std::os::unix::net::UnixListener) -> (String, std::os::fd::OwnedFd) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{AsRawFd, FromRawFd};
    let (conn, _) = listener.accept().unwrap();
    let mut name = [0u8; 64];
    let mut space = nix::cmsg_space!([i32; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut name)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    let len = msg.bytes;
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("an fd in SCM_RIGHTS");
    let name = String::from_utf8_lossy(&name[..len]).into_owned();
    // SAFETY: the fd was just received and is ours.
    (name, unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
