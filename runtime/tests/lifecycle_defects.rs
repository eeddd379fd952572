//! Regression tests for lifecycle defects that engines (containerd, podman,
//! CRI) and other runtimes' tests found: each one failed before its fix.

mod common;

use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A stopped container: plain `kill` fails with runc's words and exit code 1,
/// which containerd's shim reads as "already gone"; `kill --all` succeeds.
#[test]
fn kill_of_a_stopped_container_answers_as_runc() {
    let bed = Bed::new(&["true"]);
    let id = unique_id("lifed-killstop");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    bed.wait_status(&id, "stopped");
    for sig in ["KILL", "TERM", "0"] {
        let out = bed.brig(&["kill", &id, sig]);
        assert_eq!(out.status.code(), Some(1), "kill {sig}: {}", stderr(&out));
        fails_with(&out, "container not running");
        ok(&bed.brig(&["kill", "--all", &id, sig]));
        ok(&bed.brig(&["kill", "-a", &id, sig]));
    }
    // Still there, still stopped: the kills changed nothing.
    assert_eq!(bed.status(&id), "stopped");
    // An id that does not exist is an error to both forms.
    fails_with(
        &bed.brig(&["kill", "--all", "lifed-nosuch"]),
        "does not exist",
    );
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

/// `kill ID 0` is the liveness probe: success while the init lives; every
/// spelling of a signal runc accepts works, and a few more (RTMIN+N).
#[test]
fn kill_zero_probes_and_every_runc_signal_spelling_works() {
    // PID 1 ignores signals it has no handler for: none of these kill it.
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("lifed-kill0");
    ok(&bed.create(&id));
    ok(&bed.brig(&["kill", &id, "0"]));
    ok(&bed.brig(&["start", &id]));
    for sig in [
        "0",
        "CONT",
        "cont",
        "SIGCONT",
        "sigcont",
        "18",
        "34",
        "64",
        "RTMIN+3",
        "SIGRTMIN+3",
        "rtmax-1",
        "RTMIN",
        "",
    ] {
        let out = bed.brig(&["kill", &id, sig]);
        assert!(out.status.success(), "kill {sig:?}: {}", stderr(&out));
    }
    for (sig, needle) in [
        ("SIG0", "unknown signal"),
        ("KILL0", "unknown signal"),
        ("foo", "unknown signal"),
        ("65", "no such signal number"),
        ("RTMIN+40", "real-time"),
    ] {
        let out = bed.brig(&["kill", &id, sig]);
        assert_eq!(out.status.code(), Some(1), "kill {sig}: {}", stderr(&out));
        fails_with(&out, needle);
        assert!(stderr(&out).contains(sig), "kill {sig}: {}", stderr(&out));
    }
    assert_eq!(bed.status(&id), "running");
    ok(&bed.brig(&["kill", &id, "KILL"]));
    bed.wait_status(&id, "stopped");
    fails_with(&bed.brig(&["kill", &id, "0"]), "container not running");
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

/// The start race: the init is let go when `start` opens the exec fifo; under
/// load it can exec, exit and be reaped before `start` goes on. The failpoint
/// waits right there until the init is reaped. `start` must then succeed (the
/// program ran), and the container be stopped, not fail with
/// "exec.fifo: No such process" (what containerd saw in 6 of 70 runs).
#[test]
fn start_of_a_container_that_exits_at_once_succeeds() {
    let bed = Bed::new(&["sh", "-c", "echo ran; exit 3"]);
    let id = unique_id("lifed-race");
    ok(&bed.create(&id));
    let pid = bed.state(&id)["pid"].as_i64().unwrap() as i32;
    let out = bed
        .command(&["start", &id])
        .env(brig::failpoint::ENV, "start.wait-init-reaped")
        .output()
        .unwrap();
    assert!(out.status.success(), "start: {}", stderr(&out));
    // The failpoint did widen the window: the init is gone (reaped) by now.
    // SAFETY: kill(2) with signal 0 only probes.
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "init {pid} still exists");
    assert_eq!(bed.status(&id), "stopped");
    assert_eq!(bed.container_output(&id), "ran\n");
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}
