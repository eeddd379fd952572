//! `--debug`: each step of create, start and delete, logged through a sink the
//! binary registers (its stderr and --log file). The library never prints on
//! its own; with no sink (no --debug) a step costs one atomic load.

use std::sync::OnceLock;

static SINK: OnceLock<fn(&str)> = OnceLock::new();

/// Send debug lines to `sink` from now on (once per process).
pub fn set_debug_sink(sink: fn(&str)) {
    let _ = SINK.set(sink);
}

/// A debug line, when a sink is registered.
pub fn debug(msg: &str) {
    if let Some(sink) = SINK.get() {
        sink(msg);
    }
}

/// One step of `op` on container `id`.
pub fn step(op: &str, id: &str, what: std::fmt::Arguments) {
    if let Some(sink) = SINK.get() {
        sink(&format!("{op} {id}: {what}"));
    }
}
