//! `tmpcopyup`: fill a fresh tmpfs with what the rootfs had at its mount point
//! (as runc and crun do for podman's --read-only and --tmpfs). The directory
//! below is held by an fd taken before the mount hid it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;

use super::{io, sys, Result};

/// Copy the tree under `below` into `dest`: directories, files, symlinks,
/// device nodes and FIFOs, with their modes, owners and times.
/// The tmpfs root takes the directory's owner, and its mode unless the
/// options gave one (`mode=`).
pub(super) fn copy_dir(below: &OwnedFd, dest: &Path, root_mode: bool) -> Result<()> {
    let src = Path::new("/proc/self/fd").join(below.as_raw_fd().to_string());
    copy_tree(&src, dest)?;
    let meta = std::fs::metadata(&src).map_err(io("reading", &src))?;
    if root_mode {
        copy_attrs(&meta, dest, true)
    } else {
        nix::unistd::chown(dest, Some(meta.uid().into()), Some(meta.gid().into()))
            .map_err(sys("chown", dest))
    }
}

fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    for entry in std::fs::read_dir(src).map_err(io("reading", src))? {
        let entry = entry.map_err(io("reading", src))?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&from).map_err(io("reading", &from))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to).map_err(io("creating", &to))?;
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&from).map_err(io("reading", &from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(io("creating", &to))?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to).map_err(io("copying to", &to))?;
        } else {
            // Devices, FIFOs and sockets: the node itself.
            let kind = SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
            let rdev = meta.rdev();
            mknod(
                &to,
                kind,
                Mode::from_bits_truncate(meta.mode()),
                makedev(libc::major(rdev) as u64, libc::minor(rdev) as u64),
            )
            .map_err(sys("mknod", &to))?;
        }
        copy_attrs(&meta, &to, !ft.is_symlink())?;
    }
    Ok(())
}

/// Owner, then mode (chown clears set-id bits), then times.
fn copy_attrs(meta: &std::fs::Metadata, to: &Path, follow: bool) -> Result<()> {
    let (uid, gid) = (Some(meta.uid().into()), Some(meta.gid().into()));
    if follow {
        nix::unistd::chown(to, uid, gid).map_err(sys("chown", to))?;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io("chmod", to))?;
    } else {
        std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))
            .map_err(io("chown", to))?;
    }
    let times = [
        TimeSpec::new(meta.atime(), meta.atime_nsec()),
        TimeSpec::new(meta.mtime(), meta.mtime_nsec()),
    ];
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        to,
        &times[0],
        &times[1],
        if follow {
            nix::sys::stat::UtimensatFlags::FollowSymlink
        } else {
            nix::sys::stat::UtimensatFlags::NoFollowSymlink
        },
    )
    .map_err(sys("setting times of", to))
}
