//! Regression tests for the rootfs, /dev, device cgroup and mount-option
//! defects of issues 14 and 16, each checked on the real kernel from a busybox
//! bundle, against what runc and crun do with the same config.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

fn sh(bed: &mut Bed, script: &str) {
    bed.config["process"]["args"] = json!(["sh", "-c", script]);
}

fn add_caps(bed: &mut Bed, caps: &[&str]) {
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        let list = bed.config["process"]["capabilities"][set]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut list: Vec<Value> = list;
        for c in caps {
            list.push(json!(c));
        }
        bed.config["process"]["capabilities"][set] = Value::Array(list);
    }
}

fn mounts(bed: &mut Bed) -> &mut Vec<Value> {
    bed.config["mounts"].as_array_mut().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A host mount made by a test, detached (with everything under it) on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .unwrap();
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        // Everything that propagated under it goes with it.
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn is_mount_point(path: &Path) -> bool {
    let p = path.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(p))
}

// ---- S1: the device cgroup -------------------------------------------------

fn deny_all_but_kmsg_read(bed: &mut Bed) {
    bed.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}
    ]);
    bed.config["linux"]["devices"] =
        json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
    add_caps(bed, &["CAP_SYSLOG"]);
}

/// S1. linux.devices makes the node; it does not open the device cgroup. The
/// config allows /dev/kmsg read-only: writing it is refused, as in runc and crun.
#[test]
fn linux_devices_do_not_widen_the_device_cgroup() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    deny_all_but_kmsg_read(&mut bed);
    sh(
        &mut bed,
        "test -c /dev/kmsg || exit 3; echo brig-rootfs-test > /dev/kmsg && echo WRITTEN; true",
    );
    let id = unique_id("rootfs-s1");
    let out = bed.run(&id);
    let o = ok(&out);
    assert!(
        !o.contains("WRITTEN"),
        "write to a device the config allows only for reading succeeded"
    );
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
}

/// S1, exec: a process exec'd into the container meets the same rules.
#[test]
fn linux_devices_do_not_widen_the_device_cgroup_for_exec() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["sleep", "100"]);
    deny_all_but_kmsg_read(&mut bed);
    let id = unique_id("rootfs-s1x");
    ok(&bed.create(&id));
    ok(&bed.brig(&["start", &id]));
    let out = bed.brig(&["exec", &id, "sh", "-c", "echo brig-rootfs-test > /dev/kmsg"]);
    fails_with(&out, "Operation not permitted");
    // The default devices stay usable under a deny-all config.
    ok(&bed.brig(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo x > /dev/null && head -c1 /dev/zero >/dev/null",
    ]));
    let list = format!("/sys/fs/cgroup/devices/brig/{id}/devices.list");
    if let Ok(list) = std::fs::read_to_string(&list) {
        assert!(!list.contains("c 1:11 rwm"), "{list}");
    }
}

/// S1: a FIFO in linux.devices needs no device cgroup rule (there is none for
/// FIFOs) and is made under a deny-all config.
#[test]
fn a_fifo_in_linux_devices_needs_no_device_rule() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["linux"]["devices"] =
        json!([{"path": "/dev/myfifo", "type": "p", "major": 0, "minor": 0}]);
    sh(&mut bed, "test -p /dev/myfifo && echo FIFO");
    let out = bed.run(&unique_id("rootfs-fifo"));
    assert_eq!(ok(&out), "FIFO\n");
}

// ---- E3: a device outside /dev ------------------------------------------------

/// E3. The spec lets a device live anywhere in the container.
#[test]
fn a_device_outside_dev_is_created_with_its_parents() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["linux"]["devices"] =
        json!([{"path": "/opt/devs/mynull", "type": "c", "major": 1, "minor": 3}]);
    bed.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]);
    sh(
        &mut bed,
        "test -c /opt/devs/mynull && echo hi > /opt/devs/mynull && echo OK",
    );
    assert_eq!(ok(&bed.run(&unique_id("rootfs-e3"))), "OK\n");
}

/// runtime-spec (config-linux.md, devices): a file already at a device's path that is not that
/// device is an error; brig used to delete it and put the node there (the image's /etc/group).
#[test]
fn a_device_over_a_file_that_is_not_the_device_is_refused() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let group = bed.bundle.join("rootfs/etc/group");
    std::fs::create_dir_all(group.parent().unwrap()).unwrap();
    std::fs::write(&group, "root:x:0:\n").unwrap();
    bed.config["linux"]["devices"] =
        json!([{"path": "/etc/group", "type": "c", "major": 1, "minor": 3}]);
    sh(&mut bed, "echo RAN");
    let out = bed.run(&unique_id("rootfs-devconflict"));
    assert!(!out.status.success(), "run succeeded: {}", stdout(&out));
    assert!(
        stderr(&out).contains("linux.devices[0]"),
        "the error names the field: {}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&group).unwrap(), "root:x:0:\n");
    // The same device already there (a rootfs with a real /dev, run twice) is fine.
    bed.config["linux"]["devices"] =
        json!([{"path": "/opt/mynull", "type": "c", "major": 1, "minor": 3}]);
    for _ in 0..2 {
        sh(&mut bed, "test -c /opt/mynull && echo OK");
        assert_eq!(ok(&bed.run(&unique_id("rootfs-devagain"))), "OK\n");
    }
}

/// runtime-spec 1.1 (config.md, mounts): a relative destination is deprecated but allowed on
/// Linux, and means the path under `/`; brig refused it as not absolute.
#[test]
fn a_relative_mount_destination_is_under_root() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    mounts(&mut bed).push(json!({"destination": "tmp/rel", "type": "tmpfs", "source": "tmpfs"}));
    sh(
        &mut bed,
        "grep -q ' /tmp/rel ' /proc/self/mountinfo && echo OK",
    );
    assert_eq!(ok(&bed.run(&unique_id("rootfs-reldest"))), "OK\n");
}

// ---- S2: --no-pivot and /proc ---------------------------------------------

/// S2. With --no-pivot the host's /proc and /sys must not stay in the
/// container's mount namespace: the kernel would then let a nested user
/// namespace mount a fully visible procfs or sysfs (mount_too_revealing),
/// past every masked path. With pivot_root as a control.
#[test]
fn no_pivot_leaves_no_fully_visible_proc() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    add_caps(&mut bed, &["CAP_SETFCAP"]);
    for (flags, fs) in [("-mrpf", "proc"), ("-mrnf", "sysfs")] {
        let target = if fs == "proc" { "/proc" } else { "/sys" };
        bed.config["process"]["args"] = json!([
            "unshare",
            flags,
            "sh",
            "-euc",
            format!("mount -t {fs} none {target} && echo MOUNTED")
        ]);
        for no_pivot in [false, true] {
            let id = unique_id("rootfs-s2");
            bed.write_config();
            bed.track(&id);
            let mut args = vec!["run"];
            if no_pivot {
                args.push("--no-pivot");
            }
            let bundle = bed.bundle.to_str().unwrap().to_string();
            args.extend(["--bundle", &bundle, &id]);
            let out = bed.brig(&args);
            assert!(
                !stdout(&out).contains("MOUNTED"),
                "{fs}, no_pivot={no_pivot}: a new {fs} was mounted; stderr: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).to_lowercase().contains("permission denied")
                    || stderr(&out).contains("Operation not permitted"),
                "{fs}, no_pivot={no_pivot}: {}",
                stderr(&out)
            );
        }
    }
    // The same in a user namespace, where the host's mounts are locked and
    // cannot be unmounted, only covered.
    let mut userns = Bed::new(&[
        "unshare",
        "-mrpf",
        "sh",
        "-euc",
        "mount -t proc none /proc && echo MOUNTED",
    ]);
    add_caps(&mut userns, &["CAP_SETFCAP"]);
    user_namespaced(&mut userns);
    let id = unique_id("rootfs-s2u");
    userns.write_config();
    userns.track(&id);
    let out = userns.brig(&[
        "run",
        "--no-pivot",
        "--bundle",
        userns.bundle.to_str().unwrap(),
        &id,
    ]);
    assert!(
        !stdout(&out).contains("MOUNTED") && stderr(&out).contains("permission denied"),
        "userns: {}",
        stderr(&out)
    );
    // --no-pivot still runs a plain container, with the host's /proc out of reach.
    sh(&mut bed, "grep -c ' /proc proc ' /proc/self/mounts");
    let id = unique_id("rootfs-s2b");
    bed.write_config();
    bed.track(&id);
    let out = bed.brig(&[
        "run",
        "--no-pivot",
        "--bundle",
        bed.bundle.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(ok(&out), "1\n");
}

// ---- U3: bind source only host root can reach -----------------------------

fn user_namespaced(bed: &mut Bed) {
    bed.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    bed.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    bed.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let rootfs = bed.bundle.join("rootfs");
    std::os::unix::fs::chown(&rootfs, Some(100000), Some(100000)).unwrap();
}

/// U3. A bind source under a 0700 directory of host root: the mapped root of a
/// user namespace cannot walk there, so the source is opened from the host side.
#[test]
fn userns_bind_source_under_a_root_only_directory() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    user_namespaced(&mut bed);
    let hidden = tempfile::Builder::new()
        .prefix("brig-rootfs-u3")
        .tempdir_in("/root")
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(hidden.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let src = hidden.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(src.join("hello"), "from the host\n").unwrap();
    std::fs::set_permissions(src.join("hello"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = hidden.path().join("file");
    std::fs::write(&file, "a file\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    mounts(&mut bed).push(json!({"destination": "/data", "type": "bind",
        "source": src, "options": ["rbind", "ro"]}));
    mounts(&mut bed).push(json!({"destination": "/file", "type": "bind",
        "source": file, "options": ["bind"]}));
    sh(
        &mut bed,
        "cat /data/hello /file; touch /data/x 2>/dev/null || echo RO",
    );
    assert_eq!(
        ok(&bed.run(&unique_id("rootfs-u3"))),
        "from the host\na file\nRO\n"
    );
}

/// U3: a missing bind source in a user namespace fails before anything exists,
/// naming the field (spec validation sees it first; the host-side open
/// reports the same field if the source goes away after validation).
#[test]
fn userns_missing_bind_source_is_refused_by_name() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    user_namespaced(&mut bed);
    let missing = bed.tmp.path().join("no-such-dir");
    mounts(&mut bed).push(json!({"destination": "/data", "type": "bind",
        "source": missing, "options": ["rbind"]}));
    let id = unique_id("rootfs-u3m");
    let out = bed.run(&id);
    fails_with(&out, "mounts[7].source");
    assert!(stderr(&out).to_lowercase().contains("no such file"));
    assert_no_trace(&bed, &id);
}

/// A relative bind source is relative to the bundle (runtime-spec), not to
/// the caller's working directory, as in runc and crun.
#[test]
fn relative_bind_source_is_relative_to_the_bundle() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["cat", "/data/f"]);
    std::fs::create_dir(bed.bundle.join("data")).unwrap();
    std::fs::write(bed.bundle.join("data/f"), "in the bundle\n").unwrap();
    mounts(&mut bed).push(json!({"destination": "/data", "type": "bind",
        "source": "data", "options": ["rbind", "ro"]}));
    // The tests run in the crate's directory, which has no `data`.
    assert!(!Path::new("data").exists());
    assert_eq!(ok(&bed.run(&unique_id("rootfs-rel"))), "in the bundle\n");
}

// ---- U4: process.cwd with a read-only root --------------------------------

/// U4. A missing cwd is made before the root turns read-only.
#[test]
fn missing_cwd_with_a_readonly_root() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    bed.config["root"]["readonly"] = json!(true);
    bed.config["process"]["cwd"] = json!("/work/dir");
    sh(&mut bed, "pwd; touch /x 2>/dev/null || echo RO");
    assert_eq!(ok(&bed.run(&unique_id("rootfs-u4"))), "/work/dir\nRO\n");
}

// ---- U5: ro on a mount that later mounts go under -------------------------

/// U5. `ro` on /dev: the devices, /dev/pts and /dev/shm are made first, and
/// /dev turns read-only last.
#[test]
fn readonly_dev_tmpfs() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    for m in mounts(&mut bed).iter_mut() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    sh(
        &mut bed,
        "test -c /dev/null && test -d /dev/pts && test -L /dev/ptmx && touch /dev/shm/f \
         && (touch /dev/x 2>/dev/null || echo DEV-RO)",
    );
    assert_eq!(ok(&bed.run(&unique_id("rootfs-u5"))), "DEV-RO\n");
}

/// U5 sibling: any read-only mount that later mounts go under.
#[test]
fn readonly_mount_with_mounts_under_it() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    mounts(&mut bed).push(
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}),
    );
    mounts(&mut bed).push(json!({"destination": "/data/sub/deep", "type": "tmpfs",
        "source": "tmpfs"}));
    bed.config["linux"]["devices"] =
        json!([{"path": "/data/devs/null2", "type": "c", "major": 1, "minor": 3}]);
    sh(
        &mut bed,
        "test -c /data/devs/null2 && touch /data/sub/deep/f && (touch /data/f 2>/dev/null || echo DATA-RO)",
    );
    assert_eq!(ok(&bed.run(&unique_id("rootfs-u5b"))), "DATA-RO\n");
}

/// U5, the limit: a read-only *bind* mount turns read-only at once, as in
/// runc, so a later mount under it never makes its mount point in the host's
/// directory. The run fails instead, naming the mount.
#[test]
fn readonly_bind_mount_never_gets_a_mount_point_written_into_the_host() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&["true"]);
    let src = bed.tmp.path().join("hostdir");
    std::fs::create_dir(&src).unwrap();
    mounts(&mut bed).push(
        json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
    );
    mounts(&mut bed).push(json!({"destination": "/data/sub", "type": "tmpfs",
        "source": "tmpfs"}));
    let id = unique_id("rootfs-u5c");
    let out = bed.run(&id);
    fails_with(&out, "mounts[8]");
    fails_with(&out, "Read-only file system");
    assert!(
        !src.join("sub").exists(),
        "a mount point was made in the host dir"
    );
    assert_no_trace(&bed, &id);
}

// ---- U6: recursive mount options --------------------------------------------

/// U6. `rro` makes a bind mount read-only with every mount under it; plain `ro`
/// leaves the submounts writable.
#[test]
fn recursive_readonly_bind_mount() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let src = bed.tmp.path().join("tree");
    std::fs::create_dir(&src).unwrap();
    let _sub = HostMount::tmpfs(&src.join("sub"));
    mounts(&mut bed).push(json!({"destination": "/ro", "type": "bind",
        "source": src, "options": ["rbind", "ro"]}));
    mounts(&mut bed).push(json!({"destination": "/rro", "type": "bind",
        "source": src, "options": ["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime"]}));
    sh(
        &mut bed,
        "touch /ro/sub/a && echo RO-SUB-RW; touch /rro/sub/b 2>/dev/null || echo RRO-SUB-RO; \
         grep ' /rro/sub ' /proc/self/mountinfo | cut -d' ' -f6",
    );
    let out = ok(&bed.run(&unique_id("rootfs-u6")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["RO-SUB-RW", "RRO-SUB-RO"], "{out}");
    let opts: Vec<&str> = lines[2].split(',').collect();
    for o in ["ro", "nosuid", "nodev", "noexec", "noatime"] {
        assert!(opts.contains(&o), "{o} missing in {opts:?}");
    }
}

/// U6: `brig features` lists the recursive options.
#[test]
fn features_list_recursive_options() {
    if skip_without_root() {
        return;
    }
    let bed = Bed::new(&[]);
    let f: Value = serde_json::from_str(&ok(&bed.brig(&["features"]))).unwrap();
    let opts = f["mountOptions"].as_array().unwrap();
    for o in [
        "rro",
        "rrw",
        "rnosuid",
        "rsuid",
        "rnodev",
        "rdev",
        "rnoexec",
        "rexec",
        "rnodiratime",
        "rdiratime",
        "rrelatime",
        "rnorelatime",
        "rnoatime",
        "ratime",
        "rstrictatime",
        "rnostrictatime",
        "rnosymfollow",
        "rsymfollow",
        "tmpcopyup",
    ] {
        assert!(opts.contains(&json!(o)), "{o} missing");
    }
}

// ---- U9: tmpcopyup and the options brig refuses -----------------------------

/// U9. `tmpcopyup`, which podman sends for --read-only and --tmpfs: the tmpfs
/// starts with what the rootfs had there, and writes stay in the tmpfs.
#[test]
fn tmpfs_copyup() {
    if skip_without_root() {
        return;
    }
    let mut bed = Bed::new(&[]);
    let etc = bed.bundle.join("rootfs/etc");
    std::fs::create_dir_all(etc.join("sub")).unwrap();
    std::fs::write(etc.join("sub/conf"), "conf\n").unwrap();
    std::os::unix::fs::symlink("sub/conf", etc.join("link")).unwrap();
    bed.config["root"]["readonly"] = json!(true);
    mounts(&mut bed).push(json!({"destination": "/etc", "type": "tmpfs",
        "source": "tmpfs", "options": ["rw", "tmpcopyup", "mode=755"]}));
    sh(
        &mut bed,
        "head -1 /etc/passwd; cat /etc/link; echo new > /etc/new && cat /etc/new",
    );
    assert_eq!(
        ok(&bed.run(&unique_id("rootfs-u9"))),
        "root:x:0:0:root:/root:/bin/sh\nconf\nnew\n"
    );
    assert!(!etc.join("new").exists(), "the write reached the rootfs");
}

/// U9: options that other runtimes know and brig does not are refused with
/// the field named, instead of going to the kernel as filesystem data.
#[test]
fn unsupported_extension_options_are_refused_by_name() {
    if skip_without_root() {
        return;
    }
    for opt in ["copy-symlink", "idmap", "src-nofollow"] {
        let mut bed = Bed::new(&["true"]);
        mounts(&mut bed).push(json!({"destination": "/x", "type": "tmpfs",
            "source": "tmpfs", "options": [opt]}));
        let id = unique_id("rootfs-u9r");
        let out = bed.run(&id);
        fails_with(&out, opt);
        fails_with(&out, "mounts[7]");
        assert_no_trace(&bed, &id);
    }
}

// ---- issue 16: rshared --------------------------------------------------------

/// rshared: a mount made in the container under an rshared bind mount reaches
/// the host (and the host's reach the container), with rootfsPropagation
/// shared or rshared, as containerd's CRI sets it for Bidirectional mounts.
/// Without rootfsPropagation nothing of the container's reaches the host (as
/// in runc and crun), while the host's still reach the container.
#[test]
fn rshared_bind_mount_propagates_both_ways() {
    if skip_without_root() {
        return;
    }
    // Unset (runc's default, rslave): host to container only.
    for prop in ["rshared", "shared", ""] {
        let mut bed = Bed::new(&[]);
        let shared = bed.tmp.path().join("shared");
        let host = HostMount::tmpfs(&shared);
        nix::mount::mount(
            None::<&str>,
            &host.0,
            None::<&str>,
            nix::mount::MsFlags::MS_SHARED,
            None::<&str>,
        )
        .unwrap();
        std::fs::create_dir(shared.join("from-container")).unwrap();
        std::fs::create_dir(shared.join("from-host")).unwrap();
        if !prop.is_empty() {
            bed.config["linux"]["rootfsPropagation"] = json!(prop);
        }
        mounts(&mut bed).push(json!({"destination": "/mnt", "type": "bind",
            "source": shared, "options": ["rbind", "rshared"]}));
        let ready = shared.join("ready");
        sh(
            &mut bed,
            "mount -t tmpfs none /mnt/from-container && touch /mnt/ready && \
             while ! test -e /mnt/from-host/mark; do sleep 0.05; done && echo SEEN",
        );
        add_caps(&mut bed, &["CAP_SYS_ADMIN"]);
        let id = unique_id("rootfs-shared");
        bed.write_config();
        let child = bed.create_cmd(&id).status().unwrap();
        ok(&bed.create_output(&id, child));
        ok(&bed.brig(&["start", &id]));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !ready.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{prop}: the container never got ready: {}",
                bed.container_output(&id) + &stderr(&bed.create_output(&id, child))
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            is_mount_point(&shared.join("from-container")),
            !prop.is_empty(),
            "{prop:?}: the container's mount reached the host: {}",
            if prop.is_empty() { "yes" } else { "no" }
        );
        let _m = HostMount::tmpfs(&shared.join("from-host"));
        std::fs::write(shared.join("from-host/mark"), "").unwrap();
        bed.wait_status(&id, "stopped");
        assert_eq!(bed.container_output(&id), "SEEN\n", "{prop}");
        drop(_m);
    }
}
