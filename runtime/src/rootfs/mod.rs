//! The container's filesystem: mounts from the config, /dev, pivot_root, and the
//! masked and read-only paths. Runs in the container's mount namespace.

mod copyup;
mod devices;
pub mod mounts;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::Mount;

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

/// What the rootfs setup needs: the compiled config's parts, and the host's.
pub struct RootfsPlan<'a> {
    /// linux.rootfsPropagation, parsed.
    pub propagation: Option<MsFlags>,
    /// linux.devices.
    pub devices: &'a [oci_spec::runtime::LinuxDevice],
    /// The spec's mounts with their options parsed (by `spec::compile`).
    pub mounts: &'a [crate::spec::PlannedMount],
    pub rootfs: &'a Path,
    pub cgroups: &'a [CgroupMount],
    /// Mount cgroupfs fresh (own cgroup namespace, no user namespace) instead of binding.
    pub mount_cgroupfs: bool,
    /// In a new user namespace mknod is refused: bind the host's devices instead.
    pub bind_devices: bool,
    /// Per entry of `mounts`, in a user namespace: the bind mount's source,
    /// cloned by the parent on the host side (open_tree), to attach with
    /// move_mount. The namespace's root may not be allowed to walk to the
    /// source (a 0700 directory of host root); the parent was.
    pub bind_trees: &'a [Option<std::os::fd::OwnedFd>],
}

/// Before pivot_root: propagation, the rootfs bind, every configured mount, /dev.
pub fn prepare(m: &dyn Mounter, plan: &RootfsPlan) -> Result<()> {
    let requested = plan.propagation;
    // Keep host mount events from leaking in (and ours out) while we build,
    // unless the config asks for private or shared: shared must hold from
    // here, so that the host's shared mounts bound into the container stay in
    // their peer groups and mounts made under them reach the host. (Unbindable
    // would refuse the binds below; it is set after pivot_root.)
    let before = match requested {
        Some(f) if f.intersects(MsFlags::MS_PRIVATE | MsFlags::MS_SHARED) => f,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    let root = Path::new("/");
    m.mount(None, root, None, before, None)
        .map_err(sys("setting propagation of", root))?;
    let rootfs = plan.rootfs;
    // The mount holding the rootfs must not be shared: the rootfs bind would
    // propagate to the host's mount namespace, and pivot_root refuses a
    // shared parent.
    if before.contains(MsFlags::MS_SHARED) {
        let parent = mount_point_of(rootfs);
        m.mount(None, &parent, None, MsFlags::MS_PRIVATE, None)
            .map_err(sys("making private the mount holding the rootfs", &parent))?;
    }
    m.mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(sys("bind-mounting rootfs", rootfs))?;

    let list: Vec<&Mount> = plan.mounts.iter().map(|p| &p.mount).collect();
    let dev_is_bound = plan
        .mounts
        .iter()
        .any(|p| p.mount.destination() == Path::new("/dev") && p.opts.is_bind());
    // Mounts that turn read-only only once everything under them is made.
    let mut late: Vec<(usize, PathBuf, mounts::MountOptions)> = Vec::new();
    for (i, mount) in list.iter().enumerate() {
        let mut opts = plan.mounts[i].opts.clone();
        let typ = mount.typ().as_deref().unwrap_or("");
        // Something goes under it later: a mount, or devices (the defaults
        // under /dev, linux.devices anywhere).
        let filled_later = list[i + 1..]
            .iter()
            .any(|later| is_under(later.destination(), mount.destination()))
            || (!dev_is_bound
                && (is_under(Path::new("/dev/null"), mount.destination())
                    || plan
                        .devices
                        .iter()
                        .any(|d| is_under(d.path(), mount.destination()))));
        // Only a filesystem of the container's own: a read-only bind stays
        // read-only at once (as in runc), so that no mount point is ever
        // made in a host directory the config says not to write.
        let defer = filled_later
            && opts.makes_readonly()
            && !opts.is_bind()
            && typ != "cgroup"
            && typ != "cgroup2";
        let source = plan.bind_trees.get(i).and_then(|f| f.as_ref());
        if defer {
            let mut now = opts.clone();
            now.flags.remove(MsFlags::MS_RDONLY);
            now.rec_set = 0;
            now.rec_clear = 0;
            now.rec_names.clear();
            let dest = mount_one(m, plan, mount, &now, source).map_err(name(i, mount))?;
            opts.flags &= MsFlags::MS_RDONLY;
            late.push((i, dest, opts));
        } else {
            mount_one(m, plan, mount, &opts, source).map_err(name(i, mount))?;
        }
    }
    if !dev_is_bound {
        create_devices(m, plan.devices, rootfs, plan.bind_devices)?;
        dev_links(rootfs, plan.mounts)?;
    }
    // Innermost first, as runc remounts /dev read-only last.
    for (i, dest, opts) in late.into_iter().rev() {
        let mount = list[i];
        if opts.flags.contains(MsFlags::MS_RDONLY) {
            remount_bind(m, &dest, MsFlags::MS_RDONLY).map_err(name(i, mount))?;
        }
        set_recursive(&dest, &opts).map_err(name(i, mount))?;
    }
    Ok(())
}

/// An error of mounts[i], naming it.
fn name(i: usize, mount: &Mount) -> impl FnOnce(RootfsError) -> RootfsError + '_ {
    move |e| match e {
        RootfsError::Config(s) => RootfsError::Config(format!("mounts[{i}]: {s}")),
        e => RootfsError::Config(format!(
            "mounts[{i}] ({}): {e}",
            mount.destination().display()
        )),
    }
}

/// `path` is under `dir` (both container paths).
fn is_under(path: &Path, dir: &Path) -> bool {
    let parts = |p: &Path| -> Vec<std::ffi::OsString> {
        p.components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(s.to_os_string()),
                _ => None,
            })
            .collect()
    };
    let (p, d) = (parts(path), parts(dir));
    p.len() > d.len() && p.starts_with(&d)
}

/// The mount point of the mount that holds `path` (from mountinfo; `/` if none
/// is found).
fn mount_point_of(path: &Path) -> PathBuf {
    let info = brig_cgroups::read_proc("/proc/self/mountinfo".as_ref()).unwrap_or_default();
    let mut best = PathBuf::from("/");
    for line in info.lines() {
        let Some(mp) = line.split(' ').nth(4) else {
            continue;
        };
        let mp = PathBuf::from(unescape_mountinfo(mp));
        if path.starts_with(&mp) && mp.components().count() > best.components().count() {
            best = mp;
        }
    }
    best
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The recursive options of a mount, through mount_setattr(2).
fn set_recursive(dest: &Path, opts: &mounts::MountOptions) -> Result<()> {
    if !opts.has_recursive() {
        return Ok(());
    }
    crate::sys::mount_setattr_recursive(dest, opts.rec_set, opts.rec_clear)
        .map_err(|e| recursive_error(dest, opts, e))
}

fn recursive_error(dest: &Path, opts: &mounts::MountOptions, e: std::io::Error) -> RootfsError {
    if e.raw_os_error() == Some(libc::ENOSYS) {
        RootfsError::Config(format!(
            "options {}: recursive mount options need mount_setattr(2), \
             which this kernel lacks (Linux 5.12 or later; rnosymfollow 5.14)",
            opts.rec_names.join(",")
        ))
    } else {
        io(
            format!("setting {} (mount_setattr) on", opts.rec_names.join(",")),
            dest,
        )(e)
    }
}

/// One configured mount; returns where it went on the host side.
fn mount_one(
    m: &dyn Mounter,
    plan: &RootfsPlan,
    mount: &Mount,
    opts: &mounts::MountOptions,
    tree: Option<&std::os::fd::OwnedFd>,
) -> Result<PathBuf> {
    let dest = secure_join(plan.rootfs, mount.destination());
    let typ = mount.typ().as_deref().unwrap_or("");
    let source = mount.source().as_deref();
    if opts.tmpcopyup && (opts.is_bind() || typ != "tmpfs") {
        return Err(RootfsError::Config(
            "options: \"tmpcopyup\" applies to tmpfs mounts only".into(),
        ));
    }
    if opts.is_bind() {
        let src = source.ok_or_else(|| RootfsError::Config("bind mount without source".into()))?;
        if let Some(tree) = tree {
            // Cloned by the parent on the host side (RootfsPlan::bind_trees).
            let is_dir = nix::sys::stat::fstat(tree)
                .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                .map_err(sys("stat of the opened source", src))?;
            make_target(&dest, !is_dir)?;
            crate::sys::move_mount_fd(tree, &dest)
                .map_err(io(format!("bind-mounting {} on", src.display()), &dest))?;
        } else {
            make_target(&dest, !src.is_dir())?;
            m.mount(
                Some(src),
                &dest,
                None,
                opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
                None,
            )
            .map_err(sys(format!("bind-mounting {} on", src.display()), &dest))?;
        }
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
        // runc: a tmpfs without `mode=` on a directory that the rootfs has
        // keeps that directory's mode (setuid/setgid/sticky bits too), rather
        // than tmpfs's 1777. (tmpcopyup copies the mode itself.)
        let mode_given = opts.data.iter().any(|d| d.starts_with("mode="));
        let keep_mode = if typ == "tmpfs" && !opts.tmpcopyup && !mode_given {
            std::fs::metadata(&dest)
                .ok()
                .filter(|md| md.is_dir())
                .map(|md| std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o7777)
        } else {
            None
        };
        make_target(&dest, false)?;
        // tmpcopyup: hold the directory before the tmpfs hides it, copy from it after.
        let below = if opts.tmpcopyup {
            Some(
                open(
                    &dest,
                    OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(sys("opening", &dest))?,
            )
        } else {
            None
        };
        let mut data = opts.data_string();
        if let Some(mode) = keep_mode {
            let kept = format!("mode={mode:o}");
            data = Some(match data {
                Some(d) if !d.is_empty() => format!("{d},{kept}"),
                _ => kept,
            });
        }
        let ro = opts.flags.contains(MsFlags::MS_RDONLY) && below.is_some();
        m.mount(
            source.or(Some(Path::new(typ))),
            &dest,
            Some(typ),
            if ro {
                opts.flags - MsFlags::MS_RDONLY
            } else {
                opts.flags
            },
            data.as_deref(),
        )
        .map_err(sys(format!("mounting {typ} on"), &dest))?;
        if let Some(below) = below {
            copyup::copy_dir(&below, &dest, !mode_given)?;
            if ro {
                remount_bind(m, &dest, MsFlags::MS_RDONLY)?;
            }
        }
    }
    set_recursive(&dest, opts)?;
    if !opts.propagation.is_empty() {
        m.mount(None, &dest, None, opts.propagation, None)
            .map_err(sys("setting propagation of", &dest))?;
    }
    Ok(dest)
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
fn dev_links(rootfs: &Path, mounts: &[crate::spec::PlannedMount]) -> Result<()> {
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
    let has_devpts = mounts
        .iter()
        .map(|p| &p.mount)
        .any(|m| m.destination() == Path::new("/dev/pts") && m.typ().as_deref() == Some("devpts"));
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
        hide_host_proc_and_sys(m, rootfs)?;
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

/// Before the move of --no-pivot: every procfs and sysfs of the host that
/// shows its whole filesystem is unmounted from the container's mount
/// namespace (or covered, where it cannot be). pivot_root unmounts the old
/// root; MS_MOVE and chroot leave it in the namespace, out of reach of a path
/// but not of the kernel's mount_too_revealing check, which lets a nested user
/// namespace mount a new, fully visible procfs or sysfs when one such mount
/// exists anywhere in the namespace, past every masked path.
fn hide_host_proc_and_sys(m: &dyn Mounter, rootfs: &Path) -> Result<()> {
    let info = brig_cgroups::read_proc("/proc/self/mountinfo".as_ref())
        .map_err(io("reading", Path::new("/proc/self/mountinfo")))?;
    let mut targets: Vec<PathBuf> = Vec::new();
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(root), Some(mp), Some(fstype)) =
            (fields.get(3), fields.get(4), fields.get(sep + 1))
        else {
            continue;
        };
        let mp = PathBuf::from(unescape_mountinfo(mp));
        if *root == "/" && matches!(*fstype, "proc" | "sysfs") && !mp.starts_with(rootfs) {
            targets.push(mp);
        }
    }
    // Deepest first: unmounting a parent first would take the children's
    // paths away from under us.
    targets.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in targets {
        // Slave first, so that the unmount does not propagate to the host.
        match m.mount(None, &p, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None) {
            Err(nix::Error::ENOENT | nix::Error::EINVAL) => continue,
            r => r.map_err(sys("making a slave before unmounting", &p))?,
        }
        match m.umount(&p, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            // Locked under a user namespace: hide it under an empty tmpfs.
            Err(nix::Error::EINVAL | nix::Error::EPERM) => m
                .mount(
                    Some(Path::new("tmpfs")),
                    &p,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some("size=0"),
                )
                .map_err(sys("covering", &p))?,
            Err(e) => return Err(sys("unmounting", &p)(e)),
        }
    }
    Ok(())
}

/// After pivot_root (and the sysctls): the cwd, propagation, read-only and masked paths,
/// read-only root.
pub fn finish(m: &dyn Mounter, plan: &crate::spec::ContainerPlan) -> Result<()> {
    let root = Path::new("/");
    // The working directory is made while the root can still be written (and
    // before the read-only and masked paths), as runc and crun do.
    let cwd = &plan.process.cwd;
    if cwd.is_absolute() && !cwd.exists() {
        std::fs::create_dir_all(cwd).map_err(io("creating process.cwd", cwd))?;
    }
    if let Some(f) = plan.rootfs_propagation {
        // Shared and unbindable are set on the root mount only, after pivot_root
        // (which refuses a shared parent), so that the mounts keep their own.
        if f.contains(MsFlags::MS_SHARED) || f.contains(MsFlags::MS_UNBINDABLE) {
            m.mount(None, root, None, f & !MsFlags::MS_REC, None)
                .map_err(sys("setting propagation of", root))?;
        }
    }
    for path in &plan.readonly_paths {
        let path = path.as_path();
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
    for path in &plan.masked_paths {
        let path = path.as_path();
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
    if plan.readonly_root {
        remount_bind(m, root, MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_without_mount_setattr_is_named() {
        let opts = parse_options(&["rro".into(), "rnosuid".into()]).unwrap();
        let e = recursive_error(
            Path::new("/x"),
            &opts,
            std::io::Error::from_raw_os_error(libc::ENOSYS),
        )
        .to_string();
        assert!(
            e.contains("rro,rnosuid") && e.contains("mount_setattr") && e.contains("5.12"),
            "{e}"
        );
    }

    #[test]
    fn under_means_strictly_below() {
        assert!(is_under(Path::new("/dev/pts"), Path::new("/dev")));
        assert!(is_under(Path::new("dev/pts/"), Path::new("/dev/")));
        assert!(!is_under(Path::new("/dev"), Path::new("/dev")));
        assert!(!is_under(Path::new("/devices"), Path::new("/dev")));
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b\\011c"), "/a b\tc");
        assert_eq!(unescape_mountinfo("/plain\\"), "/plain\\");
    }
}
