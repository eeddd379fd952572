//! The suite against a real runtime, and the self-test that proves a check fails when the
//! behaviour is wrong.
//!
//! `whole_suite`: runs every check against `$BRIG_CONFORMANCE_RUNTIME` (default: the workspace's
//! `target/debug/brig`) and fails on any MUST failure. It skips, loudly, only when no runtime
//! binary is found (or when not root, since the checks need it).
//!
//! `broken_runtime_*`: a fake runtime (runc behind a script that deletes `hostname` from
//! config.json) must FAIL ns.uts.hostname, while runc itself passes it.

use brig_conformance::report::{self, Outcome};
use brig_conformance::runner::{self, RunOptions};
use brig_conformance::suite::{run_suite, RuntimeSpec, SuiteOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Installs the host packages the suite needs when they are missing (Debian), and says so.
fn ensure_packages() {
    let busybox_static = brig_conformance::setup::find_busybox().is_ok();
    let runc = Path::new("/usr/sbin/runc").exists();
    if busybox_static && runc {
        return;
    }
    eprintln!("brig-conformance tests: installing missing host packages: apt-get install -y runc busybox-static");
    let install = || {
        std::process::Command::new("apt-get")
            .args(["install", "-y", "-q", "runc", "busybox-static"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = std::process::Command::new("apt-get")
            .args(["update", "-q"])
            .status();
        if !install() {
            eprintln!("brig-conformance tests: apt-get install runc busybox-static failed");
        }
    }
}

fn options(runtimes: Vec<RuntimeSpec>, only: &[&str]) -> SuiteOptions {
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    SuiteOptions {
        runtimes,
        checks: runner::select(brig_conformance::checks::all(), &only, &[]).expect("checks"),
        run: RunOptions {
            progress: false,
            ..RunOptions::default()
        },
        cache_dir: brig_conformance::setup::default_cache_dir(),
        scratch_parent: std::env::temp_dir(),
    }
}

fn run(opts: SuiteOptions) -> report::Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run_suite(opts, &mut |s| eprintln!("brig-conformance: {s}")))
        .expect("the suite could not run")
}

fn runtime_under_test() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BRIG_CONFORMANCE_RUNTIME") {
        return Some(PathBuf::from(p));
    }
    let ws = brig_conformance::setup::workspace_dir()?;
    let brig = ws.join("target/debug/brig");
    brig.is_file().then_some(brig)
}

#[test]
fn whole_suite() {
    let Some(runtime) = runtime_under_test() else {
        eprintln!(
            "SKIPPED whole_suite: no runtime to test: set BRIG_CONFORMANCE_RUNTIME or build target/debug/brig"
        );
        return;
    };
    if !is_root() {
        eprintln!("SKIPPED whole_suite: the checks need root");
        return;
    }
    ensure_packages();
    let spec = RuntimeSpec {
        binary: runtime.clone(),
        args: Vec::new(),
    };
    let r = run(options(vec![spec], &[]));
    eprint!("{}", report::render(&r, report::Format::Table));
    let must_failed: Vec<(&str, String)> = r
        .rows
        .iter()
        .filter(|row| {
            row.level == brig_conformance::check::Level::Must
                && row.results[0].result == Outcome::Fail
        })
        .map(|row| {
            (
                row.id.as_str(),
                row.results[0].reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    let accepted = brig_conformance::deviations::brig_accepts;
    let failed: Vec<String> = must_failed
        .iter()
        .filter(|(id, _)| !accepted(id))
        .map(|(id, why)| format!("{id}: {why}"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} MUST checks failed on {}:\n{}",
        failed.len(),
        runtime.display(),
        failed.join("\n")
    );
    for (id, why) in brig_conformance::deviations::BRIG_ACCEPTED {
        eprintln!("accepted deviation {id}: {why}");
        assert!(
            must_failed.iter().any(|(f, _)| f == id),
            "{id} is listed as an accepted deviation but did not fail on {}: update brig_conformance::deviations and docs/conformance.md",
            runtime.display()
        );
    }
}

const BROKEN: &str = r#"#!/bin/sh
# A deliberately broken runtime: runc, except that it deletes "hostname" from config.json.
bundle=""
prev=""
for a in "$@"; do
    if [ "$prev" = "--bundle" ] || [ "$prev" = "-b" ]; then bundle="$a"; fi
    case "$a" in --bundle=*) bundle="${a#--bundle=}" ;; esac
    prev="$a"
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
    sed -i '/"hostname":/d' "$bundle/config.json"
fi
exec RUNC "$@"
"#;

#[test]
fn broken_runtime_fails_the_hostname_check() {
    if !is_root() {
        eprintln!("SKIPPED broken_runtime_fails_the_hostname_check: the checks need root");
        return;
    }
    ensure_packages();
    let runc = Path::new("/usr/sbin/runc");
    assert!(
        runc.exists(),
        "runc is needed for the self-test and could not be installed"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("broken-runc");
    std::fs::write(&fake, BROKEN.replace("RUNC", &runc.display().to_string())).expect("write");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let specs = vec![
        RuntimeSpec {
            binary: runc.to_path_buf(),
            args: Vec::new(),
        },
        RuntimeSpec {
            binary: fake,
            args: Vec::new(),
        },
    ];
    let r = run(options(specs, &["ns.uts.hostname"]));
    eprint!("{}", report::render(&r, report::Format::Table));
    let row = &r.rows[0];
    assert_eq!(row.id, "ns.uts.hostname");
    assert_eq!(
        row.results[0].result,
        Outcome::Pass,
        "runc itself must pass: {:?}",
        row.results[0].reason
    );
    assert_eq!(
        row.results[1].result,
        Outcome::Fail,
        "the runtime that drops the hostname must fail"
    );
    assert!(!r.all_must_pass());
}

/// Mutation testing in miniature: brig-mutant over runc with maskedPaths emptied must fail
/// linux.masked-paths.masked while runc itself passes it (the whole run is
/// `brig-conformance mutants --runtime runc`, documented in docs/conformance.md).
#[test]
fn mutant_runtime_is_caught() {
    if !is_root() {
        eprintln!("SKIPPED mutant_runtime_is_caught: the checks need root");
        return;
    }
    ensure_packages();
    let runc = Path::new("/usr/sbin/runc");
    assert!(runc.exists(), "runc is needed for the self-test");
    let specs = vec![
        RuntimeSpec {
            binary: runc.to_path_buf(),
            args: Vec::new(),
        },
        RuntimeSpec {
            binary: PathBuf::from(env!("CARGO_BIN_EXE_brig-mutant")),
            args: vec![
                format!("--mutant-runtime={}", runc.display()),
                "--mutant-fault=unmask-paths".into(),
            ],
        },
    ];
    let r = run(options(specs, &["linux.masked-paths.masked"]));
    eprint!("{}", report::render(&r, report::Format::Table));
    let row = &r.rows[0];
    assert_eq!(
        row.results[0].result,
        Outcome::Pass,
        "{:?}",
        row.results[0].reason
    );
    assert_eq!(
        row.results[1].result,
        Outcome::Fail,
        "the mutant must be caught"
    );
}
