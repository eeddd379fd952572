//! A layer tar (maybe gzip or zstd) unpacked into an empty dir: nothing outside it may change.
//! The check is in ../checks.rs, shared with cli/tests/fuzz_regressions.rs.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::layer_unpack(data));
