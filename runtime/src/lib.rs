//! brig-runtime: the runc-level OCI runtime as a library — the lifecycle of
//! one container over a bundle. No images, no networks, no command line:
//! those are brig-engine's and brig's.
//!
//! The layers, from the top down: `container` (lifecycle operations over the
//! state store) → `process` (clone and the container init) → `namespaces`,
//! `rootfs`, `security`, `hooks`, and the cgroup managers of the `brig-cgroups`
//! crate. `spec` validates config.json before any of them runs.

pub mod container;
pub mod failpoint;
pub mod features;
pub mod hooks;
pub mod kernel;
pub mod log;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod sys;
pub mod units;
