//! Overlay snapshots: a container's rootfs is an overlayfs with the image's
//! layer dirs as lowerdirs (topmost first, as overlayfs wants them) and an
//! upperdir and workdir of its own. It is mounted on the host, as a
//! containerd snapshotter does, before the runtime's create pivots into it.
//!
//! ```text
//! DIR/rootfs   the mount point
//! DIR/upper    the writable layer: new and changed files, whiteouts
//! DIR/work     overlayfs' scratch dir (same filesystem as upper)
//! DIR/lower    an empty lower dir, for an image without layers
//! ```

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{invalid, ImageError, Result};

#[derive(Debug, Clone)]
pub struct Snapshot {
    dir: PathBuf,
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |e| ImageError::io(p, e)
}

impl Snapshot {
    pub fn new(dir: &Path) -> Snapshot {
        Snapshot {
            dir: dir.to_path_buf(),
        }
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Make the dirs (the container dir itself exists).
    pub fn prepare(&self) -> Result<()> {
        for p in [self.rootfs(), self.upper(), self.work()] {
            std::fs::create_dir(&p).map_err(io(&p))?;
        }
        Ok(())
    }

    /// The overlay mount options for `lowers`, given bottom layer first (the
    /// manifest's order).
    pub fn options(&self, lowers: &[PathBuf]) -> Result<String> {
        let mut ls: Vec<PathBuf> = lowers.iter().rev().cloned().collect();
        if ls.is_empty() {
            let empty = self.dir.join("lower");
            if !empty.is_dir() {
                std::fs::create_dir(&empty).map_err(io(&empty))?;
            }
            ls.push(empty);
        }
        let all: Vec<String> = ls
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        for p in all.iter().chain([
            &self.upper().to_string_lossy().into_owned(),
            &self.work().to_string_lossy().into_owned(),
        ]) {
            if p.contains([':', ',', '\n']) {
                return Err(invalid(format!(
                    "{p}: overlayfs cannot take a path with ':' or ','"
                )));
            }
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            all.join(":"),
            self.upper().display(),
            self.work().display()
        );
        // The kernel takes one page of mount data.
        if opts.len() >= 4096 {
            return Err(invalid(format!(
                "{} layers: the overlay mount options are {} bytes, more than the kernel's 4095 (use a shorter --image-root)",
                lowers.len(),
                opts.len()
            )));
        }
        Ok(opts)
    }

    /// Mount the overlay on DIR/rootfs, unless it is mounted already (a
    /// container started again after a reboot mounts it anew).
    pub fn mount(&self, lowers: &[PathBuf]) -> Result<()> {
        self.mount_with(lowers, false)
    }

    /// [`mount`](Self::mount), with overlayfs' `volatile` option when
    /// `volatile`: no sync of the upper layer ever, on syncfs or on unmount,
    /// where a plain overlay's unmount syncs the whole filesystem under the
    /// upper dir (ext4's /, with every other writer's dirty data: 1 ms to
    /// over 100 ms on a busy host). Only for a writable layer that never
    /// outlives a crash: `container run --rm`'s, removed when it exits (after
    /// a crash overlayfs refuses to mount a volatile upper dir again, and
    /// `container rm` removes it). A kernel without the option (before 5.10)
    /// gets the plain mount.
    pub fn mount_with(&self, lowers: &[PathBuf], volatile: bool) -> Result<()> {
        let target = self.rootfs();
        if is_mount_point(&target)? {
            return Ok(());
        }
        let opts = self.options(lowers)?;
        let failed = |e: std::io::Error, opts: &str| {
            invalid(format!(
                "mount overlay on {}: {e} (options {opts})",
                target.display()
            ))
        };
        if volatile {
            let v = format!("{opts},volatile");
            match mount_overlay(&target, &v) {
                Ok(()) => return Ok(()),
                // No such option here: the plain mount below.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(failed(e, &v)),
            }
        }
        mount_overlay(&target, &opts).map_err(|e| failed(e, &opts))
    }

    /// Unmount DIR/rootfs if it is mounted (lazily if it is busy).
    pub fn unmount(&self) -> Result<()> {
        let target = self.rootfs();
        while is_mount_point(&target)? {
            let t = CString::new(target.as_os_str().as_bytes())
                .map_err(|_| invalid("NUL in a path"))?;
            // SAFETY: a valid C string.
            if unsafe { libc::umount2(t.as_ptr(), libc::UMOUNT_NOFOLLOW) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EBUSY) {
                    return Err(ImageError::io(&target, e));
                }
                // SAFETY: a valid C string.
                if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) }
                    != 0
                {
                    return Err(ImageError::io(&target, std::io::Error::last_os_error()));
                }
            }
        }
        Ok(())
    }

    /// Unmount, then remove the writable layer and the dirs. The rootfs mount
    /// point is removed with rmdir only: if it still held a mount, the layers
    /// below would be safe.
    pub fn remove(&self) -> Result<()> {
        self.unmount()?;
        brig_runtime::container::trace::debug("engine snapshot: unmounted");
        for p in [self.upper(), self.work(), self.dir.join("lower")] {
            match super::unpack::remove_tree(&p) {
                Ok(()) => {}
                Err(e) => return Err(ImageError::io(&p, e)),
            }
        }
        match std::fs::remove_dir(self.rootfs()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(ImageError::io(&self.rootfs(), e))
            }
            _ => Ok(()),
        }
    }
}

fn mount_overlay(target: &Path, opts: &str) -> std::io::Result<()> {
    let c = |s: &[u8]| CString::new(s).map_err(|_| std::io::ErrorKind::InvalidInput);
    let (src, tgt, data) = (
        c(b"overlay")?,
        c(target.as_os_str().as_bytes())?,
        c(opts.as_bytes())?,
    );
    // SAFETY: valid C strings.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            src.as_ptr(),
            libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `p` is a mount point: its device differs from its parent's, or
/// (a bind mount of the same filesystem) mountinfo lists it.
pub fn is_mount_point(p: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let m = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(ImageError::io(p, e)),
    };
    let parent = p.parent().unwrap_or(Path::new("/"));
    let pm = std::fs::metadata(parent).map_err(io(parent))?;
    if m.dev() != pm.dev() {
        return Ok(true);
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io(Path::new("/proc/self/mountinfo")))?;
    let want = p.to_string_lossy();
    Ok(info.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .map(unescape_mountinfo)
            .is_some_and(|m| m == want)
    }))
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}
