//! The checks the fuzz targets run, one function per target, shared with the
//! regression test cli/tests/fuzz_regressions.rs (which runs every seed and
//! every kept crash input through them under `cargo test`). A check panics when
//! brig misbehaves; any other outcome (an error, a refusal) is fine.
//!
//! The bodies of `config_json`, `state_json`, `cli_parsers` and
//! `mount_options` mirror fuzz_targets/<name>.rs; keep them the same.
#![allow(dead_code)]

use std::path::{Component, Path};

/// This host's cgroup mounts (hybrid), as /proc/self/mountinfo lists them.
pub const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

/// A pure cgroup2 host.
pub const UNIFIED_MOUNTINFO: &str =
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n";

const CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "name=systemd",
    "hugetlb",
    "unified",
];

pub fn config_json(data: &[u8]) {
    let path = Path::new("/nonexistent/config.json");
    if let Ok(spec) = brig_runtime::spec::parse_json::<brig_runtime::spec::Spec>(path, data) {
        let _ = brig_runtime::spec::validate(&spec, Path::new("/nonexistent"));
        if let Some(p) = spec.process() {
            let _ = brig_runtime::spec::validate_process(p);
        }
    }
}

pub fn state_json(data: &[u8]) {
    if let Ok(st) = serde_json::from_slice::<brig_runtime::container::ContainerState>(data) {
        let _ = st.oci_json();
        let _ = st.hook_json(st.status);
    }
}

pub fn cli_parsers(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = brig_runtime::container::parse_signal(s);
        if brig_runtime::container::validate_id(s).is_ok() {
            assert!(!s.contains('/') && s != "." && s != ".." && !s.contains('\0'));
        }
    }
}

pub fn mount_options(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let opts: Vec<String> = s.split(',').map(str::to_string).collect();
        let _ = brig_runtime::rootfs::parse_options(&opts);
        let root = Path::new("/nonexistent-root");
        let joined = brig_runtime::rootfs::secure_join(root, Path::new(s));
        assert!(joined.starts_with(root), "{joined:?} escaped the root");
    }
}

/// The whole command line, NUL-separated arguments after `brig`: every
/// subcommand, flag and value parser (sizes such as "512m" for update,
/// durations such as "1m30s" for events, signals for kill), parsed and never
/// run.
pub fn cli_args(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let args = std::iter::once("brig").chain(s.split('\0'));
    let _ = <brig::Cli as clap::Parser>::try_parse_from(args);
}

/// A linux.cgroupsPath, a container id and the text of /proc/<pid>/cgroup (a
/// create's own, which state.json keeps as creatorCgroups), one per line then
/// the rest. When a manager is built, every cgroup directory of it must lie
/// strictly below its hierarchy's mount, with no `..`, and a cgroupsPath must
/// name a cgroup of its own: `delete` and `kill --all` signal every process
/// of the directory, so "/" (the root cgroup) or "." (the caller's own cgroup)
/// would reach far beyond the container. Nothing is created: managers are
/// built, not used.
pub fn cgroup_paths(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = s.splitn(3, '\n');
    let cgroups_path = parts.next().unwrap_or_default();
    let id = parts.next().unwrap_or_default();
    let own = parts.next().unwrap_or_default();
    let path = (!cgroups_path.is_empty()).then(|| Path::new(cgroups_path));
    for text in [HYBRID_MOUNTINFO, UNIFIED_MOUNTINFO] {
        let layout = brig_cgroups::parse_mountinfo(text).expect("fixed mountinfo parses");
        let mounts: Vec<&Path> = match &layout {
            brig_cgroups::Layout::Unified { root } => vec![root.as_path()],
            brig_cgroups::Layout::Hybrid { v1, unified } => v1
                .iter()
                .map(|m| m.mount_point.as_path())
                .chain([unified.as_path()])
                .collect(),
            brig_cgroups::Layout::Legacy { v1 } => {
                v1.iter().map(|m| m.mount_point.as_path()).collect()
            }
        };
        let Ok(mgr) = brig_cgroups::manager_for_process(&layout, path, id, own) else {
            continue;
        };
        if let Some(p) = path {
            assert!(
                p.components().any(|c| matches!(c, Component::Normal(_))),
                "cgroupsPath {p:?} names no cgroup of its own, yet a manager was built \
                 (own cgroups {own:?})"
            );
        }
        for c in CONTROLLERS {
            let Some(dir) = mgr.path_of(c) else {
                continue;
            };
            assert!(
                !dir.components().any(|c| c == Component::ParentDir),
                "cgroup dir {dir:?} of {c} has a .. (cgroupsPath {cgroups_path:?}, id {id:?}, \
                 own cgroups {own:?})"
            );
            assert!(
                mounts.iter().any(|m| dir.starts_with(m) && dir != *m),
                "cgroup dir {dir:?} of {c} is not strictly below a hierarchy mount \
                 (cgroupsPath {cgroups_path:?}, id {id:?})"
            );
        }
    }
}

/// linux.resources JSON, as `update -r FILE` takes it, checked against a
/// hybrid and a cgroup2 layout. The check only reads the hierarchy roots.
pub fn resources_json(data: &[u8]) {
    let de = &mut serde_json::Deserializer::from_slice(data);
    let Ok(res) = serde_path_to_error::deserialize::<_, oci_spec::runtime::LinuxResources>(de)
    else {
        return;
    };
    for text in [HYBRID_MOUNTINFO, UNIFIED_MOUNTINFO] {
        let layout = brig_cgroups::parse_mountinfo(text).expect("fixed mountinfo parses");
        let _ = brig_cgroups::validate_resources(&layout, &res);
    }
}

/// The text of /proc/self/mountinfo and /proc/<pid>/cgroup: parsed or
/// refused, never a panic.
pub fn proc_files(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = brig_cgroups::parse_mountinfo(s);
    let _ = brig_cgroups::parse_proc_cgroup(s);
    let _ = brig_runtime::sys::parse_proc_stat(s);
}

/// linux.seccomp JSON → brig's BPF compiler. A profile compiles or is refused
/// with an error; a compiled program passes the kernel's load-time checks, and
/// on every syscall the profile names (each architecture, with arguments at and
/// around each condition's values) the BPF answers what the validated plan says.
pub fn seccomp(data: &[u8]) {
    use brig_runtime::security::seccomp::{bpf, compile, Decision, Target};
    let de = &mut serde_json::Deserializer::from_slice(data);
    let Ok(profile) = serde_path_to_error::deserialize::<_, oci_spec::runtime::LinuxSeccomp>(de)
    else {
        return;
    };
    let Ok(program) = compile(&profile) else {
        return;
    };
    let prog = program.instructions();
    bpf::check(prog).expect("a compiled filter passes the kernel's checks");
    let plan = compile::plan(&profile).expect("compile accepted the profile");
    let arch_of = |t: Target| t.audit_arch();
    let mut probes = Vec::new();
    for (&target, calls) in &plan.syscalls {
        for (&nr, decision) in calls {
            let mut values = vec![0u64, u64::MAX];
            if let Decision::Rules(rules) = decision {
                for c in rules.iter().flat_map(|r| &r.conds) {
                    for v in [c.value, c.value_two] {
                        values.extend([v, v.wrapping_sub(1), v.wrapping_add(1), v ^ (1 << 32)]);
                    }
                }
            }
            values.truncate(64);
            for (i, &v) in values.iter().enumerate() {
                let mut args = [values[(i + 1) % values.len()]; 6];
                args[i % 6] = v;
                probes.push(bpf::SeccompData {
                    nr: nr as i32,
                    arch: arch_of(target),
                    instruction_pointer: 0,
                    args,
                });
            }
        }
    }
    // Syscalls the profile does not name, and an architecture it may not list.
    for (t, nr) in [
        (Target::X86_64, 999_999),
        (Target::X86, 999_999),
        (Target::X32, 0x4000_0000 | 999),
    ] {
        probes.push(bpf::SeccompData {
            nr,
            arch: arch_of(t),
            instruction_pointer: 0,
            args: [0; 6],
        });
    }
    probes.push(bpf::SeccompData {
        nr: 0,
        arch: 0x4000_00b7, // AUDIT_ARCH_AARCH64
        instruction_pointer: 0,
        args: [0; 6],
    });
    for d in probes.iter().take(4096) {
        let got = bpf::simulate(prog, d).expect("the filter runs");
        assert_eq!(
            got,
            plan.verdict(d),
            "BPF and plan disagree on nr {} arch {:#x} args {:?}",
            d.nr,
            d.arch,
            d.args
        );
    }
}

/// Where `layer_unpack` unpacks: DIR/layer, next to DIR/outside (holding one
/// sentinel file) that no input may reach, by `..`, an absolute name, a symlink
/// or a hard link. A fixed path, so that seeds can name it absolutely too.
pub const UNPACK_SANDBOX: &str = "/tmp/brig-fuzz-unpack";

/// A layer (a tar, maybe gzip or zstd) unpacked into an empty dir: an error
/// is fine, but nothing outside the dir may change, and the dir itself must
/// stay a plain directory.
pub fn layer_unpack(data: &[u8]) {
    use std::io::Read;
    let sandbox = Path::new(UNPACK_SANDBOX);
    let layer = sandbox.join("layer");
    let outside = sandbox.join("outside");
    let _ = brig_engine::image::unpack::remove_tree(&layer);
    std::fs::create_dir_all(&layer).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("sentinel"), b"untouched").unwrap();
    let reader =
        brig_engine::image::decompress(std::io::BufReader::new(data)).map(|r| r.take(16 << 20));
    if let Ok(r) = reader {
        let _ = brig_engine::image::unpack_layer(r, &layer);
    }
    let mut top: Vec<String> = std::fs::read_dir(sandbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        ["layer", "outside"],
        "an entry was written next to the layer dir"
    );
    let mut out: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    assert_eq!(
        out,
        ["sentinel"],
        "an entry was written outside the layer dir"
    );
    let meta = std::fs::symlink_metadata(outside.join("sentinel")).unwrap();
    assert!(meta.is_file(), "the sentinel was replaced");
    assert_eq!(
        std::os::unix::fs::MetadataExt::nlink(&meta),
        1,
        "a hard link to a file outside the layer dir was made"
    );
    assert_eq!(
        std::fs::read(outside.join("sentinel")).unwrap(),
        b"untouched"
    );
    assert!(std::fs::symlink_metadata(&layer).unwrap().is_dir());
    let _ = brig_engine::image::unpack::remove_tree(sandbox);
}

/// An OCI index, manifest and image config, as brig reads them on import:
/// the input is parsed as each; split at the first NUL, as a manifest and a
/// config whose layers brig would unpack. Errors are fine, panics are not, and
/// every layer brig accepts has sha256 digests.
pub fn image_manifest(data: &[u8]) {
    use brig_engine::image::import;
    if let Ok(index) = import::parse_index(data) {
        let _ = import::pick_manifest(&index, None);
        let _ = import::pick_manifest(&index, Some("latest"));
    }
    let _ = import::parse_config(data);
    let (m, c) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    if let (Ok(m), Ok(c)) = (import::parse_manifest(m), import::parse_config(c)) {
        if let Ok(layers) = import::layer_records(&m, &c) {
            for l in layers {
                assert!(l.digest.as_str().starts_with("sha256:") && l.digest.hex().len() == 64);
                assert!(l.diff_id.as_str().starts_with("sha256:"));
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = brig_engine::image::Digest::parse(s) {
            assert_eq!(d.hex().len(), 64);
        }
        let _ = brig_engine::image::store::normalize_ref(s);
    }
}

/// `brig image build`'s Dockerfile parser and its word expansion: never a
/// panic; an error names a line of the input; every word a parsed file
/// holds expands (or fails) without panicking.
pub fn dockerfile(data: &[u8]) {
    use brig_engine::build::dockerfile::{expand, parse, split_words, Kind};
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let env = |k: &str| k.len().is_multiple_of(2).then(|| k.to_string());
    let _ = expand(s, &env);
    let _ = split_words(s);
    match parse(s) {
        Err(e) => assert!(
            e.line >= 1 && e.line <= s.lines().count().max(1),
            "line {} of {}: {e}",
            e.line,
            s.lines().count()
        ),
        Ok(df) => {
            assert!(!df.stages.is_empty());
            for st in &df.stages {
                let _ = expand(&st.base, &env);
                for i in &st.instructions {
                    assert!(i.line >= st.line);
                    match &i.kind {
                        Kind::Copy { srcs, dest, .. } => {
                            assert!(!srcs.is_empty());
                            for w in srcs.iter().chain([dest]) {
                                let _ = expand(w, &env);
                            }
                        }
                        Kind::Env(p) | Kind::Label(p) => {
                            for (k, v) in p {
                                let _ = (expand(k, &env), expand(v, &env));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
