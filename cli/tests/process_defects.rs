//! Regression tests for the container init's last steps, hooks, capabilities
//! and seccomp (issue 14: S3, H2, H3, E1, E2, E4, E5, U1, U2, U7; issue 17
//! item 7). Each runs real containers from a busybox bundle.

mod common;

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Run `cmd` with `file` open on fd 7, not close-on-exec: what a shell's
/// `exec 7<file; brig ...` gives brig.
fn with_fd7<'a>(cmd: &'a mut Command, file: &std::fs::File) -> &'a mut Command {
    let raw = file.as_raw_fd();
    // SAFETY: dup2 in the forked child, before its exec; no allocation.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Wait for a child with a deadline; kill it (and fail) past it, so that a
/// regression that hangs fails the test instead of hanging the suite.
fn wait_deadline(mut child: Child, secs: u64, what: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what}: still running after {secs}s (hang); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_run(bed: &Bed, id: &str, extra: &[&str]) -> Child {
    bed.write_config();
    bed.track(id);
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend(["--bundle", bed.bundle.to_str().unwrap(), id]);
    bed.command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Put the container in a user namespace (root = host 100000), with a rootfs
/// its root may enter and write.
fn in_userns(bed: &mut Bed) {
    bed.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    bed.config["linux"]["uidMappings"] = map.clone();
    bed.config["linux"]["gidMappings"] = map;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bed.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["rootfs", "rootfs/tmp"] {
        std::os::unix::fs::chown(bed.bundle.join(d), Some(100000), Some(100000)).unwrap();
    }
}

fn hook(path: &str, script: &str) -> Value {
    json!({"path": path, "args": ["sh", "-c", script]})
}

// ---- S3: no host fd reaches a hook, the container or an exec'd process ----

/// Every hook kind, and the container process, say whether they have fd 7.
fn fd_bed(out: &std::path::Path) -> Bed {
    let mut bed = Bed::new(&[
        "sh",
        "-c",
        "if [ -e /proc/self/fd/7 ]; then echo container:fd7; else echo container:none; fi",
    ]);
    let o = out.display();
    let host = |phase: &str| {
        hook(
            "/bin/sh",
            &format!(
                "if [ -e /proc/self/fd/7 ]; then echo {phase}:fd7; else echo {phase}:none; fi >> {o}"
            ),
        )
    };
    // startContainer runs in the container after pivot_root: its path and
    // output are the container's (/tmp of the writable rootfs).
    let inside = hook(
        "/bin/sh",
        "if [ -e /proc/self/fd/7 ]; then echo startContainer:fd7; else echo startContainer:none; fi >> /tmp/hooks.out",
    );
    bed.config["hooks"] = json!({
        "prestart": [host("prestart")],
        "createRuntime": [host("createRuntime")],
        "createContainer": [host("createContainer")],
        "startContainer": [inside],
        "poststart": [host("poststart")],
        "poststop": [host("poststop")],
    });
    bed
}

fn hook_lines(bed: &Bed, out: &std::path::Path) -> String {
    let mut s = std::fs::read_to_string(out).unwrap_or_default();
    s.push_str(
        &std::fs::read_to_string(bed.bundle.join("rootfs/tmp/hooks.out")).unwrap_or_default(),
    );
    s
}

#[test]
fn no_inherited_fd_reaches_a_hook_or_the_container() {
    if skip_without_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("hooks.out");
    let bed = fd_bed(&out);
    let secret = std::fs::File::open("/etc/hostname").unwrap();
    let id = unique_id("proc-fd");
    bed.write_config();
    bed.track(&id);
    let mut cmd = bed.command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id]);
    let run = with_fd7(&mut cmd, &secret).output().unwrap();
    let stdout = ok(&run);
    assert!(stdout.contains("container:none"), "{stdout}");
    let seen = hook_lines(&bed, &out);
    for phase in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(
            seen.contains(&format!("{phase}:none")),
            "{phase} hook: {seen}"
        );
    }
    assert!(!seen.contains("fd7"), "{seen}");
}

#[test]
fn preserved_fds_reach_the_container_but_no_hook() {
    if skip_without_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("hooks.out");
    let bed = fd_bed(&out);
    let secret = std::fs::File::open("/etc/hostname").unwrap();
    let id = unique_id("proc-pfd");
    bed.write_config();
    bed.track(&id);
    let mut cmd = bed.command(&[
        "run",
        "--preserve-fds",
        "5",
        "--bundle",
        bed.bundle.to_str().unwrap(),
        &id,
    ]);
    let run = with_fd7(&mut cmd, &secret).output().unwrap();
    let stdout = ok(&run);
    assert!(stdout.contains("container:fd7"), "{stdout}");
    let seen = hook_lines(&bed, &out);
    assert!(!seen.contains("fd7"), "a hook got a preserved fd: {seen}");
    assert_eq!(seen.matches(":none").count(), 6, "{seen}");
}

#[test]
fn no_inherited_fd_reaches_an_exec_process() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "100"]);
    let id = unique_id("proc-xfd");
    ok(&bed.brig_run_detached(&id));
    let secret = std::fs::File::open("/etc/hostname").unwrap();
    let mut cmd = bed.command(&[
        "exec",
        &id,
        "sh",
        "-c",
        "ls /proc/self/fd/7 2>&1 || echo none",
    ]);
    let out = with_fd7(&mut cmd, &secret).output().unwrap();
    let text = ok(&out);
    assert!(text.contains("none"), "{text}");
}

trait Detached {
    fn brig_run_detached(&self, id: &str) -> Output;
}

impl Detached for Bed {
    fn brig_run_detached(&self, id: &str) -> Output {
        self.write_config();
        self.track(id);
        // Stdio on files: the container keeps what it inherits.
        let log = std::fs::File::create(self.tmp.path().join(format!("{id}.log"))).unwrap();
        let status = self
            .command(&["run", "-d", "--bundle", self.bundle.to_str().unwrap(), id])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .unwrap();
        Output {
            status,
            stdout: Vec::new(),
            stderr: std::fs::read(self.tmp.path().join(format!("{id}.log"))).unwrap(),
        }
    }
}

// ---- issue 17 item 7: hooks that write a lot, or leave a child behind ----

#[test]
fn a_hook_writing_more_than_a_pipe_holds_does_not_hang_create() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    bed.config["hooks"] = json!({
        "prestart": [hook("/bin/sh", "head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2; exit 0")],
        "createContainer": [hook("/bin/sh", "head -c 300000 /dev/zero; exit 0")],
    });
    let id = unique_id("proc-hookout");
    let out = wait_deadline(spawn_run(&bed, &id, &[]), 60, "run with a chatty hook");
    ok(&out);
}

#[test]
fn a_failing_chatty_hook_reports_its_stderr_and_its_timeout_holds() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    bed.config["hooks"] = json!({
        "prestart": [hook("/bin/sh", "head -c 300000 /dev/zero; echo hook-says-no >&2; exit 3")],
    });
    let id = unique_id("proc-hookfail");
    let out = wait_deadline(spawn_run(&bed, &id, &[]), 60, "run with a failing hook");
    fails_with(&out, "exited with status 3: hook-says-no");
    assert_no_trace(&bed, &id);

    // A hook that never stops writing still meets its timeout.
    let mut h = hook("/bin/sh", "while :; do head -c 65536 /dev/zero; done");
    h["timeout"] = json!(1);
    bed.config["hooks"] = json!({ "prestart": [h] });
    let id = unique_id("proc-hooktime");
    let out = wait_deadline(spawn_run(&bed, &id, &[]), 60, "run with an endless hook");
    fails_with(&out, "timed out after 1s");
    assert_no_trace(&bed, &id);
}

#[test]
fn a_hook_whose_child_keeps_its_pipes_does_not_hang_create() {
    if skip_without_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("bg.pid");
    let mut bed = Bed::new(&["true"]);
    // The background sleep inherits stdout and stderr and outlives the hook.
    bed.config["hooks"] = json!({
        "prestart": [hook("/bin/sh", &format!("sleep 60 & echo $! > {}; exit 0", pidfile.display()))],
    });
    /// Kills the hook's background child however the test ends.
    struct KillBg(std::path::PathBuf);
    impl Drop for KillBg {
        fn drop(&mut self) {
            if let Some(pid) = std::fs::read_to_string(&self.0)
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    let _bg = KillBg(pidfile.clone());
    let id = unique_id("proc-hookbg");
    let out = wait_deadline(
        spawn_run(&bed, &id, &[]),
        30,
        "run with a hook's child holding its pipes",
    );
    ok(&out);
}

// ---- U2: a hook with no env gets the runtime's environment ----

#[test]
fn hooks_without_env_get_the_runtimes_environment() {
    if skip_without_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().display();
    let mut bed = Bed::new(&["true"]);
    bed.config["process"]["env"] = json!(["PATH=/bin", "IN_CONTAINER=yes"]);
    let mut with_env = hook(
        "/bin/sh",
        &format!("echo with:$BRIG_HOOK_ENV_MARK:$ONLY > {o}/with"),
    );
    with_env["env"] = json!(["ONLY=this"]);
    bed.config["hooks"] = json!({
        "prestart": [
            hook("/bin/sh", &format!("echo pre:$BRIG_HOOK_ENV_MARK > {o}/pre")),
            with_env,
        ],
        "poststop": [hook("/bin/sh", &format!("echo post:$BRIG_HOOK_ENV_MARK > {o}/post"))],
        // In the container: the container process's environment, not brig's.
        "startContainer": [hook("/bin/sh", "echo start:$BRIG_HOOK_ENV_MARK:$IN_CONTAINER > /tmp/start")],
    });
    bed.write_config();
    let id = unique_id("proc-hookenv");
    bed.track(&id);
    let out = bed
        .command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id])
        .env("BRIG_HOOK_ENV_MARK", "mark42")
        .output()
        .unwrap();
    ok(&out);
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    assert_eq!(read(tmp.path().join("pre")), "pre:mark42\n");
    assert_eq!(read(tmp.path().join("post")), "post:mark42\n");
    assert_eq!(read(tmp.path().join("with")), "with::this\n");
    assert_eq!(read(bed.bundle.join("rootfs/tmp/start")), "start::yes\n");
}

// ---- U1: HOME from the container's /etc/passwd ----

#[test]
fn home_comes_from_the_containers_passwd() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sh", "-c", "echo HOME=$HOME"]);
    std::fs::write(
        bed.bundle.join("rootfs/etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
    )
    .unwrap();
    bed.config["process"]["env"] = json!(["PATH=/bin"]);
    let id = unique_id("proc-home");
    assert_eq!(ok(&bed.run(&id)), "HOME=/root\n");

    bed.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let id = unique_id("proc-home");
    assert_eq!(ok(&bed.run(&id)), "HOME=/home/u\n");

    // A uid with no entry: "/", as runc.
    bed.config["process"]["user"] = json!({"uid": 1234, "gid": 1234});
    let id = unique_id("proc-home");
    assert_eq!(ok(&bed.run(&id)), "HOME=/\n");

    // The config's own HOME wins.
    bed.config["process"]["env"] = json!(["PATH=/bin", "HOME=/mine"]);
    let id = unique_id("proc-home");
    assert_eq!(ok(&bed.run(&id)), "HOME=/mine\n");

    // exec, as root and as another user.
    bed.config["process"]["user"] = json!({"uid": 0, "gid": 0});
    bed.config["process"]["env"] = json!(["PATH=/bin"]);
    bed.config["process"]["args"] = json!(["sleep", "100"]);
    let id = unique_id("proc-home");
    ok(&bed.brig_run_detached(&id));
    let sh = ["sh", "-c", "echo HOME=$HOME"];
    let exec = |user: Option<&str>| {
        let mut a = vec!["exec"];
        if let Some(u) = user {
            a.extend(["-u", u]);
        }
        a.push(&id);
        a.extend(sh);
        ok(&bed.brig(&a))
    };
    assert_eq!(exec(None), "HOME=/root\n");
    assert_eq!(exec(Some("1000:1000")), "HOME=/home/u\n");
    assert_eq!(exec(Some("1234:1234")), "HOME=/\n");
}

// ---- E1, E2: capabilities ----

fn caps_of(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

const KILL: u64 = 1 << 5;
const NET_BIND_SERVICE: u64 = 1 << 10;

#[test]
fn inheritable_caps_need_not_be_permitted() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["cat", "/proc/self/status"]);
    for nnp in [true, false] {
        bed.config["process"]["noNewPrivileges"] = json!(nnp);
        bed.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        bed.config["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_KILL"],
        });
        let id = unique_id("proc-inh");
        let st = ok(&bed.run(&id));
        assert_eq!(caps_of(&st, "CapInh:"), KILL | NET_BIND_SERVICE, "{st}");
        assert_eq!(caps_of(&st, "CapPrm:"), KILL, "{st}");
        assert_eq!(caps_of(&st, "CapEff:"), KILL, "{st}");
        assert_eq!(caps_of(&st, "CapAmb:"), KILL, "{st}");
    }
}

#[test]
fn unknown_capabilities_are_a_warning() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["cat", "/proc/self/status"]);
    bed.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_FOO"],
        "effective": ["CAP_KILL", "CAP_FOO"],
        "permitted": ["CAP_KILL", "CAP_FOO", "CAP_BAR"],
    });
    let id = unique_id("proc-capfoo");
    let out = bed.run(&id);
    let st = ok(&out);
    assert_eq!(caps_of(&st, "CapBnd:"), KILL, "{st}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: ignoring unknown or unavailable capabilities: [CAP_FOO CAP_BAR]"),
        "{err}"
    );

    // exec --cap, and exec --process.
    bed.config["process"]["args"] = json!(["sleep", "100"]);
    let id = unique_id("proc-capfoo");
    ok(&bed.brig_run_detached(&id));
    let out = bed.brig(&[
        "exec",
        "--cap",
        "CAP_FOO",
        "--cap",
        "CAP_NET_BIND_SERVICE",
        &id,
        "cat",
        "/proc/self/status",
    ]);
    let st = ok(&out);
    assert_ne!(caps_of(&st, "CapBnd:") & NET_BIND_SERVICE, 0, "{st}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("[CAP_FOO]"));
    let pj = bed.tmp.path().join("process.json");
    std::fs::write(
        &pj,
        serde_json::to_vec(&json!({
            "args": ["cat", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/bin"],
            "capabilities": {"bounding": ["CAP_KILL", "CAP_NOPE"], "effective": ["CAP_KILL"],
                             "permitted": ["CAP_KILL"]}
        }))
        .unwrap(),
    )
    .unwrap();
    let out = bed.brig(&["exec", "--process", pj.to_str().unwrap(), &id]);
    let st = ok(&out);
    assert_eq!(caps_of(&st, "CapBnd:"), KILL, "{st}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("[CAP_NOPE]"));
}

// ---- H3: after the seccomp load brig makes no syscall a profile can deny ----

/// Every syscall brig's init and exec made after loading the filter, and the
/// ones around the user switch, denied; the program itself needs none of them.
const DENIED: &[&str] = &[
    "close_range",
    "capset",
    "capget",
    "setresuid",
    "setresgid",
    "setgroups",
    "setuid",
    "setgid",
    "prctl",
    "umask",
    "chdir",
    "rt_sigprocmask",
    "seccomp",
    "fcntl",
    "socket",
    "connect",
    "getpid",
];

#[test]
fn a_profile_denying_what_brig_used_after_loading_does_not_stop_the_program() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["echo", "ran"]);
    for nnp in [false, true] {
        for uid in [0, 1000] {
            bed.config["process"]["noNewPrivileges"] = json!(nnp);
            bed.config["process"]["user"] = json!({"uid": uid, "gid": uid});
            bed.config["process"]["args"] = json!(["echo", "ran"]);
            bed.config["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": DENIED, "action": "SCMP_ACT_ERRNO"}],
            });
            let id = unique_id("proc-deny");
            assert_eq!(ok(&bed.run(&id)), "ran\n", "nnp {nnp} uid {uid}");

            // The same for exec.
            bed.config["process"]["args"] = json!(["sleep", "100"]);
            let id = unique_id("proc-deny");
            ok(&bed.brig_run_detached(&id));
            let u = format!("{uid}:{uid}");
            assert_eq!(
                ok(&bed.brig(&["exec", "-u", &u, &id, "echo", "exec-ran"])),
                "exec-ran\n",
                "exec, nnp {nnp} uid {uid}"
            );
            let _ = bed.brig(&["delete", "--force", &id]);
        }
    }
}

#[test]
fn the_same_in_a_user_namespace() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["echo", "ran"]);
    in_userns(&mut bed);
    for nnp in [false, true] {
        bed.config["process"]["noNewPrivileges"] = json!(nnp);
        bed.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        bed.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": DENIED, "action": "SCMP_ACT_ERRNO"}],
        });
        let id = unique_id("proc-denyns");
        assert_eq!(ok(&bed.run(&id)), "ran\n", "nnp {nnp}");
    }
}

#[test]
fn without_no_new_privs_no_cap_leaks_from_the_seccomp_load() {
    if skip_without_root() {
        return;
    }
    // CAP_SYS_ADMIN is kept until the execve for the load; the program must not have it.
    let mut bed = Bed::new(&["cat", "/proc/self/status"]);
    bed.config["process"]["noNewPrivileges"] = json!(false);
    bed.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
    });
    const SYS_ADMIN: u64 = 1 << 21;
    for uid in [0, 1000] {
        bed.config["process"]["user"] = json!({"uid": uid, "gid": uid});
        let id = unique_id("proc-sysadmin");
        let st = ok(&bed.run(&id));
        for f in ["CapPrm:", "CapEff:", "CapBnd:", "CapInh:", "CapAmb:"] {
            assert_eq!(caps_of(&st, f) & SYS_ADMIN, 0, "uid {uid} {f}: {st}");
        }
        assert!(st.contains("Seccomp:\t2"), "{st}");
    }
}

// ---- E4, E5: architectures ----

#[test]
fn architectures_always_include_the_native_one_and_skip_foreign_ones() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sh", "-c", "mkdir /tmp/d 2>&1; echo survived"]);
    for arches in [
        json!(["SCMP_ARCH_X86"]),
        json!(["SCMP_ARCH_X32"]),
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]),
        json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
    ] {
        bed.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": arches,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
        });
        let id = unique_id("proc-arch");
        let out = ok(&bed.run(&id));
        assert!(out.contains("Operation not permitted"), "{arches}: {out}");
        assert!(out.contains("survived"), "{arches}: {out}");
    }
}

// ---- H2: SCMP_ACT_NOTIFY on syscalls brig itself uses ----

#[repr(C)]
#[derive(Default, Debug)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}
#[repr(C)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}
const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;

/// A seccomp agent: for each connection, take the listener and let every
/// notified syscall continue until the filter has no process left (POLLHUP).
/// Returns how many notifications each listener served, when `stop` is set.
fn continuing_agent(
    listener: UnixListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<usize> {
    use std::sync::atomic::Ordering;
    listener.set_nonblocking(true).unwrap();
    let mut served = Vec::new();
    let mut workers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        conn.set_nonblocking(false).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let (_, fd) =
            brig_runtime::security::seccomp::recv_fd(std::os::fd::AsFd::as_fd(&conn), &mut buf)
                .unwrap();
        let fd: OwnedFd = fd.expect("the listener came with the state");
        workers.push(std::thread::spawn(move || {
            let mut n = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut pfd, 1, 200) } <= 0 {
                    continue;
                }
                if pfd.revents & libc::POLLIN == 0 {
                    break; // POLLHUP: no process left under the filter
                }
                let mut notif = SeccompNotif::default();
                // SAFETY: a zeroed struct seccomp_notif, as the ioctl requires.
                if unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut notif) } != 0
                {
                    continue;
                }
                let mut resp = SeccompNotifResp {
                    id: notif.id,
                    val: 0,
                    error: 0,
                    flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE,
                };
                // SAFETY: the response to the notification just received.
                unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
                n += 1;
            }
            n
        }));
    }
    for w in workers {
        served.push(w.join().unwrap());
    }
    served
}

#[test]
fn notify_on_syscalls_brig_uses_does_not_hang() {
    if skip_without_root() {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let agent = {
        let stop = stop.clone();
        std::thread::spawn(move || continuing_agent(listener, stop))
    };
    let mut bed = Bed::new(&["sh", "-c", "mkdir /tmp/made && echo made"]);
    let notified = [
        "execve",
        "openat",
        "read",
        "close",
        "mkdir",
        "mkdirat",
        "prctl",
        "capset",
        "setresuid",
        "close_range",
        "rt_sigprocmask",
        "exit_group",
        "brk",
        "mmap",
    ];
    let mut results = Vec::new();
    for nnp in [true, false] {
        notify_round(&mut bed, &sock, &notified, nnp, &mut results);
    }
    // In a user namespace: the agent's socket is reached before it is made.
    in_userns(&mut bed);
    notify_round(&mut bed, &sock, &notified, false, &mut results);
    stop.store(true, Ordering::SeqCst);
    let served = agent.join().unwrap();
    for (i, out) in results.iter().enumerate() {
        let text = ok(out);
        let want = if i % 2 == 0 { "made\n" } else { "exec-ran\n" };
        assert_eq!(text, want, "{i}");
    }
    assert!(
        served.iter().all(|n| *n > 0),
        "the agent was asked nothing: {served:?}"
    );
}

/// `run` and `exec` under a profile that notifies on `notified`.
fn notify_round(
    bed: &mut Bed,
    sock: &std::path::Path,
    notified: &[&str],
    nnp: bool,
    results: &mut Vec<Output>,
) {
    bed.config["process"]["noNewPrivileges"] = json!(nnp);
    let script = format!("mkdir /tmp/made-{} && echo made", results.len());
    bed.config["process"]["args"] = json!(["sh", "-c", script]);
    bed.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "syscalls": [{"names": notified, "action": "SCMP_ACT_NOTIFY"}],
    });
    let id = unique_id("proc-notify");
    let out = wait_deadline(spawn_run(bed, &id, &[]), 60, "run with NOTIFY");
    results.push(out);
    // exec, in a container whose init sleeps.
    bed.config["process"]["args"] = json!(["sleep", "100"]);
    let id = unique_id("proc-notify");
    ok(&bed.brig_run_detached(&id));
    let exec = bed
        .command(&["exec", &id, "sh", "-c", "echo exec-ran"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    results.push(wait_deadline(exec, 60, "exec with NOTIFY"));
    let _ = bed.brig(&["delete", "--force", &id]);
}

// ---- U7: the terminal belongs to the process's user ----

#[test]
fn the_terminal_belongs_to_the_containers_user() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sh", "-c", "stat -c %u:%g $(tty)"]);
    bed.config["process"]["terminal"] = json!(true);
    bed.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    bed.write_config();
    let id = unique_id("proc-tty");
    bed.track(&id);
    fn run(bed: &Bed, args: &[&str]) -> String {
        let mut child = bed
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(b"");
        let out = wait_deadline(child, 30, "run -t");
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }
    let text = run(
        &bed,
        &["run", "--bundle", bed.bundle.to_str().unwrap(), &id],
    );
    assert!(text.starts_with("1000:"), "{text}");
    assert!(
        !text.starts_with("1000:1000"),
        "the group stays devpts' tty group: {text}"
    );

    // exec -t -u
    bed.config["process"]["terminal"] = json!(false);
    bed.config["process"]["user"] = json!({"uid": 0, "gid": 0});
    bed.config["process"]["args"] = json!(["sleep", "100"]);
    let id = unique_id("proc-tty");
    ok(&bed.brig_run_detached(&id));
    let text = run(
        &bed,
        &[
            "exec",
            "-t",
            "-u",
            "1000:1000",
            &id,
            "sh",
            "-c",
            "stat -c %u $(tty)",
        ],
    );
    assert_eq!(text.trim(), "1000", "{text}");
}
