//! Container networking through CNI (`brig network`), end to end with real
//! containers made by brig's OCI lifecycle, as `brig container run` makes them:
//! `brig network attach` gives the id a network namespace, config.json's net
//! namespace `path` points at it, and the attachment's hosts and resolv.conf
//! are bind-mounted.
//!
//! SAFETY: every test runs on a thread of its own that first unshares a new
//! network namespace (a throwaway "host"): the bridge, the veths, the
//! iptables/nftables rules, the port-publishing clients and servers all live
//! in it, and traffic goes only to loopback and the test's bridge subnet. The
//! real host's interfaces and rules are never touched; when the thread ends,
//! the namespace and everything in it goes.

mod common;
#[path = "common/images.rs"]
mod img;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const CNI: &str = "/usr/lib/cni";

/// Run `f` on a new thread in a new network namespace with lo up.
fn in_test_netns<F: FnOnce() + Send + 'static>(f: F) {
    let t = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET): the tests need root");
        let out = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .output()
            .unwrap();
        assert!(out.status.success(), "ip link set lo up: {out:?}");
        f()
    });
    if let Err(p) = t.join() {
        std::panic::resume_unwind(p);
    }
}

/// A test's network root, netns dir and plugin path, and a guard that
/// detaches what the test attached and unmounts any namespace file left.
struct Net {
    bed: Bed,
    root: PathBuf,
    netns: PathBuf,
    cni_path: String,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Net {
    fn new() -> Net {
        assert!(
            Path::new(CNI).join("bridge").exists(),
            "{CNI}/bridge is missing: install containernetworking-plugins (scripts/test does)"
        );
        let bed = Bed::new(&["true"]);
        let root = bed.tmp.path().join("networks");
        let netns = bed.tmp.path().join("netns");
        Net {
            bed,
            root,
            netns,
            cni_path: CNI.to_string(),
            ids: Default::default(),
        }
    }

    fn brig(&self, args: &[&str]) -> Output {
        let mut c = Command::new(BRIG);
        c.args(["network", "--network-root"])
            .arg(&self.root)
            .arg("--netns-dir")
            .arg(&self.netns)
            .arg("--cni-path")
            .arg(&self.cni_path)
            .args(args)
            .stdin(Stdio::null());
        c.output().unwrap()
    }

    /// `brig network attach ID ARGS...`, the attachment it prints.
    fn attach(&self, id: &str, args: &[&str]) -> Value {
        self.ids.borrow_mut().push(id.to_string());
        let mut a = vec!["attach", id];
        a.extend_from_slice(args);
        serde_json::from_str(&ok(&self.brig(&a))).unwrap()
    }

    fn attach_fails(&self, id: &str, args: &[&str], needle: &str) -> String {
        self.ids.borrow_mut().push(id.to_string());
        let mut a = vec!["attach", id];
        a.extend_from_slice(args);
        let out = self.brig(&a);
        fails_with(&out, needle);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn detach(&self, id: &str) {
        ok(&self.brig(&["detach", id]));
    }

    /// Point the bundle's config at the attachment, with the call the front
    /// end makes: the attachment as the library reads it from its record.
    fn configure(&mut self, att: &Value, args: &[&str]) {
        let nets = brig_engine::network::Networks::new(&self.root, &self.netns, vec![CNI.into()]);
        let id = att["containerId"].as_str().unwrap();
        let rec = nets.attachment(id).unwrap().expect("an attachment record");
        self.bed.config["process"]["args"] = json!(args);
        rec.apply_to_config(&mut self.bed.config);
    }

    fn ipam_files(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let dir = self.root.join("ipam");
        for net in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(net.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = f.file_name().to_string_lossy().into_owned();
                v.push((name, std::fs::read_to_string(f.path()).unwrap_or_default()));
            }
        }
        v
    }

    /// Nothing of container `id` (which had address `ip`, if any) is left in
    /// the test host: no namespace file, record, veth, rule or lease.
    fn assert_clean(&self, id: &str, ip: Option<&str>) {
        assert!(!self.netns.join(id).exists(), "netns file of {id} left");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(self.netns.join(id).to_str().unwrap()),
            "netns mount of {id} left"
        );
        assert!(
            !self.root.join("attachments").join(id).exists(),
            "attachment record of {id} left"
        );
        // What the containers still attached hold, and no more.
        let others: Vec<Value> = std::fs::read_dir(self.root.join("attachments"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("attachment.json")).ok())
            .map(|b| serde_json::from_slice(&b).unwrap())
            .collect();
        let bridged = others.iter().filter(|a| !a["ip"].is_null()).count();
        let links = sh("ip -o link");
        assert_eq!(links.matches("veth").count(), bridged, "veths:\n{links}");
        let rules = format!("{}\n{}", sh("iptables-save"), sh("nft list ruleset"));
        if others.iter().all(|a| a["ports"] == json!([])) {
            assert!(
                !rules.contains("CNI-DN-"),
                "a port mapping chain is left:\n{rules}"
            );
            assert!(
                !rules.contains("-j DNAT") && !rules.contains("dnat to"),
                "a DNAT rule is left:\n{rules}"
            );
        }
        if let Some(ip) = ip {
            assert!(!rules.contains(ip), "a rule for {ip} is left:\n{rules}");
            for (name, _) in self.ipam_files() {
                assert_ne!(name, ip, "the IPAM lease of {ip} is left");
            }
        }
        for (name, text) in self.ipam_files() {
            assert!(
                !text.lines().any(|l| l == id),
                "IPAM file {name} still names {id}"
            );
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.brig(&["detach", id]);
        }
        // Whatever a failed test left mounted under its temp dir.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for line in mounts.lines() {
            if let Some(p) = line.split_whitespace().nth(4) {
                if p.starts_with(self.netns.to_str().unwrap()) {
                    let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
    }
}

fn sh(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a reboot does to a network namespace file: unmount and remove it, and
/// wait until the namespace's end has taken its veth along (on the kernel's time).
fn lose_netns(ns: &Path) {
    nix::mount::umount2(ns, nix::mount::MntFlags::MNT_DETACH).unwrap();
    std::fs::remove_file(ns).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sh("ip -o link").contains("veth") {
        assert!(Instant::now() < deadline, "the veth outlived its namespace");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connect to `addr` until a server answers with something, or 30 s pass.
fn fetch(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        });
        match got {
            Ok(t) if !t.is_empty() => return t,
            other => assert!(Instant::now() < deadline, "{addr}: no answer: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A busybox server that answers every connection on port 80 with `text`.
fn server(text: &str) -> Vec<String> {
    ["nc", "-ll", "-p", "80", "-e", "echo", text]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn two_containers_on_one_network_reach_each_other_by_ip() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let mut net = Net::new();
        let a = net.attach("srv", &["--hostname", "srv"]);
        let b = net.attach("cli", &[]);
        let (ip_a, ip_b) = (a["ip"].as_str().unwrap(), b["ip"].as_str().unwrap());
        assert_eq!(a["network"], "brig0");
        assert_eq!(ip_a, "10.77.0.2");
        assert_ne!(ip_a, ip_b);
        assert_eq!(a["gateway"], "10.77.0.1");
        assert!(a["mac"].as_str().unwrap().len() == 17, "{a}");
        // The default network was made on first use.
        let ls: Value = serde_json::from_str(&ok(&net.brig(&["ls", "--format", "json"]))).unwrap();
        assert_eq!(ls[0]["name"], "brig0");
        assert_eq!(ls[0]["subnet"], "10.77.0.0/16");
        assert_eq!(ls[0]["containers"], json!(["cli", "srv"]));

        net.configure(&a, &strs(&server("hello-from-srv")));
        ok(&net.bed.create("srv"));
        ok(&net.bed.brig(&["start", "srv"]));

        let probe = format!(
            "cat /etc/hosts; ip route; ip -o -4 addr show eth0; \
             for i in $(seq 300); do nc -w 2 {ip_a} 80 </dev/null && exit 0; sleep 0.1; done; exit 1"
        );
        net.configure(&b, &["sh", "-c", &probe]);
        let out = ok(&net.bed.run("cli"));
        assert!(out.contains(&format!("{ip_b}\tcli")), "/etc/hosts: {out}");
        assert!(out.contains("default via 10.77.0.1 dev eth0"), "{out}");
        assert!(out.contains(&format!("inet {ip_b}/16")), "{out}");
        assert!(out.trim_end().ends_with("hello-from-srv"), "{out}");

        ok(&net.bed.brig(&["delete", "--force", "srv"]));
        net.detach("srv");
        net.detach("cli");
        net.assert_clean("srv", Some(ip_a));
        net.assert_clean("cli", Some(ip_b));
        // Detach twice is fine.
        net.detach("srv");
    });
}

#[test]
fn published_ports_answer_on_localhost_and_the_bridge_address() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let mut net = Net::new();
        // Two containers publish the same container port on two host ports.
        let a = net.attach("web1", &["-p", "8080:80"]);
        let b = net.attach("web2", &["-p", "8081:80/tcp"]);
        assert_eq!(
            a["ports"],
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}])
        );
        net.configure(&a, &strs(&server("one")));
        ok(&net.bed.create("web1"));
        ok(&net.bed.brig(&["start", "web1"]));
        net.configure(&b, &strs(&server("two")));
        ok(&net.bed.create("web2"));
        ok(&net.bed.brig(&["start", "web2"]));

        assert_eq!(fetch("127.0.0.1:8080"), "one\n");
        assert_eq!(fetch("127.0.0.1:8081"), "two\n");
        assert_eq!(fetch("10.77.0.1:8080"), "one\n");
        assert_eq!(fetch("10.77.0.1:8081"), "two\n");
        // portmap turned on route_localnet for the bridge (127.0.0.1 works through SNAT).
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/conf/brig0/route_localnet").unwrap(),
            "1\n"
        );
        // Published on 127.0.0.1 only: it answers there, and the bridge
        // address refuses (nothing on the host listens on 8082).
        let c = net.attach("web3", &["-p", "127.0.0.1:8082:80"]);
        net.configure(&c, &strs(&server("three")));
        ok(&net.bed.create("web3"));
        ok(&net.bed.brig(&["start", "web3"]));
        assert_eq!(fetch("127.0.0.1:8082"), "three\n");
        let e = TcpStream::connect("10.77.0.1:8082").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        ok(&net.bed.brig(&["delete", "--force", "web3"]));
        net.detach("web3");
        net.assert_clean("web3", c["ip"].as_str());

        // A udp port gets its own DNAT (busybox has no udp server to answer it).
        let u = net.attach("udp1", &["-p", "8080:53/udp"]);
        let nat = sh("iptables-save -t nat");
        let want = format!(
            "-p udp -m udp --dport 8080 -j DNAT --to-destination {}:53",
            u["ip"].as_str().unwrap()
        );
        assert!(nat.contains(&want), "{want} not in:\n{nat}");
        net.detach("udp1");
        net.assert_clean("udp1", u["ip"].as_str());
        let ps = ok(&net.brig(&["ps"]));
        assert!(
            ps.contains("8080:80/tcp") && ps.contains("8081:80/tcp"),
            "{ps}"
        );

        let ips = [a["ip"].as_str().unwrap(), b["ip"].as_str().unwrap()];
        for id in ["web1", "web2"] {
            ok(&net.bed.brig(&["delete", "--force", id]));
            net.detach(id);
        }
        net.assert_clean("web1", Some(ips[0]));
        net.assert_clean("web2", Some(ips[1]));
        // The port is free again, and nothing answers on it.
        assert!(TcpStream::connect("127.0.0.1:8080").is_err());
    });
}

#[test]
fn a_taken_host_port_is_a_clear_error_and_leaves_nothing() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let net = Net::new();
        let _held = TcpListener::bind("0.0.0.0:8090").unwrap();
        let err = net.attach_fails(
            "c1",
            &["-p", "8090:80"],
            "host port 8090/tcp: a host process holds it",
        );
        assert!(err.contains("in use"), "{err}");
        net.assert_clean("c1", None);
        // A port another container publishes is taken too, though nothing binds it.
        net.attach("c2", &["-p", "8091:80"]);
        net.attach_fails(
            "c3",
            &["-p", "8091:81"],
            "host port 8091/tcp: already published by container c2",
        );
        net.attach_fails("c3", &["-p", "8092:80", "-p", "8092:81"], "published twice");
        net.assert_clean("c3", None);
        // The same number over udp is another port.
        net.attach("c4", &["-p", "8091:80/udp"]);
        // Bad -p values are refused by name.
        net.attach_fails("c5", &["-p", "80"], "-p \"80\": give HOSTPORT:CTRPORT");
        net.attach_fails("c5", &["-p", "8093:80/sctp"], "protocol \"sctp\"");
        net.attach_fails(
            "c5",
            &["--network", "none", "-p", "8093:80"],
            "--network none cannot publish ports",
        );
        net.assert_clean("c5", None);
        net.detach("c2");
        net.detach("c4");
        net.assert_clean("c2", None);
    });
}

#[test]
fn network_none_has_only_lo_and_host_shares_the_hosts() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let mut net = Net::new();
        let att = net.attach("none1", &["--network", "none"]);
        assert_eq!(att["network"], "none");
        assert_eq!(att["ip"], Value::Null);
        net.configure(
            &att,
            &["sh", "-c", "ip -o link | cut -d: -f2,3; cat /etc/hosts"],
        );
        let out = ok(&net.bed.run("none1"));
        let links: Vec<&str> = out.lines().filter(|l| l.contains('<')).collect();
        assert_eq!(links.len(), 1, "{out}");
        assert!(links[0].starts_with(" lo: <LOOPBACK,UP"), "{out}");
        assert!(out.contains("127.0.0.1\tlocalhost none1"), "{out}");
        // Nothing was made on a bridge for it.
        assert!(!sh("ip -o link").contains("brig0"));
        net.detach("none1");
        net.assert_clean("none1", None);

        // Host networking: no namespace of its own, the host's files.
        let host = net.attach("host1", &["--network", "host"]);
        assert_eq!(host["netns"], Value::Null);
        assert_eq!(
            std::fs::read(host["hosts"].as_str().unwrap()).unwrap(),
            std::fs::read("/etc/hosts").unwrap()
        );
        net.detach("host1");
        net.assert_clean("host1", None);
    });
}

#[test]
fn missing_and_failing_plugins_are_clear_errors_and_undone() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let mut net = Net::new();
        // A plugin dir without portmap: refused before anything is made.
        let dir = net.bed.tmp.path().join("cni");
        std::fs::create_dir(&dir).unwrap();
        for p in ["bridge", "host-local", "firewall"] {
            std::os::unix::fs::symlink(Path::new(CNI).join(p), dir.join(p)).unwrap();
        }
        net.cni_path = dir.to_str().unwrap().to_string();
        let err = net.attach_fails(
            "c1",
            &[],
            "CNI plugin \"portmap\" (network \"brig0\") not found in",
        );
        assert!(err.contains("containernetworking-plugins"), "{err}");
        net.assert_clean("c1", None);

        // A portmap that fails its ADD after bridge made the veth and took a
        // lease: the error is the plugin's, and DEL undoes the bridge's work.
        std::fs::write(
            dir.join("portmap"),
            "#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = DEL ] && exit 0\n\
             echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"injected failure\",\"details\":\"by the test\"}'\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(
            dir.join("portmap"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let err = net.attach_fails("c2", &["-p", "8080:80"], "network \"brig0\": CNI plugin portmap ADD for container \"c2\" failed (CNI error code 7): injected failure (by the test)");
        assert!(!err.contains("undoing"), "{err}");
        net.assert_clean("c2", Some("10.77.0.2"));
        assert!(net.ipam_files().iter().all(|(n, _)| !n.starts_with("10.")));
    });
}

#[test]
fn subnet_overlap_and_an_exhausted_range_are_clear_errors() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let net = Net::new();
        assert_eq!(
            ok(&net.brig(&["create", "n1", "--subnet", "10.90.0.0/16"])),
            "n1\n"
        );
        fails_with(
            &net.brig(&["create", "n2", "--subnet", "10.90.4.0/24"]),
            "subnet 10.90.4.0/24 overlaps network n1 (10.90.0.0/16)",
        );
        fails_with(
            &net.brig(&["create", "n1"]),
            "network \"n1\" already exists",
        );
        fails_with(
            &net.brig(&["create", "n3", "--subnet", "10.90.0.1/16"]),
            "did you mean 10.90.0.0/16",
        );
        fails_with(&net.brig(&["create", "host"]), "none and host are reserved");
        assert!(!net.root.join("n2.conflist").exists());
        // A subnet the (test) host routes elsewhere is refused too.
        let out = sh("ip link add d0 type veth peer name d1 && ip addr add 10.95.0.1/16 dev d0 && ip link set d1 up && ip link set d0 up && echo ok");
        assert_eq!(out, "ok\n");
        fails_with(
            &net.brig(&["create", "n4", "--subnet", "10.95.8.0/24"]),
            "subnet 10.95.8.0/24 overlaps the host's route to 10.95.0.0/16 on d0",
        );

        // A /30 holds the gateway and one container.
        ok(&net.brig(&["create", "tiny", "--subnet", "10.91.0.0/30"]));
        let a = net.attach("t1", &["--network", "tiny"]);
        assert_eq!(a["ip"], "10.91.0.2");
        assert_eq!(a["bridge"], "brig2");
        net.attach_fails("t2", &["--network", "tiny"], "no IP addresses available");
        net.assert_clean_but_one("t2", "t1");
        net.attach_fails(
            "t3",
            &["--network", "nosuch"],
            "network \"nosuch\" does not exist",
        );

        // A network in use is not removed; once free, it is.
        fails_with(
            &net.brig(&["rm", "tiny"]),
            "network \"tiny\" is in use by container(s) t1",
        );
        net.detach("t1");
        net.assert_clean("t1", Some("10.91.0.2"));
        assert_eq!(ok(&net.brig(&["rm", "tiny", "n1"])), "tiny\nn1\n");
        assert!(!net.root.join("ipam/tiny").exists());
        let ls = ok(&net.brig(&["ls"]));
        assert_eq!(ls.lines().count(), 1, "{ls}");
    });
}

impl Net {
    /// `failed` left nothing, while `kept` is still attached (one veth).
    fn assert_clean_but_one(&self, failed: &str, kept: &str) {
        assert!(!self.netns.join(failed).exists());
        assert!(!self.root.join("attachments").join(failed).exists());
        assert!(self.root.join("attachments").join(kept).exists());
        let veths = sh("ip -o link").matches("veth").count();
        assert_eq!(veths, 1, "{}", sh("ip -o link"));
    }
}

#[test]
fn detach_after_a_crash_cleans_up() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let mut net = Net::new();
        // The container's processes are gone and brig's state too, as after a
        // host crash: the record is all that is left, and detach needs no more.
        let a = net.attach("crash1", &["-p", "8080:80"]);
        net.configure(&a, &strs(&server("x")));
        ok(&net.bed.create("crash1"));
        ok(&net.bed.brig(&["start", "crash1"]));
        assert_eq!(fetch("127.0.0.1:8080"), "x\n");
        let pid = net.bed.state("crash1")["pid"].as_i64().unwrap() as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        ok(&net.bed.brig(&["delete", "--force", "crash1"]));
        net.detach("crash1");
        net.assert_clean("crash1", a["ip"].as_str());

        // brig killed right after the ADD chain: the record still says adding.
        let mut c = Command::new(BRIG);
        c.args(["network", "--network-root"])
            .arg(&net.root)
            .arg("--netns-dir")
            .arg(&net.netns)
            .args(["attach", "crash2", "-p", "8080:80"])
            .env(brig_runtime::failpoint::ENV, "network.after-add")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        net.ids.borrow_mut().push("crash2".into());
        let st = c.status().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&st),
            Some(9),
            "{st:?}"
        );
        let rec: Value = serde_json::from_str(
            &std::fs::read_to_string(net.root.join("attachments/crash2/attachment.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(rec["status"], "adding");
        // The ADD did happen: a veth, a DNAT rule and a lease exist.
        assert!(sh("ip -o link").contains("veth"));
        assert!(sh("iptables-save -t nat").contains("CNI-DN-"));
        let leases = net.ipam_files();
        assert!(
            leases
                .iter()
                .any(|(n, t)| n.starts_with("10.77.") && t.contains("crash2")),
            "{leases:?}"
        );
        // The id cannot be attached again until detached.
        net.attach_fails(
            "crash2",
            &[],
            "container \"crash2\" is already attached (network brig0): detach it first",
        );
        net.detach("crash2");
        net.assert_clean("crash2", Some("10.77.0.2"));
        net.detach("crash2");

        // A reboot: /run is empty (the namespace gone), the record and the
        // lease in /var/lib are not, nor (here) the rules. detach passes no
        // namespace, and the plugins still release the lease and the rules.
        let r = net.attach("crash4", &["-p", "8080:80"]);
        let ns = PathBuf::from(r["netns"].as_str().unwrap());
        lose_netns(&ns);
        assert!(sh("iptables-save -t nat").contains("CNI-DN-"));
        net.detach("crash4");
        net.assert_clean("crash4", r["ip"].as_str());

        // A real reboot also loses the rules (unless the host saves them):
        // detach must not trip over their absence, and frees the lease.
        let r = net.attach("crash5", &["-p", "8080:80"]);
        let ns = PathBuf::from(r["netns"].as_str().unwrap());
        let flushed = sh(
            "set -e; for t in nat filter; do iptables -t $t -F; iptables -t $t -X; done; echo ok",
        );
        assert_eq!(flushed, "ok\n");
        lose_netns(&ns);
        net.detach("crash5");
        net.assert_clean("crash5", r["ip"].as_str());
        // The next attach puts the loopback guard back.
        let again = net.attach("crash6", &[]);
        assert!(sh("iptables-save -t filter").contains("-A INPUT -d 127.0.0.0/8 -i brig0"));
        net.detach("crash6");
        net.assert_clean("crash6", again["ip"].as_str());

        // Both: brig killed right after ADD (the record knows no address),
        // then the namespace lost. The masquerade rule is found by its comment.
        let st = Command::new(BRIG)
            .args(["network", "--network-root"])
            .arg(&net.root)
            .arg("--netns-dir")
            .arg(&net.netns)
            .args(["attach", "crash7"])
            .env(brig_runtime::failpoint::ENV, "network.after-add")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        net.ids.borrow_mut().push("crash7".into());
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(9));
        lose_netns(&net.netns.join("crash7"));
        assert!(sh("iptables-save -t nat").contains("id: \\\"crash7\\\""));
        net.detach("crash7");
        net.assert_clean("crash7", None);
        assert!(!sh("iptables-save -t nat").contains("crash7"));

        // A crash before the record's first write leaves an empty directory:
        // detach clears it, and so does the next attach.
        let stray = net.root.join("attachments/crash3");
        std::fs::create_dir(&stray).unwrap();
        net.detach("crash3");
        assert!(!stray.exists());
        std::fs::create_dir(&stray).unwrap();
        let c = net.attach("crash3", &[]);
        assert_eq!(c["status"], "ready");
        net.detach("crash3");
        net.assert_clean("crash3", c["ip"].as_str());
    });
}

#[test]
fn containers_cannot_reach_services_on_the_hosts_loopback() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let net = Net::new();
        let a = net.attach("evil", &["-p", "8080:80"]);
        let ns = a["netns"].as_str().unwrap().to_string();
        // What a container with CAP_NET_ADMIN in its namespace can do: send
        // 127.0.0.1 out of eth0 to the bridge, where route_localnet=1 (for
        // portmap's SNAT) would let the host accept it.
        let out = Command::new("nsenter")
            .arg(format!("--net={ns}"))
            .args([
                "sh",
                "-ec",
                "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet
                 ip route del local 127.0.0.0/8 dev lo table local
                 ip route del local 127.0.0.1 dev lo table local
                 ip route add 127.0.0.1/32 via 10.77.0.1 dev eth0 onlink",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let rx = std::net::UdpSocket::bind("0.0.0.0:9998").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let sender = std::thread::spawn(move || {
            let f = std::fs::File::open(&ns).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            // In this order: the forbidden datagram would arrive first.
            s.send_to(b"via-localhost", "127.0.0.1:9998").unwrap();
            s.send_to(b"via-bridge", "10.77.0.1:9998").unwrap();
        });
        sender.join().unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "via-bridge",
            "from {from}"
        );
        let rules = sh("iptables-save -t filter");
        assert!(
            rules.contains("-A INPUT -d 127.0.0.0/8 -i brig0"),
            "{rules}"
        );
        // The published port on 127.0.0.1 still works through it (see the
        // port test); the rule goes with the network.
        net.detach("evil");
        ok(&net.brig(&["rm", "brig0"]));
        let rules = sh("iptables-save -t filter");
        assert!(!rules.contains("brig0"), "{rules}");
        assert!(!sh("ip -o link").contains("brig0"));
    });
}

#[test]
fn parallel_attaches_get_their_own_addresses_and_detach_cleanly() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let net = Net::new();
        // Threads made here start in this test's network namespace.
        let run = |args: Vec<String>| {
            let (root, netns) = (net.root.clone(), net.netns.clone());
            std::thread::spawn(move || {
                let out = Command::new(BRIG)
                    .arg("network")
                    .arg("--network-root")
                    .arg(root)
                    .arg("--netns-dir")
                    .arg(netns)
                    .args(args)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                ok(&out)
            })
        };
        for i in 0..6 {
            net.ids.borrow_mut().push(format!("par{i}"));
        }
        let attach: Vec<_> = (0..6)
            .map(|i| {
                run(vec![
                    "attach".into(),
                    format!("par{i}"),
                    "-p".into(),
                    format!("{}:80", 9100 + i),
                ])
            })
            .collect();
        let atts: Vec<Value> = attach
            .into_iter()
            .map(|t| serde_json::from_str(&t.join().unwrap()).unwrap())
            .collect();
        let mut ips: Vec<&str> = atts.iter().map(|a| a["ip"].as_str().unwrap()).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 6, "{atts:?}");
        assert_eq!(sh("ip -o link").matches("veth").count(), 6);
        let detach: Vec<_> = (0..6)
            .map(|i| run(vec!["detach".into(), format!("par{i}")]))
            .collect();
        for t in detach {
            t.join().unwrap();
        }
        for (i, a) in atts.iter().enumerate() {
            net.assert_clean(&format!("par{i}"), a["ip"].as_str());
        }
    });
}

/// A stand-in for the internet, all inside the test's namespace: a "world"
/// namespace behind a veth, the test host's default route pointing into it,
/// and a server on 198.51.100.1 (TEST-NET-2) there that answers with the
/// address it sees the client at. The world has no route back to the
/// containers' subnet: only masqueraded traffic gets an answer.
struct World {
    path: PathBuf,
    server: Option<std::thread::JoinHandle<()>>,
}

impl World {
    fn new(net: &Net) -> World {
        std::fs::create_dir_all(&net.netns).unwrap();
        let path = net.netns.join("world");
        brig_engine::network::netns::create(&path).unwrap();
        // A process of the test host's namespace, for `ip ... netns PID`.
        let mut host = Command::new("sleep").arg("1000").spawn().unwrap();
        let script = format!(
            "set -e
             ip link add w0 type veth peer name up0 netns {pid}
             ip addr add 203.0.113.2/24 dev w0
             ip addr add 198.51.100.1/32 dev lo
             ip link set w0 up",
            pid = host.id()
        );
        let out = Command::new("nsenter")
            .arg(format!("--net={}", path.display()))
            .args(["sh", "-c", &script])
            .output()
            .unwrap();
        let _ = host.kill();
        let _ = host.wait();
        assert!(out.status.success(), "world: {out:?}");
        let out = sh(
            "set -e; ip addr add 203.0.113.1/24 dev up0; ip link set up0 up; \
                      ip route add default via 203.0.113.2; echo ok",
        );
        assert_eq!(out, "ok\n");
        let ns = path.clone();
        let server = std::thread::spawn(move || {
            let f = std::fs::File::open(&ns).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let l = TcpListener::bind("198.51.100.1:80").unwrap();
            l.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                match l.accept() {
                    Ok((mut s, peer)) => {
                        use std::io::Write;
                        let _ = writeln!(s, "seen-from {}", peer.ip());
                        return;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        World {
            path,
            server: Some(server),
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(t) = self.server.take() {
            let _ = t.join();
        }
        let _ = brig_engine::network::netns::remove(&self.path);
    }
}

#[test]
fn a_container_reaches_the_outside_through_nat_even_with_forward_drop() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let mut net = Net::new();
        // docker's FORWARD policy: the firewall plugin must let the container through.
        assert_eq!(sh("iptables -P FORWARD DROP && echo ok"), "ok\n");
        let world = World::new(&net);
        let a = net.attach("out1", &[]);
        net.configure(
            &a,
            &[
                "sh",
                "-c",
                "for i in $(seq 30); do nc -w 2 198.51.100.1 80 </dev/null && exit 0; sleep 0.2; done; exit 1",
            ],
        );
        let out = ok(&net.bed.run("out1"));
        // The world saw the test host's uplink address: the bridge plugin's
        // masquerade, forwarding on, the default route, FORWARD accepted.
        assert_eq!(out.trim(), "seen-from 203.0.113.1", "{out}");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
            "1\n"
        );
        drop(world);
        net.detach("out1");
        net.assert_clean("out1", a["ip"].as_str());
    });
}

/// The front end as a docker user types it: `brig container run -d -p` on
/// the default bridge network (brig0, made on first use), reached from the
/// (test) host through 127.0.0.1 and by a second container through its IP;
/// `container inspect` shows the IP, MAC, network and ports; `container rm`
/// leaves nothing of either.
#[test]
fn container_run_with_a_published_port_and_rm_leaves_nothing() {
    if common::skip_without_root() {
        return;
    }
    in_test_netns(|| {
        let net = Net::new();
        let bed = img::ImgBed::new();
        bed.busybox_image("web", vec![], json!({}));
        let paths = [
            "--network-root",
            net.root.to_str().unwrap(),
            "--netns-dir",
            net.netns.to_str().unwrap(),
        ];
        let run = |args: &[&str]| {
            let mut a = vec!["container", "run"];
            a.extend_from_slice(&paths);
            a.extend_from_slice(args);
            bed.ok(&a)
        };
        let mut a = vec![
            "-d",
            "--name",
            "web",
            "--network",
            "bridge",
            "-p",
            "8080:80",
        ];
        a.extend_from_slice(&["--image", "web", "--"]);
        // The test image links only a few applets: call busybox by name.
        let srv = server("hello-from-web");
        a.push("busybox");
        a.extend(strs(&srv));
        let id = run(&a).trim().to_string();
        assert!(fetch("127.0.0.1:8080").contains("hello-from-web"));

        let mut i = vec!["container", "inspect"];
        i.extend_from_slice(&paths);
        i.push("web");
        let info: Value = serde_json::from_str(&bed.ok(&i)).unwrap();
        let n = &info[0]["network_settings"];
        assert_eq!(info[0]["status"], "running");
        assert_eq!(n["network"], "brig0");
        let ip = n["ip"].as_str().expect("an IP").to_string();
        assert!(ip.starts_with("10.77."), "{n}");
        assert!(n["mac"].as_str().is_some_and(|m| m.len() == 17), "{n}");
        assert_eq!(n["ports"][0]["hostPort"], 8080, "{n}");

        // A second container on the same network, by IP; --rm leaves nothing of it.
        let got = run(&[
            "--rm",
            "--network",
            "bridge",
            "--image",
            "web",
            "--",
            "busybox",
            "nc",
            &ip,
            "80",
        ]);
        assert!(got.contains("hello-from-web"), "{got}");

        let mut rm = vec!["container", "rm", "--force"];
        rm.extend_from_slice(&paths);
        rm.push("web");
        bed.ok(&rm);
        net.assert_clean(&id, Some(&ip));
        bed.assert_no_containers();
        // Host ports are free again.
        TcpListener::bind("127.0.0.1:8080").expect("port 8080 free after rm");
    });
}
