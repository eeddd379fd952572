//! IPv4 subnets and published ports: parsing with errors that name the input.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 subnet in CIDR form, with its host bits clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The subnet of `addr/prefix`; the host bits of `addr` are cleared.
    pub fn containing(addr: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    /// Two subnets overlap when one contains the other's network address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The first host address: the gateway (the bridge's address).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// How many containers fit: every host address but the gateway.
    pub fn capacity(&self) -> u64 {
        (1u64 << (32 - self.prefix as u32)).saturating_sub(3)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = String;

    /// `A.B.C.D/N` with N in 8..=30 (a /30 holds the gateway and one container)
    /// and no host bits set.
    fn from_str(s: &str) -> Result<Subnet, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("subnet {s:?}: must be CIDR, A.B.C.D/N"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| {
            if a.contains(':') {
                format!("subnet {s:?}: IPv6 subnets are not supported, give an IPv4 CIDR")
            } else {
                format!("subnet {s:?}: {a:?} is not an IPv4 address")
            }
        })?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("subnet {s:?}: prefix {p:?} must be a number 0..32"))?;
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "subnet {s:?}: prefix /{prefix} must be /8 to /30 (a /30 holds the gateway and one container)"
            ));
        }
        let net = Subnet::containing(addr, prefix);
        if net.addr != addr {
            return Err(format!(
                "subnet {s:?}: host bits are set; did you mean {net}?"
            ));
        }
        if addr.is_loopback()
            || addr.is_multicast()
            || addr.is_unspecified()
            || u32::from(addr) >= 0xf000_0000
        {
            return Err(format!(
                "subnet {s:?}: not a unicast range a bridge can use"
            ));
        }
        Ok(net)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// One `-p [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The host address the port is published on; `None` is every address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    /// Parse docker's `-p` syntax, less what brig does not do (ranges, a
    /// container port alone with a host port chosen for it).
    pub fn parse(spec: &str) -> Result<PortMapping, String> {
        let bad = |why: &str| format!("-p {spec:?}: {why}");
        let (ports, protocol) = match spec.rsplit_once('/') {
            None => (spec, Protocol::Tcp),
            Some((p, "tcp")) => (p, Protocol::Tcp),
            Some((p, "udp")) => (p, Protocol::Udp),
            Some((_, other)) => {
                return Err(bad(&format!("protocol {other:?}: must be tcp or udp")))
            }
        };
        let parts: Vec<&str> = ports.split(':').collect();
        let (host_ip, host, ctr) = match parts.as_slice() {
            [h, c] => (None, *h, *c),
            [ip, h, c] => {
                let ip: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| bad(&format!("host address {ip:?} is not an IPv4 address")))?;
                (Some(ip), *h, *c)
            }
            [_] => {
                return Err(bad(
                    "give HOSTPORT:CTRPORT; brig does not choose host ports",
                ))
            }
            _ => return Err(bad("must be [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]")),
        };
        let port = |what: &str, s: &str| -> Result<u16, String> {
            if s.contains('-') {
                return Err(bad(&format!("{what} {s:?}: port ranges are not supported")));
            }
            s.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("{what} {s:?} must be a number 1..65535")))
        };
        Ok(PortMapping {
            host_ip: host_ip.filter(|ip| !ip.is_unspecified()),
            host_port: port("host port", host)?,
            container_port: port("container port", ctr)?,
            protocol,
        })
    }

    /// Whether two mappings want the same host port.
    pub fn clashes(&self, other: &PortMapping) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }
}

impl FromStr for PortMapping {
    type Err = String;
    fn from_str(s: &str) -> Result<PortMapping, String> {
        PortMapping::parse(s)
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = self.host_ip {
            write!(f, "{ip}:")?;
        }
        write!(
            f,
            "{}:{}/{}",
            self.host_port, self.container_port, self.protocol
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap() {
        let a: Subnet = "10.88.0.0/16".parse().unwrap();
        assert_eq!(a.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        assert_eq!(a.to_string(), "10.88.0.0/16");
        let b: Subnet = "10.88.5.0/24".parse().unwrap();
        let c: Subnet = "10.89.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
        let d: Subnet = "10.0.0.0/8".parse().unwrap();
        assert!(d.overlaps(&a));
        assert_eq!("192.168.7.4/30".parse::<Subnet>().unwrap().capacity(), 1);
    }

    #[test]
    fn bad_subnets_say_why() {
        for (s, want) in [
            ("10.88.0.0", "must be CIDR"),
            ("10.88.0.1/16", "did you mean 10.88.0.0/16"),
            ("10.88.0.0/31", "/8 to /30"),
            ("10.88.0.0/40", "0..32"),
            ("fd00::/64", "IPv6"),
            ("10.300.0.0/16", "not an IPv4 address"),
            ("127.0.0.0/8", "unicast"),
        ] {
            let e = s.parse::<Subnet>().unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
    }

    #[test]
    fn ports_parse() {
        let p = PortMapping::parse("8080:80").unwrap();
        assert_eq!(
            (p.host_port, p.container_port, p.protocol),
            (8080, 80, Protocol::Tcp)
        );
        assert_eq!(p.host_ip, None);
        let p = PortMapping::parse("127.0.0.1:53:5353/udp").unwrap();
        assert_eq!(p.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(p.protocol, Protocol::Udp);
        assert_eq!(p.to_string(), "127.0.0.1:53:5353/udp");
        assert_eq!(
            PortMapping::parse("8080:80/tcp").unwrap().to_string(),
            "8080:80/tcp"
        );
    }

    #[test]
    fn bad_ports_say_why() {
        for (s, want) in [
            ("80", "does not choose host ports"),
            ("8080:80/sctp", "protocol \"sctp\""),
            ("0:80", "host port \"0\""),
            ("8080:70000", "container port \"70000\""),
            ("8080-8090:80", "ranges"),
            ("x:80:80", "host address"),
            ("1:2:3:4", "[HOSTIP:]HOSTPORT:CTRPORT"),
        ] {
            let e = PortMapping::parse(s).unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
            assert!(e.starts_with("-p "), "{e}");
        }
    }

    #[test]
    fn clashes() {
        let a = PortMapping::parse("8080:80").unwrap();
        let b = PortMapping::parse("127.0.0.1:8080:81").unwrap();
        let c = PortMapping::parse("8080:80/udp").unwrap();
        let d = PortMapping::parse("127.0.0.2:8080:80").unwrap();
        assert!(a.clashes(&b) && b.clashes(&a));
        assert!(!a.clashes(&c));
        assert!(!b.clashes(&d));
    }
}
