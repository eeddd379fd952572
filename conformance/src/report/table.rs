//! A human table: one row per check, one column per runtime, then the reason for every failure
//! and skip, numbered from the cells.

use super::{Outcome, Report};
use std::fmt::Write;

pub fn render(r: &Report) -> String {
    let mut notes: Vec<String> = Vec::new();
    let mut cells: Vec<Vec<String>> = Vec::new();
    for row in &r.rows {
        // Identical reasons in one row (a host limit, typically) share one note.
        let mut row_notes: Vec<(&str, Vec<&str>, usize)> = Vec::new();
        let mut line = Vec::new();
        for (ri, rt) in r.runtimes.iter().enumerate() {
            let o = &row.results[ri];
            let word = match o.result {
                Outcome::Pass => "pass",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "skip",
            };
            match (&o.reason, o.result) {
                (Some(reason), Outcome::Fail | Outcome::Skip) => {
                    let n = match row_notes.iter_mut().find(|(t, _, _)| *t == reason.as_str()) {
                        Some(entry) => {
                            entry.1.push(&rt.name);
                            entry.2
                        }
                        None => {
                            notes.push(String::new());
                            row_notes.push((reason.as_str(), vec![&rt.name], notes.len()));
                            notes.len()
                        }
                    };
                    line.push(format!("{word} ({n})"));
                }
                _ => line.push(word.to_string()),
            }
        }
        for (reason, names, n) in row_notes {
            notes[n - 1] = format!("[{}] {}: {}", names.join(", "), row.id, reason);
        }
        cells.push(line);
    }
    let id_w = r.rows.iter().map(|x| x.id.len()).max().unwrap_or(5).max(5);
    let col_w: Vec<usize> = r
        .runtimes
        .iter()
        .enumerate()
        .map(|(i, rt)| {
            cells
                .iter()
                .map(|c| c[i].len())
                .chain([rt.name.len()])
                .max()
                .unwrap_or(4)
        })
        .collect();
    let mut s = String::new();
    let _ = writeln!(s, "host: {}", r.host);
    let _ = write!(s, "| {:id_w$} | level  ", "check");
    for (i, rt) in r.runtimes.iter().enumerate() {
        let _ = write!(s, "| {:w$} ", rt.name, w = col_w[i]);
    }
    let _ = writeln!(s, "|");
    let _ = write!(s, "|{}|--------", "-".repeat(id_w + 2));
    for w in &col_w {
        let _ = write!(s, "|{}", "-".repeat(w + 2));
    }
    let _ = writeln!(s, "|");
    for (row, line) in r.rows.iter().zip(&cells) {
        let _ = write!(s, "| {:id_w$} | {:6} ", row.id, row.level.to_string());
        for (i, c) in line.iter().enumerate() {
            let _ = write!(s, "| {:w$} ", c, w = col_w[i]);
        }
        let _ = writeln!(s, "|");
    }
    let _ = writeln!(s);
    for (i, rt) in r.runtimes.iter().enumerate() {
        let c = r.counts(i);
        let _ = writeln!(
            s,
            "{}: {} pass, {} fail ({} MUST), {} skip, {:.1} s",
            rt.name,
            c.pass,
            c.fail,
            c.must_fail,
            c.skip,
            rt.duration.as_secs_f64()
        );
    }
    if !notes.is_empty() {
        let _ = writeln!(s);
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(s, "({}) {n}", i + 1);
        }
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
