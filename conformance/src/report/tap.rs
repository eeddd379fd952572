//! TAP version 13. One test point per check and runtime. A failed SHOULD check is `not ok`
//! with a `# TODO` directive, so TAP consumers do not count it as a failure; skips carry `# SKIP`.

use super::{Outcome, Report};
use crate::check::Level;
use std::fmt::Write;

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace('#', "\\#")
}

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let total = r.rows.len() * r.runtimes.len();
    let _ = writeln!(s, "TAP version 13");
    let _ = writeln!(s, "# host: {}", r.host);
    for rt in &r.runtimes {
        let _ = writeln!(s, "# runtime {}: {}", rt.name, rt.command);
    }
    let _ = writeln!(s, "1..{total}");
    let mut n = 0;
    for (ri, rt) in r.runtimes.iter().enumerate() {
        for row in &r.rows {
            n += 1;
            let o = &row.results[ri];
            let head = format!("{} - {}: {} [{}]", n, rt.name, row.id, row.level);
            let reason = o.reason.as_deref().map(one_line).unwrap_or_default();
            match (o.result, row.level) {
                (Outcome::Pass, _) => {
                    let _ = writeln!(s, "ok {head}");
                }
                (Outcome::Skip, _) => {
                    let _ = writeln!(s, "ok {head} # SKIP {reason}");
                }
                (Outcome::Fail, Level::Should) => {
                    let _ = writeln!(s, "not ok {head} # TODO SHOULD-level: {reason}");
                }
                (Outcome::Fail, Level::Must) => {
                    let _ = writeln!(s, "not ok {head}");
                    let _ = writeln!(s, "  ---");
                    let _ = writeln!(s, "  spec: {}", row.spec);
                    let _ = writeln!(
                        s,
                        "  reason: {}",
                        serde_json::to_string(&reason).unwrap_or_default()
                    );
                    let _ = writeln!(s, "  ...");
                }
            }
        }
    }
    for (ri, rt) in r.runtimes.iter().enumerate() {
        let c = r.counts(ri);
        let _ = writeln!(
            s,
            "# {}: {} passed, {} failed ({} MUST), {} skipped in {:.1} s",
            rt.name,
            c.pass,
            c.fail,
            c.must_fail,
            c.skip,
            rt.duration.as_secs_f64()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot() {
        insta::assert_snapshot!(super::render(&super::super::fixtures::report()));
    }
}
