//! Errors go to stderr, and also to the --log file (text or JSON lines, the
//! format containerd reads from runc).

use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

struct Logger {
    file: Option<Mutex<std::fs::File>>,
    json: bool,
    debug: bool,
    /// When [`init`] ran (about when main began): debug lines carry the time since.
    start: std::time::Instant,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// `json`: the --log file gets JSON lines (runc's `--log-format json`).
pub fn init(path: Option<&Path>, json: bool, debug: bool) {
    let file = path.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| eprintln!("brig: --log {}: {e}", p.display()))
            .ok()
    });
    if debug {
        crate::container::set_debug_sink(self::debug);
    }
    let _ = LOGGER.set(Logger {
        file: file.map(Mutex::new),
        json,
        debug,
        start: std::time::Instant::now(),
    });
}

fn write(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else { return };
    if let Some(f) = &l.file {
        let line = if l.json {
            serde_json::json!({"level": level, "msg": msg, "time": crate::sys::rfc3339_now()})
                .to_string()
        } else {
            format!(
                "time=\"{}\" level={level} msg={msg:?}",
                crate::sys::rfc3339_now()
            )
        };
        if let Ok(mut f) = f.lock() {
            let _ = writeln!(f, "{line}");
        }
    }
}

pub fn error(msg: &str) {
    eprintln!("brig: {msg}");
    write("error", msg);
}

pub fn debug(msg: &str) {
    if let Some(l) = LOGGER.get().filter(|l| l.debug) {
        // Milliseconds since main began: `--debug` is also how to see where
        // a create's time goes (docs/benchmarks.md).
        let ms = l.start.elapsed().as_secs_f64() * 1e3;
        eprintln!("brig: debug: +{ms:.3}ms {msg}");
        write("debug", msg);
    }
}
