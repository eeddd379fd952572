//! Mount options and the `Mounter` seam: every mount(2), umount(2) and
//! pivot_root(2) of the rootfs setup goes through it.

use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

/// The kernel calls the rootfs setup makes. `LinuxMounter` is the real one; tests
/// may record the calls instead.
pub trait Mounter: Sync {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()>;
}

#[derive(Debug, Default)]
pub struct LinuxMounter;

impl Mounter for LinuxMounter {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }
    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        nix::mount::umount2(target, flags)
    }
}

/// A mount's options, split into what mount(2) takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags to set.
    pub flags: MsFlags,
    /// Propagation to apply after the mount (MS_SHARED, MS_SLAVE, ... maybe | MS_REC).
    pub propagation: MsFlags,
    /// Filesystem-specific options, passed as mount data.
    pub data: Vec<String>,
    /// Recursive options (`rro`, `rnosuid`, ...): MOUNT_ATTR_* flags that
    /// mount_setattr(2) sets and clears on the mount and every mount under it.
    pub rec_set: u64,
    pub rec_clear: u64,
    /// The recursive options given, for errors.
    pub rec_names: Vec<String>,
    /// `tmpcopyup`: a tmpfs starts with what the rootfs had at its destination.
    pub tmpcopyup: bool,
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
    pub fn has_recursive(&self) -> bool {
        !self.rec_names.is_empty()
    }
    /// Whether the mount ends up read-only (`ro` or `rro`).
    pub fn makes_readonly(&self) -> bool {
        self.flags.contains(MsFlags::MS_RDONLY) || self.rec_set & MOUNT_ATTR_RDONLY != 0
    }
}

// MOUNT_ATTR_* of <linux/mount.h>.
pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
const MOUNT_ATTR_NOSUID: u64 = 0x02;
const MOUNT_ATTR_NODEV: u64 = 0x04;
const MOUNT_ATTR_NOEXEC: u64 = 0x08;
const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
const MOUNT_ATTR_RELATIME: u64 = 0x00;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// The recursive options of runtime-spec 1.1, as (attrs to set, attrs to clear).
/// The access-time ones are one 3-way setting (relatime, noatime,
/// strictatime): each sets one and clears the field, as mount_setattr(2)
/// requires; `ratime` and `rnostrictatime` mean the default (relatime), and
/// `rnorelatime` strictatime, as mount(8)'s `atime`, `nostrictatime` and
/// `norelatime` do.
pub fn recursive_option(opt: &str) -> Option<(u64, u64)> {
    let atime = |a| Some((a, MOUNT_ATTR_ATIME_MASK));
    match opt {
        "rro" => Some((MOUNT_ATTR_RDONLY, 0)),
        "rrw" => Some((0, MOUNT_ATTR_RDONLY)),
        "rnosuid" => Some((MOUNT_ATTR_NOSUID, 0)),
        "rsuid" => Some((0, MOUNT_ATTR_NOSUID)),
        "rnodev" => Some((MOUNT_ATTR_NODEV, 0)),
        "rdev" => Some((0, MOUNT_ATTR_NODEV)),
        "rnoexec" => Some((MOUNT_ATTR_NOEXEC, 0)),
        "rexec" => Some((0, MOUNT_ATTR_NOEXEC)),
        "rnodiratime" => Some((MOUNT_ATTR_NODIRATIME, 0)),
        "rdiratime" => Some((0, MOUNT_ATTR_NODIRATIME)),
        "rnosymfollow" => Some((MOUNT_ATTR_NOSYMFOLLOW, 0)),
        "rsymfollow" => Some((0, MOUNT_ATTR_NOSYMFOLLOW)),
        "rrelatime" | "ratime" | "rnostrictatime" => atime(MOUNT_ATTR_RELATIME),
        "rnoatime" => atime(MOUNT_ATTR_NOATIME),
        "rstrictatime" | "rnorelatime" => atime(MOUNT_ATTR_STRICTATIME),
        _ => None,
    }
}

/// Options other runtimes take that brig does not implement: refused by name,
/// never passed on to the kernel as filesystem data.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("idmap", "id-mapped mounts are not implemented"),
    ("ridmap", "id-mapped mounts are not implemented"),
    ("copy-symlink", "crun's copy-symlink is not implemented"),
    ("src-nofollow", "crun's src-nofollow is not implemented"),
    ("dest-nofollow", "crun's dest-nofollow is not implemented"),
];

/// Flags that an option sets (`true`) or clears (`false`).
fn flag_option(opt: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match opt {
        "defaults" => (true, F::empty()),
        "ro" => (true, F::MS_RDONLY),
        "rw" => (false, F::MS_RDONLY),
        "suid" => (false, F::MS_NOSUID),
        "nosuid" => (true, F::MS_NOSUID),
        "dev" => (false, F::MS_NODEV),
        "nodev" => (true, F::MS_NODEV),
        "exec" => (false, F::MS_NOEXEC),
        "noexec" => (true, F::MS_NOEXEC),
        "sync" => (true, F::MS_SYNCHRONOUS),
        "async" => (false, F::MS_SYNCHRONOUS),
        "dirsync" => (true, F::MS_DIRSYNC),
        "remount" => (true, F::MS_REMOUNT),
        "mand" => (true, F::MS_MANDLOCK),
        "nomand" => (false, F::MS_MANDLOCK),
        "atime" => (false, F::MS_NOATIME),
        "noatime" => (true, F::MS_NOATIME),
        "diratime" => (false, F::MS_NODIRATIME),
        "nodiratime" => (true, F::MS_NODIRATIME),
        "relatime" => (true, F::MS_RELATIME),
        "norelatime" => (false, F::MS_RELATIME),
        "strictatime" => (true, F::MS_STRICTATIME),
        "nostrictatime" => (false, F::MS_STRICTATIME),
        "lazytime" => (true, F::MS_LAZYTIME),
        "nolazytime" => (false, F::MS_LAZYTIME),
        "iversion" => (true, F::MS_I_VERSION),
        "noiversion" => (false, F::MS_I_VERSION),
        "silent" => (true, F::MS_SILENT),
        "loud" => (false, F::MS_SILENT),
        "bind" => (true, F::MS_BIND),
        "rbind" => (true, F::MS_BIND | F::MS_REC),
        "nosymfollow" => (true, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "symfollow" => (false, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        _ => return None,
    })
}

/// Propagation flags for `shared`, `rslave`, ... (also used for rootfsPropagation).
pub fn propagation_flags(opt: &str) -> Option<MsFlags> {
    use MsFlags as F;
    Some(match opt {
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "shared" => F::MS_SHARED,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        _ => return None,
    })
}

/// Split a mount's option list. Unknown words are filesystem data, as with mount(8);
/// the options brig knows and cannot honour are errors.
pub fn parse_options(options: &[String]) -> Result<MountOptions, String> {
    let mut out = MountOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: Vec::new(),
        rec_set: 0,
        rec_clear: 0,
        rec_names: Vec::new(),
        tmpcopyup: false,
    };
    for opt in options {
        if let Some((set, flag)) = flag_option(opt) {
            if set {
                out.flags |= flag;
            } else {
                out.flags &= !flag;
            }
        } else if let Some(p) = propagation_flags(opt) {
            out.propagation = p;
        } else if let Some((set, clear)) = recursive_option(opt) {
            // A later option wins over an earlier one on the same attribute.
            out.rec_set = (out.rec_set & !clear & !set) | set;
            out.rec_clear = (out.rec_clear & !set) | clear;
            out.rec_names.push(opt.clone());
        } else if opt == "tmpcopyup" {
            out.tmpcopyup = true;
        } else if opt == "notmpcopyup" {
            out.tmpcopyup = false;
        } else if let Some((_, why)) = UNSUPPORTED.iter().find(|(o, _)| o == opt) {
            return Err(format!("{opt:?} is not supported by brig: {why}"));
        } else if opt.is_empty() {
            return Err("empty option".into());
        } else {
            out.data.push(opt.clone());
        }
    }
    Ok(out)
}

/// Resolve `path` inside `root` the way the container will see it: symlinks are
/// followed relative to `root`, and `..` never climbs above it.
pub fn secure_join(root: &Path, path: &Path) -> PathBuf {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let full = root.join(&candidate);
        match std::fs::read_link(&full) {
            Ok(target) if links < 255 => {
                links += 1;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => pending.push(s.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => resolved = candidate,
        }
    }
    root.join(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o =
            parse_options(&opts(&["nosuid", "strictatime", "mode=755", "size=65536k"])).unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        let o = parse_options(&opts(&["rbind", "ro", "rslave"])).unwrap();
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(o.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        let o = parse_options(&opts(&["ro", "rw"])).unwrap();
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn unsupported_options_are_errors() {
        for o in [
            "idmap",
            "ridmap",
            "copy-symlink",
            "src-nofollow",
            "dest-nofollow",
        ] {
            assert!(parse_options(&opts(&[o])).unwrap_err().contains(o));
        }
        assert!(parse_options(&opts(&[""])).is_err());
    }

    #[test]
    fn recursive_options_and_copyup() {
        let o =
            parse_options(&opts(&["rbind", "rro", "rnosuid", "rnoatime", "tmpcopyup"])).unwrap();
        assert!(o.data.is_empty() && o.tmpcopyup && o.makes_readonly());
        assert_eq!(
            o.rec_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.rec_clear, MOUNT_ATTR_ATIME_MASK);
        // The last word on an attribute wins.
        let o = parse_options(&opts(&["rro", "rrw", "rnoatime", "rstrictatime"])).unwrap();
        assert_eq!(o.rec_set, MOUNT_ATTR_STRICTATIME);
        assert_eq!(o.rec_clear, MOUNT_ATTR_RDONLY | MOUNT_ATTR_ATIME_MASK);
        assert!(!o.makes_readonly());
        let o = parse_options(&opts(&["tmpcopyup", "notmpcopyup"])).unwrap();
        assert!(!o.tmpcopyup);
    }

    #[test]
    fn secure_join_stays_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("a/b/up")).unwrap();
        assert_eq!(secure_join(root, Path::new("/../../x")), root.join("x"));
        assert_eq!(
            secure_join(root, Path::new("/abs/passwd")),
            root.join("etc/passwd")
        );
        assert_eq!(secure_join(root, Path::new("/a/b/up/y")), root.join("y"));
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        // A symlink loop ends inside the root instead of spinning.
        assert!(secure_join(root, Path::new("/loop")).starts_with(root));
    }
}
