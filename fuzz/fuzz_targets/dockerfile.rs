//! The Dockerfile parser and word expansion of `brig image build`: errors
//! that name a real line, never panics.
//! The check is in ../checks.rs, shared with runtime/tests/fuzz_regressions.rs.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::dockerfile(data));
