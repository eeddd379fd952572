//! Mount option parsing, and the path resolution that keeps mount targets inside
//! the rootfs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let opts: Vec<String> = s.split(',').map(str::to_string).collect();
        let _ = brig_runtime::rootfs::parse_options(&opts);
        let root = std::path::Path::new("/nonexistent-root");
        let joined = brig_runtime::rootfs::secure_join(root, std::path::Path::new(s));
        assert!(joined.starts_with(root), "{joined:?} escaped the root");
    }
});
