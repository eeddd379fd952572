//! The OCI lifecycle as a model: the oracle that model.rs (over the real
//! brig) and model_emulated.rs (over the library on the emulated kernel)
//! both check brig against. Its semantics are documented in model.rs.

#![allow(dead_code)]

use proptest::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
    Usr1,
}

impl Sig {
    pub fn arg(self) -> &'static str {
        match self {
            Sig::Term => "TERM",
            Sig::Kill => "KILL",
            Sig::Usr1 => "USR1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Start,
    Kill(Sig),
    /// `kill --all KILL`.
    KillAll,
    Pause,
    Resume,
    Exec,
    Delete,
    DeleteForce,
    State,
}

/// The model's state of the one container of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum M {
    Absent,
    Created,
    Running,
    /// `dies`: a TERM or KILL is pending in the frozen init.
    Paused {
        dies: bool,
    },
    Stopped,
}

impl M {
    pub fn status(self) -> Option<&'static str> {
        match self {
            M::Absent => None,
            M::Created => Some("created"),
            M::Running => Some("running"),
            M::Paused { .. } => Some("paused"),
            M::Stopped => Some("stopped"),
        }
    }
}

/// What an operation must give: success, or an error whose text holds this.
pub type Expect = Result<(), &'static str>;

pub const MISSING: &str = "does not exist";

/// The model: the result of `op` in `m`, and the state after it.
pub fn step(m: M, op: Op) -> (Expect, M) {
    use M::*;
    if m == Absent && !matches!(op, Op::Create | Op::DeleteForce) {
        return (Err(MISSING), Absent);
    }
    match (op, m) {
        (Op::Create, Absent) => (Ok(()), Created),
        (Op::Create, _) => (Err("already exists"), m),
        (Op::Start, Created) => (Ok(()), Running),
        (Op::Start, _) => (Err("only a created container can be started"), m),
        (Op::Kill(_), Stopped) => (Err("container not running"), m),
        (Op::KillAll, Stopped) => (Ok(()), m),
        (Op::KillAll, _) => (Ok(()), Stopped),
        (Op::Kill(Sig::Kill), Created | Running) => (Ok(()), Stopped),
        (Op::Kill(Sig::Term), Running) => (Ok(()), Stopped),
        (Op::Kill(Sig::Kill), Paused { .. }) => (Ok(()), Stopped),
        (Op::Kill(Sig::Term), Paused { .. }) => (Ok(()), Paused { dies: true }),
        (Op::Kill(_), _) => (Ok(()), m),
        (Op::Pause, Running) => (Ok(()), Paused { dies: false }),
        (Op::Pause, _) => (Err("only a running container can be paused"), m),
        (Op::Resume, Paused { dies }) => (Ok(()), if dies { Stopped } else { Running }),
        (Op::Resume, _) => (Err("only a paused container can be resumed"), m),
        (Op::Exec, Created | Running) => (Ok(()), m),
        (Op::Exec, Paused { .. }) => (Err("resume it first"), m),
        (Op::Exec, _) => (Err("exec needs a running container"), m),
        (Op::Delete, Created | Stopped) => (Ok(()), Absent),
        (Op::Delete, _) => (Err("use delete --force"), m),
        (Op::DeleteForce, _) => (Ok(()), Absent),
        (Op::State, _) => (Ok(()), m),
    }
}

pub fn op_strategy() -> impl Strategy<Value = Op> {
    let sig = prop_oneof![Just(Sig::Term), Just(Sig::Kill), Just(Sig::Usr1)];
    prop_oneof![
        4 => Just(Op::Create),
        4 => Just(Op::Start),
        2 => sig.prop_map(Op::Kill),
        1 => Just(Op::KillAll),
        2 => Just(Op::Pause),
        2 => Just(Op::Resume),
        1 => Just(Op::Exec),
        1 => Just(Op::Delete),
        1 => Just(Op::DeleteForce),
        1 => Just(Op::State),
    ]
}
