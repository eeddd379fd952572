//! Resource control on the real kernel: each test sets a limit and watches the
//! kernel enforce it, through the cgroup's own files and counters. The
//! container's cgroup directories are found from /proc/<init>/cgroup and the
//! host's mounts, never from hard-coded paths, so these run on any layout.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use brig_cgroups::{detect_layout, parse_proc_cgroup, Layout};
use common::*;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(30);

/// Poll `f` until it gives a value, failing the test after `DEADLINE`.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait for a child with a deadline.
fn wait_child(child: &mut Child, what: &str) -> ExitStatus {
    wait_for(what, || child.try_wait().unwrap())
}

fn init_pid(bed: &Bed, id: &str) -> i32 {
    let pid = bed.state(id)["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0, "{id} has no init");
    pid
}

/// Every cgroup directory of `pid`: one per mounted v1 hierarchy it is in
/// below the root, and its cgroup2 directory.
fn cgroup_dirs(pid: i32) -> Vec<(Vec<String>, PathBuf)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let entries = parse_proc_cgroup(&text).unwrap();
    let (v1, unified) = match detect_layout().unwrap() {
        Layout::Unified { root } => (Vec::new(), Some(root)),
        Layout::Hybrid { v1, unified } => (v1, Some(unified)),
        Layout::Legacy { v1 } => (v1, None),
    };
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.path != "/") {
        let rel = e.path.trim_start_matches('/');
        if e.hierarchy_id == 0 {
            if let Some(u) = &unified {
                out.push((vec!["unified".to_string()], u.join(rel)));
            }
        } else if let Some(m) = v1.iter().find(|m| m.controllers == e.controllers) {
            out.push((e.controllers.clone(), m.mount_point.join(rel)));
        }
    }
    out
}

/// The directory whose files control `controller` for `pid`: its v1
/// hierarchy, else its cgroup2 directory.
fn cgroup_dir(pid: i32, controller: &str) -> PathBuf {
    let dirs = cgroup_dirs(pid);
    if let Some((_, d)) = dirs.iter().find(|(c, _)| c.iter().any(|c| c == controller)) {
        return d.clone();
    }
    dirs.into_iter()
        .find(|(c, _)| c[0] == "unified")
        .map(|(_, d)| d)
        .unwrap_or_else(|| panic!("pid {pid} has no cgroup for {controller}"))
}

fn read(dir: &Path, file: &str) -> String {
    let p = dir.join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

/// The memory limit in bytes; None when unlimited.
fn memory_limit(dir: &Path) -> Option<u64> {
    let v = if dir.join("memory.limit_in_bytes").exists() {
        read(dir, "memory.limit_in_bytes")
    } else {
        read(dir, "memory.max")
    };
    match v.as_str() {
        "max" => None,
        // v1's unlimited is PAGE_COUNTER_MAX pages, about 2^63.
        n => Some(n.parse::<u64>().unwrap()).filter(|&n| n < 1 << 62),
    }
}

/// (quota, period) in µs; quota None when unlimited.
fn cpu_max(dir: &Path) -> (Option<i64>, u64) {
    if dir.join("cpu.cfs_quota_us").exists() {
        let q: i64 = read(dir, "cpu.cfs_quota_us").parse().unwrap();
        let p = read(dir, "cpu.cfs_period_us").parse().unwrap();
        ((q >= 0).then_some(q), p)
    } else {
        let v = read(dir, "cpu.max");
        let (q, p) = v.split_once(' ').unwrap();
        (q.parse().ok(), p.parse().unwrap())
    }
}

fn oom_kills(dir: &Path) -> u64 {
    let file = if dir.join("memory.oom_control").exists() {
        "memory.oom_control"
    } else {
        "memory.events"
    };
    keyed(&read(dir, file), "oom_kill").unwrap_or(0)
}

/// Whether `pid` runs: it exists and is not a zombie waiting for its reaper
/// (the host's pid 1 reaps orphans when it gets to it).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !matches!(
            s[s.rfind(')').unwrap() + 2..].chars().next(),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

/// The line of /proc/<pid>/status for `key`, without the key.
fn proc_status(pid: i32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

/// A running `brig events`, its stdout read line by line in a thread.
struct Events {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Events {
    fn spawn(bed: &Bed, args: &[&str]) -> Events {
        let mut child = bed
            .command(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(bed.tmp.path().join("events.err")).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { return };
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Events { child, lines }
    }

    /// The next line as JSON; None at end of output.
    fn next(&self, what: &str) -> Option<Value> {
        match self.lines.recv_timeout(DEADLINE) {
            Ok(l) => Some(serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l}: {e}"))),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no events line for {what}"),
        }
    }

    /// Every line up to the end, and the exit status.
    fn finish(mut self, what: &str) -> (Vec<Value>, ExitStatus) {
        let mut all = Vec::new();
        while let Some(v) = self.next(what) {
            all.push(v);
        }
        let status = wait_child(&mut self.child, what);
        (all, status)
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write a line to a fifo the container reads, once the container has it open.
fn release(fifo: &Path) {
    let mut f = wait_for("the container to open its fifo", || {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .ok()
    });
    f.write_all(b"go\n").unwrap();
}

#[test]
fn memory_oom_kills_the_container_not_its_sibling_and_events_reports_it() {
    if skip_without_root() {
        return;
    }
    let sib = Bed::new(&["sleep", "1000"]);
    let sib_id = unique_id("oom-sib");
    ok(&sib.create(&sib_id));
    ok(&sib.brig(&["start", &sib_id]));
    let sib_pid = init_pid(&sib, &sib_id);

    // dd fills a 256 MiB buffer from /dev/zero: every page is touched and
    // charged to a cgroup limited to 32 MiB. It waits on a fifo first, so
    // that `events` is watching before the allocation starts.
    let mut bed = Bed::new(&[
        "sh",
        "-c",
        "read x < /go; exec dd if=/dev/zero of=/dev/null bs=256M count=1",
    ]);
    bed.config["linux"]["resources"]["memory"] = json!({"limit": 32 << 20});
    let fifo = bed.bundle.join("rootfs/go");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    bed.write_config();
    let id = unique_id("oom");
    bed.track(&id);
    let log = |n: &str| std::fs::File::create(bed.tmp.path().join(n)).unwrap();
    let mut run = bed
        .command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id])
        .stdout(log("run.out"))
        .stderr(log("run.err"))
        .spawn()
        .unwrap();
    bed.wait_status(&id, "running");
    let mem = cgroup_dir(init_pid(&bed, &id), "memory");
    assert_eq!(memory_limit(&mem), Some(32 << 20));

    let events = Events::spawn(&bed, &["events", "--interval", "100ms", &id]);
    // The first stats line: the OOM watcher is registered by now.
    let first = events
        .next("the first stats")
        .expect("events ended at once");
    assert_eq!(first["type"], "stats", "{first}");
    assert_eq!(first["id"], id.as_str());

    release(&fifo);
    let status = wait_child(&mut run, "run to end");
    let err = std::fs::read_to_string(bed.tmp.path().join("run.err")).unwrap();
    assert_eq!(status.code(), Some(137), "run: {status:?}, stderr: {err}");
    assert!(err.is_empty(), "brig run complained: {err}");

    // The events stream saw the kill, and ended with the container.
    let (lines, ev_status) = events.finish("events to end with the container");
    assert!(ev_status.success(), "events: {ev_status:?}");
    let oom = json!({"type": "oom", "id": id});
    assert!(lines.contains(&oom), "no oom event in {lines:?}");
    for l in &lines {
        assert!(l == &oom || l["type"] == "stats", "unexpected event {l}");
    }

    // The sibling runs on, and brig still works.
    assert_eq!(sib.status(&sib_id), "running");
    assert!(alive(sib_pid));

    // Without `run`, the OOM-killed container is left stopped, and the
    // kernel's counter in its cgroup says why.
    bed.config["process"]["args"] = json!(["dd", "if=/dev/zero", "of=/dev/null", "bs=256M"]);
    let id2 = unique_id("oom");
    ok(&bed.create(&id2));
    let mem = cgroup_dir(init_pid(&bed, &id2), "memory");
    assert_eq!(oom_kills(&mem), 0);
    ok(&bed.brig(&["start", &id2]));
    bed.wait_status(&id2, "stopped");
    assert!(
        oom_kills(&mem) >= 1,
        "no oom_kill counted in {}",
        mem.display()
    );
    ok(&bed.brig(&["delete", &id2]));
    assert!(!mem.exists());
    assert_eq!(sib.status(&sib_id), "running");
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    if skip_without_root() {
        return;
    }
    // The inner shell forks until the kernel refuses; the init survives to
    // report it and then waits.
    let mut bed = Bed::new(&[
        "sh",
        "-c",
        "exec 2>&1; sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 1000 & done'; \
         echo inner=$?; exec sleep 1000",
    ]);
    bed.config["linux"]["resources"]["pids"] = json!({"limit": 6});
    let id = unique_id("pids");
    ok(&bed.create(&id));
    let dir = cgroup_dir(init_pid(&bed, &id), "pids");
    assert_eq!(read(&dir, "pids.max"), "6");
    ok(&bed.brig(&["start", &id]));
    let out = wait_for("the fork loop to end", || {
        let o = bed.container_output(&id);
        o.contains("inner=").then_some(o)
    });
    assert!(out.contains("can't fork"), "no fork failure in {out:?}");
    assert!(!out.contains("inner=0"), "{out:?}");
    // The kernel's word: it refused forks at pids.max, and never went over.
    let events = read(&dir, "pids.events");
    assert!(
        keyed(&events, "max").unwrap_or(0) >= 1,
        "pids.events: {events}"
    );
    let current: u64 = read(&dir, "pids.current").parse().unwrap();
    assert!((1..=6).contains(&current), "pids.current {current}");
    let stats: Value = serde_json::from_str(&ok(&bed.brig(&["events", "--stats", &id]))).unwrap();
    assert_eq!(stats["data"]["pids"]["limit"], 6);
}

#[test]
fn cpu_quota_throttles_a_busy_loop() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sh", "-c", "while :; do :; done"]);
    bed.config["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000});
    let id = unique_id("cpu");
    ok(&bed.create(&id));
    let dir = cgroup_dir(init_pid(&bed, &id), "cpu");
    assert_eq!(cpu_max(&dir), (Some(50000), 100000));
    ok(&bed.brig(&["start", &id]));
    // Half a CPU for a loop that wants a whole one: the scheduler throttles it
    // in (nearly) every period. Counted by the cgroup, not by the clock.
    let throttled = wait_for("cpu.stat nr_throttled to rise", || {
        keyed(&read(&dir, "cpu.stat"), "nr_throttled").filter(|&n| n >= 2)
    });
    assert!(throttled >= 2);
    let stats: Value = serde_json::from_str(&ok(&bed.brig(&["events", "--stats", &id]))).unwrap();
    let t = &stats["data"]["cpu"]["throttling"];
    assert!(t["throttledPeriods"].as_u64().unwrap_or(0) >= 2, "{t}");
    assert!(t["throttledTime"].as_u64().unwrap_or(0) > 0, "{t}");
    ok(&bed.brig(&["delete", "--force", &id]));
}

#[test]
fn cpuset_pins_the_container() {
    if skip_without_root() {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let last = (cpus - 1).to_string();
    for pin in ["0", last.as_str()] {
        let mut bed = Bed::new(&[
            "sh",
            "-c",
            "grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status",
        ]);
        bed.config["linux"]["resources"]["cpu"] = json!({"cpus": pin, "mems": "0"});
        let out = ok(&bed.run(&unique_id("cpuset")));
        assert!(
            out.contains(&format!("Cpus_allowed_list:\t{pin}\n")),
            "pinned to {pin}: {out}"
        );
        assert!(out.contains("Mems_allowed_list:\t0\n"), "{out}");
    }
}

#[test]
fn update_raises_and_lowers_limits_of_a_running_container() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sleep", "1000"]);
    bed.config["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    bed.config["linux"]["resources"]["pids"] = json!({"limit": 100});
    let id = unique_id("upd");
    ok(&bed.create(&id));
    // A created container can be updated already.
    ok(&bed.brig(&["update", "--pids-limit", "90", &id]));
    ok(&bed.brig(&["start", &id]));
    let pid = init_pid(&bed, &id);
    let mem = cgroup_dir(pid, "memory");
    let pids = cgroup_dir(pid, "pids");
    let cpu = cgroup_dir(pid, "cpu");
    assert_eq!(read(&pids, "pids.max"), "90");
    assert_eq!(memory_limit(&mem), Some(64 << 20));

    ok(&bed.brig(&["update", "--memory", "128m", &id]));
    assert_eq!(memory_limit(&mem), Some(128 << 20));
    ok(&bed.brig(&["update", "--memory", "32M", &id]));
    assert_eq!(memory_limit(&mem), Some(32 << 20));
    ok(&bed.brig(&["update", "--memory", "-1", &id]));
    assert_eq!(memory_limit(&mem), None);
    ok(&bed.brig(&["update", "--memory=48m", "--memory-swap=-1", &id]));
    assert_eq!(memory_limit(&mem), Some(48 << 20));

    ok(&bed.brig(&["update", "--pids-limit", "50", &id]));
    assert_eq!(read(&pids, "pids.max"), "50");
    ok(&bed.brig(&["update", "--pids-limit", "-1", &id]));
    assert_eq!(read(&pids, "pids.max"), "max");

    ok(&bed.brig(&[
        "update",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "50000",
        &id,
    ]));
    assert_eq!(cpu_max(&cpu), (Some(20000), 50000));
    ok(&bed.brig(&["update", "--cpu-quota", "-1", &id]));
    assert_eq!(cpu_max(&cpu), (None, 50000));
    ok(&bed.brig(&["update", "--cpu-shares", "512", &id]));
    if cpu.join("cpu.shares").exists() {
        assert_eq!(read(&cpu, "cpu.shares"), "512");
    } else {
        let want = brig_cgroups::shares_to_weight(512).to_string();
        assert_eq!(read(&cpu, "cpu.weight"), want);
    }

    // A cpuset change moves the running process.
    ok(&bed.brig(&["update", "--cpuset-cpus", "0", &id]));
    assert_eq!(proc_status(pid, "Cpus_allowed_list"), "0");

    // -r FILE and -r - (stdin), as containerd sends them.
    let file = bed.tmp.path().join("resources.json");
    std::fs::write(
        &file,
        json!({"memory": {"limit": 100 << 20}, "pids": {"limit": 20}}).to_string(),
    )
    .unwrap();
    ok(&bed.brig(&["update", "-r", file.to_str().unwrap(), &id]));
    assert_eq!(memory_limit(&mem), Some(100 << 20));
    assert_eq!(read(&pids, "pids.max"), "20");
    let mut child = bed
        .command(&["update", "--resources", "-", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            json!({"memory": {"limit": 90 << 20}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    ok(&child.wait_with_output().unwrap());
    assert_eq!(memory_limit(&mem), Some(90 << 20));
    // pids.limit 0 in a file leaves the limit as it is (runc's reading).
    std::fs::write(&file, json!({"pids": {"limit": 0}}).to_string()).unwrap();
    ok(&bed.brig(&["update", "-r", file.to_str().unwrap(), &id]));
    assert_eq!(read(&pids, "pids.max"), "20");

    // A paused container can be updated too.
    ok(&bed.brig(&["pause", &id]));
    ok(&bed.brig(&["update", "--memory", "80m", &id]));
    assert_eq!(memory_limit(&mem), Some(80 << 20));
    ok(&bed.brig(&["resume", &id]));
    assert_eq!(bed.status(&id), "running");

    // Not a stopped one.
    ok(&bed.brig(&["kill", &id, "KILL"]));
    bed.wait_status(&id, "stopped");
    fails_with(
        &bed.brig(&["update", "--memory", "64m", &id]),
        "only a created, running or paused container can be updated",
    );
    fails_with(
        &bed.brig(&["update", "--memory", "64m", "no-such-container"]),
        "does not exist",
    );
}

#[test]
fn invalid_updates_name_the_flag_and_change_nothing() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sleep", "1000"]);
    bed.config["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    bed.config["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000});
    bed.config["linux"]["resources"]["pids"] = json!({"limit": 100});
    let id = unique_id("badupd");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    let pid = init_pid(&bed, &id);
    let mem = cgroup_dir(pid, "memory");
    let cpu = cgroup_dir(pid, "cpu");
    let pids = cgroup_dir(pid, "pids");
    let cpuset = cgroup_dir(pid, "cpuset");
    let cpus_before = read(&cpuset, "cpuset.cpus");
    let unchanged = || {
        assert_eq!(memory_limit(&mem), Some(64 << 20));
        assert_eq!(cpu_max(&cpu), (Some(50000), 100000));
        assert_eq!(read(&pids, "pids.max"), "100");
        assert_eq!(read(&cpuset, "cpuset.cpus"), cpus_before);
    };

    let missing = bed.tmp.path().join("missing.json");
    let devices = bed.tmp.path().join("devices.json");
    std::fs::write(
        &devices,
        json!({"memory": {"limit": 128 << 20}, "devices": [{"allow": false, "access": "rwm"}]})
            .to_string(),
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--memory", "12x"], "--memory"),
        (vec!["--memory", "0"], "--memory"),
        // Valid memory, invalid quota: the memory limit must not change.
        (vec!["--memory", "128m", "--cpu-quota", "10"], "--cpu-quota"),
        (vec!["--cpu-period", "10"], "--cpu-period"),
        (vec!["--cpu-share", "1"], "--cpu-share"),
        (
            vec!["--memory", "1g", "--memory-swap", "512m"],
            "--memory-swap",
        ),
        // A valid --kernel-memory is ignored with a warning (runc); a bad size is not.
        (vec!["--kernel-memory", "12x"], "--kernel-memory"),
        (
            vec!["--memory", "128m", "--cpuset-cpus", "3-1"],
            "--cpuset-cpus",
        ),
        (vec!["--cpuset-mems", "x"], "--cpuset-mems"),
        (vec!["--pids-limit", "0"], "--pids-limit"),
        (vec!["--pids-limit", "many"], "--pids-limit"),
        (vec!["--blkio-weight", "5"], "--blkio-weight"),
        // Valid syntax the kernel refuses (no such cpu): cpus go first, so
        // the memory limit is still untouched.
        (
            vec!["--memory", "128m", "--cpuset-cpus", "1000"],
            "--cpuset-cpus",
        ),
        (vec!["-r", missing.to_str().unwrap()], "--resources"),
        (
            vec!["-r", devices.to_str().unwrap()],
            "linux.resources.devices",
        ),
        (vec![], "nothing to update"),
    ];
    for (args, needle) in cases {
        let mut argv = vec!["update"];
        argv.extend(&args);
        argv.push(&id);
        let out = bed.brig(&argv);
        fails_with(&out, needle);
        unchanged();
    }
    assert_eq!(bed.status(&id), "running");
}

#[test]
fn events_stats_and_the_stream_ending_with_the_container() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "sleep 1000 & exec sleep 1000"]);
    let id = unique_id("ev");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));

    let stats = wait_for("both processes", || {
        let out = ok(&bed.brig(&["events", "--stats", &id]));
        assert_eq!(out.lines().count(), 1, "one line: {out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        (v["data"]["pids"]["current"].as_u64() >= Some(2)).then_some(v)
    });
    assert_eq!(stats["type"], "stats");
    assert_eq!(stats["id"], id.as_str());
    let data = &stats["data"];
    assert!(
        data["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{data}"
    );
    assert!(data["cpu"]["usage"].is_object(), "{data}");
    assert!(
        data["blkio"].is_object() && data["hugetlb"].is_object(),
        "{data}"
    );

    fails_with(
        &bed.brig(&["events", "--interval", "0s", &id]),
        "--interval",
    );
    fails_with(
        &bed.brig(&["events", "--interval", "5x", &id]),
        "--interval",
    );

    // A reader that stops reading ends the stream, quietly.
    let mut head = bed
        .command(&["events", "--interval", "20ms", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(head.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with(r#"{"type":"stats""#), "{first}");
    let status = wait_child(&mut head, "events to see its reader gone");
    assert!(status.success(), "events after its reader left: {status:?}");

    // A stream of stats that ends when the container does.
    let events = Events::spawn(&bed, &["events", "--interval", "50ms", &id]);
    for _ in 0..2 {
        let v = events.next("a stats line").expect("events ended early");
        assert_eq!(v["type"], "stats", "{v}");
        assert!(v["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{v}");
    }
    ok(&bed.brig(&["kill", &id, "KILL"]));
    let (lines, status) = events.finish("events to end with the container");
    assert!(status.success(), "events: {status:?}");
    assert!(lines.iter().all(|l| l["type"] == "stats"), "{lines:?}");

    bed.wait_status(&id, "stopped");
    fails_with(&bed.brig(&["events", "--stats", &id]), "stopped");
    fails_with(&bed.brig(&["events", &id]), "stopped");
    fails_with(&bed.brig(&["events", "--stats", "nope"]), "does not exist");
}

#[test]
fn pause_stops_a_counter_and_resume_restarts_it() {
    if skip_without_root() {
        return;
    }
    let counter = "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; done";
    let paused = Bed::new(&["sh", "-c", counter]);
    let running = Bed::new(&["sh", "-c", counter]);
    let (p_id, r_id) = (unique_id("frozen"), unique_id("counting"));
    for (bed, id) in [(&paused, &p_id), (&running, &r_id)] {
        ok(&bed.create(id));
        ok(&bed.brig(&["start", id]));
    }
    let count = |bed: &Bed| -> Option<u64> {
        std::fs::read_to_string(bed.bundle.join("rootfs/tmp/n"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    wait_for("the counter to start", || count(&paused));
    ok(&paused.brig(&["pause", &p_id]));
    let freezer = cgroup_dir(init_pid(&paused, &p_id), "freezer");
    let frozen_text = std::fs::read_to_string(paused.bundle.join("rootfs/tmp/n")).unwrap();
    // While a sibling counts on by a good margin, the paused one stays put.
    let start = wait_for("the running counter", || count(&running));
    wait_for("the running counter to advance", || {
        count(&running).filter(|&n| n >= start + 2000)
    });
    assert_eq!(
        std::fs::read_to_string(paused.bundle.join("rootfs/tmp/n")).unwrap(),
        frozen_text,
        "the paused counter moved"
    );
    if freezer.join("freezer.state").exists() {
        assert_eq!(read(&freezer, "freezer.state"), "FROZEN");
    } else {
        assert_eq!(read(&freezer, "cgroup.freeze"), "1");
    }
    ok(&paused.brig(&["resume", &p_id]));
    let frozen_at = frozen_text.trim().parse::<u64>().unwrap_or(0);
    wait_for("the resumed counter to advance", || {
        count(&paused).filter(|&n| n > frozen_at + 100)
    });
}

#[test]
fn delete_force_of_a_paused_container_leaves_no_cgroup() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "sleep 1000 & exec sleep 1000"]);
    let id = unique_id("pdel");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    let pid = init_pid(&bed, &id);
    let dirs = cgroup_dirs(pid);
    assert!(!dirs.is_empty());
    ok(&bed.brig(&["pause", &id]));
    assert_eq!(bed.status(&id), "paused");
    ok(&bed.brig(&["delete", "--force", &id]));
    for (c, d) in &dirs {
        assert!(!d.exists(), "{c:?} cgroup {} left behind", d.display());
    }
    assert!(!alive(pid), "init {pid} lives on");
    fails_with(&bed.brig(&["state", &id]), "does not exist");
}

/// Give the container's cgroup a child in every hierarchy and put a host
/// process (outside the container's pid namespace) in it.
fn nest_a_host_process(dirs: &[(Vec<String>, PathBuf)]) -> mpsc::Receiver<ExitStatus> {
    let mut child = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let pid = child.id();
    for (controllers, d) in dirs {
        let sub = d.join("nested");
        std::fs::create_dir(&sub).unwrap();
        if controllers.iter().any(|c| c == "cpuset") {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                std::fs::write(sub.join(f), read(d, f)).unwrap();
            }
        }
        std::fs::write(sub.join("cgroup.procs"), pid.to_string()).unwrap();
    }
    // Reaped at once when killed, so no zombie lingers.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().unwrap());
    });
    rx
}

#[test]
fn delete_removes_child_cgroups_and_their_processes() {
    if skip_without_root() {
        return;
    }
    for force in [true, false] {
        let bed = Bed::new(&["sleep", "1000"]);
        let id = unique_id("nest");
        ok(&bed.create(&id));
        ok(&bed.brig(&["start", &id]));
        let dirs = cgroup_dirs(init_pid(&bed, &id));
        let host = nest_a_host_process(&dirs);
        if force {
            ok(&bed.brig(&["delete", "--force", &id]));
        } else {
            // The init dies; the nested process, outside its pid namespace,
            // does not. A plain delete of the stopped container ends it.
            ok(&bed.brig(&["kill", &id, "KILL"]));
            bed.wait_status(&id, "stopped");
            assert!(host.try_recv().is_err(), "the nested process died early");
            ok(&bed.brig(&["delete", &id]));
        }
        let status = host
            .recv_timeout(DEADLINE)
            .expect("the nested host process outlived delete");
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
        for (c, d) in &dirs {
            assert!(!d.exists(), "{c:?} cgroup {} left behind", d.display());
        }
        assert!(!bed.root.join(&id).exists());
    }
}
