//! linux.resources JSON (update -r): parsed and checked against hybrid and cgroup2 layouts.
//! The check is in ../checks.rs, shared with cli/tests/fuzz_regressions.rs.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::resources_json(data));
