//! Cells of the matrix: one (kernel, cgroup mode) boot that runs the whole conformance suite
//! against one or more runtimes, and the shared preparation behind them (host packages, static
//! binaries, kernels, the accelerator), done once per process however many cells run at once.

use crate::artifacts::{self, Artifacts};
use crate::host::{self, HostFile};
use crate::initramfs::{self, GuestFile};
use crate::kernel::{self, Kernel, KernelEntry, Mode};
use crate::modules::{self, ModuleSet};
use crate::qemu::{self, Accel, BootConfig, BootResult, Ending};
use crate::report::{self, SuiteReport};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Writes a line to stderr directly (not through the test harness's output capture).
pub fn progress(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "vm-tests: {line}");
}

fn shared<T: Clone>(
    cell: &OnceLock<Result<T, String>>,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    cell.get_or_init(|| f().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

/// Installs QEMU and busybox-static on first use.
pub fn host_ready() -> Result<()> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    shared(&READY, || {
        host::ensure_packages(host::HOST_PACKAGES, &mut |s| progress(s))?;
        let qemu = host::ensure_qemu(&mut |s| progress(s))?;
        progress(&format!("using {qemu}"));
        anyhow::ensure!(
            Path::new(host::QBOOT).exists(),
            "{} is missing (Debian package qemu-system-data)",
            host::QBOOT
        );
        Ok(())
    })
}

pub fn static_binaries() -> Result<Artifacts> {
    static BIN: OnceLock<Result<Artifacts, String>> = OnceLock::new();
    shared(&BIN, || {
        host_ready()?;
        artifacts::static_binaries(&host::cache_dir(), &mut |s| progress(s))
    })
}

/// A kernel with the modules it needs, ready to go into an initramfs.
#[derive(Clone, Debug)]
pub struct PreparedKernel {
    pub kernel: Kernel,
    pub modules: Arc<ModuleSet>,
}

type KernelSlot = Arc<OnceLock<Result<PreparedKernel, String>>>;

pub fn prepared_kernel(entry: &KernelEntry) -> Result<PreparedKernel> {
    static KERNELS: Mutex<BTreeMap<String, KernelSlot>> = Mutex::new(BTreeMap::new());
    let slot = KERNELS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(entry.name.clone())
        .or_default()
        .clone();
    shared(&slot, || {
        host_ready()?;
        let k = kernel::prepare(entry, &host::cache_dir(), &mut |s| progress(s))?;
        let m = modules::resolve(&k.modules, modules::WANTED)
            .with_context(|| format!("modules of kernel {} ({})", k.name, k.origin))?;
        Ok(PreparedKernel {
            kernel: k,
            modules: Arc::new(m),
        })
    })
}

/// `$BRIG_VM_ACCEL` (tcg, kvm or auto; default auto). Auto uses KVM only when /dev/kvm exists
/// and a short probe boot with it ends properly; the verdict is cached per host kernel, since a
/// hanging nested KVM costs the probe's whole timeout.
pub fn accel(probe_kernel: &PreparedKernel) -> Result<Accel> {
    static ACCEL: OnceLock<Result<Accel, String>> = OnceLock::new();
    shared(&ACCEL, || {
        match std::env::var("BRIG_VM_ACCEL").as_deref() {
            Ok("tcg") => return Ok(Accel::Tcg),
            Ok("kvm") => return Ok(Accel::Kvm),
            Ok("auto") | Err(_) => {}
            Ok(other) => bail!("BRIG_VM_ACCEL={other}: want tcg, kvm or auto"),
        }
        if !Path::new("/dev/kvm").exists() {
            return Ok(Accel::Tcg);
        }
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let verdict_file = host::cache_dir().join("accel-probe");
        if let Ok(s) = std::fs::read_to_string(&verdict_file) {
            if let Some((rel, v)) = s.trim().split_once(' ') {
                if rel == release.trim() {
                    return Ok(if v == "kvm" { Accel::Kvm } else { Accel::Tcg });
                }
            }
        }
        progress("probing KVM with a short boot (nested KVM may hang; then TCG is used)");
        let work = tempfile::Builder::new().prefix("brig-vm-kvm-").tempdir()?;
        let probe_vm = VmConfig {
            cpus: 1,
            mem_mib: 512,
            timeout: Duration::from_secs(30),
        };
        let r = boot_payload(
            probe_kernel,
            Mode::V2,
            "#!/bin/sh\nexit 7\n",
            &[],
            Accel::Kvm,
            &probe_vm,
            work.path(),
        );
        let ok = matches!(r, Ok(ref b) if b.ending == Ending::Payload(7));
        let a = if ok { Accel::Kvm } else { Accel::Tcg };
        progress(&format!(
            "KVM probe: {}, using {}",
            match &r {
                Ok(b) => b.ending.to_string(),
                Err(e) => format!("{e:#}"),
            },
            a.name()
        ));
        let _ = std::fs::create_dir_all(host::cache_dir());
        let _ = std::fs::write(&verdict_file, format!("{} {}\n", release.trim(), a.name()));
        Ok(a)
    })
}

/// Builds an initramfs around `payload` (and `files`) and boots it once.
pub fn boot_payload(
    k: &PreparedKernel,
    mode: Mode,
    payload: &str,
    files: &[GuestFile],
    accel: Accel,
    vm: &VmConfig,
    workdir: &Path,
) -> Result<BootResult> {
    let busybox = brig_conformance::setup::find_busybox()?;
    let initrd = workdir.join("initramfs.cpio");
    initramfs::build(
        &initramfs::Spec {
            busybox: &busybox,
            modules: &k.modules,
            payload,
            files,
        },
        &initrd,
    )
    .context("building the initramfs")?;
    let cfg = BootConfig {
        vmlinux: k.kernel.vmlinux.clone(),
        initramfs: initrd,
        cmdline: mode.cmdline().to_string(),
        cpus: vm.cpus,
        mem_mib: vm.mem_mib,
        accel,
        timeout: vm.timeout,
        workdir: workdir.to_path_buf(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(qemu::boot(&cfg))
}

/// What a cell runs in its guest.
#[derive(Clone, Debug)]
pub struct SuiteRun {
    /// Runtimes: `brig` (the static build), or a name on the host's PATH or a path, copied into
    /// the guest at the same path with its shared libraries.
    pub runtimes: Vec<String>,
    pub runtime_args: Vec<(usize, String)>,
    pub only: Vec<String>,
    pub skip: Vec<String>,
    /// `--jobs` in the guest (default: the guest's cpus).
    pub jobs: Option<usize>,
}

impl Default for SuiteRun {
    fn default() -> Self {
        SuiteRun {
            runtimes: vec!["brig".into()],
            runtime_args: Vec::new(),
            only: Vec::new(),
            skip: Vec::new(),
            jobs: None,
        }
    }
}

impl SuiteRun {
    /// brig alone, or the comma-separated runtimes of `$BRIG_VM_RUNTIMES` (`brig,runc`).
    pub fn from_env() -> SuiteRun {
        let mut s = SuiteRun::default();
        if let Ok(v) = std::env::var("BRIG_VM_RUNTIMES") {
            let rts: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect();
            if !rts.is_empty() {
                s.runtimes = rts;
            }
        }
        s
    }
}

#[derive(Clone, Debug)]
pub struct VmConfig {
    pub cpus: usize,
    pub mem_mib: usize,
    pub timeout: Duration,
}

impl VmConfig {
    /// 2 vcpus, 2 GiB, a 20-minute deadline; `$BRIG_VM_CPUS`, `$BRIG_VM_MEM_MIB` and
    /// `$BRIG_VM_TIMEOUT` (seconds) change them.
    pub fn from_env() -> Result<VmConfig> {
        fn num(var: &str, default: u64) -> Result<u64> {
            match std::env::var(var) {
                Ok(v) => v
                    .parse()
                    .with_context(|| format!("{var}={v} is not a number")),
                Err(_) => Ok(default),
            }
        }
        Ok(VmConfig {
            cpus: num("BRIG_VM_CPUS", 2)? as usize,
            mem_mib: num("BRIG_VM_MEM_MIB", 2048)? as usize,
            timeout: Duration::from_secs(num("BRIG_VM_TIMEOUT", 1200)?),
        })
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The outcome of a cell that booted and sent back a report.
#[derive(Clone, Debug)]
pub struct CellResult {
    pub kernel: Kernel,
    pub mode: Mode,
    pub accel: Accel,
    /// `qemu-system-x86_64 --version`'s first line: TCG's speed and the `pc` machine depend on it.
    pub qemu: String,
    pub boot: BootResult,
    pub report: SuiteReport,
    /// Where the console log, the report and the initramfs are (kept when the cell failed).
    pub workdir: PathBuf,
}

impl CellResult {
    /// The one progress line of a cell.
    pub fn summary_line(&self) -> String {
        let secs = |o: Option<f64>| o.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "?".into());
        let mut line = format!(
            "{}/{} [{} {}, {}, {}]: boot {}, suite {}, wall {:.1}s",
            self.kernel.name,
            self.mode,
            self.kernel.origin,
            self.boot
                .status
                .get("kernel")
                .map(String::as_str)
                .unwrap_or("?"),
            self.accel.name(),
            short_qemu(&self.qemu),
            secs(self.boot.boot_seconds()),
            secs(self.boot.payload_seconds()),
            self.boot.wall.as_secs_f64(),
        );
        for r in &self.report.runtimes {
            line.push_str(&format!(
                "; {}: {} passed, {} failed ({} MUST), {} skipped",
                r.name, r.pass, r.fail, r.must_fail, r.skip
            ));
        }
        line
    }

    /// Every MUST failure as `runtime: id: reason` lines.
    pub fn must_failures(&self) -> Vec<String> {
        let mut v = Vec::new();
        for r in &self.report.runtimes {
            for f in r.failures.iter().filter(|f| f.level == "MUST") {
                v.push(format!("{}: {}: {}", r.name, f.id, f.reason));
            }
        }
        v
    }
}

/// Explains a boot that did not bring back a usable report, with the console's last lines.
pub fn explain(what: &str, boot: &BootResult, workdir: &Path, problem: &str) -> anyhow::Error {
    let panic_note = if boot.ending != Ending::Panic && boot.console_says_panic() {
        " (the console shows a kernel panic)"
    } else {
        ""
    };
    anyhow::anyhow!(
        "{what}: {problem}{panic_note}; ending: {}; wall {:.1}s; console log and report in {}\n--- last 40 console lines ---\n{}\n---",
        boot.ending,
        boot.wall.as_secs_f64(),
        workdir.display(),
        boot.console_tail(40)
    )
}

/// Resolves a runtime for the guest: its guest path and the files to copy.
fn guest_runtime(spec: &str, bins: &Artifacts) -> Result<(String, Vec<GuestFile>)> {
    if spec == "brig" {
        return Ok((
            "/usr/bin/brig".into(),
            vec![GuestFile::host("usr/bin/brig", &bins.brig, 0o755)],
        ));
    }
    let host_path = brig_conformance::suite::resolve_binary(Path::new(spec))?;
    let host_path = std::fs::canonicalize(&host_path)
        .with_context(|| format!("resolving {}", host_path.display()))?;
    let guest = host_path.display().to_string();
    let mut files = vec![GuestFile::host(guest.clone(), &host_path, 0o755)];
    for HostFile {
        guest_path,
        host_path,
    } in host::shared_libraries(&host_path)?
    {
        files.push(GuestFile::host(guest_path, host_path, 0o755));
    }
    Ok((guest, files))
}

/// Boots one cell: the whole suite (or the selected checks) against the runtimes, in one boot.
/// An error means the cell produced no usable report (panic, hang, missing or broken report),
/// and carries the console tail; MUST failures are in the result, for the caller to judge.
pub fn run_cell(
    entry: &KernelEntry,
    mode: Mode,
    suite: &SuiteRun,
    vm: &VmConfig,
) -> Result<CellResult> {
    let what = format!("{}/{mode}", entry.name);
    let k = prepared_kernel(entry)?;
    let bins = static_binaries()?;
    let accel = accel(&k)?;
    let mut files = vec![
        GuestFile::host("usr/bin/brig-conformance", &bins.conformance, 0o755),
        GuestFile::host("usr/lib/brig-vm/brig-probe", &bins.probe, 0o755),
        // Something for the /home checks to see and bind-mount.
        GuestFile::bytes("home/brig-vm/.keep", Vec::new(), 0o644),
    ];
    let mut args: Vec<String> = vec!["run".into()];
    for (i, rt) in suite.runtimes.iter().enumerate() {
        let (guest, f) = guest_runtime(rt, &bins).with_context(|| format!("runtime {rt}"))?;
        files.extend(f);
        args.push("--runtime".into());
        args.push(guest);
        for (_, a) in suite.runtime_args.iter().filter(|(j, _)| *j == i) {
            args.push(format!("--runtime-arg={a}"));
        }
    }
    for o in &suite.only {
        args.push(format!("--only={o}"));
    }
    for s in &suite.skip {
        args.push(format!("--skip={s}"));
    }
    args.extend([
        "--format=json".into(),
        "--report=/run/brig-vm/report".into(),
        format!("--jobs={}", suite.jobs.unwrap_or(vm.cpus)),
        "--cache-dir=/var/cache/brig-conformance".into(),
        "--scratch-dir=/tmp".into(),
    ]);
    let payload = format!(
        "#!/bin/sh\n# Runs the conformance suite; its stderr (progress) goes to the console.\n\
         export BRIG_PROBE=/usr/lib/brig-vm/brig-probe BRIG_BUSYBOX=/bin/busybox HOME=/root\n\
         exec /usr/bin/brig-conformance {} >/dev/null\n",
        args.iter()
            .map(|a| sh_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let base = host::cache_dir().join("runs");
    std::fs::create_dir_all(&base)?;
    let work = tempfile::Builder::new()
        .prefix(&format!("{}-{mode}-", entry.name))
        .tempdir_in(&base)?;
    let boot = boot_payload(&k, mode, &payload, &files, accel, vm, work.path())?;
    let workdir = work.keep();
    if std::env::var_os("BRIG_VM_KEEP").is_none() {
        let _ = std::fs::remove_file(workdir.join("initramfs.cpio"));
    }
    let report = judge(&what, &boot, &workdir)?;
    let result = CellResult {
        kernel: k.kernel.clone(),
        mode,
        accel,
        qemu: host::qemu_version()?,
        boot,
        report,
        workdir: workdir.clone(),
    };
    if result.must_failures().is_empty() && std::env::var_os("BRIG_VM_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&workdir);
    }
    Ok(result)
}

/// Turns a boot of the suite into its report, or into an error that says what went wrong and
/// shows the console's last lines: a panic, a hang, a failed init, a suite that could not run,
/// a missing, broken or self-contradicting report. Never a pass without a report.
pub fn judge(what: &str, boot: &BootResult, workdir: &Path) -> Result<SuiteReport> {
    let fail = |problem: &str| explain(what, boot, workdir, problem);
    match boot.ending {
        Ending::Payload(0) | Ending::Payload(1) => {}
        Ending::Payload(rc) => {
            return Err(fail(&format!(
                "brig-conformance exited {rc} (a setup or usage error)"
            )))
        }
        _ => return Err(fail("the guest did not finish the suite")),
    }
    if boot.report.is_empty() {
        return Err(fail("no report came back from the guest"));
    }
    let report = report::parse(&boot.report).map_err(|e| fail(&format!("{e:#}")))?;
    if (boot.ending == Ending::Payload(0)) != report.all_must_pass {
        return Err(fail(&format!(
            "the suite's exit code ({}) disagrees with its report (all_must_pass {})",
            boot.ending, report.all_must_pass
        )));
    }
    Ok(report)
}

/// Writes the report of a cell next to the others, for docs/vm-matrix.md.
pub fn save_report(cell: &CellResult) -> Result<PathBuf> {
    let dir = host::cache_dir().join("reports");
    std::fs::create_dir_all(&dir)?;
    let p = dir.join(format!("{}-{}.json", cell.kernel.name, cell.mode));
    // The guest's report, with what ran it: the host's QEMU, the accelerator and the kernel.
    let mut v: serde_json::Value = serde_json::from_slice(&cell.boot.report)?;
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "vm".into(),
            serde_json::json!({
                "qemu": cell.qemu,
                "accel": cell.accel.name(),
                "kernel": cell.kernel.origin,
            }),
        );
    }
    std::fs::write(&p, serde_json::to_vec_pretty(&v)?)?;
    Ok(p)
}

/// `QEMU emulator version 10.0.2 (Debian ...)` -> `QEMU 10.0.2`.
pub fn short_qemu(line: &str) -> String {
    match line
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
    {
        Some(v) => format!("QEMU {v}"),
        None => line.to_string(),
    }
}
