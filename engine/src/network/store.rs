//! The network store: one CNI conflist per network, `<root>/<name>.conflist`,
//! next to the host-local IPAM leases (`<root>/ipam/<name>/`) and the
//! attachment records (`<root>/attachments/<container>/`). Every change takes
//! an flock on `<root>/lock`.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde_json::{json, Value};

use super::addr::Subnet;
use super::error::{NetworkError, Result};

/// The default network: created on first use.
pub const DEFAULT_NETWORK: &str = "brig0";
/// The default network's subnet: the first of these that is free (no other
/// brig network, no route on the host overlaps it) when it is made. None is
/// another engine's default or a range engines and clusters commonly take
/// (see [`RESERVED`]); 10.77.0.0/16 on a host without it.
pub const DEFAULT_SUBNETS: &[&str] = &[
    "10.77.0.0/16",
    "10.76.0.0/16",
    "10.75.0.0/16",
    "10.74.0.0/16",
];
/// The /16 whose /24s a network made without --subnet takes (the first free).
pub const NEW_NETWORK_POOL: [u8; 2] = [10, 78];
/// Ranges brig never picks by itself (a --subnet given by hand may take them):
/// other engines' defaults and pools, and common Kubernetes ranges. Sharing
/// one with a peer engine breaks whichever bridge routes second.
pub const RESERVED: &[(&str, &str)] = &[
    ("10.88.0.0/16", "podman's default network"),
    ("10.89.0.0/16", "podman's new networks (10.89.N.0/24)"),
    (
        "172.16.0.0/12",
        "docker's default bridge (172.17.0.0/16) and address pools",
    ),
    (
        "192.168.0.0/16",
        "docker's address pools, libvirt's default and home LANs",
    ),
    ("10.244.0.0/16", "the Kubernetes (flannel) pod network"),
    ("10.96.0.0/12", "the Kubernetes service network"),
    ("10.42.0.0/15", "k3s' pod and service networks"),
];
/// The CNI spec version of the conflists brig writes.
pub const CNI_VERSION: &str = "1.0.0";

/// Where networks live and where the plugins are.
#[derive(Debug, Clone)]
pub struct Networks {
    /// Conflists, IPAM leases and attachment records.
    pub root: PathBuf,
    /// The containers' network namespace files (bind mounts of nsfs). Not
    /// under brig's state root (/run/brig), where every directory is taken
    /// for a container id.
    pub netns_dir: PathBuf,
    /// Where CNI plugin binaries are looked up (CNI_PATH).
    pub cni_path: Vec<PathBuf>,
}

/// One network: what its conflist says.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub bridge: String,
    /// The conflist itself, as CNI plugins get it.
    pub conflist: Value,
}

impl Network {
    /// The plugin types the conflist runs, IPAM plugins included.
    pub fn plugin_types(&self) -> Vec<String> {
        let mut v = Vec::new();
        for p in self.conflist["plugins"].as_array().into_iter().flatten() {
            if let Some(t) = p["type"].as_str() {
                v.push(t.to_string());
            }
            if let Some(t) = p["ipam"]["type"].as_str() {
                v.push(t.to_string());
            }
        }
        v
    }
}

pub(crate) struct RootLock(#[allow(dead_code)] Flock<OwnedFd>);

impl Networks {
    pub const DEFAULT_ROOT: &'static str = "/var/lib/brig/networks";
    pub const DEFAULT_NETNS_DIR: &'static str = "/run/brig-netns";
    pub const DEFAULT_CNI_PATH: &'static str = "/usr/lib/cni";

    pub fn new(
        root: impl Into<PathBuf>,
        netns_dir: impl Into<PathBuf>,
        cni_path: Vec<PathBuf>,
    ) -> Self {
        Networks {
            root: root.into(),
            netns_dir: netns_dir.into(),
            cni_path,
        }
    }

    /// The system's defaults: /var/lib/brig/networks, /run/brig-netns, /usr/lib/cni.
    pub fn system() -> Self {
        Networks::new(
            Self::DEFAULT_ROOT,
            Self::DEFAULT_NETNS_DIR,
            vec![PathBuf::from(Self::DEFAULT_CNI_PATH)],
        )
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.root.join("ipam")
    }

    pub fn attachments_dir(&self) -> PathBuf {
        self.root.join("attachments")
    }

    fn conflist_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.conflist"))
    }

    pub(crate) fn lock(&self) -> Result<RootLock> {
        mkdir(&self.root)?;
        let path = self.root.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| NetworkError::io(&path, e))?;
        let fd: OwnedFd = f.into();
        Flock::lock(fd, FlockArg::LockExclusive)
            .map(RootLock)
            .map_err(|(_, e)| NetworkError::io(&path, e.into()))
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut v = Vec::new();
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
            Err(e) => return Err(NetworkError::io(&self.root, e)),
        };
        for e in rd {
            let e = e.map_err(|e| NetworkError::io(&self.root, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_suffix(".conflist") {
                v.push(self.get(n)?);
            }
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// The network `name`.
    pub fn get(&self, name: &str) -> Result<Network> {
        validate_name(name)?;
        let path = self.conflist_path(name);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(NetworkError::NotFound(name.to_string()))
            }
            Err(e) => return Err(NetworkError::io(&path, e)),
        };
        let conflist: Value = serde_json::from_slice(&text).map_err(|e| NetworkError::Corrupt {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        parse_network(name, conflist).map_err(|msg| NetworkError::Corrupt { path, msg })
    }

    /// The network `name`; the default network is created when missing.
    pub fn get_or_default(&self, name: &str) -> Result<Network> {
        validate_name(name)?;
        let _l = self.lock()?;
        self.get_or_default_locked(name)
    }

    pub(crate) fn get_or_default_locked(&self, name: &str) -> Result<Network> {
        match self.get(name) {
            Err(NetworkError::NotFound(_)) if name == DEFAULT_NETWORK => {
                self.create_locked(name, None)
            }
            r => r,
        }
    }

    /// Make a network. Without a subnet, the first free /24 of
    /// [`NEW_NETWORK_POOL`] (the default network: of [`DEFAULT_SUBNETS`]).
    pub fn create(&self, name: &str, subnet: Option<Subnet>) -> Result<Network> {
        validate_name(name)?;
        let _l = self.lock()?;
        self.create_locked(name, subnet)
    }

    fn create_locked(&self, name: &str, subnet: Option<Subnet>) -> Result<Network> {
        validate_name(name)?;
        if self.conflist_path(name).exists() {
            return Err(NetworkError::Exists(name.to_string()));
        }
        let others = self.list()?;
        let routes = host_routes();
        let free = |s: &Subnet| -> Result<()> {
            if let Some(o) = others.iter().find(|o| o.subnet.overlaps(s)) {
                return Err(NetworkError::Overlap {
                    subnet: s.to_string(),
                    other: format!("network {} ({})", o.name, o.subnet),
                });
            }
            if let Some((dst, dev)) = routes.iter().find(|(d, _)| d.overlaps(s)) {
                return Err(NetworkError::Overlap {
                    subnet: s.to_string(),
                    other: format!("the host's route to {dst} on {dev}"),
                });
            }
            Ok(())
        };
        // What brig picks by itself stays out of the reserved ranges too.
        let picked = |s: &Subnet| -> Result<()> {
            if let Some((r, why)) = RESERVED
                .iter()
                .find(|(r, _)| r.parse::<Subnet>().unwrap().overlaps(s))
            {
                return Err(NetworkError::Overlap {
                    subnet: s.to_string(),
                    other: format!("{r}, {why}"),
                });
            }
            free(s)
        };
        let subnet = match subnet {
            Some(s) => {
                free(&s)?;
                s
            }
            None if name == DEFAULT_NETWORK => {
                let mut why = Vec::new();
                let mut found = None;
                for s in DEFAULT_SUBNETS {
                    let s: Subnet = s.parse().unwrap();
                    match picked(&s) {
                        Ok(()) => {
                            found = Some(s);
                            break;
                        }
                        Err(NetworkError::Overlap { subnet, other }) => {
                            why.push(format!("{subnet} overlaps {other}"))
                        }
                        Err(e) => return Err(e),
                    }
                }
                found.ok_or_else(|| NetworkError::DefaultOverlap {
                    why: why.join("; "),
                })?
            }
            None => (0..=255u8)
                .map(|n| {
                    let [a, b] = NEW_NETWORK_POOL;
                    Subnet::containing(Ipv4Addr::new(a, b, n, 0), 24)
                })
                .find(|s| picked(s).is_ok())
                .ok_or(NetworkError::NoFreeSubnet)?,
        };
        let bridge = if name == DEFAULT_NETWORK {
            DEFAULT_NETWORK.to_string()
        } else {
            (1..)
                .map(|n| format!("brig{n}"))
                .find(|b| b != DEFAULT_NETWORK && others.iter().all(|o| &o.bridge != b))
                .unwrap()
        };
        let conflist = conflist(name, &subnet, &bridge, &self.ipam_dir());
        let net = parse_network(name, conflist.clone()).expect("brig's own conflist parses");
        let path = self.conflist_path(name);
        write_atomic(&path, &serde_json::to_vec_pretty(&conflist).unwrap())?;
        Ok(net)
    }

    /// Remove a network that no container is attached to, with its IPAM dir.
    pub fn remove(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        let _l = self.lock()?;
        let net = self.get(name)?;
        let users: Vec<String> = self
            .attachments()?
            .into_iter()
            .filter(|a| a.network() == Some(name))
            .map(|a| a.container_id)
            .collect();
        if !users.is_empty() {
            return Err(NetworkError::InUse {
                name: name.to_string(),
                containers: users,
            });
        }
        super::guard::remove(&net.bridge)?;
        delete_bridge(&net.bridge)?;
        let path = self.conflist_path(name);
        std::fs::remove_file(&path).map_err(|e| NetworkError::io(&path, e))?;
        let ipam = self.ipam_dir().join(name);
        match std::fs::remove_dir_all(&ipam) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(NetworkError::io(&ipam, e)),
            _ => Ok(()),
        }
    }
}

/// The bridge plugin makes the bridge on first use and never removes it: the
/// network's removal does.
fn delete_bridge(bridge: &str) -> Result<()> {
    let out = std::process::Command::new("ip")
        .args(["link", "delete", bridge, "type", "bridge"])
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .output()
        .map_err(|e| NetworkError::io(Path::new("ip"), e))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || err.contains("Cannot find device") {
        Ok(())
    } else {
        Err(NetworkError::io(
            Path::new(bridge),
            std::io::Error::other(format!("ip link delete: {}", err.trim())),
        ))
    }
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 64 bytes; not `none` or `host`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && name != "none"
        && name != "host";
    if ok {
        Ok(())
    } else {
        Err(NetworkError::BadName(name.to_string()))
    }
}

/// The conflist of a network: a bridge with host-local IPAM (its gateway, a
/// default route, masquerading out), portmap for `-p` (with SNAT so that
/// 127.0.0.1 works), and firewall so that a FORWARD policy of DROP (docker's)
/// does not cut the containers off.
pub fn conflist(name: &str, subnet: &Subnet, bridge: &str, ipam_dir: &Path) -> Value {
    json!({
        "cniVersion": CNI_VERSION,
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet.to_string(), "gateway": subnet.gateway().to_string()}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_dir.to_string_lossy(),
                },
            },
            {
                "type": "portmap",
                "capabilities": {"portMappings": true},
                "snat": true,
            },
            {
                "type": "firewall",
                "backend": "iptables",
            },
        ],
    })
}

fn parse_network(name: &str, conflist: Value) -> Result<Network, String> {
    if conflist["name"].as_str() != Some(name) {
        return Err(format!("\"name\" is {}, not {name:?}", conflist["name"]));
    }
    let bridge_plugin = conflist["plugins"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["type"] == "bridge"))
        .ok_or("no bridge plugin in \"plugins\"")?;
    let bridge = bridge_plugin["bridge"]
        .as_str()
        .ok_or("the bridge plugin has no \"bridge\"")?
        .to_string();
    let range = &bridge_plugin["ipam"]["ranges"][0][0];
    let subnet: Subnet = range["subnet"]
        .as_str()
        .ok_or("the bridge plugin's ipam has no ranges[0][0].subnet")?
        .parse()?;
    let gateway = match range["gateway"].as_str() {
        Some(g) => g
            .parse()
            .map_err(|_| format!("gateway {g:?} is not an IPv4 address"))?,
        None => subnet.gateway(),
    };
    Ok(Network {
        name: name.to_string(),
        subnet,
        gateway,
        bridge,
        conflist,
    })
}

/// The host's IPv4 routes other than the default one and those of brig's
/// bridges, from /proc/net/route: (destination, device).
fn host_routes() -> Vec<(Subnet, String)> {
    // thread-self: /proc/net is the thread group leader's namespace, not that
    // of a thread that unshared its own (as the tests do).
    let text = std::fs::read_to_string("/proc/thread-self/net/route").unwrap_or_default();
    let mut v = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[0].starts_with("brig") {
            continue;
        }
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        // The fields are in host byte order of little-endian words.
        let dst = Ipv4Addr::from(dst.to_le_bytes());
        let prefix = u32::from_be_bytes(mask.to_le_bytes()).leading_ones() as u8;
        if prefix == 0 {
            continue;
        }
        v.push((Subnet::containing(dst, prefix), f[0].to_string()));
    }
    v
}

pub(crate) fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| NetworkError::io(dir, e))
}

/// Write a file whole or not at all (temp file, fsync, rename), making its
/// directory first.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_with(path, data, true)
}

/// [`write_atomic`], with the fsync only when `sync` (a file nothing reads
/// after a crash needs none).
pub(crate) fn write_atomic_with(path: &Path, data: &[u8], sync: bool) -> Result<()> {
    mkdir(path.parent().unwrap_or(Path::new(".")))?;
    brig_runtime::sys::write_atomic(path, data, sync).map_err(|e| NetworkError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set in the copy of the test binary that [`in_netns`] runs in a
    /// namespace of its own.
    const IN_NETNS: &str = "BRIG_TEST_IN_OWN_NETNS";

    /// Removal deletes a bridge and an iptables rule: the tests that remove
    /// networks run `f` in a network namespace of their own, never the host's.
    /// As root, a thread unshares one. Otherwise the test binary runs this one
    /// test again under `unshare --user --map-root-user --net` (an unprivileged
    /// user may own a user namespace and its network namespace); where that is
    /// refused too, the test is skipped with a message that it needs root.
    fn in_netns(test: &str, f: fn()) {
        if std::env::var_os(IN_NETNS).is_some() {
            return f();
        }
        if nix::unistd::geteuid().is_root() {
            let t = std::thread::spawn(move || {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                f()
            });
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
            return;
        }
        let unshare = ["--user", "--map-root-user", "--net"];
        let usable = std::process::Command::new("unshare")
            .args(unshare)
            .arg("true")
            .output()
            .is_ok_and(|o| o.status.success());
        if !usable {
            eprintln!(
                "skipped: {test} needs root, or user namespaces for an unprivileged user \
                 (`unshare --user --map-root-user --net` failed), for a network namespace of its own"
            );
            return;
        }
        // The test's name in the harness: the module path without the crate.
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let name = format!("{module}::{test}");
        let out = std::process::Command::new("unshare")
            .args(unshare)
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--nocapture", "--test-threads=1"])
            .env(IN_NETNS, "1")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{name} in a user and network namespace of its own: {:?}\n{stdout}\n{stderr}",
            out.status
        );
    }

    fn nets() -> (tempfile::TempDir, Networks) {
        let t = tempfile::tempdir().unwrap();
        let n = Networks::new(t.path().join("nets"), t.path().join("netns"), vec![]);
        (t, n)
    }

    #[test]
    fn create_list_remove() {
        in_netns("create_list_remove", create_list_remove_here)
    }

    fn create_list_remove_here() {
        let (_t, n) = nets();
        assert!(n.list().unwrap().is_empty());
        let d = n.get_or_default(DEFAULT_NETWORK).unwrap();
        assert_eq!(d.subnet.to_string(), DEFAULT_SUBNETS[0]);
        assert_eq!(d.bridge, "brig0");
        let a = n.create("a", None).unwrap();
        assert_eq!(a.subnet.to_string(), "10.78.0.0/24");
        assert_eq!(a.bridge, "brig1");
        let b = n.create("b", None).unwrap();
        assert_eq!(b.subnet.to_string(), "10.78.1.0/24");
        assert_eq!(b.bridge, "brig2");
        let names: Vec<String> = n.list().unwrap().into_iter().map(|x| x.name).collect();
        assert_eq!(names, ["a", "b", "brig0"]);
        assert_eq!(n.get("a").unwrap(), a);
        n.remove("a").unwrap();
        assert!(matches!(n.get("a"), Err(NetworkError::NotFound(_))));
        assert!(matches!(n.remove("a"), Err(NetworkError::NotFound(_))));
        // The freed subnet and bridge name are reused.
        let c = n.create("c", None).unwrap();
        assert_eq!(
            (c.subnet.to_string().as_str(), c.bridge.as_str()),
            ("10.78.0.0/24", "brig1")
        );
        assert_eq!(
            c.conflist["plugins"][0]["ipam"]["dataDir"],
            n.ipam_dir().to_str().unwrap()
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        // In a namespace of its own: the overlap check reads the host's routes.
        in_netns("errors_name_what_is_wrong", errors_name_what_is_wrong_here)
    }

    fn errors_name_what_is_wrong_here() {
        let (_t, n) = nets();
        n.create("a", Some("10.90.0.0/16".parse().unwrap()))
            .unwrap();
        let e = n
            .create("b", Some("10.90.3.0/24".parse().unwrap()))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "subnet 10.90.3.0/24 overlaps network a (10.90.0.0/16); pick another --subnet"
        );
        assert!(matches!(n.create("a", None), Err(NetworkError::Exists(_))));
        for bad in ["", "none", "host", "-x", "a/b", "..", &"x".repeat(65)] {
            assert!(
                matches!(n.create(bad, None), Err(NetworkError::BadName(_))),
                "{bad:?}"
            );
        }
        assert!(!n.root.join("b.conflist").exists());
        // A network in the default's way: the default cannot be made, and the
        // error says how to make it.
        let (_t2, n) = nets();
        n.create("wide", Some("10.72.0.0/13".parse().unwrap()))
            .unwrap();
        let e = n.get_or_default(DEFAULT_NETWORK).unwrap_err().to_string();
        assert!(e.starts_with("no free subnet for the default network brig0 (10.77.0.0/16 overlaps network wide (10.72.0.0/13); 10.76.0.0/16 overlaps"), "{e}");
        assert!(
            e.ends_with("make it with `brig network create brig0 --subnet CIDR` (a free range)"),
            "{e}"
        );
        // A --subnet given by hand may take a reserved range; brig never picks one.
        n.remove("wide").unwrap();
        n.create("podmanlike", Some("10.88.0.0/16".parse().unwrap()))
            .unwrap();
    }

    #[test]
    fn the_default_subnet_avoids_other_engines_and_host_routes() {
        in_netns(
            "the_default_subnet_avoids_other_engines_and_host_routes",
            default_subnet_here,
        )
    }

    fn default_subnet_here() {
        for s in DEFAULT_SUBNETS {
            let s: Subnet = s.parse().unwrap();
            for (r, why) in RESERVED {
                assert!(
                    !r.parse::<Subnet>().unwrap().overlaps(&s),
                    "{s} is in {r} ({why})"
                );
            }
        }
        // A route on the host over the first candidate: the default takes the next.
        let (_t, n) = nets();
        for args in [
            &[
                "link",
                "add",
                "lifetest0",
                "type",
                "veth",
                "peer",
                "name",
                "lifetest1",
            ][..],
            &["addr", "add", "10.77.3.1/24", "dev", "lifetest0"][..],
            &["link", "set", "lifetest0", "up"][..],
            &["link", "set", "lifetest1", "up"][..],
        ] {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        }
        let d = n.get_or_default(DEFAULT_NETWORK).unwrap();
        assert_eq!(d.subnet.to_string(), "10.76.0.0/16");
        let a = n.create("a", None).unwrap();
        assert_eq!(a.subnet.to_string(), "10.78.0.0/24");
    }

    #[test]
    fn a_damaged_conflist_is_named() {
        let (_t, n) = nets();
        mkdir(&n.root).unwrap();
        std::fs::write(n.root.join("x.conflist"), "{").unwrap();
        let e = n.get("x").unwrap_err().to_string();
        assert!(e.contains("x.conflist"), "{e}");
    }
}
