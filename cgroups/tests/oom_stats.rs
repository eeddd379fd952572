//! OOM kills, OOM notification and stats on the real kernel.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use brig_cgroups::{validate_resources, OomEvent};
use common::{wait_for, TestCgroup};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
};

#[test]
fn allocating_past_the_limit_is_oom_killed_and_reported() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(32 << 20)
                .swap(32 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    validate_resources(&cg.layout, &r).unwrap();
    cg.mgr.apply(&r).unwrap();
    let mut watcher = cg.mgr.oom_watcher().unwrap();
    assert_eq!(cg.mgr.oom_kill_count().unwrap(), 0);

    // dd fills a 64 MiB buffer from /dev/zero: every page is touched and charged.
    let mut hog = Command::new("dd");
    hog.args(["if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"])
        .stderr(std::process::Stdio::null());
    let status = cg.spawn(hog).wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");

    assert!(cg.mgr.oom_kill_count().unwrap() >= 1);
    // The way a caller with its own poll loop uses it: poll the fd, then
    // read what is pending without blocking.
    {
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(watcher.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(30_000u16)).unwrap();
        assert_eq!(n, 1, "the watcher's fd is not readable after an OOM kill");
    }
    match watcher.wait(Some(Duration::ZERO)).unwrap() {
        OomEvent::Oom(n) => assert!(n >= 1),
        other => panic!("no OOM event: {other:?}"),
    }
    let stats = cg.mgr.stats().unwrap();
    assert_eq!(stats.memory.usage.limit, 32 << 20);
    // The hog drove the peak up to the limit. (failcnt is no witness: 6.x
    // kernels leave memory.failcnt at 0 for v1 cgroups.)
    assert!(
        stats.memory.usage.max >= 16 << 20,
        "{:?}",
        stats.memory.usage
    );
}

#[test]
fn oom_watcher_times_out_quietly_and_sees_the_cgroup_go() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    let mut watcher = cg.mgr.oom_watcher().unwrap();
    assert_eq!(
        watcher.wait(Some(Duration::from_millis(50))).unwrap(),
        OomEvent::Timeout
    );
    // A zero timeout looks once and returns.
    assert_eq!(
        watcher.wait(Some(Duration::ZERO)).unwrap(),
        OomEvent::Timeout
    );
    cg.mgr.destroy().unwrap();
    assert_eq!(
        watcher.wait(Some(Duration::from_secs(30))).unwrap(),
        OomEvent::Gone
    );
}

#[test]
fn stats_report_the_cgroup_counters() {
    if common::skip_without_root() {
        return;
    }
    let cg = TestCgroup::new();
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .cpu(
            LinuxCpuBuilder::default()
                .quota(20000)
                .period(100000u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    validate_resources(&cg.layout, &r).unwrap();
    cg.mgr.apply(&r).unwrap();
    cg.start_sh("while :; do :; done");

    let stats = wait_for("cpu usage and throttling", Duration::from_secs(30), || {
        let s = cg.mgr.stats().unwrap();
        (s.cpu.usage.total > 0 && s.cpu.throttling.throttled_periods > 0).then_some(s)
    });
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, 10);
    assert!(stats.memory.usage.usage > 0);
    let json = serde_json::to_value(&stats).unwrap();
    for key in ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb"] {
        assert!(json.get(key).is_some(), "no {key} in {json}");
    }
    assert_eq!(json["pids"]["limit"], 10);

    cg.mgr.destroy().unwrap();
    assert!(cg.mgr.stats().is_err(), "stats of a removed cgroup");
}
