//! CNI plugin invocation, spec 1.0: the command and the container in the
//! environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH),
//! the network configuration on stdin, the result or an error object
//! (`code`, `msg`, `details`) on stdout. A conflist runs its plugins in order on
//! ADD, each given the previous one's result as `prevResult`, and in reverse on
//! DEL, each given the ADD's final result.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::addr::PortMapping;
use super::error::{NetworkError, PluginFailure, Result};

/// How long one plugin may take before brig gives up on it.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(120);

/// What every plugin of one ADD or DEL is told.
pub struct Call<'a> {
    pub network: &'a str,
    pub container_id: &'a str,
    /// The namespace path; empty on a DEL when the namespace is gone.
    pub netns: &'a str,
    pub ifname: &'a str,
    pub cni_path: &'a [PathBuf],
    pub ports: &'a [PortMapping],
}

/// The plugin binary for `plugin_type`, from the first CNI_PATH dir that has it.
pub fn find_plugin(cni_path: &[PathBuf], network: &str, plugin_type: &str) -> Result<PathBuf> {
    let missing = || NetworkError::PluginMissing {
        plugin: plugin_type.to_string(),
        network: network.to_string(),
        search: cni_path.to_vec(),
    };
    // A type is a file name, never a path.
    if plugin_type.is_empty() || plugin_type.contains('/') || plugin_type.starts_with('.') {
        return Err(missing());
    }
    cni_path
        .iter()
        .map(|d| d.join(plugin_type))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(missing)
}

/// One plugin's configuration as the conflist's plugin gets it: the plugin's
/// object plus the list's name and cniVersion, the runtime config of the
/// capabilities it declares, and the previous result.
fn plugin_config(conflist: &Value, plugin: &Value, call: &Call, prev: Option<&Value>) -> Value {
    let mut conf: Map<String, Value> = plugin.as_object().cloned().unwrap_or_default();
    conf.insert("name".into(), conflist["name"].clone());
    conf.insert("cniVersion".into(), conflist["cniVersion"].clone());
    if let Some(caps) = conf.remove("capabilities") {
        let mut rc = Map::new();
        if caps["portMappings"] == true && !call.ports.is_empty() {
            let maps: Vec<Value> = call
                .ports
                .iter()
                .map(|p| {
                    let mut m = json!({
                        "hostPort": p.host_port,
                        "containerPort": p.container_port,
                        "protocol": p.protocol.to_string(),
                    });
                    if let Some(ip) = p.host_ip {
                        m["hostIP"] = json!(ip.to_string());
                    }
                    m
                })
                .collect();
            rc.insert("portMappings".into(), Value::Array(maps));
        }
        conf.insert("capabilities".into(), caps);
        if !rc.is_empty() {
            conf.insert("runtimeConfig".into(), Value::Object(rc));
        }
    }
    if let Some(prev) = prev {
        conf.insert("prevResult".into(), prev.clone());
    }
    Value::Object(conf)
}

/// Run one plugin. `Ok(stdout)` on success.
fn exec(path: &Path, command: &'static str, call: &Call, config: &Value) -> Result<Vec<u8>> {
    let plugin = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let fail = |code: Option<u64>, msg: String, details: String| {
        NetworkError::Plugin(Box::new(PluginFailure {
            network: call.network.to_string(),
            plugin: plugin.clone(),
            command,
            container: call.container_id.to_string(),
            code,
            msg,
            details,
        }))
    };
    let cni_path = call
        .cni_path
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    // Plugins run iptables and friends by name: give them the system's PATH.
    let mut path_var = std::env::var("PATH").unwrap_or_default();
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        if !path_var.split(':').any(|p| p == d) {
            if !path_var.is_empty() {
                path_var.push(':');
            }
            path_var.push_str(d);
        }
    }
    let mut child = Command::new(path)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", call.container_id)
        .env("CNI_NETNS", call.netns)
        .env("CNI_IFNAME", call.ifname)
        .env("CNI_PATH", &cni_path)
        .env("PATH", path_var)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(
                None,
                format!("cannot run {}: {e}", path.display()),
                String::new(),
            )
        })?;
    let input = serde_json::to_vec(config).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Read stdout and stderr on threads so that a chatty plugin cannot block.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    // A plugin that exits without reading its config breaks the pipe: its exit says why.
    let _ = stdin.write_all(&input);
    drop(stdin);
    let status = match brig_runtime::sys::wait_child_timeout(&mut child, Some(PLUGIN_TIMEOUT)) {
        Ok(Some(s)) => s,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(
                None,
                format!("did not finish within {}s", PLUGIN_TIMEOUT.as_secs()),
                String::new(),
            ));
        }
        Err(e) => return Err(fail(None, format!("waiting for it: {e}"), String::new())),
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if status.success() {
        return Ok(stdout);
    }
    // The spec's error object; anything else is shown as the plugin wrote it.
    match serde_json::from_slice::<Value>(&stdout) {
        Ok(e) if e["msg"].is_string() => Err(fail(
            e["code"].as_u64(),
            e["msg"].as_str().unwrap_or_default().to_string(),
            e["details"].as_str().unwrap_or_default().to_string(),
        )),
        _ => {
            let text = String::from_utf8_lossy(if stdout.is_empty() { &stderr } else { &stdout })
                .trim()
                .to_string();
            Err(fail(None, format!("{status}: {text}"), String::new()))
        }
    }
}

/// Run a conflist's ADD chain. The final result, or the error of the plugin
/// that failed (the caller then runs DEL for the whole list, as the spec asks).
pub fn add(conflist: &Value, call: &Call) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for plugin in conflist["plugins"].as_array().into_iter().flatten() {
        let ty = plugin["type"].as_str().unwrap_or_default();
        let path = find_plugin(call.cni_path, call.network, ty)?;
        let conf = plugin_config(conflist, plugin, call, prev.as_ref());
        let out = exec(&path, "ADD", call, &conf)?;
        brig_runtime::container::trace::step(
            "engine",
            call.container_id,
            format_args!("cni: ADD {ty} done"),
        );
        let result: Value = serde_json::from_slice(&out).map_err(|e| {
            NetworkError::Plugin(Box::new(PluginFailure {
                network: call.network.to_string(),
                plugin: ty.to_string(),
                command: "ADD",
                container: call.container_id.to_string(),
                code: None,
                msg: format!("its result is not JSON: {e}"),
                details: String::from_utf8_lossy(&out).into_owned(),
            }))
        })?;
        prev = Some(result);
    }
    Ok(prev.unwrap_or_else(|| json!({"cniVersion": conflist["cniVersion"]})))
}

/// Run a conflist's DEL chain, last plugin first. Every plugin runs even when
/// one fails; the first error is returned.
pub fn del(conflist: &Value, call: &Call, result: Option<&Value>) -> Result<()> {
    let mut first = None;
    let plugins: Vec<&Value> = conflist["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for plugin in plugins.into_iter().rev() {
        let ty = plugin["type"].as_str().unwrap_or_default();
        let r = find_plugin(call.cni_path, call.network, ty).and_then(|path| {
            let conf = plugin_config(conflist, plugin, call, result);
            exec(&path, "DEL", call, &conf).map(drop)
        });
        brig_runtime::container::trace::step(
            "engine",
            call.container_id,
            format_args!("cni: DEL {ty} done"),
        );
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// What brig needs from an ADD result: the container interface's MAC, and its
/// first IPv4 address with prefix and gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub mac: Option<String>,
    pub ip: Option<(std::net::Ipv4Addr, u8)>,
    pub gateway: Option<std::net::Ipv4Addr>,
}

pub fn summarize(result: &Value, ifname: &str) -> Summary {
    let ifaces = result["interfaces"].as_array().cloned().unwrap_or_default();
    let ctr_idx = ifaces
        .iter()
        .position(|i| i["name"] == ifname && i["sandbox"].as_str().is_some_and(|s| !s.is_empty()));
    let mac = ctr_idx.and_then(|i| ifaces[i]["mac"].as_str().map(str::to_string));
    let mut ip = None;
    let mut gateway = None;
    for entry in result["ips"].as_array().into_iter().flatten() {
        let on_ctr = match (entry["interface"].as_u64(), ctr_idx) {
            (Some(i), Some(c)) => i as usize == c,
            _ => true,
        };
        let Some((a, p)) = entry["address"].as_str().and_then(|s| s.split_once('/')) else {
            continue;
        };
        if let (true, Ok(a), Ok(p)) = (on_ctr, a.parse(), p.parse()) {
            ip = Some((a, p));
            gateway = entry["gateway"].as_str().and_then(|g| g.parse().ok());
            break;
        }
    }
    Summary { mac, ip, gateway }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_config_carries_name_version_ports_and_prev_result() {
        let list = json!({"cniVersion": "1.0.0", "name": "n", "plugins": [
            {"type": "bridge"},
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
        ]});
        let ports = [PortMapping::parse("8080:80").unwrap()];
        let call = Call {
            network: "n",
            container_id: "c",
            netns: "/x",
            ifname: "eth0",
            cni_path: &[],
            ports: &ports,
        };
        let b = plugin_config(&list, &list["plugins"][0], &call, None);
        assert_eq!(
            b,
            json!({"type": "bridge", "name": "n", "cniVersion": "1.0.0"})
        );
        let prev = json!({"ips": []});
        let p = plugin_config(&list, &list["plugins"][1], &call, Some(&prev));
        assert_eq!(
            p["runtimeConfig"]["portMappings"],
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}])
        );
        assert_eq!(p["prevResult"], prev);
        assert_eq!(p["snat"], true);
    }

    #[test]
    fn summary_picks_the_container_interface() {
        let r = json!({
            "interfaces": [
                {"name": "brig0", "mac": "aa:00:00:00:00:01"},
                {"name": "veth1", "mac": "aa:00:00:00:00:02"},
                {"name": "eth0", "mac": "aa:00:00:00:00:03", "sandbox": "/run/brig-netns/c"}
            ],
            "ips": [{"interface": 2, "address": "10.88.0.2/16", "gateway": "10.88.0.1"}]
        });
        let s = summarize(&r, "eth0");
        assert_eq!(s.mac.as_deref(), Some("aa:00:00:00:00:03"));
        assert_eq!(s.ip, Some(("10.88.0.2".parse().unwrap(), 16)));
        assert_eq!(s.gateway, Some("10.88.0.1".parse().unwrap()));
    }

    #[test]
    fn missing_plugin_is_named() {
        let e = find_plugin(&[PathBuf::from("/nonexistent")], "n", "bridge").unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("\"bridge\"")
                && s.contains("/nonexistent")
                && s.contains("containernetworking-plugins"),
            "{s}"
        );
    }
}
