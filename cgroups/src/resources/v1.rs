//! linux.resources onto cgroup v1 files. Each function gets the cgroup's
//! directory in the hierarchy of its controller and writes only what is set.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxInterfacePriority,
    LinuxMemory, LinuxPids, LinuxRdma,
};

use super::{
    check_v1_memory, device_rule_line, throttles, unsupported, BLKIO, CPU, DEVICES, HUGETLB,
    MEMORY, PIDS,
};
use crate::fsutil::{self, write_field};
use crate::{CgroupError, Result};

pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    check_v1_memory(m)?;
    let limit = m.limit().filter(|&v| v != 0);
    let mut swap = m.swap().filter(|&v| v != 0);
    // An unlimited memory limit with swap left unset (`update --memory -1`)
    // lifts the memory+swap limit too, as runc does: the kernel refuses a
    // memory limit above memory.memsw.limit_in_bytes.
    if limit == Some(-1) && swap.is_none() && dir.join("memory.memsw.limit_in_bytes").exists() {
        swap = Some(-1);
    }
    if let Some(l) = limit {
        if m.check_before_update() == Some(true) && l > 0 {
            check_not_below_usage(dir, "memory.usage_in_bytes", l)?;
        }
    }
    let lim = |v: i64| {
        write_field(
            dir,
            "memory.limit_in_bytes",
            &v.to_string(),
            &format!("{MEMORY}.limit"),
        )
    };
    let sw = |v: i64| {
        write_field(
            dir,
            "memory.memsw.limit_in_bytes",
            &v.to_string(),
            &format!("{MEMORY}.swap"),
        )
    };
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // The kernel keeps memory.limit <= memory.memsw.limit at every
            // step, so raising memsw goes first and lowering it goes last.
            let cur = fsutil::read(&dir.join("memory.memsw.limit_in_bytes"))?;
            let cur: u64 = cur.trim().parse().unwrap_or(u64::MAX);
            if s == -1 || s as u64 > cur {
                sw(s)?;
                lim(l)?;
            } else {
                lim(l)?;
                sw(s)?;
            }
        }
        (Some(l), None) => lim(l)?,
        (None, Some(s)) => sw(s)?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation().filter(|&v| v != 0) {
        write_field(
            dir,
            "memory.soft_limit_in_bytes",
            &r.to_string(),
            &format!("{MEMORY}.reservation"),
        )?;
    }
    if let Some(t) = m.kernel_tcp().filter(|&v| v != 0) {
        write_field(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            &t.to_string(),
            &format!("{MEMORY}.kernelTCP"),
        )?;
    }
    if let Some(s) = m.swappiness() {
        write_field(
            dir,
            "memory.swappiness",
            &s.to_string(),
            &format!("{MEMORY}.swappiness"),
        )?;
    }
    if let Some(d) = m.disable_oom_killer() {
        write_field(
            dir,
            "memory.oom_control",
            if d { "1" } else { "0" },
            &format!("{MEMORY}.disableOOMKiller"),
        )?;
    }
    if let Some(h) = m.use_hierarchy() {
        let field = format!("{MEMORY}.useHierarchy");
        match write_field(
            dir,
            "memory.use_hierarchy",
            if h { "1" } else { "0" },
            &field,
        ) {
            // Since Linux 6.1 v1 accounting is always hierarchical and "0" is refused.
            Err(CgroupError::InvalidResource { .. }) if !h => {
                return Err(unsupported(
                    field,
                    "this kernel's memory cgroup is always hierarchical",
                ))
            }
            other => other?,
        }
    }
    Ok(())
}

pub(crate) fn check_not_below_usage(dir: &Path, usage_file: &str, limit: i64) -> Result<()> {
    let path = dir.join(usage_file);
    let usage: i64 = fsutil::read(&path)?.trim().parse().map_err(|_| {
        fsutil::io_err(
            &path,
            io::Error::new(io::ErrorKind::InvalidData, "not a number"),
        )
    })?;
    if limit < usage {
        return Err(CgroupError::InvalidResource {
            field: format!("{MEMORY}.limit"),
            msg: format!("{limit} is below the current usage {usage} (checkBeforeUpdate)"),
        });
    }
    Ok(())
}

pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|&v| v != 0) {
        write_field(dir, "cpu.shares", &s.to_string(), &format!("{CPU}.shares"))?;
    }
    let period = c.period().filter(|&v| v != 0);
    let quota = c.quota().filter(|&v| v != 0);
    let wp = |p: u64| {
        write_field(
            dir,
            "cpu.cfs_period_us",
            &p.to_string(),
            &format!("{CPU}.period"),
        )
    };
    let wq = |q: i64| {
        write_field(
            dir,
            "cpu.cfs_quota_us",
            &q.to_string(),
            &format!("{CPU}.quota"),
        )
    };
    match (period, quota) {
        (Some(p), Some(q)) => {
            // A period the current quota/burst does not fit is refused;
            // then the new quota first makes room for it.
            if wp(p).is_err() {
                wq(q)?;
                wp(p)?;
            } else {
                wq(q)?;
            }
        }
        (Some(p), None) => wp(p)?,
        (None, Some(q)) => wq(q)?,
        (None, None) => {}
    }
    if let Some(b) = c.burst() {
        write_field(
            dir,
            "cpu.cfs_burst_us",
            &b.to_string(),
            &format!("{CPU}.burst"),
        )?;
    }
    if let Some(i) = c.idle() {
        write_field(dir, "cpu.idle", &i.to_string(), &format!("{CPU}.idle"))?;
    }
    // Period before runtime: the runtime must fit in the period.
    // As in runc, 0 means "not set" for both (runc's update template is all 0).
    if let Some(p) = c.realtime_period().filter(|&v| v != 0) {
        write_field(
            dir,
            "cpu.rt_period_us",
            &p.to_string(),
            &format!("{CPU}.realtimePeriod"),
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|&v| v != 0) {
        write_field(
            dir,
            "cpu.rt_runtime_us",
            &r.to_string(),
            &format!("{CPU}.realtimeRuntime"),
        )?;
    }
    Ok(())
}

pub(crate) fn cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write_field(dir, "cpuset.cpus", cpus, &format!("{CPU}.cpus"))?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write_field(dir, "cpuset.mems", mems, &format!("{CPU}.mems"))?;
    }
    Ok(())
}

/// pids.limit: a positive count, anything else is "max" (no limit).
pub(crate) fn pids_value(p: &LinuxPids) -> String {
    if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".to_string()
    }
}

pub(crate) fn pids(dir: &Path, p: &LinuxPids) -> Result<()> {
    write_field(dir, "pids.max", &pids_value(p), &format!("{PIDS}.limit"))
}

/// Write to the first of `files` that exists (CFQ's name, then BFQ's).
fn write_first(dir: &Path, files: &[&str], value: &str, field: &str) -> Result<()> {
    let mut last = None;
    for f in files {
        match write_field(dir, f, value, field) {
            Err(e @ CgroupError::Unsupported { .. }) => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| unsupported(field, "no file to write")))
}

pub(crate) fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        write_first(
            dir,
            &["blkio.weight", "blkio.bfq.weight"],
            &w.to_string(),
            &format!("{BLKIO}.weight"),
        )?;
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        write_field(
            dir,
            "blkio.leaf_weight",
            &w.to_string(),
            &format!("{BLKIO}.leafWeight"),
        )?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            write_first(
                dir,
                &["blkio.weight_device", "blkio.bfq.weight_device"],
                &format!("{dev} {w}"),
                &format!("{BLKIO}.weightDevice[{i}].weight"),
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            write_field(
                dir,
                "blkio.leaf_weight_device",
                &format!("{dev} {w}"),
                &format!("{BLKIO}.weightDevice[{i}].leafWeight"),
            )?;
        }
    }
    let files = [
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ];
    for ((name, list), file) in throttles(b).into_iter().zip(files) {
        for (i, t) in list.iter().enumerate() {
            // A rate of 0 removes the device's limit.
            write_field(
                dir,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                &format!("{BLKIO}.{name}[{i}]"),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for (i, h) in limits.iter().enumerate() {
        let file = format!("hugetlb.{}.limit_in_bytes", h.page_size());
        match write_field(
            dir,
            &file,
            &h.limit().to_string(),
            &format!("{HUGETLB}[{i}].limit"),
        ) {
            Err(CgroupError::Unsupported { why, .. }) => {
                return Err(unsupported(format!("{HUGETLB}[{i}].pageSize"), why))
            }
            other => other?,
        }
    }
    Ok(())
}

/// Rules in order: a later rule overrides an earlier one, as in the spec.
pub(crate) fn devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for (i, d) in rules.iter().enumerate() {
        let line = device_rule_line(i, d)?;
        let file = if d.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write_field(dir, file, &line, &format!("{DEVICES}[{i}]"))?;
    }
    Ok(())
}

pub(crate) fn net_cls(dir: &Path, class_id: u32) -> Result<()> {
    write_field(
        dir,
        "net_cls.classid",
        &class_id.to_string(),
        "linux.resources.network.classID",
    )
}

pub(crate) fn net_prio(dir: &Path, prios: &[LinuxInterfacePriority]) -> Result<()> {
    for (i, p) in prios.iter().enumerate() {
        write_field(
            dir,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
            &format!("linux.resources.network.priorities[{i}]"),
        )?;
    }
    Ok(())
}

/// `mlx5_0 hca_handle=2 hca_object=2000`; the same format on v1 and v2.
pub(crate) fn rdma(dir: &Path, map: &HashMap<String, LinuxRdma>) -> Result<()> {
    let mut devs: Vec<_> = map.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, r) in devs {
        let mut line = dev.clone();
        if let Some(h) = r.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = r.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() == dev.len() {
            continue;
        }
        write_field(dir, "rdma.max", &line, &format!("{}.{dev}", super::RDMA))?;
    }
    Ok(())
}
