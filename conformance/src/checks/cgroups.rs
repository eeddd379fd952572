//! cgroups: limits from linux.resources show in the container's cgroup files and are enforced.
//! The v1 or v2 interface file is chosen per controller from the detected host layout.

use crate::cgroupfs::{kv, ProcCgroups, Version};
use crate::check::{Check, CheckResult, Verdict};
use crate::ctx::{Container, Ctx};
use crate::host::Req;
use crate::runtime::Op;
use serde_json::{json, Value};
use std::sync::Arc;

use Op::{Create, Start, State, Update};

pub fn checks() -> Vec<Check> {
    vec![
        check! {
            id: "cgroup.path.honoured", group: Cgroups, spec: "config-linux.md#cgroups-path", level: Must,
            summary: "the container's process is in the cgroup named by cgroupsPath in every v1 hierarchy",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: path_honoured,
        },
        check! {
            id: "cgroup.memory.limit", group: Cgroups, spec: "config-linux.md#memory", level: Must,
            summary: "memory.limit shows as memory.limit_in_bytes (v1) or memory.max (v2)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("memory")], run: memory_limit,
        },
        check! {
            id: "cgroup.memory.reservation", group: Cgroups, spec: "config-linux.md#memory", level: Must,
            summary: "memory.reservation shows as memory.soft_limit_in_bytes (v1) or memory.low (v2)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("memory")], run: memory_reservation,
        },
        check! {
            id: "cgroup.memory.swap", group: Cgroups, spec: "config-linux.md#memory", level: Must,
            summary: "memory.swap shows as memory.memsw.limit_in_bytes (v1) or memory.swap.max = swap - limit (v2)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("memory"), Req::SwapAccounting], run: memory_swap,
        },
        check! {
            id: "cgroup.memory.swappiness", group: Cgroups, spec: "config-linux.md#memory", level: Should,
            summary: "memory.swappiness shows in the v1 memory.swappiness file",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::CgroupV1File("memory", "memory.swappiness")], run: memory_swappiness,
        },
        check! {
            id: "cgroup.memory.kernel", group: Cgroups, spec: "config-linux.md#memory", level: Should,
            summary: "a config with the deprecated memory.kernel runs, with its other memory limits applied",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("memory")], run: memory_kernel,
        },
        check! {
            id: "cgroup.cpu.quota", group: Cgroups, spec: "config-linux.md#cpu", level: Must,
            summary: "cpu.quota and cpu.period show as cpu.cfs_quota_us/cfs_period_us (v1) or cpu.max (v2)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("cpu")], run: cpu_quota,
        },
        check! {
            id: "cgroup.cpu.quota-throttled", group: Cgroups, spec: "config-linux.md#cpu", level: Must,
            summary: "a process spinning past its cpu quota is throttled (nr_throttled in cpu.stat goes up)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("cpu")], run: cpu_throttled,
        },
        check! {
            id: "cgroup.cpu.shares", group: Cgroups, spec: "config-linux.md#cpu", level: Must,
            summary: "cpu.shares shows as cpu.shares (v1) or the converted cpu.weight (v2)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("cpu")], run: cpu_shares,
        },
        check! {
            id: "cgroup.cpuset.cpus", group: Cgroups, spec: "config-linux.md#cpu", level: Must,
            summary: "cpu.cpus shows in cpuset.cpus",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("cpuset")], run: cpuset_cpus,
        },
        check! {
            id: "cgroup.cpuset.mems", group: Cgroups, spec: "config-linux.md#cpu", level: Must,
            summary: "cpu.mems shows in cpuset.mems",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("cpuset")], run: cpuset_mems,
        },
        check! {
            id: "cgroup.cpuset.affinity-enforced", group: Cgroups, spec: "config-linux.md#cpu", level: Must,
            summary: "the process may run only on the cpus in cpu.cpus (sched_getaffinity)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("cpuset"), Req::Cpus(2)], run: cpuset_affinity,
        },
        check! {
            id: "cgroup.pids.limit", group: Cgroups, spec: "config-linux.md#pids", level: Must,
            summary: "pids.limit shows in pids.max",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("pids")], run: pids_limit,
        },
        check! {
            id: "cgroup.pids.fork-bomb-stopped", group: Cgroups, spec: "config-linux.md#pids", level: Must,
            summary: "a fork loop stops with EAGAIN at pids.limit and pids.events counts it",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("pids")], run: pids_fork_bomb,
        },
        check! {
            id: "cgroup.blkio.throttle-read-bps", group: Cgroups, spec: "config-linux.md#block-io", level: Must,
            summary: "throttleReadBpsDevice shows in blkio.throttle.read_bps_device (v1) or io.max rbps (v2)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("blkio"), Req::BlockDevice], run: blkio_read_bps,
        },
        check! {
            id: "cgroup.blkio.throttle-write-iops", group: Cgroups, spec: "config-linux.md#block-io", level: Must,
            summary: "throttleWriteIOPSDevice shows in blkio.throttle.write_iops_device (v1) or io.max wiops (v2)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("blkio"), Req::BlockDevice], run: blkio_write_iops,
        },
        check! {
            id: "cgroup.blkio.weight", group: Cgroups, spec: "config-linux.md#block-io", level: Must,
            summary: "blockIO.weight shows in blkio.weight (v1) or io.weight (v2)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("blkio"), Req::CgroupFile("blkio", "blkio.weight", "io.weight")], run: blkio_weight,
        },
        check! {
            id: "cgroup.devices.default-deny", group: Cgroups, spec: "config-linux.md#allowed-device-list", level: Must,
            summary: "with a deny-all device rule the v1 devices.list does not allow every device",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::CgroupV1File("devices", "devices.list")], run: devices_deny,
        },
        check! {
            id: "cgroup.net-cls.classid", group: Cgroups, spec: "config-linux.md#network", level: Must,
            summary: "network.classID shows in net_cls.classid",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("net_cls")], run: net_cls,
        },
        check! {
            id: "cgroup.net-prio.ifpriomap", group: Cgroups, spec: "config-linux.md#network", level: Must,
            summary: "network.priorities show in net_prio.ifpriomap",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("net_prio")], run: net_prio,
        },
        check! {
            id: "cgroup.update.memory", group: Cgroups, spec: "runc-cli#update", level: Should,
            summary: "update of a running container's memory limit shows in its cgroup",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("memory"), Req::Op(Update)], run: update_memory,
        },
        check! {
            id: "cgroup.update.pids", group: Cgroups, spec: "runc-cli#update", level: Should,
            summary: "update of a running container's pids limit shows in pids.max",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Controller("pids"), Req::Op(Update)], run: update_pids,
        },
    ]
}

/// Starts `probe wait-signal` (or `args`) with `resources` and returns it with its cgroups.
async fn started_with(
    c: &Ctx,
    resources: Value,
    args: &[&str],
) -> Result<(Container, ProcCgroups), Verdict> {
    let mut b = c.bundle(args);
    if let (Some(dst), Some(src)) = (
        b.config["linux"]["resources"].as_object_mut(),
        resources.as_object(),
    ) {
        for (k, v) in src {
            dst.insert(k.clone(), v.clone());
        }
    }
    let k = c.started_waiting(&b).await?;
    let cg = c.cgroups(&k)?;
    Ok((k, cg))
}

/// Reads a controller's file, v1 or v2 name by the version serving it.
fn read(cg: &ProcCgroups, ctrl: &str, v1: &str, v2: &str) -> Result<(Version, String), Verdict> {
    let ver = cg
        .dir(ctrl)
        .map(|(v, _)| v)
        .ok_or_else(|| Verdict::Fail(format!("the container has no {ctrl} cgroup")))?;
    let (_, s) = cg.read(ctrl, v1, v2).map_err(Verdict::Fail)?;
    Ok((ver, s))
}

fn expect_file(
    cg: &ProcCgroups,
    ctrl: &str,
    v1: &str,
    v2: &str,
    want_v1: &str,
    want_v2: &str,
) -> CheckResult {
    let (ver, got) = read(cg, ctrl, v1, v2)?;
    let (file, want) = match ver {
        Version::V1 => (v1, want_v1),
        Version::V2 => (v2, want_v2),
    };
    ensure!(got == want, "{file} is {got:?}, want {want:?}");
    Ok(())
}

const MIB: i64 = 1 << 20;

async fn path_honoured(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&["wait-signal"]);
    let want = b.config["linux"]["cgroupsPath"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let k = c.started_waiting(&b).await?;
    let cg = c.cgroups(&k)?;
    ensure!(
        !cg.v1_paths.is_empty() || cg.v2_path.is_some(),
        "the process is in no cgroup hierarchy"
    );
    let wrong: Vec<String> = cg
        .v1_paths
        .iter()
        .filter(|(_, p)| **p != want)
        .map(|(ctrl, p)| format!("{ctrl}:{p}"))
        .collect();
    ensure!(
        wrong.is_empty(),
        "cgroups not at cgroupsPath {want}: {}",
        wrong.join(", ")
    );
    if cg.v1_paths.is_empty() {
        let p = cg.v2_path.clone().unwrap_or_default();
        ensure!(p == want, "cgroup2 path is {p}, want {want}");
    }
    Ok(())
}

async fn memory_limit(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) =
        started_with(&c, json!({"memory": {"limit": 64 * MIB}}), &["wait-signal"]).await?;
    let want = (64 * MIB).to_string();
    expect_file(
        &cg,
        "memory",
        "memory.limit_in_bytes",
        "memory.max",
        &want,
        &want,
    )
}

async fn memory_reservation(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(
        &c,
        json!({"memory": {"limit": 64 * MIB, "reservation": 32 * MIB}}),
        &["wait-signal"],
    )
    .await?;
    let want = (32 * MIB).to_string();
    expect_file(
        &cg,
        "memory",
        "memory.soft_limit_in_bytes",
        "memory.low",
        &want,
        &want,
    )
}

async fn memory_swap(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(
        &c,
        json!({"memory": {"limit": 64 * MIB, "swap": 128 * MIB}}),
        &["wait-signal"],
    )
    .await?;
    expect_file(
        &cg,
        "memory",
        "memory.memsw.limit_in_bytes",
        "memory.swap.max",
        &(128 * MIB).to_string(),
        &(64 * MIB).to_string(),
    )
}

async fn memory_swappiness(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(&c, json!({"memory": {"swappiness": 10}}), &["wait-signal"]).await?;
    expect_file(&cg, "memory", "memory.swappiness", "", "10", "")
}

/// runtime-spec 1.1 deprecates memory.kernel (NOT RECOMMENDED) and Linux 5.4+
/// ignores kmem limits; runtime-tools' memory validations still set it in every
/// case. runc 1.1 warns and ignores it, crun ignores it: the container must run
/// and its other memory limits apply.
async fn memory_kernel(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(
        &c,
        json!({"memory": {"limit": 64 * MIB, "kernel": 32 * MIB}}),
        &["wait-signal"],
    )
    .await?;
    let want = (64 * MIB).to_string();
    expect_file(
        &cg,
        "memory",
        "memory.limit_in_bytes",
        "memory.max",
        &want,
        &want,
    )
}

async fn cpu_quota(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(
        &c,
        json!({"cpu": {"quota": 20000, "period": 100000}}),
        &["wait-signal"],
    )
    .await?;
    let (ver, got) = read(&cg, "cpu", "cpu.cfs_quota_us", "cpu.max")?;
    match ver {
        Version::V1 => {
            ensure!(
                got == "20000",
                "cpu.cfs_quota_us is {got:?}, want \"20000\""
            );
            let (_, period) = read(&cg, "cpu", "cpu.cfs_period_us", "cpu.max")?;
            ensure!(
                period == "100000",
                "cpu.cfs_period_us is {period:?}, want \"100000\""
            );
        }
        Version::V2 => ensure!(
            got == "20000 100000",
            "cpu.max is {got:?}, want \"20000 100000\""
        ),
    }
    Ok(())
}

async fn cpu_throttled(c: Arc<Ctx>) -> CheckResult {
    // 10% of one cpu, spinning on two threads for 300 ms: far past the quota in every period.
    let (_, cg) = started_with(
        &c,
        json!({"cpu": {"quota": 10000, "period": 100000}}),
        &["spin", "300", "2", "+", "wait-signal"],
    )
    .await?;
    let (ver, stat) = read(&cg, "cpu", "cpu.stat", "cpu.stat")?;
    let throttled = kv(&stat, "nr_throttled");
    ensure!(
        throttled.is_some_and(|n| n > 0),
        "nr_throttled in cpu.stat ({ver:?}) is {throttled:?} after spinning past the quota"
    );
    Ok(())
}

async fn cpu_shares(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(&c, json!({"cpu": {"shares": 512}}), &["wait-signal"]).await?;
    // The conversion runc and crun use for cgroup v2: 1 + ((shares - 2) * 9999) / 262142.
    let weight = 1 + ((512u64 - 2) * 9999) / 262142;
    expect_file(
        &cg,
        "cpu",
        "cpu.shares",
        "cpu.weight",
        "512",
        &weight.to_string(),
    )
}

async fn cpuset_cpus(c: Arc<Ctx>) -> CheckResult {
    let cpu = c.host.cpus.first().copied().unwrap_or(0).to_string();
    let (_, cg) = started_with(&c, json!({"cpu": {"cpus": cpu}}), &["wait-signal"]).await?;
    expect_file(&cg, "cpuset", "cpuset.cpus", "cpuset.cpus", &cpu, &cpu)
}

async fn cpuset_mems(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(&c, json!({"cpu": {"mems": "0"}}), &["wait-signal"]).await?;
    expect_file(&cg, "cpuset", "cpuset.mems", "cpuset.mems", "0", "0")
}

async fn cpuset_affinity(c: Arc<Ctx>) -> CheckResult {
    let cpu = *c.host.cpus.last().unwrap_or(&0);
    let mut b = c.bundle(&["affinity"]);
    b.set("linux.resources.cpu.cpus", json!(cpu.to_string()));
    let r = c.run_ok(&b).await?;
    let a = &r.line("affinity")?["cpus"];
    ensure!(
        *a == json!([cpu]),
        "the process may run on cpus {a}, want [{cpu}]"
    );
    Ok(())
}

async fn pids_limit(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(&c, json!({"pids": {"limit": 32}}), &["wait-signal"]).await?;
    expect_file(&cg, "pids", "pids.max", "pids.max", "32", "32")
}

async fn pids_fork_bomb(c: Arc<Ctx>) -> CheckResult {
    let (k, cg) = started_with(
        &c,
        json!({"pids": {"limit": 16}}),
        &["fork-bomb", "64", "+", "wait-signal"],
    )
    .await?;
    let lines = c.output(&k)?;
    let fb = crate::ctx::find_line(&lines, "fork-bomb")?;
    let forked = fb["forked"].as_u64().unwrap_or(0);
    ensure!(forked < 16, "{forked} forks succeeded under pids.limit 16");
    ensure!(
        fb["errno"] == libc::EAGAIN,
        "the fork that hit the limit failed with {}, want EAGAIN",
        fb["fork_error"]
    );
    let (_, events) = read(&cg, "pids", "pids.events", "pids.events")?;
    let max = kv(&events, "max");
    ensure!(
        max.is_some_and(|n| n > 0),
        "pids.events max is {max:?} after hitting the limit"
    );
    Ok(())
}

fn disk(c: &Ctx) -> Result<(u64, u64), Verdict> {
    c.host
        .block_device
        .as_ref()
        .map(|(_, ma, mi)| (*ma, *mi))
        .ok_or_else(|| Verdict::Skip("no block device".into()))
}

async fn blkio_read_bps(c: Arc<Ctx>) -> CheckResult {
    let (ma, mi) = disk(&c)?;
    let (_, cg) = started_with(
        &c,
        json!({"blockIO": {"throttleReadBpsDevice": [{"major": ma, "minor": mi, "rate": 1048576}]}}),
        &["wait-signal"],
    )
    .await?;
    let (ver, got) = read(&cg, "blkio", "blkio.throttle.read_bps_device", "io.max")?;
    let ok = match ver {
        Version::V1 => got
            .lines()
            .any(|l| l.trim() == format!("{ma}:{mi} 1048576")),
        Version::V2 => got
            .lines()
            .any(|l| l.starts_with(&format!("{ma}:{mi} ")) && l.contains("rbps=1048576")),
    };
    ensure!(
        ok,
        "{ver:?} throttle file has {got:?}, want {ma}:{mi} at 1048576 B/s read"
    );
    Ok(())
}

async fn blkio_write_iops(c: Arc<Ctx>) -> CheckResult {
    let (ma, mi) = disk(&c)?;
    let (_, cg) = started_with(
        &c,
        json!({"blockIO": {"throttleWriteIOPSDevice": [{"major": ma, "minor": mi, "rate": 100}]}}),
        &["wait-signal"],
    )
    .await?;
    let (ver, got) = read(&cg, "blkio", "blkio.throttle.write_iops_device", "io.max")?;
    let ok = match ver {
        Version::V1 => got.lines().any(|l| l.trim() == format!("{ma}:{mi} 100")),
        Version::V2 => got
            .lines()
            .any(|l| l.starts_with(&format!("{ma}:{mi} ")) && l.contains("wiops=100")),
    };
    ensure!(
        ok,
        "{ver:?} throttle file has {got:?}, want {ma}:{mi} at 100 write iops"
    );
    Ok(())
}

async fn blkio_weight(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(&c, json!({"blockIO": {"weight": 300}}), &["wait-signal"]).await?;
    let (ver, got) = read(&cg, "blkio", "blkio.weight", "io.weight")?;
    let ok = match ver {
        Version::V1 => got == "300",
        // cgroup v2 io.weight is "default N"; runtimes convert blkio weight (10..1000) to 1..10000.
        Version::V2 => got
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("default ")),
    };
    ensure!(
        ok,
        "{ver:?} weight file is {got:?} after blockIO.weight 300"
    );
    Ok(())
}

async fn devices_deny(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(&c, json!({}), &["wait-signal"]).await?;
    let (_, list) = read(&cg, "devices", "devices.list", "")?;
    ensure!(
        !list.lines().any(|l| l.trim() == "a *:* rwm"),
        "devices.list allows every device despite the deny-all rule"
    );
    Ok(())
}

async fn net_cls(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(
        &c,
        json!({"network": {"classID": 1048577}}),
        &["wait-signal"],
    )
    .await?;
    expect_file(&cg, "net_cls", "net_cls.classid", "", "1048577", "")
}

async fn net_prio(c: Arc<Ctx>) -> CheckResult {
    let (_, cg) = started_with(
        &c,
        json!({"network": {"priorities": [{"name": "lo", "priority": 7}]}}),
        &["wait-signal"],
    )
    .await?;
    let (_, got) = read(&cg, "net_prio", "net_prio.ifpriomap", "")?;
    ensure!(
        got.lines().any(|l| l.trim() == "lo 7"),
        "net_prio.ifpriomap is {got:?}, want a line \"lo 7\""
    );
    Ok(())
}

async fn update_memory(c: Arc<Ctx>) -> CheckResult {
    let (k, cg) =
        started_with(&c, json!({"memory": {"limit": 64 * MIB}}), &["wait-signal"]).await?;
    let out =
        c.rt.update(
            &k.id,
            &json!({"memory": {"limit": 96 * MIB, "swap": 96 * MIB}}),
        )
        .await?;
    ensure!(out.success(), "update failed: {}", out.describe());
    let want = (96 * MIB).to_string();
    expect_file(
        &cg,
        "memory",
        "memory.limit_in_bytes",
        "memory.max",
        &want,
        &want,
    )
}

async fn update_pids(c: Arc<Ctx>) -> CheckResult {
    let (k, cg) = started_with(&c, json!({"pids": {"limit": 32}}), &["wait-signal"]).await?;
    let out = c.rt.update(&k.id, &json!({"pids": {"limit": 48}})).await?;
    ensure!(out.success(), "update failed: {}", out.describe());
    expect_file(&cg, "pids", "pids.max", "pids.max", "48", "48")
}
