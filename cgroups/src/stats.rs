//! Resource usage in the shape of runc's `events --stats` data, so tools that
//! parse runc's output parse brig's. Field names and omissions follow runc's
//! `types.Stats`.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::Result;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: HashMap<String, Hugetlb>,
    /// brig does not manage Intel RDT; kept so the shape matches runc's.
    pub intel_rdt: IntelRdt,
    /// Always null: network counters are not cgroup data.
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelRdt {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hugetlb {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "ioQueueRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pids {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// All in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSet {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub raw: HashMap<String, u64>,
}

/// A single number; "max" (v2) is unlimited, reported as u64::MAX like runc.
fn num(dir: &Path, file: &str) -> Result<u64> {
    Ok(match fsutil::read_opt(&dir.join(file))? {
        Some(s) if s.trim() == "max" => u64::MAX,
        Some(s) => s.trim().parse().unwrap_or(0),
        None => 0,
    })
}

fn text(dir: &Path, file: &str) -> Result<String> {
    Ok(fsutil::read_opt(&dir.join(file))?.unwrap_or_default())
}

fn flat_map(t: &str) -> HashMap<String, u64> {
    t.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

fn key(t: &str, k: &str) -> u64 {
    fsutil::flat_keyed(t, k).unwrap_or(0)
}

/// `0-2,5` → [0, 1, 2, 5].
pub(crate) fn parse_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) {
            out.extend(lo..=hi);
        }
    }
    out
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn numbers(t: &str) -> Vec<u64> {
    t.split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

pub(crate) fn v1_cpu(cpu: Option<&Path>, cpuacct: Option<&Path>, s: &mut Stats) -> Result<()> {
    if let Some(dir) = cpu {
        let t = text(dir, "cpu.stat")?;
        s.cpu.throttling = Throttling {
            periods: key(&t, "nr_periods"),
            throttled_periods: key(&t, "nr_throttled"),
            throttled_time: key(&t, "throttled_time"),
        };
    }
    if let Some(dir) = cpuacct {
        let u = &mut s.cpu.usage;
        u.total = num(dir, "cpuacct.usage")?;
        u.percpu = numbers(&text(dir, "cpuacct.usage_percpu")?);
        u.percpu_kernel = numbers(&text(dir, "cpuacct.usage_percpu_sys")?);
        u.percpu_user = numbers(&text(dir, "cpuacct.usage_percpu_user")?);
        // cpuacct.stat counts USER_HZ ticks.
        let st = text(dir, "cpuacct.stat")?;
        let ns = 1_000_000_000 / clock_ticks();
        u.user = key(&st, "user") * ns;
        u.kernel = key(&st, "system") * ns;
    }
    Ok(())
}

pub(crate) fn v1_cpuset(dir: &Path, s: &mut Stats) -> Result<()> {
    let c = &mut s.cpuset;
    c.cpus = parse_list(&text(dir, "cpuset.cpus")?);
    c.mems = parse_list(&text(dir, "cpuset.mems")?);
    c.cpu_exclusive = num(dir, "cpuset.cpu_exclusive")?;
    c.mem_hardwall = num(dir, "cpuset.mem_hardwall")?;
    c.mem_exclusive = num(dir, "cpuset.mem_exclusive")?;
    c.memory_migrate = num(dir, "cpuset.memory_migrate")?;
    c.memory_spread_page = num(dir, "cpuset.memory_spread_page")?;
    c.memory_spread_slab = num(dir, "cpuset.memory_spread_slab")?;
    c.memory_pressure = num(dir, "cpuset.memory_pressure")?;
    c.sched_load_balance = num(dir, "cpuset.sched_load_balance")?;
    c.sched_relax_domain_level = text(dir, "cpuset.sched_relax_domain_level")?
        .trim()
        .parse()
        .unwrap_or(0);
    Ok(())
}

fn v1_memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    Ok(MemoryEntry {
        limit: num(dir, &format!("{prefix}.limit_in_bytes"))?,
        usage: num(dir, &format!("{prefix}.usage_in_bytes"))?,
        max: num(dir, &format!("{prefix}.max_usage_in_bytes"))?,
        failcnt: num(dir, &format!("{prefix}.failcnt"))?,
    })
}

pub(crate) fn v1_memory(dir: &Path, s: &mut Stats) -> Result<()> {
    let m = &mut s.memory;
    m.usage = v1_memory_entry(dir, "memory")?;
    m.swap = v1_memory_entry(dir, "memory.memsw")?;
    m.kernel = v1_memory_entry(dir, "memory.kmem")?;
    m.kernel_tcp = v1_memory_entry(dir, "memory.kmem.tcp")?;
    m.raw = flat_map(&text(dir, "memory.stat")?);
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    Ok(())
}

pub(crate) fn pids(dir: &Path, s: &mut Stats) -> Result<()> {
    s.pids.current = num(dir, "pids.current")?;
    s.pids.limit = match num(dir, "pids.max")? {
        u64::MAX => 0,
        n => n,
    };
    Ok(())
}

/// `254:0 Read 4096` lines; the `Total N` line is left out, as runc does.
fn blkio_entries(t: &str) -> Vec<BlkioEntry> {
    t.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f.as_slice() else {
                return None;
            };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: (*op).to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

pub(crate) fn v1_blkio(dir: &Path, s: &mut Stats) -> Result<()> {
    // CFQ's files where they exist, else BFQ's when it has seen I/O, else
    // the throttle files, which count every device's I/O.
    let prefixes = ["blkio", "blkio.bfq", "blkio.throttle"];
    for (i, p) in prefixes.iter().enumerate() {
        let serviced = fsutil::read_opt(&dir.join(format!("{p}.io_serviced_recursive")))?;
        let Some(serviced) = serviced else { continue };
        let serviced = blkio_entries(&serviced);
        if serviced.is_empty() && i + 1 < prefixes.len() {
            continue;
        }
        s.blkio.io_serviced_recursive = serviced;
        s.blkio.io_service_bytes_recursive =
            blkio_entries(&text(dir, &format!("{p}.io_service_bytes_recursive"))?);
        if *p == "blkio" {
            let b = &mut s.blkio;
            b.io_queued_recursive = blkio_entries(&text(dir, "blkio.io_queued_recursive")?);
            b.io_service_time_recursive =
                blkio_entries(&text(dir, "blkio.io_service_time_recursive")?);
            b.io_wait_time_recursive = blkio_entries(&text(dir, "blkio.io_wait_time_recursive")?);
            b.io_merged_recursive = blkio_entries(&text(dir, "blkio.io_merged_recursive")?);
            b.io_time_recursive = blkio_entries(&text(dir, "blkio.time_recursive")?);
            b.sectors_recursive = blkio_entries(&text(dir, "blkio.sectors_recursive")?);
        }
        break;
    }
    Ok(())
}

/// Page sizes the hierarchy has files for (`hugetlb.2MB.<suffix>`).
fn hugetlb_sizes(dir: &Path, suffix: &str) -> Result<Vec<String>> {
    let mut sizes = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => return Err(fsutil::io_err(dir, e)),
    };
    for e in rd {
        let e = e.map_err(|e| fsutil::io_err(dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|r| r.strip_suffix(suffix))
        {
            if !size.contains('.') {
                sizes.push(size.to_string());
            }
        }
    }
    sizes.sort();
    Ok(sizes)
}

pub(crate) fn v1_hugetlb(dir: &Path, s: &mut Stats) -> Result<()> {
    for size in hugetlb_sizes(dir, ".limit_in_bytes")? {
        let h = Hugetlb {
            usage: num(dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
            max: num(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
            failcnt: num(dir, &format!("hugetlb.{size}.failcnt"))?,
        };
        s.hugetlb.insert(size, h);
    }
    Ok(())
}

pub(crate) fn v2_cpu(dir: &Path, s: &mut Stats) -> Result<()> {
    let t = text(dir, "cpu.stat")?;
    s.cpu.usage.total = key(&t, "usage_usec") * 1000;
    s.cpu.usage.user = key(&t, "user_usec") * 1000;
    s.cpu.usage.kernel = key(&t, "system_usec") * 1000;
    s.cpu.throttling = Throttling {
        periods: key(&t, "nr_periods"),
        throttled_periods: key(&t, "nr_throttled"),
        throttled_time: key(&t, "throttled_usec") * 1000,
    };
    Ok(())
}

pub(crate) fn v2_cpuset(dir: &Path, s: &mut Stats) -> Result<()> {
    s.cpuset.cpus = parse_list(&text(dir, "cpuset.cpus.effective")?);
    s.cpuset.mems = parse_list(&text(dir, "cpuset.mems.effective")?);
    Ok(())
}

pub(crate) fn v2_memory(dir: &Path, s: &mut Stats) -> Result<()> {
    let m = &mut s.memory;
    let events = text(dir, "memory.events")?;
    m.usage = MemoryEntry {
        limit: num(dir, "memory.max")?,
        usage: num(dir, "memory.current")?,
        max: num(dir, "memory.peak")?,
        failcnt: key(&events, "max"),
    };
    // v1's memsw counted memory plus swap; runc reports v2 the same way.
    let swap_events = text(dir, "memory.swap.events")?;
    m.swap = MemoryEntry {
        limit: num(dir, "memory.swap.max")?.saturating_add(m.usage.limit),
        usage: num(dir, "memory.swap.current")?.saturating_add(m.usage.usage),
        max: num(dir, "memory.swap.peak")?,
        failcnt: key(&swap_events, "max"),
    };
    m.raw = flat_map(&text(dir, "memory.stat")?);
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    Ok(())
}

/// io.stat: `254:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`.
pub(crate) fn v2_io(dir: &Path, s: &mut Stats) -> Result<()> {
    for line in text(dir, "io.stat")?.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    Ok(())
}

pub(crate) fn v2_hugetlb(dir: &Path, s: &mut Stats) -> Result<()> {
    for size in hugetlb_sizes(dir, ".current")? {
        let events = text(dir, &format!("hugetlb.{size}.events"))?;
        let h = Hugetlb {
            usage: num(dir, &format!("hugetlb.{size}.current"))?,
            max: 0,
            failcnt: key(&events, "max"),
        };
        s.hugetlb.insert(size, h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_blkio_lines() {
        assert_eq!(parse_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(parse_list(""), Vec::<u16>::new());
        let e = blkio_entries("254:0 Read 4096\n254:0 Write 0\nTotal 4096\n");
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].major, e[0].minor, e[0].op.as_str(), e[0].value),
            (254, 0, "Read", 4096)
        );
    }

    #[test]
    fn v2_files_into_runc_shape() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for (f, c) in [
            ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 7\nnr_throttled 4\nthrottled_usec 9\n"),
            ("memory.current", "100\n"),
            ("memory.max", "max\n"),
            ("memory.events", "low 0\nhigh 0\nmax 6\noom 1\noom_kill 1\n"),
            ("memory.swap.current", "10\n"),
            ("memory.swap.max", "0\n"),
            ("memory.stat", "anon 50\nfile 40\n"),
            ("io.stat", "254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"),
            ("pids.current", "3\n"),
            ("pids.max", "max\n"),
        ] {
            std::fs::write(d.join(f), c).unwrap();
        }
        let mut s = Stats::default();
        v2_cpu(d, &mut s).unwrap();
        v2_memory(d, &mut s).unwrap();
        v2_io(d, &mut s).unwrap();
        pids(d, &mut s).unwrap();
        assert_eq!(s.cpu.usage.total, 5000);
        assert_eq!(s.cpu.throttling.throttled_periods, 4);
        assert_eq!(s.cpu.throttling.throttled_time, 9000);
        assert_eq!(s.memory.usage.limit, u64::MAX);
        assert_eq!(s.memory.usage.failcnt, 6);
        assert_eq!(s.memory.swap.usage, 110);
        assert_eq!(s.memory.cache, 40);
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!((s.pids.current, s.pids.limit), (3, 0));

        let json = serde_json::to_value(&s).unwrap();
        // The keys runc's consumers look for.
        assert_eq!(json["cpu"]["throttling"]["throttledPeriods"], 4);
        assert_eq!(json["memory"]["usage"]["failcnt"], 6);
        assert_eq!(json["memory"]["raw"]["anon"], 50);
        assert_eq!(json["blkio"]["ioServiceBytesRecursive"][1]["op"], "Write");
        assert!(json["memory"]["kernelTCP"].is_object());
        assert!(json["network_interfaces"].is_null());
        assert!(
            json["pids"].get("limit").is_none(),
            "zero limits are left out"
        );
    }
}
