//! Results of a run and the three ways to print them: TAP (default), JSON and a table.

pub mod json;
pub mod table;
pub mod tap;

use crate::check::{Group, Level};
use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// One check on one runtime.
#[derive(Clone, Debug, Serialize)]
pub struct CheckOutcome {
    pub result: Outcome,
    /// Why it failed or was skipped (one line); `None` for a pass.
    pub reason: Option<String>,
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

#[derive(Clone, Debug, Serialize)]
pub struct RuntimeInfo {
    pub name: String,
    /// Binary and global arguments.
    pub command: String,
    /// Wall time of all its checks.
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Duration,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub group: Group,
    pub level: Level,
    pub spec: String,
    pub summary: String,
    /// One per runtime, in the order of [`Report::runtimes`].
    pub results: Vec<CheckOutcome>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// A one-line description of the host.
    pub host: String,
    pub runtimes: Vec<RuntimeInfo>,
    pub rows: Vec<Row>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    /// Failures of MUST checks (these decide the exit code).
    pub must_fail: usize,
}

impl Report {
    pub fn counts(&self, runtime: usize) -> Counts {
        let mut c = Counts::default();
        for r in &self.rows {
            match r.results[runtime].result {
                Outcome::Pass => c.pass += 1,
                Outcome::Skip => c.skip += 1,
                Outcome::Fail => {
                    c.fail += 1;
                    if r.level == Level::Must {
                        c.must_fail += 1;
                    }
                }
            }
        }
        c
    }

    /// True when every applicable MUST check passed on every runtime.
    pub fn all_must_pass(&self) -> bool {
        (0..self.runtimes.len()).all(|i| self.counts(i).must_fail == 0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Tap,
    Json,
    Table,
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Tap => tap::render(report),
        Format::Json => json::render(report),
        Format::Table => table::render(report),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A synthetic report: two runtimes, every outcome and level.
    pub fn report() -> Report {
        let ok = |ms| CheckOutcome {
            result: Outcome::Pass,
            reason: None,
            duration: Duration::from_millis(ms),
        };
        let fail = |why: &str| CheckOutcome {
            result: Outcome::Fail,
            reason: Some(why.to_string()),
            duration: Duration::from_millis(40),
        };
        let skip = |why: &str| CheckOutcome {
            result: Outcome::Skip,
            reason: Some(why.to_string()),
            duration: Duration::ZERO,
        };
        Report {
            host: "kernel 6.18.0, cgroups hybrid (v1 + v2), cpus [0, 1]".into(),
            runtimes: vec![
                RuntimeInfo {
                    name: "runc".into(),
                    command: "/usr/sbin/runc".into(),
                    duration: Duration::from_millis(41_250),
                },
                RuntimeInfo {
                    name: "crun".into(),
                    command: "/usr/bin/crun --cgroup-manager=cgroupfs".into(),
                    duration: Duration::from_millis(30_500),
                },
            ],
            rows: vec![
                Row {
                    id: "ns.uts.hostname".into(),
                    group: Group::Namespaces,
                    level: Level::Must,
                    spec: "config.md#hostname".into(),
                    summary: "the container sees the configured hostname".into(),
                    results: vec![
                        ok(35),
                        fail("hostname is \"vm\", want \"brig-conformance\""),
                    ],
                },
                Row {
                    id: "cgroup.blkio.weight".into(),
                    group: Group::Cgroups,
                    level: Level::Should,
                    spec: "config-linux.md#block-io".into(),
                    summary: "blockIO.weight is written to the container's cgroup".into(),
                    results: vec![
                        skip("host has no blkio.weight in the v1 blkio hierarchy"),
                        skip("host has no blkio.weight in the v1 blkio hierarchy"),
                    ],
                },
                Row {
                    id: "lifecycle.state.annotations".into(),
                    group: Group::Lifecycle,
                    level: Level::Should,
                    spec: "runtime.md#state".into(),
                    summary: "state carries the config's annotations".into(),
                    results: vec![fail("state has no annotations"), ok(12)],
                },
            ],
        }
    }
}
