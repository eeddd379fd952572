//! Limits set through apply and enforced by the real kernel. Assertions use the
//! kernel's own counters and files, never wall time.

mod common;

use std::time::Duration;

use brig_cgroups::{detect_layout, validate_resources, FreezerState, Layout};
use common::{flat_keyed, wait_for, TestCgroup};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
    LinuxThrottleDeviceBuilder,
};

fn memory(limit: i64, swap: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(limit)
                .swap(swap)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn apply(cg: &TestCgroup, r: &LinuxResources) {
    validate_resources(&cg.layout, r).expect("validate");
    cg.mgr.apply(r).expect("apply");
}

fn read_u64(cg: &TestCgroup, controller: &str, file: &str) -> u64 {
    cg.read(controller, file).trim().parse().unwrap()
}

#[test]
fn memory_limit_and_swap_are_written_in_an_order_the_kernel_accepts() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    let (limit, swap) = if cg.mgr.path_of("unified") == cg.mgr.path_of("memory") {
        ("memory.max", "memory.swap.max")
    } else {
        ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    };
    let v1 = limit == "memory.limit_in_bytes";
    let swap_value = |l: u64, s: u64| if v1 { s } else { s - l };

    apply(&cg, &memory(64 << 20, 128 << 20));
    assert_eq!(read_u64(&cg, "memory", limit), 64 << 20);
    assert_eq!(
        read_u64(&cg, "memory", swap),
        swap_value(64 << 20, 128 << 20)
    );
    // Raising both past the old memsw: on v1 memsw has to move first.
    apply(&cg, &memory(256 << 20, 512 << 20));
    assert_eq!(read_u64(&cg, "memory", limit), 256 << 20);
    assert_eq!(
        read_u64(&cg, "memory", swap),
        swap_value(256 << 20, 512 << 20)
    );
    // Lowering both below the old limit: on v1 the limit has to move first.
    apply(&cg, &memory(16 << 20, 32 << 20));
    assert_eq!(read_u64(&cg, "memory", limit), 16 << 20);
    assert_eq!(
        read_u64(&cg, "memory", swap),
        swap_value(16 << 20, 32 << 20)
    );
}

#[test]
fn pids_max_makes_fork_fail() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    apply(
        &cg,
        &LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(4).build().unwrap())
            .build()
            .unwrap(),
    );
    assert_eq!(cg.read("pids", "pids.max").trim(), "4");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        // The sleeps must not hold the pipes, or reading the output waits for them.
        .arg("i=0; while [ $i -lt 10 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo all-forked")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cg.spawn(cmd);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "sh forked 10 children: {stdout}");
    assert!(!stdout.contains("all-forked"), "{stdout}");
    assert!(stderr.to_lowercase().contains("fork"), "stderr: {stderr}");
    // The kernel counts the refusals itself.
    let events = cg.read("pids", "pids.events");
    assert!(flat_keyed(&events, "max").unwrap() >= 1, "{events}");
    // The three sleeps that fit are still there; destroy (on drop) kills them.
    assert_eq!(cg.mgr.pids().unwrap().len(), 3);
}

#[test]
fn cpu_quota_throttles_a_busy_loop() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    apply(
        &cg,
        &LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(10000)
                    .period(100000u64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    cg.start_sh("while :; do :; done");
    let throttled = wait_for("nr_throttled > 0", Duration::from_secs(30), || {
        flat_keyed(&cg.read("cpu", "cpu.stat"), "nr_throttled").filter(|&n| n > 0)
    });
    assert!(throttled > 0);
}

#[test]
fn cpuset_pins_the_process() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    apply(
        &cg,
        &LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .cpus("0")
                    .mems("0")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    let pid = cg.start_sh("exec sleep 1000");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    assert_eq!(allowed, "0");
}

fn device_rules() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rwm")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap()
}

/// `echo > /dev/null && head -c 1 /dev/zero` in the cgroup; Err(stderr) when
/// it fails.
fn touch_devices(cg: &TestCgroup) -> Result<(), String> {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("echo ok > /dev/null && head -c 1 /dev/zero")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = cg.spawn(cmd).wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn v1_device_rules_deny_what_is_not_allowed() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    assert!(
        cg.mgr.path_of("devices").is_some(),
        "this test is for hosts with the v1 devices controller"
    );
    apply(&cg, &device_rules());
    assert_eq!(cg.read("devices", "devices.list").trim(), "c 1:3 rwm");
    let stderr = touch_devices(&cg).unwrap_err();
    assert!(stderr.contains("/dev/zero"), "{stderr}");
    assert!(stderr.contains("not permitted"), "{stderr}");
}

#[test]
fn cgroup2_device_program_denies_and_is_replaced_on_update() {
    if common::skip_without_root() {
        return;
    }
    // The host's layout without its v1 devices hierarchy: device rules then
    // go to the cgroup2 side as an eBPF program.
    let Layout::Hybrid { v1, unified } = detect_layout().unwrap() else {
        panic!("this test narrows a hybrid layout");
    };
    let v1 = v1
        .into_iter()
        .filter(|m| m.controllers.iter().any(|c| c == "name=systemd"))
        .collect();
    let cg = TestCgroup::with_layout(Layout::Hybrid { v1, unified });
    assert!(cg.mgr.path_of("devices").is_none());

    apply(&cg, &device_rules());
    let stderr = touch_devices(&cg).unwrap_err();
    assert!(stderr.contains("/dev/zero"), "{stderr}");
    assert!(stderr.contains("not permitted"), "{stderr}");

    // An update that allows reading /dev/zero replaces the program instead of
    // adding one more (every attached program must allow an access).
    let mut r = device_rules();
    let mut rules = r.devices().clone().unwrap();
    rules.push(
        LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(5)
            .access("r")
            .build()
            .unwrap(),
    );
    r.set_devices(Some(rules));
    apply(&cg, &r);
    touch_devices(&cg).unwrap();
}

#[test]
fn freeze_stops_a_counter_and_thaw_restarts_it() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("counter");
    cg.start_sh(&format!(
        "i=0; while :; do i=$((i+1)); echo $i > {}; done",
        file.display()
    ));
    let read = || std::fs::read_to_string(&file).unwrap_or_default();
    let count = || read().trim().parse::<u64>().ok();
    wait_for("the counter to start", Duration::from_secs(30), || {
        count().filter(|&n| n > 0)
    });

    cg.mgr.freeze().unwrap();
    assert_eq!(cg.mgr.freezer_state().unwrap(), FreezerState::Frozen);
    let frozen_at = read();
    // Give it every chance to move; a frozen task cannot.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(), frozen_at, "the counter moved while frozen");

    cg.mgr.thaw().unwrap();
    assert_eq!(cg.mgr.freezer_state().unwrap(), FreezerState::Thawed);
    let before: u64 = frozen_at.trim().parse().unwrap_or(0);
    wait_for(
        "the counter to move after thaw",
        Duration::from_secs(30),
        || count().filter(|&n| n > before),
    );
}

#[test]
fn destroy_kills_a_frozen_container() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    let mut child = cg.spawn_sh("exec sleep 1000");
    cg.mgr.freeze().unwrap();
    cg.mgr.destroy().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    assert!(!cg.dir("memory").exists());
}

/// runtime-spec 1.1 deprecates memory.kernel and Linux 5.4+ ignores it: like
/// runc and crun, brig accepts it with a warning and writes nothing.
#[test]
fn kernel_memory_is_ignored_on_this_kernel() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    #[allow(deprecated)]
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .kernel(64 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    validate_resources(&cg.layout, &r).expect("memory.kernel is ignored, not refused");
    apply(&cg, &r);
    if let Some(dir) = cg.mgr.path_of("memory") {
        if let Ok(v) = std::fs::read_to_string(dir.join("memory.kmem.limit_in_bytes")) {
            assert_ne!(v.trim(), (64u64 << 20).to_string(), "kmem limit written");
        }
    }
}

/// major:minor of a whole disk (throttling refuses partitions).
fn a_disk() -> (i64, i64) {
    let mut names: Vec<_> = std::fs::read_dir("/sys/block")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !["loop", "ram", "zram"].iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    let name = names.first().expect("a disk in /sys/block");
    let dev = std::fs::read_to_string(format!("/sys/block/{name}/dev")).unwrap();
    let (maj, min) = dev.trim().split_once(':').unwrap();
    (maj.parse().unwrap(), min.parse().unwrap())
}

#[test]
fn block_io_weight_and_throttle_reach_the_kernel() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    let (major, minor) = a_disk();
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .throttle_read_bps_device(vec![LinuxThrottleDeviceBuilder::default()
                    .major(major)
                    .minor(minor)
                    .rate(1048576u64)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    apply(&cg, &r);
    let dev = format!("{major}:{minor}");
    if cg.mgr.path_of("blkio").is_some() {
        let dir = cg.dir("blkio");
        let weight = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
            .unwrap();
        // BFQ prints "default 500"; CFQ just the number.
        assert!(weight.trim().ends_with("500"), "{weight}");
        let bps = cg.read("blkio", "blkio.throttle.read_bps_device");
        assert!(bps.lines().any(|l| l == format!("{dev} 1048576")), "{bps}");
    } else {
        let max = cg.read("io", "io.max");
        assert!(max.contains(&format!("{dev} rbps=1048576")), "{max}");
    }
}
