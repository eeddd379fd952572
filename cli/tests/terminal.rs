//! Terminals: `run` relays the container's pty, and `--console-socket` hands its
//! master over with SCM_RIGHTS (runc's protocol, which conmon and containerd speak).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

use common::*;
use serde_json::json;

fn terminal_bed(args: &[&str]) -> Bed {
    let mut bed = Bed::new(args);
    bed.config["process"]["terminal"] = json!(true);
    bed.config["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    bed
}

#[test]
fn run_relays_the_terminal() {
    if skip_without_root() {
        return;
    }
    let bed = terminal_bed(&[
        "sh",
        "-c",
        "tty; stty size; [ -t 0 ] && echo stdin-is-a-tty; read line; echo got:$line",
    ]);
    bed.write_config();
    let id = unique_id("tty");
    bed.track(&id);
    let mut child = bed
        .command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("/dev/pts/0\n"), "{text}");
    assert!(text.contains("30 100\n"), "{text}");
    assert!(text.contains("stdin-is-a-tty\n"), "{text}");
    assert!(text.contains("got:hello\n"), "{text}");
}

#[test]
fn console_socket_receives_a_working_pty() {
    if skip_without_root() {
        return;
    }
    let bed = terminal_bed(&["sh"]);
    let sock = bed.tmp.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = unique_id("console");
    bed.write_config();
    let mut create = bed.create_cmd(&id);
    create.args(["--console-socket", sock.to_str().unwrap()]);
    let mut child = create.spawn().unwrap();
    let (name, master) = recv_fd(&listener);
    assert_eq!(name, "/dev/ptmx");
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{}",
        String::from_utf8_lossy(&bed.create_output(&id, status).stderr)
    );
    ok(&bed.brig(&["start", &id]));
    let mut term = std::fs::File::from(master);
    term.write_all(b"echo hi-$((1+1)); exit\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    // Read until the shell's answer (the echo of our input holds "$((1+1))", not "hi-2").
    while !seen.contains("hi-2") {
        match term.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(seen.contains("hi-2"), "{seen:?}");
    bed.wait_status(&id, "stopped");
}

#[test]
fn terminal_without_a_socket_or_socket_without_terminal_is_refused() {
    if skip_without_root() {
        return;
    }
    let bed = terminal_bed(&["sh"]);
    let id = unique_id("notty");
    fails_with(&bed.create(&id), "process.terminal");
    assert_no_trace(&bed, &id);
    let mut bed = Bed::new(&["sh"]);
    bed.config["process"]["terminal"] = json!(false);
    bed.write_config();
    let sock = bed.tmp.path().join("s.sock");
    let _l = UnixListener::bind(&sock).unwrap();
    let out = bed.brig(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        bed.bundle.to_str().unwrap(),
        &id,
    ]);
    fails_with(&out, "process.terminal is false");
    assert_no_trace(&bed, &id);
}
