//! Namespaces: pid, net, mnt, uts, ipc, user and cgroup isolation, joining by path, and
//! inheriting the runtime's namespace when one is not configured.

use crate::check::{Check, CheckResult, Verdict};
use crate::ctx::{find_line, Ctx};
use crate::host::Req;
use crate::runtime::Op;
use crate::sys::{ns_of, own_ns};
use serde_json::{json, Value};
use std::sync::Arc;

use Op::{Create, Run, Start, State};

pub fn checks() -> Vec<Check> {
    vec![
        check! {
            id: "ns.pid.init-is-pid1", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "in a new pid namespace the container's process is pid 1",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: pid_init,
        },
        check! {
            id: "ns.pid.host-pid-differs", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "on the host the container's process has another pid, in another pid namespace",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: pid_host_differs,
        },
        check! {
            id: "ns.pid.host-processes-invisible", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "the container sees only its own processes in /proc",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: pid_host_invisible,
        },
        check! {
            id: "ns.net.loopback-only", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "a new network namespace has only lo",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: net_lo_only,
        },
        check! {
            id: "ns.net.same-port-twice", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "two containers and the host bind the same TCP port at once",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Run)], run: net_same_port,
        },
        check! {
            id: "ns.mnt.mount-invisible-on-host", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "a mount made inside the container does not appear on the host",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: mnt_invisible,
        },
        check! {
            id: "ns.mnt.host-home-absent", group: Namespaces, spec: "config.md#root", level: Must,
            summary: "the host's /home is not visible in the container",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: mnt_home_absent,
        },
        check! {
            id: "ns.mnt.host-home-bind-mounted", group: Namespaces, spec: "config.md#mounts", level: Must,
            summary: "the host's /home is visible when bind-mounted at /home",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: mnt_home_bind,
        },
        check! {
            id: "ns.mnt.bind-readonly", group: Namespaces, spec: "config.md#mounts", level: Must,
            summary: "a read-only bind mount is readable and refuses writes",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: mnt_bind_ro,
        },
        check! {
            id: "ns.uts.hostname", group: Namespaces, spec: "config.md#hostname", level: Must,
            summary: "the container sees the configured hostname",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: uts_hostname,
        },
        check! {
            id: "ns.uts.host-hostname-unchanged", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "setting the container's hostname leaves the host's unchanged",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: uts_host_unchanged,
        },
        check! {
            id: "ns.uts.domainname", group: Namespaces, spec: "config.md#domainname", level: Should,
            summary: "the container sees the configured domainname",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: uts_domainname,
        },
        check! {
            id: "ns.ipc.shm-not-shared", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "SysV shm segments are not shared between the host and the container",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State)], run: ipc_shm,
        },
        check! {
            id: "ns.user.uid-map", group: Namespaces, spec: "config-linux.md#user-namespace-mappings", level: Must,
            summary: "/proc/self/uid_map shows the configured uid mapping and the process runs as uid 0 inside",
            requires: [Req::Root, Req::HostKernel, Req::UserNamespaces, Req::Op(Run)], run: user_uid_map,
        },
        check! {
            id: "ns.user.gid-map", group: Namespaces, spec: "config-linux.md#user-namespace-mappings", level: Must,
            summary: "/proc/self/gid_map shows the configured gid mapping",
            requires: [Req::Root, Req::HostKernel, Req::UserNamespaces, Req::Op(Run)], run: user_gid_map,
        },
        check! {
            id: "ns.user.file-owner-mapped", group: Namespaces, spec: "config-linux.md#user-namespace-mappings", level: Must,
            summary: "a file created by root in the container belongs to the mapped uid/gid on the host",
            requires: [Req::Root, Req::HostKernel, Req::UserNamespaces, Req::Op(Run)], run: user_file_owner,
        },
        check! {
            id: "ns.cgroup.root-is-slash", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "in a new cgroup namespace /proc/self/cgroup shows /",
            requires: [Req::Root, Req::HostKernel, Req::Namespace("cgroup"), Req::Op(Run)], run: cgroup_root,
        },
        check! {
            id: "ns.join.network-by-path", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "a network namespace given by path is joined",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Run)], run: join_net,
        },
        check! {
            id: "ns.join.uts-by-path", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "a uts namespace given by path is joined and its hostname seen",
            requires: [Req::Root, Req::HostKernel, Req::Op(Create), Req::Op(Start), Req::Op(State), Req::Op(Run)], run: join_uts,
        },
        check! {
            id: "ns.absent.network-is-host", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "without a network namespace in the config the container shares the runtime's",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: absent_net,
        },
        check! {
            id: "ns.absent.pid-is-host", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "without a pid namespace in the config the container shares the runtime's",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: absent_pid,
        },
        check! {
            id: "ns.all.distinct-from-host", group: Namespaces, spec: "config-linux.md#namespaces", level: Must,
            summary: "each configured namespace (pid, net, ipc, uts, mnt) differs from the runtime's",
            requires: [Req::Root, Req::HostKernel, Req::Op(Run)], run: all_distinct,
        },
    ]
}

async fn pid_init(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["ns"])).await?;
    let pid = &r.line("ns")?["pid"];
    ensure!(
        *pid == 1,
        "the container's process is pid {pid} inside, want 1"
    );
    Ok(())
}

async fn pid_host_differs(c: Arc<Ctx>) -> CheckResult {
    let k = c
        .started_waiting(&c.bundle(&["ns", "+", "wait-signal"]))
        .await?;
    let inside = c.wait_output(&k, |l| l["cmd"] == "ns").await?;
    ensure!(
        inside["pid"] == 1,
        "pid inside is {}, want 1",
        inside["pid"]
    );
    ensure!(k.pid != 1, "state reports host pid 1");
    let host_ns = ns_of(&format!("/proc/{}/ns/pid", k.pid));
    ensure!(
        host_ns == inside["ns"]["pid"].as_u64(),
        "host pid {} is not the container's process",
        k.pid
    );
    ensure!(
        host_ns != own_ns("pid"),
        "the container's process is in the host's pid namespace"
    );
    Ok(())
}

async fn pid_host_invisible(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["ps"])).await?;
    let ps = r.line("ps")?;
    let procs = ps["procs"].as_array().cloned().unwrap_or_default();
    let foreign: Vec<String> = procs
        .iter()
        .filter(|p| p["cmdline"][0] != "/probe")
        .map(|p| format!("{} {}", p["pid"], p["comm"]))
        .collect();
    ensure!(
        foreign.is_empty(),
        "processes from outside the container are visible: {}",
        foreign.join(", ")
    );
    ensure!(
        !procs.is_empty(),
        "the container sees no process at all in /proc"
    );
    Ok(())
}

async fn net_lo_only(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["net"])).await?;
    let ifs = &r.line("net")?["interfaces"];
    ensure!(
        *ifs == json!(["lo"]),
        "interfaces in a new network namespace: {ifs}, want [\"lo\"]"
    );
    Ok(())
}

async fn net_same_port(c: Arc<Ctx>) -> CheckResult {
    // Hold a port on the host first; its number is what the containers bind.
    let host = std::net::TcpListener::bind(("0.0.0.0", 0))?;
    let port = host.local_addr()?.port().to_string();
    let a = c
        .started_waiting(&c.bundle(&["bind-port", &port, "+", "wait-signal"]))
        .await?;
    let la = c.wait_output(&a, |l| l["cmd"] == "bind-port").await?;
    ensure!(
        la["bound"] == true,
        "first container could not bind port {port} held by the host: {la}"
    );
    let r = c.run_ok(&c.bundle(&["bind-port", &port])).await?;
    let lb = r.line("bind-port")?;
    ensure!(
        lb["bound"] == true,
        "second container could not bind port {port}: {lb}"
    );
    drop(host);
    Ok(())
}

async fn mnt_invisible(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&[
        "mount-tmpfs",
        "/tmp/inner",
        "+",
        "mounts",
        "+",
        "wait-signal",
    ]);
    let rootfs = c.scratch("rootfs")?;
    crate::setup::copy_tree(&c.env.rootfs, &rootfs)?;
    b.set("root.path", json!(rootfs.display().to_string()));
    add_caps(&mut b, &["CAP_SYS_ADMIN"]);
    let k = c.started_waiting(&b).await?;
    let mounts = c.wait_output(&k, |l| l["cmd"] == "mounts").await?;
    let inside = mounts["mounts"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["mount_point"] == "/tmp/inner"));
    ensure!(
        inside,
        "the probe's tmpfs at /tmp/inner is not in the container's own mount table"
    );
    let on_host = crate::sys::host_mounts_under(&c.dir);
    ensure!(
        on_host.is_empty(),
        "container mounts visible on the host: {}",
        on_host.join(", ")
    );
    let any_inner = std::fs::read_to_string("/proc/self/mountinfo")?
        .lines()
        .any(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|mp| mp.ends_with("/tmp/inner"))
        });
    ensure!(
        !any_inner,
        "a mount ending in /tmp/inner appeared on the host"
    );
    Ok(())
}

/// Adds capabilities to the bounding, effective and permitted sets.
pub fn add_caps(b: &mut crate::bundle::Bundle, caps: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        for cap in caps {
            b.push(&format!("process.capabilities.{set}"), json!(cap));
        }
    }
}

async fn mnt_home_absent(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["stat", "/home"])).await?;
    let st = r.line("stat")?;
    ensure!(
        st["exists"] == false,
        "/home exists in the container although the rootfs has none: {st}"
    );
    Ok(())
}

async fn mnt_home_bind(c: Arc<Ctx>) -> CheckResult {
    let home = std::path::Path::new("/home");
    if !home.is_dir() {
        skip!("the host has no /home to bind-mount");
    }
    let mut want: Vec<String> = std::fs::read_dir(home)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    want.sort();
    let mut b = c.bundle(&["ls", "/home"]);
    // A private rootfs with /home, so that no runtime has to create it in the shared one.
    let rootfs = c.scratch("rootfs")?;
    crate::setup::copy_tree(&c.env.rootfs, &rootfs)?;
    std::fs::create_dir_all(rootfs.join("home"))?;
    b.set("root.path", json!(rootfs.display().to_string()));
    b.bind(home, "/home", true);
    let r = c.run_ok(&b).await?;
    let ls = r.line("ls")?;
    ensure!(
        ls["entries"] == json!(want),
        "/home in the container lists {}, the host's has {want:?}",
        ls["entries"]
    );
    Ok(())
}

async fn mnt_bind_ro(c: Arc<Ctx>) -> CheckResult {
    let dir = c.scratch("in")?;
    std::fs::write(dir.join("marker"), "from-the-host")?;
    let mut b = c.bundle(&["read", "/in/marker", "+", "write", "/in/new", "x"]);
    b.bind(&dir, "/in", true);
    let r = c.run_ok(&b).await?;
    let read = r.line("read")?;
    ensure!(
        read["content"] == "from-the-host",
        "reading the bind-mounted file gave {read}"
    );
    let w = r.line("write")?;
    ensure!(
        w["ok"] == false,
        "writing into a read-only bind mount succeeded"
    );
    ensure!(
        !dir.join("new").exists(),
        "the write reached the host directory"
    );
    Ok(())
}

async fn hostname_of(c: &Ctx, b: &crate::bundle::Bundle) -> Result<Value, Verdict> {
    let r = c.run_ok(b).await?;
    Ok(r.line("hostname")?.clone())
}

async fn uts_hostname(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["hostname"]);
    b.set("hostname", json!("brig-conformance-uts"));
    let h = hostname_of(&c, &b).await?;
    ensure!(
        h["hostname"] == "brig-conformance-uts",
        "hostname is {}, want \"brig-conformance-uts\"",
        h["hostname"]
    );
    Ok(())
}

async fn uts_host_unchanged(c: Arc<Ctx>) -> CheckResult {
    let before = crate::sys::hostname();
    let mut b = c.bundle(&["hostname"]);
    b.set("hostname", json!("brig-conformance-uts2"));
    let h = hostname_of(&c, &b).await?;
    ensure!(
        h["hostname"] == "brig-conformance-uts2",
        "the container's hostname is {}",
        h["hostname"]
    );
    let after = crate::sys::hostname();
    ensure!(
        before == after,
        "the host's hostname changed from {before:?} to {after:?}"
    );
    Ok(())
}

async fn uts_domainname(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["hostname"]);
    b.set("domainname", json!("conformance.example"));
    let h = hostname_of(&c, &b).await?;
    ensure!(
        h["domainname"] == "conformance.example",
        "domainname is {}, want \"conformance.example\"",
        h["domainname"]
    );
    Ok(())
}

fn key_from(id: &str, salt: i32) -> i32 {
    let mut h: i32 = 0x5eed ^ salt;
    for b in id.bytes() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(b));
    }
    h & 0x3fff_ffff
}

async fn ipc_shm(c: Arc<Ctx>) -> CheckResult {
    let b = c.bundle(&[]);
    let host_key = key_from(&b.id, 1);
    let inner_key = key_from(&b.id, 2);
    let shmid = crate::sys::shm_create(host_key)?;
    c.register_shm(shmid);
    let mut b = b;
    b.probe_args(&[
        "shm",
        "list",
        "+",
        "shm",
        "create",
        &inner_key.to_string(),
        "+",
        "wait-signal",
    ]);
    let k = c.started_waiting(&b).await?;
    let lines = c.output(&k)?;
    let list = lines
        .iter()
        .find(|l| l.get("keys").is_some())
        .cloned()
        .unwrap_or_default();
    let keys = list["keys"].as_array().cloned().unwrap_or_default();
    ensure!(
        !keys.iter().any(|k| k.as_i64() == Some(i64::from(host_key))),
        "the container sees the host's shm segment (key {host_key})"
    );
    ensure!(
        !crate::sys::host_shm_keys().contains(&i64::from(inner_key)),
        "the host sees the container's shm segment (key {inner_key})"
    );
    Ok(())
}

pub(crate) fn user_bundle(c: &Ctx, args: &[&str]) -> crate::bundle::Bundle {
    let mut b = c.bundle(args);
    b.with_namespace("user", None);
    b.set(
        "linux.uidMappings",
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
    );
    b.set(
        "linux.gidMappings",
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
    );
    b
}

async fn user_uid_map(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&user_bundle(&c, &["ids"])).await?;
    let ids = r.line("ids")?;
    ensure!(
        ids["uid_map"] == json!([{"container_id": 0, "host_id": 100000, "size": 65536}]),
        "uid_map is {}, want 0 100000 65536",
        ids["uid_map"]
    );
    ensure!(
        ids["uid"] == 0 && ids["euid"] == 0,
        "the process runs as uid {} inside, want 0",
        ids["uid"]
    );
    Ok(())
}

async fn user_gid_map(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&user_bundle(&c, &["ids"])).await?;
    let ids = r.line("ids")?;
    ensure!(
        ids["gid_map"] == json!([{"container_id": 0, "host_id": 200000, "size": 65536}]),
        "gid_map is {}, want 0 200000 65536",
        ids["gid_map"]
    );
    Ok(())
}

async fn user_file_owner(c: Arc<Ctx>) -> CheckResult {
    use std::os::unix::fs::MetadataExt;
    let out = c.scratch("out")?;
    nix::unistd::chown(&out, Some(100000.into()), Some(200000.into()))
        .map_err(|e| Verdict::Fail(format!("chown of the scratch dir: {e}")))?;
    let mut b = user_bundle(&c, &["write", "/out/made-by-root", "x"]);
    b.bind(&out, "/out", false);
    let r = c.run_ok(&b).await?;
    let w = r.line("write")?;
    ensure!(
        w["ok"] == true,
        "root in the container could not write its mapped-owner dir: {w}"
    );
    let m = std::fs::metadata(out.join("made-by-root"))?;
    ensure!(
        m.uid() == 100000 && m.gid() == 200000,
        "the file belongs to {}:{} on the host, want 100000:200000",
        m.uid(),
        m.gid()
    );
    Ok(())
}

async fn cgroup_root(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["cgroup"]);
    b.with_namespace("cgroup", None);
    let r = c.run_ok(&b).await?;
    let rows = r.line("cgroup")?["cgroups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(!rows.is_empty(), "/proc/self/cgroup is empty");
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| r["path"] != "/")
        .map(|r| format!("{}:{}", r["controllers"], r["path"]))
        .collect();
    ensure!(
        bad.is_empty(),
        "cgroup paths inside a new cgroup namespace are not /: {}",
        bad.join(", ")
    );
    Ok(())
}

async fn join_net(c: Arc<Ctx>) -> CheckResult {
    let a = c.started_waiting(&c.bundle(&["wait-signal"])).await?;
    let path = format!("/proc/{}/ns/net", a.pid);
    let want = ns_of(&path);
    let mut b = c.bundle(&["ns"]);
    b.with_namespace("network", Some(&path));
    let r = c.run_ok(&b).await?;
    let got = r.line("ns")?["ns"]["net"].as_u64();
    ensure!(
        got == want,
        "joined network namespace {got:?}, want {want:?} from {path}"
    );
    Ok(())
}

async fn join_uts(c: Arc<Ctx>) -> CheckResult {
    let mut ba = c.bundle(&["wait-signal"]);
    ba.set("hostname", json!("brig-conformance-joined"));
    let a = c.started_waiting(&ba).await?;
    let path = format!("/proc/{}/ns/uts", a.pid);
    let mut b = c.bundle(&["hostname", "+", "ns"]);
    b.with_namespace("uts", Some(&path));
    if let Some(o) = b.config.as_object_mut() {
        o.remove("hostname");
    }
    let r = c.run_ok(&b).await?;
    let got = r.line("ns")?["ns"]["uts"].as_u64();
    ensure!(
        got == ns_of(&path),
        "joined uts namespace {got:?}, want the one at {path}"
    );
    let h = r.line("hostname")?;
    ensure!(
        h["hostname"] == "brig-conformance-joined",
        "hostname in the joined uts namespace is {}",
        h["hostname"]
    );
    Ok(())
}

async fn absent_net(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["ns"]);
    b.without_namespace("network");
    // sysfs cannot be mounted for a network namespace the container does not own.
    if let Some(m) = b.config["mounts"].as_array_mut() {
        m.retain(|m| m["destination"] != "/sys");
    }
    let r = c.run_ok(&b).await?;
    let got = r.line("ns")?["ns"]["net"].as_u64();
    ensure!(
        got == own_ns("net"),
        "network namespace {got:?}, want the runtime's {:?}",
        own_ns("net")
    );
    Ok(())
}

async fn absent_pid(c: Arc<Ctx>) -> CheckResult {
    let mut b = c.bundle(&["ns"]);
    b.without_namespace("pid");
    let r = c.run_ok(&b).await?;
    let ns = r.line("ns")?;
    ensure!(
        ns["ns"]["pid"].as_u64() == own_ns("pid"),
        "pid namespace {}, want the runtime's {:?}",
        ns["ns"]["pid"],
        own_ns("pid")
    );
    ensure!(
        ns["pid"] != 1,
        "the process is pid 1 without a pid namespace"
    );
    Ok(())
}

async fn all_distinct(c: Arc<Ctx>) -> CheckResult {
    let r = c.run_ok(&c.bundle(&["ns"])).await?;
    let ns = &find_line(&r.lines, "ns")?["ns"];
    let mut same = Vec::new();
    for kind in ["pid", "net", "ipc", "uts", "mnt"] {
        if ns[kind].as_u64() == own_ns(kind) {
            same.push(kind);
        }
    }
    ensure!(
        same.is_empty(),
        "namespaces shared with the runtime although configured: {}",
        same.join(", ")
    );
    Ok(())
}
