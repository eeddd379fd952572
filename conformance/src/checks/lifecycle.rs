//! Lifecycle: states after each operation, the state JSON, error cases, signals, pause/resume,
//! exec, hooks, and that delete leaves nothing behind.

use crate::check::{Check, CheckResult, Verdict};
use crate::ctx::{Container, Ctx};
use crate::host::Req;
use crate::runtime::Op;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

use Op::{Create, Delete, Exec, Kill, Pause, Resume, Run, Start, State};

pub fn checks() -> Vec<Check> {
    vec![
        check! {
            id: "lifecycle.create.status-created", group: Lifecycle, spec: "runtime.md#create", level: Must,
            summary: "after create, state reports status created",
            requires: [Req::Root, Req::Op(Create), Req::Op(State)], run: create_status_created,
        },
        check! {
            id: "lifecycle.create.process-not-started", group: Lifecycle, spec: "runtime.md#create", level: Must,
            summary: "create does not run the user program; start does",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: create_not_started,
        },
        check! {
            id: "lifecycle.start.status-running", group: Lifecycle, spec: "runtime.md#start", level: Must,
            summary: "after start, state reports status running while the program runs",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: start_running,
        },
        check! {
            id: "lifecycle.exit.status-stopped", group: Lifecycle, spec: "runtime.md#lifecycle", level: Must,
            summary: "when the program exits, state reports status stopped",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: exit_stopped,
        },
        check! {
            id: "lifecycle.delete.gone", group: Lifecycle, spec: "runtime.md#delete", level: Must,
            summary: "after delete, state of the id is an error",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: delete_gone,
        },
        check! {
            id: "lifecycle.state.schema", group: Lifecycle, spec: "runtime.md#state", level: Must,
            summary: "state JSON validates against the OCI state schema when created, running and stopped",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill)], run: state_schema,
        },
        check! {
            id: "lifecycle.state.fields", group: Lifecycle, spec: "runtime.md#state", level: Must,
            summary: "state has the container's id, absolute bundle path and the host pid of its process",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: state_fields,
        },
        check! {
            id: "lifecycle.state.annotations", group: Lifecycle, spec: "runtime.md#state", level: Should,
            summary: "state carries the config's annotations",
            requires: [Req::Root, Req::Op(Create), Req::Op(State)], run: state_annotations,
        },
        check! {
            id: "lifecycle.error.start-twice", group: Lifecycle, spec: "runtime.md#start", level: Must,
            summary: "starting a running container is an error and leaves it running",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: start_twice,
        },
        check! {
            id: "lifecycle.error.delete-running", group: Lifecycle, spec: "runtime.md#delete", level: Must,
            summary: "delete without --force of a running container is an error and leaves it running",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: delete_running,
        },
        check! {
            id: "lifecycle.error.kill-stopped", group: Lifecycle, spec: "runtime.md#kill", level: Must,
            summary: "kill of a stopped container is an error and leaves it stopped",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill)], run: kill_stopped,
        },
        check! {
            id: "lifecycle.error.unknown-id", group: Lifecycle, spec: "runtime.md#operations", level: Must,
            summary: "state, start, kill and delete of an unknown id are errors",
            requires: [Req::Root, Req::Op(State), Req::Op(Start), Req::Op(Kill), Req::Op(Delete)], run: unknown_id,
        },
        check! {
            id: "lifecycle.error.duplicate-id", group: Lifecycle, spec: "runtime.md#create", level: Must,
            summary: "create with an id in use is an error and does not touch the existing container",
            requires: [Req::Root, Req::Op(Create), Req::Op(State)], run: duplicate_id,
        },
        check! {
            id: "lifecycle.error.bad-rootfs", group: Lifecycle, spec: "runtime.md#create", level: Must,
            summary: "create with a missing root.path is an error and leaves no container",
            requires: [Req::Root, Req::Op(Create), Req::Op(State)], run: bad_rootfs,
        },
        check! {
            id: "lifecycle.kill.created", group: Lifecycle, spec: "runtime.md#kill", level: Must,
            summary: "kill KILL of a created (not started) container succeeds and it becomes stopped",
            requires: [Req::Root, Req::Op(Create), Req::Op(State), Req::Op(Kill)], run: kill_created,
        },
        check! {
            id: "lifecycle.error.delete-created", group: Lifecycle, spec: "runtime.md#delete", level: Must,
            summary: "delete without --force of a created (not stopped) container is an error and leaves it created",
            requires: [Req::Root, Req::Op(Create), Req::Op(State), Req::Op(Delete)], run: delete_created,
        },
        check! {
            id: "lifecycle.kill.by-name", group: Lifecycle, spec: "runtime.md#kill", level: Must,
            summary: "kill with a signal name (USR1) delivers that signal",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill)], run: kill_by_name,
        },
        check! {
            id: "lifecycle.kill.by-number", group: Lifecycle, spec: "runtime.md#kill", level: Must,
            summary: "kill with a signal number (12) delivers that signal",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill)], run: kill_by_number,
        },
        check! {
            id: "lifecycle.kill.sig-prefix", group: Lifecycle, spec: "runtime.md#kill", level: Should,
            summary: "kill accepts the SIG-prefixed name (SIGHUP) like runc",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill)], run: kill_sig_prefix,
        },
        check! {
            id: "lifecycle.kill.sigkill-stops", group: Lifecycle, spec: "runtime.md#kill", level: Must,
            summary: "kill KILL of a running container ends its process and state becomes stopped",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill)], run: kill_sigkill,
        },
        check! {
            id: "lifecycle.delete.force-running", group: Lifecycle, spec: "runc-cli#delete", level: Should,
            summary: "delete --force removes a running container and its process",
            requires: [Req::Root, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: delete_force,
        },
        check! {
            id: "lifecycle.pause.paused", group: Lifecycle, spec: "runc-cli#pause", level: Should,
            summary: "pause reports status paused and freezes the container's cgroup",
            requires: [Req::Root, Req::HostKernel, Req::Controller("freezer"), Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Pause), Req::Op(Resume)], run: pause_paused,
        },
        check! {
            id: "lifecycle.resume.running", group: Lifecycle, spec: "runc-cli#resume", level: Should,
            summary: "resume after pause reports running and the process handles signals again",
            requires: [Req::Root, Req::HostKernel, Req::Controller("freezer"), Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Pause), Req::Op(Resume), Req::Op(Kill)], run: resume_running,
        },
        check! {
            id: "lifecycle.exec.joins-namespaces", group: Lifecycle, spec: "runc-cli#exec", level: Should,
            summary: "exec runs a process in all of the container's namespaces",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Exec)], run: exec_namespaces,
        },
        check! {
            id: "lifecycle.exec.exit-code", group: Lifecycle, spec: "runc-cli#exec", level: Should,
            summary: "exec exits with the exit code of the executed process",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Exec)], run: exec_exit_code,
        },
        check! {
            id: "lifecycle.run.exit-code", group: Lifecycle, spec: "runc-cli#run", level: Should,
            summary: "run exits with the exit code of the container's process",
            requires: [Req::Root, Req::Op(Run)], run: run_exit_code,
        },
        check! {
            id: "lifecycle.hooks.order", group: Lifecycle, spec: "config.md#posix-platform-hooks", level: Must,
            summary: "hooks run in spec order: prestart, createRuntime, createContainer at create; startContainer, poststart at start; poststop at delete",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: hooks_order,
        },
        check! {
            id: "lifecycle.hooks.state-stdin", group: Lifecycle, spec: "config.md#posix-platform-hooks", level: Must,
            summary: "every hook gets the container's state on stdin: schema-valid, its id and bundle, and (in the runtime namespace) its host pid",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: hooks_state,
        },
        check! {
            id: "lifecycle.hooks.failure-aborts", group: Lifecycle, spec: "runtime.md#lifecycle", level: Must,
            summary: "a failing createRuntime hook makes the operation fail and the program never runs",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: hooks_failure,
        },
        check! {
            id: "lifecycle.cleanup.no-process", group: Lifecycle, spec: "runtime.md#delete", level: Must,
            summary: "after kill and delete no process of the container is left",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill), Req::Op(Delete)], run: cleanup_process,
        },
        check! {
            id: "lifecycle.cleanup.no-cgroup", group: Lifecycle, spec: "runtime.md#delete", level: Must,
            summary: "after delete the container's cgroups are removed",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill), Req::Op(Delete)], run: cleanup_cgroup,
        },
        check! {
            id: "lifecycle.cleanup.no-mount", group: Lifecycle, spec: "runtime.md#delete", level: Must,
            summary: "no mount of the container shows on the host, during its life or after delete",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill), Req::Op(Delete)], run: cleanup_mount,
        },
        check! {
            id: "lifecycle.events.stats", group: Lifecycle, spec: "runc-cli#events", level: Should,
            summary: "events --stats prints a JSON stats object for a running container",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Op::Events)], run: events_stats,
        },
    ]
}

/// The OCI state schema (runtime-spec schema/state-schema.json).
pub const STATE_SCHEMA: &str = include_str!("../../schema/state-schema.json");

/// Validates `state` against the OCI state schema; the error lists every violation.
pub fn validate_state(state: &Value) -> Result<(), String> {
    static V: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    let v = V.get_or_init(|| {
        let schema: Value = serde_json::from_str(STATE_SCHEMA).map_err(|e| e.to_string())?;
        jsonschema::validator_for(&schema).map_err(|e| e.to_string())
    });
    let v = v
        .as_ref()
        .map_err(|e| format!("suite bug: bad state schema: {e}"))?;
    let errs: Vec<String> = v
        .iter_errors(state)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

async fn create_status_created(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.create(&b).await?;
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "created",
        "status after create is {}, want \"created\"",
        st["status"]
    );
    Ok(())
}

/// The host path of the probe inside the shared rootfs: what /proc/<pid>/exe shows once the
/// user program runs.
fn is_probe_exe(c: &Ctx, pid: i32) -> Option<bool> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let s = exe.to_string_lossy();
    Some(s.ends_with("/probe") || s == c.env.rootfs.join("probe").to_string_lossy())
}

async fn create_not_started(c: Arc<Ctx>) -> CheckResult {
    let out = c.scratch("out")?;
    let mut b = c.bundle(&["write", "/out/started", "yes", "+", "wait-signal"]);
    b.bind(&out, "/out", false);
    let k = c.create(&b).await?;
    ensure!(
        !out.join("started").exists(),
        "the program ran at create: /out/started exists before start"
    );
    ensure!(
        is_probe_exe(&c, k.pid) == Some(false),
        "after create, pid {} already executes the user program",
        k.pid
    );
    c.start(&k).await?;
    c.wait_output(&k, |l| l["waiting"] == true).await?;
    ensure!(
        out.join("started").exists(),
        "the program ran but /out/started is missing"
    );
    Ok(())
}

async fn start_running(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "running",
        "status after start is {}, want \"running\"",
        st["status"]
    );
    Ok(())
}

async fn exited(c: &Ctx, args: &[&str]) -> Result<Container, Verdict> {
    let b = c.bundle(args);
    let k = c.create_started(&b).await?;
    c.wait_exit(&k).await?;
    Ok(k)
}

async fn exit_stopped(c: Arc<Ctx>) -> CheckResult {
    let k = exited(&c, &["exit", "0"]).await?;
    c.wait_status(&k.id, "stopped").await?;
    Ok(())
}

async fn delete_gone(c: Arc<Ctx>) -> CheckResult {
    let k = exited(&c, &["exit", "0"]).await?;
    c.wait_status(&k.id, "stopped").await?;
    c.delete(&k).await?;
    let out = c.rt.state(&k.id).await?;
    ensure!(
        !out.success(),
        "state after delete still succeeds: {}",
        out.stdout.trim()
    );
    Ok(())
}

async fn state_schema(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.create(&b).await?;
    let check = |phase: &str, st: &Value| -> CheckResult {
        validate_state(st)
            .map_err(|e| Verdict::Fail(format!("state when {phase} violates the schema: {e}")))
    };
    check("created", &c.state(&k.id).await?)?;
    c.start(&k).await?;
    c.wait_output(&k, |l| l["waiting"] == true).await?;
    check("running", &c.state(&k.id).await?)?;
    c.kill(&k, "KILL").await?;
    c.wait_exit(&k).await?;
    let st = c.wait_status(&k.id, "stopped").await?;
    check("stopped", &st)
}

async fn state_fields(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let st = c.state(&k.id).await?;
    ensure!(
        st["id"] == k.id.as_str(),
        "state id is {}, want {:?}",
        st["id"],
        k.id
    );
    let bundle = std::fs::canonicalize(&b.dir)?;
    ensure!(
        st["bundle"].as_str().map(std::path::PathBuf::from) == Some(bundle.clone()),
        "state bundle is {}, want the absolute path {:?}",
        st["bundle"],
        bundle
    );
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    ensure!(
        is_probe_exe(&c, pid) == Some(true),
        "state pid {pid} is not the container's process on the host"
    );
    ensure!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "state has no ociVersion"
    );
    Ok(())
}

async fn state_annotations(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["wait-signal"]);
    b.set("annotations", json!({"org.brig.conformance": "annotated"}));
    let k = c.create(&b).await?;
    let st = c.state(&k.id).await?;
    ensure!(
        st["annotations"]["org.brig.conformance"] == "annotated",
        "state annotations are {}, want the config's",
        st["annotations"]
    );
    Ok(())
}

async fn start_twice(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let out = c.rt.start(&k.id).await?;
    ensure!(!out.success(), "second start succeeded");
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "running",
        "after the second start the status is {}",
        st["status"]
    );
    ensure!(c.rt.pid_alive(k.pid), "the second start killed the process");
    Ok(())
}

async fn delete_running(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let out = c.rt.delete(&k.id, false).await?;
    ensure!(
        !out.success(),
        "delete of a running container without --force succeeded"
    );
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "running",
        "after the refused delete the status is {}",
        st["status"]
    );
    ensure!(
        c.rt.pid_alive(k.pid),
        "the refused delete killed the process"
    );
    Ok(())
}

async fn kill_created(c: Arc<Ctx>) -> CheckResult {
    let k = c.create(&c.bundle(&["wait-signal"])).await?;
    c.kill(&k, "KILL").await?;
    c.wait_exit(&k).await?;
    c.wait_status(&k.id, "stopped").await?;
    Ok(())
}

async fn delete_created(c: Arc<Ctx>) -> CheckResult {
    let k = c.create(&c.bundle(&["wait-signal"])).await?;
    let out = c.rt.delete(&k.id, false).await?;
    ensure!(
        !out.success(),
        "delete of a created container without --force succeeded"
    );
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "created",
        "after the refused delete the status is {}",
        st["status"]
    );
    Ok(())
}

async fn kill_stopped(c: Arc<Ctx>) -> CheckResult {
    let k = exited(&c, &["exit", "0"]).await?;
    c.wait_status(&k.id, "stopped").await?;
    let out = c.rt.kill(&k.id, "KILL").await?;
    ensure!(!out.success(), "kill of a stopped container succeeded");
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "stopped",
        "after the refused kill the status is {}",
        st["status"]
    );
    Ok(())
}

async fn unknown_id(c: Arc<Ctx>) -> CheckResult {
    let id = format!("{}-never-created", c.env.next_id());
    let mut ok = Vec::new();
    for (name, out) in [
        ("state", c.rt.state(&id).await?),
        ("start", c.rt.start(&id).await?),
        ("kill", c.rt.kill(&id, "KILL").await?),
        ("delete", c.rt.delete(&id, false).await?),
    ] {
        if out.success() {
            ok.push(name);
        }
    }
    ensure!(
        ok.is_empty(),
        "{} of an unknown id succeeded",
        ok.join(", ")
    );
    Ok(())
}

async fn duplicate_id(c: Arc<Ctx>) -> CheckResult {
    let b1 = c.bundle(&["wait-signal"]);
    let k = c.create(&b1).await?;
    let b2 = c.bundle(&["exit", "0"]);
    let out = c.try_create(&b2, &k.id).await?;
    ensure!(!out.success(), "a second create with id {} succeeded", k.id);
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "created",
        "the first container is now {}",
        st["status"]
    );
    ensure!(
        st["pid"].as_i64() == Some(i64::from(k.pid)),
        "the first container's pid changed to {}",
        st["pid"]
    );
    let bundle = std::fs::canonicalize(&b1.dir)?;
    ensure!(
        st["bundle"].as_str().map(std::path::PathBuf::from) == Some(bundle),
        "the first container's bundle changed to {}",
        st["bundle"]
    );
    Ok(())
}

async fn bad_rootfs(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["exit", "0"]);
    let missing = c.dir.join("no-such-rootfs");
    b.set("root.path", json!(missing.display().to_string()));
    let out = c.try_create(&b, &b.id).await?;
    ensure!(!out.success(), "create with a missing root.path succeeded");
    let st = c.rt.state(&b.id).await?;
    ensure!(
        !st.success(),
        "after the failed create, state still knows the id: {}",
        crate::ctx::truncate(st.stdout.trim(), 160)
    );
    Ok(())
}

async fn signal_check(c: &Ctx, spec: &str, want: i64) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    c.kill(&k, spec).await?;
    let l = c.wait_output(&k, |l| l.get("signal").is_some()).await?;
    ensure!(
        l["signal"] == want,
        "kill {spec} delivered signal {}, want {want}",
        l["signal"]
    );
    Ok(())
}

async fn kill_by_name(c: Arc<Ctx>) -> CheckResult {
    signal_check(&c, "USR1", i64::from(libc::SIGUSR1)).await
}

async fn kill_by_number(c: Arc<Ctx>) -> CheckResult {
    signal_check(&c, &libc::SIGUSR2.to_string(), i64::from(libc::SIGUSR2)).await
}

async fn kill_sig_prefix(c: Arc<Ctx>) -> CheckResult {
    signal_check(&c, "SIGHUP", i64::from(libc::SIGHUP)).await
}

async fn kill_sigkill(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    c.kill(&k, "KILL").await?;
    c.wait_exit(&k).await?;
    c.wait_status(&k.id, "stopped").await?;
    Ok(())
}

async fn delete_force(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let out = c.rt.delete(&k.id, true).await?;
    ensure!(out.success(), "delete --force failed: {}", out.describe());
    c.wait_exit(&k).await?;
    let st = c.rt.state(&k.id).await?;
    ensure!(!st.success(), "state after delete --force still succeeds");
    Ok(())
}

fn frozen(c: &Ctx, k: &Container) -> Result<bool, Verdict> {
    let cg = c.cgroups(k)?;
    let (path, v) = cg
        .read("freezer", "freezer.state", "cgroup.freeze")
        .map_err(Verdict::Fail)?;
    Ok(if path.ends_with("freezer.state") {
        v == "FROZEN"
    } else {
        v == "1"
    })
}

async fn pause_paused(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let out = c.rt.pause(&k.id).await?;
    ensure!(out.success(), "pause failed: {}", out.describe());
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "paused",
        "status after pause is {}, want \"paused\"",
        st["status"]
    );
    ensure!(
        frozen(&c, &k)?,
        "the container's freezer cgroup is not frozen after pause"
    );
    let out = c.rt.resume(&k.id).await?;
    ensure!(out.success(), "resume failed: {}", out.describe());
    Ok(())
}

async fn resume_running(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let out = c.rt.pause(&k.id).await?;
    ensure!(out.success(), "pause failed: {}", out.describe());
    let out = c.rt.resume(&k.id).await?;
    ensure!(out.success(), "resume failed: {}", out.describe());
    let st = c.state(&k.id).await?;
    ensure!(
        st["status"] == "running",
        "status after resume is {}",
        st["status"]
    );
    ensure!(
        !frozen(&c, &k)?,
        "the freezer cgroup is still frozen after resume"
    );
    c.kill(&k, "USR1").await?;
    let l = c.wait_output(&k, |l| l.get("signal").is_some()).await?;
    ensure!(
        l["signal"] == libc::SIGUSR1,
        "got signal {} after resume",
        l["signal"]
    );
    Ok(())
}

async fn exec_namespaces(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let lines = c.exec_probe(&k, &["ns"]).await?;
    let ns = &crate::ctx::find_line(&lines, "ns")?["ns"];
    for kind in ["pid", "net", "ipc", "uts", "mnt"] {
        let want = crate::sys::ns_of(&format!("/proc/{}/ns/{kind}", k.pid));
        ensure!(
            ns[kind].as_u64() == want,
            "exec'd process is in {kind} namespace {}, the container's is {want:?}",
            ns[kind]
        );
    }
    Ok(())
}

async fn exec_exit_code(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let out =
        c.rt.exec(&k.id, &["/probe".into(), "exit".into(), "7".into()])
            .await?;
    ensure!(
        out.code == Some(7),
        "exec of `probe exit 7` returned {}",
        out.describe()
    );
    Ok(())
}

async fn run_exit_code(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["exit", "3"]);
    let r = c.run(&b).await?;
    ensure!(
        r.out.code == Some(3),
        "run of `probe exit 3` returned {}",
        r.out.describe()
    );
    Ok(())
}

pub(crate) const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Adds one probe hook per kind; all append to one log. startContainer runs in the container,
/// so it uses the probe at /probe and the log through a bind mount at /hooklog.
pub(crate) fn add_hooks(
    c: &Ctx,
    b: &mut crate::bundle::Bundle,
    fail: Option<&str>,
) -> std::io::Result<std::path::PathBuf> {
    let logdir = c.scratch("hooklog")?;
    let log = logdir.join("log");
    for h in HOOKS {
        let (path, logpath) = if h == "startContainer" {
            ("/probe".to_string(), "/hooklog/log".to_string())
        } else {
            (c.env.probe.display().to_string(), log.display().to_string())
        };
        let mut args = vec!["brig-probe".to_string(), "hook".into(), h.into(), logpath];
        if fail == Some(h) {
            args.push("fail".into());
        }
        b.push(&format!("hooks.{h}"), json!({"path": path, "args": args}));
    }
    b.bind(&logdir, "/hooklog", false);
    Ok(log)
}

pub(crate) fn hook_log(log: &std::path::Path) -> Result<Vec<Value>, Verdict> {
    let s = std::fs::read_to_string(log).unwrap_or_default();
    crate::ctx::parse_lines(&s)
}

pub(crate) fn hook_names(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["hook"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// create → start → exit → delete with every hook, returning the log after each step.
async fn hooked_lifecycle(c: &Ctx) -> Result<(Container, Vec<Vec<Value>>), Verdict> {
    let mut b = c.bundle(&["exit", "0"]);
    let log = add_hooks(c, &mut b, None)?;
    let k = c.create(&b).await?;
    let after_create = hook_log(&log)?;
    c.start(&k).await?;
    let after_start = hook_log(&log)?;
    c.wait_exit(&k).await?;
    c.wait_status(&k.id, "stopped").await?;
    c.delete(&k).await?;
    let after_delete = hook_log(&log)?;
    Ok((k, vec![after_create, after_start, after_delete]))
}

async fn hooks_order(c: Arc<Ctx>) -> CheckResult {
    let (_, logs) = hooked_lifecycle(&c).await?;
    let want = [&HOOKS[..3], &HOOKS[..5], &HOOKS[..]];
    for ((phase, got), want) in ["create", "start", "delete"].iter().zip(&logs).zip(want) {
        let got = hook_names(got);
        ensure!(
            got == want,
            "hooks run by the end of {phase}: {got:?}, want {want:?}"
        );
    }
    Ok(())
}

async fn hooks_state(c: Arc<Ctx>) -> CheckResult {
    let (k, logs) = hooked_lifecycle(&c).await?;
    let all = logs.last().cloned().unwrap_or_default();
    ensure!(!all.is_empty(), "no hook ran");
    let bundle = std::fs::canonicalize(&k.bundle)?;
    for l in &all {
        let h = l["hook"].as_str().unwrap_or("?");
        let st = &l["state"];
        validate_state(st).map_err(|e| {
            Verdict::Fail(format!("{h} hook got a state violating the schema: {e}"))
        })?;
        ensure!(
            st["id"] == k.id.as_str(),
            "{h} hook got id {}, want {:?}",
            st["id"],
            k.id
        );
        ensure!(
            st["bundle"].as_str().map(std::path::PathBuf::from) == Some(bundle.clone()),
            "{h} hook got bundle {}",
            st["bundle"]
        );
        // Hooks in the runtime namespace see host pids; the state's pid is the host's view.
        if matches!(h, "prestart" | "createRuntime" | "poststart") {
            ensure!(
                st["pid"].as_i64() == Some(i64::from(k.pid)),
                "{h} hook got pid {}, the container's host pid is {}",
                st["pid"],
                k.pid
            );
        }
    }
    Ok(())
}

async fn hooks_failure(c: Arc<Ctx>) -> CheckResult {
    let out = c.scratch("out")?;
    let mut b = c.bundle(&["write", "/out/ran", "yes"]);
    b.bind(&out, "/out", false);
    add_hooks(&c, &mut b, Some("createRuntime"))?;
    let created = c.try_create(&b, &b.id).await?;
    let mut failed_at = if created.success() { "" } else { "create" };
    if created.success() {
        let started = c.rt.start(&b.id).await?;
        if !started.success() {
            failed_at = "start";
        }
        let st = c.rt.state(&b.id).await?;
        if st.success() {
            let v: Value = serde_json::from_str(&st.stdout).unwrap_or_default();
            if let Some(pid) = v["pid"].as_i64().filter(|p| *p > 0) {
                let _ = c.rt.wait_pid_exit(pid as i32, crate::ctx::DEADLINE).await;
            }
        }
    }
    ensure!(
        !failed_at.is_empty(),
        "create and start both succeeded although the createRuntime hook failed"
    );
    ensure!(
        !out.join("ran").exists(),
        "the user program ran although the createRuntime hook failed"
    );
    Ok(())
}

async fn cleanup_process(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    c.stop_and_delete(&k).await?;
    ensure!(
        !c.rt.pid_alive(k.pid),
        "pid {} is still alive after delete",
        k.pid
    );
    Ok(())
}

async fn cleanup_cgroup(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let dirs = c.cgroups(&k)?.all_dirs();
    let parent = c.env.cgroup_parent();
    let ours: Vec<_> = dirs
        .into_iter()
        .filter(|d| d.to_string_lossy().contains(&parent))
        .collect();
    ensure!(
        !ours.is_empty(),
        "the container's process is in no cgroup under the configured cgroupsPath"
    );
    c.stop_and_delete(&k).await?;
    let left: Vec<String> = ours
        .iter()
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect();
    ensure!(
        left.is_empty(),
        "cgroups left after delete: {}",
        left.join(", ")
    );
    Ok(())
}

async fn cleanup_mount(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["wait-signal"]);
    // A private rootfs, so that only this container's mounts could show up under it.
    let rootfs = c.scratch("rootfs")?;
    crate::setup::copy_tree(&c.env.rootfs, &rootfs)?;
    b.set("root.path", json!(rootfs.display().to_string()));
    let k = c.started_waiting(&b).await?;
    let during = crate::sys::host_mounts_under(&c.dir);
    ensure!(
        during.is_empty(),
        "mounts of the running container visible on the host: {}",
        during.join(", ")
    );
    c.stop_and_delete(&k).await?;
    let after = crate::sys::host_mounts_under(&c.dir);
    ensure!(
        after.is_empty(),
        "mounts left on the host after delete: {}",
        after.join(", ")
    );
    Ok(())
}

async fn events_stats(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let k = c.started_waiting(&b).await?;
    let out = c.rt.events_stats(&k.id).await?;
    ensure!(out.success(), "events --stats failed: {}", out.describe());
    // One JSON value (runc prints it on one line, others pretty-print it); more may follow.
    let mut values = serde_json::Deserializer::from_str(&out.stdout).into_iter::<Value>();
    let v = match values.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => fail!(
            "events --stats printed no JSON ({e}): {}",
            crate::ctx::truncate(out.stdout.trim(), 160)
        ),
        None => fail!("events --stats printed nothing"),
    };
    ensure!(
        v["data"].is_object(),
        "events --stats has no data object: {}",
        crate::ctx::truncate(&v.to_string(), 160)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_state;
    use serde_json::json;

    #[test]
    fn state_schema_accepts_a_valid_state() {
        let st = json!({"ociVersion": "1.0.2", "id": "a", "status": "running", "pid": 42,
                        "bundle": "/b", "annotations": {"k": "v"}, "rootfs": "/extra/field"});
        validate_state(&st).unwrap();
    }

    #[test]
    fn state_schema_rejects_bad_states() {
        let missing = json!({"ociVersion": "1.0.2", "id": "a", "status": "running"});
        assert!(validate_state(&missing).unwrap_err().contains("bundle"));
        let status =
            json!({"ociVersion": "1.0.2", "id": "a", "status": "starting", "bundle": "/b"});
        assert!(validate_state(&status).is_err());
        let pid = json!({"ociVersion": "1.0.2", "id": "a", "status": "created", "bundle": "/b", "pid": -1});
        assert!(validate_state(&pid).is_err());
    }
}
