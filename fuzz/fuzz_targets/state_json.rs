//! state.json loading: a damaged state file is an error, never a panic, and a
//! loaded state can be reported.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(st) = serde_json::from_slice::<brig_runtime::container::ContainerState>(data) {
        let _ = st.oci_json();
        let _ = st.hook_json(st.status);
    }
});
