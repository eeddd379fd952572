//! Regression tests for the scout's round-2 findings on resources, hooks,
//! sysctls and tmpfs modes (F2, F5, F9, F10, F19, F20, F21), each checked on
//! the real kernel from a busybox bundle against what runc 1.1.5 and crun
//! 1.8.1 do with the same config.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::{json, Value};

fn sh(bed: &mut Bed, script: &str) {
    bed.config["process"]["args"] = json!(["sh", "-c", script]);
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// F10: runtime-tools' memory validations set `kernel` and `kernelTCP` in
/// every case. runc warns ("Kernel memory settings are ignored") and runs;
/// crun runs. brig refused the config at create.
#[test]
fn kernel_memory_is_ignored_with_a_warning() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    bed.config["linux"]["resources"]["memory"] = json!({
        "limit": 50593792, "reservation": 50593792, "swap": 50593792,
        "kernel": 50593792, "kernelTCP": 50593792,
        "swappiness": 50, "disableOOMKiller": true
    });
    let out = bed.run(&unique_id("fixb-kmem"));
    ok(&out);
    assert!(
        stderr(&out).contains("memory.kernel is ignored"),
        "no warning: {}",
        stderr(&out)
    );
}

/// F10: `update --kernel-memory` (and a file with `kernel`) warn and go on,
/// as runc does, instead of failing.
#[test]
fn update_kernel_memory_is_ignored_with_a_warning() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sleep", "100"]);
    let id = unique_id("fixb-kmemu");
    ok(&bed.create(&id));
    let out = bed.brig(&["update", "--kernel-memory", "50m", &id]);
    ok(&out);
    assert!(stderr(&out).contains("ignored"), "{}", stderr(&out));
    let out = bed.brig(&["update", "--kernel-memory-tcp", "50m", &id]);
    ok(&out);
}

/// F19: runc's own `update -r` template (`runc update --help`): every field
/// 0 or "", meaning "unchanged". brig wrote realtimePeriod 0 (EINVAL) after
/// part of the update had been applied.
#[test]
fn update_with_runcs_all_zero_template_changes_nothing() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sleep", "100"]);
    bed.config["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    let id = unique_id("fixb-upd0");
    ok(&bed.create(&id));
    let template = bed.tmp.path().join("template.json");
    std::fs::write(
        &template,
        r#"{"memory":{"limit":0,"reservation":0,"swap":0,"kernel":0,"kernelTCP":0},
            "cpu":{"shares":0,"quota":0,"period":0,"realtimeRuntime":0,"realtimePeriod":0,
                   "cpus":"","mems":""},
            "blockIO":{"weight":0},"pids":{"limit":0}}"#,
    )
    .unwrap();
    ok(&bed.brig(&["update", "-r", template.to_str().unwrap(), &id]));
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/brig/{id}/memory.limit_in_bytes"
    ))
    .unwrap();
    assert_eq!(limit.trim(), "67108864", "memory limit changed");
}

/// F9: without linux.resources.devices runc still applies its default
/// allow-list (deny all, then the default devices); brig left the device
/// cgroup open, so with CAP_MKNOD a container could open host devices.
#[test]
fn no_device_rules_still_denies_other_devices() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("resources");
    for set in ["bounding", "effective", "permitted"] {
        bed.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .extend([json!("CAP_MKNOD"), json!("CAP_SYSLOG")]);
    }
    // /dev/kmsg (opening it needs CAP_SYSLOG too), opened read-only and read
    // for 0 blocks: harmless either way.
    sh(
        &mut bed,
        "echo ok > /dev/null && head -c 1 /dev/zero >/dev/null && echo defaults-ok; \
         mknod /dev/k c 1 11 && dd if=/dev/k of=/dev/null count=0 && echo OPENED-KMSG; true",
    );
    let out = bed.run(&unique_id("fixb-dev"));
    let s = ok(&out);
    assert!(s.contains("defaults-ok"), "{s}");
    assert!(
        !s.contains("OPENED-KMSG"),
        "host device opened: {s}{}",
        stderr(&out)
    );
}

/// F2: runtime-spec runtime.md: a failing poststart or poststop hook is a
/// warning; the remaining hooks and the lifecycle continue (runtime-tools
/// poststart_fail, poststop_fail). brig stopped at the first failure.
#[test]
fn failing_poststart_and_poststop_hooks_do_not_skip_the_rest() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    let out_file = bed.tmp.path().join("hooks.out");
    let o = out_file.to_str().unwrap();
    bed.config["hooks"] = json!({
        "poststart": [{"path": "/bin/false"}, hook(&format!("echo post-start called >> {o}"))],
        "poststop": [{"path": "/bin/false"}, hook(&format!("echo poststop called >> {o}"))],
    });
    let out = bed.run(&unique_id("fixb-hookf"));
    ok(&out);
    let got = std::fs::read_to_string(&out_file).unwrap_or_default();
    assert_eq!(
        got,
        "post-start called\npoststop called\n",
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));
}

/// F2: a failing prestart/createRuntime hook still fails create and stops
/// the rest of the phase.
#[test]
fn failing_create_runtime_hook_still_fails_and_stops() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    let out_file = bed.tmp.path().join("hooks.out");
    let o = out_file.to_str().unwrap();
    bed.config["hooks"] = json!({
        "createRuntime": [{"path": "/bin/false"}, hook(&format!("echo second >> {o}"))],
    });
    let id = unique_id("fixb-hookc");
    let out = bed.run(&id);
    fails_with(&out, "hooks.createRuntime[0]");
    assert!(!out_file.exists(), "second hook ran");
    assert_no_trace(&bed, &id);
}

/// F20: hooks start in the bundle directory, as with runc and crun (crun
/// test_hooks.py createContainer_hook_after_mounts uses `rootfs/...`).
#[test]
fn hooks_run_in_the_bundle_directory() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    let out_dir = bed.tmp.path().join("cwd");
    std::fs::create_dir(&out_dir).unwrap();
    let o = out_dir.to_str().unwrap();
    let mut hooks = serde_json::Map::new();
    for phase in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        hooks.insert(
            phase.into(),
            json!([hook(&format!(
                "pwd > {o}/{phase}; test -e rootfs/bin/sh && echo rootfs-seen >> {o}/{phase}"
            ))]),
        );
    }
    bed.config["hooks"] = Value::Object(hooks);
    bed.write_config();
    let id = unique_id("fixb-hookcwd");
    bed.track(&id);
    let out = bed
        .command(&["run", "--bundle", bed.bundle.to_str().unwrap(), &id])
        .current_dir("/")
        .output()
        .unwrap();
    ok(&out);
    let want = format!("{}\nrootfs-seen\n", bed.bundle.display());
    for phase in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        let got = std::fs::read_to_string(out_dir.join(phase)).unwrap_or_default();
        assert_eq!(got, want, "cwd of the {phase} hook");
    }
}

/// F5: sysctl kernel.hostname would silently override `hostname`: runc and
/// crun refuse it. kernel.domainname with a uts namespace is allowed (runc,
/// crun), but not next to `domainname` (crun; runc lets the sysctl win).
#[test]
fn sysctl_kernel_hostname_is_refused() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["hostname"]);
    bed.config["linux"]["sysctl"] = json!({"kernel.hostname": "foo"});
    let id = unique_id("fixb-sysh");
    fails_with(&bed.run(&id), "linux.sysctl.kernel.hostname");
    assert_no_trace(&bed, &id);

    bed.config["domainname"] = json!("bar");
    bed.config["linux"]["sysctl"] = json!({"kernel.domainname": "foo.x"});
    let id = unique_id("fixb-sysd");
    fails_with(&bed.run(&id), "linux.sysctl.kernel.domainname");
    assert_no_trace(&bed, &id);

    bed.config.as_object_mut().unwrap().remove("domainname");
    bed.config["process"]["args"] = json!(["cat", "/proc/sys/kernel/domainname"]);
    let out = bed.run(&unique_id("fixb-sysd2"));
    assert_eq!(ok(&out), "foo.x\n");
}

/// F21: runc run.bats "with tmpfs perms" / "with tmpfs": a tmpfs without
/// `mode=` on a directory the rootfs has keeps that directory's mode
/// (including setuid/setgid/sticky); with `mode=` the option wins; on a new
/// directory tmpfs's own 1777.
#[test]
fn tmpfs_without_mode_keeps_the_directory_mode() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let rootfs = bed.bundle.join("rootfs");
    for (d, mode) in [
        ("tmp/t710", 0o710),
        ("tmp/t7777", 0o7777),
        ("tmp/t444", 0o710),
    ] {
        std::fs::create_dir(rootfs.join(d)).unwrap();
        std::fs::set_permissions(rootfs.join(d), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let m = bed.config["mounts"].as_array_mut().unwrap();
    m.push(json!({"destination": "/tmp/t710", "type": "tmpfs", "source": "tmpfs"}));
    m.push(
        json!({"destination": "/tmp/t7777", "type": "tmpfs", "source": "tmpfs",
                  "options": ["nosuid"]}),
    );
    m.push(
        json!({"destination": "/tmp/t444", "type": "tmpfs", "source": "tmpfs",
                  "options": ["mode=0444"]}),
    );
    m.push(json!({"destination": "/tmp/new", "type": "tmpfs", "source": "tmpfs"}));
    sh(
        &mut bed,
        "stat -c %a /tmp/t710 /tmp/t7777 /tmp/t444 /tmp/new",
    );
    let out = bed.run(&unique_id("fixb-tmpfs"));
    assert_eq!(ok(&out), "710\n7777\n444\n1777\n", "{}", stdout(&out));
}

fn with_userns(bed: &mut Bed) {
    bed.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    bed.config["linux"]["uidMappings"] = map.clone();
    bed.config["linux"]["gidMappings"] = map;
}

/// F22: joining an existing user namespace by path, with the namespace's
/// mappings repeated in the config (runc 1.1 requires them; podman sends
/// them for pods sharing a userns) or without them (crun). runc and crun run
/// both; brig refused the first and failed the second with EOVERFLOW on
/// /dev/pts (the host uid stayed unmapped in the joined namespace).
#[test]
fn joining_a_user_namespace_by_path() {
    if common::skip_without_root() {
        return;
    }
    let mut target = Bed::new(&["sleep", "100"]);
    with_userns(&mut target);
    let tid = unique_id("fixb-usert");
    ok(&target.create(&tid));
    let pid = target.state(&tid)["pid"].as_i64().unwrap();
    let ns = format!("/proc/{pid}/ns/user");
    let want_ns = std::fs::read_link(&ns).unwrap();

    for with_maps in [true, false] {
        let mut bed = Bed::new(&[]);
        bed.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user", "path": ns}));
        if with_maps {
            let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            bed.config["linux"]["uidMappings"] = map.clone();
            bed.config["linux"]["gidMappings"] = map;
        }
        sh(
            &mut bed,
            "id -u; cat /proc/self/uid_map | tr -s ' '; readlink /proc/self/ns/user",
        );
        let out = bed.run(&unique_id("fixb-userj"));
        assert_eq!(
            ok(&out),
            format!("0\n 0 100000 65536\n{}\n", want_ns.display()),
            "with mappings: {with_maps}"
        );
    }

    // exec into a container that joined the namespace.
    let mut bed = Bed::new(&["sleep", "100"]);
    bed.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "path": ns}));
    let id = unique_id("fixb-userx");
    ok(&bed.create(&id));
    let out = bed.brig(&[
        "exec",
        &id,
        "sh",
        "-c",
        "id -u; readlink /proc/self/ns/user",
    ]);
    assert_eq!(ok(&out), format!("0\n{}\n", want_ns.display()));

    // Mappings that are not the namespace's are refused by name (runc 1.2).
    let mut bed = Bed::new(&["true"]);
    bed.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "path": ns}));
    let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    bed.config["linux"]["uidMappings"] = map.clone();
    bed.config["linux"]["gidMappings"] = map;
    let id = unique_id("fixb-userj");
    fails_with(&bed.run(&id), "linux.uidMappings");
    assert_no_trace(&bed, &id);
}

/// F22: `"path": ""` means a new namespace, as runc reads it.
#[test]
fn empty_namespace_path_means_a_new_namespace() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["hostname"]);
    for ns in bed.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "uts" {
            ns["path"] = json!("");
        }
    }
    let out = bed.run(&unique_id("fixb-nspath"));
    assert_eq!(
        ok(&out),
        format!("{}\n", bed.config["hostname"].as_str().unwrap())
    );
}

/// F12: linux.personality (runtime-spec 1.1): LINUX32 makes `uname -m`
/// report a 32-bit machine, as with crun (runc 1.2 personality.bats).
#[test]
fn personality_linux32() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["uname", "-m"]);
    bed.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    let out = bed.run(&unique_id("fixb-pers"));
    let got = ok(&out);
    if cfg!(target_arch = "x86_64") {
        assert_eq!(got, "i686\n");
    }
    bed.config["linux"]["personality"] = json!({"domain": "LINUX"});
    let out = bed.run(&unique_id("fixb-pers"));
    assert_eq!(ok(&out), format!("{}\n", std::env::consts::ARCH));

    bed.config["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]});
    let id = unique_id("fixb-pers");
    fails_with(&bed.run(&id), "linux.personality.flags");
    assert_no_trace(&bed, &id);
}

/// linux.personality holds for exec'd processes too (runc's personality.bats
/// "with exec"), even when the container's seccomp filter refuses
/// personality(2): it is set before the filter, as in the init. `brig exec`
/// itself runs in the caller's domain, so it must be set, not inherited.
#[test]
fn personality_holds_for_exec() {
    if common::skip_without_root() || !cfg!(target_arch = "x86_64") {
        return;
    }
    let deny = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
    for (domain, want, seccomp) in [
        ("LINUX32", "i686", None),
        ("LINUX32", "i686", Some(deny.clone())),
        ("LINUX", "x86_64", None),
    ] {
        let mut bed = Bed::new(&["sleep", "100"]);
        bed.config["linux"]["personality"] = json!({ "domain": domain });
        if let Some(p) = seccomp {
            bed.config["linux"]["seccomp"] = p;
        }
        let id = unique_id("fixb-persx");
        ok(&bed.create(&id));
        ok(&bed.brig(&["start", &id]));
        let out = bed.brig(&["exec", &id, "uname", "-m"]);
        assert_eq!(ok(&out), format!("{want}\n"), "{domain}");
    }
}

/// F13: `spec --rootless` writes runc's rootless spec (a user namespace
/// mapping the caller to 0, no network namespace, no device rules, /sys
/// bind-mounted); it did not parse (the global `--rootless <VALUE>` took it).
/// The spec runs.
#[test]
fn spec_rootless_writes_runcs_rootless_shape_and_runs() {
    if common::skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sh", "-c", "cat /proc/self/uid_map | tr -s ' '"]);
    let dir = bed.tmp.path().join("rootless");
    std::fs::create_dir(&dir).unwrap();
    let out = bed.brig(&["spec", "--rootless", "--bundle", dir.to_str().unwrap()]);
    ok(&out);
    let spec: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let types: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"user") && !types.contains(&"network"),
        "{types:?}"
    );
    let euid = nix::unistd::geteuid().as_raw();
    assert_eq!(
        spec["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": euid, "size": 1}])
    );
    assert!(spec["linux"].get("resources").is_none());
    let sys = spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/sys")
        .unwrap();
    assert_eq!(sys["source"], "/sys");
    assert!(sys["options"].as_array().unwrap().contains(&json!("rbind")));
    // The plain global flag with a value still means runc's --rootless mode.
    fails_with(&bed.brig(&["--rootless", "true", "list"]), "--rootless");

    // And the rootless spec runs (here as root: 0 maps to 0).
    let args = bed.config["process"]["args"].clone();
    bed.config = spec;
    bed.config["process"]["args"] = args;
    bed.config["process"]["terminal"] = json!(false);
    let out = bed.run(&unique_id("fixb-rootless"));
    assert_eq!(ok(&out), format!(" 0 {euid} 1\n"));
}
