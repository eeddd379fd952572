//! The lifecycle model of model.rs, checked against the brig library on the
//! emulated kernel (brig_runtime::kernel::emulator): no root, no real process, no
//! cgroupfs, so it runs as any user and at thousands of cases a second.
//!
//! The same oracle (tests/oracle) as the real-kernel model; the operations are
//! the library's lifecycle calls (`create_in`, `start_in`, ...) on a state
//! store in a temp dir, with the emulator as the kernel. `exec` is left out:
//! it is not behind the seams yet.
//!
//! Cases: `EMU_PROPTEST_CASES` (default 10000).

mod emu;
mod oracle;

use std::sync::atomic::{AtomicUsize, Ordering};

use brig_runtime::container::{self, CreateOptions};
use brig_runtime::kernel::emulator::Emulator;
use brig_runtime::kernel::Kernel;
use emu::EmuBed;
use oracle::*;
use proptest::prelude::*;

/// The container's program: the emulator reads it as "trap TERM, wait".
const SCRIPT: &str = "trap 'exit 0' TERM; echo ready; sleep 1000 & wait";

fn run(k: &Kernel, bed: &EmuBed, id: &str, op: Op) -> Result<(), String> {
    let s = &bed.store;
    let r = match op {
        Op::Create => {
            let opts = CreateOptions {
                bundle: bed.bundle.clone(),
                ..Default::default()
            };
            container::create_in(k, s, id, &opts).map(drop)
        }
        Op::Start => container::start_in(k, s, id).map(drop),
        Op::Kill(sig) => {
            let n = container::parse_signal(sig.arg()).unwrap();
            container::kill_in(k, s, id, n, false)
        }
        Op::KillAll => container::kill_in(k, s, id, libc::SIGKILL, true),
        Op::Pause => container::pause_in(k, s, id),
        Op::Resume => container::resume_in(k, s, id),
        Op::Exec => unreachable!("exec is not drawn"),
        Op::Delete => container::delete_in(k, s, id, false),
        Op::DeleteForce => container::delete_in(k, s, id, true),
        Op::State => container::state_in(k, s, id).map(drop),
    };
    r.map_err(|e| e.to_string())
}

/// The status and pid `state` reports, or None when the container is missing.
fn observed(k: &Kernel, bed: &EmuBed, id: &str) -> Result<Option<(String, i64)>, String> {
    match container::state_in(k, &bed.store, id) {
        Ok(v) => Ok(Some((
            v["status"].as_str().unwrap_or("?").to_string(),
            v["pid"].as_i64().unwrap_or(-1),
        ))),
        Err(e) if e.to_string().contains(MISSING) => Ok(None),
        Err(e) => Err(format!("state failed: {e}")),
    }
}

static CASES: AtomicUsize = AtomicUsize::new(0);

fn check_sequence(bed: &EmuBed, ops: &[Op]) -> Result<(), TestCaseError> {
    let n = CASES.fetch_add(1, Ordering::Relaxed);
    let id = format!("emu-{n}");
    let emu = Emulator::new();
    let k = emu.kernel();
    let mut m = M::Absent;
    for (i, &op) in ops.iter().enumerate() {
        let (expect, next) = step(m, op);
        let got = run(&k, bed, &id, op);
        match (expect, &got) {
            (Ok(()), Ok(())) => {}
            (Ok(()), Err(e)) => {
                return Err(TestCaseError::fail(format!(
                    "after {:?}: {op:?} in {m:?} must succeed; brig: {e}",
                    &ops[..i]
                )))
            }
            (Err(needle), Ok(())) => {
                return Err(TestCaseError::fail(format!(
                    "after {:?}: {op:?} in {m:?} must fail ({needle}), but succeeded",
                    &ops[..i]
                )))
            }
            (Err(needle), Err(e)) => prop_assert!(
                e.contains(needle),
                "after {:?}: {:?} in {:?}: error must say {:?}; brig: {}",
                &ops[..i],
                op,
                m,
                needle,
                e
            ),
        }
        m = next;
        // The emulator is synchronous: no settling, the state is exact.
        let seen = observed(&k, bed, &id).map_err(TestCaseError::fail)?;
        let ok = match (&seen, m.status()) {
            (None, None) => true,
            (Some((s, pid)), Some(w)) => s == w && ((w == "stopped") == (*pid == 0)) && *pid >= 0,
            _ => false,
        };
        prop_assert!(
            ok,
            "after {:?}: model says {:?}, brig says {:?}",
            &ops[..=i],
            m.status(),
            seen
        );
        let listed = bed.store.ids().unwrap().contains(&id);
        prop_assert_eq!(listed, m != M::Absent, "list after {:?}", &ops[..=i]);
    }
    // However the case ended, delete --force leaves nothing: no state dir, no
    // cgroup, no process.
    container::delete_in(&k, &bed.store, &id, true)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(!bed.store.dir(&id).exists(), "state dir of {} left", id);
    prop_assert!(
        emu.cgroups().is_empty(),
        "cgroups left: {:?}",
        emu.cgroups()
    );
    prop_assert!(emu.pids().is_empty(), "processes left: {:?}", emu.pids());
    Ok(())
}

fn emu_op_strategy() -> impl Strategy<Value = Op> {
    op_strategy().prop_filter("exec is not behind the seams", |op| *op != Op::Exec)
}

#[test]
fn lifecycle_sequences_match_the_model_on_the_emulator() {
    let bed = EmuBed::new(&["sh", "-c", SCRIPT]);
    let cases = std::env::var("EMU_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let mut config = ProptestConfig::with_cases(cases);
    config.failure_persistence = None;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy =
        (0..4u8, prop::collection::vec(emu_op_strategy(), 1..12)).prop_map(|(n, ops)| {
            let mut v = if n > 0 { vec![Op::Create] } else { Vec::new() };
            v.extend(ops);
            v
        });
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |ops| check_sequence(&bed, &ops));
    eprintln!(
        "model on the emulator: {} sequences in {:?}",
        CASES.load(Ordering::Relaxed),
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
