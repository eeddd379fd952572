//! OOM: allocating past the memory limit gets the process SIGKILLed; the runtime reports it,
//! counts it, and neither a sibling container nor the runtime is harmed. oomScoreAdj applies.

use crate::cgroupfs::{kv, ProcCgroups};
use crate::check::{Check, CheckResult, Verdict};
use crate::ctx::{Container, Ctx};
use crate::host::Req;
use crate::runtime::Op;
use serde_json::json;
use std::sync::Arc;

use Op::{Create, Delete, Kill, Run, Start, State};

pub fn checks() -> Vec<Check> {
    vec![
        check! {
            id: "oom.run.exit-137", group: Oom, spec: "config-linux.md#memory", level: Must,
            summary: "run of a process that allocates past memory.limit exits 137 (SIGKILL)",
            requires: [Req::Root, Req::HostKernel, Req::Controller("memory"), Req::Op(Run)], run: run_137,
        },
        check! {
            id: "oom.state.stopped", group: Oom, spec: "runtime.md#lifecycle", level: Must,
            summary: "after the OOM kill, state reports stopped",
            requires: [Req::Root, Req::HostKernel, Req::Controller("memory"), Req::Op(Create), Req::Op(Start), Req::Op(State)], run: state_stopped,
        },
        check! {
            id: "oom.counter.oom-kill", group: Oom, spec: "config-linux.md#memory", level: Must,
            summary: "the container cgroup's oom_kill counter goes up (memory.oom_control v1, memory.events v2)",
            requires: [Req::Root, Req::HostKernel, Req::Controller("memory"), Req::Op(Create), Req::Op(Start), Req::Op(State)], run: counter_oom_kill,
        },
        check! {
            id: "oom.sibling.survives", group: Oom, spec: "config-linux.md#memory", level: Must,
            summary: "a sibling container keeps running and answering while another is OOM-killed",
            requires: [Req::Root, Req::HostKernel, Req::Controller("memory"), Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Kill), Req::Op(Run)], run: sibling_survives,
        },
        check! {
            id: "oom.runtime.survives", group: Oom, spec: "config-linux.md#memory", level: Must,
            summary: "the runtime is not OOM-killed with the container: it exits normally and still serves state and delete",
            requires: [Req::Root, Req::HostKernel, Req::Controller("memory"), Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Delete)], run: runtime_survives,
        },
        check! {
            id: "oom.under-limit.survives", group: Oom, spec: "config-linux.md#memory", level: Must,
            summary: "allocating well below memory.limit is not killed",
            requires: [Req::Root, Req::HostKernel, Req::Controller("memory"), Req::Op(Run)], run: under_limit,
        },
        check! {
            id: "oom.score-adj.applied", group: Oom, spec: "config.md#posix-process", level: Must,
            summary: "process.oomScoreAdj is applied to the container's process",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: score_adj,
        },
    ]
}

const MIB: i64 = 1 << 20;

/// A bundle limited to 32 MiB (swap included where swap is accounted) running `args`.
fn limited(c: &Ctx, args: &[&str]) -> crate::bundle::Bundle {
    let mut b = c.bundle(args);
    b.set("linux.resources.memory.limit", json!(32 * MIB));
    if c.host.swap_accounting {
        b.set("linux.resources.memory.swap", json!(32 * MIB));
    }
    b
}

async fn run_137(c: Arc<Ctx>) -> CheckResult {
    let r = c.run(&limited(&c, &["hog-mem", "512"])).await?;
    ensure!(
        r.lines.iter().all(|l| l["cmd"] != "hog-mem"),
        "the probe allocated 512 MiB under a 32 MiB limit"
    );
    ensure!(
        r.out.code == Some(137),
        "run returned {}, want exit 137",
        r.out.describe()
    );
    Ok(())
}

/// create + start a hog, keeping its cgroups (read before start), and wait for its death.
async fn oom_killed(c: &Ctx) -> Result<(Container, ProcCgroups), Verdict> {
    let b = limited(c, &["hog-mem", "512"]);
    let k = c.create(&b).await?;
    let cg = c.cgroups(&k)?;
    c.start(&k).await?;
    c.wait_exit(&k).await?;
    let lines = c.output(&k)?;
    ensure!(
        lines.iter().all(|l| l["cmd"] != "hog-mem"),
        "the probe allocated 512 MiB under a 32 MiB limit"
    );
    Ok((k, cg))
}

async fn state_stopped(c: Arc<Ctx>) -> CheckResult {
    let (k, _) = oom_killed(&c).await?;
    c.wait_status(&k.id, "stopped").await?;
    Ok(())
}

async fn counter_oom_kill(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = oom_killed(&c).await?;
    let (path, s) = cg
        .read("memory", "memory.oom_control", "memory.events")
        .map_err(Verdict::Fail)?;
    let n = kv(&s, "oom_kill");
    ensure!(
        n.is_some_and(|n| n > 0),
        "oom_kill in {} is {n:?} after an OOM kill",
        path.display()
    );
    Ok(())
}

async fn sibling_survives(c: Arc<Ctx>) -> CheckResult {
    let mut sb = c.bundle(&["wait-signal"]);
    sb.set("linux.resources.memory.limit", json!(64 * MIB));
    let sib = c.started_waiting(&sb).await?;
    let r = c.run(&limited(&c, &["hog-mem", "512"])).await?;
    ensure!(
        r.out.code == Some(137),
        "the hog's run returned {}, want 137",
        r.out.describe()
    );
    let st = c.state(&sib.id).await?;
    ensure!(
        st["status"] == "running",
        "the sibling is {} after the OOM kill next door",
        st["status"]
    );
    c.kill(&sib, "USR1").await?;
    let l = c.wait_output(&sib, |l| l.get("signal").is_some()).await?;
    ensure!(
        l["signal"] == libc::SIGUSR1,
        "the sibling answered with {l}"
    );
    Ok(())
}

async fn runtime_survives(c: Arc<Ctx>) -> CheckResult {
    let (k, _) = oom_killed(&c).await?;
    let st = c.wait_status(&k.id, "stopped").await?;
    ensure!(
        st["id"] == k.id.as_str(),
        "state after the OOM kill is for {}",
        st["id"]
    );
    let out = c.rt.delete(&k.id, false).await?;
    ensure!(
        out.signal.is_none(),
        "the runtime was killed by signal {:?} during delete",
        out.signal
    );
    ensure!(
        out.success(),
        "delete after the OOM kill failed: {}",
        out.describe()
    );
    Ok(())
}

async fn under_limit(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&limited(&c, &["hog-mem", "8"])).await?;
    let h = r.line("hog-mem")?;
    ensure!(h["allocated_mb"] == 8, "the probe reported {h}");
    Ok(())
}

async fn score_adj(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["read", "/proc/self/oom_score_adj", "+", "wait-signal"]);
    b.set("process.oomScoreAdj", json!(500));
    let k = c.started_waiting(&b).await?;
    let lines = c.output(&k)?;
    let inside = crate::ctx::find_line(&lines, "read")?;
    ensure!(
        inside["content"].as_str().map(str::trim) == Some("500"),
        "oom_score_adj inside is {}, want 500",
        inside["content"]
    );
    let host = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", k.pid))?;
    ensure!(
        host.trim() == "500",
        "oom_score_adj of pid {} on the host is {}",
        k.pid,
        host.trim()
    );
    Ok(())
}
