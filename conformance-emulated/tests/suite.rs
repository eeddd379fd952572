//! The conformance suite on brig's library and the emulated kernel: no root, no busybox, no
//! probe binary. The kernel-free checks must pass (brig's accepted deviations aside), every
//! other check must be skipped with the emulated kernel as the reason, and a deliberately broken
//! runtime must fail the check that covers its defect.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use brig_conformance::ctx::SuiteEnv;
use brig_conformance::host::HostFacts;
use brig_conformance::report::{self, Outcome, Report};
use brig_conformance::runner::{self, RunOptions};
use brig_conformance::runtime::{CmdOutput, ContainerIo, Op, RuntimeError, RuntimeUnderTest};
use brig_conformance_emulated::EmulatedRuntime;
use serde_json::Value;

/// The checks that observe nothing but the runtime's own answers (and, through the trait, its
/// processes): they must run, and pass, on the emulated kernel.
const KERNEL_FREE: &[&str] = &[
    "lifecycle.create.status-created",
    "lifecycle.start.status-running",
    "lifecycle.exit.status-stopped",
    "lifecycle.delete.gone",
    "lifecycle.state.schema",
    "lifecycle.state.annotations",
    "lifecycle.error.start-twice",
    "lifecycle.error.delete-running",
    "lifecycle.error.kill-stopped",
    "lifecycle.error.unknown-id",
    "lifecycle.error.duplicate-id",
    "lifecycle.error.bad-rootfs",
    "lifecycle.kill.created",
    "lifecycle.error.delete-created",
    "lifecycle.kill.by-name",
    "lifecycle.kill.by-number",
    "lifecycle.kill.sig-prefix",
    "lifecycle.kill.sigkill-stops",
    "lifecycle.delete.force-running",
    "lifecycle.run.exit-code",
    "lifecycle.kill.signal-zero",
    "lifecycle.error.invalid-id",
    "lifecycle.config.invalid-value-error",
    "ns.duplicate.error",
    "process.rlimits.unknown-type-error",
    "process.rlimits.duplicate-error",
];

struct Bed {
    _tmp: tempfile::TempDir,
    env: Arc<SuiteEnv>,
    root: std::path::PathBuf,
}

fn bed() -> Bed {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The shared rootfs and the host-side probe: nothing runs from them on the emulator.
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let probe = tmp.path().join("brig-probe");
    std::fs::write(&probe, "").unwrap();
    let workdir = tmp.path().join("work");
    std::fs::create_dir_all(&workdir).unwrap();
    let env = Arc::new(SuiteEnv::new(
        rootfs,
        probe,
        workdir,
        format!("emu{}", std::process::id()),
    ));
    let root = tmp.path().join("runtime");
    Bed {
        _tmp: tmp,
        env,
        root,
    }
}

fn run(rt: Arc<dyn RuntimeUnderTest>, env: Arc<SuiteEnv>) -> Report {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let opts = RunOptions {
        progress: false,
        check_timeout: Duration::from_secs(60),
        ..RunOptions::default()
    };
    tokio.block_on(runner::run(
        &[rt],
        &brig_conformance::checks::all(),
        Arc::new(HostFacts::detect()),
        env,
        &opts,
    ))
}

fn outcome<'a>(r: &'a Report, id: &str) -> (&'a Outcome, String) {
    let row = r
        .rows
        .iter()
        .find(|row| row.id == id)
        .unwrap_or_else(|| panic!("no check {id}"));
    (
        &row.results[0].result,
        row.results[0].reason.clone().unwrap_or_default(),
    )
}

#[test]
fn the_suite_on_the_emulated_kernel() {
    let b = bed();
    let rt = Arc::new(EmulatedRuntime::new("brig-emulated", &b.root).unwrap());
    let r = run(rt.clone(), b.env.clone());
    eprint!("{}", report::render(&r, report::Format::Table));
    let mut wrong = Vec::new();
    for row in &r.rows {
        let res = &row.results[0];
        let reason = res.reason.clone().unwrap_or_default();
        let kernel_free = KERNEL_FREE.contains(&row.id.as_str());
        match (&res.result, kernel_free) {
            (Outcome::Pass, true) => {}
            (Outcome::Fail, true) if brig_conformance::deviations::brig_accepts(&row.id) => {}
            (Outcome::Skip, false) if reason.contains("emulated kernel") => {}
            (o, _) => wrong.push(format!("{}: {o:?} {reason}", row.id)),
        }
    }
    assert!(
        wrong.is_empty(),
        "on the emulated kernel:\n{}",
        wrong.join("\n")
    );
    // brig's accepted deviations that the emulator can see show there too.
    for (id, _) in brig_conformance::deviations::BRIG_ACCEPTED {
        if KERNEL_FREE.contains(id) {
            assert_eq!(*outcome(&r, id).0, Outcome::Fail, "{id}");
        }
    }
    // Every check cleaned up after itself: no container, process or cgroup is left.
    let emu = rt.emulator();
    assert!(emu.pids().is_empty(), "processes left: {:?}", emu.pids());
    assert!(
        emu.cgroups().is_empty(),
        "cgroups left: {:?}",
        emu.cgroups()
    );
}

/// brig on the emulator, except that `delete` always forces: a runtime that deletes a running
/// container when it must refuse.
struct ForcesDelete(EmulatedRuntime);

#[async_trait]
impl RuntimeUnderTest for ForcesDelete {
    fn name(&self) -> &str {
        "forces-delete"
    }
    fn describe(&self) -> String {
        "brig-runtime on the emulator, delete always --force".into()
    }
    fn supports(&self, op: Op) -> bool {
        self.0.supports(op)
    }
    fn needs_root(&self) -> bool {
        false
    }
    fn host_kernel(&self) -> bool {
        false
    }
    fn pid_alive(&self, pid: i32) -> bool {
        self.0.pid_alive(pid)
    }
    async fn wait_pid_exit(&self, pid: i32, timeout: Duration) -> std::io::Result<bool> {
        self.0.wait_pid_exit(pid, timeout).await
    }
    async fn create(
        &self,
        id: &str,
        bundle: &Path,
        io: &ContainerIo,
    ) -> Result<CmdOutput, RuntimeError> {
        self.0.create(id, bundle, io).await
    }
    async fn start(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.0.start(id).await
    }
    async fn state(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.0.state(id).await
    }
    async fn kill(&self, id: &str, signal: &str) -> Result<CmdOutput, RuntimeError> {
        self.0.kill(id, signal).await
    }
    async fn delete(&self, id: &str, _force: bool) -> Result<CmdOutput, RuntimeError> {
        self.0.delete(id, true).await
    }
    async fn pause(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.0.pause(id).await
    }
    async fn resume(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.0.resume(id).await
    }
    async fn exec(&self, id: &str, args: &[String]) -> Result<CmdOutput, RuntimeError> {
        self.0.exec(id, args).await
    }
    async fn update(&self, id: &str, resources: &Value) -> Result<CmdOutput, RuntimeError> {
        self.0.update(id, resources).await
    }
    async fn events_stats(&self, id: &str) -> Result<CmdOutput, RuntimeError> {
        self.0.events_stats(id).await
    }
    async fn run(&self, id: &str, bundle: &Path) -> Result<CmdOutput, RuntimeError> {
        self.0.run(id, bundle).await
    }
}

#[test]
fn a_runtime_that_deletes_a_running_container_fails_the_check() {
    let b = bed();
    let rt = Arc::new(ForcesDelete(
        EmulatedRuntime::new("brig-emulated", &b.root).unwrap(),
    ));
    let r = run(rt, b.env.clone());
    let (o, why) = outcome(&r, "lifecycle.error.delete-running");
    assert_eq!(*o, Outcome::Fail, "{why}");
    assert!(why.contains("succeeded"), "{why}");
    // The check of the real behaviour still passes on the same runtime: only the defect shows.
    assert_eq!(*outcome(&r, "lifecycle.kill.by-name").0, Outcome::Pass);
}
