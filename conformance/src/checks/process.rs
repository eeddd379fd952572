//! The process and its environment: cwd, env, user, rlimits, capabilities, no_new_privs, LSM
//! labels, masked and read-only paths, read-only root, sysctl, default devices, propagation.

use crate::check::{Check, CheckResult};
use crate::ctx::Ctx;
use crate::host::{Req, CAP_SYS_RESOURCE};
use crate::runtime::Op;
use serde_json::json;
use std::sync::Arc;

use Op::{Create, Exec, Run, Start, State};

pub fn checks() -> Vec<Check> {
    vec![
        check! {
            id: "process.cwd.applied", group: Process, spec: "config.md#process", level: Must,
            summary: "the process starts in process.cwd",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: cwd,
        },
        check! {
            id: "process.env.applied", group: Process, spec: "config.md#process", level: Must,
            summary: "the process gets exactly process.env",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: env,
        },
        check! {
            id: "process.user.ids", group: Process, spec: "config.md#posix-platform-user", level: Must,
            summary: "the process runs as user.uid, user.gid with user.additionalGids",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: user_ids,
        },
        check! {
            id: "process.rlimits.lowered", group: Process, spec: "config.md#posix-process", level: Must,
            summary: "an rlimit below the host's hard limit is applied",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: rlimit_lowered,
        },
        check! {
            id: "process.rlimits.above-host-hard", group: Process, spec: "config.md#posix-process", level: Must,
            summary: "an rlimit above the runtime's own hard limit is applied",
            requires: [Req::Root, Req::HostKernel, Req::Capability(CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"), Req::Op(Run)], run: rlimit_raised,
        },
        check! {
            id: "process.caps.bounding", group: Process, spec: "config.md#linux-process", level: Must,
            summary: "the bounding, effective and permitted sets are exactly process.capabilities",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: caps,
        },
        check! {
            id: "process.no-new-privileges.set", group: Process, spec: "config.md#linux-process", level: Must,
            summary: "noNewPrivileges sets no_new_privs",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: nnp,
        },
        check! {
            id: "process.apparmor.profile", group: Process, spec: "config.md#linux-process", level: Must,
            summary: "apparmorProfile is applied to the process",
            requires: [Req::Root, Req::HostKernel, Req::AppArmor, Req::Op(Run)], run: apparmor,
        },
        check! {
            id: "process.selinux.label", group: Process, spec: "config.md#linux-process", level: Must,
            summary: "selinuxLabel is applied to the process",
            requires: [Req::Root, Req::HostKernel, Req::SeLinux, Req::Op(Run)], run: selinux,
        },
        check! {
            id: "linux.masked-paths.masked", group: Process, spec: "config-linux.md#masked-paths", level: Must,
            summary: "masked files read empty: /proc/kcore, and /etc/group (readable when not masked)",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: masked,
        },
        check! {
            id: "linux.readonly-paths.readonly", group: Process, spec: "config-linux.md#readonly-paths", level: Must,
            summary: "a read-only path (/proc/sys) refuses writes",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: readonly_paths,
        },
        check! {
            id: "linux.root.readonly", group: Process, spec: "config.md#root", level: Must,
            summary: "with root.readonly the root filesystem refuses writes",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: root_readonly,
        },
        check! {
            id: "linux.sysctl.applied", group: Process, spec: "config-linux.md#sysctl", level: Must,
            summary: "a namespaced sysctl (net.ipv4.ip_forward) is set in the container",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: sysctl,
        },
        check! {
            id: "linux.devices.default", group: Process, spec: "config-linux.md#default-devices", level: Must,
            summary: "/dev/null, zero, full, random, urandom and tty exist with their device numbers",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: default_devices,
        },
        check! {
            id: "linux.devices.symlinks", group: Process, spec: "config-linux.md#dev-symbolic-links", level: Must,
            summary: "/dev/fd, /dev/stdin, /dev/stdout and /dev/stderr are symlinks",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: dev_symlinks,
        },
        check! {
            id: "linux.rootfs-propagation.rslave", group: Process, spec: "config-linux.md#rootfs-mount-propagation", level: Should,
            summary: "with rootfsPropagation rslave a host mount under a bind-mounted dir shows in the running container",
            requires: [Req::Root, Req::HostKernel, Req::RootSharedPropagation, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Exec)], run: propagation,
        },
    ]
}

async fn cwd(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["env"]);
    b.set("process.cwd", json!("/tmp"));
    let r = c.run_ok(&b).await?;
    let got = &r.line("env")?["cwd"];
    ensure!(*got == "/tmp", "cwd is {got}, want \"/tmp\"");
    Ok(())
}

async fn env(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["env"]);
    b.set("process.env", json!(["PATH=/bin", "BRIG_CONFORMANCE=yes"]));
    let r = c.run_ok(&b).await?;
    let mut got: Vec<String> = r.line("env")?["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    got.sort();
    // Runtimes may add HOME when it is not set (runc does); anything else is not asked for.
    got.retain(|e| !e.starts_with("HOME="));
    ensure!(
        got == ["BRIG_CONFORMANCE=yes", "PATH=/bin"],
        "environment is {got:?}"
    );
    Ok(())
}

async fn user_ids(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["ids"]);
    b.set(
        "process.user",
        json!({"uid": 65534, "gid": 65534, "additionalGids": [1234]}),
    );
    let r = c.run_ok(&b).await?;
    let ids = r.line("ids")?;
    ensure!(
        ids["uid"] == 65534 && ids["euid"] == 65534,
        "uid is {}, want 65534",
        ids["uid"]
    );
    ensure!(
        ids["gid"] == 65534 && ids["egid"] == 65534,
        "gid is {}, want 65534",
        ids["gid"]
    );
    let groups = ids["groups"].as_array().cloned().unwrap_or_default();
    ensure!(
        groups.iter().any(|g| *g == 1234),
        "supplementary groups {groups:?} lack 1234"
    );
    Ok(())
}

async fn rlimit_check(c: &Ctx, soft: u64, hard: u64) -> CheckResult {
    let mut b = c.bundle(&["rlimits"]);
    b.set(
        "process.rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": soft, "hard": hard}]),
    );
    let r = c.run_ok(&b).await?;
    let got = &r.line("rlimits")?["rlimits"]["RLIMIT_NOFILE"];
    ensure!(
        got["soft"] == soft && got["hard"] == hard,
        "RLIMIT_NOFILE is {got}, want soft {soft} hard {hard}"
    );
    Ok(())
}

async fn rlimit_lowered(c: Arc<Ctx>) -> CheckResult {
    rlimit_check(&c, 512, 768).await
}

async fn rlimit_raised(c: Arc<Ctx>) -> CheckResult {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    let above = r
        .rlim_max
        .saturating_mul(2)
        .min(1 << 20)
        .max(r.rlim_max + 1);
    rlimit_check(&c, above, above).await
}

fn cap_mask(names: &[&str]) -> u64 {
    const CAPS: &[(&str, u32)] = &[
        ("CAP_CHOWN", 0),
        ("CAP_DAC_OVERRIDE", 1),
        ("CAP_FOWNER", 3),
        ("CAP_KILL", 5),
        ("CAP_SETGID", 6),
        ("CAP_SETUID", 7),
        ("CAP_NET_BIND_SERVICE", 10),
        ("CAP_NET_RAW", 13),
        ("CAP_SYS_CHROOT", 18),
        ("CAP_SYS_ADMIN", 21),
        ("CAP_MKNOD", 27),
        ("CAP_AUDIT_WRITE", 29),
    ];
    names
        .iter()
        .filter_map(|n| CAPS.iter().find(|(c, _)| c == n))
        .fold(0, |m, (_, bit)| m | (1u64 << bit))
}

async fn caps(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["caps"])).await?;
    let st = &r.line("caps")?["status"];
    let want = cap_mask(crate::bundle::DEFAULT_CAPS);
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        let got = st[set]
            .as_str()
            .and_then(|s| u64::from_str_radix(s, 16).ok());
        ensure!(
            got == Some(want),
            "{set} is {:?}, want {want:016x} ({:?})",
            st[set],
            crate::bundle::DEFAULT_CAPS
        );
    }
    Ok(())
}

async fn nnp(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["caps"])).await?;
    let got = &r.line("caps")?["status"]["NoNewPrivs"];
    ensure!(*got == "1", "NoNewPrivs is {got} with noNewPrivileges true");
    Ok(())
}

async fn apparmor(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["read", "/proc/self/attr/current"]);
    b.set("process.apparmorProfile", json!("unconfined"));
    let r = c.run_ok(&b).await?;
    let got = &r.line("read")?["content"];
    ensure!(
        got.as_str()
            .is_some_and(|s| s.trim().starts_with("unconfined")),
        "AppArmor label is {got}"
    );
    Ok(())
}

async fn selinux(c: Arc<Ctx>) -> CheckResult {
    let label = "system_u:system_r:container_t:s0:c1,c2";
    let mut b = c.bundle(&["read", "/proc/self/attr/current"]);
    b.set("process.selinuxLabel", json!(label));
    let r = c.run_ok(&b).await?;
    let got = &r.line("read")?["content"];
    ensure!(
        got.as_str()
            .is_some_and(|s| s.trim_end_matches('\0').trim() == label),
        "SELinux label is {got}, want {label}"
    );
    Ok(())
}

async fn masked(c: Arc<Ctx>) -> CheckResult {
    // /proc/kcore alone proves little: without CAP_SYS_RAWIO it cannot be opened anyway. A file
    // every process can read shows whether masking happened at all.
    let mut b = c.bundle(&["read", "/proc/kcore", "+", "read", "/etc/group"]);
    b.push("linux.maskedPaths", json!("/etc/group"));
    let r = c.run_ok(&b).await?;
    let l = r.line("read")?;
    ensure!(
        l["ok"] == false || l["content"] == "",
        "/proc/kcore is readable and not empty: it is not masked"
    );
    let g = r
        .lines
        .iter()
        .find(|l| l["path"] == "/etc/group")
        .cloned()
        .unwrap_or_default();
    ensure!(
        g["content"] == "" || g["ok"] == false,
        "the masked /etc/group reads {}: it is not masked",
        g["content"]
    );
    Ok(())
}

async fn readonly_paths(c: Arc<Ctx>) -> CheckResult {
    let r = c
        .run_ok(&c.bundle(&["write", "/proc/sys/kernel/domainname", "x"]))
        .await?;
    let l = r.line("write")?;
    ensure!(
        l["ok"] == false && l["errno"] == libc::EROFS,
        "writing under /proc/sys gave {l}, want EROFS"
    );
    Ok(())
}

async fn root_readonly(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["write", "/new-file", "x"])).await?;
    let l = r.line("write")?;
    ensure!(
        l["ok"] == false && l["errno"] == libc::EROFS,
        "writing to the read-only root gave {l}, want EROFS"
    );
    Ok(())
}

async fn sysctl(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["read", "/proc/sys/net/ipv4/ip_forward"]);
    b.set("linux.sysctl", json!({"net.ipv4.ip_forward": "1"}));
    let r = c.run_ok(&b).await?;
    let got = &r.line("read")?["content"];
    ensure!(
        got.as_str().map(str::trim) == Some("1"),
        "net.ipv4.ip_forward is {got} in the container, want 1"
    );
    Ok(())
}

async fn default_devices(c: Arc<Ctx>) -> CheckResult {
    let devs = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let mut args = Vec::new();
    for (p, _, _) in devs {
        args.extend(["stat", p, "+"]);
    }
    args.pop();
    let r = c.run_ok(&c.bundle(&args)).await?;
    for (p, ma, mi) in devs {
        let st = r
            .lines
            .iter()
            .find(|l| l["path"] == p)
            .cloned()
            .unwrap_or_default();
        ensure!(
            st["kind"] == "char" && st["rdev_major"] == ma && st["rdev_minor"] == mi,
            "{p} is {st}, want the character device {ma}:{mi}"
        );
    }
    Ok(())
}

async fn dev_symlinks(c: Arc<Ctx>) -> CheckResult {
    let links = ["/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"];
    let mut args = Vec::new();
    for p in links {
        args.extend(["stat", p, "+"]);
    }
    args.pop();
    let r = c.run_ok(&c.bundle(&args)).await?;
    for p in links {
        let st = r
            .lines
            .iter()
            .find(|l| l["path"] == p)
            .cloned()
            .unwrap_or_default();
        ensure!(st["kind"] == "symlink", "{p} is {st}, want a symlink");
    }
    Ok(())
}

async fn propagation(c: Arc<Ctx>) -> CheckResult {
    let shared = c.scratch("shared")?;
    let mut b = c.bundle(&["wait-signal"]);
    b.set("linux.rootfsPropagation", json!("rslave"));
    b.push(
        "mounts",
        json!({"destination": "/in", "type": "bind", "source": shared.display().to_string(),
               "options": ["rbind", "rslave"]}),
    );
    let k = c.started_waiting(&b).await?;
    let sub = shared.join("late");
    std::fs::create_dir_all(&sub)?;
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| crate::check::Verdict::Fail(format!("mounting tmpfs on the host: {e}")))?;
    c.register_mount(&sub);
    let lines = c.exec_probe(&k, &["mounts"]).await?;
    let seen = crate::ctx::find_line(&lines, "mounts")?["mounts"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["mount_point"] == "/in/late"));
    ensure!(
        seen,
        "a tmpfs mounted on the host after start does not propagate to /in/late"
    );
    Ok(())
}
