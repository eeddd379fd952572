//! What a check is: id, spec section, level, requirements as data, and an async body.

use crate::ctx::Ctx;
use crate::host::Req;
use crate::runtime::RuntimeError;
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Lifecycle,
    Namespaces,
    Cgroups,
    Oom,
    Overlay,
    Process,
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Group::Lifecycle => "lifecycle",
            Group::Namespaces => "namespaces",
            Group::Cgroups => "cgroups",
            Group::Oom => "oom",
            Group::Overlay => "overlay",
            Group::Process => "process",
        })
    }
}

/// Why a check did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Fail(String),
    Skip(String),
}

impl From<RuntimeError> for Verdict {
    fn from(e: RuntimeError) -> Self {
        Verdict::Fail(e.to_string())
    }
}

impl From<std::io::Error> for Verdict {
    fn from(e: std::io::Error) -> Self {
        Verdict::Fail(format!("i/o error in the suite: {e}"))
    }
}

impl From<anyhow::Error> for Verdict {
    fn from(e: anyhow::Error) -> Self {
        Verdict::Fail(format!("{e:#}"))
    }
}

pub type CheckResult = Result<(), Verdict>;
pub type CheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send>>;
pub type CheckFn = fn(Arc<Ctx>) -> CheckFuture;

#[derive(Clone)]
pub struct Check {
    /// Stable id, `group.subject.property`.
    pub id: &'static str,
    pub group: Group,
    /// The OCI runtime-spec section it enforces, as `file.md#anchor`.
    pub spec: &'static str,
    pub level: Level,
    /// One line: what must hold.
    pub summary: &'static str,
    pub requires: &'static [Req],
    pub run: CheckFn,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("id", &self.id)
            .field("level", &self.level)
            .finish()
    }
}

/// Fails the check with a formatted reason unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::check::Verdict::Fail(format!($($fmt)+)));
        }
    };
}

/// Fails the check with a formatted reason.
#[macro_export]
macro_rules! fail {
    ($($fmt:tt)+) => {
        return Err($crate::check::Verdict::Fail(format!($($fmt)+)))
    };
}

/// Skips the check with a formatted reason (for facts only known at run time).
#[macro_export]
macro_rules! skip {
    ($($fmt:tt)+) => {
        return Err($crate::check::Verdict::Skip(format!($($fmt)+)))
    };
}

/// Builds a [`Check`] from an async fn taking `Arc<Ctx>`.
#[macro_export]
macro_rules! check {
    (
        id: $id:literal,
        group: $group:ident,
        spec: $spec:literal,
        level: $level:ident,
        summary: $summary:literal,
        requires: [$($req:expr),* $(,)?],
        run: $f:path $(,)?
    ) => {
        $crate::check::Check {
            id: $id,
            group: $crate::check::Group::$group,
            spec: $spec,
            level: $crate::check::Level::$level,
            summary: $summary,
            requires: &[$($req),*],
            run: |c| Box::pin($f(c)),
        }
    };
}
