//! One boot: QEMU with the vmlinux through PVH and qboot, the console in a file, the report and
//! the status over file-backed virtio-serial ports, the verdict through isa-debug-exit, panics
//! through pvpanic, and a host-side deadline.

use crate::host::{QBOOT, QEMU};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

#[derive(Clone, Debug)]
pub struct BootConfig {
    pub vmlinux: PathBuf,
    pub initramfs: PathBuf,
    /// Extra kernel command line words (the cgroup mode).
    pub cmdline: String,
    pub cpus: usize,
    pub mem_mib: usize,
    pub accel: Accel,
    pub timeout: Duration,
    /// Where the console log, the report and the status go.
    pub workdir: PathBuf,
}

/// How the guest ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The payload ran and exited with this code.
    Payload(i32),
    /// The payload exited with 64 or more (killed by a signal); the status has the code.
    PayloadKilled,
    /// The init failed at a step (the console says why).
    InitFailed(u8),
    /// pvpanic: the kernel panicked.
    Panic,
    /// The guest rebooted or powered off without isa-debug-exit (a panic before pvpanic was
    /// loaded ends this way too, through `panic=-1` and `-no-reboot`).
    NoExitCode,
    /// isa-debug-exit with a code the init never writes.
    UnknownCode(i32),
    /// QEMU failed (its stderr).
    QemuError(String),
    /// The host-side deadline passed; QEMU was killed.
    Timeout(Duration),
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Payload(rc) => write!(f, "the payload exited {rc}"),
            Ending::PayloadKilled => write!(f, "the payload was killed (exit code >= 64)"),
            Ending::InitFailed(n) => write!(f, "the guest init failed at step {n}"),
            Ending::Panic => write!(f, "the guest kernel panicked (pvpanic)"),
            Ending::NoExitCode => write!(
                f,
                "the guest reset or powered off without an exit code (a panic before pvpanic loaded, or a reboot)"
            ),
            Ending::UnknownCode(c) => write!(f, "QEMU exited {c}, a code the guest init never sends"),
            Ending::QemuError(e) => write!(f, "QEMU failed: {e}"),
            Ending::Timeout(d) => write!(f, "the guest hung: no exit within {}s, killed", d.as_secs()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct BootResult {
    pub ending: Ending,
    /// The bytes sent on the brig.report port.
    pub report: Vec<u8>,
    /// key=value lines sent on the brig.status port.
    pub status: BTreeMap<String, String>,
    pub console: PathBuf,
    pub wall: Duration,
}

impl BootResult {
    /// The last `n` lines of the console log.
    pub fn console_tail(&self, n: usize) -> String {
        tail(&self.console, n)
    }

    /// Guest seconds from power-on to the init being ready to run the payload.
    pub fn boot_seconds(&self) -> Option<f64> {
        self.status.get("uptime_payload")?.parse().ok()
    }

    /// Guest seconds the payload ran.
    pub fn payload_seconds(&self) -> Option<f64> {
        let a: f64 = self.status.get("uptime_payload")?.parse().ok()?;
        let b: f64 = self.status.get("uptime_done")?.parse().ok()?;
        Some(b - a)
    }

    pub fn console_says_panic(&self) -> bool {
        fs::read(&self.console)
            .map(|b| String::from_utf8_lossy(&b).contains("Kernel panic"))
            .unwrap_or(false)
    }
}

pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(no console log at {}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The kernel command line every guest gets (the mode's words are appended).
pub const BASE_CMDLINE: &str = "console=ttyS0 earlyprintk=serial,ttyS0 loglevel=4 panic=-1 \
    cryptomgr.notests rdinit=/init random.trust_cpu=on tsc=unstable no_timer_check \
    8250.nr_uarts=1 i8042.noaux i8042.nokbd";

pub fn qemu_args(cfg: &BootConfig) -> Vec<String> {
    let w = |p: &str| cfg.workdir.join(p).display().to_string();
    let mut a: Vec<String> = vec![
        "-M".into(),
        "pc".into(),
        "-accel".into(),
        cfg.accel.name().into(),
        "-cpu".into(),
        if cfg.accel == Accel::Kvm {
            "host"
        } else {
            "max"
        }
        .into(),
        "-smp".into(),
        cfg.cpus.to_string(),
        "-m".into(),
        format!("{}M", cfg.mem_mib),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        "-no-reboot".into(),
        "-bios".into(),
        QBOOT.into(),
        "-kernel".into(),
        cfg.vmlinux.display().to_string(),
        "-initrd".into(),
        cfg.initramfs.display().to_string(),
        "-append".into(),
        format!("{BASE_CMDLINE} {}", cfg.cmdline),
        "-chardev".into(),
        format!("file,id=con,path={}", w("console.log")),
        "-serial".into(),
        "chardev:con".into(),
        "-device".into(),
        "isa-debug-exit,iobase=0xf4,iosize=0x04".into(),
        "-device".into(),
        "pvpanic".into(),
        "-action".into(),
        "panic=exit-failure".into(),
        "-device".into(),
        "virtio-serial-pci".into(),
        "-chardev".into(),
        format!("file,id=report,path={}", w("report.out")),
        "-device".into(),
        "virtserialport,chardev=report,name=brig.report".into(),
        "-chardev".into(),
        format!("file,id=status,path={}", w("status.out")),
        "-device".into(),
        "virtserialport,chardev=status,name=brig.status".into(),
        // A small disk, so that the io throttling checks have a block device.
        "-blockdev".into(),
        "null-co,node-name=disk0,size=67108864".into(),
        "-device".into(),
        "virtio-blk-pci,drive=disk0".into(),
    ];
    a.shrink_to_fit();
    a
}

/// Decodes QEMU's exit status. Exit 1 is pvpanic's exit-failure, unless QEMU said why it
/// failed on stderr and the console shows no kernel panic.
pub fn decode(code: Option<i32>, stderr: &str, console_panic: bool) -> Ending {
    match code {
        None => Ending::QemuError(format!("killed by a signal; stderr: {}", stderr.trim())),
        Some(0) => Ending::NoExitCode,
        Some(1) if !console_panic && !stderr.trim().is_empty() => {
            Ending::QemuError(stderr.trim().to_string())
        }
        Some(1) => Ending::Panic,
        Some(c) if c % 2 == 1 => {
            let v = c >> 1;
            match v {
                0x40..=0x7e => Ending::Payload(v - 0x40),
                0x7f => Ending::PayloadKilled,
                0x21..=0x3f => Ending::InitFailed((v - 0x20) as u8),
                _ => Ending::UnknownCode(c),
            }
        }
        Some(c) => Ending::QemuError(format!("exit status {c}; stderr: {}", stderr.trim())),
    }
}

/// Boots once and waits for the end (or the deadline).
pub async fn boot(cfg: &BootConfig) -> Result<BootResult> {
    fs::create_dir_all(&cfg.workdir)?;
    for f in ["console.log", "report.out", "status.out"] {
        let _ = fs::remove_file(cfg.workdir.join(f));
    }
    let start = Instant::now();
    let mut child = tokio::process::Command::new(QEMU)
        .args(qemu_args(cfg))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {QEMU}"))?;
    let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
    let stderr_task = tokio::spawn(async move {
        let mut s = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut stderr_pipe, &mut s).await;
        String::from_utf8_lossy(&s).into_owned()
    });
    let ending = match tokio::time::timeout(cfg.timeout, child.wait()).await {
        Ok(status) => {
            let status = status.context("waiting for QEMU")?;
            let stderr = stderr_task.await.unwrap_or_default();
            let console_panic = fs::read(cfg.workdir.join("console.log"))
                .is_ok_and(|b| String::from_utf8_lossy(&b).contains("Kernel panic"));
            decode(status.code(), &stderr, console_panic)
        }
        Err(_) => {
            let _ = child.kill().await;
            Ending::Timeout(cfg.timeout)
        }
    };
    let wall = start.elapsed();
    let report = fs::read(cfg.workdir.join("report.out")).unwrap_or_default();
    let status = fs::read(cfg.workdir.join("status.out"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect()
        })
        .unwrap_or_default();
    Ok(BootResult {
        ending,
        report,
        status,
        console: cfg.workdir.join("console.log"),
        wall,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(decode(Some((0x40 << 1) | 1), "", false), Ending::Payload(0));
        assert_eq!(decode(Some((0x41 << 1) | 1), "", false), Ending::Payload(1));
        assert_eq!(
            decode(Some((0x7f << 1) | 1), "", false),
            Ending::PayloadKilled
        );
        assert_eq!(
            decode(Some((0x23 << 1) | 1), "", false),
            Ending::InitFailed(3)
        );
        assert_eq!(decode(Some(1), "", false), Ending::Panic);
        assert_eq!(decode(Some(1), "warning: x", true), Ending::Panic);
        assert_eq!(decode(Some(0), "", false), Ending::NoExitCode);
        assert!(matches!(
            decode(Some(1), "qemu-system-x86_64: -device foo: bad", false),
            Ending::QemuError(_)
        ));
        assert!(matches!(decode(Some(3), "", false), Ending::UnknownCode(3)));
        assert!(matches!(decode(None, "", false), Ending::QemuError(_)));
    }
}
