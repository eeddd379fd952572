//! The checks, one module per group.

pub mod cgroups;
pub mod edges;
pub mod lifecycle;
pub mod namespaces;
pub mod oom;
pub mod overlay;
pub mod process;

use crate::check::Check;
use serde_json::json;
use std::fmt::Write;

/// Every check, in report order.
pub fn all() -> Vec<Check> {
    let mut v = Vec::new();
    v.extend(lifecycle::checks());
    v.extend(namespaces::checks());
    v.extend(cgroups::checks());
    v.extend(oom::checks());
    v.extend(overlay::checks());
    v.extend(process::checks());
    v.extend(edges::checks());
    v
}

/// `brig-conformance list`: a table or JSON.
pub fn render_list(checks: &[Check], as_json: bool) -> String {
    if as_json {
        let v: Vec<_> = checks
            .iter()
            .map(|c| {
                json!({
                    "id": c.id, "group": c.group, "level": c.level, "spec": c.spec,
                    "summary": c.summary,
                    "requires": c.requires.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>(),
                })
            })
            .collect();
        return serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    }
    let w = checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let mut s = String::new();
    for c in checks {
        let _ = writeln!(s, "{:w$}  {:6}  {}", c.id, c.level.to_string(), c.summary);
    }
    let _ = writeln!(s, "{} checks", checks.len());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for c in all() {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(
                c.id.split('.').count() >= 3,
                "id {} is not group.subject.property",
                c.id
            );
            assert!(
                c.spec.contains(".md#") || c.spec.starts_with("runc-cli#"),
                "{}: spec {}",
                c.id,
                c.spec
            );
            assert!(
                c.id.chars().all(|ch| ch.is_ascii_lowercase()
                    || ch.is_ascii_digit()
                    || ch == '.'
                    || ch == '-'),
                "{}",
                c.id
            );
        }
        assert!(seen.len() >= 60, "only {} checks", seen.len());
    }
}
