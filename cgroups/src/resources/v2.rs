//! linux.resources onto cgroup v2 files, converting v1-style values.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory};

use super::{
    blkio_weight_to_io_weight, check_unified_key, check_v2_blkio, check_v2_cpu, check_v2_memory,
    shares_to_weight, throttles, unsupported, BLKIO, CPU, HUGETLB, MEMORY, UNIFIED,
};
use crate::fsutil::{self, write_field};
use crate::{CgroupError, Result};

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    check_v2_memory(m)?;
    let limit = m.limit().filter(|&v| v != 0);
    if let Some(l) = limit {
        if m.check_before_update() == Some(true) && l > 0 {
            super::v1::check_not_below_usage(dir, "memory.current", l)?;
        }
        write_field(dir, "memory.max", &max_or(l), &format!("{MEMORY}.limit"))?;
    }
    if let Some(s) = m.swap().filter(|&v| v != 0) {
        // OCI swap is memory+swap; memory.swap.max is swap alone.
        let value = match (s, limit) {
            (-1, _) => "max".to_string(),
            (s, Some(l)) if l > 0 => (s - l).to_string(),
            _ => {
                return Err(CgroupError::InvalidResource {
                    field: format!("{MEMORY}.swap"),
                    msg: "cgroup v2 needs a memory.limit to derive memory.swap.max".into(),
                })
            }
        };
        write_field(dir, "memory.swap.max", &value, &format!("{MEMORY}.swap"))?;
    }
    if let Some(r) = m.reservation().filter(|&v| v != 0) {
        write_field(
            dir,
            "memory.low",
            &max_or(r),
            &format!("{MEMORY}.reservation"),
        )?;
    }
    Ok(())
}

pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    check_v2_cpu(c)?;
    if let Some(s) = c.shares().filter(|&v| v != 0) {
        write_field(
            dir,
            "cpu.weight",
            &shares_to_weight(s).to_string(),
            &format!("{CPU}.shares"),
        )?;
    }
    if let Some(i) = c.idle() {
        write_field(dir, "cpu.idle", &i.to_string(), &format!("{CPU}.idle"))?;
    }
    let period = c.period().filter(|&v| v != 0);
    let quota = c.quota().filter(|&v| v != 0);
    if period.is_some() || quota.is_some() {
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            // Only the period changes: keep the quota already in place.
            None => {
                let cur = fsutil::read(&dir.join("cpu.max"))?;
                cur.split_whitespace().next().unwrap_or("max").to_string()
            }
        };
        let value = match period {
            Some(p) => format!("{q} {p}"),
            // A lone quota keeps the current period.
            None => q,
        };
        let field = if quota.is_some() { "quota" } else { "period" };
        write_field(dir, "cpu.max", &value, &format!("{CPU}.{field}"))?;
    }
    if let Some(b) = c.burst() {
        write_field(
            dir,
            "cpu.max.burst",
            &b.to_string(),
            &format!("{CPU}.burst"),
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

/// io.weight (iocost) takes the converted weight; BFQ's io.bfq.weight keeps
/// the blkio scale, so the raw weight goes there when io.weight is absent.
fn io_weight(dir: &Path, target: &str, weight: u16, field: &str) -> Result<()> {
    let converted = format!("{target} {}", blkio_weight_to_io_weight(weight));
    match write_field(dir, "io.weight", &converted, field) {
        Err(CgroupError::Unsupported { .. }) => {
            write_field(dir, "io.bfq.weight", &format!("{target} {weight}"), field)
        }
        other => other,
    }
}

pub(crate) fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    check_v2_blkio(b)?;
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        io_weight(dir, "default", w, &format!("{BLKIO}.weight"))?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = d.weight() {
            io_weight(
                dir,
                &format!("{}:{}", d.major(), d.minor()),
                w,
                &format!("{BLKIO}.weightDevice[{i}].weight"),
            )?;
        }
    }
    let keys = ["rbps", "wbps", "riops", "wiops"];
    for ((name, list), key) in throttles(b).into_iter().zip(keys) {
        for (i, t) in list.iter().enumerate() {
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            write_field(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
                &format!("{BLKIO}.{name}[{i}]"),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for (i, h) in limits.iter().enumerate() {
        let value = max_or(h.limit());
        let file = format!("hugetlb.{}.max", h.page_size());
        match write_field(dir, &file, &value, &format!("{HUGETLB}[{i}].limit")) {
            Err(CgroupError::Unsupported { why, .. }) => {
                return Err(unsupported(format!("{HUGETLB}[{i}].pageSize"), why))
            }
            other => other?,
        }
        // The reservation limit makes mmap fail up front instead of a SIGBUS
        // at fault time; kernels before 5.7 lack it, and then .max is all there is.
        let rsvd = format!("hugetlb.{}.rsvd.max", h.page_size());
        match write_field(dir, &rsvd, &value, &format!("{HUGETLB}[{i}].limit")) {
            Err(CgroupError::Unsupported { .. }) => {}
            other => other?,
        }
    }
    Ok(())
}

/// Raw files, written last so that they override the typed fields.
pub(crate) fn unified(dir: &Path, map: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<_> = map.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in keys {
        check_unified_key(key)?;
        write_field(dir, key, value, &format!("{UNIFIED}.{key}"))?;
    }
    Ok(())
}
