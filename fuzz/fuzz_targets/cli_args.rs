//! The whole command line (sizes, durations, signals, every flag): parsed, never run.
//! The check is in ../checks.rs, shared with cli/tests/fuzz_regressions.rs.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::cli_args(data));
