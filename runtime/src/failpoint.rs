//! Failpoints for the crash-safety tests (runtime/tests/crash.rs).
//!
//! `BRIG_FAILPOINT=<name>` makes brig SIGKILL itself when it reaches the
//! failpoint of that name, as a user's `kill -9` at that moment would. Unset (the
//! normal case), a failpoint costs one read of a `OnceLock`: the variable is read
//! once per process. The names are in [`POINTS`]; each marks a step after which
//! a crash leaves a different half-made container behind.
//!
//! The variable is only for tests. It is harmless elsewhere: a failpoint only
//! ends this brig process, never a container.

use std::sync::OnceLock;

/// The variable that arms a failpoint.
pub const ENV: &str = "BRIG_FAILPOINT";

/// Every failpoint, in the order the lifecycle reaches them.
pub const POINTS: &[&str] = &[
    // create: the state dir exists, state.json not yet.
    "create.after-mkdir",
    // create: state.json says `creating`, pid 0; no cgroup yet.
    "create.after-state",
    // create: the cgroup exists and has its limits.
    "create.after-cgroup",
    // create: the init is set up and waits on the fifo; the state still says
    // `creating` with pid 0.
    "create.after-spawn",
    // start: the init was released (it execs the program); the state still
    // says `created`.
    "start.after-release",
    // delete: the init was killed; cgroup and state are still there.
    "delete.after-kill",
    // delete: the cgroup is gone; the state dir is still there.
    "delete.after-cgroup",
];

/// Failpoints of `brig network` (runtime/tests/network.rs), apart from the
/// lifecycle's because the lifecycle crash test walks every one of [`POINTS`].
pub const NETWORK_POINTS: &[&str] = &[
    // network attach: the CNI ADD chain ran; the record still says `adding`.
    "network.after-add",
];

/// Failpoints that widen a race window instead of crashing: brig waits there
/// for what the race needs (never longer than [`WAIT_LIMIT`]), then goes on.
/// For the race tests (runtime/tests/lifecycle_defects.rs).
pub const WAIT_POINTS: &[&str] = &[
    // start: the fifo is open, so the init has been let go; wait here until
    // the init has exited and been reaped, as a loaded host may make happen
    // (under `run`, which reaps it itself: until it is a zombie).
    "start.wait-init-reaped",
];

/// How long a waiting failpoint waits at most.
pub const WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(ENV).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// What [`observe`] registers.
type Observer = Box<dyn FnMut(&str)>;

std::thread_local! {
    /// An in-process observer of this thread's failpoints (see [`observe`]).
    static OBSERVER: std::cell::RefCell<Option<Observer>> =
        const { std::cell::RefCell::new(None) };
}

/// Call `f` with the name of each failpoint this thread reaches, until the
/// returned guard is dropped. For crash injection on the emulated kernel
/// (runtime/tests/crash_emulated.rs): there `f` takes a snapshot of the state
/// store and of the emulated kernel, which is what a SIGKILL at that point
/// leaves behind; the operation itself goes on. Unset (the normal case), a
/// failpoint costs one more thread-local read.
pub fn observe(f: impl FnMut(&str) + 'static) -> Observing {
    OBSERVER.with(|o| *o.borrow_mut() = Some(Box::new(f)));
    Observing(())
}

/// Stops [`observe`] when dropped.
#[must_use]
pub struct Observing(());

impl Drop for Observing {
    fn drop(&mut self) {
        OBSERVER.with(|o| *o.borrow_mut() = None);
    }
}

/// SIGKILL this process if `BRIG_FAILPOINT` names `name`.
pub fn hit(name: &str) {
    OBSERVER.with(|o| {
        if let Some(f) = o.borrow_mut().as_mut() {
            f(name)
        }
    });
    if armed() == Some(name) {
        debug_assert!(
            POINTS.contains(&name) || NETWORK_POINTS.contains(&name),
            "unlisted failpoint {name}"
        );
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// If `BRIG_FAILPOINT` names `name`, poll `done` until it holds (or
/// [`WAIT_LIMIT`] passes): a deterministic stand-in for a slow, loaded host.
pub fn wait_until(name: &str, mut done: impl FnMut() -> bool) {
    if armed() != Some(name) {
        return;
    }
    debug_assert!(WAIT_POINTS.contains(&name), "unlisted failpoint {name}");
    let deadline = std::time::Instant::now() + WAIT_LIMIT;
    while !done() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
