//! The OCI lifecycle against the real kernel: create → start → state → kill → delete,
//! run, and the error cases, each leaving nothing behind.

mod common;

use common::*;
use serde_json::json;

#[test]
fn create_start_kill_delete() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("life");
    ok(&bed.create(&id));

    let st = bed.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["ociVersion"], "1.0.2-dev");
    assert_eq!(st["bundle"], bed.bundle.to_str().unwrap());
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 1, "host pid of init is {pid}");
    // No brig process is left above the init: it was reparented.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i64 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let parent_cmd = std::fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap_or_default();
    assert_ne!(
        parent_cmd.trim(),
        "brig",
        "init {pid} still has brig ({ppid}) as parent"
    );

    ok(&bed.brig(&["start", &id]));
    assert_eq!(bed.status(&id), "running");
    fails_with(
        &bed.brig(&["start", &id]),
        "only a created container can be started",
    );
    fails_with(&bed.brig(&["delete", &id]), "use delete --force");

    ok(&bed.brig(&["kill", &id, "KILL"]));
    bed.wait_status(&id, "stopped");
    assert_eq!(bed.state(&id)["pid"], 0);
    fails_with(&bed.brig(&["kill", &id]), "stopped");

    ok(&bed.brig(&["delete", &id]));
    fails_with(&bed.brig(&["state", &id]), "does not exist");
    assert_no_trace(&bed, &id);
}

#[test]
fn kill_by_name_number_and_default() {
    if skip_without_root() {
        return;
    }
    // PID 1 of a pid namespace ignores signals it has no handler for: trap them.
    let bed = Bed::new(&["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]);
    for (n, sig) in [
        (0, None),
        (1, Some("9")),
        (2, Some("SIGKILL")),
        (3, Some("term")),
    ] {
        let id = unique_id(&format!("kill{n}"));
        ok(&bed.create(&id));
        ok(&bed.brig(&["start", &id]));
        let mut args = vec!["kill", id.as_str()];
        args.extend(sig);
        ok(&bed.brig(&args));
        bed.wait_status(&id, "stopped");
        ok(&bed.brig(&["delete", &id]));
    }
    let id = unique_id("killbad");
    ok(&bed.create(&id));
    fails_with(&bed.brig(&["kill", &id, "SIGNOPE"]), "unknown signal");
    fails_with(&bed.brig(&["kill", &id, "99"]), "no such signal number");
}

#[test]
fn run_returns_the_exit_status() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["true"]);
    let out = bed.run(&unique_id("true"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut bed = Bed::new(&["sh", "-c", "exit 3"]);
    assert_eq!(bed.run(&unique_id("three")).status.code(), Some(3));
    // Killed by a signal: 128 + n. (The init cannot SIGKILL itself: PID 1 of a
    // pid namespace is immune to its own namespace's signals.)
    bed.config["process"]["args"] = json!(["sleep", "1000"]);
    bed.write_config();
    let id = unique_id("sig");
    bed.track(&id);
    let child = bed
        .command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    bed.wait_status(&id, "running");
    ok(&bed.brig(&["kill", &id, "KILL"]));
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(137));
    bed.config["process"]["args"] = json!(["sh", "-c", "echo hello from $$"]);
    let id = unique_id("echo");
    let out = bed.run(&id);
    assert_eq!(ok(&out).trim(), "hello from 1");
    // run deletes the container when it exits.
    assert_no_trace(&bed, &id);
}

#[test]
fn run_detached_and_pid_file() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    bed.write_config();
    let id = unique_id("detach");
    bed.track(&id);
    let pid_file = bed.tmp.path().join("pid");
    let out = bed
        .command(&[
            "run",
            "-d",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--bundle",
            bed.bundle.to_str().unwrap(),
            &id,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(bed.tmp.path().join("detach.err")).unwrap())
        .status()
        .unwrap();
    assert!(
        out.success(),
        "{}",
        std::fs::read_to_string(bed.tmp.path().join("detach.err")).unwrap()
    );
    assert_eq!(bed.status(&id), "running");
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(bed.state(&id)["pid"], pid);
    ok(&bed.brig(&["delete", "--force", &id]));
    assert_no_trace(&bed, &id);
}

#[test]
fn errors_name_the_argument_and_leave_nothing() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["true"]);
    bed.write_config();
    let b = bed.bundle.to_str().unwrap();
    for bad in ["a/b", "..", "x\u{1}"] {
        fails_with(&bed.brig(&["create", "--bundle", b, bad]), "container id");
    }
    fails_with(&bed.brig(&["start", "nope"]), "\"nope\" does not exist");
    fails_with(&bed.brig(&["delete", "nope"]), "does not exist");
    ok(&bed.brig(&["delete", "--force", "nope"]));

    // A bundle without config.json, and one without its rootfs.
    let empty = bed.tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    fails_with(
        &bed.brig(&["create", "--bundle", empty.to_str().unwrap(), "c1"]),
        "config.json",
    );
    std::fs::copy(bed.bundle.join("config.json"), empty.join("config.json")).unwrap();
    fails_with(
        &bed.brig(&["create", "--bundle", empty.to_str().unwrap(), "c1"]),
        "root.path",
    );
    // Invalid JSON names the field.
    std::fs::write(
        empty.join("config.json"),
        r#"{"ociVersion":"1.0.2","process":{"args":"sh"}}"#,
    )
    .unwrap();
    fails_with(
        &bed.brig(&["create", "--bundle", empty.to_str().unwrap(), "c1"]),
        "process.args",
    );
    assert!(!bed.root.join("c1").exists());
}

#[test]
fn duplicate_id_is_refused_and_concurrent_creates_have_one_winner() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    bed.write_config();
    let id = unique_id("dup");
    bed.track(&id);
    let children: Vec<_> = (0..8)
        .map(|_| bed.create_cmd(&id).spawn().unwrap())
        .collect();
    let codes: Vec<_> = children
        .into_iter()
        .map(|mut c| c.wait().unwrap())
        .collect();
    let wins = codes.iter().filter(|c| c.success()).count();
    let stderr = String::from_utf8_lossy(&bed.create_output(&id, codes[0]).stderr).into_owned();
    assert_eq!(stderr.matches("already exists").count(), 7, "{stderr}");
    assert_eq!(wins, 1, "exactly one create wins");
    assert_eq!(bed.status(&id), "created");
}

#[test]
fn failed_create_leaves_no_trace_and_the_id_is_reusable() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    let id = unique_id("fail");
    // The program does not exist: the init reports it before `create` returns.
    bed.config["process"]["args"] = json!(["/no/such/program"]);
    fails_with(&bed.create(&id), "process.args[0]");
    assert_no_trace(&bed, &id);
    // A failing createRuntime hook.
    bed.config["process"]["args"] = json!(["true"]);
    bed.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 7"]}]});
    fails_with(&bed.create(&id), "exited with status 7: nope");
    assert_no_trace(&bed, &id);
    bed.config["hooks"] = json!(null);
    ok(&bed.create(&id));
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

#[test]
fn state_survives_exit_and_pid_reuse() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("reuse");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    // Point the record at a live process that is not the init (this test), as a
    // reused pid would: the start time tells them apart.
    let path = bed.root.join(&id).join("state.json");
    let mut st: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let real = st["pid"].clone();
    st["pid"] = json!(std::process::id());
    std::fs::write(&path, serde_json::to_vec(&st).unwrap()).unwrap();
    assert_eq!(bed.status(&id), "stopped");
    st["pid"] = real;
    std::fs::write(&path, serde_json::to_vec(&st).unwrap()).unwrap();
    assert_eq!(bed.status(&id), "running");
    ok(&bed.brig(&["delete", "--force", &id]));
}

#[test]
fn list_formats() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let a = unique_id("lista");
    ok(&bed.create(&a));
    let table = ok(&bed.brig(&["list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains(&a) && table.contains("created"), "{table}");
    assert_eq!(ok(&bed.brig(&["list", "-q"])).trim(), a);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&bed.brig(&["list", "--format", "json"]))).unwrap();
    assert_eq!(json[0]["id"], a.as_str());
    assert_eq!(json[0]["status"], "created");
    // A damaged state file does not break list.
    std::fs::create_dir_all(bed.root.join("broken")).unwrap();
    std::fs::write(bed.root.join("broken/state.json"), "{garbage").unwrap();
    assert!(ok(&bed.brig(&["list"])).contains(&a));
    ok(&bed.brig(&["delete", "--force", "broken"]));
    assert!(!bed.root.join("broken").exists());
}

#[test]
fn spec_and_features() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["true"]);
    let dir = bed.tmp.path().join("specdir");
    std::fs::create_dir(&dir).unwrap();
    ok(&bed.brig(&["spec", "--bundle", dir.to_str().unwrap()]));
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    fails_with(
        &bed.brig(&["spec", "--bundle", dir.to_str().unwrap()]),
        "exists already",
    );
    let f: serde_json::Value = serde_json::from_str(&ok(&bed.brig(&["features"]))).unwrap();
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .contains(&json!("user")));
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
}

#[test]
fn unsupported_flags_are_refused() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["true"]);
    fails_with(&bed.brig(&["--systemd-cgroup", "list"]), "--systemd-cgroup");
    bed.write_config();
    let b = bed.bundle.to_str().unwrap();
    fails_with(
        &bed.brig(&["create", "--console-socket", "/tmp/x", "--bundle", b, "cs"]),
        "--console-socket",
    );
    assert!(!bed.root.join("cs").exists());
}

#[test]
fn log_file_gets_json_errors() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["true"]);
    let log = bed.tmp.path().join("log.json");
    let out = bed.brig(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "start",
        "ghost",
    ]);
    fails_with(&out, "does not exist");
    let line = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("ghost"));
}

#[test]
fn pause_resume_and_ps() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "sleep 1000 & sleep 1000"]);
    let id = unique_id("pause");
    ok(&bed.create(&id));
    fails_with(
        &bed.brig(&["pause", &id]),
        "only a running container can be paused",
    );
    ok(&bed.brig(&["start", &id]));
    let init = bed.state(&id)["pid"].as_i64().unwrap();
    // Both sleeps and sh (until it execs the second): at least the init and one more.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let pids = loop {
        let pids: Vec<i64> =
            serde_json::from_str(&ok(&bed.brig(&["ps", "--format", "json", &id]))).unwrap();
        if pids.len() >= 2 || std::time::Instant::now() > deadline {
            break pids;
        }
    };
    assert!(pids.contains(&init), "{pids:?} lacks {init}");
    assert!(pids.len() >= 2, "{pids:?}");
    ok(&bed.brig(&["pause", &id]));
    assert_eq!(bed.status(&id), "paused");
    // The kernel's own word on it: the freezer of the container's cgroup.
    let v1 = std::path::Path::new("/sys/fs/cgroup/freezer/brig")
        .join(&id)
        .join("freezer.state");
    let frozen = match std::fs::read_to_string(&v1) {
        Ok(s) => s.trim() == "FROZEN",
        Err(_) => {
            std::fs::read_to_string(
                std::path::Path::new("/sys/fs/cgroup/brig")
                    .join(&id)
                    .join("cgroup.freeze"),
            )
            .unwrap()
            .trim()
                == "1"
        }
    };
    assert!(frozen, "the container's cgroup is not frozen");
    fails_with(&bed.brig(&["delete", &id]), "use delete --force");
    ok(&bed.brig(&["resume", &id]));
    assert_eq!(bed.status(&id), "running");
    ok(&bed.brig(&["pause", &id]));
    // Kill and delete --force work on a paused container and leave nothing.
    ok(&bed.brig(&["delete", "--force", &id]));
    assert_no_trace(&bed, &id);
}

#[test]
fn kill_all_signals_every_process_of_the_container() {
    if skip_without_root() {
        return;
    }
    // Without a pid namespace, killing the init would leave its children: --all reaches them.
    let mut bed = Bed::new(&["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    bed.config["linux"]["namespaces"] =
        json!([{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"}]);
    bed.config["hostname"] = json!(null);
    let id = unique_id("killall");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let pids = loop {
        let pids: Vec<i32> =
            serde_json::from_str(&ok(&bed.brig(&["ps", "--format", "json", &id]))).unwrap();
        if pids.len() >= 3 {
            break pids;
        }
        assert!(std::time::Instant::now() < deadline, "{pids:?}");
    };
    ok(&bed.brig(&["kill", "--all", &id, "KILL"]));
    for pid in pids {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // Gone, or a zombie waiting for its reaper: either way not running.
        while let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            if stat[stat.rfind(')').unwrap() + 2..].starts_with('Z') {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{pid} survived kill --all"
            );
        }
    }
    bed.wait_status(&id, "stopped");
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

#[test]
fn debug_flag_logs_steps() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["true"]);
    let id = unique_id("debug");
    bed.write_config();
    bed.track(&id);
    let err = bed.tmp.path().join("debug.err");
    let st = bed
        .command(&[
            "--debug",
            "create",
            "--bundle",
            bed.bundle.to_str().unwrap(),
            &id,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&err).unwrap();
    // Each line: "brig: debug: +N.NNNms STEP" (milliseconds since main began).
    let created = text.lines().any(|l| {
        l.strip_prefix("brig: debug: +")
            .and_then(|rest| rest.split_once("ms "))
            .is_some_and(|(ms, step)| ms.parse::<f64>().is_ok() && step.starts_with("created"))
    });
    assert!(created && text.contains(&id), "{text}");
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    if skip_without_root() {
        return;
    }
    // stdout is a pipe whose reader is already closed: every write gets EPIPE.
    let bed = Bed::new(&["true"]);
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let out = bed
        .command(&["features"])
        .stdout(std::process::Stdio::from(w))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn relative_cgroups_path_is_kept_from_create() {
    if skip_without_root() {
        return;
    }
    use std::os::unix::process::CommandExt;
    // `create` runs in a cgroup of its own; a later `delete` from elsewhere must
    // still find the container's cgroup under it.
    let layout = brig_cgroups::detect_layout().unwrap();
    let parent_path = format!("/brig-reltest-{}", std::process::id());
    let parent =
        brig_cgroups::manager_for(&layout, Some(std::path::Path::new(&parent_path)), "x").unwrap();
    struct Destroy(Box<dyn brig_cgroups::CgroupManager>);
    impl Drop for Destroy {
        fn drop(&mut self) {
            let _ = self.0.destroy();
        }
    }
    parent.create().unwrap();
    let parent = std::sync::Arc::new(Destroy(parent));
    let mut bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("rel");
    bed.config["linux"]["cgroupsPath"] = json!(format!("rel/{id}"));
    bed.write_config();
    let mut cmd = bed.create_cmd(&id);
    let p = parent.clone();
    // SAFETY: add_process(0) only opens and writes cgroup files.
    unsafe {
        cmd.pre_exec(move || p.0.add_process(0).map_err(std::io::Error::other));
    }
    let status = cmd.status().unwrap();
    assert!(
        status.success(),
        "{}",
        String::from_utf8_lossy(&bed.create_output(&id, status).stderr)
    );
    let pid = bed.state(&id)["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("{parent_path}/rel/{id}");
    assert!(
        cg.lines()
            .any(|l| l.contains(":memory:") && l.ends_with(&want)),
        "{cg}"
    );
    ok(&bed.brig(&["delete", &id]));
    let dir = parent.0.path_of("memory").unwrap().join("rel").join(&id);
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// `--debug` logs each step of create, start and delete (to stderr and the
/// --log file), each line naming the operation and the container.
#[test]
fn debug_logs_each_step_of_create_start_and_delete() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("life-debug");
    bed.write_config();
    bed.track(&id);
    let log = bed.root.with_file_name("debug.log");
    let log_s = log.to_str().unwrap();
    let bundle = bed.bundle.to_str().unwrap();
    let quiet = |mut c: std::process::Command| {
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        assert!(c.status().unwrap().success(), "{c:?}");
    };
    quiet(bed.command(&["--debug", "--log", log_s, "create", "--bundle", bundle, &id]));
    quiet(bed.command(&["--debug", "--log", log_s, "start", &id]));
    quiet(bed.command(&["--debug", "--log", log_s, "delete", "--force", &id]));
    let text = std::fs::read_to_string(&log).unwrap();
    for want in [
        format!("create {id}: config compiled"),
        format!("create {id}: cgroup made"),
        format!("create {id}: init "),
        format!("create {id}: state saved (created"),
        format!("start {id}: releasing init"),
        format!("start {id}: running; poststart hooks"),
        format!("delete {id}: status running"),
        format!("delete {id}: cgroup removed"),
        format!("delete {id}: state dir removed"),
    ] {
        assert!(text.contains(&want), "--debug log lacks {want:?}:\n{text}");
    }
    // Without --debug, no step is logged.
    let id2 = unique_id("life-quiet");
    bed.track(&id2);
    let log2 = bed.root.with_file_name("quiet.log");
    quiet(bed.command(&[
        "--log",
        log2.to_str().unwrap(),
        "create",
        "--bundle",
        bundle,
        &id2,
    ]));
    quiet(bed.command(&["delete", "--force", &id2]));
    let text2 = std::fs::read_to_string(&log2).unwrap_or_default();
    assert!(!text2.contains("config compiled"), "{text2}");
}
