//! `events ID [--stats] [--interval DUR]`: JSON lines in runc's shape.

use std::io::Write;
use std::time::Duration;

use brig_runtime::container::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Time between stats events ("5s", "500ms", "1m30s").
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
}

/// A duration as Go's time.ParseDuration (and so runc) takes it: one or
/// more decimal numbers, each with a unit of ns, us (or µs), ms, s, m or h.
/// Zero and negative durations are refused: an interval must pass.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 5s, 500ms or 1m30s");
    let mut rest = s.trim();
    if rest.is_empty() || rest.starts_with(['-', '+']) {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(n);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let v: f64 = num.parse().map_err(|_| bad())?;
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let secs = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += v * secs;
        rest = tail;
    }
    let d = Duration::try_from_secs_f64(total).map_err(|_| bad())?;
    if d.is_zero() {
        return Err(format!("{s:?}: the interval must be greater than 0"));
    }
    Ok(d)
}

/// A reader that went away (`brig events ID | head -1`) ends the stream
/// quietly, as the end of a pipe does for any line-printing tool.
pub fn run(store: &Store, a: Args) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    if a.stats {
        let ev = container::stats(store, &a.id)?;
        return match writeln!(out, "{}", serde_json::to_string(&ev)?).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(0),
        };
    }
    let mut reader_gone = false;
    let mut emit = |ev: &container::Event| -> std::io::Result<()> {
        let line = serde_json::to_string(ev).map_err(std::io::Error::other)?;
        let r = writeln!(out, "{line}").and_then(|()| out.flush());
        if r.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        {
            reader_gone = true;
        }
        r
    };
    match container::watch_events(store, &a.id, a.interval, &mut emit) {
        Ok(()) => Ok(0),
        Err(_) if reader_gone => Ok(0),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_takes_them() {
        for (s, ms) in [
            ("5s", 5000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("1.5s", 1500),
            ("1h", 3_600_000),
            ("250000us", 250),
            ("250000µs", 250),
            ("1000000000ns", 1000),
        ] {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
    }

    #[test]
    fn bad_durations_are_refused() {
        for s in ["", "5", "s", "5x", "-1s", "1..5s", "5 s", "1s5"] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains("is not a duration"), "{s}: {e}");
        }
        for s in ["0s", "0"] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
        assert!(parse_duration("0ms")
            .unwrap_err()
            .contains("greater than 0"));
    }
}
