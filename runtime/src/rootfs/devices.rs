//! Device nodes: the defaults every container gets, and linux.devices.

use std::path::Path;

use nix::mount::MsFlags;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::{io, secure_join, sys, Mounter, Result, RootfsError};

/// (name, major, minor): the devices the OCI spec says a container has.
pub const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Create the default devices and linux.devices under rootfs/dev. In a user
/// namespace mknod is not allowed, so the host's nodes are bind-mounted instead.
pub fn create_devices(
    m: &dyn Mounter,
    devices: &[LinuxDevice],
    rootfs: &Path,
    bind: bool,
) -> Result<()> {
    let old = nix::sys::stat::umask(Mode::empty());
    let res = (|| {
        for (name, major, minor) in DEFAULT_DEVICES {
            let dest = secure_join(rootfs, &Path::new("/dev").join(name));
            make_node(
                m,
                &dest,
                SFlag::S_IFCHR,
                major,
                minor,
                0o666,
                None,
                bind,
                false,
            )?;
        }
        for (i, d) in devices.iter().enumerate() {
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
                LinuxDeviceType::B => SFlag::S_IFBLK,
                LinuxDeviceType::P => SFlag::S_IFIFO,
                LinuxDeviceType::A => {
                    return Err(RootfsError::Config(format!(
                        "linux.devices[{i}].type: \"a\" is only valid in device cgroup rules"
                    )))
                }
            };
            let dest = secure_join(rootfs, d.path());
            let owner = Some((d.uid().unwrap_or(0), d.gid().unwrap_or(0)));
            make_node(
                m,
                &dest,
                kind,
                d.major() as u64,
                d.minor() as u64,
                d.file_mode().unwrap_or(0o666),
                owner,
                bind,
                true,
            )
            .map_err(|e| RootfsError::Config(format!("linux.devices[{i}]: {e}")))?;
        }
        Ok(())
    })();
    nix::sys::stat::umask(old);
    res
}

#[allow(clippy::too_many_arguments)]
fn make_node(
    m: &dyn Mounter,
    dest: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    owner: Option<(u32, u32)>,
    bind: bool,
    strict: bool,
) -> Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    // runtime-spec (config-linux.md, devices): a file already at the path that is not the
    // requested device is an error, never overwritten (it may be the image's /etc/group).
    if strict {
        if let Ok(meta) = std::fs::symlink_metadata(dest) {
            if !is_same_node(&meta, kind, major, minor, bind) {
                return Err(RootfsError::Config(format!(
                    "{}: a file that is not the device {major}:{minor} is already there",
                    dest.display()
                )));
            }
        }
    }
    // The same node left by an earlier run of the bundle (or a default device) is replaced.
    let _ = std::fs::remove_file(dest);
    if bind && kind != SFlag::S_IFIFO {
        let host = host_node(dest, kind, major, minor)?;
        std::fs::File::create(dest).map_err(io("creating", dest))?;
        return m
            .mount(Some(&host), dest, None, MsFlags::MS_BIND, None)
            .map_err(sys(format!("bind-mounting {} on", host.display()), dest));
    }
    mknod(
        dest,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    )
    .map_err(sys("mknod", dest))?;
    if let Some((uid, gid)) = owner {
        nix::unistd::chown(dest, Some(uid.into()), Some(gid.into())).map_err(sys("chown", dest))?;
    }
    Ok(())
}

/// Whether an existing file is the node asked for: a node of that kind and number, or, where
/// devices are bind-mounted (a user namespace), the empty file a bind mount left behind.
fn is_same_node(meta: &std::fs::Metadata, kind: SFlag, major: u64, minor: u64, bind: bool) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let ft = meta.file_type();
    let kind_matches = match kind {
        SFlag::S_IFBLK => ft.is_block_device(),
        SFlag::S_IFIFO => ft.is_fifo(),
        _ => ft.is_char_device(),
    };
    if kind_matches {
        return kind == SFlag::S_IFIFO || meta.rdev() == makedev(major, minor);
    }
    bind && kind != SFlag::S_IFIFO && ft.is_file() && meta.len() == 0
}

/// The host's node for a device to bind in a user namespace: /dev/NAME, or
/// udev's /dev/char|block/MAJOR:MINOR, whichever really is that device (a
/// device may have any name and path in the container).
fn host_node(dest: &Path, kind: SFlag, major: u64, minor: u64) -> Result<std::path::PathBuf> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let dir = if kind == SFlag::S_IFBLK {
        "block"
    } else {
        "char"
    };
    let candidates = [
        Path::new("/dev").join(dest.file_name().unwrap_or_default()),
        Path::new("/dev").join(dir).join(format!("{major}:{minor}")),
    ];
    for c in candidates {
        let Ok(meta) = std::fs::metadata(&c) else {
            continue;
        };
        let ft = meta.file_type();
        let same_kind = if kind == SFlag::S_IFBLK {
            ft.is_block_device()
        } else {
            ft.is_char_device()
        };
        if same_kind && meta.rdev() == makedev(major, minor) {
            return Ok(c);
        }
    }
    Err(RootfsError::Config(format!(
        "{}: in a user namespace devices are bind-mounted from the host, \
         and the host has no node {major}:{minor} at /dev/{} or /dev/{dir}/{major}:{minor}",
        dest.display(),
        dest.file_name().unwrap_or_default().to_string_lossy()
    )))
}
