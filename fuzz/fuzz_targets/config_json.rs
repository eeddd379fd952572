//! config.json parsing and validation: any input is parsed or refused with an
//! error, never a panic. Validation runs against a bundle that does not exist,
//! so it only looks at the config.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("/nonexistent/config.json");
    if let Ok(spec) = brig_runtime::spec::parse_json::<brig_runtime::spec::Spec>(path, data) {
        let _ = brig_runtime::spec::validate(&spec, std::path::Path::new("/nonexistent"));
        if let Some(p) = spec.process() {
            let _ = brig_runtime::spec::validate_process(p);
        }
    }
});
