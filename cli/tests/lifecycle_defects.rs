//! Regression tests for lifecycle defects that engines (containerd, podman,
//! CRI) and other runtimes' tests found: each one failed before its fix.

mod common;

use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A stopped container: plain `kill` fails with runc's words and exit code 1,
/// which containerd's shim reads as "already gone"; `kill --all` succeeds.
#[test]
fn kill_of_a_stopped_container_answers_as_runc() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["true"]);
    let id = unique_id("lifed-killstop");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    bed.wait_status(&id, "stopped");
    for sig in ["KILL", "TERM", "0"] {
        let out = bed.brig(&["kill", &id, sig]);
        assert_eq!(out.status.code(), Some(1), "kill {sig}: {}", stderr(&out));
        fails_with(&out, "container not running");
        ok(&bed.brig(&["kill", "--all", &id, sig]));
        ok(&bed.brig(&["kill", "-a", &id, sig]));
    }
    // Still there, still stopped: the kills changed nothing.
    assert_eq!(bed.status(&id), "stopped");
    // An id that does not exist is an error to both forms.
    fails_with(
        &bed.brig(&["kill", "--all", "lifed-nosuch"]),
        "does not exist",
    );
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

/// `kill ID 0` is the liveness probe: success while the init lives; every
/// spelling of a signal runc accepts works, and a few more (RTMIN+N).
#[test]
fn kill_zero_probes_and_every_runc_signal_spelling_works() {
    if skip_without_root() {
        return;
    }
    // PID 1 ignores signals it has no handler for: none of these kill it.
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("lifed-kill0");
    ok(&bed.create(&id));
    ok(&bed.brig(&["kill", &id, "0"]));
    ok(&bed.brig(&["start", &id]));
    for sig in [
        "0",
        "CONT",
        "cont",
        "SIGCONT",
        "sigcont",
        "18",
        "34",
        "64",
        "RTMIN+3",
        "SIGRTMIN+3",
        "rtmax-1",
        "RTMIN",
        "",
    ] {
        let out = bed.brig(&["kill", &id, sig]);
        assert!(out.status.success(), "kill {sig:?}: {}", stderr(&out));
    }
    for (sig, needle) in [
        ("SIG0", "unknown signal"),
        ("KILL0", "unknown signal"),
        ("foo", "unknown signal"),
        ("65", "no such signal number"),
        ("RTMIN+40", "real-time"),
    ] {
        let out = bed.brig(&["kill", &id, sig]);
        assert_eq!(out.status.code(), Some(1), "kill {sig}: {}", stderr(&out));
        fails_with(&out, needle);
        assert!(stderr(&out).contains(sig), "kill {sig}: {}", stderr(&out));
    }
    assert_eq!(bed.status(&id), "running");
    ok(&bed.brig(&["kill", &id, "KILL"]));
    bed.wait_status(&id, "stopped");
    fails_with(&bed.brig(&["kill", &id, "0"]), "container not running");
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

/// The start race: the init is let go when `start` opens the exec fifo; under
/// load it can exec, exit and be reaped before `start` goes on. The failpoint
/// waits right there until the init is reaped. `start` must then succeed (the
/// program ran), and the container be stopped, not fail with
/// "exec.fifo: No such process" (what containerd saw in 6 of 70 runs).
#[test]
fn start_of_a_container_that_exits_at_once_succeeds() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "echo ran; exit 3"]);
    let id = unique_id("lifed-race");
    ok(&bed.create(&id));
    let pid = bed.state(&id)["pid"].as_i64().unwrap() as i32;
    let out = bed
        .command(&["start", &id])
        .env(brig_runtime::failpoint::ENV, "start.wait-init-reaped")
        .output()
        .unwrap();
    assert!(out.status.success(), "start: {}", stderr(&out));
    // The failpoint did widen the window: the init is gone (reaped) by now.
    // SAFETY: kill(2) with signal 0 only probes.
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "init {pid} still exists");
    assert_eq!(bed.status(&id), "stopped");
    assert_eq!(bed.container_output(&id), "ran\n");
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

/// A cgroup the test makes by hand (in the hierarchies given), thawed,
/// emptied and removed however the test ends.
struct HandCgroup {
    dirs: Vec<std::path::PathBuf>,
    procs: Vec<std::process::Child>,
}

impl HandCgroup {
    fn new(name: &str, hierarchies: &[&str]) -> HandCgroup {
        let dirs: Vec<_> = hierarchies
            .iter()
            .map(|h| std::path::Path::new("/sys/fs/cgroup").join(h).join(name))
            .collect();
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        HandCgroup {
            dirs,
            procs: Vec::new(),
        }
    }
}

impl Drop for HandCgroup {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
            let _ = std::fs::write(d.join("cgroup.freeze"), "0");
        }
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for d in self.dirs.iter().rev() {
            // Children first (a frozen-parent test makes one below).
            if let Ok(rd) = std::fs::read_dir(d) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// `run` with `linux.cgroupsPath` set; it must end (with a refusal) within a
/// deadline: before the fix it hung for ever on a frozen cgroup.
fn run_refused_in(bed: &mut Bed, id: &str, cgroups_path: &str, needle: &str) {
    bed.config["linux"]["cgroupsPath"] = serde_json::json!(cgroups_path);
    bed.write_config();
    bed.track(id);
    let mut child = bed
        .command(&["run", "--bundle", bed.bundle.to_str().unwrap(), id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("run {id} in {cgroups_path}: still waiting after 20 s (hangs)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "run: {}", stderr(&out));
    fails_with(&out, needle);
    fails_with(&out, "linux.cgroupsPath");
    // Nothing left: no state, and no cgroup brig would have made.
    assert!(!bed.root.join(id).exists(), "state dir of {id} left");
    let rel = cgroups_path.trim_start_matches('/');
    for h in ["memory", "pids", "devices", "cpu"] {
        let d = std::path::Path::new("/sys/fs/cgroup").join(h).join(rel);
        assert!(!d.exists(), "{} made", d.display());
    }
}

#[test]
fn a_frozen_v1_cgroup_is_refused_at_once() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    let name = format!("lifed-fz1-{}", std::process::id());
    let cg = HandCgroup::new(&name, &["freezer"]);
    std::fs::write(cg.dirs[0].join("freezer.state"), "FROZEN").unwrap();
    run_refused_in(
        &mut bed,
        &unique_id("lifed-fz1"),
        &format!("/{name}"),
        "unexpectedly frozen",
    );
    // Under a frozen parent, too (the child cgroup does not exist yet).
    run_refused_in(
        &mut bed,
        &unique_id("lifed-fz1c"),
        &format!("/{name}/child"),
        "unexpectedly frozen",
    );
    // Under a cgroup that is frozen because its parent is (its own state
    // says so only through freezer.parent_freezing).
    struct Rmdir(std::path::PathBuf);
    impl Drop for Rmdir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let mid = Rmdir(cg.dirs[0].join("mid"));
    std::fs::create_dir(&mid.0).unwrap();
    run_refused_in(
        &mut bed,
        &unique_id("lifed-fz1m"),
        &format!("/{name}/mid/child"),
        "unexpectedly frozen",
    );
    drop(mid);
    // The cgroup the test made is still there, untouched: brig did not destroy it.
    assert!(cg.dirs[0].exists());
    assert_eq!(
        std::fs::read_to_string(cg.dirs[0].join("freezer.state"))
            .unwrap()
            .trim(),
        "FROZEN"
    );
}

#[test]
fn a_frozen_cgroup2_cgroup_is_refused_at_once() {
    if skip_without_root() {
        return;
    }
    // The cgroup2 side of this hybrid host (or the whole tree on a v2 host).
    let unified = if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        "unified"
    } else {
        ""
    };
    let mut bed = Bed::new(&["true"]);
    let name = format!("lifed-fz2-{}", std::process::id());
    let cg = HandCgroup::new(&name, &[unified]);
    std::fs::write(cg.dirs[0].join("cgroup.freeze"), "1").unwrap();
    run_refused_in(
        &mut bed,
        &unique_id("lifed-fz2"),
        &format!("/{name}"),
        "unexpectedly frozen",
    );
    assert!(cg.dirs[0].exists());
}

#[test]
fn a_cgroup_that_already_has_processes_is_refused() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    let name = format!("lifed-busy-{}", std::process::id());
    let mut cg = HandCgroup::new(&name, &["freezer"]);
    let sleeper = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let pid = sleeper.id();
    cg.procs.push(sleeper);
    std::fs::write(cg.dirs[0].join("cgroup.procs"), pid.to_string()).unwrap();
    run_refused_in(
        &mut bed,
        &unique_id("lifed-busy"),
        &format!("/{name}"),
        "not empty",
    );
    // The process that was there is untouched.
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let procs = std::fs::read_to_string(cg.dirs[0].join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "{procs}"
    );
}

/// `ps` as runc: ps(1)'s table filtered to the container's processes, the
/// arguments passed through, and an empty answer for a stopped container.
#[test]
fn ps_formats_and_arguments_as_runc() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("lifed-ps");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    let pid = bed.state(&id)["pid"].as_i64().unwrap().to_string();
    let table = ok(&bed.brig(&["ps", &id]));
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("PID"), "{table}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(rows[0].split_whitespace().any(|w| w == pid), "{table}");
    for args in [
        &["ps", &id, "--", "-o", "pid,comm"][..],
        &["ps", &id, "-o", "pid,comm"][..],
    ] {
        let t = ok(&bed.brig(args));
        assert_eq!(
            t.lines().collect::<Vec<_>>()[0]
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["PID", "COMMAND"],
            "{args:?}: {t}"
        );
        assert!(t.contains(&format!("{pid} sleep")), "{args:?}: {t}");
    }
    fails_with(&bed.brig(&["ps", &id, "-o", "comm"]), "no PID column");
    let json: Vec<i64> = serde_json::from_str(&ok(&bed.brig(&["ps", "-f", "json", &id]))).unwrap();
    assert_eq!(json, [pid.parse::<i64>().unwrap()]);
    ok(&bed.brig(&["kill", &id, "KILL"]));
    bed.wait_status(&id, "stopped");
    let t = ok(&bed.brig(&["ps", &id]));
    assert_eq!(t.lines().count(), 1, "{t}");
    assert_eq!(ok(&bed.brig(&["ps", "--format", "json", &id])).trim(), "[]");
    fails_with(&bed.brig(&["ps", "--format", "yaml", &id]), "yaml");
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

/// `exec --ignore-paused` runs in a paused container (frozen with it until
/// resume, as runc); without it, exec is refused.
#[test]
fn exec_ignore_paused() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("lifed-ipause");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    ok(&bed.brig(&["pause", &id]));
    let out = bed.brig(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    fails_with(&out, "--ignore-paused");
    let mut exec = bed
        .command(&[
            "exec",
            "--ignore-paused",
            &id,
            "sh",
            "-c",
            "echo in > /tmp/mark",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    ok(&bed.brig(&["resume", &id]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = exec.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = exec.kill();
            panic!("exec --ignore-paused did not finish after resume");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success());
    assert_eq!(ok(&bed.brig(&["exec", &id, "cat", "/tmp/mark"])), "in\n");
    ok(&bed.brig(&["delete", "--force", &id]));
    assert_no_trace(&bed, &id);
}

/// `exec --cgroup SUB`: the process joins an existing sub-cgroup of the
/// container's cgroup; a missing one or a path out of it is refused.
#[test]
fn exec_in_a_sub_cgroup() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("lifed-subcg");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    let out = bed.brig(&["exec", "--cgroup", "sub", &id, "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    fails_with(&out, "does not exist");
    fails_with(
        &bed.brig(&["exec", "--cgroup", "../x", &id, "true"]),
        "--cgroup",
    );
    fails_with(
        &bed.brig(&[
            "exec", "--cgroup", "memory:a", "--cgroup", "pids:b", &id, "true",
        ]),
        "per controller",
    );
    // The sub-cgroup, in every hierarchy the container has a cgroup in.
    let mut made = 0;
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let d = h.path().join("brig").join(&id);
        if d.is_dir() {
            std::fs::create_dir(d.join("sub")).unwrap();
            // A v1 cpuset cgroup starts with no cpus and mems: give it its parent's.
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                    std::fs::write(d.join("sub").join(f), v.trim()).unwrap();
                }
            }
            made += 1;
        }
    }
    assert!(made > 0);
    let cg = ok(&bed.brig(&["exec", "--cgroup", "sub", &id, "cat", "/proc/self/cgroup"]));
    assert!(cg.lines().any(|l| l.ends_with("/sub")), "{cg}");
    let cg = ok(&bed.brig(&[
        "exec",
        "--cgroup",
        "memory:sub",
        &id,
        "cat",
        "/proc/self/cgroup",
    ]));
    assert!(cg.lines().any(|l| l.ends_with("/sub")), "{cg}");
    // delete --force removes the cgroup, children included.
    ok(&bed.brig(&["delete", "--force", &id]));
    assert_no_trace(&bed, &id);
}

/// `run --keep` leaves the stopped container; `-v` prints runc's layout; brig's
/// own errors exit 1, and exec's 255 (as runc: the program's status is exec's).
#[test]
fn run_keep_version_and_exit_codes() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "exit 7"]);
    let id = unique_id("lifed-keep");
    bed.write_config();
    bed.track(&id);
    let out = bed.brig(&[
        "run",
        "--keep",
        "--bundle",
        bed.bundle.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(bed.status(&id), "stopped");
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);

    for flag in ["-v", "--version"] {
        let v = ok(&bed.brig(&[flag]));
        let lines: Vec<&str> = v.lines().collect();
        assert_eq!(lines.len(), 3, "{v}");
        assert!(lines[0].starts_with("brig version "), "{v}");
        assert!(lines[1].starts_with("commit: "), "{v}");
        assert!(lines[2].starts_with("spec: 1."), "{v}");
    }

    // runc flags brig does not support: refused, by name (docs/cli-compat.md).
    for args in [
        &["exec", "--apparmor", "p", "x", "true"][..],
        &["exec", "--process-label", "l", "x", "true"][..],
        &["update", "--l3-cache-schema", "L3:0=f", "x"][..],
        &["update", "--mem-bw-schema", "MB:0=50", "x"][..],
        &["--criu", "/usr/sbin/criu", "list"][..],
        &["checkpoint", "x"][..],
        &["restore", "x"][..],
    ] {
        let out = bed.brig(args);
        assert!(!out.status.success(), "{args:?} accepted");
        let name = args
            .iter()
            .find(|a| a.starts_with("--"))
            .unwrap_or(&args[0]);
        assert!(stderr(&out).contains(name), "{args:?}: {}", stderr(&out));
    }

    for (args, code) in [
        (&["state", "lifed-nosuch"][..], 1),
        (&["kill", "lifed-nosuch"][..], 1),
        (&["delete", "lifed-nosuch"][..], 1),
        (&["start", "lifed-nosuch"][..], 1),
        (&["exec", "lifed-nosuch", "true"][..], 255),
    ] {
        let out = bed.brig(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        fails_with(&out, "does not exist");
    }
}

/// Each error engines and scripts may match carries runc's words (brig's
/// hint follows), with runc's exit code, and goes to the --log file as a
/// JSON line `{"level":"error","msg":...,"time":...}`.
#[test]
fn errors_carry_runc_words_exit_codes_and_json_log_lines() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("lifed-words");
    let log = bed.tmp.path().join("log.json");
    let brig = |args: &[&str]| {
        let mut a = vec!["--log", log.to_str().unwrap(), "--log-format", "json"];
        a.extend_from_slice(args);
        bed.brig(&a)
    };
    let check = |out: std::process::Output, code: i32, words: &str| {
        assert_eq!(out.status.code(), Some(code), "{words}: {}", stderr(&out));
        fails_with(&out, words);
        let text = std::fs::read_to_string(&log).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["level"], "error");
        assert!(last["msg"].as_str().unwrap().contains(words), "{last}");
        assert!(
            last["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{last}"
        );
    };
    ok(&bed.create(&id));
    bed.write_config();
    check(
        brig(&["create", "--bundle", bed.bundle.to_str().unwrap(), &id]),
        1,
        "container with given ID already exists",
    );
    ok(&bed.brig(&["start", &id]));
    check(
        brig(&["start", &id]),
        1,
        "cannot start an already running container",
    );
    check(brig(&["resume", &id]), 1, "container not paused");
    check(brig(&["delete", &id]), 1, "that is not stopped");
    ok(&bed.brig(&["pause", &id]));
    check(
        brig(&["exec", &id, "true"]),
        255,
        "cannot exec in a paused container",
    );
    check(brig(&["pause", &id]), 1, "container not running");
    ok(&bed.brig(&["resume", &id]));
    ok(&bed.brig(&["kill", &id, "KILL"]));
    bed.wait_status(&id, "stopped");
    check(brig(&["kill", &id]), 1, "container not running");
    check(
        brig(&["start", &id]),
        1,
        "cannot start a container that has stopped",
    );
    check(
        brig(&["exec", &id, "true"]),
        255,
        "cannot exec in a stopped container",
    );
    check(brig(&["pause", &id]), 1, "container not running");
    check(
        brig(&["events", "--stats", &id]),
        1,
        "container not running",
    );
    check(brig(&["state", "lifed-nosuch"]), 1, "does not exist");
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

/// containerd's case for `kill --all`: a container without a pid namespace of
/// its own (a pod's containers share one) stops when its init exits, but a
/// child it left keeps running in its cgroup; `kill --all` of the stopped
/// container must reach that child.
#[test]
fn kill_all_of_a_stopped_container_reaches_what_is_left_in_its_cgroup() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sh", "-c", "sleep 1000 & echo $! > /tmp/child; exit 0"]);
    let ns: Vec<serde_json::Value> = bed.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "pid")
        .cloned()
        .collect();
    bed.config["linux"]["namespaces"] = serde_json::json!(ns);
    let id = unique_id("lifed-killall");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    bed.wait_status(&id, "stopped");
    // The child, as the host sees it: in the container's cgroup still.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let pids: Vec<i64> = loop {
        let p: Vec<i64> =
            serde_json::from_str(&ok(&bed.brig(&["ps", "--format", "json", &id]))).unwrap();
        if !p.is_empty() || std::time::Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(pids.len(), 1, "{pids:?}");
    fails_with(&bed.brig(&["kill", &id, "KILL"]), "container not running");
    ok(&bed.brig(&["kill", "--all", &id, "KILL"]));
    let gone = |pid: i64| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
            .unwrap_or(true)
    };
    while !gone(pids[0]) {
        assert!(
            std::time::Instant::now() < deadline,
            "{} survived kill --all",
            pids[0]
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

/// The same window under `run`, which is the init's reaper: the program's
/// exit code is what `run` reports, not an error of `start`.
#[test]
fn run_of_a_program_that_exits_during_start_reports_its_code() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "echo ran; exit 3"]);
    let id = unique_id("lifed-runrace");
    bed.write_config();
    bed.track(&id);
    let out = bed
        .command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id])
        .env(brig_runtime::failpoint::ENV, "start.wait-init-reaped")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "run: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert_no_trace(&bed, &id);
}
