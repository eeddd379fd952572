//! Per-blob progress: redrawn lines on a terminal, one plain line per state
//! change otherwise (logs, pipes, tests).

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, Instant};

pub struct Progress {
    inner: RefCell<Inner>,
}

struct Inner {
    tty: bool,
    rows: Vec<(String, String)>,
    drawn: usize,
    last_draw: Option<Instant>,
}

/// A byte count as docker prints sizes (decimal units: kB, MB, GB).
pub fn human(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.1}GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.1}MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1}kB", f / 1e3)
    } else {
        format!("{n}B")
    }
}

impl Progress {
    /// `tty`: redraw per-blob lines in place (stdout is a terminal).
    pub fn new(tty: bool) -> Progress {
        Progress {
            inner: RefCell::new(Inner {
                tty,
                rows: Vec::new(),
                drawn: 0,
                last_draw: None,
            }),
        }
    }

    /// A line that is not about one blob.
    pub fn line(&self, s: &str) {
        let mut i = self.inner.borrow_mut();
        i.drawn = 0;
        i.rows.clear();
        let _ = writeln!(std::io::stdout().lock(), "{s}");
    }

    /// A blob's new state (Waiting, Already exists, Download complete...).
    pub fn state(&self, id: &str, state: &str) {
        let mut i = self.inner.borrow_mut();
        i.set(id, state.to_string());
        if i.tty {
            i.draw();
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{id}: {state}");
        }
    }

    /// Bytes so far; shown on a terminal only (at most ten redraws a second).
    pub fn bytes(&self, id: &str, verb: &str, done: u64, total: u64) {
        let mut i = self.inner.borrow_mut();
        if !i.tty {
            return;
        }
        let width = 30usize;
        let filled = if total == 0 {
            width
        } else {
            ((done.min(total) as u128 * width as u128) / total as u128) as usize
        };
        let bar = format!(
            "[{}>{}]",
            "=".repeat(filled.saturating_sub(1)),
            " ".repeat(width - filled.max(1))
        );
        i.set(id, format!("{verb} {bar} {}/{}", human(done), human(total)));
        if i.last_draw
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
        {
            i.draw();
        }
    }
}

impl Inner {
    fn set(&mut self, id: &str, s: String) {
        match self.rows.iter_mut().find(|(r, _)| r == id) {
            Some(r) => r.1 = s,
            None => self.rows.push((id.to_string(), s)),
        }
    }

    fn draw(&mut self) {
        let mut out = std::io::stdout().lock();
        let mut buf = String::new();
        if self.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for (id, s) in &self.rows {
            buf.push_str(&format!("\x1b[2K{id}: {s}\n"));
        }
        let _ = out.write_all(buf.as_bytes());
        let _ = out.flush();
        self.drawn = self.rows.len();
        self.last_draw = Some(Instant::now());
    }
}
