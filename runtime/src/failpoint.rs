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
    // start: the state says `running`; poststart hooks have not run.
    "start.after-save",
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

/// SIGKILL this process if `BRIG_FAILPOINT` names `name`.
pub fn hit(name: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var(ENV).ok().filter(|v| !v.is_empty()));
    if armed.as_deref() == Some(name) {
        debug_assert!(
            POINTS.contains(&name) || NETWORK_POINTS.contains(&name),
            "unlisted failpoint {name}"
        );
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
