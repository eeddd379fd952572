//! One whole run, as a library call: set up, run the checks on every runtime, clean up.

use crate::check::Check;
use crate::ctx::SuiteEnv;
use crate::host::HostFacts;
use crate::report::Report;
use crate::runner::{self, RunOptions};
use crate::runtime::{CliRuntime, RuntimeUnderTest};
use anyhow::{Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

/// A runtime to test: its binary and the global arguments given to it alone.
#[derive(Clone, Debug)]
pub struct RuntimeSpec {
    pub binary: PathBuf,
    pub args: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct SuiteOptions {
    pub runtimes: Vec<RuntimeSpec>,
    pub checks: Vec<Check>,
    pub run: RunOptions,
    /// Where the base rootfs is cached.
    pub cache_dir: PathBuf,
    /// Parent of the run's scratch directory.
    pub scratch_parent: PathBuf,
}

/// Resolves a runtime given by name or path: a bare name is looked up on PATH.
pub fn resolve_binary(b: &std::path::Path) -> Result<PathBuf> {
    if b.components().count() > 1 {
        anyhow::ensure!(b.exists(), "runtime {} does not exist", b.display());
        return Ok(b.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join(b);
        if cand.is_file() {
            return Ok(cand);
        }
    }
    anyhow::bail!("runtime {} not found on PATH", b.display())
}

pub async fn run_suite(opts: SuiteOptions, log: &mut dyn FnMut(&str)) -> Result<Report> {
    let host = Arc::new(HostFacts::detect());
    log(&format!("host: {}", host.summary()));
    if !host.is_root {
        log("warning: not running as root: every check that needs root will be skipped");
    }
    let busybox = crate::setup::find_busybox()?;
    let probe = crate::setup::find_or_build_probe(log)?;
    let cache_dir = crate::setup::reachable_cache_dir(&opts.cache_dir)?;
    if cache_dir != opts.cache_dir {
        log(&format!(
            "cache dir {} is below a directory others cannot enter, as a user namespace's root must: using {}",
            opts.cache_dir.display(),
            cache_dir.display()
        ));
    }
    let rootfs = crate::setup::base_rootfs(&cache_dir, &busybox, &probe)?;
    log(&format!("base rootfs: {}", rootfs.display()));
    std::fs::create_dir_all(&opts.scratch_parent)?;
    let workdir = tempfile::Builder::new()
        .prefix("brig-conformance-")
        .tempdir_in(&opts.scratch_parent)
        .context("creating the scratch directory")?;
    std::fs::set_permissions(workdir.path(), std::fs::Permissions::from_mode(0o755))?;
    let host_probe = workdir.path().join("brig-probe");
    std::fs::copy(&probe, &host_probe)?;
    let run_id = run_id();
    let env = Arc::new(SuiteEnv::new(
        rootfs,
        host_probe,
        workdir.path().to_path_buf(),
        run_id,
    ));
    let mut runtimes: Vec<Arc<dyn RuntimeUnderTest>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for spec in &opts.runtimes {
        let binary = resolve_binary(&spec.binary)?;
        let base = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "runtime".into());
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}#{n}");
            n += 1;
        }
        names.push(name.clone());
        let root = workdir.path().join(format!("state-{name}"));
        let rt = CliRuntime::new(name, binary, spec.args.clone(), root).await?;
        runtimes.push(Arc::new(rt));
    }
    let report = runner::run(
        &runtimes,
        &opts.checks,
        host.clone(),
        env.clone(),
        &opts.run,
    )
    .await;
    let leftovers = runner::remove_cgroup_parent(&host, &env);
    for l in &leftovers {
        log(&format!("warning: could not remove cgroup {l}"));
    }
    let kept = opts.run.keep_failed
        && report.rows.iter().any(|r| {
            r.results
                .iter()
                .any(|o| o.result == crate::report::Outcome::Fail)
        });
    if kept {
        let p = workdir.keep();
        log(&format!("failed checks kept in {}", p.display()));
    } else {
        workdir.close().context("removing the scratch directory")?;
    }
    Ok(report)
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:06x}",
        (std::process::id() ^ nanos.rotate_left(7)) & 0xff_ffff
    )
}
