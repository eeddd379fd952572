//! The CLI's parsers of user strings: signals ("SIGKILL", "9") and container ids.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = brig_runtime::container::parse_signal(s);
        if brig_runtime::container::validate_id(s).is_ok() {
            // An accepted id is a plain name: it must never leave the state root.
            assert!(!s.contains('/') && s != "." && s != ".." && !s.contains('\0'));
        }
    }
});
