//! Container networking through CNI plugins, as a docker-like engine does it:
//! brig (the runtime) never builds bridges itself. A network is a CNI conflist
//! (bridge + host-local IPAM + portmap + firewall, see [`store::conflist`]);
//! attaching a container makes a persistent network namespace, runs the
//! conflist's ADD chain with it, and records what was done, so that
//! [`Networks::detach`] can run DEL later, also after a crash.
//!
//! The front end's part (`brig container run --network/-p`):
//! 1. `let nets = Networks::system();` (or `brig`'s `network::Paths` flattened
//!    into its arguments, for `--network-root`, `--netns-dir`, `--cni-path`);
//! 2. `let att = nets.attach(id, &AttachRequest { mode, ports, hostname, ephemeral })?;`
//!    with `NetworkMode::parse(--network)` and `PortMapping::parse(-p)`;
//! 3. `att.apply_to_config(&mut config_json)`: the net namespace entry gets
//!    `"path": att.netns` (host mode: no entry), and `att.hosts` and
//!    `att.resolv_conf` are bind-mounted on /etc/hosts and /etc/resolv.conf;
//! 4. create/start the container; if that fails, and when the container is
//!    deleted: `nets.detach(id)` (safe to call twice, and after a crash);
//! 5. inspect: `nets.attachment(id)?` gives the IP, MAC, gateway, network, ports.

pub mod addr;
pub mod cni;
mod error;
pub mod guard;
pub mod netns;
pub mod store;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use addr::{PortMapping, Protocol, Subnet};
pub use error::{NetworkError, PluginFailure, Result};
pub use store::{Network, Networks, DEFAULT_NETWORK};

/// The interface name of the container's end of the veth pair.
pub const IFNAME: &str = "eth0";
const RECORD: &str = "attachment.json";

/// `--network`: a named bridge network, no network (only lo), or the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    None,
    Host,
    Named(String),
}

impl NetworkMode {
    /// `none`, `host`, or a network name (`bridge` means the default network, as in docker).
    pub fn parse(s: &str) -> Result<NetworkMode> {
        match s {
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            "bridge" | "default" => Ok(NetworkMode::Named(DEFAULT_NETWORK.to_string())),
            name => {
                store::validate_name(name)?;
                Ok(NetworkMode::Named(name.to_string()))
            }
        }
    }

    pub fn network(&self) -> Option<&str> {
        match self {
            NetworkMode::Named(n) => Some(n),
            _ => None,
        }
    }
}

impl Default for NetworkMode {
    fn default() -> Self {
        NetworkMode::Named(DEFAULT_NETWORK.to_string())
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Named(n) => f.write_str(n),
        }
    }
}

impl Serialize for NetworkMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NetworkMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NetworkMode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What a container asks for.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    pub mode: NetworkMode,
    pub ports: Vec<PortMapping>,
    /// The container's hostname, for its /etc/hosts.
    pub hostname: String,
    /// The attachment never outlives the process that makes it, except by a
    /// crash (`container run --rm`): its hosts and resolv.conf, which nothing
    /// reads after a crash (`container rm` removes them unread), are written
    /// without fsync. Its records are synced all the same, so that detach
    /// after a host crash finds a whole one.
    pub ephemeral: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachStatus {
    /// The record was written before the namespace and the CNI ADD: a crash
    /// left this; detach undoes whatever part was done.
    Adding,
    Ready,
}

/// A container's network, as recorded in `<root>/attachments/<id>/attachment.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub container_id: String,
    /// `none`, `host` or the network's name.
    #[serde(rename = "network")]
    pub mode: NetworkMode,
    pub status: AttachStatus,
    /// The network namespace for config.json's net `path`; `None` with host networking.
    pub netns: Option<PathBuf>,
    /// The container's interface (eth0) on a bridge network.
    pub interface: Option<String>,
    pub ip: Option<Ipv4Addr>,
    pub prefix_len: Option<u8>,
    pub gateway: Option<Ipv4Addr>,
    pub mac: Option<String>,
    pub bridge: Option<String>,
    pub ports: Vec<PortMapping>,
    /// To bind-mount on /etc/hosts.
    pub hosts: PathBuf,
    /// To bind-mount on /etc/resolv.conf.
    pub resolv_conf: PathBuf,
    /// The conflist the ADD ran with: DEL runs with the same, even if the
    /// network's file changed or went away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflist: Option<Value>,
    /// The ADD chain's result, the `prevResult` of DEL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_result: Option<Value>,
}

impl Attachment {
    pub fn network(&self) -> Option<&str> {
        self.mode.network()
    }

    /// The attachment as users see it (`brig network attach/ps`, `brig
    /// container inspect`): without the conflist and the raw CNI result.
    pub fn to_public_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("conflist");
            o.remove("cniResult");
        }
        v
    }

    /// Point a config.json (as JSON) at this attachment, as the front end
    /// must: the network namespace entry joins `netns` by path (host mode:
    /// no entry, the host's namespace), and `hosts` and `resolv.conf` are
    /// bind-mounted on /etc/hosts and /etc/resolv.conf, replacing mounts
    /// there. The rest of the config is left alone.
    pub fn apply_to_config(&self, config: &mut Value) {
        use serde_json::json;
        if !config["linux"].is_object() {
            config["linux"] = json!({});
        }
        let linux = config["linux"].as_object_mut().unwrap();
        let nss = linux.entry("namespaces").or_insert_with(|| json!([]));
        if !nss.is_array() {
            *nss = json!([]);
        }
        let nss = nss.as_array_mut().unwrap();
        nss.retain(|n| n["type"] != "network");
        if let Some(p) = &self.netns {
            nss.push(json!({"type": "network", "path": p}));
        }
        if !config["mounts"].is_array() {
            config["mounts"] = json!([]);
        }
        let mounts = config["mounts"].as_array_mut().unwrap();
        mounts
            .retain(|m| m["destination"] != "/etc/hosts" && m["destination"] != "/etc/resolv.conf");
        for (dst, src) in [
            ("/etc/hosts", &self.hosts),
            ("/etc/resolv.conf", &self.resolv_conf),
        ] {
            mounts.push(json!({
                "destination": dst,
                "type": "bind",
                "source": src,
                "options": ["bind", "nosuid", "nodev", "noexec"],
            }));
        }
    }
}

impl Networks {
    fn record_dir(&self, id: &str) -> PathBuf {
        self.attachments_dir().join(id)
    }

    /// The attachment of a container, if it has one.
    pub fn attachment(&self, id: &str) -> Result<Option<Attachment>> {
        validate_id(id)?;
        let path = self.record_dir(id).join(RECORD);
        match std::fs::read(&path) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(a) => Ok(Some(a)),
                // Only an unsynced record can be torn (a synced one is renamed
                // into place whole), and only an ephemeral `none` one is
                // unsynced: what it held is the namespace pin and its files.
                Err(_) if b.iter().all(|c| *c == 0 || c.is_ascii_whitespace()) => {
                    Ok(Some(self.torn(id)))
                }
                Err(e) => Err(NetworkError::Corrupt {
                    path,
                    msg: e.to_string(),
                }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NetworkError::io(&path, e)),
        }
    }

    /// What a torn record (empty after a power loss) stands for: an
    /// ephemeral `--network none` attachment, its namespace pin and files.
    fn torn(&self, id: &str) -> Attachment {
        self.adding(id, NetworkMode::None, Some(self.netns_dir.join(id)))
    }

    /// The record of an attachment being made: nothing on a network yet.
    fn adding(&self, id: &str, mode: NetworkMode, netns: Option<PathBuf>) -> Attachment {
        let dir = self.record_dir(id);
        Attachment {
            container_id: id.to_string(),
            mode,
            status: AttachStatus::Adding,
            netns,
            interface: None,
            ip: None,
            prefix_len: None,
            gateway: None,
            mac: None,
            bridge: None,
            ports: Vec::new(),
            hosts: dir.join("hosts"),
            resolv_conf: dir.join("resolv.conf"),
            conflist: None,
            cni_result: None,
        }
    }

    /// Every attachment.
    pub fn attachments(&self) -> Result<Vec<Attachment>> {
        let dir = self.attachments_dir();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(NetworkError::io(&dir, e)),
        };
        let mut v = Vec::new();
        for e in rd {
            let e = e.map_err(|e| NetworkError::io(&dir, e))?;
            let id = e.file_name().to_string_lossy().into_owned();
            if id.starts_with('.') {
                continue;
            }
            if let Some(a) = self.attachment(&id)? {
                v.push(a);
            }
        }
        v.sort_by(|a, b| a.container_id.cmp(&b.container_id));
        Ok(v)
    }

    /// Give container `id` its network: a new network namespace (not for host
    /// mode) joined to the network by CNI ADD, with the ports published, and
    /// its hosts and resolv.conf files. Either all of it is done, or nothing.
    pub fn attach(&self, id: &str, req: &AttachRequest) -> Result<Attachment> {
        validate_id(id)?;
        let h = &req.hostname;
        if h.len() > 253
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        {
            return Err(NetworkError::BadHostname(h.clone()));
        }
        let _lock = self.lock()?;
        if let Some(a) = self.attachment(id)? {
            return Err(NetworkError::Attached {
                id: id.to_string(),
                network: a.mode.to_string(),
            });
        }
        if let (NetworkMode::None | NetworkMode::Host, Some(p)) = (&req.mode, req.ports.first()) {
            return Err(NetworkError::PortsWithoutBridge {
                mode: req.mode.to_string(),
                port: p.to_string(),
            });
        }
        let network = match &req.mode {
            NetworkMode::Named(n) => {
                let net = self.get_or_default_locked(n)?;
                for t in net.plugin_types() {
                    cni::find_plugin(&self.cni_path, &net.name, &t)?;
                }
                self.check_ports(&req.ports)?;
                guard::ensure(&net.bridge)?;
                brig_runtime::container::trace::step(
                    "engine",
                    id,
                    format_args!("network: {} found, its loopback guard checked", net.name),
                );
                Some(net)
            }
            _ => None,
        };
        let dir = self.record_dir(id);
        let netns = match req.mode {
            NetworkMode::Host => None,
            _ => Some(self.netns_dir.join(id)),
        };
        let mut att = Attachment {
            bridge: network.as_ref().map(|n| n.bridge.clone()),
            ports: req.ports.clone(),
            conflist: network.as_ref().map(|n| n.conflist.clone()),
            ..self.adding(id, req.mode.clone(), netns.clone())
        };
        // The record comes first: whatever happens after, detach finds it. A
        // directory without a record is what a crash before its first write
        // leaves: nothing else was made yet.
        store::mkdir(&self.attachments_dir())?;
        remove_stray_dir(&dir)?;
        std::fs::create_dir(&dir).map_err(|e| NetworkError::io(&dir, e))?;
        // A `--rm` container without a network holds nothing outside its
        // namespace pin, which a reboot drops: its record needs no fsync, and
        // one torn by a power loss still tears down (see `torn`). Every other
        // record is synced: it names leases, veths and rules to undo.
        let durable = !(req.ephemeral && req.mode == NetworkMode::None);
        let done = self
            .write_record(&att, durable)
            .and_then(|()| self.setup(&mut att, req, durable));
        if let Err(e) = done {
            return Err(match self.teardown(&att) {
                Ok(()) => e,
                Err(undo) => NetworkError::Undo {
                    first: Box::new(e),
                    undo: Box::new(undo),
                },
            });
        }
        Ok(att)
    }

    fn setup(&self, att: &mut Attachment, req: &AttachRequest, durable: bool) -> Result<()> {
        if let Some(ns) = &att.netns {
            store::mkdir(&self.netns_dir)?;
            netns::create(ns).map_err(|source| NetworkError::Netns {
                path: ns.clone(),
                source,
            })?;
        }
        if let (Some(list), Some(ns)) = (&att.conflist, &att.netns) {
            let ns = ns.to_string_lossy();
            let call = self.call(att, &ns);
            let result = cni::add(list, &call)?;
            brig_runtime::failpoint::hit("network.after-add");
            let s = cni::summarize(&result, IFNAME);
            att.interface = Some(IFNAME.to_string());
            att.mac = s.mac;
            att.ip = s.ip.map(|(a, _)| a);
            att.prefix_len = s.ip.map(|(_, p)| p);
            att.gateway = s.gateway;
            att.cni_result = Some(result);
        }
        let hostname = if req.hostname.is_empty() {
            &att.container_id
        } else {
            &req.hostname
        };
        let hosts = match (&att.mode, att.ip) {
            (NetworkMode::Host, _) => read_or_empty(Path::new("/etc/hosts")),
            (_, Some(ip)) => format!(
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{hostname}\n"
            ),
            (_, None) => format!(
                "127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            ),
        };
        let files_durable = !req.ephemeral;
        store::write_atomic_with(&att.hosts, hosts.as_bytes(), files_durable)?;
        let resolv = match att.mode {
            NetworkMode::Host => read_or_empty(Path::new("/etc/resolv.conf")),
            _ => container_resolv_conf(),
        };
        store::write_atomic_with(&att.resolv_conf, resolv.as_bytes(), files_durable)?;
        att.status = AttachStatus::Ready;
        self.write_record(att, durable)
    }

    fn call<'a>(&'a self, att: &'a Attachment, netns: &'a str) -> cni::Call<'a> {
        cni::Call {
            network: att.network().unwrap_or_default(),
            container_id: &att.container_id,
            netns,
            ifname: IFNAME,
            cni_path: &self.cni_path,
            ports: &att.ports,
        }
    }

    fn write_record(&self, att: &Attachment, durable: bool) -> Result<()> {
        let path = self.record_dir(&att.container_id).join(RECORD);
        store::write_atomic_with(&path, &serde_json::to_vec_pretty(att).unwrap(), durable)
    }

    /// Undo an attachment from its record: CNI DEL (when there was a network),
    /// the namespace, the record. A DEL that fails keeps the record, so that
    /// detach can be retried.
    fn teardown(&self, att: &Attachment) -> Result<()> {
        if let Some(list) = &att.conflist {
            // A namespace that is gone (a reboot) is passed as none: the
            // plugins then release what lives outside it (leases, rules).
            let ns = att
                .netns
                .as_deref()
                .filter(|p| netns::is_netns(p))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            cni::del(list, &self.call(att, &ns), att.cni_result.as_ref())?;
            if let (true, Some(net)) = (ns.is_empty(), att.network()) {
                guard::remove_masquerade_leftover(net, &att.container_id)?;
            }
        }
        brig_runtime::container::trace::step(
            "engine",
            &att.container_id,
            format_args!("network: torn down"),
        );
        if let Some(ns) = &att.netns {
            netns::remove(ns).map_err(|source| NetworkError::Netns {
                path: ns.clone(),
                source,
            })?;
        }
        let dir = self.record_dir(&att.container_id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(NetworkError::io(&dir, e)),
            _ => Ok(()),
        }
    }

    /// Take container `id` off its network: CNI DEL from the record, then the
    /// namespace and the record go. `Ok(false)` when it had no attachment, so
    /// calling it twice (or after a crash at any point) is fine.
    pub fn detach(&self, id: &str) -> Result<bool> {
        validate_id(id)?;
        let _lock = self.lock()?;
        match self.attachment(id)? {
            Some(att) => self.teardown(&att).map(|()| true),
            None => remove_stray_dir(&self.record_dir(id)).map(|()| false),
        }
    }

    /// A host port must be free: not published for another container (portmap
    /// would silently shadow it) and not bound by a host process (the DNAT
    /// would steal its traffic).
    fn check_ports(&self, ports: &[PortMapping]) -> Result<()> {
        let key = |p: &PortMapping| format!("{}/{}", p.host_port, p.protocol);
        for (i, p) in ports.iter().enumerate() {
            if let Some(q) = ports[..i].iter().find(|q| q.clashes(p)) {
                return Err(NetworkError::PortTaken {
                    port: key(p),
                    why: format!("published twice (-p {q} and -p {p})"),
                });
            }
        }
        let others = self.attachments()?;
        for p in ports {
            if let Some(o) = others.iter().find(|o| o.ports.iter().any(|q| q.clashes(p))) {
                return Err(NetworkError::PortTaken {
                    port: key(p),
                    why: format!("already published by container {}", o.container_id),
                });
            }
            let ip = p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let bound = match p.protocol {
                Protocol::Tcp => std::net::TcpListener::bind((ip, p.host_port)).map(drop),
                Protocol::Udp => std::net::UdpSocket::bind((ip, p.host_port)).map(drop),
            };
            if let Err(e) = bound {
                return Err(NetworkError::PortTaken {
                    port: key(p),
                    why: format!("a host process holds it ({e})"),
                });
            }
        }
        Ok(())
    }
}

fn validate_id(id: &str) -> Result<()> {
    brig_runtime::container::validate_id(id)
        .map_err(|_| NetworkError::BadContainerId(id.to_string()))
}

fn remove_stray_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(NetworkError::io(dir, e)),
        _ => Ok(()),
    }
}

fn read_or_empty(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The container's resolv.conf: the host's, without loopback nameservers
/// (a stub resolver on the host's 127.0.0.53 is not reachable from the
/// container's namespace). If none is left, systemd-resolved's upstream list,
/// then docker's fallback (8.8.8.8, 8.8.4.4).
fn container_resolv_conf() -> String {
    let host = read_or_empty(Path::new("/etc/resolv.conf"));
    let mut out = filter_resolv_conf(&host);
    if !out.contains("nameserver") {
        out = filter_resolv_conf(&read_or_empty(Path::new(
            "/run/systemd/resolve/resolv.conf",
        )));
    }
    if !out.contains("nameserver") {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

fn filter_resolv_conf(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let keep = match w.next() {
            Some("nameserver") => w
                .next()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                .is_some_and(|a| !a.is_loopback()),
            Some("search" | "domain" | "options") => true,
            _ => false,
        };
        if keep {
            out.push_str(line.trim());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_nameservers() {
        let t = "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\nsearch example.test\noptions edns0\n";
        assert_eq!(
            filter_resolv_conf(t),
            "nameserver 192.0.2.1\nsearch example.test\noptions edns0\n"
        );
    }

    #[test]
    fn apply_to_config_joins_the_netns_and_mounts_the_files() {
        let att = Attachment {
            container_id: "c".into(),
            mode: NetworkMode::default(),
            status: AttachStatus::Ready,
            netns: Some("/run/brig-netns/c".into()),
            interface: None,
            ip: None,
            prefix_len: None,
            gateway: None,
            mac: None,
            bridge: None,
            ports: vec![],
            hosts: "/n/c/hosts".into(),
            resolv_conf: "/n/c/resolv.conf".into(),
            conflist: None,
            cni_result: None,
        };
        let mut cfg = serde_json::json!({
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]},
            "mounts": [{"destination": "/proc", "type": "proc"}, {"destination": "/etc/hosts", "type": "bind", "source": "/x"}],
        });
        att.apply_to_config(&mut cfg);
        assert_eq!(
            cfg["linux"]["namespaces"],
            serde_json::json!([{"type": "pid"}, {"type": "network", "path": "/run/brig-netns/c"}])
        );
        let m = cfg["mounts"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1]["destination"], "/etc/hosts");
        assert_eq!(m[1]["source"], "/n/c/hosts");
        assert_eq!(m[2]["source"], "/n/c/resolv.conf");
        // Host networking: no network namespace entry at all.
        let host = Attachment {
            netns: None,
            mode: NetworkMode::Host,
            ..att
        };
        host.apply_to_config(&mut cfg);
        assert_eq!(
            cfg["linux"]["namespaces"],
            serde_json::json!([{"type": "pid"}])
        );
        assert_eq!(cfg["mounts"].as_array().unwrap().len(), 3);
        let mut empty = serde_json::json!({});
        host.apply_to_config(&mut empty);
        assert_eq!(empty["mounts"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn modes_parse() {
        assert_eq!(NetworkMode::parse("none").unwrap(), NetworkMode::None);
        assert_eq!(NetworkMode::parse("host").unwrap(), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("bridge").unwrap(),
            NetworkMode::default()
        );
        assert_eq!(
            NetworkMode::parse("n1").unwrap(),
            NetworkMode::Named("n1".into())
        );
        assert!(matches!(
            NetworkMode::parse("a/b"),
            Err(NetworkError::BadName(_))
        ));
    }

    #[test]
    fn a_record_torn_by_a_power_loss_still_tears_down() {
        let t = tempfile::tempdir().unwrap();
        let n = Networks::new(t.path().join("n"), t.path().join("ns"), vec![]);
        // What an unsynced record can be after a power loss: empty, or zeros.
        for (id, torn) in [("t1", &b""[..]), ("t2", &[0u8; 64][..])] {
            let dir = n.record_dir(id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(RECORD), torn).unwrap();
            let a = n.attachment(id).unwrap().unwrap();
            assert_eq!(a.mode, NetworkMode::None);
            assert!(n.detach(id).unwrap());
            assert!(!dir.exists());
        }
        // Anything else in a record is not a torn write: an error, kept.
        let dir = n.record_dir("bad");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(RECORD), b"{\"container_id\": 1").unwrap();
        assert!(matches!(
            n.attachment("bad"),
            Err(NetworkError::Corrupt { .. })
        ));
    }

    #[test]
    fn ports_need_a_bridge_and_bad_ids_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let n = Networks::new(t.path().join("n"), t.path().join("ns"), vec![]);
        let req = AttachRequest {
            mode: NetworkMode::Host,
            ports: vec![PortMapping::parse("8080:80").unwrap()],
            hostname: "h".into(),
            ephemeral: false,
        };
        let e = n.attach("c1", &req).unwrap_err().to_string();
        assert_eq!(
            e,
            "--network host cannot publish ports (-p 8080:80/tcp): only a bridge network can"
        );
        assert!(matches!(
            n.attach("../x", &req),
            Err(NetworkError::BadContainerId(_))
        ));
        let bad = AttachRequest {
            mode: NetworkMode::None,
            ports: vec![],
            hostname: "a\n1.2.3.4 evil".into(),
            ephemeral: false,
        };
        let e = n.attach("c1", &bad).unwrap_err().to_string();
        assert!(
            e.starts_with("hostname \"a\\n1.2.3.4 evil\": must be"),
            "{e}"
        );
        assert!(!n.attachments_dir().join("c1").exists());
        assert!(!n.detach("c1").unwrap());
    }
}
