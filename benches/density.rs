//! Density: start N idle containers (busybox `sleep`) one after the other with
//! each runtime, measure the time until all run and the host memory they take,
//! then kill and delete them all and check that nothing leaked.
//!
//! ```sh
//! cargo build --release -p brig && cargo bench -p brig-benches --bench density -- --n 10,100,1000
//! ```
//!
//! Flags: `--n LIST` (default 10,100,1000), `--runtimes LIST` (default
//! `BRIG_BENCH_RUNTIMES` or brig,runc,crun,youki). Writes
//! `target/brig-benches/density.{json,md,svg}`.
//!
//! Per runtime and N:
//! - time until all running: from before the first `create` until every
//!   container's process is `sleep` (create + start of each, one after the other);
//! - memory: /proc/meminfo before and after, per container; MemAvailable is the
//!   headline, and the kernel's share (Slab, Percpu, KernelStack, PageTables) is
//!   shown apart because it is less noisy on a busy host; plus the RSS of the
//!   runtime's own processes still resident (none is expected), the PSS of the
//!   containers' processes, and the usage of their memory cgroups;
//! - teardown: `kill KILL`, wait for the exit (pidfd), `delete`, per container;
//!   then the bench waits until MemAvailable holds still (the kernel frees part
//!   of a container late) before the next runtime's "before" reading;
//! - leaks after teardown: state dirs under --root, cgroup dirs of the
//!   containers (those seen in /proc/PID/cgroup, and any dir named after this
//!   run under the cgroup mounts), container processes, runtime processes, and
//!   mounts under the bundle dir.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use brig_benches::bundle::{Bundles, Config};
use brig_benches::host::{self, MemInfo, PidFd};
use brig_benches::plot::{self, Series};
use brig_benches::runtime::{self, Runtime, DEADLINE};
use serde::Serialize;

#[derive(Debug, Serialize, Default)]
struct Leaks {
    state_dirs: Vec<String>,
    cgroups: Vec<PathBuf>,
    container_processes: Vec<i32>,
    runtime_processes: Vec<i32>,
    mounts: Vec<String>,
}

impl Leaks {
    fn none(&self) -> bool {
        self.state_dirs.is_empty()
            && self.cgroups.is_empty()
            && self.container_processes.is_empty()
            && self.runtime_processes.is_empty()
            && self.mounts.is_empty()
    }
}

#[derive(Debug, Serialize)]
struct Result1 {
    runtime: String,
    version: String,
    n: u32,
    /// Set when not all N started; the rest of the numbers cover those that did.
    error: Option<String>,
    started: u32,
    secs_until_all_running: f64,
    containers_per_sec: f64,
    /// Median create + start of the first and of the last tenth of the containers (ms).
    create_start_ms_first_tenth: f64,
    create_start_ms_last_tenth: f64,
    /// MemAvailable before - after, per container.
    mem_available_kib_per_container: f64,
    /// Slab + Percpu + KernelStack + PageTables growth, per container.
    kernel_kib_per_container: f64,
    /// Every /proc/meminfo field the bench reads: KiB taken (whole run, not per container).
    meminfo_taken_kib: BTreeMap<String, i64>,
    /// The runtime's own processes resident while the containers run.
    runtime_processes: usize,
    runtime_rss_kib: i64,
    /// Sum of the containers' processes' PSS, per container.
    container_pss_kib_per_container: f64,
    /// Sum of memory.usage_in_bytes (v1) or memory.current (v2) of the
    /// containers' memory cgroups, per container.
    memcg_kib_per_container: Option<f64>,
    /// Cgroup dirs per container (one per hierarchy the runtime used).
    cgroup_dirs_per_container: usize,
    teardown_secs: f64,
    /// The teardown's steps, summed over the containers: kill, wait, delete.
    teardown_kill_wait_delete_secs: [f64; 3],
    /// MemAvailable after teardown minus before the run (negative: not all came back yet).
    mem_available_returned_kib: i64,
    leaks: Leaks,
}

struct Args {
    ns: Vec<u32>,
}

fn parse_args() -> Result<Args> {
    let mut ns = vec![10, 100, 1000];
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next())
                .with_context(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--n" => {
                ns = value("--n")?
                    .split(',')
                    .map(|s| s.trim().parse().with_context(|| format!("--n: {s:?}")))
                    .collect::<Result<_>>()?;
            }
            // The env var is what runtime::selected() reads.
            "--runtimes" => std::env::set_var("BRIG_BENCH_RUNTIMES", value("--runtimes")?),
            // cargo bench passes --bench; criterion-style filters are not used here.
            "--bench" => {}
            "-h" | "--help" => {
                println!("density [--n 10,100,1000] [--runtimes brig,runc,crun,youki]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(Args { ns })
}

fn memcg_usage_kib(dirs: &[PathBuf]) -> Option<i64> {
    let mut sum = 0;
    let mut any = false;
    for d in dirs {
        for f in ["memory.usage_in_bytes", "memory.current"] {
            if let Ok(s) = std::fs::read_to_string(d.join(f)) {
                if let Ok(v) = s.trim().parse::<i64>() {
                    sum += v / 1024;
                    any = true;
                }
            }
        }
    }
    any.then_some(sum)
}

struct Live {
    id: String,
    pid: i32,
    start_time: u64,
}

fn one(rt: &Runtime, bundles: &Bundles, bundle: &std::path::Path, n: u32) -> Result<Result1> {
    let tag = format!("dens-{}-{}-{n}", rt.name, std::process::id());
    let pid_file = bundles.rootfs().with_file_name(format!("{tag}.pid"));
    let mounts = host::cgroup_mounts();
    host::reap_all();
    let before = MemInfo::read()?;

    let mut live: Vec<Live> = Vec::with_capacity(n as usize);
    let mut each_ms: Vec<f64> = Vec::with_capacity(n as usize);
    let mut error = None;
    let t0 = Instant::now();
    for i in 0..n {
        let id = format!("{tag}-{i}");
        let step = || -> Result<Live> {
            let _ = std::fs::remove_file(&pid_file);
            rt.create(&id, bundle, &pid_file)?;
            let pid = host::read_pid_file(&pid_file)?;
            let start_time = host::proc_stat(pid)
                .with_context(|| format!("{id}: init {pid} is gone after create"))?
                .start_time;
            rt.start(&id)?;
            Ok(Live {
                id: id.clone(),
                pid,
                start_time,
            })
        };
        let t = Instant::now();
        match step() {
            Ok(l) => {
                each_ms.push(t.elapsed().as_secs_f64() * 1e3);
                live.push(l);
            }
            Err(e) => {
                eprintln!("density: {} n={n}: container {i}: {e:#}", rt.name);
                error = Some(format!("container {i}: {e:#}"));
                break;
            }
        }
    }
    // Running means the container's process is busybox `sleep` by now.
    host::poll_until(DEADLINE, "every container running sleep", || {
        live.iter()
            .all(|l| host::comm(l.pid).as_deref() == Some("sleep"))
    })?;
    let secs = t0.elapsed().as_secs_f64();
    // Does a container cost more when many exist? The first and last tenth.
    let tenth = (each_ms.len() / 10).max(1).min(each_ms.len());
    let first_ms = brig_benches::median(&mut each_ms[..tenth].to_vec());
    let last_ms = brig_benches::median(&mut each_ms[each_ms.len() - tenth..].to_vec());
    host::reap_all();
    let after = MemInfo::read()?;
    let started = live.len() as u32;
    let per = |kib: i64| kib as f64 / f64::from(started.max(1));
    let taken = host::mem_taken(&before, &after);
    let kernel: i64 = ["Slab", "Percpu", "KernelStack", "PageTables"]
        .iter()
        .map(|f| taken[*f])
        .sum();
    let rt_procs = host::processes_of(&rt.bin);
    let runtime_rss_kib = rt_procs.iter().filter_map(|&p| host::rss_kib(p)).sum();
    let pss: i64 = live.iter().filter_map(|l| host::pss_kib(l.pid)).sum();
    let mut cgroup_dirs: Vec<PathBuf> = Vec::new();
    let mut per_container = 0;
    for (i, l) in live.iter().enumerate() {
        let dirs = host::cgroup_dirs_of(l.pid, &mounts);
        // Only the cgroups this container got, not the parents it shares.
        let own: Vec<PathBuf> = dirs
            .into_iter()
            .filter(|d| d.to_string_lossy().contains(&l.id))
            .collect();
        if i == 0 {
            per_container = own.len();
        }
        cgroup_dirs.extend(own);
    }
    let memcg: Vec<PathBuf> = cgroup_dirs
        .iter()
        .filter(|d| d.join("memory.usage_in_bytes").exists() || d.join("memory.current").exists())
        .cloned()
        .collect();
    let memcg_kib = memcg_usage_kib(&memcg);

    // Teardown: kill, wait, delete, one container after the other.
    let t1 = Instant::now();
    let mut steps = [Duration::ZERO; 3];
    for l in &live {
        let pidfd = PidFd::open(l.pid);
        steps[0] += rt.kill(&l.id, "KILL")?;
        let t = Instant::now();
        if let Ok(fd) = pidfd {
            fd.wait(DEADLINE)?;
        }
        steps[1] += t.elapsed();
        steps[2] += rt.delete(&l.id)?;
    }
    let teardown = t1.elapsed().as_secs_f64();
    host::reap_all();

    let mut leaks = Leaks {
        state_dirs: rt.state_dirs(),
        ..Leaks::default()
    };
    leaks.cgroups = cgroup_dirs.iter().filter(|d| d.exists()).cloned().collect();
    for d in host::cgroup_dirs_named(&tag, 4) {
        if !leaks.cgroups.contains(&d) {
            leaks.cgroups.push(d);
        }
    }
    leaks.container_processes = live
        .iter()
        .filter(|l| host::alive(l.pid, l.start_time))
        .map(|l| l.pid)
        .collect();
    leaks.runtime_processes = host::processes_of(&rt.bin);
    leaks.mounts = host::mounts_under(bundles.rootfs().parent().unwrap_or(bundles.rootfs()));
    let end = MemInfo::read()?;
    let _ = std::fs::remove_file(&pid_file);

    Ok(Result1 {
        runtime: rt.name.clone(),
        version: rt.version.clone(),
        n,
        error,
        started,
        secs_until_all_running: secs,
        containers_per_sec: f64::from(started) / secs,
        create_start_ms_first_tenth: first_ms,
        create_start_ms_last_tenth: last_ms,
        mem_available_kib_per_container: per(taken["MemAvailable"]),
        kernel_kib_per_container: per(kernel),
        meminfo_taken_kib: taken,
        runtime_processes: rt_procs.len(),
        runtime_rss_kib,
        container_pss_kib_per_container: per(pss),
        memcg_kib_per_container: memcg_kib.map(per),
        cgroup_dirs_per_container: per_container,
        teardown_secs: teardown,
        teardown_kill_wait_delete_secs: steps.map(|d| d.as_secs_f64()),
        mem_available_returned_kib: end.kib("MemAvailable") - before.kib("MemAvailable"),
        leaks,
    })
}

/// Waits (at most 90 s) until MemAvailable moved by less than 2 MiB over each
/// of 3 consecutive seconds. Returns the wait in seconds and the last drift.
fn settle() -> (f64, i64) {
    let t = Instant::now();
    let read = || MemInfo::read().map_or(0, |m| m.kib("MemAvailable"));
    let mut last = read();
    let mut calm = 0;
    let mut drift = 0;
    while calm < 3 && t.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_secs(1));
        host::reap_all();
        let now = read();
        drift = now - last;
        last = now;
        calm = if drift.abs() < 2048 { calm + 1 } else { 0 };
    }
    (t.elapsed().as_secs_f64(), drift)
}

fn table(results: &[Result1], notes: &[String]) -> String {
    let mut md = format!(
        "Machine: {}; {}. Command: `cargo build --release -p brig && cargo bench -p brig-benches --bench density -- --n {}`.\n\n",
        host::machine(),
        host::today(),
        {
            let mut ns: Vec<String> = results.iter().map(|r| r.n.to_string()).collect();
            ns.dedup();
            ns.join(",")
        }
    );
    for n in notes {
        md.push_str(&format!("- note: {n}\n"));
    }
    md.push_str(
        "\n| runtime | N | started | until all running | containers/s | create+start, first → last tenth | MemAvailable Δ per container | kernel Δ per container | container PSS | memcg usage per container | cgroup dirs each | runtime RSS resident | teardown (kill + wait + delete) | leaks |\n",
    );
    md.push_str(&"| --- ".repeat(14));
    md.push_str("|\n");
    for r in results {
        let leaks = if r.leaks.none() {
            "none".to_string()
        } else {
            format!(
                "{} state dirs, {} cgroups, {} container procs, {} runtime procs, {} mounts",
                r.leaks.state_dirs.len(),
                r.leaks.cgroups.len(),
                r.leaks.container_processes.len(),
                r.leaks.runtime_processes.len(),
                r.leaks.mounts.len()
            )
        };
        md.push_str(&format!(
            "| {} | {} | {}{} | {:.2} s | {:.1} | {:.1} → {:.1} ms | {:.0} KiB | {:.0} KiB | {:.0} KiB | {} | {} | {} KiB ({} procs) | {:.2} s ({:.2} + {:.2} + {:.2}) | {} |\n",
            r.runtime,
            r.n,
            r.started,
            if r.error.is_some() { " (error)" } else { "" },
            r.secs_until_all_running,
            r.containers_per_sec,
            r.create_start_ms_first_tenth,
            r.create_start_ms_last_tenth,
            r.mem_available_kib_per_container,
            r.kernel_kib_per_container,
            r.container_pss_kib_per_container,
            r.memcg_kib_per_container
                .map_or("-".into(), |v| format!("{v:.0} KiB")),
            r.cgroup_dirs_per_container,
            r.runtime_rss_kib,
            r.runtime_processes,
            r.teardown_secs,
            r.teardown_kill_wait_delete_secs[0],
            r.teardown_kill_wait_delete_secs[1],
            r.teardown_kill_wait_delete_secs[2],
            leaks
        ));
    }
    for r in results.iter().filter(|r| r.error.is_some()) {
        md.push_str(&format!(
            "\n- {} n={}: {}\n",
            r.runtime,
            r.n,
            r.error.as_deref().unwrap_or("")
        ));
    }
    md
}

fn main() -> Result<()> {
    let args = parse_args()?;
    brig_benches::require_root()?;
    host::become_subreaper()?;
    let bundles = Bundles::new()?;
    let smoke = bundles.bundle("smoke", Config::Base, &["/bin/true"])?;
    let idle = bundles.bundle("idle", Config::Base, &["/bin/sleep", "1000000"])?;
    let (runtimes, mut notes) = runtime::discover(&smoke.dir);
    if runtimes.is_empty() {
        bail!("no runtime to bench");
    }
    notes.push(format!(
        "load average (1 / 5 / 15 min) at the start: {}",
        host::load_average()
    ));
    let mut results = Vec::new();
    settle();
    for &n in &args.ns {
        for rt in &runtimes {
            eprintln!("density: {} n={n} ...", rt.name);
            match one(rt, &bundles, &idle.dir, n) {
                Ok(r) => {
                    eprintln!(
                        "density: {} n={n}: {:.2} s until all running, {:.0} KiB MemAvailable per container, teardown {:.2} s, leaks: {}",
                        rt.name,
                        r.secs_until_all_running,
                        r.mem_available_kib_per_container,
                        r.teardown_secs,
                        if r.leaks.none() { "none" } else { "SOME" }
                    );
                    results.push(r);
                }
                Err(e) => {
                    eprintln!("density: {} n={n}: failed: {e:#}", rt.name);
                    rt.cleanup();
                }
            }
            // The kernel frees much of a torn-down container later (RCU, dying
            // memory cgroups); left unsettled, that would be credited to the
            // next runtime. Wait until MemAvailable holds still.
            let (waited, drift) = settle();
            eprintln!("density: settled after {waited:.0} s (MemAvailable drift {drift} KiB/s)");
        }
    }
    notes.push(format!(
        "load average (1 / 5 / 15 min) at the end: {}",
        host::load_average()
    ));
    let out = runtime::out_dir();
    let md = table(&results, &notes);
    println!("\n{md}");
    std::fs::write(out.join("density.md"), &md)?;
    std::fs::write(
        out.join("density.json"),
        serde_json::to_vec_pretty(&serde_json::json!({
            "machine": host::machine(),
            "date": host::today(),
            "notes": notes,
            "results": results,
        }))?,
    )?;
    let series: Vec<Series> = runtimes
        .iter()
        .map(|rt| Series {
            runtime: rt.name.clone(),
            points: results
                .iter()
                .filter(|r| r.runtime == rt.name && r.error.is_none())
                .map(|r| plot::Point {
                    n: r.n,
                    secs_until_all_running: r.secs_until_all_running,
                    mem_available_kib_per_container: r.mem_available_kib_per_container,
                    kernel_kib_per_container: r.kernel_kib_per_container,
                })
                .collect(),
        })
        .collect();
    let svg = out.join("density.svg");
    plot::density_svg(
        &svg,
        &format!("idle busybox containers, {}", host::machine()),
        &series,
    )?;
    eprintln!("density: wrote {}/density.{{md,json,svg}}", out.display());
    if results.iter().any(|r| !r.leaks.none()) {
        bail!("some runtime leaked (see the table)");
    }
    Ok(())
}
