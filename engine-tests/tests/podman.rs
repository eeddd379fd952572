//! podman 4 with `--runtime` set to the runtime under test (brig unless $BRIG_ENGINE_RUNTIME),
//! on a busybox image imported from a rootfs tarball. One private podman serves every
//! scenario of this binary; each scenario uses its own container names.

use anyhow::{bail, ensure, Context, Result};
use brig_engine_tests::podman::{Podman, IMAGE};
use brig_engine_tests::{log, runtime_under_test, stdout, trial_result, wait_until};
use libtest_mimic::{Arguments, Trial};
use std::os::fd::{AsFd, AsRawFd};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

type Scenario = fn(&Podman) -> Result<()>;

const SCENARIOS: &[(&str, Scenario)] = &[
    ("run_and_logs", run_and_logs),
    ("exec", exec),
    ("pty", pty),
    ("oom_exit_137", oom_exit_137),
    ("network", network),
    ("pause_unpause", pause_unpause),
    ("stop_timeout_sigkill_fallback", stop_timeout),
    ("read_only_and_tmpfs", read_only_and_tmpfs),
    ("rm_leaves_nothing", rm_leaves_nothing),
    ("restart", restart),
    ("port_publish", port_publish),
    ("pod_shared_network", pod_shared_network),
    ("userns_uidmap", userns_uidmap),
    ("rshared_propagation", rshared_propagation),
];

fn main() {
    let args = Arguments::from_args();
    let skip = brig_engine_tests::skip_reason();
    if let Some(why) = &skip {
        log(&format!("SKIPPED podman: {why}"));
    }
    let wanted = SCENARIOS
        .iter()
        .any(|(n, _)| args.filter.as_deref().is_none_or(|f| n.contains(f)));
    let podman = if skip.is_none() && wanted && !args.list {
        let rt = runtime_under_test().expect("the runtime under test");
        log(&format!("podman --runtime {}", rt.path.display()));
        Some(Arc::new(
            Podman::start(rt).expect("starting the private podman"),
        ))
    } else {
        None
    };
    let trials = SCENARIOS
        .iter()
        .map(|&(name, f)| {
            let p = podman.clone();
            Trial::test(name, move || {
                let p = p.expect("podman was started");
                trial_result(f(&p))
            })
            .with_ignored_flag(skip.is_some())
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(podman);
    conclusion.exit();
}

fn name(p: &Podman, s: &str) -> String {
    format!("eng-{}-{s}", p.runtime.name)
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn run_and_logs(p: &Podman) -> Result<()> {
    let o = p.run(&["--rm", IMAGE, "echo", "hello from busybox"])?;
    ensure!(
        code(&o) == 0 && stdout(&o) == "hello from busybox\n",
        "run --rm echo: exit {} stdout {:?} stderr {:?}",
        code(&o),
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    let n = name(p, "logs");
    let o = p.run(&[
        "--name",
        &n,
        IMAGE,
        "sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2; exit 3",
    ])?;
    ensure!(code(&o) == 3, "run exit 3 gave {}: {o:?}", code(&o));
    let logs = p.podman(&["logs", &n])?;
    let all = format!("{}{}", stdout(&logs), String::from_utf8_lossy(&logs.stderr));
    ensure!(
        all.contains("to-stdout") && all.contains("to-stderr"),
        "podman logs: {all:?}"
    );
    let ec = p.inspect(&n, "{{.State.ExitCode}}")?;
    ensure!(ec == "3", "inspect ExitCode {ec}");
    p.ok(&["rm", &n])?;
    Ok(())
}

fn exec(p: &Podman) -> Result<()> {
    let n = name(p, "exec");
    p.ok(&[
        &["run", "-d", "--name", &n][..],
        &p.run_args().iter().map(String::as_str).collect::<Vec<_>>(),
        &[IMAGE, "sleep", "1000"],
    ]
    .concat())?;
    let r = (|| {
        let out = p.ok(&["exec", &n, "sh", "-c", "echo $((6*7))"])?;
        ensure!(out == "42\n", "exec output {out:?}");
        let o = p.podman(&["exec", &n, "sh", "-c", "exit 5"])?;
        ensure!(code(&o) == 5, "exec exit 5 gave {}", code(&o));
        let out = p.ok(&["exec", "--user", "nobody", &n, "id", "-u"])?;
        ensure!(out == "65534\n", "exec --user nobody: {out:?}");
        let out = p.ok(&[
            "exec",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            &n,
            "sh",
            "-c",
            "echo $FOO $PWD",
        ])?;
        ensure!(out == "bar /tmp\n", "exec env and cwd: {out:?}");
        Ok(())
    })();
    p.ok(&["rm", "-f", "-t", "0", &n])?;
    r
}

fn pty(p: &Podman) -> Result<()> {
    let ws = nix::pty::Winsize {
        ws_row: 33,
        ws_col: 77,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&ws), None).context("openpty")?;
    let mut c = p.cmd();
    c.arg("run")
        .args(p.run_args())
        .args(["--rm", "-i", "-t", IMAGE, "sh", "-c"])
        // podman passes no process.consoleSize: conmon resizes the terminal once the process
        // runs, so the container polls for the size (up to 10 s) instead of racing it.
        .arg(
            "test -t 0 && test -t 1 && echo TTY-OK; tty; \
             for i in $(seq 100); do s=$(stty size 2>/dev/null); \
             [ \"$s\" = '33 77' ] && break; sleep 0.1; done; echo \"size=$s\"",
        );
    let slave = pty.slave;
    c.stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave.try_clone()?));
    let slave_fd = slave.as_raw_fd();
    // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, move || {
            if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = c.spawn().context("spawning podman run -it")?;
    drop(slave);
    // Read the terminal until podman has exited and nothing more is buffered. (EOF never comes
    // while another process, such as conmon, still holds the slave.)
    let master = pty.master;
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        let exited = child.try_wait()?;
        let mut fds = [nix::poll::PollFd::new(
            master.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16))?;
        let mut got = 0;
        if ready > 0 {
            let mut buf = [0u8; 4096];
            got = nix::unistd::read(&master, &mut buf).unwrap_or(0);
            out.extend_from_slice(&buf[..got]);
        }
        if let Some(st) = exited {
            if got == 0 {
                break st;
            }
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "podman run -it did not exit: {:?}",
                String::from_utf8_lossy(&out)
            );
        }
    };
    let out = String::from_utf8_lossy(&out).into_owned();
    ensure!(status.success(), "podman run -it exited {status}: {out:?}");
    ensure!(
        out.contains("TTY-OK"),
        "stdin/stdout are not a tty: {out:?}"
    );
    ensure!(
        out.contains("size=33 77"),
        "the terminal size did not reach the container: {out:?}"
    );
    ensure!(
        out.contains("/dev/pts/"),
        "tty is not a /dev/pts device: {out:?}"
    );
    Ok(())
}

fn oom_exit_137(p: &Podman) -> Result<()> {
    let n = name(p, "oom");
    let o = p.run(&[
        "--name",
        &n,
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        IMAGE,
        "sh",
        "-c",
        "x=$(head -c 200m /dev/zero | tr '\\0' a); echo survived",
    ])?;
    let r = (|| {
        ensure!(
            code(&o) == 137,
            "a memory hog under --memory 32m exited {} (want 137): {}{}",
            code(&o),
            stdout(&o),
            String::from_utf8_lossy(&o.stderr)
        );
        // podman's State.OOMKilled comes from conmon, which on this hybrid host watches the
        // cgroup2 hierarchy that has no memory controller: it says false with runc too.
        let oom = p.inspect(&n, "{{.State.OOMKilled}}")?;
        log(&format!(
            "podman State.OOMKilled = {oom} (not asserted: conmon's view)"
        ));
        Ok(())
    })();
    p.ok(&["rm", "-f", &n])?;
    r
}

fn network(p: &Podman) -> Result<()> {
    let srv = name(p, "httpd");
    p.ok(&[
        &["run", "-d", "--name", &srv][..],
        &p.run_args().iter().map(String::as_str).collect::<Vec<_>>(),
        &[IMAGE, "httpd", "-f", "-p", "8080", "-h", "/www"],
    ]
    .concat())?;
    let r = (|| {
        let ip = p.inspect(&srv, "{{.NetworkSettings.IPAddress}}")?;
        ensure!(
            !ip.is_empty(),
            "the container got no address on podman's default network"
        );
        // Loopback inside the container, polled until httpd listens.
        wait_until(Duration::from_secs(20), "httpd on 127.0.0.1:8080", || {
            let o = p.podman(&["exec", &srv, "wget", "-q", "-O-", "http://127.0.0.1:8080/"])?;
            Ok((code(&o) == 0 && stdout(&o) == "brig-engine-tests\n").then_some(()))
        })?;
        // A second container reaches it over podman's bridge.
        let o = p.run(&[
            "--rm",
            IMAGE,
            "wget",
            "-q",
            "-O-",
            &format!("http://{ip}:8080/"),
        ])?;
        ensure!(
            code(&o) == 0 && stdout(&o) == "brig-engine-tests\n",
            "wget from a second container to {ip}: exit {} {:?} {}",
            code(&o),
            stdout(&o),
            String::from_utf8_lossy(&o.stderr)
        );
        Ok(())
    })();
    p.ok(&["rm", "-f", "-t", "0", &srv])?;
    r
}

fn pause_unpause(p: &Podman) -> Result<()> {
    let n = name(p, "pause");
    p.ok(&[
        &["run", "-d", "--name", &n][..],
        &p.run_args().iter().map(String::as_str).collect::<Vec<_>>(),
        &[
            IMAGE,
            "sh",
            "-c",
            "while :; do date +%s%N > /tmp/tick; sleep 0.05; done",
        ],
    ]
    .concat())?;
    let r = (|| {
        p.ok(&["pause", &n])?;
        let st = p.inspect(&n, "{{.State.Status}}")?;
        ensure!(st == "paused", "status after pause: {st}");
        p.ok(&["unpause", &n])?;
        let st = p.inspect(&n, "{{.State.Status}}")?;
        ensure!(st == "running", "status after unpause: {st}");
        let a = p.ok(&["exec", &n, "cat", "/tmp/tick"])?;
        wait_until(Duration::from_secs(10), "the loop to run again", || {
            Ok((p.ok(&["exec", &n, "cat", "/tmp/tick"])? != a).then_some(()))
        })?;
        Ok(())
    })();
    p.ok(&["rm", "-f", "-t", "0", &n])?;
    r
}

fn stop_timeout(p: &Podman) -> Result<()> {
    // PID 1 without a TERM handler ignores SIGTERM: stop -t 1 must fall back to SIGKILL.
    let n = name(p, "stop-kill");
    p.ok(&[
        &["run", "-d", "--name", &n][..],
        &p.run_args().iter().map(String::as_str).collect::<Vec<_>>(),
        &[IMAGE, "sleep", "1000"],
    ]
    .concat())?;
    let r = (|| {
        p.ok(&["stop", "-t", "1", &n])?;
        let ec = p.inspect(&n, "{{.State.ExitCode}}")?;
        ensure!(ec == "137", "exit code after the SIGKILL fallback: {ec}");
        Ok(())
    })();
    p.ok(&["rm", "-f", &n])?;
    r?;
    // A TERM handler that exits: stop gets its exit code, no SIGKILL.
    let n = name(p, "stop-term");
    p.ok(&[
        &["run", "-d", "--name", &n][..],
        &p.run_args().iter().map(String::as_str).collect::<Vec<_>>(),
        &[
            IMAGE,
            "sh",
            "-c",
            "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    ]
    .concat())?;
    let r = (|| {
        wait_until(Duration::from_secs(20), "the trap to be set", || {
            Ok(stdout(&p.podman(&["logs", &n])?)
                .contains("ready")
                .then_some(()))
        })?;
        p.ok(&["stop", "-t", "30", &n])?;
        let ec = p.inspect(&n, "{{.State.ExitCode}}")?;
        ensure!(ec == "7", "exit code after SIGTERM with a handler: {ec}");
        Ok(())
    })();
    p.ok(&["rm", "-f", &n])?;
    r
}

fn read_only_and_tmpfs(p: &Podman) -> Result<()> {
    let o = p.run(&[
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch:size=1m",
        IMAGE,
        "sh",
        "-c",
        "if touch /rootfile 2>/dev/null; then echo rootfs-writable; else echo rootfs-ro; fi; \
         echo a > /scratch/f && cat /scratch/f; echo b > /tmp/f && cat /tmp/f",
    ])?;
    let out = stdout(&o);
    ensure!(
        code(&o) == 0 && out == "rootfs-ro\na\nb\n",
        "--read-only --tmpfs: exit {} stdout {out:?} stderr {}",
        code(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

fn rm_leaves_nothing(p: &Podman) -> Result<()> {
    let n = name(p, "rm");
    let id = p
        .ok(&[
            &["run", "-d", "--name", &n][..],
            &p.run_args().iter().map(String::as_str).collect::<Vec<_>>(),
            &[IMAGE, "sleep", "1000"],
        ]
        .concat())?
        .trim()
        .to_string();
    let pid: i32 = p.inspect(&n, "{{.State.Pid}}")?.parse()?;
    let rm = p.podman(&["rm", "-f", "-t", "0", &n])?;
    ensure!(rm.status.success(), "rm -f: {rm:?}");
    let o = p.podman(&["inspect", &n])?;
    ensure!(!o.status.success(), "the container is still known after rm");
    wait_until(
        Duration::from_secs(10),
        "the container's processes to exit",
        || Ok((!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())),
    )?;
    let procs = brig_engine_tests::processes_with(&id);
    ensure!(procs.is_empty(), "processes left after rm: {procs:?}");
    let mounts = p.sandbox.mounts_with(&id)?;
    ensure!(mounts.is_empty(), "mounts left after rm: {mounts:?}");
    let cg: Vec<_> = p
        .cgroup
        .children()
        .into_iter()
        .filter(|c| c.to_string_lossy().contains(&id))
        .collect();
    ensure!(cg.is_empty(), "cgroups left after rm: {cg:?}");
    let containers = p.storage_dir().join("vfs-containers");
    if containers.exists() {
        for e in std::fs::read_dir(&containers)? {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with(&id) {
                bail!("storage left after rm: {}", e.path().display());
            }
        }
    }
    Ok(())
}

fn run_d(p: &Podman, n: &str, extra: &[&str], cmd: &[&str]) -> Result<String> {
    let args: Vec<String> = p.run_args();
    let mut all: Vec<&str> = vec!["run", "-d", "--name", n];
    all.extend(args.iter().map(String::as_str));
    all.extend_from_slice(extra);
    all.push(IMAGE);
    all.extend_from_slice(cmd);
    Ok(p.ok(&all)?.trim().to_string())
}

fn restart(p: &Podman) -> Result<()> {
    let n = name(p, "restart");
    run_d(
        p,
        &n,
        &[],
        &["sh", "-c", "echo started >> /tmp/count; exec sleep 1000"],
    )?;
    let r = (|| {
        let pid1: i32 = p.inspect(&n, "{{.State.Pid}}")?.parse()?;
        p.ok(&["restart", "-t", "0", &n])?;
        let st = p.inspect(&n, "{{.State.Status}}")?;
        ensure!(st == "running", "status after restart: {st}");
        let pid2: i32 = p.inspect(&n, "{{.State.Pid}}")?.parse()?;
        ensure!(pid1 != pid2, "restart kept the same init pid {pid1}");
        let count = p.ok(&["exec", &n, "cat", "/tmp/count"])?;
        ensure!(count == "started\nstarted\n", "the init ran {count:?}");
        Ok(())
    })();
    p.ok(&["rm", "-f", "-t", "0", &n])?;
    r
}

fn port_publish(p: &Podman) -> Result<()> {
    let n = name(p, "port");
    run_d(
        p,
        &n,
        &["-p", "18080:8080"],
        &["httpd", "-f", "-p", "8080", "-h", "/www"],
    )?;
    let r = (|| {
        // From the sandbox's own side of podman's bridge, through the published port.
        let gw = p.inspect(&n, "{{.NetworkSettings.Gateway}}")?;
        ensure!(!gw.is_empty(), "no gateway on podman's default network");
        wait_until(
            Duration::from_secs(20),
            "the published port to answer",
            || {
                let o = brig_engine_tests::run_any(
                    p.sandbox.command(brig_engine_tests::image::BUSYBOX).args([
                        "wget",
                        "-q",
                        "-O-",
                        &format!("http://{gw}:18080/"),
                    ]),
                )?;
                Ok((code(&o) == 0 && stdout(&o) == "brig-engine-tests\n").then_some(()))
            },
        )?;
        Ok(())
    })();
    p.ok(&["rm", "-f", "-t", "0", &n])?;
    r
}

fn pod_shared_network(p: &Podman) -> Result<()> {
    let pod = name(p, "pod");
    p.ok(&[
        "pod",
        "create",
        "--name",
        &pod,
        "--cgroup-parent",
        &p.cgroup.path(),
    ])?;
    let r = (|| {
        let srv = name(p, "pod-httpd");
        run_d(
            p,
            &srv,
            &["--pod", &pod],
            &["httpd", "-f", "-p", "8080", "-h", "/www"],
        )?;
        // A second container of the pod joins its network namespace: loopback reaches httpd.
        let cli = name(p, "pod-wget");
        wait_until(
            Duration::from_secs(20),
            "httpd through the pod's loopback",
            || {
                let mut c = p.cmd();
                c.args(["run", "--rm", "--name", &cli, "--pod", &pod])
                    .args(p.run_args())
                    .args([IMAGE, "wget", "-q", "-O-", "http://127.0.0.1:8080/"]);
                let o = brig_engine_tests::run_any(&mut c)?;
                Ok((code(&o) == 0 && stdout(&o) == "brig-engine-tests\n").then_some(()))
            },
        )?;
        Ok(())
    })();
    p.ok(&["pod", "rm", "-f", "-t", "0", &pod])?;
    r
}

fn userns_uidmap(p: &Podman) -> Result<()> {
    let o = p.run(&[
        "--rm",
        "--uidmap",
        "0:100000:65536",
        "--gidmap",
        "0:100000:65536",
        IMAGE,
        "sh",
        "-c",
        "cat /proc/self/uid_map; id -u; touch /tmp/x && stat -c %u /tmp/x",
    ])?;
    let out = stdout(&o);
    let words: Vec<&str> = out.split_whitespace().collect();
    ensure!(
        code(&o) == 0 && words == ["0", "100000", "65536", "0", "0"],
        "--uidmap: exit {} stdout {out:?} stderr {}",
        code(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

/// `-v DIR:/mnt:rshared` where DIR is a shared mount (in the sandbox's mount namespace): a mount
/// made on the host side shows in the container, and one made in the container shows outside.
fn rshared_propagation(p: &Podman) -> Result<()> {
    let dir = p.dir.path().join("propagation");
    std::fs::create_dir_all(dir.join("from-host"))?;
    std::fs::create_dir_all(dir.join("from-container"))?;
    let d = dir.display().to_string();
    let sb = |args: &[&str]| brig_engine_tests::run_ok(p.sandbox.command("mount").args(args));
    sb(&["--bind", &d, &d])?;
    let r = (|| {
        sb(&["--make-shared", &d])?;
        let n = name(p, "rshared");
        run_d(
            p,
            &n,
            &["--cap-add", "SYS_ADMIN", "-v", &format!("{d}:/mnt:rshared")],
            &["sleep", "1000"],
        )?;
        let r = (|| {
            let host_side = format!("{d}/from-host");
            sb(&["-t", "tmpfs", "brig-engine-prop", &host_side])?;
            let m = p.ok(&["exec", &n, "cat", "/proc/self/mountinfo"])?;
            ensure!(
                m.lines().any(|l| l.contains(" /mnt/from-host ")),
                "a mount made outside did not reach the container (host to container)"
            );
            p.ok(&[
                "exec",
                &n,
                "mount",
                "-t",
                "tmpfs",
                "brig-engine-prop",
                "/mnt/from-container",
            ])?;
            let out = p.sandbox.mounts_with(&format!("{d}/from-container"))?;
            ensure!(
                !out.is_empty(),
                "a mount made in the container did not reach the host side (container to host)"
            );
            Ok(())
        })();
        p.ok(&["rm", "-f", "-t", "0", &n])?;
        r
    })();
    // Unmount everything below and the bind itself, inside the sandbox.
    let _ = brig_engine_tests::run_any(p.sandbox.command("umount").args(["-R", &d]));
    r
}
