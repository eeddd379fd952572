//! The rules brig handles itself, besides through the plugins: the loopback
//! guard it adds, and a masquerade rule the bridge plugin leaves behind.
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

/// The bridge plugin (1.1.1) skips its masquerade teardown on DEL when the
/// container's namespace is gone ("if the device isn't there then don't try to
/// clean up IP masq either"), which leaves the container's `CNI-...` chain in
/// nat and the POSTROUTING rule that jumps to it. brig removes them itself, by
/// what the plugin wrote: the rule `-s IP/32 ... --comment "name: \"NET\" id:
/// \"ID\"" -j CHAIN`. Absent rules are fine.
pub fn remove_masquerade_leftover(network: &str, container_id: &str) -> Result<()> {
    let run = |args: &[&str]| {
        Command::new("iptables")
            .args(["-w", "-t", "nat"])
            .args(args)
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .output()
    };
    let fail = |what: &str, why: String| NetworkError::Masquerade {
        container: container_id.to_string(),
        msg: format!("{what}: {why}"),
    };
    let listed =
        run(&["-S", "POSTROUTING"]).map_err(|e| fail("running iptables", e.to_string()))?;
    if !listed.status.success() {
        // No nat table: nothing was left.
        return Ok(());
    }
    let comment = format!("name: \"{network}\" id: \"{container_id}\"");
    let quoted = format!("{comment:?}");
    // The record may not know the address (a crash right after ADD): the
    // rule's comment names the container, its -s the address.
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let Some(rest) = line.strip_prefix("-A POSTROUTING -s ") else {
            continue;
        };
        if !line.contains(&quoted) {
            continue;
        }
        let ip = rest.split(['/', ' ']).next().unwrap_or_default();
        let Some(chain) = line.split(" -j ").nth(1).map(str::trim) else {
            continue;
        };
        if !chain.starts_with("CNI-") || ip.parse::<std::net::Ipv4Addr>().is_err() {
            continue;
        }
        let del = run(&[
            "-D",
            "POSTROUTING",
            "-s",
            ip,
            "-j",
            chain,
            "-m",
            "comment",
            "--comment",
            &comment,
        ])
        .map_err(|e| fail("running iptables", e.to_string()))?;
        if !del.status.success() {
            return Err(fail(
                "iptables -t nat -D POSTROUTING",
                String::from_utf8_lossy(&del.stderr).trim().to_string(),
            ));
        }
        for op in ["-F", "-X"] {
            let out = run(&[op, chain]).map_err(|e| fail("running iptables", e.to_string()))?;
            if !out.status.success() {
                return Err(fail(
                    &format!("iptables -t nat {op} {chain}"),
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ));
            }
        }
    }
    Ok(())
}
