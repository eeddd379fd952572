//! linux.resources: value checks, v1/v2 conversions, and which controller each
//! part of the struct needs. The writers live in [`v1`] and [`v2`].

pub(crate) mod v1;
pub(crate) mod v2;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxCpu, LinuxDeviceType, LinuxMemory, LinuxResources};

use crate::{fsutil, CgroupError, Layout, Result, V1Mount};

pub(crate) const MEMORY: &str = "linux.resources.memory";
pub(crate) const CPU: &str = "linux.resources.cpu";
pub(crate) const PIDS: &str = "linux.resources.pids";
pub(crate) const BLKIO: &str = "linux.resources.blockIO";
pub(crate) const HUGETLB: &str = "linux.resources.hugepageLimits";
pub(crate) const DEVICES: &str = "linux.resources.devices";
pub(crate) const NETWORK: &str = "linux.resources.network";
pub(crate) const RDMA: &str = "linux.resources.rdma";
pub(crate) const UNIFIED: &str = "linux.resources.unified";

/// Share of the CPU relative to siblings: v1 cpu.shares [2, 262144] onto
/// v2 cpu.weight [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// blkio.weight [10, 1000] onto io.weight [1, 10000].
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

/// A part of linux.resources and the controller it needs in each version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Memory,
    CpuSched,
    Cpuset,
    Pids,
    BlockIo,
    Hugetlb,
    Devices,
    NetCls,
    NetPrio,
    Rdma,
    Unified,
}

impl Group {
    pub(crate) fn v1_controller(self) -> Option<&'static str> {
        Some(match self {
            Group::Memory => "memory",
            Group::CpuSched => "cpu",
            Group::Cpuset => "cpuset",
            Group::Pids => "pids",
            Group::BlockIo => "blkio",
            Group::Hugetlb => "hugetlb",
            Group::Devices => "devices",
            Group::NetCls => "net_cls",
            Group::NetPrio => "net_prio",
            Group::Rdma => "rdma",
            Group::Unified => return None,
        })
    }

    /// `None`: cgroup v2 has no controller for it.
    pub(crate) fn v2_controller(self) -> Option<&'static str> {
        Some(match self {
            Group::Memory => "memory",
            Group::CpuSched => "cpu",
            Group::Cpuset => "cpuset",
            Group::Pids => "pids",
            Group::BlockIo => "io",
            Group::Hugetlb => "hugetlb",
            Group::Rdma => "rdma",
            Group::Devices | Group::NetCls | Group::NetPrio | Group::Unified => return None,
        })
    }

    pub(crate) fn field(self) -> &'static str {
        match self {
            Group::Memory => MEMORY,
            Group::CpuSched | Group::Cpuset => CPU,
            Group::Pids => PIDS,
            Group::BlockIo => BLKIO,
            Group::Hugetlb => HUGETLB,
            Group::Devices => DEVICES,
            Group::NetCls => "linux.resources.network.classID",
            Group::NetPrio => "linux.resources.network.priorities",
            Group::Rdma => RDMA,
            Group::Unified => UNIFIED,
        }
    }
}

pub(crate) fn cpu_sched_set(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|v| v != 0)
        || c.quota().is_some_and(|v| v != 0)
        || c.period().is_some_and(|v| v != 0)
        || c.burst().is_some()
        || c.idle().is_some()
        || c.realtime_runtime().is_some_and(|v| v != 0)
        || c.realtime_period().is_some_and(|v| v != 0)
}

pub(crate) fn cpuset_set(c: &LinuxCpu) -> bool {
    c.cpus().as_deref().is_some_and(|s| !s.is_empty())
        || c.mems().as_deref().is_some_and(|s| !s.is_empty())
}

/// The groups a resources struct touches, in the order they are applied
/// (cpuset first: the rest never depends on it, but joining does).
pub(crate) fn groups(r: &LinuxResources) -> Vec<Group> {
    let mut g = Vec::new();
    if let Some(c) = r.cpu() {
        if cpuset_set(c) {
            g.push(Group::Cpuset);
        }
        if cpu_sched_set(c) {
            g.push(Group::CpuSched);
        }
    }
    if r.memory().is_some() {
        g.push(Group::Memory);
    }
    if r.pids().is_some() {
        g.push(Group::Pids);
    }
    if r.block_io().is_some() {
        g.push(Group::BlockIo);
    }
    if r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()) {
        g.push(Group::Hugetlb);
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() {
            g.push(Group::NetCls);
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            g.push(Group::NetPrio);
        }
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        g.push(Group::Rdma);
    }
    if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        g.push(Group::Devices);
    }
    if r.unified().as_ref().is_some_and(|m| !m.is_empty()) {
        g.push(Group::Unified);
    }
    g
}

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> CgroupError {
    CgroupError::InvalidResource {
        field: field.into(),
        msg: msg.into(),
    }
}

pub(crate) fn unsupported(field: impl Into<String>, why: impl Into<String>) -> CgroupError {
    CgroupError::Unsupported {
        field: field.into(),
        why: why.into(),
    }
}

/// A cpuset list: `0-3,5,7-8`.
pub fn check_cpuset_list(field: &str, list: &str) -> Result<()> {
    let list = list.trim();
    if list.is_empty() {
        return Ok(());
    }
    for part in list.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let (Ok(lo), Ok(hi)) = (lo.parse::<u32>(), hi.parse::<u32>()) else {
            return Err(invalid(
                field,
                format!("{list:?} is not a list like 0-3,5 (bad part {part:?})"),
            ));
        };
        if lo > hi {
            return Err(invalid(
                field,
                format!("range {part:?} in {list:?} is reversed"),
            ));
        }
    }
    Ok(())
}

/// `2MB`, `1GB`, `64KB`: the names the hugetlb controller uses for its files.
pub fn check_hugepage_size(field: &str, size: &str) -> Result<()> {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(unit, "KB" | "MB" | "GB")
    {
        return Err(invalid(
            field,
            format!("{size:?} is not a page size like 2MB or 1GB"),
        ));
    }
    Ok(())
}

/// Memory checks shared by both versions.
fn check_memory_values(m: &LinuxMemory) -> Result<()> {
    for (name, v) in [
        ("limit", m.limit()),
        ("reservation", m.reservation()),
        ("swap", m.swap()),
        ("kernelTCP", m.kernel_tcp()),
    ] {
        if let Some(v) = v {
            if v < -1 {
                return Err(invalid(
                    format!("{MEMORY}.{name}"),
                    format!("{v} is neither a byte count nor -1 (unlimited)"),
                ));
            }
        }
    }
    if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
        // swap is memory+swap, so it can never be below the memory limit.
        if l > 0 && s > 0 && s < l {
            return Err(invalid(
                format!("{MEMORY}.swap"),
                format!("{s} is below memory.limit {l}; swap counts memory plus swap"),
            ));
        }
        if l == -1 && s > 0 {
            return Err(invalid(
                format!("{MEMORY}.swap"),
                format!("{s} is a limit while memory.limit is unlimited (-1)"),
            ));
        }
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(invalid(
                format!("{MEMORY}.swappiness"),
                format!("{s} is above 100"),
            ));
        }
    }
    kernel_memory_check(m)
}

/// Kernel memory limits: Linux 5.4+ accepts writes to memory.kmem.limit_in_bytes
/// and ignores them, and v2 has no such file, so a limit would never be enforced.
/// runtime-spec 1.1 deprecates `kernel`; like runc 1.1 (which dropped kmem
/// support) brig warns and ignores it rather than refusing the config.
#[allow(deprecated)]
fn kernel_memory_check(m: &LinuxMemory) -> Result<()> {
    if m.kernel().is_some_and(|v| v != 0) {
        warn_once(
            &KERNEL_WARNED,
            "linux.resources.memory.kernel is ignored: kernel memory limits are deprecated \
             (Linux 5.4 and later ignore memory.kmem.limit_in_bytes; cgroup v2 has no such limit)",
        );
    }
    Ok(())
}

static KERNEL_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static KERNEL_TCP_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One warning per process, however often the resources are checked.
fn warn_once(flag: &std::sync::atomic::AtomicBool, msg: &str) {
    if !flag.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!("brig: warning: {msg}");
    }
}

/// What cgroup v1 cannot express in linux.resources.memory: nothing beyond
/// the shared checks.
pub(crate) fn check_v1_memory(m: &LinuxMemory) -> Result<()> {
    check_memory_values(m)
}

pub(crate) fn check_v2_memory(m: &LinuxMemory) -> Result<()> {
    check_memory_values(m)?;
    if m.kernel_tcp().is_some_and(|v| v != 0) {
        // runc ignores kernelTCP on v2; warn instead of refusing the config.
        warn_once(
            &KERNEL_TCP_WARNED,
            "linux.resources.memory.kernelTCP is ignored: cgroup v2 has no TCP buffer limit \
             (it is counted in memory.max)",
        );
    }
    if m.swappiness().is_some() {
        return Err(unsupported(
            format!("{MEMORY}.swappiness"),
            "cgroup v2 has no per-cgroup swappiness",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(unsupported(
            format!("{MEMORY}.disableOOMKiller"),
            "cgroup v2 cannot disable the OOM killer",
        ));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(unsupported(
            format!("{MEMORY}.useHierarchy"),
            "cgroup v2 accounting is always hierarchical",
        ));
    }
    if m.swap().is_some_and(|s| s != 0) && m.limit().is_none_or(|l| l == 0) {
        return Err(invalid(
            format!("{MEMORY}.swap"),
            "cgroup v2 needs memory.limit to derive memory.swap.max (swap is memory plus swap)",
        ));
    }
    Ok(())
}

fn check_cpu_values(c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares() {
        if s != 0 && !(2..=262144).contains(&s) {
            return Err(invalid(
                format!("{CPU}.shares"),
                format!("{s} is outside [2, 262144]"),
            ));
        }
    }
    if let Some(q) = c.quota() {
        if q != 0 && q != -1 && q < 1000 {
            return Err(invalid(
                format!("{CPU}.quota"),
                format!("{q} is neither -1 (unlimited) nor at least 1000 µs"),
            ));
        }
    }
    if let Some(p) = c.period() {
        if p != 0 && !(1000..=1_000_000).contains(&p) {
            return Err(invalid(
                format!("{CPU}.period"),
                format!("{p} is outside [1000, 1000000] µs"),
            ));
        }
    }
    if let (Some(b), Some(q)) = (c.burst(), c.quota()) {
        if q > 0 && b > q as u64 {
            return Err(invalid(
                format!("{CPU}.burst"),
                format!("{b} is above the quota {q}"),
            ));
        }
    }
    if let Some(i) = c.idle() {
        if i != 0 && i != 1 {
            return Err(invalid(
                format!("{CPU}.idle"),
                format!("{i} is neither 0 nor 1"),
            ));
        }
    }
    if let Some(r) = c.realtime_runtime().filter(|&v| v != 0) {
        if r < -1 {
            return Err(invalid(
                format!("{CPU}.realtimeRuntime"),
                format!("{r} is neither -1 nor a µs count"),
            ));
        }
        if let Some(p) = c.realtime_period().filter(|&v| v != 0) {
            if r > 0 && r as u64 > p {
                return Err(invalid(
                    format!("{CPU}.realtimeRuntime"),
                    format!("{r} is above realtimePeriod {p}"),
                ));
            }
        }
    }
    if let Some(cpus) = c.cpus() {
        check_cpuset_list(&format!("{CPU}.cpus"), cpus)?;
    }
    if let Some(mems) = c.mems() {
        check_cpuset_list(&format!("{CPU}.mems"), mems)?;
    }
    Ok(())
}

pub(crate) fn check_v2_cpu(c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) {
        return Err(unsupported(
            format!("{CPU}.realtimeRuntime"),
            "cgroup v2 has no realtime group scheduling",
        ));
    }
    if c.realtime_period().is_some_and(|v| v != 0) {
        return Err(unsupported(
            format!("{CPU}.realtimePeriod"),
            "cgroup v2 has no realtime group scheduling",
        ));
    }
    Ok(())
}

fn check_blkio_weight(field: String, w: Option<u16>) -> Result<()> {
    match w {
        Some(w) if w != 0 && !(10..=1000).contains(&w) => {
            Err(invalid(field, format!("{w} is outside [10, 1000]")))
        }
        _ => Ok(()),
    }
}

pub(crate) fn check_v2_blkio(b: &oci_spec::runtime::LinuxBlockIo) -> Result<()> {
    if b.leaf_weight().is_some() {
        return Err(unsupported(
            format!("{BLKIO}.leafWeight"),
            "cgroup v2 io has no leaf weight",
        ));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if d.leaf_weight().is_some() {
            return Err(unsupported(
                format!("{BLKIO}.weightDevice[{i}].leafWeight"),
                "cgroup v2 io has no leaf weight",
            ));
        }
    }
    Ok(())
}

/// The `type major:minor access` line of a device rule, for devices.allow/deny.
pub(crate) fn device_rule_line(
    i: usize,
    d: &oci_spec::runtime::LinuxDeviceCgroup,
) -> Result<String> {
    let typ = match d.typ().unwrap_or_default() {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        // 'u' is an unbuffered character device: the same to the device cgroup.
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => {
            return Err(invalid(
                format!("{DEVICES}[{i}].type"),
                "the device cgroup has no rules for FIFOs (p); only a, b and c",
            ))
        }
    };
    for (name, v) in [("major", d.major()), ("minor", d.minor())] {
        if v.is_some_and(|n| n > i64::from(i32::MAX)) {
            return Err(invalid(
                format!("{DEVICES}[{i}].{name}"),
                format!("{} is not a device number", v.unwrap_or_default()),
            ));
        }
    }
    let num = |v: Option<i64>| match v {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = d.access().as_deref().unwrap_or("");
    let access = if access.is_empty() { "rwm" } else { access };
    if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(invalid(
            format!("{DEVICES}[{i}].access"),
            format!("{access:?} has letters other than r, w and m"),
        ));
    }
    Ok(format!(
        "{typ} {}:{} {access}",
        num(d.major()),
        num(d.minor())
    ))
}

/// A raw cgroup v2 file name from linux.resources.unified.
pub(crate) fn check_unified_key(key: &str) -> Result<()> {
    let field = format!("{UNIFIED}.{key}");
    if key.is_empty() || key.contains('/') || key.starts_with('.') || !key.contains('.') {
        return Err(invalid(field, "not a cgroup file name like memory.high"));
    }
    if key.starts_with("cgroup.") {
        return Err(invalid(
            field,
            "cgroup.* core files are managed by the runtime, not by resources",
        ));
    }
    Ok(())
}

/// Value checks that hold on every layout.
fn check_values(r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory() {
        check_memory_values(m)?;
    }
    if let Some(c) = r.cpu() {
        check_cpu_values(c)?;
    }
    if let Some(b) = r.block_io() {
        check_blkio_weight(format!("{BLKIO}.weight"), b.weight())?;
        check_blkio_weight(format!("{BLKIO}.leafWeight"), b.leaf_weight())?;
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            check_blkio_weight(format!("{BLKIO}.weightDevice[{i}].weight"), d.weight())?;
            check_blkio_weight(
                format!("{BLKIO}.weightDevice[{i}].leafWeight"),
                d.leaf_weight(),
            )?;
            check_device_numbers(&format!("{BLKIO}.weightDevice[{i}]"), d.major(), d.minor())?;
        }
        for (name, list) in throttles(b) {
            for (i, t) in list.iter().enumerate() {
                check_device_numbers(&format!("{BLKIO}.{name}[{i}]"), t.major(), t.minor())?;
            }
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        check_hugepage_size(&format!("{HUGETLB}[{i}].pageSize"), h.page_size())?;
        if h.limit() < -1 {
            return Err(invalid(
                format!("{HUGETLB}[{i}].limit"),
                format!("{} is neither a byte count nor -1", h.limit()),
            ));
        }
    }
    for (i, d) in r.devices().iter().flatten().enumerate() {
        device_rule_line(i, d)?;
    }
    if let Some(n) = r.network() {
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            if p.name().is_empty() || p.name().contains(char::is_whitespace) {
                return Err(invalid(
                    format!("{NETWORK}.priorities[{i}].name"),
                    format!("{:?} is not an interface name", p.name()),
                ));
            }
        }
    }
    for dev in r.rdma().iter().flat_map(|m| m.keys()) {
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(invalid(format!("{RDMA}.{dev}"), "not an RDMA device name"));
        }
    }
    for key in r.unified().iter().flat_map(|m| m.keys()) {
        check_unified_key(key)?;
    }
    Ok(())
}

fn check_device_numbers(field: &str, major: i64, minor: i64) -> Result<()> {
    if major < 0 || minor < 0 {
        return Err(invalid(
            field,
            format!("{major}:{minor} is not a device number"),
        ));
    }
    Ok(())
}

pub(crate) type Throttles<'a> = [(&'static str, &'a [oci_spec::runtime::LinuxThrottleDevice]); 4];

fn slice<T>(v: &Option<Vec<T>>) -> &[T] {
    v.as_deref().unwrap_or(&[])
}

pub(crate) fn throttles(b: &oci_spec::runtime::LinuxBlockIo) -> Throttles<'_> {
    let s = slice;
    [
        ("throttleReadBpsDevice", s(b.throttle_read_bps_device())),
        ("throttleWriteBpsDevice", s(b.throttle_write_bps_device())),
        ("throttleReadIOPSDevice", s(b.throttle_read_iops_device())),
        ("throttleWriteIOPSDevice", s(b.throttle_write_iops_device())),
    ]
}

/// Version-specific refusals of a group, without any I/O.
pub(crate) fn check_group_v1(g: Group, r: &LinuxResources) -> Result<()> {
    match g {
        Group::Memory => r.memory().as_ref().map_or(Ok(()), check_v1_memory),
        Group::Unified => Err(unsupported(
            UNIFIED,
            "raw cgroup v2 files need a cgroup2 hierarchy and this host has only cgroup v1",
        )),
        _ => Ok(()),
    }
}

pub(crate) fn check_group_v2(g: Group, r: &LinuxResources) -> Result<()> {
    match g {
        Group::Memory => r.memory().as_ref().map_or(Ok(()), check_v2_memory),
        Group::CpuSched => r.cpu().as_ref().map_or(Ok(()), check_v2_cpu),
        Group::BlockIo => r.block_io().as_ref().map_or(Ok(()), check_v2_blkio),
        Group::NetCls | Group::NetPrio => Err(unsupported(
            g.field(),
            "cgroup v2 has no net_cls/net_prio controller",
        )),
        _ => Ok(()),
    }
}

/// Controllers listed in a cgroup2 directory's cgroup.controllers, read once.
#[derive(Debug)]
pub(crate) struct V2Controllers {
    dir: PathBuf,
    list: Option<Vec<String>>,
}

impl V2Controllers {
    pub(crate) fn new(dir: &Path) -> Self {
        V2Controllers {
            dir: dir.to_path_buf(),
            list: None,
        }
    }

    pub(crate) fn has(&mut self, controller: &str) -> Result<bool> {
        if self.list.is_none() {
            let text = fsutil::read(&self.dir.join("cgroup.controllers"))?;
            self.list = Some(text.split_whitespace().map(str::to_owned).collect());
        }
        Ok(self.list.iter().flatten().any(|c| c == controller))
    }
}

/// Where a group goes on a layout.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route<'a> {
    V1(&'a V1Mount),
    V2,
}

pub(crate) fn find_v1<'a>(v1: &'a [V1Mount], controller: &str) -> Option<&'a V1Mount> {
    v1.iter()
        .find(|m| m.controllers.iter().any(|c| c == controller))
}

/// v1 first where the controller is bound there, else the cgroup2 hierarchy if
/// the controller is available in it.
pub(crate) fn route<'a>(
    layout: &'a Layout,
    g: Group,
    v2: &mut Option<V2Controllers>,
) -> Result<Route<'a>> {
    let (v1, unified): (&[V1Mount], Option<&PathBuf>) = match layout {
        Layout::Unified { root } => (&[], Some(root)),
        Layout::Hybrid { v1, unified } => (v1, Some(unified)),
        Layout::Legacy { v1 } => (v1, None),
    };
    if let Some(m) = g.v1_controller().and_then(|c| find_v1(v1, c)) {
        return Ok(Route::V1(m));
    }
    let Some(unified) = unified else {
        if g == Group::Unified {
            return Err(unsupported(
                UNIFIED,
                "raw cgroup v2 files need a cgroup2 hierarchy and this host has only cgroup v1",
            ));
        }
        return Err(unsupported(
            g.field(),
            format!(
                "the {} controller is not mounted",
                g.v1_controller().unwrap_or("?")
            ),
        ));
    };
    // Device rules on cgroup2 are an eBPF program, not a controller.
    if g == Group::Unified || g == Group::Devices {
        return Ok(Route::V2);
    }
    let v2 = v2.get_or_insert_with(|| V2Controllers::new(unified));
    match g.v2_controller() {
        Some(c) if v2.has(c)? => Ok(Route::V2),
        Some(c) => Err(unsupported(
            g.field(),
            format!(
                "the {c} controller is neither mounted as cgroup v1 nor available in {}",
                unified.display()
            ),
        )),
        // net_cls/net_prio: say why v2 cannot do it.
        None => Err(check_group_v2(g, &LinuxResources::default())
            .err()
            .unwrap_or_else(|| {
                unsupported(
                    g.field(),
                    format!(
                        "no {} controller on this host",
                        g.v1_controller().unwrap_or("?")
                    ),
                )
            })),
    }
}

/// v1 knobs whose presence shows in the hierarchy's root directory, so a host
/// without them is refused before anything is created.
fn check_v1_root_files(g: Group, m: &V1Mount, r: &LinuxResources) -> Result<()> {
    let has = |f: &str| m.mount_point.join(f).exists();
    let need = |field: String, file: &str| -> Result<()> {
        if has(file) {
            Ok(())
        } else {
            Err(unsupported(
                field,
                format!("{} has no {file}", m.mount_point.display()),
            ))
        }
    };
    match g {
        Group::Memory => {
            let Some(mem) = r.memory() else { return Ok(()) };
            if mem.swap().is_some_and(|s| s != 0) {
                need(format!("{MEMORY}.swap"), "memory.memsw.limit_in_bytes")?;
            }
            if mem.kernel_tcp().is_some_and(|s| s != 0) {
                need(
                    format!("{MEMORY}.kernelTCP"),
                    "memory.kmem.tcp.limit_in_bytes",
                )?;
            }
            if mem.swappiness().is_some() {
                need(format!("{MEMORY}.swappiness"), "memory.swappiness")?;
            }
        }
        Group::CpuSched => {
            let Some(c) = r.cpu() else { return Ok(()) };
            if c.realtime_runtime().is_some_and(|v| v != 0) {
                need(format!("{CPU}.realtimeRuntime"), "cpu.rt_runtime_us")?;
            }
            if c.realtime_period().is_some_and(|v| v != 0) {
                need(format!("{CPU}.realtimePeriod"), "cpu.rt_period_us")?;
            }
            if c.burst().is_some() {
                need(format!("{CPU}.burst"), "cpu.cfs_burst_us")?;
            }
            if c.idle().is_some() {
                need(format!("{CPU}.idle"), "cpu.idle")?;
            }
        }
        Group::BlockIo => {
            let Some(b) = r.block_io() else { return Ok(()) };
            // BFQ's files only show below the root; its statistics files do
            // show at the root, which tells that blkio.bfq.weight exists.
            let weight_ok = has("blkio.weight") || has("blkio.bfq.io_serviced");
            let wants_weight = b.weight().is_some_and(|w| w != 0)
                || b.weight_device()
                    .iter()
                    .flatten()
                    .any(|d| d.weight().is_some());
            if wants_weight && !weight_ok {
                return Err(unsupported(
                    format!("{BLKIO}.weight"),
                    format!(
                        "{} has neither blkio.weight nor BFQ's blkio.bfq.weight",
                        m.mount_point.display()
                    ),
                ));
            }
            let wants_leaf = b.leaf_weight().is_some_and(|w| w != 0)
                || b.weight_device()
                    .iter()
                    .flatten()
                    .any(|d| d.leaf_weight().is_some());
            if wants_leaf {
                need(format!("{BLKIO}.leafWeight"), "blkio.leaf_weight")?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// See [`crate::validate_resources`].
pub(crate) fn validate(layout: &Layout, r: &LinuxResources) -> Result<()> {
    check_values(r)?;
    let mut v2 = None;
    for g in groups(r) {
        match route(layout, g, &mut v2)? {
            Route::V1(m) => {
                check_group_v1(g, r)?;
                check_v1_root_files(g, m, r)?;
            }
            Route::V2 => check_group_v2(g, r)?,
        }
    }
    let unified_root = match layout {
        Layout::Unified { root } => Some(root),
        Layout::Hybrid { unified, .. } => Some(unified),
        Layout::Legacy { .. } => None,
    };
    if let (Some(keys), Some(root)) = (r.unified(), unified_root) {
        let v2 = v2.get_or_insert_with(|| V2Controllers::new(root));
        for key in keys.keys() {
            let ctl = key.split('.').next().unwrap_or("");
            if !v2.has(ctl)? {
                return Err(unsupported(
                    format!("{UNIFIED}.{key}"),
                    format!("the {ctl} controller is not available in the cgroup2 hierarchy"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
    }

    #[test]
    fn cpuset_lists() {
        for ok in ["0", "0-1", "0,2-3,7", " 1 "] {
            check_cpuset_list("f", ok).unwrap();
        }
        for bad in ["a", "1-", "3-1", "0,,1", "-1"] {
            let err = check_cpuset_list("linux.resources.cpu.cpus", bad).unwrap_err();
            assert!(
                err.to_string().starts_with("linux.resources.cpu.cpus:"),
                "{err}"
            );
        }
    }

    #[test]
    fn hugepage_sizes() {
        check_hugepage_size("f", "2MB").unwrap();
        check_hugepage_size("f", "1GB").unwrap();
        check_hugepage_size("f", "64KB").unwrap();
        for bad in ["2M", "MB", "2mb", "x2MB", ""] {
            assert!(check_hugepage_size("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_lines() {
        use oci_spec::runtime::LinuxDeviceCgroupBuilder;
        let all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(device_rule_line(0, &all).unwrap(), "a *:* rwm");
        let null = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rw")
            .build()
            .unwrap();
        assert_eq!(device_rule_line(0, &null).unwrap(), "c 1:3 rw");
        let fifo = LinuxDeviceCgroupBuilder::default()
            .typ(LinuxDeviceType::P)
            .build()
            .unwrap();
        let err = device_rule_line(4, &fifo).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("linux.resources.devices[4].type"),
            "{err}"
        );
        let bad = LinuxDeviceCgroupBuilder::default()
            .access("rwx")
            .build()
            .unwrap();
        assert!(device_rule_line(1, &bad)
            .unwrap_err()
            .to_string()
            .starts_with("linux.resources.devices[1].access"));
    }

    #[test]
    fn unified_keys() {
        check_unified_key("memory.high").unwrap();
        for bad in ["", "memory", "../x.y", "a/b.c", ".x", "cgroup.procs"] {
            assert!(check_unified_key(bad).is_err(), "{bad}");
        }
    }
}
