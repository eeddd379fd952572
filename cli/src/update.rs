//! `update ID`: runc's flags, or `-r FILE` with linux.resources as JSON.
//! Errors name the flag that carried the value.

use std::io::Read;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use brig_runtime::container::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
    /// linux.resources as JSON ("-" reads stdin). Flags given with it override
    /// its fields.
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes ("512m", "1g"; -1 for unlimited).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size)]
    pub memory: Option<i64>,
    /// Memory soft limit in bytes ("256m"; -1 for unlimited).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size)]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes ("1g"; -1 for unlimited swap).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size)]
    pub memory_swap: Option<i64>,
    /// Kernel memory limit: refused, Linux 5.4 and later ignore it.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size)]
    pub kernel_memory: Option<i64>,
    /// Kernel TCP buffer limit in bytes (cgroup v1 only).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size)]
    pub kernel_memory_tcp: Option<i64>,
    /// CFS quota in µs per period (-1 for unlimited).
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CFS period in µs.
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CPU shares, relative weight (runc's --cpu-share).
    #[arg(long = "cpu-share", visible_alias = "cpu-shares", value_name = "N")]
    pub cpu_share: Option<u64>,
    /// Realtime period in µs.
    #[arg(long, value_name = "US")]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in µs per period.
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to run on ("0-3", "0,1").
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to allocate from ("0-3", "0,1").
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks (-1 for unlimited).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight, 10 to 1000.
    #[arg(long, value_name = "N")]
    pub blkio_weight: Option<u16>,
}

/// A size as runc takes it (docker's RAMInBytes, `brig_runtime::units`), or
/// -1 for unlimited.
pub fn parse_size(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    brig_runtime::units::parse_size(s).map_err(|e| {
        if e.contains("is not a size") {
            format!("{e} (or -1 for unlimited)")
        } else {
            e
        }
    })
}

/// The flags that were given: (flag, OCI field it sets).
fn given_flags(a: &Args) -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    let mut add = |set: bool, flag, field| {
        if set {
            v.push((flag, field));
        }
    };
    add(
        a.memory.is_some(),
        "--memory",
        "linux.resources.memory.limit",
    );
    add(
        a.memory_reservation.is_some(),
        "--memory-reservation",
        "linux.resources.memory.reservation",
    );
    add(
        a.memory_swap.is_some(),
        "--memory-swap",
        "linux.resources.memory.swap",
    );
    add(
        a.kernel_memory.is_some(),
        "--kernel-memory",
        "linux.resources.memory.kernel",
    );
    add(
        a.kernel_memory_tcp.is_some(),
        "--kernel-memory-tcp",
        "linux.resources.memory.kernelTCP",
    );
    add(
        a.cpu_quota.is_some(),
        "--cpu-quota",
        "linux.resources.cpu.quota",
    );
    add(
        a.cpu_period.is_some(),
        "--cpu-period",
        "linux.resources.cpu.period",
    );
    add(
        a.cpu_share.is_some(),
        "--cpu-share",
        "linux.resources.cpu.shares",
    );
    add(
        a.cpu_rt_period.is_some(),
        "--cpu-rt-period",
        "linux.resources.cpu.realtimePeriod",
    );
    add(
        a.cpu_rt_runtime.is_some(),
        "--cpu-rt-runtime",
        "linux.resources.cpu.realtimeRuntime",
    );
    add(
        a.cpuset_cpus.is_some(),
        "--cpuset-cpus",
        "linux.resources.cpu.cpus",
    );
    add(
        a.cpuset_mems.is_some(),
        "--cpuset-mems",
        "linux.resources.cpu.mems",
    );
    add(
        a.pids_limit.is_some(),
        "--pids-limit",
        "linux.resources.pids.limit",
    );
    add(
        a.blkio_weight.is_some(),
        "--blkio-weight",
        "linux.resources.blockIO.weight",
    );
    v
}

/// The flags whose field an error is about: the field itself, or a part of
/// linux.resources that holds it (`linux.resources.cpu` when the cpu
/// controller is missing).
fn flags_for<'a>(given: &[(&'a str, &str)], field: &str) -> Vec<&'a str> {
    given
        .iter()
        .filter(|(_, f)| *f == field || f.strip_prefix(field).is_some_and(|r| r.starts_with('.')))
        .map(|(flag, _)| *flag)
        .collect()
}

/// A flag whose value runc would read as "leave unchanged" is refused: brig
/// never takes a flag and does nothing with it.
fn refuse_zero(flag: &str, zero: bool, hint: &str) -> anyhow::Result<()> {
    if zero {
        anyhow::bail!("{flag} 0: 0 would leave the limit unchanged; {hint}");
    }
    Ok(())
}

fn read_resources(path: &std::path::Path) -> anyhow::Result<LinuxResources> {
    let (name, data) = if path.as_os_str() == "-" {
        let mut s = Vec::new();
        std::io::stdin()
            .read_to_end(&mut s)
            .map_err(|e| anyhow::anyhow!("--resources -: reading stdin: {e}"))?;
        ("stdin".to_string(), s)
    } else {
        let d = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("--resources {}: {e}", path.display()))?;
        (path.display().to_string(), d)
    };
    let de = &mut serde_json::Deserializer::from_slice(&data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        anyhow::anyhow!(
            "--resources {name}: not linux.resources JSON: at {}: {}",
            e.path(),
            e.inner()
        )
    })
}

/// linux.resources from the file (if any) with the flags on top.
#[allow(deprecated)] // LinuxMemory::kernel: set only to be refused by name.
fn build(a: &Args) -> anyhow::Result<LinuxResources> {
    refuse_zero(
        "--memory",
        a.memory == Some(0),
        "give a size, or -1 for unlimited",
    )?;
    refuse_zero(
        "--memory-reservation",
        a.memory_reservation == Some(0),
        "give a size, or -1 for none",
    )?;
    refuse_zero(
        "--memory-swap",
        a.memory_swap == Some(0),
        "give a size, or -1 for unlimited",
    )?;
    refuse_zero(
        "--cpu-quota",
        a.cpu_quota == Some(0),
        "give µs, or -1 for unlimited",
    )?;
    refuse_zero(
        "--cpu-period",
        a.cpu_period == Some(0),
        "give µs (1000 to 1000000)",
    )?;
    refuse_zero("--cpu-share", a.cpu_share == Some(0), "give 2 to 262144")?;
    refuse_zero(
        "--pids-limit",
        a.pids_limit == Some(0),
        "give a count, or -1 for unlimited",
    )?;
    refuse_zero(
        "--blkio-weight",
        a.blkio_weight == Some(0),
        "give 10 to 1000",
    )?;
    for (flag, v) in [
        ("--cpuset-cpus", &a.cpuset_cpus),
        ("--cpuset-mems", &a.cpuset_mems),
    ] {
        if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
            anyhow::bail!("{flag}: empty; give a list like 0-3,5");
        }
    }

    let mut r = match &a.resources {
        Some(p) => read_resources(p)?,
        None => LinuxResources::default(),
    };
    if [
        a.memory,
        a.memory_reservation,
        a.memory_swap,
        a.kernel_memory,
        a.kernel_memory_tcp,
    ]
    .iter()
    .any(Option::is_some)
    {
        let m = r.memory().unwrap_or_default();
        let mut m: LinuxMemory = m;
        if let Some(v) = a.memory {
            m.set_limit(Some(v));
        }
        if let Some(v) = a.memory_reservation {
            m.set_reservation(Some(v));
        }
        if let Some(v) = a.memory_swap {
            m.set_swap(Some(v));
        }
        if let Some(v) = a.kernel_memory {
            m.set_kernel(Some(v));
        }
        if let Some(v) = a.kernel_memory_tcp {
            m.set_kernel_tcp(Some(v));
        }
        r.set_memory(Some(m));
    }
    let cpu_given = a.cpu_quota.is_some()
        || a.cpu_period.is_some()
        || a.cpu_share.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some();
    if cpu_given {
        let mut c: LinuxCpu = r.cpu().clone().unwrap_or_default();
        if let Some(v) = a.cpu_quota {
            c.set_quota(Some(v));
        }
        if let Some(v) = a.cpu_period {
            c.set_period(Some(v));
        }
        if let Some(v) = a.cpu_share {
            c.set_shares(Some(v));
        }
        if let Some(v) = a.cpu_rt_period {
            c.set_realtime_period(Some(v));
        }
        if let Some(v) = a.cpu_rt_runtime {
            c.set_realtime_runtime(Some(v));
        }
        if let Some(v) = &a.cpuset_cpus {
            c.set_cpus(Some(v.trim().to_string()));
        }
        if let Some(v) = &a.cpuset_mems {
            c.set_mems(Some(v.trim().to_string()));
        }
        r.set_cpu(Some(c));
    }
    if let Some(v) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(v);
        r.set_pids(Some(p));
    }
    if let Some(v) = a.blkio_weight {
        let mut b: LinuxBlockIo = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(v));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let given = given_flags(&a);
    if given.is_empty() && a.resources.is_none() {
        anyhow::bail!(
            "update {}: nothing to update: give -r FILE or a flag such as --memory",
            a.id
        );
    }
    let r = build(&a)?;
    if let Err(e) = container::update(store, &a.id, &r) {
        let field = e.cgroup_error().and_then(|c| match c {
            brig_cgroups::CgroupError::InvalidResource { field, .. }
            | brig_cgroups::CgroupError::Unsupported { field, .. } => Some(field.as_str()),
            _ => None,
        });
        let flags = field.map(|f| flags_for(&given, f)).unwrap_or_default();
        if flags.is_empty() {
            return Err(e.into());
        }
        anyhow::bail!("{}: {e}", flags.join(", "));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn sizes_as_runc_takes_them() {
        for (s, want) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("512m", 512 << 20),
            ("512M", 512 << 20),
            ("1g", 1 << 30),
            ("1G", 1 << 30),
            ("1gb", 1 << 30),
            ("1GiB", 1 << 30),
            ("64k", 64 << 10),
            ("64 KB", 64 << 10),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
            ("1.5k", 1536),
            ("0.5g", 512 << 20),
            ("100b", 100),
            ("-1", -1),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn bad_sizes_say_what_a_size_looks_like() {
        for s in [
            "", "m", "12x", "1.2.3m", ".5m", "5.m", "-2", "-1m", "1mm", "1e3", "0x10",
        ] {
            let e = parse_size(s).unwrap_err();
            assert!(e.contains("is not a size like 512m"), "{s}: {e}");
        }
        let e = parse_size("9999999999p").unwrap_err();
        assert!(e.contains("too large"), "{e}");
        assert!(parse_size("8192p").is_err(), "2^63 bytes overflows");
        assert!(parse_size("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
    }

    /// Parse `brig update ARGS` into Args.
    fn args(argv: &[&str]) -> Result<Args, clap::Error> {
        let mut full = vec!["brig", "update"];
        full.extend_from_slice(argv);
        match crate::Cli::try_parse_from(full)?.command {
            crate::Command::Runc(crate::RuncCommand::Update(a)) => Ok(a),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn clap_errors_name_the_flag() {
        let e = args(&["--memory", "12x", "c1"]).unwrap_err().to_string();
        assert!(e.contains("--memory"), "{e}");
        assert!(e.contains("12x"), "{e}");
        let e = args(&["--cpu-quota", "abc", "c1"]).unwrap_err().to_string();
        assert!(e.contains("--cpu-quota"), "{e}");
        let e = args(&["--blkio-weight", "70000", "c1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--blkio-weight"), "{e}");
    }

    #[test]
    #[allow(deprecated)]
    fn flags_build_resources() {
        let a = args(&[
            "--memory",
            "-1",
            "--memory-swap=-1",
            "--memory-reservation",
            "256m",
            "--cpu-quota",
            "-1",
            "--cpu-period",
            "100000",
            "--cpu-shares",
            "512",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "-1",
            "--blkio-weight",
            "300",
            "c1",
        ])
        .unwrap();
        assert_eq!(a.id, "c1");
        let r = build(&a).unwrap();
        let m = r.memory().unwrap();
        assert_eq!(
            (m.limit(), m.swap(), m.reservation()),
            (Some(-1), Some(-1), Some(256 << 20))
        );
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(
            (c.quota(), c.period(), c.shares()),
            (Some(-1), Some(100000), Some(512))
        );
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert_eq!(r.pids().unwrap().limit(), -1);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
        assert!(r.devices().is_none() && r.hugepage_limits().is_none());

        let a = args(&["--kernel-memory", "1m", "c1"]).unwrap();
        assert_eq!(build(&a).unwrap().memory().unwrap().kernel(), Some(1 << 20));
    }

    #[test]
    fn flags_override_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("r.json");
        std::fs::write(
            &f,
            r#"{"memory": {"limit": 1048576, "reservation": 4096}, "pids": {"limit": 5}}"#,
        )
        .unwrap();
        let a = args(&["-r", f.to_str().unwrap(), "--memory", "2m", "c1"]).unwrap();
        let r = build(&a).unwrap();
        let m = r.memory().unwrap();
        assert_eq!((m.limit(), m.reservation()), (Some(2 << 20), Some(4096)));
        assert_eq!(r.pids().unwrap().limit(), 5);

        std::fs::write(&f, r#"{"memory": {"limit": "lots"}}"#).unwrap();
        let a = args(&["-r", f.to_str().unwrap(), "c1"]).unwrap();
        let e = build(&a).unwrap_err().to_string();
        assert!(e.starts_with("--resources "), "{e}");
        assert!(e.contains("memory.limit"), "{e}");
    }

    #[test]
    fn zero_and_empty_values_are_refused_by_flag() {
        for (flag, v) in [
            ("--memory", "0"),
            ("--memory-swap", "0"),
            ("--cpu-quota", "0"),
            ("--cpu-share", "0"),
            ("--pids-limit", "0"),
            ("--blkio-weight", "0"),
            ("--cpuset-cpus", ""),
        ] {
            let a = args(&[flag, v, "c1"]).unwrap();
            let e = build(&a).unwrap_err().to_string();
            assert!(e.starts_with(flag), "{flag}: {e}");
        }
    }

    #[test]
    fn errors_map_back_to_flags() {
        let a = args(&[
            "--memory",
            "1m",
            "--cpu-quota",
            "10",
            "--cpuset-cpus",
            "0",
            "c1",
        ])
        .unwrap();
        let given = given_flags(&a);
        assert_eq!(
            flags_for(&given, "linux.resources.cpu.quota"),
            ["--cpu-quota"]
        );
        assert_eq!(
            flags_for(&given, "linux.resources.memory.limit"),
            ["--memory"]
        );
        assert_eq!(
            flags_for(&given, "linux.resources.cpu"),
            ["--cpu-quota", "--cpuset-cpus"]
        );
        assert!(flags_for(&given, "linux.resources.pids.limit").is_empty());
        // A prefix only counts at a dot: memory.swap is not memory.swappiness.
        assert!(flags_for(&given, "linux.resources.memory.lim").is_empty());
    }
}
