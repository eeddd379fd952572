//! Startup latency: brig against runc, crun (and youki when installed), measured
//! in one run, one criterion group per scenario with the runtimes as its functions.
//!
//! ```sh
//! cargo build --release -p brig && cargo bench -p brig-benches --bench startup
//! ```
//!
//! Scenarios (configs in `src/bundle.rs`):
//! 1. `run`: `run` of /bin/true end to end, plus the kernel's floor
//!    `unshare -p -f -m -u -i -n /bin/true`;
//! 2. `lifecycle-base`: create, start, wait for the exit, delete, as separate
//!    calls, each phase a function of its own (`brig/create`, ...) and `total`;
//! 3. `lifecycle-netns-5mounts`: the same with a network namespace and 5 mounts;
//! 4. `lifecycle-limits`: the same with memory, cpu and pids limits.
//!
//! Each phase function runs whole cycles and times only its phase; its warm-up
//! and measurement times are scaled by the phase's share of a cycle (from a
//! short calibration), so that every function costs about the same wall time.
//! `BRIG_BENCH_SECS` sets that wall time (default 3), `BRIG_BENCH_RUNTIMES`
//! the runtimes (default brig,runc,crun,youki). The table of medians and ratios
//! is printed at the end and written to `target/brig-benches/startup.{md,json}`,
//! with two interleaved comparisons of `run`: back to back
//! (`BRIG_BENCH_ROUNDS`, default 40; 0 skips it) and cold, each `run` after
//! 200 ms idle (`BRIG_BENCH_COLD_ROUNDS`, default 20). The target (issue 19:
//! `brig run` ≤ 2 × the unshare floor) is judged on criterion's medians and on
//! both of these. Last, "where the time goes": `brig --debug run`
//! (`BRIG_BENCH_PHASE_ROUNDS`, default 30) for every runtime whose name starts
//! with "brig" (e.g. `BRIGBEFORE_BIN=/tmp/old-brig
//! BRIG_BENCH_RUNTIMES=brig,brigbefore,...` for a before/after), the median
//! of each step.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use brig_benches::bundle::{Bundle, Bundles, Config};
use brig_benches::host;
use brig_benches::runtime::{self, Phases, Runtime};
use criterion::{BenchmarkId, Criterion, SamplingMode};
use serde_json::json;

const PHASES: &[&str] = &["create", "start", "wait", "delete", "total"];
const FLOOR: &[&str] = &["unshare", "-p", "-f", "-m", "-u", "-i", "-n", "/bin/true"];

struct Env {
    _bundles: Bundles,
    run: Bundle,
    lifecycle: Vec<(Config, Bundle)>,
    runtimes: Vec<Runtime>,
    notes: Vec<String>,
    seq: Cell<u64>,
    /// The benchmarks that ran in this invocation: (group, function) -> criterion dir.
    ran: RefCell<BTreeMap<(String, String), PathBuf>>,
    criterion_dir: PathBuf,
}

impl Env {
    fn id(&self, rt: &Runtime) -> String {
        let n = self.seq.get();
        self.seq.set(n + 1);
        format!("bench-{}-{}-{n}", rt.name, std::process::id())
    }

    fn mark(&self, group: &str, function: &str) {
        let dir = self.criterion_dir.join(group).join(function);
        self.ran
            .borrow_mut()
            .insert((group.to_string(), function.to_string()), dir);
    }
}

fn wall_secs() -> f64 {
    std::env::var("BRIG_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(3.0)
}

fn setup() -> Result<Env> {
    brig_benches::require_root()?;
    host::become_subreaper()?;
    let bundles = Bundles::new()?;
    let run = bundles.bundle("run", Config::Base, &["/bin/true"])?;
    let mut lifecycle = Vec::new();
    for cfg in [Config::Base, Config::NetMounts, Config::Limits] {
        lifecycle.push((cfg, bundles.bundle(cfg.name(), cfg, &["/bin/true"])?));
    }
    let (runtimes, mut notes) = runtime::discover(&run.dir);
    if runtimes.is_empty() {
        anyhow::bail!("no runtime to bench");
    }
    notes.push(format!(
        "load average (1 / 5 / 15 min) at the start: {}",
        host::load_average()
    ));
    let criterion_dir = runtime::target_dir()
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion");
    Ok(Env {
        _bundles: bundles,
        run,
        lifecycle,
        runtimes,
        notes,
        seq: Cell::new(0),
        ran: RefCell::new(BTreeMap::new()),
        criterion_dir,
    })
}

fn floor_once() -> Duration {
    let t = Instant::now();
    let st = Command::new(FLOOR[0])
        .args(&FLOOR[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("spawn unshare");
    let dt = t.elapsed();
    assert!(st.success(), "{}: {st}", FLOOR.join(" "));
    dt
}

/// Scenario 1: `run` of /bin/true, and the unshare floor.
fn bench_run(c: &mut Criterion, env: &Env) {
    let secs = wall_secs();
    let mut g = c.benchmark_group("run");
    g.sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs_f64(secs / 3.0))
        .measurement_time(Duration::from_secs_f64(secs));
    for rt in &env.runtimes {
        g.bench_function(&rt.name, |b| {
            env.mark("run", &rt.name);
            b.iter_custom(|iters| {
                let mut sum = Duration::ZERO;
                for _ in 0..iters {
                    let id = env.id(rt);
                    sum += rt
                        .run(&id, &env.run.dir)
                        .unwrap_or_else(|e| panic!("{e:#}"));
                }
                host::reap_all();
                sum
            })
        });
    }
    g.bench_function("floor", |b| {
        env.mark("run", "floor");
        b.iter_custom(|iters| (0..iters).map(|_| floor_once()).sum())
    });
    g.finish();
}

/// Scenarios 2-4: the lifecycle, one function per runtime and phase.
fn bench_lifecycle(c: &mut Criterion, env: &Env, cfg: Config, bundle: &Bundle) {
    let secs = wall_secs();
    let group = format!("lifecycle-{}", cfg.name());
    let mut g = c.benchmark_group(&group);
    g.sampling_mode(SamplingMode::Flat);
    for rt in &env.runtimes {
        // Calibration (and warm-up): the phases' shares of a cycle.
        let cal: Vec<Phases> = (0..5)
            .map(|_| {
                rt.cycle(&env.id(rt), &bundle.dir)
                    .unwrap_or_else(|e| panic!("{e:#}"))
            })
            .collect();
        host::reap_all();
        let share = |p: &str| {
            let mut v: Vec<f64> = cal.iter().map(|c| c.get(p).as_secs_f64()).collect();
            brig_benches::median(&mut v)
        };
        let total = share("total").max(1e-6);
        for phase in PHASES {
            let frac = (share(phase) / total).clamp(0.01, 1.0);
            g.warm_up_time(Duration::from_secs_f64(secs / 3.0 * frac))
                .measurement_time(Duration::from_secs_f64(secs * frac));
            let name = format!("{}/{phase}", rt.name);
            // A BenchmarkId keeps "runtime/phase" as two directory levels.
            g.bench_function(BenchmarkId::new(&rt.name, phase), |b| {
                env.mark(&group, &name);
                b.iter_custom(|iters| {
                    let mut sum = Duration::ZERO;
                    for _ in 0..iters {
                        let p = rt
                            .cycle(&env.id(rt), &bundle.dir)
                            .unwrap_or_else(|e| panic!("{e:#}"));
                        sum += p.get(phase);
                    }
                    host::reap_all();
                    sum
                })
            });
        }
    }
    g.finish();
}

fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Back-to-back interleaved rounds (`BRIG_BENCH_ROUNDS`, default 40).
fn rounds() -> usize {
    env_usize("BRIG_BENCH_ROUNDS", 40)
}

/// Cold interleaved rounds (`BRIG_BENCH_COLD_ROUNDS`, default 20), each `run`
/// after `COLD_GAP` of idleness.
fn cold_rounds() -> usize {
    env_usize("BRIG_BENCH_COLD_ROUNDS", 20)
}

/// Idle time before each cold `run`: long enough for the kernel's RCU-sync of
/// cgroup migrations to go idle again, as for one `run` typed into a shell.
const COLD_GAP: Duration = Duration::from_millis(200);

/// `run` of /bin/true again, outside criterion: round after round, each
/// runtime and the floor once per round, the order rotated every round. On a
/// busy machine this shares the load's swings fairly between the runtimes,
/// which criterion's one-after-the-other functions cannot. With a `gap`, each
/// `run` follows that much idle time (untimed).
/// Returns the durations (ns) per name ("floor" included).
fn interleaved(env: &Env, rounds: usize, gap: Duration) -> BTreeMap<String, Vec<f64>> {
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let n = env.runtimes.len() + 1;
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
            let (name, dt) = match env.runtimes.get(i) {
                Some(rt) => {
                    let dt = rt
                        .run(&env.id(rt), &env.run.dir)
                        .unwrap_or_else(|e| panic!("{e:#}"));
                    (rt.name.clone(), dt)
                }
                None => ("floor".to_string(), floor_once()),
            };
            out.entry(name).or_default().push(dt.as_nanos() as f64);
        }
        host::reap_all();
    }
    out
}

/// Appends the table of an interleaved measurement; returns the medians.
fn inter_table(
    md: &mut String,
    title: &str,
    data: &BTreeMap<String, Vec<f64>>,
) -> BTreeMap<String, f64> {
    let mut med: BTreeMap<String, f64> = BTreeMap::new();
    if data.is_empty() {
        return med;
    }
    let mut t = format!(
        "{title} (median, and the 25th-75th percentiles):\n\n| runtime | median | p25-p75 | brig's ratio to it |\n| --- | --- | --- | --- |\n"
    );
    for (name, v) in data {
        let mut v = v.clone();
        let m = brig_benches::median(&mut v);
        let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize];
        med.insert(name.clone(), m);
        t.push_str(&format!(
            "| {name} | {} | {}-{} | {{ratio:{name}}} |\n",
            ms(m),
            ms(q(0.25)).trim_end_matches(" ms"),
            ms(q(0.75))
        ));
    }
    let brig = med.get("brig").copied();
    for name in med.keys() {
        t = t.replace(
            &format!("{{ratio:{name}}}"),
            &ratio(brig, med.get(name).copied()),
        );
    }
    md.push_str(&t);
    md.push('\n');
    med
}

/// Issue 19's target on one set of medians (`brig run` ≤ 2 × the unshare
/// floor), with brig's ratio to crun for reference.
fn targets(md: &mut String, label: &str, brig: Option<f64>, crun: Option<f64>, floor: Option<f64>) {
    if let (Some(b), Some(f)) = (brig, floor) {
        md.push_str(&format!(
            "- {label}: `brig run` ≤ 2 × the unshare floor: {} vs 2 × {} = {} → **{}** ({:.2} × floor)",
            ms(b),
            ms(f),
            ms(2.0 * f),
            if b <= 2.0 * f { "met" } else { "not met" },
            b / f
        ));
        if let Some(c) = crun {
            md.push_str(&format!("; {:.2} × crun's {}", b / c, ms(c)));
        }
        md.push('\n');
    }
}

/// `--debug` rounds of `run` per brig build (`BRIG_BENCH_PHASE_ROUNDS`, default 30).
fn phase_rounds() -> usize {
    env_usize("BRIG_BENCH_PHASE_ROUNDS", 30)
}

/// The row for the wall time outside main's steps.
const OUTSIDE_MAIN: &str = "exec of brig up to main, and exit after the last step";

/// What the kernel does in each `--debug` step of `run` (by the step's first words).
const STEP_WORK: &[(&str, &str)] = &[
    (OUTSIDE_MAIN, "execve, ld.so's symbol binding and glibc's cpuid probes (each cpuid traps to the hypervisor: ~6 µs here), page faults; exit and reaping"),
    ("create: config compiled", "argument parsing, config.json read and compiled"),
    ("create: state dir", "mountinfo read (cgroup layout), state dir mkdir + flock + rename"),
    ("create: state saved (creating)", "state.json written"),
    ("create: cgroup made", "mkdir in each cgroup hierarchy (11 here), device rules written"),
    ("create: init N waits", "hostname, masked paths, capabilities; the init reports ready (without hooks, from clone3 on: the row above is only there with hooks)"),
    ("create: init", "clone3 into the cgroup with new namespaces; the init joins the v1 cgroups, makes its keyring, mounts /proc and /dev, makes the device nodes, pivot_root"),
    ("create: state saved (created", "state.json swapped in"),
    ("start: releasing", "state read, pidfd opened"),
    ("start: released", "the init wakes on the fifo and execs the program (the fifo closes at execve)"),
    ("start: state saved (running)", "state.json rewritten (before: a rename over it)"),
    ("start: running", "nothing saved: the fifo's absence records it"),
    ("delete: status", "the program runs and exits; run waits for it (pidfd)"),
    ("delete: init", "state read"),
    ("delete: cgroup removed", "rmdir in each hierarchy"),
    ("delete: state dir removed", "state dir unlinked"),
];

/// "Where the time goes": for each brig build among the runtimes (any name
/// starting with "brig"), the median time of each `--debug` step of `run`.
/// Each step's time is from the previous step's line (the first: from main).
fn phase_table(env: &Env) -> String {
    let builds: Vec<&Runtime> = env
        .runtimes
        .iter()
        .filter(|r| r.name.starts_with("brig"))
        .collect();
    let mut order: Vec<String> = Vec::new();
    let mut data: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for round in 0..phase_rounds() {
        for rt in &builds {
            let id = env.id(rt);
            let t0 = Instant::now();
            let out = Command::new(&rt.bin)
                .args(["--debug", "--root"])
                .arg(rt.root())
                .args(["run", "--bundle"])
                .arg(&env.run.dir)
                .arg(&id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .expect("spawn brig --debug run");
            let wall = t0.elapsed().as_secs_f64() * 1e3;
            assert!(out.status.success(), "{}: round {round}: {out:?}", rt.name);
            let mut prev = 0.0;
            let mut prev_key: Option<String> = None;
            for line in String::from_utf8_lossy(&out.stderr).lines() {
                let Some((t, step)) = line
                    .strip_prefix("brig: debug: +")
                    .and_then(|r| r.split_once("ms "))
                else {
                    continue;
                };
                let Ok(t) = t.parse::<f64>() else { continue };
                let key = step_key(step, &id);
                if !order.contains(&key) {
                    // After this build's previous step: builds differ in steps.
                    let at = prev_key
                        .as_ref()
                        .and_then(|p| order.iter().position(|k| k == p))
                        .map_or(order.len(), |i| i + 1);
                    order.insert(at, key.clone());
                }
                data.entry((rt.name.clone(), key.clone()))
                    .or_default()
                    .push(t - prev);
                prev = t;
                prev_key = Some(key);
            }
            // The rest of the wall time: brig's exec up to main, and its exit.
            // (A build whose --debug lines carry no times has no rows at all.)
            if prev_key.is_some() {
                data.entry((rt.name.clone(), OUTSIDE_MAIN.to_string()))
                    .or_default()
                    .push(wall - prev);
            }
        }
        host::reap_all();
    }
    let builds: Vec<&Runtime> = builds
        .into_iter()
        .filter(|rt| data.keys().any(|(name, _)| *name == rt.name))
        .collect();
    let mut md = format!(
        "Where the time goes: `brig --debug run` of /bin/true, {} rounds per build, median ms of each step (from the previous step's line, the first from main's start; the last row is the rest of the wall time, from spawn to exit):\n\n| step |",
        phase_rounds()
    );
    for rt in &builds {
        md.push_str(&format!(" {} |", rt.name));
    }
    md.push_str(" what the kernel does |\n|");
    md.push_str(&" --- |".repeat(builds.len() + 2));
    md.push('\n');
    let mut sums = vec![0.0; builds.len()];
    order.push(OUTSIDE_MAIN.to_string());
    for key in &order {
        md.push_str(&format!("| {key} |"));
        for (i, rt) in builds.iter().enumerate() {
            match data.get_mut(&(rt.name.clone(), key.clone())) {
                Some(v) => {
                    let m = brig_benches::median(v);
                    sums[i] += m;
                    md.push_str(&format!(" {m:.3} |"));
                }
                None => md.push_str(" - |"),
            }
        }
        let work = STEP_WORK
            .iter()
            .find(|(p, _)| key.starts_with(p))
            .map_or("", |(_, w)| w);
        md.push_str(&format!(" {work} |\n"));
    }
    md.push_str("| sum of the medians (≈ the median wall time) |");
    for s in sums {
        md.push_str(&format!(" {s:.3} |"));
    }
    md.push_str(" |\n\n");
    md
}

/// A `--debug` step without its container id, pids or paths: "create: state dir made and locked".
fn step_key(step: &str, id: &str) -> String {
    let (op, rest) = step.split_once(' ').unwrap_or((step, ""));
    let rest = rest
        .strip_prefix(id)
        .unwrap_or(rest)
        .trim_start_matches(':')
        .trim();
    let words: Vec<String> = rest
        .split_whitespace()
        .take_while(|w| !w.contains('('))
        .map(|w| {
            if w.starts_with('/') {
                "DIR".to_string()
            } else if w.trim_end_matches([',', ';', ')']).parse::<u64>().is_ok() {
                "N".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let mut key = format!("{op}: {}", words.join(" "));
    if let Some(paren) = rest.find("(cr").or_else(|| rest.find("(ru")) {
        // Keep "(created" / "(running" / "(creating": what was saved.
        let word: String = rest[paren..]
            .chars()
            .take_while(|c| *c != ',' && *c != ')')
            .collect();
        key.push_str(&format!(" {word})"));
    }
    key.trim_end_matches([';', ':', ',']).to_string()
}

/// criterion's median (ns) of a benchmark that ran.
fn median_ns(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn ms(ns: f64) -> String {
    format!("{:.2} ms", ns / 1e6)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

/// The table of medians and ratios, as markdown, and the same as JSON.
type Runs = BTreeMap<String, Vec<f64>>;

fn report(env: &Env, inter: &(Runs, Runs)) -> Result<()> {
    let ran = env.ran.borrow();
    let med: BTreeMap<(String, String), f64> = ran
        .iter()
        .filter_map(|(k, dir)| Some((k.clone(), median_ns(dir)?)))
        .collect();
    let names: Vec<&str> = env.runtimes.iter().map(|r| r.name.as_str()).collect();
    let get = |g: &str, f: &str| med.get(&(g.to_string(), f.to_string())).copied();

    let mut md = String::new();
    md.push_str(&format!(
        "Machine: {}; {}. Command: `cargo build --release -p brig && cargo bench -p brig-benches --bench startup` (BRIG_BENCH_SECS={}).\n\n",
        host::machine(),
        host::today(),
        wall_secs()
    ));
    for rt in &env.runtimes {
        md.push_str(&format!(
            "- {}: `{}` {}\n",
            rt.name,
            rt.bin.display(),
            rt.version
        ));
    }
    for n in &env.notes {
        md.push_str(&format!("- note: {n}\n"));
    }
    md.push_str(&format!(
        "- note: load average (1 / 5 / 15 min) at the end: {}\n",
        host::load_average()
    ));
    md.push('\n');
    let peers: Vec<&str> = names.iter().copied().filter(|n| *n != "brig").collect();
    md.push_str("| scenario | phase |");
    for n in &names {
        md.push_str(&format!(" {n} |"));
    }
    for p in &peers {
        md.push_str(&format!(" brig/{p} |"));
    }
    md.push('\n');
    md.push_str(&"| --- ".repeat(2 + names.len() + peers.len()));
    md.push_str("|\n");
    let mut rows: Vec<(String, String, String)> = Vec::new(); // (label, phase, group)
    rows.push(("run /bin/true".into(), "end to end".into(), "run".into()));
    for (cfg, _) in &env.lifecycle {
        for p in PHASES {
            rows.push((
                format!("lifecycle {}", cfg.name()),
                p.to_string(),
                format!("lifecycle-{}", cfg.name()),
            ));
        }
    }
    let mut json_rows = Vec::new();
    for (label, phase, group) in &rows {
        let fname = |n: &str| {
            if group == "run" {
                n.to_string()
            } else {
                format!("{n}/{phase}")
            }
        };
        let vals: Vec<Option<f64>> = names.iter().map(|n| get(group, &fname(n))).collect();
        if vals.iter().all(Option::is_none) {
            continue;
        }
        md.push_str(&format!("| {label} | {phase} |"));
        for v in &vals {
            md.push_str(&format!(" {} |", v.map_or("-".into(), ms)));
        }
        let brig = get(group, &fname("brig"));
        for p in &peers {
            md.push_str(&format!(" {} |", ratio(brig, get(group, &fname(p)))));
        }
        md.push('\n');
        let medians: BTreeMap<&str, Option<f64>> =
            names.iter().copied().zip(vals.iter().copied()).collect();
        json_rows.push(json!({"scenario": label, "phase": phase, "median_ns": medians}));
    }
    let floor = get("run", "floor");
    if let Some(f) = floor {
        md.push_str(&format!(
            "| floor: `{}` | end to end | {} |\n",
            FLOOR.join(" "),
            ms(f)
        ));
    }
    md.push('\n');
    let warm = inter_table(
        &mut md,
        &format!(
            "Interleaved, back to back: `run` of /bin/true, {} rounds, each runtime and the floor once per round in rotated order",
            rounds()
        ),
        &inter.0,
    );
    let cold = inter_table(
        &mut md,
        &format!(
            "Interleaved, cold: the same, {} rounds, each `run` after {} ms idle",
            cold_rounds(),
            COLD_GAP.as_millis()
        ),
        &inter.1,
    );
    md.push_str("Targets:\n\n");
    let get_m = |m: &BTreeMap<String, f64>, n: &str| m.get(n).copied();
    targets(
        &mut md,
        "criterion",
        get("run", "brig"),
        get("run", "crun"),
        floor,
    );
    for (label, m) in [("back to back", &warm), ("cold", &cold)] {
        if !m.is_empty() {
            targets(
                &mut md,
                label,
                get_m(m, "brig"),
                get_m(m, "crun"),
                get_m(m, "floor"),
            );
        }
    }
    md.push('\n');
    md.push_str(&phase_table(env));
    println!("\n{md}");
    let out = runtime::out_dir();
    std::fs::write(out.join("startup.md"), &md)?;
    let json = json!({
        "machine": host::machine(),
        "date": host::today(),
        "runtimes": env.runtimes.iter().map(|r| json!({"name": r.name, "bin": r.bin, "version": r.version})).collect::<Vec<_>>(),
        "notes": env.notes,
        "floor_ns": floor,
        "rows": json_rows,
        "interleaved_run_ns": inter.0,
        "interleaved_cold_run_ns": inter.1,
    });
    std::fs::write(out.join("startup.json"), serde_json::to_vec_pretty(&json)?)?;
    eprintln!(
        "brig-benches: wrote {}/startup.{{md,json}}; criterion's report: {}/report/index.html",
        out.display(),
        env.criterion_dir.display()
    );
    Ok(())
}

fn main() -> Result<()> {
    let env = setup().context("startup bench setup")?;
    let mut c = Criterion::default()
        .output_directory(&env.criterion_dir)
        .sample_size(20)
        .configure_from_args();
    bench_run(&mut c, &env);
    for (cfg, bundle) in &env.lifecycle {
        bench_lifecycle(&mut c, &env, *cfg, bundle);
    }
    c.final_summary();
    let inter = (
        interleaved(&env, rounds(), Duration::ZERO),
        interleaved(&env, cold_rounds(), COLD_GAP),
    );
    report(&env, &inter)?;
    // env drops here: every container force-deleted, every temp dir removed.
    Ok(())
}
