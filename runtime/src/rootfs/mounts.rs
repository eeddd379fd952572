//! Mount options and the `Mounter` seam: every mount(2), umount(2) and
//! pivot_root(2) of the rootfs setup goes through it.

use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

/// The kernel calls the rootfs setup makes. `LinuxMounter` is the real one; tests
/// may record the calls instead.
pub trait Mounter {
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
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

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
        } else if matches!(
            opt.as_str(),
            "tmpcopyup" | "idmap" | "ridmap" | "rro" | "rrw"
        ) {
            return Err(format!("{opt:?} is not supported by brig"));
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
        assert!(parse_options(&opts(&["tmpcopyup"]))
            .unwrap_err()
            .contains("tmpcopyup"));
        assert!(parse_options(&opts(&[""])).is_err());
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
