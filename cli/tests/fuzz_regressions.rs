//! The fuzz targets' checks (fuzz/checks.rs) run under `cargo test` on every
//! seed (fuzz/seeds/<target>/) and every crash input kept from a fuzz run
//! (fuzz/regressions/<target>/). A new crash input goes there once its bug is
//! fixed (the three cgroup_paths inputs were fixed by refusing a cgroupsPath
//! that names no cgroup of its own, and a /proc/self/cgroup path with `..`).

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("config_json", checks::config_json),
    ("state_json", checks::state_json),
    ("cli_parsers", checks::cli_parsers),
    ("mount_options", checks::mount_options),
    ("cli_args", checks::cli_args),
    ("cgroup_paths", checks::cgroup_paths),
    ("resources_json", checks::resources_json),
    ("proc_files", checks::proc_files),
    ("seccomp", checks::seccomp),
    ("layer_unpack", checks::layer_unpack),
    ("image_manifest", checks::image_manifest),
    ("dockerfile", checks::dockerfile),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every (target, input file) under `kind` (seeds or regressions).
fn inputs(kind: &str) -> Vec<(&'static str, Check, PathBuf)> {
    let mut out = Vec::new();
    for &(target, check) in TARGETS {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        out.extend(files.into_iter().map(|f| (target, check, f)));
    }
    out
}

/// Run each input through its check; the failures, with the panic message.
fn failures(inputs: &[(&str, Check, PathBuf)]) -> Vec<String> {
    let mut out = Vec::new();
    for (target, check, file) in inputs {
        let data = std::fs::read(file).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            out.push(format!("{target}: {}: {msg}", file.display()));
        }
    }
    out
}

#[test]
fn every_seed_passes_its_target() {
    let seeds = inputs("seeds");
    assert!(
        seeds.len() >= TARGETS.len(),
        "seeds missing under fuzz/seeds"
    );
    let failed = failures(&seeds);
    assert!(failed.is_empty(), "seeds fail: {failed:#?}");
}

#[test]
fn every_fixed_crash_input_passes() {
    let kept = inputs("regressions");
    assert!(!kept.is_empty(), "no crash inputs under fuzz/regressions");
    let failed = failures(&kept);
    assert!(failed.is_empty(), "fuzz regressions: {failed:#?}");
}

/// The config-level view of the first two cgroup_paths crash inputs: a
/// linux.cgroupsPath that names no cgroup of its own must be refused before
/// anything exists. (Not run against a real container: deleting one would
/// kill every process in the root cgroup, or in the caller's.)
#[test]
fn a_cgroups_path_that_names_no_cgroup_is_refused() {
    let bundle = tempfile::tempdir().unwrap();
    std::fs::create_dir(bundle.path().join("rootfs")).unwrap();
    let with_path = |p: &str| {
        let mut spec = brig_runtime::spec::default_spec();
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_cgroups_path(Some(p.into()));
        spec.set_linux(Some(linux));
        brig_runtime::spec::validate(&spec, bundle.path())
    };
    // The control: a cgroupsPath that names a cgroup is fine.
    with_path("/brig/named").unwrap();
    with_path("named").unwrap();
    let accepted: Vec<_> = ["/", "////", ".", "./", "/./."]
        .into_iter()
        .filter(|p| with_path(p).is_ok())
        .collect();
    assert!(accepted.is_empty(), "cgroupsPath accepted: {accepted:?}");
}
