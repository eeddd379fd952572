//! config.json from an image's config and the flags, as docker builds it:
//! Entrypoint + (the command given, or Cmd), Env with -e on top, WorkingDir or
//! -w, User or -u (names looked up in the image's /etc/passwd and /etc/group),
//! the resources, the mounts, and the network namespace.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use serde_json::{json, Value};

use super::flags::{Mount, RunFlags};
use crate::network::Attachment;

/// docker's default capabilities.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A file of the container's rootfs, opened as if `rootfs` were `/`: its
/// symlinks (absolute ones too) resolve inside it (openat2 RESOLVE_IN_ROOT).
pub fn read_in_root(rootfs: &Path, rel: &str) -> std::io::Result<Option<String>> {
    let root = std::fs::File::open(rootfs)?;
    let name = CString::new(rel).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: an all-zero open_how is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    use std::os::fd::AsRawFd;
    // SAFETY: valid fd, C string and open_how.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOENT) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: a fresh fd we own.
    let f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    let mut s = String::new();
    use std::io::Read;
    f.take(4 << 20).read_to_string(&mut s)?;
    Ok(Some(s))
}

/// uid, gid and additional gids of `USER[:GROUP]` in the image.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<(u32, u32, Vec<u32>), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_root(rootfs, "etc/passwd")
        .map_err(|e| format!("user {spec:?}: /etc/passwd of the image: {e}"))?
        .unwrap_or_default();
    let groups = read_in_root(rootfs, "etc/group")
        .map_err(|e| format!("user {spec:?}: /etc/group of the image: {e}"))?
        .unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user)));
    let (uid, mut gid, name) = match (user.parse::<u32>(), &entry) {
        (_, Some(f)) => (
            f[2].parse()
                .map_err(|_| format!("user {spec:?}: bad uid in the image's /etc/passwd"))?,
            f[3].parse()
                .map_err(|_| format!("user {spec:?}: bad gid in the image's /etc/passwd"))?,
            Some(f[0].to_string()),
        ),
        (Ok(uid), None) => (uid, 0, None),
        (Err(_), None) => {
            return Err(format!(
                "user {user:?}: no such user in the image's /etc/passwd"
            ))
        }
    };
    let group_lines: Vec<Vec<&str>> = groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_lines
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| format!("group {g:?}: no such group in the image's /etc/group"))?,
        };
    }
    let mut extra = Vec::new();
    if let (Some(name), None) = (name, group) {
        for f in &group_lines {
            if f.len() >= 4 && f[3].split(',').any(|m| m == name) {
                if let Ok(g) = f[2].parse::<u32>() {
                    if g != gid && !extra.contains(&g) {
                        extra.push(g);
                    }
                }
            }
        }
    }
    Ok((uid, gid, extra))
}

/// The container's hostname: --hostname, or the first 12 digits of its id (docker's).
pub fn hostname(f: &RunFlags, id: &str) -> String {
    f.hostname.clone().unwrap_or_else(|| id[..12].to_string())
}

/// What config.json needs besides the flags.
pub struct BundleInput<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub image_id: &'a str,
    pub image: &'a ImageConfiguration,
    pub flags: &'a RunFlags,
    pub rootfs: &'a Path,
    /// Where each named volume's data is.
    pub volume_dir: &'a dyn Fn(&str) -> PathBuf,
    /// The container's network: its namespace, hosts and resolv.conf.
    pub network: &'a Attachment,
    /// The host path of the init shim, for `--init`.
    pub init_shim: Option<&'a Path>,
}

/// Where `--init` mounts brig's init shim in the container: on the
/// container's own /dev tmpfs, so that it touches neither the image's files
/// nor the writable layer, and works with --read-only (docker mounts tini at
/// /sbin/docker-init, podman catatonit at /run/podman-init).
pub const INIT_PATH: &str = "/dev/init";

/// The process args: Entrypoint + (command, or Cmd). `--entrypoint` replaces
/// the image's Entrypoint and drops its Cmd (as docker does); with `--init`
/// the init shim runs them.
pub fn args_of(image: &ImageConfiguration, f: &RunFlags) -> Vec<String> {
    let args = user_args(image, f.entrypoint.as_deref(), &f.command);
    if f.init && !args.is_empty() {
        let mut v = vec![INIT_PATH.to_string(), "--".to_string()];
        v.extend(args);
        return v;
    }
    args
}

/// Entrypoint + (command, or Cmd), with `--entrypoint`: what the user runs
/// (without `--init`'s shim), as `container ls` shows it.
pub fn user_args(
    image: &ImageConfiguration,
    entrypoint: Option<&[String]>,
    command: &[String],
) -> Vec<String> {
    let cfg = image.config().as_ref();
    if let Some(ep) = entrypoint {
        let mut args = ep.to_vec();
        args.extend(command.iter().cloned());
        return args;
    }
    let mut args: Vec<String> = cfg.and_then(|c| c.entrypoint().clone()).unwrap_or_default();
    if command.is_empty() {
        args.extend(cfg.and_then(|c| c.cmd().clone()).unwrap_or_default());
    } else {
        args.extend(command.iter().cloned());
    }
    args
}

pub fn config_json(b: &BundleInput) -> Result<Value, String> {
    let cfg = b.image.config().as_ref();
    let f = b.flags;
    let args = args_of(b.image, f);
    if args.is_empty() {
        return Err(format!(
            "image {}: no Entrypoint or Cmd; give a command after the image",
            f.image
        ));
    }
    let hostname = hostname(f, b.id);
    // Env: the image's, then -e on top (same name: replaced).
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| {
        if let Some(e) = env.iter_mut().find(|(ek, _)| ek == k) {
            e.1 = v.to_string();
        } else {
            env.push((k.to_string(), v.to_string()));
        }
    };
    set("PATH", &DEFAULT_PATH[5..]);
    set("HOSTNAME", &hostname);
    for e in cfg.and_then(|c| c.env().clone()).unwrap_or_default() {
        if let Some((k, v)) = e.split_once('=') {
            set(k, v);
        }
    }
    for (k, v) in &f.env {
        set(k, v);
    }
    let env: Vec<String> = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cwd = f
        .workdir
        .clone()
        .or_else(|| cfg.and_then(|c| c.working_dir().clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(format!(
            "image {}: WorkingDir {cwd:?} is not absolute",
            f.image
        ));
    }
    let user = f
        .user
        .clone()
        .or_else(|| cfg.and_then(|c| c.user().clone()))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "0".into());
    let (uid, gid, extra) = resolve_user(b.rootfs, &user).map_err(|e| match &f.user {
        Some(_) => format!("-u: {e}"),
        None => format!("image {}: User: {e}", f.image),
    })?;

    let mut spec: Value = serde_json::from_str(brig_runtime::spec::default_spec_text())
        .expect("the default spec is JSON");
    let caps: Vec<&str> = DEFAULT_CAPS.to_vec();
    let rlimits = spec["process"]["rlimits"].take();
    spec["process"] = json!({
        "rlimits": rlimits,
        "terminal": f.tty,
        "user": {"uid": uid, "gid": gid, "additionalGids": extra},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": false,
    });
    spec["root"] = json!({"path": "rootfs", "readonly": f.read_only});
    spec["hostname"] = json!(hostname);
    let mounts = spec["mounts"].as_array_mut().expect("default mounts");
    for m in &f.mounts {
        let (src, dest, ro) = match m {
            Mount::Volume {
                name,
                dest,
                readonly,
            } => ((b.volume_dir)(name), dest, *readonly),
            Mount::Bind {
                source,
                dest,
                readonly,
            } => (source.clone(), dest, *readonly),
        };
        let mut opts = vec!["rbind", "rprivate"];
        if ro {
            opts.push("ro");
        }
        mounts.push(json!({"destination": dest, "type": "bind", "source": src, "options": opts}));
    }
    if let (true, Some(shim)) = (f.init, b.init_shim) {
        mounts.push(
            json!({"destination": INIT_PATH, "type": "bind", "source": shim,
                           "options": ["bind", "ro", "nosuid", "nodev"]}),
        );
    }
    for t in &f.tmpfs {
        mounts.push(json!({"destination": t.dest, "type": "tmpfs", "source": "tmpfs", "options": t.options}));
    }
    let linux = &mut spec["linux"];
    let mut resources = linux["resources"].take();
    if !resources.is_object() {
        resources = json!({});
    }
    if let Some(m) = f.memory {
        resources["memory"] = json!({"limit": m});
    }
    if let Some((quota, period)) = f.cpu {
        resources["cpu"] = json!({"quota": quota, "period": period});
    }
    if let Some(p) = f.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    linux["resources"] = resources;
    let mut ann = serde_json::Map::new();
    ann.insert("brig.container.name".into(), json!(b.name));
    ann.insert("brig.image.id".into(), json!(b.image_id));
    ann.insert("brig.image.ref".into(), json!(f.image));
    if let Some(ports) = cfg.and_then(|c| c.exposed_ports().clone()) {
        if !ports.is_empty() {
            ann.insert("brig.image.exposedPorts".into(), json!(ports.join(",")));
        }
    }
    spec["annotations"] = Value::Object(ann);
    b.network.apply_to_config(&mut spec);
    Ok(spec)
}
