//! The flags of `container create|run`, parsed and checked before anything
//! exists. Each error names its flag.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::network::{NetworkMode, PortMapping};

/// What the command line asked for, as strings (the CLI fills it).
#[derive(Debug, Clone, Default)]
pub struct RawFlags {
    pub image: String,
    pub name: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub network: Option<String>,
    pub publish: Vec<String>,
    pub auto_remove: bool,
    pub command: Vec<String>,
    /// `--entrypoint`: `Some("")` clears the image's.
    pub entrypoint: Option<String>,
    pub read_only: bool,
    pub env_files: Vec<String>,
    pub init: bool,
    /// `-t`: a pty.
    pub tty: bool,
    /// `-i`: stdin attached (otherwise /dev/null).
    pub interactive: bool,
}

/// A `-v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mount {
    /// A named volume, made if missing.
    Volume {
        name: String,
        dest: String,
        readonly: bool,
    },
    /// A host path.
    Bind {
        source: PathBuf,
        dest: String,
        readonly: bool,
    },
}

/// A `--tmpfs DST[:OPTIONS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub dest: String,
    pub options: Vec<String>,
}

/// The checked flags.
#[derive(Debug, Clone)]
pub struct RunFlags {
    pub image: String,
    pub name: Option<String>,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub memory: Option<i64>,
    /// (quota, period) in microseconds.
    pub cpu: Option<(i64, u64)>,
    pub pids_limit: Option<i64>,
    pub mounts: Vec<Mount>,
    pub tmpfs: Vec<Tmpfs>,
    pub network: NetworkMode,
    /// `-p`: only on a bridge network.
    pub ports: Vec<PortMapping>,
    pub auto_remove: bool,
    pub command: Vec<String>,
    /// `--entrypoint`: `Some(vec![])` clears the image's (docker's `--entrypoint ""`).
    pub entrypoint: Option<Vec<String>>,
    /// `--read-only`: the rootfs is mounted read-only.
    pub read_only: bool,
    /// `--init`: brig's init shim is pid 1, the command its child.
    pub init: bool,
    pub tty: bool,
    pub interactive: bool,
}

/// A container name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, as docker's, at most 128.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `512m`, `1g`, `1048576`, `100k`, `64b`: bytes.
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64, String> {
    let v = brig_runtime::units::parse_size(s).map_err(|e| format!("{flag} {e}"))?;
    if v <= 0 {
        return Err(format!("{flag} {s:?}: must be more than 0"));
    }
    Ok(v)
}

/// `--cpus 1.5` → quota 150000 per period 100000 (docker's translation).
pub fn parse_cpus(s: &str) -> Result<(i64, u64), String> {
    let n: f64 = s
        .parse()
        .map_err(|_| format!("--cpus {s:?}: not a number"))?;
    let max = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    if !n.is_finite() || n < 0.01 || n > max {
        return Err(format!(
            "--cpus {s}: must be from 0.01 to {max} (the CPUs this host has)"
        ));
    }
    let period = 100_000u64;
    Ok(((n * period as f64).round() as i64, period))
}

fn check_dest(flag: &str, spec: &str, d: &str) -> Result<(), String> {
    if !d.starts_with('/') || d == "/" || d.split('/').any(|c| c == "..") {
        return Err(format!(
            "{flag} {spec}: the container path {d:?} must be absolute, not /, and without .."
        ));
    }
    Ok(())
}

/// `-v SRC:DST[:ro|rw]`: SRC is an absolute host path (a bind mount) or a
/// volume name.
pub fn parse_volume(spec: &str) -> Result<Mount, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dest, readonly) = match parts.as_slice() {
        [s, d] => (*s, *d, false),
        [s, d, "ro"] => (*s, *d, true),
        [s, d, "rw"] => (*s, *d, false),
        [_, _, m] => return Err(format!("-v {spec}: mode {m:?}: brig takes ro or rw")),
        _ => return Err(format!("-v {spec}: not SRC:DST[:ro|rw]")),
    };
    check_dest("-v", spec, dest)?;
    if src.starts_with('/') {
        let source = PathBuf::from(src);
        if !source.exists() {
            return Err(format!(
                "-v {spec}: the host path {src} does not exist (brig does not make it)"
            ));
        }
        return Ok(Mount::Bind {
            source,
            dest: dest.to_string(),
            readonly,
        });
    }
    if !valid_name(src) {
        return Err(format!(
            "-v {spec}: {src:?} is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
        ));
    }
    Ok(Mount::Volume {
        name: src.to_string(),
        dest: dest.to_string(),
        readonly,
    })
}

/// `--tmpfs DST[:OPTS]`, the options from a short list.
pub fn parse_tmpfs(spec: &str) -> Result<Tmpfs, String> {
    let (dest, opts) = spec.split_once(':').unwrap_or((spec, ""));
    check_dest("--tmpfs", spec, dest)?;
    // docker's defaults for --tmpfs.
    let mut options: Vec<String> = ["nosuid", "nodev", "noexec"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        if k == "size" {
            // In bytes: the kernel's tmpfs takes neither "1gb" nor "1.5g".
            options.push(format!("size={}", parse_bytes("--tmpfs size", v)?));
            continue;
        }
        let ok = match k {
            "ro" | "rw" | "exec" | "noexec" | "suid" | "nosuid" | "dev" | "nodev" => v.is_empty(),
            "mode" => u32::from_str_radix(v, 8).is_ok_and(|m| m <= 0o7777),
            "uid" | "gid" | "nr_inodes" => v.parse::<u64>().is_ok(),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "--tmpfs {spec}: option {o:?}: brig takes ro, rw, [no]exec, [no]suid, [no]dev, size=, mode= (octal), uid=, gid=, nr_inodes="
            ));
        }
        options.push(o.to_string());
    }
    Ok(Tmpfs {
        dest: dest.to_string(),
        options,
    })
}

impl RawFlags {
    pub fn check(&self) -> Result<RunFlags, String> {
        if self.image.is_empty() {
            return Err(
                "an image is required: brig container run [FLAGS] IMAGE [COMMAND...]".into(),
            );
        }
        if let Some(n) = &self.name {
            if !valid_name(n) {
                return Err(format!(
                    "--name {n:?}: a name is [a-zA-Z0-9][a-zA-Z0-9_.-]* (at most 128)"
                ));
            }
        }
        let mut env = Vec::new();
        for f in &self.env_files {
            env.extend(parse_env_file(f)?);
        }
        for e in &self.env {
            match e.split_once('=') {
                Some(("", _)) => return Err(format!("-e {e:?}: the name is empty")),
                Some((k, v)) => env.push((k.to_string(), v.to_string())),
                // `-e NAME`: brig's own value, if it has one (as docker does).
                None if e.is_empty() => return Err("-e \"\": the name is empty".into()),
                None => {
                    if let Ok(v) = std::env::var(e) {
                        env.push((e.clone(), v));
                    }
                }
            }
        }
        if let Some(w) = &self.workdir {
            if !w.starts_with('/') {
                return Err(format!("-w {w:?}: must be an absolute path"));
            }
        }
        if let Some(u) = &self.user {
            let (user, group) = u.split_once(':').unwrap_or((u, ""));
            if user.is_empty() || (u.contains(':') && group.is_empty()) {
                return Err(format!("-u {u:?}: not USER[:GROUP]"));
            }
        }
        if let Some(h) = &self.hostname {
            if h.is_empty()
                || h.len() > 64
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return Err(format!(
                    "--hostname {h:?}: 1 to 64 letters, digits, - and ."
                ));
            }
        }
        let memory = self
            .memory
            .as_deref()
            .map(|m| parse_bytes("--memory", m))
            .transpose()?;
        if let Some(m) = memory {
            // The kernel's and docker's floor.
            if m < 6 << 20 {
                return Err(format!(
                    "--memory {}: the minimum is 6m",
                    self.memory.as_deref().unwrap_or("")
                ));
            }
        }
        let cpu = self.cpus.as_deref().map(parse_cpus).transpose()?;
        if let Some(p) = self.pids_limit {
            if p == 0 || p < -1 {
                return Err(format!(
                    "--pids-limit {p}: a positive number, or -1 for no limit"
                ));
            }
        }
        let mut mounts = Vec::new();
        let mut dests = std::collections::BTreeSet::new();
        for v in &self.volumes {
            let m = parse_volume(v)?;
            let d = match &m {
                Mount::Volume { dest, .. } | Mount::Bind { dest, .. } => dest.clone(),
            };
            if !dests.insert(d.clone()) {
                return Err(format!("-v {v}: {d} is mounted twice"));
            }
            mounts.push(m);
        }
        let mut tmpfs = Vec::new();
        for t in &self.tmpfs {
            let t = parse_tmpfs(t)?;
            if !dests.insert(t.dest.clone()) {
                return Err(format!("--tmpfs {}: mounted twice", t.dest));
            }
            tmpfs.push(t);
        }
        // docker's default: the default bridge network.
        let network = match &self.network {
            None => NetworkMode::default(),
            Some(n) => NetworkMode::parse(n).map_err(|e| format!("--network {n}: {e}"))?,
        };
        let ports = self
            .publish
            .iter()
            .map(|p| PortMapping::parse(p))
            .collect::<Result<Vec<_>, String>>()?;
        if let (Some(p), None) = (self.publish.first(), network.network()) {
            return Err(format!(
                "-p {p}: publishing a port needs a bridge network, not --network {network}"
            ));
        }
        Ok(RunFlags {
            image: self.image.clone(),
            name: self.name.clone(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            memory,
            cpu,
            pids_limit: self.pids_limit,
            mounts,
            tmpfs,
            network,
            ports,
            auto_remove: self.auto_remove,
            command: self.command.clone(),
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e.clone()]
                }
            }),
            read_only: self.read_only,
            init: self.init,
            tty: self.tty,
            interactive: self.interactive,
        })
    }
}

/// `--env-file FILE`, as docker reads it: one `NAME=VALUE` a line (the value
/// taken as is: no quotes removed), `NAME` alone for brig's own value (left
/// out when brig has none), blank lines and lines starting with `#` skipped.
pub fn parse_env_file(path: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--env-file {path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line.trim_end(), None),
        };
        if k.is_empty() {
            return Err(format!(
                "--env-file {path}: line {}: the name is empty",
                n + 1
            ));
        }
        if k.chars().any(char::is_whitespace) {
            return Err(format!(
                "--env-file {path}: line {}: the name {k:?} has whitespace",
                n + 1
            ));
        }
        match v {
            Some(v) => out.push((k.to_string(), v.to_string())),
            None => {
                if let Ok(v) = std::env::var(k) {
                    out.push((k.to_string(), v));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_become_quota_per_period() {
        if std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            >= 2
        {
            assert_eq!(parse_cpus("1.5").unwrap(), (150_000, 100_000));
        }
        assert_eq!(parse_cpus("0.5").unwrap(), (50_000, 100_000));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("many").is_err());
        assert!(parse_cpus("100000").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("--memory", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("--memory", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("--memory", "4096").unwrap(), 4096);
        assert_eq!(parse_bytes("--memory", "10k").unwrap(), 10240);
        assert!(parse_bytes("--memory", "-1m").is_err());
        assert!(parse_bytes("--memory", "12q").is_err());
        assert!(parse_bytes("--memory", "").is_err());
        // The other parser's rules too, now that there is one (brig_runtime::units).
        assert_eq!(parse_bytes("--memory", "1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("--memory", "64 KB").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("--memory", "2t").unwrap(), 2 << 40);
        assert!(parse_bytes("--memory", "0").is_err());
        assert!(parse_bytes("--memory", "-1").is_err());
    }

    #[test]
    fn volumes() {
        assert_eq!(
            parse_volume("data:/data:ro").unwrap(),
            Mount::Volume {
                name: "data".into(),
                dest: "/data".into(),
                readonly: true
            }
        );
        assert!(matches!(
            parse_volume("/:/host").unwrap(),
            Mount::Bind { .. }
        ));
        assert!(parse_volume("/nonexistent-brig:/x").is_err());
        assert!(parse_volume("data:relative").is_err());
        assert!(parse_volume("data:/").is_err());
        assert!(parse_volume("data:/x:rx").is_err());
        assert!(parse_volume("../x:/x").is_err());
        assert!(parse_volume("data").is_err());
    }

    #[test]
    fn tmpfs() {
        let t = parse_tmpfs("/run:size=1m,mode=1777").unwrap();
        assert_eq!(t.dest, "/run");
        assert!(t.options.contains(&"size=1048576".to_string()));
        // docker's sizes, given to the kernel in bytes.
        let t = parse_tmpfs("/run:size=1.5GiB").unwrap();
        assert!(t.options.contains(&"size=1610612736".to_string()));
        assert!(parse_tmpfs("/run:size=0").is_err());
        assert!(parse_tmpfs("/run:size=-1").is_err());
        assert!(parse_tmpfs("/run:bogus").is_err());
        assert!(parse_tmpfs("run").is_err());
        assert!(parse_tmpfs("/run:mode=999").is_err());
    }

    #[test]
    fn networks_and_ports() {
        let with = |network: Option<&str>, publish: &[&str]| {
            RawFlags {
                image: "x".into(),
                network: network.map(str::to_string),
                publish: publish.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }
            .check()
        };
        let f = with(None, &["8080:80"]).unwrap();
        assert_eq!(f.network, NetworkMode::default());
        assert_eq!(f.ports.len(), 1);
        assert_eq!(
            with(Some("bridge"), &[]).unwrap().network,
            NetworkMode::default()
        );
        assert!(with(Some("none"), &["80:80"])
            .unwrap_err()
            .starts_with("-p 80:80"));
        assert!(with(Some("host"), &["80:80"])
            .unwrap_err()
            .contains("--network host"));
        assert!(with(None, &["80"]).unwrap_err().starts_with("-p \"80\""));
        assert!(with(Some("Bad Name!"), &[])
            .unwrap_err()
            .starts_with("--network Bad Name!"));
    }
}
