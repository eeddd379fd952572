//! The config.json that `brig spec` writes: runc's default, so that a bundle made
//! for one runs on the other. Only `hostname` differs.

use super::Spec;

const DEFAULT_SPEC: &str = include_str!("default.json");

pub fn default_spec() -> Spec {
    // The text is ours and fixed; a parse failure is a build defect that the tests catch.
    serde_json::from_str(DEFAULT_SPEC).expect("default.json is a valid spec")
}

/// The exact text, for `brig spec` (keeps runc's field order).
pub fn default_spec_text() -> &'static str {
    DEFAULT_SPEC
}

/// `spec --rootless`: runc's rootless variant of the default (its
/// specconv.ToRootless): a user namespace mapping the caller's euid/egid to 0,
/// no network namespace, no device cgroup rules, /sys bind-mounted from the
/// host and /dev/pts without gid=5 (unmapped in the namespace).
pub fn rootless_spec_text(uid: u32, gid: u32) -> String {
    use serde_json::{json, Value};
    let mut v: Value = serde_json::from_str(DEFAULT_SPEC).expect("default.json is JSON");
    let linux = &mut v["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "user"}));
    }
    if let Some(l) = linux.as_object_mut() {
        l.shift_remove("resources");
        l.insert(
            "uidMappings".into(),
            json!([{"containerID": 0, "hostID": uid, "size": 1}]),
        );
        l.insert(
            "gidMappings".into(),
            json!([{"containerID": 0, "hostID": gid, "size": 1}]),
        );
    }
    for m in v["mounts"].as_array_mut().into_iter().flatten() {
        if m["destination"] == "/sys" {
            *m = json!({
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
            });
        } else if let Some(opts) = m.get_mut("options").and_then(|o| o.as_array_mut()) {
            opts.retain(|o| o != "gid=5");
        }
    }
    let mut text = serde_json::to_string_pretty(&v).expect("a JSON value serializes");
    if DEFAULT_SPEC.ends_with('\n') {
        text.push('\n');
    }
    text
}
