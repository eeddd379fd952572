//! The container commands people type, on the real kernel: `run IMAGE CMD`,
//! `run -it` and `exec -it` through a real pty (keystrokes in, output and
//! resize checked, exit codes passed through), exec's flags, logs -f,
//! pause/unpause, top, stats, port, --entrypoint, --read-only, --env-file,
//! --init, and image tag/save/load. Run as root.

mod common;
#[path = "common/images.rs"]
mod img;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use img::{Comp, ImgBed, Layer};
use serde_json::json;

/// A busybox image with the applets these tests need, as `name`.
fn image(bed: &ImgBed, name: &str) {
    let mut extra = Layer::new();
    for a in ["stty", "ps", "kill", "tty", "true", "seq", "sed"] {
        extra = extra.symlink(&format!("bin/{a}"), "busybox");
    }
    bed.busybox_image(
        name,
        vec![(extra.tar(), Comp::Plain)],
        json!({"Cmd": ["sh"], "Env": ["FROM_IMAGE=yes"]}),
    );
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Poll `f` until it returns Some, or panic after `secs` with `what`.
fn until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A pty whose slave is a child's stdio and controlling terminal, as a
/// person's terminal is: the test types on the master and reads the screen.
struct Pty {
    master: OwnedFd,
    child: Child,
    /// What was read and not matched yet.
    seen: String,
    /// What came before the last match.
    last: String,
}

impl Drop for Pty {
    fn drop(&mut self) {
        // A failed test leaves no brig behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child killed and reaped on drop, even when the test fails.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn set_size(fd: i32, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: a pty fd and a local winsize.
    assert_eq!(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }, 0);
}

impl Pty {
    fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Pty {
        let pty = nix::pty::openpty(None, None).unwrap();
        set_size(pty.master.as_raw_fd(), rows, cols);
        let slave = pty.slave;
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(slave);
        Pty {
            master: pty.master,
            child,
            seen: String::new(),
            last: String::new(),
        }
    }

    fn type_keys(&self, keys: &str) {
        let mut f = std::fs::File::from(self.master.try_clone().unwrap());
        f.write_all(keys.as_bytes()).unwrap();
    }

    /// Read the screen until `needle` shows up (after what was matched
    /// before); panic with the screen after a deadline.
    fn expect(&mut self, needle: &str) {
        let end = Instant::now() + Duration::from_secs(30);
        let mut f = std::fs::File::from(self.master.try_clone().unwrap());
        let mut buf = [0u8; 4096];
        loop {
            if let Some(i) = self.seen.find(needle) {
                self.last = self.seen[..i].to_string();
                self.seen.drain(..i + needle.len());
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "never saw {needle:?}; screen: {:?}",
                self.seen
            );
            let mut pfd = [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&self.master),
                nix::poll::PollFlags::POLLIN,
            )];
            let ms = left.as_millis().min(1000) as u16;
            if nix::poll::poll(&mut pfd, ms).unwrap_or(0) == 0 {
                continue;
            }
            match f.read(&mut buf) {
                Ok(0) | Err(_) => {
                    panic!("the pty closed before {needle:?}; screen: {:?}", self.seen)
                }
                Ok(n) => self
                    .seen
                    .push_str(&String::from_utf8_lossy(&buf[..n]).replace('\r', "")),
            }
        }
    }

    /// The next `START<value>END` on the screen whose value is output, not
    /// the echo of a command line (no `$` in it).
    fn value(&mut self, start: &str, end: &str) -> String {
        loop {
            self.expect(start);
            self.expect(end);
            // expect() drained up to the end marker: the value is what the
            // start's match left before it, found again in the last chunk.
            let v = self.last.clone();
            if !v.contains('$') {
                return v;
            }
        }
    }

    /// The child's exit code, reading (and dropping) the screen meanwhile so
    /// that it never blocks on a full pty.
    fn wait(&mut self) -> i32 {
        let end = Instant::now() + Duration::from_secs(30);
        let _ = nix::fcntl::fcntl(
            &self.master,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        let mut f = std::fs::File::from(self.master.try_clone().unwrap());
        let mut buf = [0u8; 4096];
        loop {
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("the command did not exit; screen: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn run_it_is_a_real_terminal_with_resize_stdin_and_exit_code() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "tty");
    let pty = Pty::spawn(
        bed.command(&[
            "container",
            "run",
            "-it",
            "--rm",
            "--name",
            "cmds-it",
            "tty",
            "sh",
        ]),
        24,
        80,
    );
    let mut pty = pty;
    // The output of a command, told apart from the echo of its keystrokes.
    pty.type_keys("echo \"S=$(stty size) T=$(tty)\"\n");
    pty.expect("S=24 80 T=/dev/pts/0");
    // A resize of the outer terminal reaches the container's.
    set_size(pty.master.as_raw_fd(), 40, 100);
    until(20, "the new size inside", || {
        pty.type_keys("echo \"Z=$(stty size)=Z\"\n");
        (pty.value("Z=", "=Z") == "40 100").then_some(())
    });
    // Keystrokes reach the shell; its exit code comes out.
    pty.type_keys("echo hi; exit 3\n");
    pty.expect("hi\n");
    assert_eq!(pty.wait(), 3);
    bed.assert_no_containers();
}

#[test]
fn exec_it_through_a_real_pty() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "ex");
    bed.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "cmds-exec",
        "ex",
        "sleep",
        "1000",
    ]);
    let mut pty = Pty::spawn(
        bed.command(&["container", "exec", "-it", "-e", "K=v", "cmds-exec", "sh"]),
        30,
        90,
    );
    pty.type_keys("[ -t 0 ] && echo \"TTY=$(stty size) K=$K IMG=$FROM_IMAGE\"\n");
    pty.expect("TTY=30 90 K=v IMG=yes");
    pty.type_keys("exit 5\n");
    assert_eq!(pty.wait(), 5);
    // The container goes on.
    assert!(bed.ok(&["container", "ls"]).contains("cmds-exec"));
}

#[test]
fn run_takes_the_image_first_and_refuses_unknown_flags() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "pos");
    assert_eq!(
        bed.ok(&["container", "run", "--rm", "pos", "echo", "-n", "a", "--rm"]),
        "a --rm"
    );
    // The old form still works.
    assert_eq!(
        bed.ok(&[
            "container",
            "run",
            "--rm",
            "--image",
            "pos",
            "--",
            "echo",
            "b"
        ]),
        "b\n"
    );
    // The image's Cmd when no command is given (sh reads /dev/null: no -i).
    let o = bed.brig(&["container", "run", "--rm", "pos"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // create takes the same form.
    let id = bed.ok(&[
        "container",
        "create",
        "--name",
        "cmds-pos",
        "pos",
        "echo",
        "c",
    ]);
    assert_eq!(bed.ok(&["container", "start", "-a", id.trim()]), "c\n");
    bed.ok(&["container", "rm", "cmds-pos"]);
    // An unknown flag is named, with docker's 125, and nothing is made.
    let o = bed.brig(&["container", "run", "--rm", "--privileged", "pos", "true"]);
    assert_eq!(code(&o), 125);
    assert!(
        text(&o.stderr).contains("--privileged"),
        "{}",
        text(&o.stderr)
    );
    let o = bed.brig(&["container", "run", "--rm"]);
    assert_eq!(code(&o), 125);
    assert!(text(&o.stderr).contains("IMAGE"), "{}", text(&o.stderr));
    bed.assert_no_containers();
}

#[test]
fn exit_codes_are_dockers() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "codes");
    let run = |args: &[&str]| {
        let mut a = vec!["container", "run", "--rm", "codes"];
        a.extend_from_slice(args);
        bed.brig(&a)
    };
    assert_eq!(code(&run(&["sh", "-c", "exit 3"])), 3);
    let o = run(&["no-such-program"]);
    assert_eq!(code(&o), 127, "{}", text(&o.stderr));
    let o = run(&["/etc/passwd"]);
    assert_eq!(code(&o), 126, "{}", text(&o.stderr));
    let o = run(&["/etc"]);
    assert_eq!(code(&o), 126, "{}", text(&o.stderr));
    let o = bed.brig(&["container", "run", "--rm", "no-such-image", "true"]);
    assert_eq!(code(&o), 125, "{}", text(&o.stderr));
    bed.assert_no_containers();

    bed.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "cmds-codes",
        "codes",
        "sleep",
        "1000",
    ]);
    let exec = |args: &[&str]| {
        let mut a = vec!["container", "exec", "cmds-codes"];
        a.extend_from_slice(args);
        bed.brig(&a)
    };
    assert_eq!(code(&exec(&["sh", "-c", "exit 4"])), 4);
    assert_eq!(code(&exec(&["no-such-program"])), 127);
    assert_eq!(code(&exec(&["/etc/passwd"])), 126);
    let o = bed.brig(&["container", "exec", "no-such-container", "true"]);
    assert_eq!(code(&o), 125);
}

#[test]
fn exec_flags_and_stdin_only_with_i() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "flags");
    bed.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "cmds-flags",
        "flags",
        "sleep",
        "1000",
    ]);
    let out = bed.ok(&[
        "container",
        "exec",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "A=1",
        "cmds-flags",
        "sh",
        "-c",
        "id -u; id -g; pwd; echo $A $FROM_IMAGE",
    ]);
    assert_eq!(out, "65534\n65534\n/tmp\n1 yes\n");
    let o = bed.brig(&[
        "container",
        "exec",
        "-u",
        "nosuchuser",
        "cmds-flags",
        "true",
    ]);
    assert_eq!(code(&o), 125);
    assert!(
        text(&o.stderr).contains("nosuchuser"),
        "{}",
        text(&o.stderr)
    );
    let o = bed.brig(&["container", "exec", "-w", "rel", "cmds-flags", "true"]);
    assert!(text(&o.stderr).contains("-w"), "{}", text(&o.stderr));

    // stdin reaches the process with -i, and not without (docker's rule).
    let piped = |args: &[&str]| {
        let mut c = bed.command(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut ch = c.spawn().unwrap();
        ch.stdin.take().unwrap().write_all(b"typed\n").unwrap();
        let o = ch.wait_with_output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        text(&o.stdout)
    };
    assert_eq!(
        piped(&["container", "exec", "-i", "cmds-flags", "cat"]),
        "typed\n"
    );
    assert_eq!(piped(&["container", "exec", "cmds-flags", "cat"]), "");
    assert_eq!(
        piped(&["container", "run", "--rm", "-i", "flags", "cat"]),
        "typed\n"
    );
    assert_eq!(piped(&["container", "run", "--rm", "flags", "cat"]), "");
    // exec -d: started, not waited for.
    bed.ok(&[
        "container",
        "exec",
        "-d",
        "cmds-flags",
        "sh",
        "-c",
        "echo done > /tmp/d",
    ]);
    until(20, "exec -d's file", || {
        let o = bed.brig(&["container", "exec", "cmds-flags", "cat", "/tmp/d"]);
        (text(&o.stdout) == "done\n").then_some(())
    });
    // -d with -t: no daemon holds the terminal; refused by name.
    let o = bed.brig(&["container", "run", "-d", "-t", "flags", "sh"]);
    assert_eq!(code(&o), 125);
    assert!(text(&o.stderr).contains("-t"), "{}", text(&o.stderr));
}

#[test]
fn logs_follow_until_the_container_exits() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "logs");
    bed.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "cmds-logs",
        "logs",
        "sh",
        "-c",
        "echo one; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo two",
    ]);
    let mut follow = Reaped(
        bed.command(&["container", "logs", "-f", "cmds-logs"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = follow.0.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 64];
    while !got.ends_with(b"one\n") {
        let n = out.read(&mut b).unwrap();
        assert!(n > 0, "logs -f ended early: {:?}", text(&got));
        got.extend_from_slice(&b[..n]);
    }
    // Still following: it has not exited.
    assert!(follow.0.try_wait().unwrap().is_none());
    bed.ok(&["container", "exec", "cmds-logs", "touch", "/tmp/go"]);
    out.read_to_end(&mut got).unwrap();
    let st = until(30, "logs -f to exit", || follow.0.try_wait().unwrap());
    assert!(st.success());
    assert_eq!(text(&got), "one\ntwo\n");
    // Without -f: what is there, at once.
    assert_eq!(bed.ok(&["container", "logs", "cmds-logs"]), "one\ntwo\n");
}

#[test]
fn pause_unpause_top_stats_port() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "ops");
    bed.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "cmds-ops",
        "--memory",
        "64m",
        "ops",
        "sleep",
        "1000",
    ]);
    // top: the host's ps, only the container's processes.
    let top = bed.ok(&["container", "top", "cmds-ops"]);
    let lines: Vec<&str> = top.lines().collect();
    assert!(
        lines[0].contains("PID") && lines[0].contains("CMD"),
        "{top}"
    );
    assert_eq!(lines.len(), 2, "{top}");
    assert!(lines[1].ends_with("sleep 1000"), "{top}");
    let top = bed.ok(&["container", "top", "cmds-ops", "-o", "pid,comm"]);
    assert_eq!(
        top.lines().nth(1).map(|l| l.split_whitespace().nth(1)),
        Some(Some("sleep")),
        "{top}"
    );
    let e = bed.fails(&["container", "top", "cmds-ops", "-o", "comm"]);
    assert!(e.contains("PID"), "{e}");

    // stats: docker's columns; the memory limit is the container's.
    let st = bed.ok(&["container", "stats", "--no-stream", "cmds-ops"]);
    let mut it = st.lines();
    let head: Vec<&str> = it
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        head,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{st}"
    );
    let row = it.next().unwrap();
    assert!(row.contains("cmds-ops") && row.contains("/ 64MiB"), "{st}");
    assert_eq!(row.split_whitespace().last(), Some("1"), "{st}");
    assert!(it.next().is_none(), "{st}");

    // pause: frozen, shown as paused, exec refused; unpause: back.
    assert_eq!(bed.ok(&["container", "pause", "cmds-ops"]), "cmds-ops\n");
    assert!(bed.ok(&["container", "ls"]).contains("paused"));
    let e = bed.fails(&["container", "pause", "cmds-ops"]);
    assert!(e.contains("paused already"), "{e}");
    let o = bed.brig(&["container", "exec", "cmds-ops", "true"]);
    assert_eq!(code(&o), 125);
    assert!(text(&o.stderr).contains("paused"), "{}", text(&o.stderr));
    assert_eq!(bed.ok(&["container", "unpause", "cmds-ops"]), "cmds-ops\n");
    assert!(!bed.ok(&["container", "ls"]).contains("paused"));
    assert_eq!(
        bed.ok(&["container", "exec", "cmds-ops", "echo", "ok"]),
        "ok\n"
    );
    let e = bed.fails(&["container", "unpause", "cmds-ops"]);
    assert!(e.contains("not paused"), "{e}");

    // port: none published on --network none; a port asked for is an error.
    assert_eq!(bed.ok(&["container", "port", "cmds-ops"]), "");
    let e = bed.fails(&["container", "port", "cmds-ops", "80/tcp"]);
    assert!(e.contains("80/tcp"), "{e}");
}

#[test]
fn entrypoint_read_only_and_env_file() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "ep");
    // --entrypoint replaces the image's, and drops its Cmd.
    assert_eq!(
        bed.ok(&["container", "run", "--rm", "--entrypoint", "echo", "ep"]),
        "\n"
    );
    assert_eq!(
        bed.ok(&[
            "container",
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "ep",
            "x",
            "y"
        ]),
        "x y\n"
    );
    // --read-only: the rootfs refuses writes; a tmpfs still takes them.
    let out = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "ep",
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo wrote-root; touch /scratch/y && echo wrote-tmpfs",
    ]);
    assert_eq!(out, "wrote-tmpfs\n");
    // A tmpfs size in docker's units reaches the kernel in bytes (it takes
    // neither "1.5m" nor "1mb" itself).
    let out = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--tmpfs",
        "/scratch:size=1.5mb",
        "ep",
        "sh",
        "-c",
        "grep ' /scratch ' /proc/mounts",
    ]);
    assert!(out.contains("size=1536k"), "{out}");
    assert_eq!(
        bed.ok(&[
            "container",
            "run",
            "--rm",
            "ep",
            "sh",
            "-c",
            "touch /x && echo wrote-root"
        ]),
        "wrote-root\n"
    );
    // --env-file: comments and blanks skipped, values as written, -e wins.
    let f = bed.path("env.list");
    std::fs::write(&f, "# a comment\n\nA=1\nB=two words\nFROM_IMAGE=file\n").unwrap();
    let out = bed.ok(&[
        "container",
        "run",
        "--rm",
        "--env-file",
        f.to_str().unwrap(),
        "-e",
        "A=3",
        "ep",
        "sh",
        "-c",
        "echo \"$A|$B|$FROM_IMAGE\"",
    ]);
    assert_eq!(out, "3|two words|file\n");
    std::fs::write(&f, "GOOD=1\nBAD NAME=2\n").unwrap();
    let o = bed.brig(&[
        "container",
        "run",
        "--rm",
        "--env-file",
        f.to_str().unwrap(),
        "ep",
        "true",
    ]);
    assert_eq!(code(&o), 125);
    assert!(text(&o.stderr).contains("line 2"), "{}", text(&o.stderr));
    bed.assert_no_containers();
}

#[test]
fn init_reaps_orphans_and_forwards_signals() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "init");
    let zombies = |name: &str| {
        bed.ok(&["container", "exec", name, "ps", "-o", "stat,args"])
            .lines()
            .filter(|l| l.starts_with('Z'))
            .count()
    };
    // Without --init, `sleep` is pid 1: an orphan it never waits for stays a zombie.
    bed.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "cmds-noinit",
        "init",
        "sleep",
        "1000",
    ]);
    bed.ok(&[
        "container",
        "exec",
        "cmds-noinit",
        "sh",
        "-c",
        "sleep 0 & exit 0",
    ]);
    until(20, "a zombie without --init", || {
        (zombies("cmds-noinit") == 1).then_some(())
    });
    // With --init, brig's init is pid 1 (from a read-only bind mount) and reaps it.
    bed.ok(&[
        "container",
        "run",
        "-d",
        "--init",
        "--name",
        "cmds-init",
        "init",
        "sleep",
        "1000",
    ]);
    let ps = bed.ok(&["container", "exec", "cmds-init", "ps", "-o", "pid,args"]);
    assert!(ps.contains("    1 /dev/init -- sleep 1000"), "{ps}");
    bed.ok(&[
        "container",
        "exec",
        "cmds-init",
        "sh",
        "-c",
        "sleep 0 & exit 0",
    ]);
    until(20, "the orphan reaped by --init", || {
        (zombies("cmds-init") == 0).then_some(())
    });
    let o = bed.brig(&[
        "container",
        "exec",
        "cmds-init",
        "sh",
        "-c",
        "echo x > /dev/init",
    ]);
    assert!(!o.status.success(), "the init shim is read-only");

    // SIGTERM to a foreground `run --init`: the init forwards it to the
    // command (pid 1 without a handler would ignore it) and passes on 143.
    let mut child = Reaped(
        bed.command(&[
            "container",
            "run",
            "--rm",
            "--init",
            "--name",
            "cmds-sig",
            "init",
            "sleep",
            "1000",
        ])
        .spawn()
        .unwrap(),
    );
    until(30, "cmds-sig running", || {
        bed.ok(&["container", "ls"])
            .contains("cmds-sig")
            .then_some(())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = until(30, "run --init to exit on SIGTERM", || {
        child.0.try_wait().unwrap()
    });
    assert_eq!(st.code(), Some(143));
}

#[test]
fn image_tag_save_load_round_trip_with_skopeo_and_podman() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "orig");
    bed.ok(&["image", "tag", "orig", "localhost/copy:v1"]);
    let ls = bed.ok(&["image", "ls"]);
    assert!(ls.contains("localhost/copy   v1"), "{ls}");
    let e = bed.fails(&["image", "tag", "no-such", "x"]);
    assert!(e.contains("no-such"), "{e}");
    let e = bed.fails(&["image", "tag", "orig", "Bad:Name"]);
    assert!(e.contains("Bad:Name"), "{e}");

    let one = bed.path("one.tar");
    bed.ok(&["image", "save", "-o", one.to_str().unwrap(), "orig"]);
    let two = bed.path("two.tar");
    bed.ok(&[
        "image",
        "save",
        "-o",
        two.to_str().unwrap(),
        "orig",
        "localhost/copy:v1",
    ]);
    // A failed save leaves no file.
    let bad = bed.path("bad.tar");
    bed.fails(&[
        "image",
        "save",
        "-o",
        bad.to_str().unwrap(),
        "orig",
        "no-such",
    ]);
    assert!(!bad.exists());
    assert_eq!(
        std::fs::read_dir(bed.tmp.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .count(),
        0
    );

    // skopeo reads both (by name in the two-image one).
    let sk = |r: &str| {
        let o = Command::new("skopeo")
            .args(["inspect", r])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "skopeo inspect {r}: {}",
            text(&o.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let a = sk(&format!("oci-archive:{}", one.display()));
    let b = sk(&format!("oci-archive:{}:localhost/copy:v1", two.display()));
    assert_eq!(a["Digest"], b["Digest"]);
    assert_eq!(a["Layers"].as_array().unwrap().len(), 2);

    // brig loads them back: remove, load, run.
    bed.ok(&["image", "rm", "localhost/copy:v1"]);
    bed.ok(&["image", "rm", "orig"]);
    assert_eq!(bed.ok(&["image", "ls", "-q"]), "");
    assert_eq!(
        bed.ok(&["image", "load", "-i", two.to_str().unwrap()]),
        "Loaded image: orig:latest\nLoaded image: localhost/copy:v1\n"
    );
    assert_eq!(
        bed.ok(&[
            "container",
            "run",
            "--rm",
            "localhost/copy:v1",
            "echo",
            "back"
        ]),
        "back\n"
    );
    let e = bed.fails(&[
        "image",
        "load",
        "-i",
        bed.path("env-none").to_str().unwrap(),
    ]);
    assert!(e.contains("env-none"), "{e}");
    // save to stdout, load from stdin, as `docker save X | docker load`.
    let mut save = bed.command(&["image", "save", "orig"]);
    let mut save = save.stdout(Stdio::piped()).spawn().unwrap();
    let mut load = bed.command(&["image", "load", "-q"]);
    let o = load.stdin(save.stdout.take().unwrap()).output().unwrap();
    assert!(save.wait().unwrap().success());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "orig:latest\n");
    assert!(
        !bed.entries("").iter().any(|e| e.starts_with(".load-")),
        "the stdin copy is gone"
    );

    // podman loads the one-image archive and names it.
    let proot = bed.path("podman");
    let pod = |args: &[&str]| {
        Command::new("podman")
            .arg("--root")
            .arg(proot.join("root"))
            .arg("--runroot")
            .arg(proot.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = pod(&["load", "-i", one.to_str().unwrap()]);
    assert!(o.status.success(), "podman load: {}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("orig:latest"),
        "{}",
        text(&o.stdout)
    );
    let o = pod(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cgroup-manager",
        "cgroupfs",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "orig",
        "sh",
        "-c",
        "echo $FROM_IMAGE",
    ]);
    assert!(o.status.success(), "podman run: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "yes\n");
    let _ = pod(&["rmi", "--all", "--force"]);
}

/// Run `f` on a new thread in a new network namespace with lo up (a
/// throwaway host: the bridge, veths and rules of `-p` live and die in it).
fn in_test_netns<F: FnOnce() + Send + 'static>(f: F) {
    let t = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET): the tests need root");
        let out = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .output()
            .unwrap();
        assert!(out.status.success(), "ip link set lo up: {out:?}");
        f()
    });
    if let Err(p) = t.join() {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn port_lists_published_ports_as_docker() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let bed = ImgBed::new();
        image(&bed, "ports");
        bed.ok(&[
            "container",
            "run",
            "-d",
            "--name",
            "cmds-port",
            "--network",
            "bridge",
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1:5353:53/udp",
            "ports",
            "sleep",
            "1000",
        ]);
        assert_eq!(
            bed.ok(&["container", "port", "cmds-port"]),
            "80/tcp -> 0.0.0.0:8080\n53/udp -> 127.0.0.1:5353\n"
        );
        assert_eq!(
            bed.ok(&["container", "port", "cmds-port", "80"]),
            "0.0.0.0:8080\n"
        );
        assert_eq!(
            bed.ok(&["container", "port", "cmds-port", "53/udp"]),
            "127.0.0.1:5353\n"
        );
        let e = bed.fails(&["container", "port", "cmds-port", "53"]);
        assert!(e.contains("no such published port"), "{e}");
        let e = bed.fails(&["container", "port", "cmds-port", "http"]);
        assert!(e.contains("PORT[/tcp|udp]"), "{e}");
        // stats reads the container's own network counters (eth0, not lo).
        let st = bed.ok(&["container", "stats", "--no-stream", "cmds-port"]);
        assert!(
            st.lines().nth(1).is_some_and(|l| l.contains("cmds-port")),
            "{st}"
        );
        bed.ok(&["container", "rm", "-f", "cmds-port"]);
        bed.assert_no_containers();
    });
}

#[test]
fn run_t_without_i_has_a_terminal_of_our_size() {
    if common::skip_without_root() {
        return;
    }
    let bed = ImgBed::new();
    image(&bed, "t");
    // Without -i brig's stdin is /dev/null: the size comes from its output.
    let mut pty = Pty::spawn(
        bed.command(&[
            "container",
            "run",
            "-t",
            "--rm",
            "t",
            "sh",
            "-c",
            "echo \"S=$(stty size)=S\"; [ -t 0 ] && echo in-is-tty",
        ]),
        20,
        70,
    );
    assert_eq!(pty.value("S=", "=S"), "20 70");
    pty.expect("in-is-tty\n");
    assert_eq!(pty.wait(), 0);
    bed.assert_no_containers();
}
