//! Named volumes: ROOT/volumes/NAME/_data, bind-mounted into containers. Their
//! data outlives every container; `volume rm` refuses one that a container
//! (running or not) still names.

use std::path::{Path, PathBuf};

use super::{msg, Engine, Result};
use crate::image::ImageError;
use crate::store::EngineDirs;

pub fn data_dir(volumes: &Path, name: &str) -> PathBuf {
    volumes.join(name).join("_data")
}

/// Make the volume if it does not exist; returns its dir if this call made it.
pub fn ensure(dirs: &EngineDirs, name: &str) -> Result<Option<PathBuf>> {
    if !super::flags::valid_name(name) {
        return Err(msg(format!(
            "volume {name:?}: a name is [a-zA-Z0-9][a-zA-Z0-9_.-]* (at most 128)"
        )));
    }
    let dir = dirs.volumes().join(name);
    if dir.join("_data").is_dir() {
        return Ok(None);
    }
    let data = dir.join("_data");
    std::fs::create_dir_all(&data).map_err(|e| ImageError::io(&data, e))?;
    Ok(Some(dir))
}

impl Engine {
    /// `volume create NAME`: made, or there already.
    pub fn create_volume(&self, name: &str) -> Result<()> {
        let _lock = self.images.lock()?;
        ensure(&self.dirs, name).map(|_| ())
    }

    pub fn volumes(&self) -> Result<Vec<String>> {
        let dir = self.dirs.volumes();
        let mut out: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| ImageError::io(&dir, e))?
            .flatten()
            .filter(|e| e.path().join("_data").is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        Ok(out)
    }

    /// `volume rm NAME`: refused while a container names it.
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        let _lock = self.images.lock()?;
        if !super::flags::valid_name(name) || !self.dirs.volumes().join(name).is_dir() {
            return Err(msg(format!("volume {name:?}: no such volume")));
        }
        let users: Vec<String> = self
            .records()?
            .into_iter()
            .filter(|r| r.volumes.iter().any(|v| v == name))
            .map(|r| r.name)
            .collect();
        if !users.is_empty() {
            return Err(msg(format!(
                "volume {name}: in use by container(s) {}; remove them first",
                users.join(", ")
            )));
        }
        let dir = self.dirs.volumes().join(name);
        std::fs::remove_dir_all(&dir).map_err(|e| ImageError::io(&dir, e).into())
    }
}
