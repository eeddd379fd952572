//! brig-conformance: checks any runc-compatible OCI runtime for namespace isolation, cgroup
//! enforcement, OOM semantics, overlay copy-on-write and lifecycle states.
//!
//! The suite drives runtimes only through [`runtime::RuntimeUnderTest`]; the in-container probe
//! (crate `brig-probe`) answers in JSON. See docs/conformance.md.

#[macro_use]
pub mod check;
pub mod bundle;
pub mod cgroupfs;
pub mod checks;
pub mod cli;
pub mod coverage;
pub mod ctx;
pub mod deviations;
pub mod host;
pub mod mutants;
pub mod report;
pub mod runner;
pub mod runtime;
pub mod seccomp_agent;
pub mod setup;
pub mod suite;
pub mod sys;
