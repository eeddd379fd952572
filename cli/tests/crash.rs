//! Crash safety: brig is SIGKILLed in the middle of create, start and delete,
//! at each failpoint (`BRIG_FAILPOINT`, runtime/src/failpoint.rs) and at random
//! moments (a SIGKILL after a random delay within the operation's own duration).
//! After each crash, `list` still works, `delete --force ID` succeeds and leaves
//! no state dir, cgroup, mount or process, and the id can be used again.
//!
//! Iterations: `BRIG_CRASH_ITERS` per failpoint (default 1) and per operation
//! for the random kills (default 8); `BRIG_CRASH_SEED` repeats a random run.
//! Each test prints a summary line (`crash: ...`) that docs/robustness.md cites.

mod common;
mod robust;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use robust::*;

const SCRIPT: &str = "trap 'exit 0' TERM; sleep 1000 & wait";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Create,
    Start,
    Delete,
}

fn phase_of(point: &str) -> Phase {
    match point.split('.').next() {
        Some("create") => Phase::Create,
        Some("start") => Phase::Start,
        Some("delete") => Phase::Delete,
        _ => panic!("failpoint {point}: unknown phase"),
    }
}

/// The command of `phase` on `id`, marked, its stdio on files (a container
/// inherits create's stdio).
fn op_command(bed: &Bed, mark: &str, phase: Phase, id: &str) -> Command {
    let mut c = match phase {
        Phase::Create => {
            bed.write_config();
            bed.create_cmd(id)
        }
        Phase::Start => {
            let mut c = bed.command(&["start", id]);
            c.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            c
        }
        Phase::Delete => {
            let mut c = bed.command(&["delete", "--force", id]);
            c.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            c
        }
    };
    c.env(MARK, mark);
    c
}

/// Bring `id` to where `phase` begins: nothing, created, or running.
fn prepare(bed: &Bed, phase: Phase, id: &str) {
    if phase != Phase::Create {
        ok(&bed.create(id));
    }
    if phase == Phase::Delete {
        ok(&bed.brig(&["start", id]));
    }
}

/// After a crash: `list` and `state` answer, `delete --force` clears everything,
/// and the id can be created, started and deleted again.
fn recover(bed: &Bed, mark: &str, id: &str, what: &str) -> String {
    list_ids(bed);
    let st = bed.brig(&["state", id]);
    assert!(exited_cleanly(&st), "{what}: state crashed: {st:?}");
    let seen = if st.status.success() {
        let v: serde_json::Value = serde_json::from_slice(&st.stdout)
            .unwrap_or_else(|e| panic!("{what}: state is not JSON: {e}"));
        v["status"].as_str().unwrap().to_string()
    } else {
        format!(
            "error: {}",
            String::from_utf8_lossy(&st.stderr).trim().replace(id, "ID")
        )
    };
    let del = bed.brig(&["delete", "--force", id]);
    assert!(
        del.status.success(),
        "{what}: delete --force after the crash failed: {}",
        String::from_utf8_lossy(&del.stderr)
    );
    assert_clean(bed, id, Some(mark));
    assert!(
        !list_ids(bed).contains(&id.to_string()),
        "{what}: list still shows {id}"
    );
    // The id is free again.
    ok(&bed.create(id));
    ok(&bed.brig(&["start", id]));
    ok(&bed.brig(&["delete", "--force", id]));
    assert_clean(bed, id, Some(mark));
    seen
}

#[test]
fn every_failpoint_leaves_what_delete_force_clears() {
    if skip_without_root() {
        return;
    }
    let (mut bed, mark) = marked_bed(&["sh", "-c", SCRIPT]);
    bed.config["process"]["args"] = serde_json::json!(["sh", "-c", SCRIPT]);
    let iters = env_count("BRIG_CRASH_ITERS", 1);
    let mut runs = 0;
    for &point in brig_runtime::failpoint::POINTS {
        let phase = phase_of(point);
        for _ in 0..iters {
            let id = unique_id("fp");
            prepare(&bed, phase, &id);
            let st = op_command(&bed, &mark, phase, &id)
                .env(brig_runtime::failpoint::ENV, point)
                .status()
                .unwrap();
            assert_eq!(
                st.signal(),
                Some(9),
                "{point}: brig was not killed at the failpoint ({st:?})"
            );
            let seen = recover(&bed, &mark, &id, point);
            eprintln!("crash: failpoint {point}: state after the crash: {seen}");
            runs += 1;
        }
    }
    eprintln!(
        "crash: {runs} failpoint runs over {} failpoints, 0 leaks",
        brig_runtime::failpoint::POINTS.len()
    );
}

#[test]
fn random_sigkill_during_create_start_delete() {
    if skip_without_root() {
        return;
    }
    let (mut bed, mark) = marked_bed(&["sh", "-c", SCRIPT]);
    bed.config["process"]["args"] = serde_json::json!(["sh", "-c", SCRIPT]);
    let iters = env_count("BRIG_CRASH_ITERS", 8);
    let mut rng = Rng::from_env("BRIG_CRASH_SEED");
    for phase in [Phase::Create, Phase::Start, Phase::Delete] {
        // How long the operation takes here, uninterrupted: the kills land
        // within it. Not an assertion, only the range of the random delays.
        // The shortest of three runs: later runs are often quicker (warm
        // caches), and a kill after the end tests nothing.
        let mut span = Duration::MAX;
        for _ in 0..3 {
            let id = unique_id("cal");
            prepare(&bed, phase, &id);
            let t0 = Instant::now();
            let st = op_command(&bed, &mark, phase, &id).status().unwrap();
            span = span.min(t0.elapsed());
            assert!(st.success(), "{phase:?} of {id} failed uninterrupted");
            ok(&bed.brig(&["delete", "--force", &id]));
            assert_clean(&bed, &id, Some(&mark));
        }

        let (mut killed, mut finished) = (0, 0);
        for _ in 0..iters {
            let id = unique_id("rk");
            prepare(&bed, phase, &id);
            let delay = Duration::from_micros(rng.below(span.as_micros() as u64 + 1));
            let mut child = op_command(&bed, &mark, phase, &id).spawn().unwrap();
            // The fault injection itself, not a wait for a condition.
            std::thread::sleep(delay);
            let _ = child.kill();
            let st = child.wait().unwrap();
            if st.signal() == Some(9) {
                killed += 1;
            } else {
                finished += 1;
            }
            let what = format!("{phase:?} killed after {delay:?}");
            recover(&bed, &mark, &id, &what);
        }
        eprintln!(
            "crash: {phase:?}: {iters} random SIGKILLs within {span:?}: {killed} landed, \
             {finished} came after the end, 0 leaks"
        );
    }
}

/// A `pause` killed between its freeze and its state write leaves a frozen
/// container recorded as running. This makes that state directly (the freezer
/// file is what `pause` writes first) and asks that brig can still stop it.
#[test]
fn a_container_frozen_by_an_interrupted_pause_can_still_be_killed() {
    if skip_without_root() {
        return;
    }
    let (mut bed, mark) = marked_bed(&["sleep", "1000"]);
    bed.config["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    let id = unique_id("frozen");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer/brig")
        .join(&id)
        .join("freezer.state");
    std::fs::write(&freezer, "FROZEN").unwrap();
    wait_for("the freezer to say FROZEN", || {
        std::fs::read_to_string(&freezer).is_ok_and(|s| s.trim() == "FROZEN")
    });
    // What the user sees: running. What they do: kill it.
    assert_eq!(bed.status(&id), "running");
    ok(&bed.brig(&["kill", &id, "KILL"]));
    bed.wait_status(&id, "stopped");
    ok(&bed.brig(&["delete", &id]));
    assert_clean(&bed, &id, Some(&mark));
}

/// A `start` killed after it released the init (the program runs) but before it
/// recorded `running`: the state says `created`, the fifo is gone, a second
/// start fails and a plain `delete` kills a running program. Same cause as
/// exhaustion.rs's `a_start_on_a_full_root_is_recorded_as_what_happened`.
#[test]
fn a_start_killed_after_the_release_is_recorded_as_running() {
    if skip_without_root() {
        return;
    }
    let (mut bed, mark) = marked_bed(&["sh", "-c", SCRIPT]);
    bed.config["process"]["args"] = serde_json::json!(["sh", "-c", SCRIPT]);
    let id = unique_id("fprel");
    prepare(&bed, Phase::Start, &id);
    let st = op_command(&bed, &mark, Phase::Start, &id)
        .env(brig_runtime::failpoint::ENV, "start.after-release")
        .status()
        .unwrap();
    assert_eq!(st.signal(), Some(9));
    assert_eq!(bed.status(&id), "running");
    ok(&bed.brig(&["delete", "--force", &id]));
    assert_clean(&bed, &id, Some(&mark));
}
