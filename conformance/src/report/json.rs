//! Machine-readable JSON: the host, each runtime with its counts, and every check with its
//! result per runtime (result, reason, duration).

use super::Report;
use serde_json::{json, Map, Value};

pub fn render(r: &Report) -> String {
    let runtimes: Vec<Value> = r
        .runtimes
        .iter()
        .enumerate()
        .map(|(i, rt)| {
            json!({
                "name": rt.name,
                "command": rt.command,
                "duration_ms": rt.duration.as_millis() as u64,
                "counts": r.counts(i),
            })
        })
        .collect();
    let checks: Vec<Value> = r
        .rows
        .iter()
        .map(|row| {
            let mut results = Map::new();
            for (i, rt) in r.runtimes.iter().enumerate() {
                results.insert(
                    rt.name.clone(),
                    serde_json::to_value(&row.results[i]).unwrap_or(Value::Null),
                );
            }
            json!({
                "id": row.id,
                "group": row.group,
                "level": row.level,
                "spec": row.spec,
                "summary": row.summary,
                "results": results,
            })
        })
        .collect();
    let v = json!({
        "host": r.host,
        "all_must_pass": r.all_must_pass(),
        "runtimes": runtimes,
        "checks": checks,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot() {
        insta::assert_snapshot!(super::render(&super::super::fixtures::report()));
    }

    #[test]
    fn is_valid_json_with_reasons() {
        let s = super::render(&super::super::fixtures::report());
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["checks"][0]["results"]["crun"]["result"], "fail");
        assert!(v["checks"][0]["results"]["crun"]["reason"].is_string());
        assert_eq!(v["all_must_pass"], false);
    }
}
