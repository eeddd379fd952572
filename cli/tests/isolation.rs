//! What the container sees: namespaces, rootfs, devices, process attributes and
//! hooks, checked from inside a real container.

mod common;

use std::os::unix::fs::MetadataExt;

use common::*;
use serde_json::json;

fn run_sh(bed: &mut Bed, script: &str) -> String {
    bed.config["process"]["args"] = json!(["sh", "-c", script]);
    ok(&bed.run(&unique_id("sh")))
}

#[test]
fn pid_namespace_hides_the_host() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let out = run_sh(&mut bed, "echo $$; ls /proc | grep -c '^[0-9]'");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    // sh, and the ls and grep of the pipeline: nothing of the host.
    let n: usize = lines[1].parse().unwrap();
    assert!(n <= 3, "{n} processes visible");
}

#[test]
fn hostname_is_set_and_the_host_keeps_its_own() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let before = nix::unistd::gethostname().unwrap();
    bed.config["hostname"] = json!("box1");
    bed.config["domainname"] = json!("example.test");
    assert_eq!(
        run_sh(&mut bed, "hostname; cat /proc/sys/kernel/domainname"),
        "box1\nexample.test\n"
    );
    assert_eq!(nix::unistd::gethostname().unwrap(), before);
}

#[test]
fn network_namespace_has_only_lo() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let out = run_sh(&mut bed, "ls /sys/class/net");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo"]);
}

#[test]
fn namespaces_differ_from_the_host_and_missing_ones_are_shared() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    // Drop the ipc namespace from the config: the container shares the host's.
    bed.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "network"}, {"type": "cgroup"}]);
    let out = run_sh(
        &mut bed,
        "for n in pid mnt uts net ipc cgroup; do readlink /proc/self/ns/$n; done",
    );
    let host: Vec<String> = ["pid", "mnt", "uts", "net", "ipc", "cgroup"]
        .iter()
        .map(|n| {
            std::fs::read_link(format!("/proc/self/ns/{n}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let inside: Vec<&str> = out.lines().collect();
    for i in 0..4 {
        assert_ne!(inside[i], host[i]);
    }
    assert_eq!(
        inside[4], host[4],
        "ipc was not asked for and must be the host's"
    );
    assert_ne!(inside[5], host[5]);
}

#[test]
fn cgroup_namespace_root_is_the_container_cgroup() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    let out = run_sh(&mut bed, "cat /proc/self/cgroup");
    for line in out.lines() {
        assert!(line.ends_with(":/"), "not at the namespace root: {line}");
    }
}

#[test]
fn container_is_placed_in_its_cgroup() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let id = unique_id("cg");
    ok(&bed.create(&id));
    let pid = bed.state(&id)["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("/brig/{id}");
    assert!(
        cg.lines()
            .any(|l| l.contains(":memory:") && l.ends_with(&want)),
        "{cg}"
    );
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

#[test]
fn join_a_namespace_by_path() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "1000"]);
    let a = unique_id("nsa");
    ok(&bed.create(&a));
    let pid = bed.state(&a)["pid"].as_i64().unwrap();
    let mut b = Bed::new(&[]);
    let nets = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    for n in nets.iter_mut() {
        if n["type"] == "network" || n["type"] == "uts" {
            let t = if n["type"] == "network" { "net" } else { "uts" };
            n["path"] = json!(format!("/proc/{pid}/ns/{t}"));
        }
    }
    b.config["hostname"] = json!(null);
    let out = run_sh(&mut b, "readlink /proc/self/ns/net");
    let want = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(out.trim(), want.to_str().unwrap());
    // A path that is not a namespace of that type is refused before anything exists.
    let nets = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    for n in nets.iter_mut() {
        if n["type"] == "network" {
            n["path"] = json!(format!("/proc/{pid}/ns/uts"));
        }
    }
    let id = unique_id("nsbad");
    fails_with(&b.run(&id), "not a net namespace");
    assert_no_trace(&b, &id);
}

#[test]
fn user_namespace_maps_ids() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    bed.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    bed.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    // The rootfs must be usable by the mapped root.
    let rootfs = bed.bundle.join("rootfs");
    std::os::unix::fs::chown(&rootfs, Some(100000), Some(100000)).unwrap();
    std::fs::create_dir_all(rootfs.join("data")).unwrap();
    std::os::unix::fs::chown(rootfs.join("data"), Some(100000), Some(100000)).unwrap();
    let out = run_sh(
        &mut bed,
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; echo $$; touch /data/f",
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        &words[..6],
        ["0", "100000", "65536", "0", "100000", "65536"]
    );
    assert_eq!(words[6], "0");
    assert_eq!(words[7], "1", "pid namespace made after the user namespace");
    let meta = std::fs::metadata(rootfs.join("data/f")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (100000, 100000),
        "root inside is 100000 on the host"
    );
}

#[test]
fn readonly_bind_mount_and_readonly_root() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let src = bed.tmp.path().join("shared");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("hello"), "hi\n").unwrap();
    let mounts = bed.config["mounts"].as_array_mut().unwrap();
    mounts.push(
        json!({"destination": "/ro", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
    );
    mounts.push(json!({"destination": "/rw", "type": "bind", "source": src, "options": ["bind"]}));
    bed.config["root"]["readonly"] = json!(true);
    let out = run_sh(
        &mut bed,
        "cat /ro/hello; touch /ro/x 2>/dev/null && echo ro-writable; touch /rw/y && echo rw-ok; touch /z 2>/dev/null && echo root-writable; echo done",
    );
    assert_eq!(out, "hi\nrw-ok\ndone\n");
    assert!(src.join("y").exists());
}

#[test]
fn masked_and_readonly_paths() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let rootfs = bed.bundle.join("rootfs");
    std::fs::write(rootfs.join("etc/secret"), "s3cret\n").unwrap();
    std::fs::create_dir_all(rootfs.join("secretdir")).unwrap();
    std::fs::write(rootfs.join("secretdir/key"), "k\n").unwrap();
    std::fs::create_dir_all(rootfs.join("frozen")).unwrap();
    bed.config["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .extend([json!("/etc/secret"), json!("/secretdir")]);
    bed.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/frozen"));
    let out = run_sh(
        &mut bed,
        "wc -c < /etc/secret; ls /secretdir | wc -l; touch /frozen/x 2>/dev/null && echo frozen-writable; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo sys-writable; touch /etc/y && echo done",
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "done"]
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/secret")).unwrap(),
        "s3cret\n"
    );
}

#[test]
fn tmpfs_proc_sysfs_devpts_mqueue_and_cgroup_mounts() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let out = run_sh(&mut bed, "cat /proc/self/mounts");
    for (dest, typ) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.split(' ').nth(1) == Some(dest) && l.split(' ').nth(2) == Some(typ)),
            "{dest} ({typ}) missing:\n{out}"
        );
    }
    assert!(
        out.lines()
            .any(|l| l.contains(" /sys/fs/cgroup/memory cgroup ")
                || l.contains(" /sys/fs/cgroup cgroup2 ")),
        "{out}"
    );
    let sys = out
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/sys"))
        .unwrap();
    assert!(
        sys.split(' ').nth(3).unwrap().split(',').any(|o| o == "ro"),
        "{sys}"
    );
}

#[test]
fn default_devices_and_linux_devices() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}]);
    bed.config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]);
    let out = run_sh(
        &mut bed,
        "for d in null zero full random urandom tty fuse; do stat -c '%n %t %T' /dev/$d; done; readlink /dev/fd; readlink /dev/ptmx; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok",
    );
    let want = "/dev/null 1 3\n/dev/zero 1 5\n/dev/full 1 7\n/dev/random 1 8\n/dev/urandom 1 9\n/dev/tty 5 0\n/dev/fuse a e5\n/proc/self/fd\npts/ptmx\n4\nnull-ok\n";
    assert_eq!(out, want);
}

#[test]
fn process_user_env_cwd_umask() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["process"]["user"] =
        json!({"uid": 65534, "gid": 65534, "additionalGids": [5, 7], "umask": 63});
    bed.config["process"]["env"] = json!(["PATH=/bin", "GREETING=hi there"]);
    bed.config["process"]["cwd"] = json!("/tmp/work");
    let out = run_sh(&mut bed, "id -u; id -g; id -G; echo $GREETING; pwd; umask");
    assert_eq!(out, "65534\n65534\n65534 5 7\nhi there\n/tmp/work\n0077\n");
}

#[test]
fn capabilities_match_the_config() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    // runc's default: three caps in every set but inheritable.
    let out = run_sh(
        &mut bed,
        "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status",
    );
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29)
    let want = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 29));
    for line in out.lines() {
        let (k, v) = line.split_once(':').unwrap();
        let v = v.trim();
        // Ambient caps need inheritable ones, which runc's default leaves out.
        if k == "CapInh" || k == "CapAmb" {
            assert_eq!(v, "0000000000000000", "{k}");
        } else {
            assert_eq!(v, want, "{k}");
        }
    }
    bed.config["process"]["user"]["uid"] = json!(1000);
    bed.config["process"]["capabilities"]["ambient"] = json!(["CAP_KILL"]);
    bed.config["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    let out = run_sh(&mut bed, "grep -E '^Cap(Eff|Amb)' /proc/self/status");
    // A non-root user keeps only the ambient caps across exec.
    assert_eq!(
        out,
        format!("CapEff:\t{:016x}\nCapAmb:\t{:016x}\n", 1u64 << 5, 1u64 << 5)
    );
}

#[test]
fn unknown_capability_is_a_warning() {
    if skip_without_root() {
        return;
    }
    // runtime-spec 1.1 (config.md, capabilities): log a warning for an unknown
    // capability and go on, as runc does (issue 14, E2).
    let mut bed = Bed::new(&["grep", "CapBnd", "/proc/self/status"]);
    bed.config["process"]["capabilities"]["bounding"] = json!(["CAP_MAKE_COFFEE"]);
    let id = unique_id("cap");
    let out = bed.run(&id);
    assert_eq!(ok(&out), "CapBnd:\t0000000000000000\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[CAP_MAKE_COFFEE]"),
        "{out:?}"
    );
}

#[test]
fn rlimits_oom_score_adj_and_no_new_privs() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1500}, {"type": "RLIMIT_NPROC", "hard": 500, "soft": 400}]);
    bed.config["process"]["oomScoreAdj"] = json!(123);
    let out = run_sh(&mut bed, "ulimit -n; ulimit -Hn; ulimit -u; cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status");
    assert_eq!(out, "1500\n2048\n400\n123\nNoNewPrivs:\t1\n");
    bed.config["process"]["noNewPrivileges"] = json!(false);
    assert_eq!(
        run_sh(&mut bed, "grep NoNewPrivs /proc/self/status"),
        "NoNewPrivs:\t0\n"
    );
}

#[test]
fn sysctl_in_the_container_namespaces_only() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
    assert_eq!(
        run_sh(
            &mut bed,
            "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"
        ),
        "1\n1234\n"
    );
    bed.config["linux"]["sysctl"] = json!({"vm.swappiness": "1"});
    let id = unique_id("sysctl");
    fails_with(&bed.run(&id), "linux.sysctl.vm.swappiness");
    assert_no_trace(&bed, &id);
}

#[test]
fn preserve_fds_passes_extra_fds() {
    if skip_without_root() {
        return;
    }
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let mut bed = Bed::new(&[]);
    bed.config["process"]["args"] = json!([
        "sh",
        "-c",
        "cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '"
    ]);
    bed.write_config();
    let file = bed.tmp.path().join("fd3");
    std::fs::write(&file, "through fd 3\n").unwrap();
    let f = std::fs::File::open(&file).unwrap();
    let raw = f.as_raw_fd();
    let id = unique_id("fds");
    bed.track(&id);
    let mut cmd = bed.command(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        bed.bundle.to_str().unwrap(),
        &id,
    ]);
    // SAFETY: dup2 in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it by hand then.
            let r = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = ok(&cmd.output().unwrap());
    // stdio, fd 3, and the fd ls opens on /proc/self/fd: nothing of brig's.
    assert_eq!(out, "through fd 3\n0 1 2 3 4 ");
}

#[test]
fn no_pivot_uses_chroot() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["process"]["args"] = json!([
        "sh",
        "-c",
        "ls /bin/busybox && cat /proc/self/mountinfo | wc -l"
    ]);
    bed.write_config();
    let id = unique_id("nopivot");
    bed.track(&id);
    let out = bed.brig(&[
        "run",
        "--no-pivot",
        "--bundle",
        bed.bundle.to_str().unwrap(),
        &id,
    ]);
    assert!(ok(&out).starts_with("/bin/busybox\n"));
}

#[test]
fn time_namespace_offsets() {
    if skip_without_root() {
        return;
    }
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        eprintln!("skipped: no time namespaces on this kernel");
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    bed.config["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 86400, "nanosecs": 0}});
    let out = run_sh(&mut bed, "cat /proc/self/timens_offsets");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["monotonic", "86400", "0"]),
        "{out}"
    );
}

#[test]
fn hooks_run_in_spec_order_with_state_on_stdin() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    let log = bed.tmp.path().join("hooks.log");
    // The container's hooks (createContainer, startContainer) run inside it, so
    // their log is a bind mount.
    std::fs::write(&log, "").unwrap();
    bed.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/hooks.log", "type": "bind", "source": log, "options": ["bind"]}),
    );
    let host_hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read -r s; echo \"{name} $s\" >> {}", log.display())]});
    let ctr_hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read -r s; echo \"{name} $s\" >> /hooks.log")]});
    bed.config["hooks"] = json!({
        "prestart": [host_hook("prestart")],
        "createRuntime": [host_hook("createRuntime")],
        "createContainer": [host_hook("createContainer")],
        "startContainer": [ctr_hook("startContainer")],
        "poststart": [host_hook("poststart")],
        "poststop": [host_hook("poststop")],
    });
    let id = unique_id("hooks");
    ok(&bed.run(&id));
    let text = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    for line in text.lines() {
        let (name, json) = line.split_once(' ').unwrap();
        let st: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(st["id"], id.as_str(), "{name}");
        assert!(st["pid"].as_i64().unwrap() > 0, "{name}");
    }
}

#[test]
fn hook_timeout_is_honoured() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    bed.config["hooks"] =
        json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    let id = unique_id("hookto");
    fails_with(&bed.run(&id), "timed out after 1s");
    assert_no_trace(&bed, &id);
}

#[test]
fn rootfs_and_mount_propagation() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["linux"]["rootfsPropagation"] = json!("rshared");
    let src = bed.tmp.path().join("prop");
    std::fs::create_dir(&src).unwrap();
    bed.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/prop", "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
    // mountinfo field 7 onwards lists the optional fields: shared:N for a shared mount.
    let out = run_sh(&mut bed, "awk '$5 == \"/\"' /proc/self/mountinfo | grep -c shared:; awk '$5 == \"/prop\"' /proc/self/mountinfo | grep -c shared:; true");
    assert_eq!(out, "1\n0\n");
    bed.config["linux"]["rootfsPropagation"] = json!("sideways");
    let id = unique_id("prop");
    fails_with(&bed.run(&id), "linux.rootfsPropagation");
    assert_no_trace(&bed, &id);
}

#[test]
fn a_mount_inside_is_invisible_on_the_host() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    for set in ["bounding", "effective", "permitted"] {
        bed.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_ADMIN"));
    }
    let out = run_sh(&mut bed, "mkdir -p /mnt/inner && mount -t tmpfs inner-tmpfs /mnt/inner && grep -c inner-tmpfs /proc/self/mounts");
    assert_eq!(out, "1\n");
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host.contains("inner-tmpfs"));
}

#[test]
fn failing_start_container_hook_fails_start_and_the_program_never_runs() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sh", "-c", "echo program-ran"]);
    bed.config["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-broke >&2; exit 9"]}]});
    let id = unique_id("schook");
    ok(&bed.create(&id));
    fails_with(
        &bed.brig(&["start", &id]),
        "exited with status 9: hook-broke",
    );
    assert_eq!(bed.status(&id), "stopped");
    assert!(!bed.container_output(&id).contains("program-ran"));
    ok(&bed.brig(&["delete", &id]));
    assert_no_trace(&bed, &id);
}

#[test]
fn seccomp_profile_applies_to_the_container_and_its_execs() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[
        "sh",
        "-c",
        "mkdir /tmp/d 2>&1; touch /tmp/f && echo touch-ok; sleep 1000",
    ]);
    bed.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["chroot"], "action": "SCMP_ACT_KILL_PROCESS"}
        ]
    });
    let id = unique_id("seccomp");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !bed.container_output(&id).contains("touch-ok") {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            bed.container_output(&id)
        );
    }
    assert!(
        bed.container_output(&id)
            .contains("Operation not permitted"),
        "{}",
        bed.container_output(&id)
    );
    let st = std::fs::read_to_string(format!("/proc/{}/status", bed.state(&id)["pid"])).unwrap();
    assert!(
        st.lines()
            .any(|l| l.starts_with("Seccomp:") && l.ends_with('2')),
        "not in filter mode"
    );
    // An exec'd process is under the same filter; KILL_PROCESS ends it with SIGSYS.
    let out = bed.brig(&["exec", &id, "sh", "-c", "mkdir /tmp/e 2>&1; echo exec-ran"]);
    assert!(ok(&out).contains("Operation not permitted"));
    assert_eq!(
        bed.brig(&["exec", &id, "chroot", "/", "true"])
            .status
            .code(),
        Some(128 + 31)
    );
    // The profile is the one the container was created with: editing the
    // bundle's config.json afterwards does not lift it from later execs.
    let mut edited = bed.config.clone();
    edited["linux"].as_object_mut().unwrap().remove("seccomp");
    std::fs::write(
        bed.bundle.join("config.json"),
        serde_json::to_vec(&edited).unwrap(),
    )
    .unwrap();
    let out = bed.brig(&["exec", &id, "sh", "-c", "mkdir /tmp/g 2>&1; echo exec-ran"]);
    assert!(ok(&out).contains("Operation not permitted"));
    // A profile with a syscall no kernel has is refused, naming the field, before anything exists.
    bed.config["linux"]["seccomp"]["syscalls"][0]["names"] = json!(["mkdir", "make_coffee"]);
    let bad = unique_id("seccompbad");
    fails_with(&bed.create(&bad), "linux.seccomp.syscalls[0].names[1]");
    assert_no_trace(&bed, &bad);
}

#[test]
fn io_priority_and_scheduler() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 7});
    bed.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    // /proc/self/stat: field 19 is nice, field 41 the policy (3 = SCHED_BATCH).
    let out = run_sh(&mut bed, "ionice -p $$; cut -d' ' -f19,41 /proc/$$/stat");
    assert_eq!(out, "idle\n7 3\n");
    bed.config["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 0});
    let id = unique_id("sched");
    fails_with(&bed.run(&id), "process.scheduler.priority");
    assert_no_trace(&bed, &id);
}
