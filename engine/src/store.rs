//! The engine's own folders under the image root, next to the image store's
//! (which knows nothing of them):
//!
//! ```text
//! ROOT/containers/ID            containers made from images (record.json,
//!                               config.json, the overlay snapshot, the log)
//! ROOT/volumes/NAME/_data       named volumes
//! ROOT/init/brig-init           the init of `container run --init`
//! ```
//!
//! Writers take the image store's lock (ROOT/lock), so that `image rm` and
//! `container create` of the same image are serialized.

use std::path::{Path, PathBuf};

use crate::image::ImageError;

#[derive(Debug, Clone)]
pub struct EngineDirs {
    root: PathBuf,
}

impl EngineDirs {
    /// The folders under `root` (the image store's, already made), made if missing.
    pub fn open(root: &Path) -> Result<EngineDirs, ImageError> {
        let dirs = EngineDirs {
            root: root.to_path_buf(),
        };
        for p in [dirs.containers(), dirs.volumes()] {
            std::fs::create_dir_all(&p).map_err(|e| ImageError::io(&p, e))?;
        }
        Ok(dirs)
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }

    pub fn init(&self) -> PathBuf {
        self.root.join("init")
    }
}
