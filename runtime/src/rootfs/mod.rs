//! The container's filesystem: mounts from the config, /dev, pivot_root, and the
//! masked and read-only paths. Runs in the container's mount namespace.

mod devices;
pub mod mounts;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::{Mount, Spec};

pub use devices::{create_devices, DEFAULT_DEVICES};
pub use mounts::{parse_options, propagation_flags, secure_join, LinuxMounter, Mounter};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what} {path}: {errno}")]
    Sys {
        what: String,
        path: PathBuf,
        errno: nix::Error,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

type Result<T> = std::result::Result<T, RootfsError>;

fn sys(what: impl Into<String>, path: &Path) -> impl FnOnce(nix::Error) -> RootfsError + '_ {
    let what = what.into();
    move |errno| RootfsError::Sys {
        what,
        path: path.to_path_buf(),
        errno,
    }
}

fn io(what: impl Into<String>, path: &Path) -> impl FnOnce(std::io::Error) -> RootfsError + '_ {
    let what = what.into();
    move |source| RootfsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// One cgroup hierarchy to show under a `cgroup` mount: mounted fresh when the
/// container has its own cgroup namespace, else bind-mounted from the host.
#[derive(Debug, Clone)]
pub struct CgroupMount {
    /// Directory name under the mount point (`memory`, `systemd`, `unified`), or
    /// empty for a pure cgroup2 host where the mount point itself is the hierarchy.
    pub name: String,
    pub fstype: &'static str,
    /// Mount data: the controllers (`memory`, `none,name=systemd`), empty for cgroup2.
    pub data: String,
    /// The container's cgroup directory in this hierarchy on the host.
    pub host_dir: PathBuf,
}

/// What the rootfs setup needs besides the spec.
pub struct RootfsPlan<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub cgroups: &'a [CgroupMount],
    /// Mount cgroupfs fresh (own cgroup namespace, no user namespace) instead of binding.
    pub mount_cgroupfs: bool,
    /// In a new user namespace mknod is refused: bind the host's devices instead.
    pub bind_devices: bool,
}

/// Before pivot_root: propagation, the rootfs bind, every configured mount, /dev.
pub fn prepare(m: &dyn Mounter, plan: &RootfsPlan) -> Result<()> {
    let linux = plan.spec.linux().as_ref();
    let requested = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flags);
    // Keep host mount events from leaking in (and ours out) while we build.
    // A shared propagation is applied again after pivot_root, which refuses shared parents.
    let before = match requested {
        Some(f) if f.contains(MsFlags::MS_PRIVATE) => f,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    let root = Path::new("/");
    m.mount(None, root, None, before, None)
        .map_err(sys("setting propagation of", root))?;
    let rootfs = plan.rootfs;
    m.mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(sys("bind-mounting rootfs", rootfs))?;

    let mut dev_is_bound = false;
    for (i, mount) in plan.spec.mounts().iter().flatten().enumerate() {
        let opts = parse_options(mount.options().as_deref().unwrap_or(&[]))
            .map_err(|e| RootfsError::Config(format!("mounts[{i}].options: {e}")))?;
        if mount.destination() == Path::new("/dev") && opts.is_bind() {
            dev_is_bound = true;
        }
        mount_one(m, plan, mount, &opts).map_err(|e| match e {
            RootfsError::Config(s) => RootfsError::Config(format!("mounts[{i}]: {s}")),
            e => RootfsError::Config(format!(
                "mounts[{i}] ({}): {e}",
                mount.destination().display()
            )),
        })?;
    }
    if !dev_is_bound {
        create_devices(m, plan.spec, rootfs, plan.bind_devices)?;
        dev_links(rootfs, plan.spec)?;
    }
    Ok(())
}

fn mount_one(
    m: &dyn Mounter,
    plan: &RootfsPlan,
    mount: &Mount,
    opts: &mounts::MountOptions,
) -> Result<()> {
    let dest = secure_join(plan.rootfs, mount.destination());
    let typ = mount.typ().as_deref().unwrap_or("");
    let source = mount.source().as_deref();
    if opts.is_bind() {
        let src = source.ok_or_else(|| RootfsError::Config("bind mount without source".into()))?;
        make_target(&dest, !src.is_dir())?;
        m.mount(
            Some(src),
            &dest,
            None,
            opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
            None,
        )
        .map_err(sys(format!("bind-mounting {} on", src.display()), &dest))?;
        // Bind mounts take their flags only on a remount, keeping the flags
        // the kernel locked on the source (nodev from the host, ...).
        let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount_bind(m, &dest, extra)?;
        }
    } else if typ == "cgroup" || typ == "cgroup2" {
        make_target(&dest, false)?;
        mount_cgroups(m, plan, &dest, opts)?;
    } else {
        make_target(&dest, false)?;
        let data = opts.data_string();
        m.mount(
            source.or(Some(Path::new(typ))),
            &dest,
            Some(typ),
            opts.flags,
            data.as_deref(),
        )
        .map_err(sys(format!("mounting {typ} on"), &dest))?;
    }
    if !opts.propagation.is_empty() {
        m.mount(None, &dest, None, opts.propagation, None)
            .map_err(sys("setting propagation of", &dest))?;
    }
    Ok(())
}

/// The cgroup hierarchies under a `cgroup` mount, as runc lays them out: one
/// directory per v1 hierarchy on a tmpfs, or the cgroup2 mount itself.
fn mount_cgroups(
    m: &dyn Mounter,
    plan: &RootfsPlan,
    dest: &Path,
    opts: &mounts::MountOptions,
) -> Result<()> {
    let flags = opts.flags & !MsFlags::MS_RDONLY;
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let pure_v2 = plan.cgroups.len() == 1 && plan.cgroups[0].name.is_empty();
    if !pure_v2 {
        m.mount(
            Some(Path::new("tmpfs")),
            dest,
            Some("tmpfs"),
            flags,
            Some("mode=755"),
        )
        .map_err(sys("mounting tmpfs for cgroups on", dest))?;
    }
    for cg in plan.cgroups {
        let target = if cg.name.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(&cg.name)
        };
        make_target(&target, false)?;
        if plan.mount_cgroupfs {
            let data = (!cg.data.is_empty()).then_some(cg.data.as_str());
            let f = if ro {
                flags | MsFlags::MS_RDONLY
            } else {
                flags
            };
            m.mount(Some(Path::new("cgroup")), &target, Some(cg.fstype), f, data)
                .map_err(sys(format!("mounting {} on", cg.fstype), &target))?;
        } else {
            m.mount(
                Some(&cg.host_dir),
                &target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(sys(
                format!("bind-mounting {} on", cg.host_dir.display()),
                &target,
            ))?;
            remount_bind(
                m,
                &target,
                if ro {
                    flags | MsFlags::MS_RDONLY
                } else {
                    flags
                },
            )?;
        }
    }
    if !pure_v2 && ro {
        remount_bind(m, dest, flags | MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

/// Create an empty file or directory to mount on.
fn make_target(dest: &Path, file: bool) -> Result<()> {
    if file {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        if !dest.exists() {
            std::fs::File::create(dest).map_err(io("creating", dest))?;
        }
        Ok(())
    } else {
        std::fs::create_dir_all(dest).map_err(io("creating", dest))
    }
}

/// The flags a mount already has, from statvfs, as MsFlags.
fn current_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::FsFlags as S;
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (s, m) in [
        (S::ST_RDONLY, MsFlags::MS_RDONLY),
        (S::ST_NOSUID, MsFlags::MS_NOSUID),
        (S::ST_NODEV, MsFlags::MS_NODEV),
        (S::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (S::ST_NOATIME, MsFlags::MS_NOATIME),
        (S::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (S::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(s) {
            out |= m;
        }
    }
    out
}

/// Remount a bind mount with extra flags, keeping the ones it has.
pub fn remount_bind(m: &dyn Mounter, path: &Path, extra: MsFlags) -> Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | current_flags(path) | extra;
    m.mount(None, path, None, flags, None)
        .map_err(sys("remounting", path))
}

/// /dev/fd, /dev/std*, /dev/ptmx (to the devpts instance, if any).
fn dev_links(rootfs: &Path, spec: &Spec) -> Result<()> {
    let dev = secure_join(rootfs, Path::new("/dev"));
    std::fs::create_dir_all(&dev).map_err(io("creating", &dev))?;
    let links = [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("/proc/kcore", "core"),
    ];
    for (target, name) in links {
        let link = dev.join(name);
        match symlink(target, &link) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(io("creating symlink", &link)(e));
            }
            _ => {}
        }
    }
    let has_devpts =
        spec.mounts().iter().flatten().any(|m| {
            m.destination() == Path::new("/dev/pts") && m.typ().as_deref() == Some("devpts")
        });
    if has_devpts {
        let ptmx = dev.join("ptmx");
        let _ = std::fs::remove_file(&ptmx);
        symlink("pts/ptmx", &ptmx).map_err(io("creating symlink", &ptmx))?;
    }
    Ok(())
}

/// Make `rootfs` the root: pivot_root, or with `no_pivot` move it over / and chroot.
pub fn pivot(m: &dyn Mounter, rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        nix::unistd::chdir(rootfs).map_err(sys("chdir to", rootfs))?;
        m.mount(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)
            .map_err(sys("moving rootfs to /", rootfs))?;
        nix::unistd::chroot(".").map_err(sys("chroot to", rootfs))?;
    } else {
        let old = open(
            "/",
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys("opening", Path::new("/")))?;
        nix::unistd::chdir(rootfs).map_err(sys("chdir to", rootfs))?;
        // pivot_root(".", ".") stacks the old root under the new one; unmount it from there.
        nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root to", rootfs))?;
        nix::unistd::fchdir(&old).map_err(sys("fchdir to old root", rootfs))?;
        m.mount(
            None,
            Path::new("."),
            None,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None,
        )
        .map_err(sys("making the old root a slave", rootfs))?;
        m.umount(Path::new("."), MntFlags::MNT_DETACH)
            .map_err(sys("unmounting the old root", rootfs))?;
    }
    nix::unistd::chdir("/").map_err(sys("chdir to", Path::new("/")))?;
    Ok(())
}

/// After pivot_root (and the sysctls): propagation, read-only and masked paths, read-only root.
pub fn finish(m: &dyn Mounter, spec: &Spec) -> Result<()> {
    let root = Path::new("/");
    let linux = spec.linux().as_ref();
    if let Some(f) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flags)
    {
        // Shared and unbindable are set on the root mount only, after pivot_root
        // (which refuses a shared parent), so that the mounts keep their own.
        if f.contains(MsFlags::MS_SHARED) || f.contains(MsFlags::MS_UNBINDABLE) {
            m.mount(None, root, None, f & !MsFlags::MS_REC, None)
                .map_err(sys("setting propagation of", root))?;
        }
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let path = Path::new(p);
        if !path.exists() {
            continue;
        }
        m.mount(
            Some(path),
            path,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(sys("bind-mounting readonly path", path))?;
        remount_bind(m, path, MsFlags::MS_RDONLY)?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let path = Path::new(p);
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if meta.is_dir() {
            m.mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            )
        } else {
            m.mount(
                Some(Path::new("/dev/null")),
                path,
                None,
                MsFlags::MS_BIND,
                None,
            )
        }
        .map_err(sys("masking", path))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_bind(m, root, MsFlags::MS_RDONLY)?;
    }
    Ok(())
}
