//! The OCI lifecycle as a model, checked against the real brig: proptest draws
//! sequences of create, start, kill(sig), pause, resume, exec, delete (with and
//! without --force) and state; each runs as a `brig` command on one container,
//! and its result (success, or an error that says why) and the state after it
//! must be what the model says. A failing sequence shrinks to a minimal one.
//!
//! Cases: `PROPTEST_CASES` (default 32, about 15 s here); for a long run,
//! `PROPTEST_CASES=500 cargo test -p brig --test model -- --nocapture`.
//! Every case prints one line (`model case N: ops`) so that the count of cases
//! run can be read from the output.
//!
//! brig's semantics, as the model has them (runc's, where runc has one):
//! - delete of a created container without --force succeeds (and kills it);
//!   of a running or paused one it fails; --force always succeeds, even on an
//!   id that does not exist;
//! - kill of a stopped container fails with runc's "container not running"
//!   (containerd's shim matches those words), and `kill --all` of one
//!   succeeds (the shim relies on that, too);
//! - start only from created; pause only from running; resume only from paused;
//!   exec in running or created;
//! - the init is PID 1 of its pid namespace: a signal it has no handler for is
//!   dropped. Created, the init is brig's own code (no handlers): TERM and USR1
//!   do nothing. Running, it is a shell that traps TERM (and exits) but not
//!   USR1. Paused, a TERM waits in the frozen task (cgroup v1 freezer) and
//!   takes effect at resume; a KILL thaws the container (as runc's does), so
//!   it stops at once.

mod common;
mod oracle;
mod robust;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use oracle::*;
use proptest::prelude::*;
use robust::*;

/// The container's program: trap TERM, say it is ready, and wait.
const SCRIPT: &str = "trap 'exit 0' TERM; echo ready; sleep 1000 & wait";

/// Force-deletes the case's container however the case ends.
struct Case<'a> {
    bed: &'a Bed,
    id: String,
}

impl Drop for Case<'_> {
    fn drop(&mut self) {
        let _ = self.bed.brig(&["delete", "--force", &self.id]);
    }
}

impl Case<'_> {
    fn run(&self, op: Op) -> std::process::Output {
        let id = self.id.as_str();
        let out = match op {
            Op::Create => self.bed.create(id),
            Op::Start => self.bed.brig(&["start", id]),
            Op::Kill(s) => self.bed.brig(&["kill", id, s.arg()]),
            Op::KillAll => self.bed.brig(&["kill", "--all", id, "KILL"]),
            Op::Pause => self.bed.brig(&["pause", id]),
            Op::Resume => self.bed.brig(&["resume", id]),
            Op::Exec => self.bed.brig(&["exec", id, "true"]),
            Op::Delete => self.bed.brig(&["delete", id]),
            Op::DeleteForce => self.bed.brig(&["delete", "--force", id]),
            Op::State => self.bed.brig(&["state", id]),
        };
        assert!(exited_cleanly(&out), "{op:?} crashed: {out:?}");
        out
    }

    /// The status `state` reports, or None when the container does not exist.
    fn observed(&self) -> Result<Option<(String, i64)>, String> {
        let out = self.bed.brig(&["state", &self.id]);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
                format!(
                    "state is not JSON ({e}): {}",
                    String::from_utf8_lossy(&out.stdout)
                )
            })?;
            let pid = v["pid"].as_i64().unwrap_or(-1);
            Ok(Some((v["status"].as_str().unwrap_or("?").to_string(), pid)))
        } else {
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            if err.contains(MISSING) {
                Ok(None)
            } else {
                Err(format!("state failed: {err}"))
            }
        }
    }

    /// The state after an operation must be the model's. A container that was
    /// just signalled to death may take a moment to stop: poll for that one.
    fn check_state(&self, m: M, ops: &[Op]) -> Result<(), TestCaseError> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let seen = self.observed().map_err(TestCaseError::fail)?;
            let want = m.status();
            let matches = match (&seen, want) {
                (None, None) => true,
                (Some((s, pid)), Some(w)) => {
                    s == w && ((w == "stopped") == (*pid == 0)) && *pid >= 0
                }
                _ => false,
            };
            if matches {
                break;
            }
            // A paused container killed (KILL thaws it) shows `paused` until
            // its init is gone, as a running one shows `running`.
            let settling = m == M::Stopped
                && matches!(&seen, Some((s, _)) if s == "running" || s == "created" || s == "paused");
            if !settling || Instant::now() > deadline {
                return Err(TestCaseError::fail(format!(
                    "after {ops:?}: model says {want:?}, brig says {seen:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // `list` agrees with `state`.
        let listed = list_ids(self.bed).contains(&self.id);
        prop_assert_eq!(listed, m != M::Absent, "list after {:?}", ops);
        Ok(())
    }

    /// After a start, wait until the shell has its TERM trap (it says "ready"),
    /// so that a TERM that follows is not dropped by a shell that has none yet.
    fn wait_ready(&self) {
        wait_for("the container to say ready", || {
            self.bed.container_output(&self.id).contains("ready")
        });
    }
}

static CASES: AtomicUsize = AtomicUsize::new(0);

/// The (state, operation) pairs the run has tried; kill counts once per signal,
/// paused once per `dies`.
static COVERED: std::sync::Mutex<Vec<(M, Op)>> = std::sync::Mutex::new(Vec::new());
/// 6 states (paused twice) × 12 operations (kill thrice).
const ALL_PAIRS: usize = 6 * 12;

fn check_sequence(bed: &Bed, mark: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let n = CASES.fetch_add(1, Ordering::SeqCst);
    eprintln!("model case {n}: {ops:?}");
    let case = Case {
        bed,
        id: unique_id("model"),
    };
    let mut m = M::Absent;
    for (i, &op) in ops.iter().enumerate() {
        let done = &ops[..=i];
        let (expect, next) = step(m, op);
        {
            let mut c = COVERED.lock().unwrap();
            if !c.contains(&(m, op)) {
                c.push((m, op));
            }
        }
        let out = case.run(op);
        let err = String::from_utf8_lossy(&out.stderr);
        match expect {
            Ok(()) => prop_assert!(
                out.status.success(),
                "after {:?}: {:?} in {:?} must succeed; brig: {}",
                &ops[..i],
                op,
                m,
                err
            ),
            Err(needle) => {
                prop_assert!(
                    !out.status.success(),
                    "after {:?}: {:?} in {:?} must fail ({}), but succeeded",
                    &ops[..i],
                    op,
                    m,
                    needle
                );
                prop_assert!(
                    err.contains(needle),
                    "after {:?}: {:?} in {:?}: error must say {:?}; brig: {}",
                    &ops[..i],
                    op,
                    m,
                    needle,
                    err
                );
            }
        }
        if op == Op::Start && expect.is_ok() {
            case.wait_ready();
        }
        if op == Op::State && m != M::Absent {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| TestCaseError::fail(format!("state: {e}")))?;
            prop_assert_eq!(v["id"].as_str(), Some(case.id.as_str()));
        }
        m = next;
        case.check_state(m, done)?;
    }
    let id = case.id.clone();
    drop(case);
    let left = leaks(bed, &id, Some(mark));
    if !left.is_empty() {
        // A SIGKILLed process may still be on its way out: give it the deadline.
        assert_clean(bed, &id, Some(mark));
    }
    Ok(())
}

#[test]
fn the_model_allows_what_brig_allows() {
    // Every transition of the model once, by hand: the model itself is right
    // about brig's documented semantics.
    assert_eq!(step(M::Created, Op::Delete), (Ok(()), M::Absent));
    assert_eq!(step(M::Running, Op::Delete).0, Err("use delete --force"));
    assert_eq!(
        step(M::Stopped, Op::Kill(Sig::Kill)).0,
        Err("container not running")
    );
    assert_eq!(step(M::Stopped, Op::KillAll), (Ok(()), M::Stopped));
    assert_eq!(step(M::Absent, Op::KillAll).0, Err(MISSING));
    assert_eq!(step(M::Absent, Op::DeleteForce), (Ok(()), M::Absent));
    assert_eq!(step(M::Created, Op::Exec), (Ok(()), M::Created));
    assert_eq!(
        step(M::Paused { dies: true }, Op::Resume),
        (Ok(()), M::Stopped)
    );
}

fn config() -> ProptestConfig {
    let mut c = ProptestConfig::with_cases(env_count("PROPTEST_CASES", 32) as u32);
    // Each shrink step runs real containers: keep shrinking bounded.
    c.max_shrink_iters = env_count("PROPTEST_MAX_SHRINK_ITERS", 256) as u32;
    c
}

#[test]
fn lifecycle_sequences_match_the_model() {
    if skip_without_root() {
        return;
    }
    let (mut bed, mark) = marked_bed(&["sh", "-c", SCRIPT]);
    bed.config["process"]["args"] = serde_json::json!(["sh", "-c", SCRIPT]);
    let mut runner = proptest::test_runner::TestRunner::new(config());
    // Three cases in four begin with a create, so that most sequences reach
    // the interesting states; the rest try every operation on a missing id.
    let strategy = (0..4u8, prop::collection::vec(op_strategy(), 1..12)).prop_map(|(n, ops)| {
        let mut v = if n > 0 { vec![Op::Create] } else { Vec::new() };
        v.extend(ops);
        v
    });
    let result = runner.run(&strategy, |ops| check_sequence(&bed, &mark, &ops));
    let covered = COVERED.lock().unwrap();
    eprintln!(
        "model: {} sequences run (cases and shrink steps); {} of {} (state, operation) pairs covered",
        CASES.load(Ordering::SeqCst),
        covered.len(),
        ALL_PAIRS
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
