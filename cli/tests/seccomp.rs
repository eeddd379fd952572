//! brig's seccomp filters on the real kernel: a child process compiles and loads
//! a profile (with no_new_privs, so no privilege is needed), then execs busybox or
//! makes raw syscalls, and the parent checks what the kernel did.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use brig_runtime::security::seccomp::{self, Program};
use oci_spec::runtime::{ContainerProcessState, LinuxSeccomp, State};
use serde_json::{json, Value};

const BUSYBOX: &str = "/bin/busybox";
const SIGSYS: i32 = libc::SIGSYS;

fn compile(v: Value) -> Program {
    let s: LinuxSeccomp = serde_json::from_value(v).expect("a valid linux.seccomp");
    seccomp::compile(&s).expect("compiles")
}

fn busybox() -> Command {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: apt-get install busybox-static (scripts/test does)"
    );
    Command::new(BUSYBOX)
}

/// Set no_new_privs and load the filter in the child, right before its exec.
fn with_filter(cmd: &mut Command, p: Program) -> &mut Command {
    // SAFETY: the closure runs in the forked child; it makes two syscalls and
    // allocates only on error.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_no_new_privs()?;
            seccomp::load(&p).map_err(|e| io::Error::other(e.to_string()))?;
            Ok(())
        })
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("spawn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run `f` in a forked child under the filter; the child's exit code is what
/// `f` returns. For raw syscalls busybox cannot make.
fn in_child(p: Program, f: fn() -> i32) -> std::process::ExitStatus {
    let mut cmd = Command::new("/bin/true");
    // SAFETY: runs in the forked child and ends it with _exit: nothing of the
    // parent's state is used after the filter is loaded.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_no_new_privs()?;
            seccomp::load(&p).map_err(|e| io::Error::other(e.to_string()))?;
            libc::_exit(f())
        });
    }
    cmd.stdin(Stdio::null()).status().expect("spawn")
}

#[test]
fn errno_eperm_for_mkdir_while_other_syscalls_work() {
    let dir = tempfile::tempdir().unwrap();
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
    let out = run(with_filter(
        busybox().args(["mkdir", "made"]).current_dir(dir.path()),
        compile(profile.clone()),
    ));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    assert!(!dir.path().join("made").exists());

    let out = run(with_filter(
        busybox()
            .args(["sh", "-c", "touch f && echo hi > f && cat f && ls"])
            .current_dir(dir.path()),
        compile(profile),
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "hi\nf\n");
}

#[test]
fn an_allow_list_of_every_other_syscall_on_three_architectures() {
    // The shape of Docker's default profile: default ERRNO, a long allow list
    // (here every x86_64 syscall but mkdir and mkdirat), rules with args, three
    // architectures. Big enough for the search tree and far jumps to matter.
    let names: Vec<&str> = seccomp::Target::X86_64
        .syscalls()
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !["mkdir", "mkdirat", "personality"].contains(n))
        .collect();
    let mut rules = vec![json!({"names": names, "action": "SCMP_ACT_ALLOW"})];
    for v in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        rules.push(json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}));
    }
    let profile = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules});
    let dir = tempfile::tempdir().unwrap();
    let out = run(with_filter(
        busybox()
            .args([
                "sh",
                "-c",
                "touch f; ls; linux32 true && echo linux32 ok; mkdir d || echo mkdir failed",
            ])
            .current_dir(dir.path()),
        compile(profile),
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "f\nlinux32 ok\nmkdir failed\n",
        "{out:?}"
    );
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
}

#[test]
fn kill_process_kills_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = run(with_filter(
            busybox().args(["mkdir", "made"]).current_dir(dir.path()),
            compile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": action}]})),
        ));
        assert_eq!(out.status.signal(), Some(SIGSYS), "{action}: {out:?}");
        assert!(!dir.path().join("made").exists());
    }
}

#[test]
fn trap_sends_sigsys() {
    let out = run(with_filter(
        busybox().args(["mkdir", "/nonexistent/x"]),
        compile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRAP"}]})),
    ));
    assert_eq!(out.status.signal(), Some(SIGSYS), "{out:?}");
}

#[test]
fn argument_rules_on_the_kernel() {
    // personality(PER_LINUX32) denied by value: busybox linux32 fails, linux64 works.
    let p = || {
        compile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}))
    };
    let out = run(with_filter(busybox().args(["linux32", "true"]), p()));
    assert!(!out.status.success(), "{out:?}");
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    let out = run(with_filter(busybox().args(["linux64", "true"]), p()));
    assert!(out.status.success(), "{out:?}");

    // chmod to a mode with 0o700 in its permission bits denied (MASKED_EQ).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "").unwrap();
    let p = || {
        compile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 1, "value": 0o777, "valueTwo": 0o700, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 2, "value": 0o777, "valueTwo": 0o700, "op": "SCMP_CMP_MASKED_EQ"}]}]}))
    };
    let out = run(with_filter(
        busybox()
            .args(["chmod", "4700", "f"])
            .current_dir(dir.path()),
        p(),
    ));
    assert!(text(&out.stderr).contains("Permission denied"), "{out:?}");
    let out = run(with_filter(
        busybox()
            .args(["chmod", "750", "f"])
            .current_dir(dir.path()),
        p(),
    ));
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn personality_0xffffffff_denied_on_all_64_bits() {
    // Docker's profile allows personality(0xffffffff), the query; here it is
    // denied, and a value differing only in the high half is not.
    let p = compile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]}]}));
    let status = in_child(p, || {
        let call = |v: u64| {
            // SAFETY: personality takes one integer argument.
            let r = unsafe { libc::syscall(libc::SYS_personality, v) };
            (r, io::Error::last_os_error().raw_os_error())
        };
        let mut bad = 0;
        if call(0xffff_ffff) != (-1, Some(libc::EPERM)) {
            bad |= 1;
        }
        if call(0x1_ffff_ffff).0 < 0 {
            bad |= 2; // 64-bit value: not the denied one (the kernel reads it as the query)
        }
        if call(0).0 < 0 {
            bad |= 4;
        }
        bad
    });
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// An i386 syscall from a 64-bit process: `int 0x80` (the kernel reports it as
/// AUDIT_ARCH_I386). Returns the raw result (-errno on failure).
fn int80(nr: u32) -> i32 {
    let r: i32;
    // SAFETY: a syscall without pointer arguments; the compat entry may clobber
    // r8-r15, declared as such.
    unsafe {
        std::arch::asm!("int 0x80", inlateout("eax") nr as i32 => r,
            lateout("r8") _, lateout("r9") _, lateout("r10") _, lateout("r11") _,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            options(nostack));
    }
    r
}

const I386_GETPID: u32 = 20;

fn ia32_emulation() -> bool {
    int80(I386_GETPID) == std::process::id() as i32
}

#[test]
fn architectures_on_the_kernel() {
    if !ia32_emulation() {
        eprintln!("skipped: this kernel has no IA-32 emulation (int 0x80)");
        return;
    }
    // x86 listed: i386 getpid is filtered by its own number.
    let deny_getpid = |arches: Value| {
        compile(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches,
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}),
        )
    };
    let status = in_child(
        deny_getpid(json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])),
        || {
            let mut bad = 0;
            if int80(I386_GETPID) != -libc::EPERM {
                bad |= 1;
            }
            // SAFETY: getpid takes no arguments.
            if unsafe { libc::syscall(libc::SYS_getpid) } != -1 {
                bad |= 2;
            }
            if int80(64) <= 0 {
                bad |= 4; // i386 getppid is allowed
            }
            bad
        },
    );
    assert_eq!(status.code(), Some(0), "{status:?}");

    // x86 not listed: an i386 syscall kills the process.
    let status = in_child(deny_getpid(json!(["SCMP_ARCH_X86_64"])), || {
        int80(64);
        0
    });
    assert_eq!(status.signal(), Some(SIGSYS), "{status:?}");

    // x32 not listed: a syscall number with __X32_SYSCALL_BIT kills the process.
    let status = in_child(deny_getpid(json!(["SCMP_ARCH_X86_64"])), || {
        // SAFETY: x32 getppid, no arguments.
        unsafe { libc::syscall(0x4000_0000 + 110) };
        0
    });
    assert_eq!(status.signal(), Some(SIGSYS), "{status:?}");

    // x32 listed: the same number passes the filter (and this kernel, without
    // x32 support, answers ENOSYS).
    let status = in_child(
        deny_getpid(json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"])),
        || {
            // SAFETY: as above.
            let r = unsafe { libc::syscall(0x4000_0000 + 110) };
            if r > 0 || io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                0
            } else {
                1
            }
        },
    );
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn flags_are_accepted_by_the_kernel() {
    let out = run(with_filter(
        busybox().args(["true"]),
        compile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                      "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_LOG"}]})),
    ));
    assert!(out.status.success(), "{out:?}");
}

// The user-notification ABI (linux/seccomp.h).
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

/// What the test's seccomp agent saw.
struct AgentSaw {
    state: ContainerProcessState,
    notif: SeccompNotif,
}

/// A seccomp agent: accept one connection on `listener`, take the state JSON and
/// the fd, wait for one notification and answer it with `-EACCES`.
fn agent(listener: UnixListener) -> AgentSaw {
    let (conn, _) = listener.accept().expect("accept");
    let mut buf = vec![0u8; 64 * 1024];
    let (n, fd) = seccomp::recv_fd(conn.as_fd(), &mut buf).expect("recv");
    let fd: OwnedFd = fd.expect("the listener fd came with the state");
    let mut json = buf[..n].to_vec();
    let mut conn = conn;
    conn.read_to_end(&mut json).expect("read the rest");
    let state: ContainerProcessState = serde_json::from_slice(&json).expect("state JSON");

    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(ready, 1, "no notification within 10 s");
    let mut notif = SeccompNotif::default();
    // SAFETY: a zeroed struct seccomp_notif, as the ioctl requires.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    assert_eq!(r, 0, "NOTIF_RECV: {}", io::Error::last_os_error());
    let mut resp = SeccompNotifResp {
        id: notif.id,
        val: 0,
        error: -libc::EACCES,
        flags: 0,
    };
    // SAFETY: a struct seccomp_notif_resp for the notification just received.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    assert_eq!(r, 0, "NOTIF_SEND: {}", io::Error::last_os_error());
    AgentSaw { state, notif }
}

#[test]
fn notify_hands_the_listener_to_the_agent_which_answers() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || agent(listener));

    let p = compile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock, "listenerMetadata": "brig-test",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}));
    assert!(p.has_listener());

    // The child hands its listener to us over a socket, as brig's init hands it
    // to `brig create`, then execs busybox, whose mkdir waits for the agent.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut cmd = busybox();
    cmd.args(["mkdir", "made"]).current_dir(dir.path());
    let theirs_fd = theirs.as_raw_fd();
    // SAFETY: runs in the forked child: no_new_privs, load, one sendmsg.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_no_new_privs()?;
            let l = seccomp::load(&p)
                .map_err(|e| io::Error::other(e.to_string()))?
                .ok_or_else(|| io::Error::other("no listener"))?;
            let sock = std::os::fd::BorrowedFd::borrow_raw(theirs_fd);
            seccomp::send_fd(sock, l.as_fd(), b"L")?;
            Ok(())
        });
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(theirs);
    ours.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut b = [0u8; 8];
    let (_, fd) = seccomp::recv_fd(ours.as_fd(), &mut b).unwrap();
    let fd = fd.expect("the child sent its listener");

    // The runtime's part: the OCI state to the agent, with the fd.
    let state: State =
        serde_json::from_value(json!({"ociVersion": "1.2.1", "id": "seccomp-notify",
        "status": "created", "pid": child.id(), "bundle": dir.path()}))
        .unwrap();
    seccomp::send_listener(fd.as_fd(), &sock, &state, Some("brig-test")).unwrap();
    drop(fd);

    let out = child.wait_with_output().unwrap();
    let saw = agent.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("Permission denied"), "{out:?}");
    assert!(!dir.path().join("made").exists());

    assert!([83, 258].contains(&saw.notif.nr), "{:?}", saw.notif);
    assert_eq!(saw.notif.arch, 0xc000_003e);
    assert_eq!(saw.notif.pid, out_pid(&state));
    assert_eq!(saw.state.fds(), &vec!["seccompFd".to_string()]);
    assert_eq!(saw.state.pid(), &(out_pid(&state) as i32));
    assert_eq!(saw.state.metadata().as_deref(), Some("brig-test"));
    assert_eq!(saw.state.state().id(), "seccomp-notify");
}

fn out_pid(s: &State) -> u32 {
    s.pid().expect("a pid") as u32
}
