//! The one rule brig adds itself, besides the plugins' own.
//!
//! Publishing on 127.0.0.1 needs portmap's SNAT, and with it the bridge's
//! `route_localnet=1`, which makes the host route packets addressed to
//! 127.0.0.0/8 that arrive on the bridge: a container could then reach
//! services the host binds to 127.0.0.1 only (CVE-2020-8558, the same with
//! kube-proxy). So, as Kubernetes does, brig drops such packets unless they
//! belong to a connection the host made (the replies of the published ports):
//!
//! `iptables -I INPUT -i BRIDGE -d 127.0.0.0/8 -m conntrack ! --ctstate
//! RELATED,ESTABLISHED,DNAT -m comment --comment ... -j DROP`
//!
//! It is added before the first ADD on a bridge and removed with the network.
//! It goes through the same `iptables` command the plugins use, so it lands in
//! the same backend (nf_tables with Debian's default iptables-nft).

use std::process::Command;

use super::error::{NetworkError, Result};

fn rule(bridge: &str) -> Vec<String> {
    [
        "INPUT",
        "-i",
        bridge,
        "-d",
        "127.0.0.0/8",
        "-m",
        "conntrack",
        "!",
        "--ctstate",
        "RELATED,ESTABLISHED,DNAT",
        "-m",
        "comment",
        "--comment",
        &format!("brig: containers on {bridge} may not reach the host's 127.0.0.0/8"),
        "-j",
        "DROP",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn iptables(op: &str, bridge: &str) -> std::io::Result<std::process::Output> {
    Command::new("iptables")
        .args(["-w", "-t", "filter", op])
        .args(rule(bridge))
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .output()
}

fn failed(bridge: &str, what: &str, why: String) -> NetworkError {
    NetworkError::Guard {
        bridge: bridge.to_string(),
        msg: format!("{what}: {why}"),
    }
}

/// Add the rule for `bridge` unless it is there.
pub fn ensure(bridge: &str) -> Result<()> {
    let check =
        iptables("-C", bridge).map_err(|e| failed(bridge, "running iptables", e.to_string()))?;
    if check.status.success() {
        return Ok(());
    }
    let add =
        iptables("-I", bridge).map_err(|e| failed(bridge, "running iptables", e.to_string()))?;
    if !add.status.success() {
        return Err(failed(
            bridge,
            "iptables -I INPUT",
            String::from_utf8_lossy(&add.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

/// Remove every copy of the rule for `bridge`.
pub fn remove(bridge: &str) -> Result<()> {
    for _ in 0..16 {
        match iptables("-C", bridge) {
            Ok(o) if o.status.success() => {
                let del = iptables("-D", bridge)
                    .map_err(|e| failed(bridge, "running iptables", e.to_string()))?;
                if !del.status.success() {
                    return Err(failed(
                        bridge,
                        "iptables -D INPUT",
                        String::from_utf8_lossy(&del.stderr).trim().to_string(),
                    ));
                }
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}
