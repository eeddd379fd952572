//! brig-probe: the in-container probe of brig-conformance.
//!
//! One static binary with subcommands. Every subcommand prints exactly one JSON object on one line
//! of stdout, which the suite parses. Several subcommands can be chained with a lone `+`:
//! `brig-probe shm create 42 + wait-signal` runs `shm create 42`, then `wait-signal`, each printing
//! its own line. A subcommand that fails prints `{"cmd":..., "error":..., "errno":...}` and the probe
//! exits with status 2 without running the rest of the chain.

mod cmds;

use serde_json::{json, Value};
use std::io::Write;

/// What a subcommand produces: a JSON answer, or an error with the errno that caused it.
pub struct Failure {
    pub msg: String,
    pub errno: Option<i32>,
}

impl Failure {
    pub fn msg(msg: impl Into<String>) -> Self {
        Failure {
            msg: msg.into(),
            errno: None,
        }
    }

    pub fn io(what: &str, e: std::io::Error) -> Self {
        Failure {
            msg: format!("{what}: {e}"),
            errno: e.raw_os_error(),
        }
    }

    pub fn last_os(what: &str) -> Self {
        Self::io(what, std::io::Error::last_os_error())
    }
}

pub type Answer = Result<Value, Failure>;

pub fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    // A probe whose stdout is gone has nobody to answer to; nothing better to do than stop.
    if writeln!(out, "{v}").and_then(|_| out.flush()).is_err() {
        std::process::exit(3);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0] == "--help" || args[0] == "help" {
        eprintln!("usage: brig-probe SUBCOMMAND [ARGS]... [+ SUBCOMMAND [ARGS]...]...");
        eprintln!("subcommands: {}", cmds::NAMES.join(", "));
        std::process::exit(if args.is_empty() { 2 } else { 0 });
    }
    for chunk in args.split(|a| a == "+") {
        let Some((name, rest)) = chunk.split_first() else {
            emit(&json!({"error": "empty subcommand in chain"}));
            std::process::exit(2);
        };
        match cmds::dispatch(name, rest) {
            Ok(v) => emit(&v),
            Err(f) => {
                emit(&json!({"cmd": name, "error": f.msg, "errno": f.errno}));
                std::process::exit(2);
            }
        }
    }
}
