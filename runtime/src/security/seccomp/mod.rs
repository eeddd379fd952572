//! seccomp: linux.seccomp compiled into classic BPF by brig itself, and loaded
//! with seccomp(2). No libseccomp: see docs/seccomp.md for why.
//!
//! - [`compile`] validates the config and builds the program. It is pure (no
//!   syscalls), so `create` runs it before anything exists, and a bad profile fails
//!   with an error that names its field.
//! - [`load`] installs the program on the calling thread, last thing before
//!   execve, and returns the SCMP_ACT_NOTIFY listener fd when there is one.
//! - [`send_listener`] hands that fd to the seccomp agent at listenerPath, with
//!   the OCI ContainerProcessState, as runc does.
//!
//! The meaning of a profile is libseccomp's where libseccomp defines one (see
//! [`compile::plan`] and docs/seccomp.md for the few places brig differs).

pub mod bpf;
pub mod compile;
mod load;
mod notify;
mod syscalls;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use oci_spec::runtime::LinuxSeccomp;

pub use compile::{Cond, Decision, Plan, Rule, Target};
pub use load::{features, load};
pub use notify::{connect_agent, hand_over, listener_message, recv_fd, send_fd, send_listener};

/// SECCOMP_RET_* action values.
pub mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0x0000_0000;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
    /// The action bits of a return value (the rest is SECCOMP_RET_DATA).
    pub const ACTION_FULL: u32 = 0xffff_0000;
}

/// SECCOMP_FILTER_FLAG_*.
pub const FLAG_TSYNC: u32 = 1;
pub const FLAG_LOG: u32 = 2;
pub const FLAG_SPEC_ALLOW: u32 = 4;
pub const FLAG_NEW_LISTENER: u32 = 8;
pub const FLAG_TSYNC_ESRCH: u32 = 16;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The config is wrong; `field` is its path, e.g. `linux.seccomp.syscalls[2].args[0].op`.
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    /// seccomp(2) refused the filter.
    #[error("loading the seccomp filter: {0}")]
    Load(String),
    /// The listener fd could not be handed to the agent.
    #[error("linux.seccomp.listenerPath {}: {msg}", path.display())]
    Listener { path: PathBuf, msg: String },
}

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> SeccompError {
    SeccompError::Invalid {
        field: field.into(),
        msg: msg.into(),
    }
}

/// A compiled filter, ready for [`load`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Vec<bpf::Insn>,
    flags: u32,
    listener: bool,
}

impl Program {
    /// The BPF, in execution order.
    pub fn instructions(&self) -> &[bpf::Insn] {
        &self.insns
    }

    /// The SECCOMP_FILTER_FLAG_* bits [`load`] passes: those of linux.seccomp.flags,
    /// plus NEW_LISTENER when a rule is SCMP_ACT_NOTIFY (and TSYNC_ESRCH with it
    /// when TSYNC is asked for, as the kernel requires).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// [`load`] will return a listener fd for [`send_listener`].
    pub fn has_listener(&self) -> bool {
        self.listener
    }
}

/// Validate linux.seccomp and compile it. Pure: no syscalls.
pub fn compile(s: &LinuxSeccomp) -> Result<Program, SeccompError> {
    let plan = compile::plan(s)?;
    let insns = compile::generate(&plan);
    if insns.len() > bpf::MAX_INSNS {
        return Err(invalid(
            "linux.seccomp",
            format!(
                "the filter needs {} BPF instructions; the kernel takes at most {}",
                insns.len(),
                bpf::MAX_INSNS
            ),
        ));
    }
    debug_assert_eq!(bpf::check(&insns), Ok(()));
    let mut flags = plan.flags;
    if plan.listener {
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            flags |= FLAG_TSYNC_ESRCH;
        }
    }
    Ok(Program {
        insns,
        flags,
        listener: plan.listener,
    })
}
