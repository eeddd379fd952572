//! Managers over temp directories: path resolution, resource file formats and
//! conversions, routing on hybrid hosts, and validation errors.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
};

use super::*;

fn touch(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (f, content) in files {
        fs::write(dir.join(f), content).unwrap();
    }
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

fn mount(root: &Path, controllers: &[&str]) -> V1Mount {
    let mount_point = root.join(controllers.join(","));
    fs::create_dir_all(&mount_point).unwrap();
    V1Mount {
        controllers: controllers.iter().map(|c| c.to_string()).collect(),
        mount_point,
    }
}

fn field_of(e: &CgroupError) -> &str {
    match e {
        CgroupError::InvalidResource { field, .. } | CgroupError::Unsupported { field, .. } => {
            field
        }
        other => panic!("error names no field: {other}"),
    }
}

fn assert_unsupported(r: Result<()>, field: &str) {
    match r {
        Err(CgroupError::Unsupported { field: f, .. }) if f == field => {}
        other => panic!("want Unsupported({field}), got {other:?}"),
    }
}

fn assert_invalid(r: Result<()>, field: &str) {
    match r {
        Err(CgroupError::InvalidResource { field: f, .. }) if f == field => {}
        other => panic!("want InvalidResource({field}), got {other:?}"),
    }
}

fn hybrid_layout(root: &Path) -> Layout {
    let v1 = vec![
        mount(root, &["cpu", "cpuacct"]),
        mount(root, &["memory"]),
        mount(root, &["name=systemd"]),
    ];
    let unified = root.join("unified");
    touch(
        &unified,
        &[
            ("cgroup.controllers", "hugetlb\n"),
            ("cgroup.subtree_control", ""),
        ],
    );
    Layout::Hybrid { v1, unified }
}

#[test]
fn default_absolute_and_relative_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let layout = hybrid_layout(t);

    let m = manager_for_process(&layout, None, "c1", "").unwrap();
    assert_eq!(m.path_of("memory").unwrap(), t.join("memory/brig/c1"));
    assert_eq!(m.path_of("cpuacct").unwrap(), t.join("cpu,cpuacct/brig/c1"));
    assert_eq!(
        m.path_of("name=systemd").unwrap(),
        t.join("name=systemd/brig/c1")
    );
    assert_eq!(m.path_of("unified").unwrap(), t.join("unified/brig/c1"));
    assert_eq!(m.path_of("hugetlb").unwrap(), t.join("unified/brig/c1"));
    assert_eq!(m.path_of("pids"), None);

    let m = manager_for_process(&layout, Some(Path::new("/a/./b")), "c1", "").unwrap();
    assert_eq!(m.path_of("memory").unwrap(), t.join("memory/a/b"));

    let own = "3:name=systemd:/user.slice\n2:memory:/m/x\n1:cpu,cpuacct:/\n0::/sess\n";
    let m = manager_for_process(&layout, Some(Path::new("a/b")), "c1", own).unwrap();
    assert_eq!(m.path_of("memory").unwrap(), t.join("memory/m/x/a/b"));
    assert_eq!(m.path_of("cpu").unwrap(), t.join("cpu,cpuacct/a/b"));
    assert_eq!(
        m.path_of("name=systemd").unwrap(),
        t.join("name=systemd/user.slice/a/b")
    );
    assert_eq!(m.path_of("unified").unwrap(), t.join("unified/sess/a/b"));

    // A hierarchy missing from `/proc/<pid>/cgroup` cannot anchor a relative path.
    let err = manager_for_process(&layout, Some(Path::new("a")), "c1", "0::/\n").unwrap_err();
    assert!(matches!(err, CgroupError::Layout(_)), "{err}");
}

#[test]
fn dotdot_and_bad_ids_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = hybrid_layout(tmp.path());
    for p in ["../x", "/a/../../etc", "a/.."] {
        let err = manager_for_process(&layout, Some(Path::new(p)), "c1", "").unwrap_err();
        assert_eq!(field_of(&err), "linux.cgroupsPath", "{p}");
    }
    for id in ["", "..", "a/b"] {
        let err = manager_for_process(&layout, None, id, "").unwrap_err();
        assert_eq!(field_of(&err), "id", "{id:?}");
    }
}

#[test]
fn unified_create_enables_available_controllers_in_ancestors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cg2");
    touch(
        &root,
        &[
            ("cgroup.controllers", "cpu memory pids\n"),
            ("cgroup.subtree_control", ""),
        ],
    );
    // cgroupfs makes these files on mkdir; a temp dir needs them up front.
    touch(
        &root.join("brig"),
        &[
            ("cgroup.controllers", "cpu memory\n"),
            ("cgroup.subtree_control", ""),
        ],
    );
    let m = V2Manager::new(&root, Path::new("/brig/c1")).unwrap();
    m.create().unwrap();
    assert!(root.join("brig/c1").is_dir());
    assert_eq!(read(&root, "cgroup.subtree_control"), "+cpu +memory +pids");
    assert_eq!(
        read(&root.join("brig"), "cgroup.subtree_control"),
        "+cpu +memory"
    );
}

/// Every v1 file apply can write, empty, as cgroupfs would show them.
fn v1_tree(t: &Path) -> (Vec<V1Mount>, V1Manager) {
    let mounts = vec![
        mount(t, &["memory"]),
        mount(t, &["cpu", "cpuacct"]),
        mount(t, &["cpuset"]),
        mount(t, &["pids"]),
        mount(t, &["blkio"]),
        mount(t, &["devices"]),
        mount(t, &["hugetlb"]),
        mount(t, &["net_cls"]),
    ];
    let files: &[(&str, &[&str])] = &[
        (
            "memory",
            &[
                "memory.limit_in_bytes",
                "memory.soft_limit_in_bytes",
                "memory.swappiness",
                "memory.oom_control",
                "memory.kmem.tcp.limit_in_bytes",
                "memory.use_hierarchy",
            ],
        ),
        (
            "cpu,cpuacct",
            &[
                "cpu.shares",
                "cpu.cfs_period_us",
                "cpu.cfs_quota_us",
                "cpu.cfs_burst_us",
                "cpu.idle",
                "cpu.rt_period_us",
                "cpu.rt_runtime_us",
            ],
        ),
        ("cpuset", &["cpuset.cpus", "cpuset.mems"]),
        ("pids", &["pids.max"]),
        (
            "blkio",
            &[
                "blkio.bfq.weight",
                "blkio.bfq.weight_device",
                "blkio.throttle.read_bps_device",
                "blkio.throttle.write_iops_device",
            ],
        ),
        ("devices", &["devices.allow", "devices.deny"]),
        ("hugetlb", &["hugetlb.2MB.limit_in_bytes"]),
        ("net_cls", &["net_cls.classid"]),
    ];
    for (m, fs_) in files {
        let leaf = t.join(m).join("c");
        touch(&leaf, &fs_.iter().map(|f| (*f, "")).collect::<Vec<_>>());
    }
    // memsw starts unlimited, as the kernel has it.
    touch(
        &t.join("memory/c"),
        &[("memory.memsw.limit_in_bytes", "9223372036854771712\n")],
    );
    // Root-visible knobs validate_resources looks for.
    touch(
        &t.join("memory"),
        &[
            ("memory.memsw.limit_in_bytes", ""),
            ("memory.swappiness", ""),
        ],
    );
    touch(
        &t.join("cpu,cpuacct"),
        &[("cpu.rt_runtime_us", ""), ("cpu.rt_period_us", "")],
    );
    touch(&t.join("blkio"), &[("blkio.bfq.io_serviced", "")]);
    let mgr = V1Manager::new(&mounts, Path::new("/c")).unwrap();
    (mounts, mgr)
}

fn full_resources() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .swap(128 << 20)
                .reservation(32 << 20)
                .swappiness(10u64)
                .disable_oom_killer(true)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(50000)
                .period(100000u64)
                .cpus("0-1")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .weight_device(vec![LinuxWeightDeviceBuilder::default()
                    .major(254)
                    .minor(0)
                    .weight(300u16)
                    .build()
                    .unwrap()])
                .throttle_read_bps_device(vec![LinuxThrottleDeviceBuilder::default()
                    .major(254)
                    .minor(0)
                    .rate(1048576u64)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4 << 20)
            .build()
            .unwrap()])
        .build()
        .unwrap()
}

#[test]
fn v1_files_and_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (mounts, mgr) = v1_tree(t);
    let mut r = full_resources();
    r.set_devices(Some(vec![
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
    ]));
    let layout = Layout::Legacy { v1: mounts };
    validate_resources(&layout, &r).unwrap();
    mgr.apply(&r).unwrap();

    let mem = t.join("memory/c");
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "134217728");
    assert_eq!(read(&mem, "memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(read(&mem, "memory.swappiness"), "10");
    assert_eq!(read(&mem, "memory.oom_control"), "1");
    let cpu = t.join("cpu,cpuacct/c");
    assert_eq!(read(&cpu, "cpu.shares"), "1024");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&t.join("cpuset/c"), "cpuset.cpus"), "0-1");
    assert_eq!(read(&t.join("cpuset/c"), "cpuset.mems"), "0");
    assert_eq!(read(&t.join("pids/c"), "pids.max"), "10");
    let blk = t.join("blkio/c");
    // No blkio.weight on this tree: BFQ's file takes the same scale.
    assert_eq!(read(&blk, "blkio.bfq.weight"), "500");
    assert_eq!(read(&blk, "blkio.bfq.weight_device"), "254:0 300");
    assert_eq!(
        read(&blk, "blkio.throttle.read_bps_device"),
        "254:0 1048576"
    );
    assert_eq!(
        read(&t.join("hugetlb/c"), "hugetlb.2MB.limit_in_bytes"),
        "4194304"
    );
    assert_eq!(read(&t.join("devices/c"), "devices.deny"), "a *:* rwm");
    assert_eq!(read(&t.join("devices/c"), "devices.allow"), "c 1:3 rwm");
    // Each file written only where set: memory.use_hierarchy stayed untouched.
    assert_eq!(read(&mem, "memory.use_hierarchy"), "");
}

#[test]
fn v1_unlimited_memory_lifts_memsw_first() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_, mgr) = v1_tree(t);
    let mem = t.join("memory/c");
    let limit = |l: i64, s: Option<i64>| {
        let mut m = LinuxMemoryBuilder::default().limit(l);
        if let Some(s) = s {
            m = m.swap(s);
        }
        LinuxResourcesBuilder::default()
            .memory(m.build().unwrap())
            .build()
            .unwrap()
    };
    mgr.apply(&limit(64 << 20, Some(128 << 20))).unwrap();
    assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "134217728");
    // -1 alone: memsw goes to -1 as well (the kernel would refuse a memory
    // limit above memsw otherwise).
    mgr.apply(&limit(-1, None)).unwrap();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "-1");
    assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "-1");
    // A plain limit leaves memsw alone.
    mgr.apply(&limit(32 << 20, None)).unwrap();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "33554432");
    assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "-1");
}

#[test]
fn v1_refusals_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let (mounts, mgr) = v1_tree(tmp.path());
    let layout = Layout::Legacy { v1: mounts };

    let mut unified = HashMap::new();
    unified.insert("memory.high".to_string(), "1G".to_string());
    let r = LinuxResourcesBuilder::default()
        .unified(unified)
        .build()
        .unwrap();
    assert_unsupported(validate_resources(&layout, &r), "linux.resources.unified");
    assert_unsupported(mgr.apply(&r), "linux.resources.unified");

    #[allow(deprecated)]
    let kmem = LinuxMemoryBuilder::default()
        .kernel(1 << 20)
        .build()
        .unwrap();
    let r = LinuxResourcesBuilder::default()
        .memory(kmem)
        .build()
        .unwrap();
    // Deprecated and ignored by the kernel: accepted with a warning (as runc
    // and crun do), and nothing is written.
    validate_resources(&layout, &r).expect("kernel memory is ignored, not refused");
    mgr.apply(&r)
        .expect("kernel memory is ignored, not refused");
    let kmem_file = tmp.path().join("memory/test/memory.kmem.limit_in_bytes");
    if let Ok(v) = std::fs::read_to_string(&kmem_file) {
        assert_ne!(v.trim(), (1u64 << 20).to_string(), "kmem limit written");
    }

    // Files this tree lacks, as on the build host: blkio.leaf_weight.
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .leaf_weight(100u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_unsupported(
        validate_resources(&layout, &r),
        "linux.resources.blockIO.leafWeight",
    );
    assert_unsupported(mgr.apply(&r), "linux.resources.blockIO.leafWeight");

    // rdma is not mounted here.
    let mut rdma = HashMap::new();
    rdma.insert(
        "mlx5_0".to_string(),
        oci_spec::runtime::LinuxRdma::default(),
    );
    let r = LinuxResourcesBuilder::default().rdma(rdma).build().unwrap();
    assert_unsupported(validate_resources(&layout, &r), "linux.resources.rdma");

    // Unlimited pids is "max".
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(-1).build().unwrap())
        .build()
        .unwrap();
    mgr.apply(&r).unwrap();
    assert_eq!(read(&tmp.path().join("pids/c"), "pids.max"), "max");
}

#[test]
fn value_checks_name_the_field() {
    let layout = Layout::Legacy { v1: Vec::new() };
    let mem = |b: LinuxMemoryBuilder| {
        LinuxResourcesBuilder::default()
            .memory(b.build().unwrap())
            .build()
            .unwrap()
    };
    let cpu = |b: LinuxCpuBuilder| {
        LinuxResourcesBuilder::default()
            .cpu(b.build().unwrap())
            .build()
            .unwrap()
    };
    let cases: Vec<(LinuxResources, &str)> = vec![
        (
            mem(LinuxMemoryBuilder::default().limit(2 << 20).swap(1 << 20)),
            "linux.resources.memory.swap",
        ),
        (
            mem(LinuxMemoryBuilder::default().limit(-5)),
            "linux.resources.memory.limit",
        ),
        (
            mem(LinuxMemoryBuilder::default().swappiness(101u64)),
            "linux.resources.memory.swappiness",
        ),
        (
            cpu(LinuxCpuBuilder::default().shares(1u64)),
            "linux.resources.cpu.shares",
        ),
        (
            cpu(LinuxCpuBuilder::default().quota(10)),
            "linux.resources.cpu.quota",
        ),
        (
            cpu(LinuxCpuBuilder::default().period(10u64)),
            "linux.resources.cpu.period",
        ),
        (
            cpu(LinuxCpuBuilder::default().cpus("0-")),
            "linux.resources.cpu.cpus",
        ),
        (
            cpu(LinuxCpuBuilder::default().mems("x")),
            "linux.resources.cpu.mems",
        ),
        (
            cpu(LinuxCpuBuilder::default()
                .realtime_period(1000u64)
                .realtime_runtime(2000)),
            "linux.resources.cpu.realtimeRuntime",
        ),
        (
            LinuxResourcesBuilder::default()
                .block_io(LinuxBlockIoBuilder::default().weight(5u16).build().unwrap())
                .build()
                .unwrap(),
            "linux.resources.blockIO.weight",
        ),
        (
            LinuxResourcesBuilder::default()
                .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                    .page_size("2M")
                    .limit(1)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
            "linux.resources.hugepageLimits[0].pageSize",
        ),
    ];
    for (r, field) in cases {
        assert_invalid(validate_resources(&layout, &r), field);
    }
}

fn v2_tree(t: &Path, controllers: &str) -> (PathBuf, V2Manager) {
    let root = t.join("cg2");
    touch(
        &root,
        &[
            ("cgroup.controllers", controllers),
            ("cgroup.subtree_control", ""),
        ],
    );
    let files = [
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "cpu.weight",
        "cpu.max",
        "cpu.max.burst",
        "cpuset.cpus",
        "cpuset.mems",
        "pids.max",
        "io.weight",
        "io.max",
        "hugetlb.2MB.max",
        "hugetlb.2MB.rsvd.max",
        "memory.high",
    ];
    let leaf = root.join("c");
    touch(&leaf, &files.iter().map(|f| (*f, "")).collect::<Vec<_>>());
    touch(
        &leaf,
        &[
            ("cgroup.controllers", controllers),
            ("cpu.max", "max 100000\n"),
        ],
    );
    let mgr = V2Manager::new(&root, Path::new("c")).unwrap();
    (root, mgr)
}

#[test]
fn v2_files_and_conversions() {
    let tmp = tempfile::tempdir().unwrap();
    let all = "cpuset cpu io memory hugetlb pids\n";
    let (root, mgr) = v2_tree(tmp.path(), all);
    let mut r = full_resources();
    r.memory_mut().as_mut().unwrap().set_swappiness(None);
    r.memory_mut()
        .as_mut()
        .unwrap()
        .set_disable_oom_killer(None);
    let mut unified = HashMap::new();
    unified.insert("memory.high".to_string(), "50331648".to_string());
    r.set_unified(Some(unified));
    let layout = Layout::Unified { root: root.clone() };
    validate_resources(&layout, &r).unwrap();
    mgr.apply(&r).unwrap();

    let c = root.join("c");
    assert_eq!(read(&c, "memory.max"), "67108864");
    // OCI swap is memory+swap; memory.swap.max is the swap part.
    assert_eq!(read(&c, "memory.swap.max"), "67108864");
    assert_eq!(read(&c, "memory.low"), "33554432");
    assert_eq!(read(&c, "memory.high"), "50331648");
    assert_eq!(read(&c, "cpu.weight"), "39");
    assert_eq!(read(&c, "cpu.max"), "50000 100000");
    assert_eq!(read(&c, "cpuset.cpus"), "0-1");
    assert_eq!(read(&c, "pids.max"), "10");
    // 1 + (300 - 10) * 9999 / 990
    assert_eq!(read(&c, "io.weight"), "254:0 2930");
    assert_eq!(read(&c, "io.max"), "254:0 rbps=1048576");
    assert_eq!(read(&c, "hugetlb.2MB.max"), "4194304");
    assert_eq!(read(&c, "hugetlb.2MB.rsvd.max"), "4194304");

    // Quota alone keeps the period; period alone keeps the quota in place.
    let q = |quota: Option<i64>, period: Option<u64>| {
        let mut b = LinuxCpuBuilder::default();
        if let Some(q) = quota {
            b = b.quota(q);
        }
        if let Some(p) = period {
            b = b.period(p);
        }
        LinuxResourcesBuilder::default()
            .cpu(b.build().unwrap())
            .build()
            .unwrap()
    };
    mgr.apply(&q(Some(20000), None)).unwrap();
    assert_eq!(read(&c, "cpu.max"), "20000");
    fs::write(c.join("cpu.max"), "20000 100000\n").unwrap();
    mgr.apply(&q(None, Some(50000))).unwrap();
    assert_eq!(read(&c, "cpu.max"), "20000 50000");
    mgr.apply(&q(Some(-1), Some(100000))).unwrap();
    assert_eq!(read(&c, "cpu.max"), "max 100000");

    // Without io.weight (no iocost), BFQ's io.bfq.weight takes the blkio scale.
    fs::remove_file(c.join("io.weight")).unwrap();
    fs::write(c.join("io.bfq.weight"), "").unwrap();
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    mgr.apply(&r).unwrap();
    assert_eq!(read(&c, "io.bfq.weight"), "default 500");
}

#[test]
fn v2_refusals_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, mgr) = v2_tree(tmp.path(), "cpu memory pids\n");
    let layout = Layout::Unified { root };
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .swappiness(10u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_unsupported(
        validate_resources(&layout, &r),
        "linux.resources.memory.swappiness",
    );
    assert_unsupported(mgr.apply(&r), "linux.resources.memory.swappiness");

    let r = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().swap(1 << 20).build().unwrap())
        .build()
        .unwrap();
    assert_invalid(
        validate_resources(&layout, &r),
        "linux.resources.memory.swap",
    );

    let r = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .realtime_runtime(1000)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_unsupported(
        validate_resources(&layout, &r),
        "linux.resources.cpu.realtimeRuntime",
    );

    // Device rules need no controller on cgroup2: they are an eBPF program.
    let r = LinuxResourcesBuilder::default()
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    validate_resources(&layout, &r).unwrap();
    // A temp dir is no cgroup to attach it to.
    assert_unsupported(mgr.apply(&r), "linux.resources.devices");

    // io is not among this tree's controllers.
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(100u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_unsupported(validate_resources(&layout, &r), "linux.resources.blockIO");

    let mut unified = HashMap::new();
    unified.insert("io.max".to_string(), "8:0 rbps=1".to_string());
    let r = LinuxResourcesBuilder::default()
        .unified(unified)
        .build()
        .unwrap();
    assert_unsupported(
        validate_resources(&layout, &r),
        "linux.resources.unified.io.max",
    );
}

#[test]
fn hybrid_routes_v1_controllers_to_v1_and_the_rest_to_cgroup2() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let layout = hybrid_layout(t);
    let Layout::Hybrid { v1, unified } = &layout else {
        unreachable!()
    };
    touch(&unified.join("brig"), &[("cgroup.subtree_control", "")]);
    touch(
        &unified.join("brig/c1"),
        &[("cgroup.controllers", ""), ("hugetlb.2MB.max", "")],
    );
    touch(&t.join("memory/brig/c1"), &[("memory.limit_in_bytes", "")]);
    touch(&t.join("memory"), &[("memory.memsw.limit_in_bytes", "")]);
    let mgr = HybridManager::new(v1, unified, Path::new("/brig/c1")).unwrap();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(1 << 20)
                .build()
                .unwrap(),
        )
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(2 << 20)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    validate_resources(&layout, &r).unwrap();
    mgr.apply(&r).unwrap();
    assert_eq!(
        read(&t.join("memory/brig/c1"), "memory.limit_in_bytes"),
        "1048576"
    );
    assert_eq!(read(&unified.join("brig/c1"), "hugetlb.2MB.max"), "2097152");
    // hugetlb was turned on from the root down to the cgroup's parent.
    assert_eq!(read(unified, "cgroup.subtree_control"), "+hugetlb");
    assert_eq!(
        read(&unified.join("brig"), "cgroup.subtree_control"),
        "+hugetlb"
    );

    // Neither a v1 pids hierarchy nor pids in cgroup2.
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
        .build()
        .unwrap();
    assert_unsupported(validate_resources(&layout, &r), "linux.resources.pids");
    // net_cls is neither a v1 mount here nor a cgroup2 controller anywhere.
    let r = LinuxResourcesBuilder::default()
        .network(
            oci_spec::runtime::LinuxNetworkBuilder::default()
                .class_id(7u32)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_unsupported(
        validate_resources(&layout, &r),
        "linux.resources.network.classID",
    );
    assert_unsupported(mgr.apply(&r), "linux.resources.network.classID");
}
