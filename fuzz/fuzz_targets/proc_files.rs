//! /proc/self/mountinfo, /proc/<pid>/cgroup and /proc/<pid>/stat text: parsed or refused.
//! The check is in ../checks.rs, shared with cli/tests/fuzz_regressions.rs.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::proc_files(data));
