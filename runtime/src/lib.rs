//! brig: an OCI container runtime with a runc-compatible CLI, built to be tested.
//!
//! The layers, from the CLI down: `cli` (argument parsing only) → `container`
//! (lifecycle operations over the state store) → `process` (clone and the
//! container init) → `namespaces`, `rootfs`, `security`, `hooks`, and the cgroup
//! managers of the `brig-cgroups` crate. `spec` validates config.json before any
//! of them runs.

pub mod cli;
pub mod container;
pub mod engine;
pub mod failpoint;
pub mod features;
pub mod hooks;
pub mod image;
pub mod kernel;
pub mod namespaces;
pub mod network;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod sys;
