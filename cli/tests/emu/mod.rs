//! Shared by the tests on the emulated kernel (brig_runtime::kernel::emulator): a
//! bundle and a state store in a temp dir, and a copy of a store as a crash
//! leaves it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use brig_runtime::container::Store;

/// A bundle (config.json from brig's default spec, an empty rootfs) and a
/// state root, in a temp dir (on tmpfs when there is one).
pub struct EmuBed {
    pub tmp: tempfile::TempDir,
    pub bundle: PathBuf,
    pub store: Store,
}

impl EmuBed {
    pub fn new(args: &[&str]) -> EmuBed {
        let shm = Path::new("/dev/shm");
        let tmp = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .unwrap();
        let bundle = tmp.path().join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let mut config: serde_json::Value =
            serde_json::from_str(brig_runtime::spec::default_spec_text()).unwrap();
        config["process"]["args"] = serde_json::json!(args);
        config["process"]["terminal"] = serde_json::Value::Bool(false);
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec(&config).unwrap(),
        )
        .unwrap();
        let store = Store::new(tmp.path().join("state"));
        EmuBed { tmp, bundle, store }
    }
}

/// Copy the tree at `from` to `to` as it is on disk: files, directories,
/// and fifos (made anew, never opened).
pub fn copy_tree(from: &Path, to: &Path) {
    use std::os::unix::fs::FileTypeExt;
    std::fs::create_dir_all(to).unwrap();
    let Ok(rd) = std::fs::read_dir(from) else {
        return;
    };
    for e in rd {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type().unwrap();
        if t.is_dir() {
            copy_tree(&src, &dst);
        } else if t.is_fifo() {
            nix::unistd::mkfifo(&dst, nix::sys::stat::Mode::from_bits_truncate(0o622)).unwrap();
        } else if t.is_file() {
            // A file may be renamed away between the listing and the copy.
            let _ = std::fs::copy(&src, &dst);
        }
    }
}
