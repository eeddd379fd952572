//! linux.seccomp JSON → brig's BPF compiler, checked against the kernel's
//! load-time rules and, by simulation, against the profile's meaning.
//! The check is in ../checks.rs, shared with cli/tests/fuzz_regressions.rs.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::seccomp(data));
