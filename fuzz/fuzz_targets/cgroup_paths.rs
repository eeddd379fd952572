//! cgroupsPath, id and /proc/<pid>/cgroup text: the cgroup dirs stay inside their hierarchies.
//! The check is in ../checks.rs, shared with cli/tests/fuzz_regressions.rs.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::cgroup_paths(data));
