//! Reads the suite's JSON report (`brig-conformance run --format json`) that came back from a
//! guest, and summarises it per runtime.

use anyhow::{bail, Context, Result};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub id: String,
    /// `MUST` or `SHOULD`.
    pub level: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeSummary {
    pub name: String,
    pub command: String,
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub must_fail: usize,
    /// Every failed check (MUST first).
    pub failures: Vec<Failure>,
    /// (id, reason) of every skipped check.
    pub skips: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct SuiteReport {
    /// The suite's one-line description of the guest.
    pub host: String,
    pub all_must_pass: bool,
    pub runtimes: Vec<RuntimeSummary>,
}

fn level(v: &Value) -> String {
    v.as_str().unwrap_or("?").to_uppercase()
}

pub fn parse(bytes: &[u8]) -> Result<SuiteReport> {
    if bytes.is_empty() {
        bail!("the report is empty");
    }
    let v: Value = serde_json::from_slice(bytes).with_context(|| {
        format!(
            "the report ({} bytes) is not valid JSON (truncated?)",
            bytes.len()
        )
    })?;
    let Some(rts) = v["runtimes"].as_array() else {
        bail!("the report has no runtimes array");
    };
    let Some(checks) = v["checks"].as_array() else {
        bail!("the report has no checks array");
    };
    let mut runtimes = Vec::new();
    for rt in rts {
        let name = rt["name"].as_str().unwrap_or("?").to_string();
        let mut s = RuntimeSummary {
            name: name.clone(),
            command: rt["command"].as_str().unwrap_or("").to_string(),
            ..Default::default()
        };
        for c in checks {
            let id = c["id"].as_str().unwrap_or("?").to_string();
            let r = &c["results"][&name];
            let reason = r["reason"].as_str().unwrap_or("").to_string();
            match r["result"].as_str() {
                Some("pass") => s.pass += 1,
                Some("skip") => {
                    s.skip += 1;
                    s.skips.push((id, reason));
                }
                Some("fail") => {
                    s.fail += 1;
                    let level = level(&c["level"]);
                    if level == "MUST" {
                        s.must_fail += 1;
                    }
                    s.failures.push(Failure { id, level, reason });
                }
                other => bail!("check {id} has no result for runtime {name} ({other:?})"),
            }
        }
        s.failures.sort_by_key(|f| f.level != "MUST");
        runtimes.push(s);
    }
    if runtimes.is_empty() {
        bail!("the report names no runtime");
    }
    Ok(SuiteReport {
        host: v["host"].as_str().unwrap_or("").to_string(),
        all_must_pass: v["all_must_pass"].as_bool().unwrap_or(false),
        runtimes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_failures() {
        let j = br#"{"host":"kernel 6.1","all_must_pass":false,
          "runtimes":[{"name":"brig","command":"/usr/bin/brig"},{"name":"runc","command":"/usr/sbin/runc"}],
          "checks":[
            {"id":"a","level":"must","results":{"brig":{"result":"pass"},"runc":{"result":"fail","reason":"x"}}},
            {"id":"b","level":"should","results":{"brig":{"result":"fail","reason":"y"},"runc":{"result":"skip","reason":"z"}}},
            {"id":"c","level":"must","results":{"brig":{"result":"fail","reason":"w"},"runc":{"result":"pass"}}}
          ]}"#;
        let r = parse(j).unwrap();
        assert_eq!(r.runtimes[0].pass, 1);
        assert_eq!(r.runtimes[0].fail, 2);
        assert_eq!(r.runtimes[0].must_fail, 1);
        assert_eq!(r.runtimes[0].failures[0].id, "c");
        assert_eq!(r.runtimes[1].skip, 1);
        assert_eq!(r.runtimes[1].must_fail, 1);
    }

    #[test]
    fn truncated_is_an_error() {
        assert!(parse(b"{\"host\": \"x\", \"runt").is_err());
        assert!(parse(b"").is_err());
    }
}
