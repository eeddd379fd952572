//! Differential: the same operation sequences on the emulated kernel (the
//! library with brig_runtime::kernel::emulator) and on the real kernel (the brig
//! binary), compared step by step on what both can observe: whether the
//! operation succeeded, the status `state` reports (and whether its pid is 0),
//! and whether the container's cgroup exists. A difference is a bug in the
//! emulator or a behaviour the emulator does not model; either way the
//! emulator-backed tests would be checking the wrong thing.
//!
//! Needs root (real containers); skipped with a message otherwise.
//! Cases: `DIFF_CASES` (default 12).

mod common;
mod emu;
mod oracle;
mod robust;

use std::time::{Duration, Instant};

use brig_runtime::container::{self, CreateOptions};
use brig_runtime::kernel::emulator::Emulator;
use brig_runtime::kernel::Kernel;
use common::*;
use emu::EmuBed;
use oracle::*;
use proptest::prelude::*;
use robust::*;

const SCRIPT: &str = "trap 'exit 0' TERM; echo ready; sleep 1000 & wait";

/// What both kernels show after an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    ok: bool,
    /// (status, pid is 0), None when the container does not exist.
    state: Option<(String, bool)>,
    cgroup: bool,
}

fn emu_op(k: &Kernel, bed: &EmuBed, id: &str, op: Op) -> bool {
    let s = &bed.store;
    match op {
        Op::Create => {
            let o = CreateOptions {
                bundle: bed.bundle.clone(),
                ..Default::default()
            };
            container::create_in(k, s, id, &o).is_ok()
        }
        Op::Start => container::start_in(k, s, id).is_ok(),
        Op::Kill(sig) => {
            let n = container::parse_signal(sig.arg()).unwrap();
            container::kill_in(k, s, id, n, false).is_ok()
        }
        Op::KillAll => container::kill_in(k, s, id, libc::SIGKILL, true).is_ok(),
        Op::Pause => container::pause_in(k, s, id).is_ok(),
        Op::Resume => container::resume_in(k, s, id).is_ok(),
        Op::Exec => unreachable!(),
        Op::Delete => container::delete_in(k, s, id, false).is_ok(),
        Op::DeleteForce => container::delete_in(k, s, id, true).is_ok(),
        Op::State => container::state_in(k, s, id).is_ok(),
    }
}

fn emu_seen(emu: &Emulator, bed: &EmuBed, id: &str, ok: bool) -> Seen {
    let k = emu.kernel();
    let state = container::state_in(&k, &bed.store, id).ok().map(|v| {
        (
            v["status"].as_str().unwrap_or("?").to_string(),
            v["pid"].as_i64() == Some(0),
        )
    });
    Seen {
        ok,
        state,
        cgroup: emu.cgroup(&format!("/brig/{id}")).is_some(),
    }
}

fn real_op(bed: &Bed, id: &str, op: Op) -> bool {
    let out = match op {
        Op::Create => bed.create(id),
        Op::Start => bed.brig(&["start", id]),
        Op::Kill(s) => bed.brig(&["kill", id, s.arg()]),
        Op::KillAll => bed.brig(&["kill", "--all", id, "KILL"]),
        Op::Pause => bed.brig(&["pause", id]),
        Op::Resume => bed.brig(&["resume", id]),
        Op::Exec => unreachable!(),
        Op::Delete => bed.brig(&["delete", id]),
        Op::DeleteForce => bed.brig(&["delete", "--force", id]),
        Op::State => bed.brig(&["state", id]),
    };
    let ok = out.status.success();
    if op == Op::Start && ok {
        // The shell has its TERM trap once it says ready.
        wait_for("the container to say ready", || {
            bed.container_output(id).contains("ready")
        });
    }
    ok
}

fn real_state(bed: &Bed, id: &str) -> Option<(String, bool)> {
    let out = bed.brig(&["state", id]);
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((
        v["status"].as_str().unwrap_or("?").to_string(),
        v["pid"].as_i64() == Some(0),
    ))
}

fn check(real: &Bed, emu_bed: &EmuBed, n: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let id = unique_id(&format!("diff{n}"));
    let emu = Emulator::new();
    struct Cleanup<'a>(&'a Bed, String);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.0.brig(&["delete", "--force", &self.1]);
        }
    }
    let _cleanup = Cleanup(real, id.clone());
    for (i, &op) in ops.iter().enumerate() {
        let want = {
            let ok = emu_op(&emu.kernel(), emu_bed, &id, op);
            emu_seen(&emu, emu_bed, &id, ok)
        };
        let ok = real_op(real, &id, op);
        // A signalled container takes a moment to stop on a real kernel: poll
        // until it agrees or the deadline passes.
        let deadline = Instant::now() + SETTLE;
        let got = loop {
            let got = Seen {
                ok,
                state: real_state(real, &id),
                cgroup: !cgroup_dirs_of(&id).is_empty(),
            };
            if got == want || Instant::now() > deadline {
                break got;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        prop_assert_eq!(
            &got,
            &want,
            "after {:?}: real kernel vs emulator",
            &ops[..=i]
        );
    }
    Ok(())
}

#[test]
fn the_emulator_and_the_real_kernel_agree() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the differential test needs root (it runs real containers)");
        return;
    }
    let real = Bed::new(&["sh", "-c", SCRIPT]);
    let emu_bed = EmuBed::new(&["sh", "-c", SCRIPT]);
    let mut config = ProptestConfig::with_cases(env_count("DIFF_CASES", 12) as u32);
    config.max_shrink_iters = 64;
    config.failure_persistence = None;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let ops = op_strategy().prop_filter("no exec on the emulator", |o| *o != Op::Exec);
    let strategy = prop::collection::vec(ops, 1..10).prop_map(|ops| {
        let mut v = vec![Op::Create];
        v.extend(ops);
        v
    });
    let n = std::cell::Cell::new(0);
    let result = runner.run(&strategy, |ops| {
        n.set(n.get() + 1);
        check(&real, &emu_bed, n.get(), &ops)
    });
    eprintln!("differential: {} sequences compared", n.get());
    if let Err(e) = result {
        panic!("{e}");
    }
}
