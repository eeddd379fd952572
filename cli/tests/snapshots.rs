//! Snapshots (insta) of the outputs that users and tools parse: `brig spec`'s
//! config.json, `features`, `state` in each status, and `list --format json`.
//! Volatile values (pids, times, temp paths, the version) are replaced by
//! placeholders in the text, so that the snapshot keeps brig's own formatting.
//!
//! A change to one of these outputs fails here until the snapshot is reviewed
//! and accepted: `INSTA_UPDATE=always cargo test -p brig --test snapshots`,
//! then `git diff runtime/tests/snapshots/`. The conformance suite's TAP, JSON
//! and table reports have their own snapshots in
//! conformance/src/report/snapshots/.

mod common;

use common::*;

/// `text` with each (value, placeholder) replaced, longest value first.
fn redact(text: &str, pairs: &[(String, &str)]) -> String {
    let mut pairs: Vec<_> = pairs.iter().filter(|(v, _)| !v.is_empty()).collect();
    pairs.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    let mut t = text.to_string();
    for (v, p) in pairs {
        t = t.replace(v.as_str(), p);
    }
    t
}

/// The volatile values of a state document: pid, created, bundle.
fn volatile(v: &serde_json::Value) -> Vec<(String, &'static str)> {
    let created = v["created"].as_str().unwrap().to_string();
    // RFC 3339 in UTC with nanoseconds, as runc writes it.
    assert_eq!(created.len(), 30, "created: {created}");
    assert!(
        created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );
    let mut out = vec![
        (created, "[created]"),
        (v["bundle"].as_str().unwrap().to_string(), "[bundle]"),
    ];
    let pid = v["pid"].as_i64().unwrap();
    if pid != 0 {
        out.push((format!("\"pid\": {pid},"), "\"pid\": \"[pid]\","));
        out.push((format!("\"pid\":{pid},"), "\"pid\":\"[pid]\","));
    }
    out
}

#[test]
fn spec_writes_this_config() {
    let bed = Bed::new(&["true"]);
    let dir = bed.tmp.path().join("spec");
    std::fs::create_dir(&dir).unwrap();
    ok(&bed.brig(&["spec", "--bundle", dir.to_str().unwrap()]));
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    insta::assert_snapshot!("spec_config_json", text);
}

#[test]
fn features_says_this() {
    let bed = Bed::new(&["true"]);
    let text = ok(&bed.brig(&["features"]));
    let version = env!("CARGO_PKG_VERSION");
    let text = text.replace(
        &format!("\"io.github.brig.version\": \"{version}\""),
        "\"io.github.brig.version\": \"[version]\"",
    );
    insta::assert_snapshot!("features", text);
}

#[test]
fn state_and_list_say_this() {
    if common::skip_without_root() {
        return;
    }
    let bed = Bed::new(&["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]);
    // Unique ids (cgroups are host-wide), shown as snap-a and snap-b.
    let (a, b) = (unique_id("snapa"), unique_id("snapb"));
    let ids = [(a.clone(), "snap-a"), (b.clone(), "snap-b")];
    ok(&bed.create(&a));
    ok(&bed.create(&b));

    let mut states = Vec::new();
    let mut state = |id: &str| {
        let text = ok(&bed.brig(&["state", id]));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut pairs = volatile(&v);
        pairs.extend(ids.iter().cloned());
        states.push(redact(&text, &pairs));
    };
    state(&a);
    ok(&bed.brig(&["start", &a]));
    state(&a);
    ok(&bed.brig(&["pause", &a]));
    state(&a);
    ok(&bed.brig(&["resume", &a]));
    ok(&bed.brig(&["kill", &a, "KILL"]));
    bed.wait_status(&a, "stopped");
    state(&a);
    insta::assert_snapshot!("state_created", states[0]);
    insta::assert_snapshot!("state_running", states[1]);
    insta::assert_snapshot!("state_paused", states[2]);
    insta::assert_snapshot!("state_stopped", states[3]);

    let text = ok(&bed.brig(&["list", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut pairs: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| volatile(s))
        .collect();
    pairs.extend(ids.iter().cloned());
    insta::assert_snapshot!("list_json", redact(&text, &pairs));
    let quiet = ok(&bed.brig(&["list", "-q"]));
    insta::assert_snapshot!("list_quiet", redact(&quiet, &pairs));
    ok(&bed.brig(&["delete", &a]));
    ok(&bed.brig(&["delete", &b]));
}
