//! Process-level differences from runc 1.1.5 / crun 1.8.1 that a scout found
//! (see each test): sessions, exec --cap, session keyrings, socket
//! activation, real-time signals, error lines, exec's cwd and --process,
//! state file modes. Real kernel, root.

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ok, unique_id, Bed, BRIG};
use serde_json::json;

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fields 5 and 6 of /proc/PID/stat: process group and session.
fn pgrp_and_session(pid: i32) -> (i32, i32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

fn read_pid(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A child that is killed and reaped when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Child {
    fn wait_deadline(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < end, "brig did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `run -d` (with `extra` flags), stdio on a file: the container keeps what
/// it inherits, so a pipe would never close. `wrap` may change the command.
fn run_detached(
    bed: &Bed,
    id: &str,
    extra: &[&str],
    wrap: impl FnOnce(Command) -> Command,
) -> std::process::Output {
    bed.write_config();
    bed.track(id);
    let log_path = bed.tmp.path().join(format!("{id}.runlog"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--bundle", bed.bundle.to_str().unwrap(), id]);
    let mut cmd = wrap(bed.command(&args));
    let status = cmd
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: std::fs::read(&log_path).unwrap(),
    }
}

// F1. runc and crun make the init and every exec'd process a session leader:
// the container has no controlling terminal of the caller's (no /dev/tty to
// write to or TIOCSTI into), and is not in the caller's process group.
#[test]
fn init_and_exec_lead_their_own_session() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("scoutp-sid");
    let pidf = bed.tmp.path().join("init.pid");
    ok(&run_detached(
        &bed,
        &id,
        &["--pid-file", pidf.to_str().unwrap()],
        |c| c,
    ));
    let init = read_pid(&pidf);
    assert_eq!(pgrp_and_session(init), (init, init), "the init");
    let execf = bed.tmp.path().join("exec.pid");
    let log = std::fs::File::create(bed.tmp.path().join("exec.log")).unwrap();
    let st = bed
        .command(&[
            "exec",
            "-d",
            "--pid-file",
            execf.to_str().unwrap(),
            &id,
            "sleep",
            "1000",
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    assert!(st.success());
    let p = read_pid(&execf);
    assert_eq!(pgrp_and_session(p), (p, p), "the exec'd process");
}

#[test]
fn container_cannot_open_the_callers_terminal() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "echo x > /dev/tty && echo wrote-tty"]);
    let id = unique_id("scoutp-tty");
    bed.write_config();
    bed.track(&id);
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave.as_raw_fd();
    let out = bed.tmp.path().join("tty.out");
    let mut cmd = bed.command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id]);
    cmd.stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(slave, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let res = cmd.output().unwrap();
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(
        !stdout.contains("wrote-tty"),
        "the container wrote to the caller's terminal; stderr: {stderr}"
    );
    assert!(
        stderr.contains("No such device or address"),
        "stderr: {stderr}"
    );
    drop(pty);
}

fn cap_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("Cap"))
        .map(str::to_string)
        .collect()
}

fn cap_field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:\t")))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
        .to_string()
}

// F3. runc's capabilities.bats "runc exec --cap" and crun's test_exec.py
// exec-add-capability: --cap goes to bounding, effective, permitted, never
// to inheritable or ambient (CVE-2022-29162).
#[test]
fn exec_cap_is_not_inheritable_nor_ambient() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sleep", "1000"]);
    bed.config["process"]["capabilities"] = json!({});
    let id = unique_id("scoutp-cap");
    bed.write_config();
    bed.track(&id);
    ok(&run_detached(&bed, &id, &[], |c| c));
    let out = ok(&bed.brig(&[
        "exec",
        "--cap",
        "CAP_KILL",
        "--cap",
        "CAP_AUDIT_WRITE",
        &id,
        "cat",
        "/proc/self/status",
    ]));
    let caps = cap_lines(&out);
    assert_eq!(cap_field(&out, "CapInh"), "0000000000000000", "{caps:?}");
    assert_eq!(cap_field(&out, "CapAmb"), "0000000000000000", "{caps:?}");
    assert_eq!(cap_field(&out, "CapPrm"), "0000000020000020", "{caps:?}");
    assert_eq!(cap_field(&out, "CapEff"), "0000000020000020", "{caps:?}");
    assert_eq!(cap_field(&out, "CapBnd"), "0000000020000020", "{caps:?}");

    // As uid 1000 the capability does not survive the execve.
    let out = ok(&bed.brig(&[
        "exec",
        "--user",
        "1000:1000",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "cat",
        "/proc/self/status",
    ]));
    let caps = cap_lines(&out);
    for f in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(cap_field(&out, f), "0000000000000000", "{f}: {caps:?}");
    }
}

// Ambient from --cap only when the config's inheritable set has it (runc's
// "[ambient is set from spec]").
#[test]
fn exec_cap_reaches_ambient_when_inheritable_has_it() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sleep", "1000"]);
    let caps = &mut bed.config["process"]["capabilities"];
    for set in ["bounding", "permitted", "inheritable"] {
        match caps[set].as_array_mut() {
            Some(a) => a.push(json!("CAP_SYSLOG")),
            None => caps[set] = json!(["CAP_SYSLOG"]),
        }
    }
    let id = unique_id("scoutp-amb");
    bed.write_config();
    bed.track(&id);
    ok(&run_detached(&bed, &id, &[], |c| c));
    let out = ok(&bed.brig(&[
        "exec",
        "--cap",
        "CAP_SYSLOG",
        &id,
        "cat",
        "/proc/self/status",
    ]));
    assert_eq!(cap_field(&out, "CapAmb"), "0000000400000000", "{out}");
    assert_eq!(cap_field(&out, "CapInh"), "0000000400000000", "{out}");
}

/// keyctl(2) numbers and key ids.
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;

/// `brig ARGS` in a new anonymous session keyring holding a "user" key
/// `desc` that only its possessors can see.
fn in_keyring_with_secret(mut cmd: Command, desc: &str) -> Command {
    let kind = std::ffi::CString::new("user").unwrap();
    let desc = std::ffi::CString::new(desc).unwrap();
    // SAFETY: only syscalls between fork and exec, on strings made before.
    unsafe {
        cmd.pre_exec(move || {
            let null = std::ptr::null::<libc::c_char>();
            if libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, null) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let data = b"host-secret";
            let key = libc::syscall(
                libc::SYS_add_key,
                kind.as_ptr(),
                desc.as_ptr(),
                data.as_ptr(),
                data.len(),
                KEY_SPEC_SESSION_KEYRING,
            );
            // Possessor: all; nobody else: nothing.
            if key < 0 || libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, key, 0x3f00_0000u32) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn keyring_bed(id: &str) -> Bed {
    // /proc/keys lists the keys the reader may view: a possessor-only key
    // only while the container possesses the caller's session keyring.
    let mut bed = Bed::new(&["cat", "/proc/keys"]);
    if let Some(m) = bed.config["linux"]["maskedPaths"].as_array_mut() {
        m.retain(|p| p != "/proc/keys");
    }
    bed.write_config();
    bed.track(id);
    bed
}

// F18. runc and crun give each container a new session keyring: it does not
// possess the keys of the caller's session keyring.
#[test]
fn container_does_not_share_the_callers_session_keyring() {
    if common::skip_without_root() {
        return;
    }
    let id = unique_id("scoutp-key");
    let bed = keyring_bed(&id);
    let desc = format!("brig-scout-secret-{}", std::process::id());
    let cmd = bed.command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id]);
    let out = ok(&in_keyring_with_secret(cmd, &desc).output().unwrap());
    assert!(
        !out.contains(&desc),
        "the container sees the host's key: {out}"
    );
    assert!(out.contains(&format!("_ses.{id}")), "no own keyring: {out}");

    // exec joins the container's keyring by name, not the caller's.
    let id2 = unique_id("scoutp-key");
    bed.track(&id2);
    let mut bed2 = keyring_bed(&id2);
    bed2.config["process"]["args"] = json!(["sleep", "1000"]);
    bed2.write_config();
    ok(&run_detached(&bed2, &id2, &[], |c| {
        in_keyring_with_secret(c, &desc)
    }));
    let cmd = bed2.command(&["exec", &id2, "cat", "/proc/keys"]);
    let out = ok(&in_keyring_with_secret(cmd, &desc).output().unwrap());
    assert!(!out.contains(&desc), "exec sees the host's key: {out}");
    assert!(
        out.contains(&format!("_ses.{id2}")),
        "no own keyring: {out}"
    );
}

// runc's --no-new-keyring keeps the caller's keyring.
#[test]
fn no_new_keyring_keeps_the_callers_keyring() {
    if common::skip_without_root() {
        return;
    }
    let id = unique_id("scoutp-nokey");
    let bed = keyring_bed(&id);
    let desc = format!("brig-scout-kept-{}", std::process::id());
    let cmd = bed.command(&[
        "run",
        "--no-new-keyring",
        "--no-subreaper",
        "--bundle",
        bed.bundle.to_str().unwrap(),
        &id,
    ]);
    let out = ok(&in_keyring_with_secret(cmd, &desc).output().unwrap());
    assert!(out.contains(&desc), "{out}");
}

// F4. Systemd socket activation, as runc: fds 3.. and LISTEN_FDS/LISTEN_PID.
#[test]
fn socket_activation_fds_and_env_reach_the_container() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&[
        "sh",
        "-c",
        "echo \"fds=$LISTEN_FDS pid=$LISTEN_PID\"; cat <&3",
    ]);
    let id = unique_id("scoutp-lfd");
    bed.write_config();
    bed.track(&id);
    let sock = bed.tmp.path().join("activated");
    std::fs::write(&sock, "activation-data\n").unwrap();
    let f = std::fs::File::open(&sock).unwrap();
    let fd = f.as_raw_fd();
    let script = format!(
        "export LISTEN_FDS=1 LISTEN_PID=$$; exec {BRIG} --root {} run --bundle {} {id}",
        bed.root.display(),
        bed.bundle.display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]).stdin(Stdio::null());
    // SAFETY: dup2 only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec.
            let r = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = ok(&cmd.output().unwrap());
    assert_eq!(out, "fds=1 pid=1\nactivation-data\n");
}

// Not ours (LISTEN_PID is another process's): nothing is passed, as runc.
#[test]
fn socket_activation_for_another_pid_is_ignored() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "echo \"fds=$LISTEN_FDS\""]);
    let id = unique_id("scoutp-lfd");
    bed.write_config();
    bed.track(&id);
    let out = ok(&bed
        .command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1")
        .output()
        .unwrap());
    assert_eq!(out, "fds=\n");
}

// F6. A real-time signal to a foreground run is forwarded (systemd stops
// with SIGRTMIN+3), as runc does.
#[test]
fn run_forwards_realtime_signals() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&[
        "sh",
        "-c",
        "trap 'echo got-37; exit 5' 37; echo ready; while true; do sleep 0.1; done",
    ]);
    let id = unique_id("scoutp-rt");
    bed.write_config();
    bed.track(&id);
    let out = bed.tmp.path().join("rt.out");
    let errf = bed.tmp.path().join("rt.err");
    // Files, not pipes: a container that outlives brig keeps them open.
    let mut child = Child(
        bed.command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&errf).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("ready", || {
        std::fs::read_to_string(&out).unwrap().contains("ready")
    });
    // SAFETY: kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, 37) }, 0);
    let st = child.wait_deadline();
    let err = std::fs::read_to_string(&errf).unwrap();
    assert_eq!(st.code(), Some(5), "stderr: {err}");
    assert!(std::fs::read_to_string(&out).unwrap().contains("got-37"));
}

// A container process killed by a real-time signal: run returns 128+n (nix
// cannot decode that wait status).
#[test]
fn run_reports_death_by_realtime_signal() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sh", "-c", "echo ready; exec sleep 1000"]);
    // In the host pid namespace, so that the signal's default action kills.
    if let Some(ns) = bed.config["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "pid");
    }
    let id = unique_id("scoutp-rtdie");
    bed.write_config();
    bed.track(&id);
    let out = bed.tmp.path().join("rtdie.out");
    let mut child = Child(
        bed.command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id])
            .stdout(std::fs::File::create(&out).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("ready", || {
        std::fs::read_to_string(&out).unwrap().contains("ready")
    });
    bed.wait_status(&id, "running");
    ok(&bed.brig(&["kill", &id, "40"]));
    assert_eq!(child.wait_deadline().code(), Some(128 + 40));
}

// F7. kill takes the numbers of real-time signals, as runc.
#[test]
fn kill_accepts_realtime_signal_numbers() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "trap '' 34 37 64; echo ready; sleep 1000"]);
    let id = unique_id("scoutp-kill");
    let out = bed.create(&id);
    ok(&out);
    ok(&bed.brig(&["start", &id]));
    wait_for("ready", || bed.container_output(&id).contains("ready"));
    for sig in ["34", "37", "64"] {
        ok(&bed.brig(&["kill", &id, sig]));
    }
    assert_eq!(bed.status(&id), "running");
}

// F15. runc's run.bats/exec.bats "[execve error]": one line, naming the program.
#[test]
fn failed_execve_is_reported_once() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["/run.sh"]);
    let script = bed.bundle.join("rootfs/run.sh");
    std::fs::write(&script, "#!/mmnnttbb foo bar\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let id = unique_id("scoutp-execve");
    let out = bed.run(&id);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(err.contains("exec /run.sh"), "stderr: {err}");
}

// F11. exec --cwd of a missing directory fails, as runc's, and makes nothing.
#[test]
fn exec_cwd_missing_fails_and_creates_nothing() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("scoutp-cwd");
    bed.write_config();
    bed.track(&id);
    ok(&run_detached(&bed, &id, &[], |c| c));
    let out = bed.brig(&["exec", "--cwd", "/scout-newdir", &id, "pwd"]);
    common::fails_with(&out, "cwd");
    assert!(!bed.bundle.join("rootfs/scout-newdir").exists());
}

// F16. exec --process FILE with a command runs the file's process (runc
// ignores the arguments).
#[test]
fn exec_process_file_wins_over_arguments() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("scoutp-pfile");
    bed.write_config();
    bed.track(&id);
    ok(&run_detached(&bed, &id, &[], |c| c));
    let mut process = bed.config["process"].clone();
    process["args"] = json!(["echo", "from-process-file"]);
    let pf = bed.tmp.path().join("process.json");
    std::fs::write(&pf, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = ok(&bed.brig(&[
        "exec",
        "--process",
        pf.to_str().unwrap(),
        &id,
        "echo",
        "extra",
    ]));
    assert_eq!(out, "from-process-file\n");
}

// F17. runc: the state root 0700, state.json 0600.
#[test]
fn state_root_and_file_are_private() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("scoutp-mode");
    ok(&bed.create(&id));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&bed.root), 0o700);
    assert_eq!(mode(&bed.root.join(&id)), 0o711);
    assert_eq!(mode(&bed.root.join(&id).join("state.json")), 0o600);
    ok(&bed.brig(&["start", &id]));
    assert_eq!(mode(&bed.root.join(&id).join("state.json")), 0o600);
}

// F6 for exec: the same relay.
#[test]
fn exec_forwards_realtime_signals() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("scoutp-rtx");
    ok(&run_detached(&bed, &id, &[], |c| c));
    let out = bed.tmp.path().join("rtx.out");
    let errf = bed.tmp.path().join("rtx.err");
    let mut child = Child(
        bed.command(&[
            "exec",
            &id,
            "sh",
            "-c",
            "trap 'echo got-40; exit 6' 40; echo ready; while true; do sleep 0.1; done",
        ])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&errf).unwrap())
        .spawn()
        .unwrap(),
    );
    wait_for("ready", || {
        std::fs::read_to_string(&out).unwrap().contains("ready")
    });
    // SAFETY: kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, 40) }, 0);
    let st = child.wait_deadline();
    let err = std::fs::read_to_string(&errf).unwrap();
    assert_eq!(st.code(), Some(6), "stderr: {err}");
    assert!(std::fs::read_to_string(&out).unwrap().contains("got-40"));
}

/// The pid a pidfd refers to, from /proc/self/fdinfo.
fn pidfd_pid(fd: &std::os::fd::OwnedFd) -> i32 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .expect("a pidfd's fdinfo has Pid:")
        .trim()
        .parse()
        .unwrap()
}

/// runc 1.2's `--pidfd-socket` (its pidfd-socket.bats): create and exec send a
/// pidfd of the process they started, and a signal through it reaches that
/// process. A socket nobody listens on fails create by the flag's name, and
/// leaves nothing behind.
#[test]
fn pidfd_socket_gets_a_pidfd_of_the_process() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "100"]);
    let sock = bed.tmp.path().join("pidfd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let sock = sock.to_str().unwrap();
    let id = unique_id("pidfd");
    bed.write_config();
    let mut create = bed.create_cmd(&id);
    create.args(["--pidfd-socket", sock]);
    let status = create.status().unwrap();
    let out = bed.create_output(&id, status);
    assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (name, init_fd) = common::recv_fd(&listener);
    assert_eq!(name, "pidfd");
    let init = bed.state(&id)["pid"].as_i64().unwrap() as i32;
    assert_eq!(pidfd_pid(&init_fd), init);

    ok(&bed.brig(&["start", &id]));
    let pid_file = bed.tmp.path().join("exec.pid");
    let status = bed
        .command(&["exec", "-d", "--pid-file", pid_file.to_str().unwrap()])
        .args(["--pidfd-socket", sock, &id, "sleep", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (_, exec_fd) = common::recv_fd(&listener);
    assert_eq!(pidfd_pid(&exec_fd), read_pid(&pid_file));

    // exec whose socket nobody listens on: an error by the flag's name, and
    // the process it started, which nobody was told of, is killed.
    let procs = || {
        common::default_cgroup_dirs(&id)
            .iter()
            .find_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .map_or(0, |p| p.lines().count())
    };
    assert_eq!(procs(), 2, "the init and the exec'd sleep");
    let nobody = bed.tmp.path().join("nobody.sock");
    let out = bed
        .command(&["exec", "-d", "--pidfd-socket", nobody.to_str().unwrap()])
        .args([&id, "sleep", "100"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    common::fails_with(&out, "--pidfd-socket");
    wait_for("the unannounced exec'd process to die", || procs() == 2);

    // SAFETY: pidfd_send_signal(2) on a live pidfd, no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            init_fd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    bed.wait_status(&id, "stopped");

    let id = unique_id("pidfd");
    let mut create = bed.create_cmd(&id);
    create.args(["--pidfd-socket", nobody.to_str().unwrap()]);
    let status = create.status().unwrap();
    common::fails_with(&bed.create_output(&id, status), "--pidfd-socket");
    common::assert_no_trace(&bed, &id);
}
