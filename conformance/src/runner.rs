//! Runs checks against runtimes: requirements first (unmet → skip with the reason), then the
//! check body with a deadline, in parallel up to `jobs`, and always the cleanup afterwards.

use crate::check::{Check, Verdict};
use crate::ctx::{Ctx, SuiteEnv};
use crate::host::HostFacts;
use crate::report::{CheckOutcome, Outcome, Report, Row, RuntimeInfo};
use crate::runtime::RuntimeUnderTest;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub jobs: usize,
    pub keep_failed: bool,
    /// The most one check may take, cleanup excluded.
    pub check_timeout: Duration,
    /// Print one progress line per finished check on stderr.
    pub progress: bool,
    /// Becomes true when the user interrupts the run: running checks stop (and are cleaned up),
    /// the rest are skipped.
    pub interrupt: Option<watch::Receiver<bool>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            keep_failed: false,
            check_timeout: Duration::from_secs(120),
            progress: true,
            interrupt: None,
        }
    }
}

/// Selects checks by id: kept if it matches any `only` glob (or there are none) and no `skip`
/// glob.
pub fn select(checks: Vec<Check>, only: &[String], skip: &[String]) -> anyhow::Result<Vec<Check>> {
    fn set(globs: &[String]) -> anyhow::Result<GlobSet> {
        let mut b = GlobSetBuilder::new();
        for g in globs {
            b.add(Glob::new(g).map_err(|e| anyhow::anyhow!("bad glob {g:?}: {e}"))?);
        }
        Ok(b.build()?)
    }
    let (only_set, skip_set) = (set(only)?, set(skip)?);
    let selected: Vec<Check> = checks
        .into_iter()
        .filter(|c| (only.is_empty() || only_set.is_match(c.id)) && !skip_set.is_match(c.id))
        .collect();
    if selected.is_empty() {
        anyhow::bail!("no check matches --only {only:?} / --skip {skip:?}");
    }
    Ok(selected)
}

/// Runs `checks` against each runtime in turn (checks of one runtime run in parallel), and
/// removes the run's cgroup parent at the end.
pub async fn run(
    runtimes: &[Arc<dyn RuntimeUnderTest>],
    checks: &[Check],
    host: Arc<HostFacts>,
    env: Arc<SuiteEnv>,
    opts: &RunOptions,
) -> Report {
    let mut rows: Vec<Row> = checks
        .iter()
        .map(|c| Row {
            id: c.id.to_string(),
            group: c.group,
            level: c.level,
            spec: c.spec.to_string(),
            summary: c.summary.to_string(),
            results: Vec::new(),
        })
        .collect();
    let mut infos = Vec::new();
    for rt in runtimes {
        let started = Instant::now();
        let results = run_one_runtime(rt.clone(), checks, &host, &env, opts).await;
        infos.push(RuntimeInfo {
            name: rt.name().to_string(),
            command: rt.describe(),
            duration: started.elapsed(),
        });
        for (row, res) in rows.iter_mut().zip(results) {
            row.results.push(res);
        }
    }
    Report {
        host: host.summary(),
        runtimes: infos,
        rows,
    }
}

async fn run_one_runtime(
    rt: Arc<dyn RuntimeUnderTest>,
    checks: &[Check],
    host: &Arc<HostFacts>,
    env: &Arc<SuiteEnv>,
    opts: &RunOptions,
) -> Vec<CheckOutcome> {
    let sem = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut handles = Vec::new();
    for check in checks.iter().cloned() {
        let unmet: Vec<String> = check
            .requires
            .iter()
            .filter_map(|r| r.unmet(host, rt.as_ref()))
            .collect();
        if !unmet.is_empty() {
            let o = CheckOutcome {
                result: Outcome::Skip,
                reason: Some(unmet.join("; ")),
                duration: Duration::ZERO,
            };
            if opts.progress {
                progress(rt.name(), check.id, &o);
            }
            handles.push(tokio::spawn(async move { o }));
            continue;
        }
        let (rt, host, env, sem, opts) = (
            rt.clone(),
            host.clone(),
            env.clone(),
            sem.clone(),
            opts.clone(),
        );
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore closed");
            let o = if interrupted(&opts) {
                CheckOutcome {
                    result: Outcome::Skip,
                    reason: Some("the run was interrupted".into()),
                    duration: Duration::ZERO,
                }
            } else {
                run_check(rt.clone(), &check, host, env, &opts).await
            };
            if opts.progress {
                progress(rt.name(), check.id, &o);
            }
            o
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap_or_else(|e| CheckOutcome {
            result: Outcome::Fail,
            reason: Some(format!("suite bug: check task failed: {e}")),
            duration: Duration::ZERO,
        }));
    }
    out
}

fn interrupted(opts: &RunOptions) -> bool {
    opts.interrupt.as_ref().is_some_and(|r| *r.borrow())
}

/// Resolves when the run is interrupted (never, without an interrupt channel).
async fn until_interrupted(opts: &RunOptions) {
    match opts.interrupt.clone() {
        Some(mut r) => {
            if r.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

fn progress(rt: &str, id: &str, o: &CheckOutcome) {
    let word = match o.result {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Skip => "skip",
    };
    match &o.reason {
        Some(r) => eprintln!("[{rt}] {word} {id} ({} ms): {r}", o.duration.as_millis()),
        None => eprintln!("[{rt}] {word} {id} ({} ms)", o.duration.as_millis()),
    }
}

async fn run_check(
    rt: Arc<dyn RuntimeUnderTest>,
    check: &Check,
    host: Arc<HostFacts>,
    env: Arc<SuiteEnv>,
    opts: &RunOptions,
) -> CheckOutcome {
    let dir = env.workdir.join(rt.name()).join(check.id);
    let ctx = Arc::new(Ctx::new(rt, host, env, dir.clone()));
    let started = Instant::now();
    let verdict = match std::fs::create_dir_all(&dir) {
        Err(e) => Err(Verdict::Fail(format!(
            "suite could not create {}: {e}",
            dir.display()
        ))),
        Ok(()) => {
            // The body runs in its own task, so a panic is reported instead of unwinding the run.
            let body = tokio::spawn((check.run)(ctx.clone()));
            let abort = body.abort_handle();
            let v = tokio::select! {
                r = tokio::time::timeout(opts.check_timeout, body) => match r {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) => Err(Verdict::Fail(format!("suite bug: check panicked: {e}"))),
                    Err(_) => Err(Verdict::Fail(format!(
                        "check did not finish within {} s",
                        opts.check_timeout.as_secs()
                    ))),
                },
                _ = until_interrupted(opts) => Err(Verdict::Skip("the run was interrupted".into())),
            };
            // A body that timed out or was interrupted must not go on creating things.
            abort.abort();
            v
        }
    };
    let duration = started.elapsed();
    let failed = matches!(verdict, Err(Verdict::Fail(_)));
    let problems = ctx.cleanup(failed && opts.keep_failed).await;
    let (mut result, mut reason) = match verdict {
        Ok(()) => (Outcome::Pass, None),
        Err(Verdict::Fail(r)) => (Outcome::Fail, Some(r)),
        Err(Verdict::Skip(r)) => (Outcome::Skip, Some(r)),
    };
    if failed && opts.keep_failed {
        let r = reason.take().unwrap_or_default();
        reason = Some(format!("{r} (kept in {})", dir.display()));
    }
    if !problems.is_empty() {
        let r = reason.take().map(|r| format!("{r}; ")).unwrap_or_default();
        reason = Some(format!("{r}cleanup left: {}", problems.join(", ")));
        result = Outcome::Fail;
    }
    CheckOutcome {
        result,
        reason: reason.map(|r| r.replace(['\n', '\r'], " ")),
        duration,
    }
}

/// Removes the run's cgroup parent from every hierarchy; returns what could not be removed.
pub fn remove_cgroup_parent(host: &HostFacts, env: &SuiteEnv) -> Vec<String> {
    let roots = host.cgroup_roots();
    let mut errs = Vec::new();
    for r in roots {
        errs.extend(crate::cgroupfs::remove_tree(&r.join(env.cgroup_parent())));
    }
    errs
}
