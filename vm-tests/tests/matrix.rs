//! The VM matrix as tests: one test per (kernel, cgroup mode) cell of `vm-tests/kernels`
//! (`cell::6.1::v2`, ...), each one boot that runs the whole conformance suite against brig and
//! fails on any MUST failure; and the harness's self-tests (`selftest::*`), guests that panic,
//! hang or send no report or a broken one, which must each fail with a useful message.
//!
//! Cells run in parallel up to the host's cpus (libtest's `--test-threads`). Each prints one
//! progress line: kernel, mode, boot and suite seconds, checks passed/failed/skipped.
//! First use installs qemu-system-x86 and busybox-static, downloads the kernels and builds the
//! static binaries; all of it is cached under target/vm-cache.

use brig_vm_tests::kernel::{self, KernelEntry, Mode};
use brig_vm_tests::matrix::{self, progress, SuiteRun, VmConfig};
use libtest_mimic::{Arguments, Failed, Trial};
use std::time::Duration;

fn cell(k: &KernelEntry, mode: Mode) -> Result<(), Failed> {
    let vm = VmConfig::from_env().map_err(|e| format!("{e:#}"))?;
    let c = matrix::run_cell(k, mode, &SuiteRun::from_env(), &vm).map_err(|e| {
        progress(&format!("{}/{mode}: FAILED, no usable report", k.name));
        format!("{e:#}")
    })?;
    progress(&c.summary_line());
    let _ = matrix::save_report(&c);
    // brig's deliberate deviations (brig_conformance::deviations) are reported, not failures.
    let must: Vec<String> = c
        .must_failures()
        .into_iter()
        .filter(|line| {
            let id = line.split(": ").nth(1).unwrap_or_default();
            !brig_conformance::deviations::brig_accepts(id)
        })
        .collect();
    if must.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}/{mode}: {} MUST check(s) failed in the guest ({}; console and report kept in {}):\n  {}",
        k.name,
        must.len(),
        c.summary_line(),
        c.workdir.display(),
        must.join("\n  ")
    )
    .into())
}

/// Boots the first kernel of the list with a tiny payload (no suite) and judges the result as
/// a cell would. The cell must fail, with `want` in its message.
fn selftest(payload: &str, timeout: Duration, want: &[&str]) -> Result<(), Failed> {
    let list = kernel::list().map_err(|e| format!("{e:#}"))?;
    let entry = list.first().ok_or("the kernel list is empty")?;
    let k = matrix::prepared_kernel(entry).map_err(|e| format!("{e:#}"))?;
    let accel = matrix::accel(&k).map_err(|e| format!("{e:#}"))?;
    let work = tempfile::Builder::new()
        .prefix("brig-vm-selftest-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let boot = matrix::boot_payload(
        &k,
        Mode::V2,
        payload,
        &[],
        accel,
        &VmConfig {
            cpus: 1,
            mem_mib: 512,
            timeout,
        },
        work.path(),
    )
    .map_err(|e| format!("{e:#}"))?;
    match matrix::judge("selftest", &boot, work.path()) {
        Ok(_) => Err(format!(
            "the harness accepted a guest that should fail (ending: {}); console:\n{}",
            boot.ending,
            boot.console_tail(20)
        )
        .into()),
        Err(e) => {
            let msg = format!("{e:#}");
            for w in want {
                if !msg.contains(w) {
                    return Err(format!("the failure message lacks {w:?}:\n{msg}").into());
                }
            }
            progress(&format!(
                "selftest: failed as it should after {:.1}s: {}",
                boot.wall.as_secs_f64(),
                msg.lines().next().unwrap_or("")
            ));
            Ok(())
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = vec![
        Trial::test("selftest::panic", || {
            selftest(
                "#!/bin/sh\necho c >/proc/sysrq-trigger\n",
                Duration::from_secs(180),
                &["kernel panicked", "sysrq", "last 40 console lines"],
            )
        }),
        Trial::test("selftest::missing_report", || {
            selftest(
                "#!/bin/sh\necho 'payload: exiting 0 without a report'\nexit 0\n",
                Duration::from_secs(180),
                &["no report came back", "exiting 0 without a report"],
            )
        }),
        Trial::test("selftest::truncated_report", || {
            selftest(
                "#!/bin/sh\nprintf '{\"host\": \"x\", \"runtimes\": [' >/run/brig-vm/report\nexit 0\n",
                Duration::from_secs(180),
                &["not valid JSON"],
            )
        }),
        Trial::test("selftest::hang", || {
            // The payload blocks forever reading a pipe nobody writes.
            selftest(
                "#!/bin/sh\necho 'payload: hanging'\nmkfifo /run/hang\nread -r x </run/hang\n",
                Duration::from_secs(60),
                &["the guest hung", "payload: hanging"],
            )
        }),
    ];
    match kernel::list() {
        Ok(list) => {
            for k in list {
                for mode in k.modes.clone() {
                    let k = k.clone();
                    trials.push(Trial::test(
                        format!("cell::{}::{mode}", k.name),
                        move || cell(&k, mode),
                    ));
                }
            }
        }
        Err(e) => {
            let msg = format!("{e:#}");
            trials.push(Trial::test("cell::kernel-list", move || Err(msg.into())));
        }
    }
    // The harness installs QEMU and kernel packages with apt and runs the
    // guests' suite as their root: as another user every trial is ignored,
    // with the reason, as the other real-kernel tests skip.
    if !brig_vm_tests::host::is_root() {
        eprintln!("brig-vm-tests: the VM matrix needs root (apt-get, QEMU guests): ignored");
        trials = trials
            .into_iter()
            .map(|t| t.with_ignored_flag(true))
            .collect();
    }
    libtest_mimic::run(&args, trials).exit();
}
