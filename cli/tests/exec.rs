//! `exec` into a running container, and the guard that keeps the container from
//! reaching the brig binary (CVE-2019-5736).

mod common;

use common::*;
use serde_json::json;

fn running(bed: &Bed) -> (String, i64) {
    let id = unique_id("ex");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    let pid = bed.state(&id)["pid"].as_i64().unwrap();
    (id, pid)
}

#[test]
fn exec_joins_every_namespace_of_the_init() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sleep", "1000"]);
    bed.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    let (id, pid) = running(&bed);
    let kinds = ["pid", "mnt", "net", "ipc", "uts", "cgroup"];
    let script = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k};"))
        .collect::<String>();
    let out = ok(&bed.brig(&["exec", &id, "sh", "-c", &script]));
    let want: Vec<String> = kinds
        .iter()
        .map(|k| {
            std::fs::read_link(format!("/proc/{pid}/ns/{k}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    // Its own cgroup namespace root, and the container's rootfs.
    let out = ok(&bed.brig(&[
        "exec",
        &id,
        "sh",
        "-c",
        "cat /proc/self/cgroup | grep -c ':/$'; ls /bin/busybox; echo $$",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].parse::<usize>().unwrap() >= 1);
    assert_eq!(lines[1], "/bin/busybox");
    assert_ne!(lines[2], "1", "exec'd process is not the init");
}

#[test]
fn exec_returns_the_exit_status_and_takes_runc_flags() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let (id, _) = running(&bed);
    assert_eq!(
        bed.brig(&["exec", &id, "sh", "-c", "exit 5"]).status.code(),
        Some(5)
    );
    let out = ok(&bed.brig(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1001",
        "--additional-gids",
        "7",
        &id,
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g; id -G",
    ]));
    assert_eq!(out, "bar\n/tmp\n1000\n1001\n1001 7\n");
    let out = ok(&bed.brig(&[
        "exec",
        "--no-new-privs",
        &id,
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]));
    assert_eq!(out, "NoNewPrivs:\t1\n");
    fails_with(
        &bed.brig(&["exec", &id, "no-such-program"]),
        "process.args[0]",
    );
    fails_with(
        &bed.brig(&["exec", "--user", "root", &id, "true"]),
        "--user \"root\"",
    );
    // --tty: a pty of the container's own devpts, relayed to our stdio.
    let out = ok(&bed.brig(&[
        "exec",
        "--tty",
        &id,
        "sh",
        "-c",
        "tty; [ -t 1 ] && echo tty-out",
    ]));
    assert_eq!(out.replace('\r', ""), "/dev/pts/0\ntty-out\n");
    fails_with(
        &bed.brig(&["exec", "--tty", "--detach", &id, "true"]),
        "needs --console-socket",
    );
    // runtime-spec 1.1: an unknown capability is a warning, not an error (as runc).
    let out = bed.brig(&["exec", "--cap", "CAP_NOPE", &id, "true"]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("ignoring unknown or unavailable capabilities: [CAP_NOPE]"),
        "{out:?}"
    );
}

#[test]
fn exec_with_a_process_file() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let (id, _) = running(&bed);
    let p = bed.tmp.path().join("process.json");
    std::fs::write(&p, json!({"args": ["sh", "-c", "echo $X; exit 4"], "env": ["X=from-file", "PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}}).to_string()).unwrap();
    let out = bed.brig(&["exec", "--process", p.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-file\n");
    std::fs::write(&p, r#"{"args": "sh", "cwd": "/"}"#).unwrap();
    fails_with(
        &bed.brig(&["exec", "--process", p.to_str().unwrap(), &id]),
        "args",
    );
}

#[test]
fn exec_detached_writes_its_pid() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let (id, _) = running(&bed);
    let pf = bed.tmp.path().join("exec.pid");
    let log = std::fs::File::create(bed.tmp.path().join("exec.out")).unwrap();
    let st = bed
        .command(&[
            "exec",
            "-d",
            "--pid-file",
            pf.to_str().unwrap(),
            &id,
            "sleep",
            "500",
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    assert!(st.success());
    let pid: i32 = std::fs::read_to_string(&pf).unwrap().parse().unwrap();
    let pids: Vec<i32> =
        serde_json::from_str(&ok(&bed.brig(&["ps", "--format", "json", &id]))).unwrap();
    assert!(pids.contains(&pid), "{pid} not in {pids:?}");
}

#[test]
fn exec_into_paused_or_stopped_is_an_error() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let (id, _) = running(&bed);
    ok(&bed.brig(&["pause", &id]));
    fails_with(&bed.brig(&["exec", &id, "true"]), "resume it first");
    ok(&bed.brig(&["resume", &id]));
    ok(&bed.brig(&["kill", &id, "KILL"]));
    bed.wait_status(&id, "stopped");
    fails_with(
        &bed.brig(&["exec", &id, "true"]),
        "exec needs a running container",
    );
}

#[test]
fn container_cannot_open_the_runtime_binary_through_proc() {
    if skip_without_root() {
        return;
    }
    // A created container's init is brig itself, waiting for `start`. A second
    // container sharing its pid namespace sees it as pid 1 and tries to reach
    // the brig binary through /proc/1/exe.
    let bed = Bed::new(&["sleep", "1000"]);
    let a = unique_id("victim");
    ok(&bed.create(&a));
    let pid = bed.state(&a)["pid"].as_i64().unwrap();
    let before = std::fs::read(BRIG).unwrap();
    let mut b = Bed::new(&[]);
    for n in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "pid" {
            n["path"] = json!(format!("/proc/{pid}/ns/pid"));
        }
    }
    b.config["process"]["args"] = json!(["sh", "-c", "cat /proc/1/comm; (echo pwned >> /proc/1/exe) 2>/dev/null && echo WROTE; (cat /proc/1/exe > /dev/null) 2>/dev/null && echo READ; ls -l /proc/1/exe 2>&1 | grep -c 'Permission denied'"]);
    let out = ok(&b.run(&unique_id("attacker")));
    assert_eq!(out, "brig\n1\n", "the container reached the runtime binary");
    assert_eq!(std::fs::read(BRIG).unwrap(), before);
}
