//! The container commands people type after `run`: exec, logs -f, pause and
//! unpause, top, stats and port, as docker's and podman's.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{bundle, msg, CStatus, ContainerRecord, Engine, Result};
use crate::image;
use brig_runtime::container::{self, ExecOptions};

/// What `container exec` was asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecFlags {
    pub command: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
    pub env: Vec<String>,
    pub env_files: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
}

/// The init shim `--init` runs as pid 1 (runtime/init-shim, built static).
const INIT_SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/brig-init"));

/// The stdio of a container run or exec: without -i its stdin is /dev/null
/// (docker gives such a process no stdin); the rest is brig's own.
pub(super) fn stdio(interactive: bool) -> Result<container::Stdio> {
    Ok(container::Stdio {
        stdin: if interactive { None } else { Some(dev_null()?) },
        ..container::Stdio::inherit()
    })
}

pub(super) fn dev_null() -> Result<std::os::fd::OwnedFd> {
    std::fs::File::open("/dev/null")
        .map(Into::into)
        .map_err(|e| image::ImageError::io(Path::new("/dev/null"), e).into())
}

impl Engine {
    /// The init shim on the host, written once under the image root (named
    /// by its content, so that a newer brig never runs an older shim).
    pub(super) fn init_shim(&self) -> Result<PathBuf> {
        let digest = crate::image::Digest::of(INIT_SHIM);
        let dir = self.dirs.init();
        let path = dir.join(format!("brig-init-{}", &digest.hex()[..16]));
        if path.is_file() {
            return Ok(path);
        }
        let io = |p: &Path, e| image::ImageError::io(p, e);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let tmp = dir.join(format!(".tmp-{}", super::random_hex(8)));
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o755)
                .open(&tmp)
                .map_err(|e| io(&tmp, e))?;
            f.write_all(INIT_SHIM).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        Ok(path)
    }

    fn running(&self, r: &ContainerRecord, what: &str) -> Result<()> {
        match self.status(r) {
            CStatus::Running => Ok(()),
            CStatus::Paused => Err(msg(format!(
                "{what} {}: the container is paused; unpause it first",
                r.name
            ))),
            st => Err(msg(format!(
                "{what} {}: the container is not running (it is {st})",
                r.name
            ))),
        }
    }

    /// `container exec`: run a process in a running container, from its
    /// config.json's process (env, user, cwd, capabilities), with -e, -w and
    /// -u on top. Returns its exit status (0 once started with -d).
    pub fn exec(&self, r: &ContainerRecord, f: &ExecFlags) -> Result<i32> {
        if f.command.is_empty() {
            return Err(msg("exec: give a command after the container"));
        }
        if f.detach && (f.tty || f.interactive) {
            return Err(msg(
                "exec -d with -i or -t: brig has no daemon to hold the terminal or stdin; leave one out",
            ));
        }
        self.running(r, "exec")?;
        let mut p = container::base_process(&self.runtime, &r.id)?;
        p.set_args(Some(f.command.clone()));
        p.set_terminal(Some(f.tty));
        if f.tty {
            // Made with our size: the process may ask before the relay copies it.
            p.set_console_size(brig_runtime::process::terminal::our_console_size());
        }
        let mut env = p.env().clone().unwrap_or_default();
        let mut set = |k: &str, v: &str| {
            env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k));
            env.push(format!("{k}={v}"));
        };
        for file in &f.env_files {
            for (k, v) in super::flags::parse_env_file(file).map_err(msg)? {
                set(&k, &v);
            }
        }
        for e in &f.env {
            match e.split_once('=') {
                Some(("", _)) => return Err(msg(format!("-e {e:?}: the name is empty"))),
                Some((k, v)) => set(k, v),
                None if e.is_empty() => return Err(msg("-e \"\": the name is empty")),
                None => {
                    if let Ok(v) = std::env::var(e) {
                        set(e, &v);
                    }
                }
            }
        }
        p.set_env(Some(env));
        if let Some(w) = &f.workdir {
            if !w.starts_with('/') {
                return Err(msg(format!("-w {w:?}: must be an absolute path")));
            }
            p.set_cwd(PathBuf::from(w));
        }
        if let Some(u) = &f.user {
            let rootfs = self.dir(&r.id).join("rootfs");
            let (uid, gid, extra) =
                bundle::resolve_user(&rootfs, u).map_err(|e| msg(format!("-u: {e}")))?;
            p.user_mut().set_uid(uid);
            p.user_mut().set_gid(gid);
            p.user_mut().set_additional_gids(Some(extra));
        }
        let opts = ExecOptions {
            process: p,
            detach: f.detach,
            pid_file: None,
            preserve_fds: 0,
            console_socket: None,
            pidfd_socket: None,
            // docker refuses exec into a paused container (checked above), and has no sub-cgroups.
            ignore_paused: false,
            sub_cgroup: None,
            stdio: stdio(f.interactive)?,
        };
        Ok(container::exec(&self.runtime, &r.id, &opts)?)
    }

    /// `container pause` / `unpause`: the runtime's freezer.
    pub fn pause(&self, r: &ContainerRecord, frozen: bool) -> Result<()> {
        match (self.status(r), frozen) {
            (CStatus::Running, true) | (CStatus::Paused, false) => {}
            (CStatus::Paused, true) => {
                return Err(msg(format!(
                    "pause {}: the container is paused already",
                    r.name
                )))
            }
            (CStatus::Running, false) => {
                return Err(msg(format!(
                    "unpause {}: the container is not paused",
                    r.name
                )))
            }
            (st, _) => {
                return Err(msg(format!(
                    "{} {}: the container is not running (it is {st})",
                    if frozen { "pause" } else { "unpause" },
                    r.name
                )))
            }
        }
        if frozen {
            container::pause(&self.runtime, &r.id)?;
        } else {
            container::resume(&self.runtime, &r.id)?;
        }
        Ok(())
    }

    /// `container logs [-f]`: the log of a detached run; with `follow`, what
    /// is written to it until the container stops.
    pub fn logs(&self, r: &ContainerRecord, follow: bool, out: &mut dyn Write) -> Result<()> {
        let p = self.dir(&r.id).join("log");
        let io = |e| -> super::EngineError { image::ImageError::io(&p, e).into() };
        let mut file = match std::fs::File::open(&p) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(e)),
        };
        let mut buf = vec![0u8; 64 << 10];
        let mut copy = |file: &mut Option<std::fs::File>| -> Result<bool> {
            let Some(f) = file else { return Ok(false) };
            let mut any = false;
            loop {
                let n = f.read(&mut buf).map_err(io)?;
                if n == 0 {
                    return Ok(any);
                }
                any = true;
                match out.write_all(&buf[..n]).and_then(|()| out.flush()) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(any),
                    Err(e) => return Err(msg(format!("logs: writing: {e}"))),
                    Ok(()) => {}
                }
            }
        };
        copy(&mut file)?;
        if !follow {
            return Ok(());
        }
        loop {
            let alive = matches!(self.status(r), CStatus::Running | CStatus::Paused);
            if file.is_none() {
                file = std::fs::File::open(&p).ok();
            }
            // What was written before the stop was seen is printed too.
            let wrote = copy(&mut file)?;
            if !alive {
                return Ok(());
            }
            if !wrote {
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Some(f) = &mut file {
                // A log truncated under us: start over at its new end.
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                let pos = f.stream_position().map_err(io)?;
                if len < pos {
                    f.seek(SeekFrom::Start(0)).map_err(io)?;
                }
            }
        }
    }

    /// The host pids of a running container's processes.
    pub fn pids(&self, r: &ContainerRecord) -> Result<Vec<i32>> {
        match self.status(r) {
            CStatus::Running | CStatus::Paused => Ok(container::pids(&self.runtime, &r.id)?),
            st => Err(msg(format!(
                "container {}: is not running (it is {st})",
                r.name
            ))),
        }
    }

    /// `container top NAME [ps OPTIONS]`: the host's `ps` with those options
    /// (docker's default -ef), only the lines of the container's processes.
    pub fn top(&self, r: &ContainerRecord, ps_args: &[String]) -> Result<Vec<String>> {
        let pids = self.pids(r)?;
        container::ps_lines(&pids, ps_args).map_err(|e| msg(format!("top: {e}")))
    }

    /// `container port NAME [PORT[/PROTO]]`: docker's lines,
    /// `80/tcp -> 0.0.0.0:8080`.
    pub fn ports(&self, r: &ContainerRecord, filter: Option<&str>) -> Result<Vec<String>> {
        let ports = self
            .networks
            .attachment(&r.id)?
            .map(|a| a.ports)
            .unwrap_or_default();
        let want = filter
            .map(|f| {
                let (p, proto) = f.split_once('/').unwrap_or((f, "tcp"));
                let p: u16 = p
                    .parse()
                    .map_err(|_| msg(format!("port {f:?}: not PORT[/tcp|udp]")))?;
                if !matches!(proto, "tcp" | "udp") {
                    return Err(msg(format!("port {f:?}: the protocol is tcp or udp")));
                }
                Ok((p, proto.to_string()))
            })
            .transpose()?;
        let mut out = Vec::new();
        for m in &ports {
            let host = format!(
                "{}:{}",
                m.host_ip
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                m.host_port
            );
            match &want {
                Some((p, proto)) if *p == m.container_port && *proto == m.protocol.to_string() => {
                    out.push(host)
                }
                Some(_) => {}
                None => out.push(format!("{}/{} -> {host}", m.container_port, m.protocol)),
            }
        }
        if let (Some(f), true) = (filter, out.is_empty()) {
            return Err(msg(format!(
                "port {f}: container {} has no such published port",
                r.name
            )));
        }
        Ok(out)
    }

    /// One stats sample of a running container.
    pub fn sample(&self, r: &ContainerRecord) -> Result<Sample> {
        let state = self.runtime.peek(&r.id)?;
        let st = brig_runtime::container::stats(&self.runtime, &r.id)?
            .data
            .unwrap_or_default();
        let m = &st.memory;
        // docker's "usage": less the page cache that can be dropped.
        let inactive = m
            .raw
            .get("total_inactive_file")
            .or_else(|| m.raw.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        let mem_usage = m.usage.usage.saturating_sub(inactive);
        let host_mem = host_mem_total();
        let limit = match m.usage.limit {
            0 => host_mem,
            l if l >= host_mem => host_mem,
            l => l,
        };
        let (mut rx, mut tx) = (0u64, 0u64);
        if let Ok(t) = std::fs::read_to_string(format!("/proc/{}/net/dev", state.pid)) {
            for l in t.lines().skip(2) {
                let Some((ifname, rest)) = l.split_once(':') else {
                    continue;
                };
                if ifname.trim() == "lo" {
                    continue;
                }
                let n: Vec<u64> = rest
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                if n.len() >= 9 {
                    rx += n[0];
                    tx += n[8];
                }
            }
        }
        let (mut read, mut write) = (0u64, 0u64);
        for e in &st.blkio.io_service_bytes_recursive {
            match e.op.to_ascii_lowercase().as_str() {
                "read" => read += e.value,
                "write" => write += e.value,
                _ => {}
            }
        }
        Ok(Sample {
            at: Instant::now(),
            cpu_ns: st.cpu.usage.total,
            mem_usage,
            mem_limit: limit,
            net: (rx, tx),
            block: (read, write),
            pids: st.pids.current,
        })
    }
}

/// One reading of a container's cgroup (and network counters).
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub cpu_ns: u64,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub net: (u64, u64),
    pub block: (u64, u64),
    pub pids: u64,
}

impl Sample {
    /// docker's CPU %: the CPU time used between two samples over the wall
    /// time between them, where 100% is one CPU busy.
    pub fn cpu_percent(&self, before: &Sample) -> f64 {
        let wall = self.at.duration_since(before.at).as_nanos() as f64;
        if wall <= 0.0 {
            return 0.0;
        }
        self.cpu_ns.saturating_sub(before.cpu_ns) as f64 / wall * 100.0
    }

    pub fn mem_percent(&self) -> f64 {
        if self.mem_limit == 0 {
            return 0.0;
        }
        self.mem_usage as f64 / self.mem_limit as f64 * 100.0
    }
}

fn host_mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(u64::MAX)
}

/// A size as docker prints it (go-units' HumanSizeWithPrecision with 3
/// significant digits, `%.3g`): `1.5MiB`, `123MiB`, `1.23kB`.
fn human(n: u64, base: f64, units: &[&str]) -> String {
    let mut f = n as f64;
    let mut i = 0;
    while f >= base && i + 1 < units.len() {
        f /= base;
        i += 1;
    }
    let s = if f >= 100.0 {
        format!("{f:.0}")
    } else if f >= 10.0 {
        format!("{f:.1}")
    } else {
        format!("{f:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}{}", units[i])
}

/// docker's binary sizes (memory): `1.5MiB`.
pub fn bytes_binary(n: u64) -> String {
    human(n, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"])
}

/// docker's decimal sizes (network and block I/O): `1.23kB`.
pub fn bytes_decimal(n: u64) -> String {
    human(n, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(bytes_binary(0), "0B");
        assert_eq!(bytes_binary(1536 * 1024), "1.5MiB");
        assert_eq!(bytes_binary(8 << 30), "8GiB");
        assert_eq!(bytes_decimal(1234), "1.23kB");
        assert_eq!(bytes_decimal(999), "999B");
        assert_eq!(bytes_decimal(123_456_789), "123MB");
    }
}
