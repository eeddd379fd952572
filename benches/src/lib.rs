//! Shared pieces of brig's benchmarks (`benches/startup.rs`, `benches/density.rs`):
//! the busybox bundle, the runtimes under test, and what they read from the host.
//!
//! Run as root. See docs/benchmarks.md for the commands and the latest results.

pub mod bundle;
pub mod host;
pub mod plot;
pub mod runtime;

/// Median of `v` (sorted in place); 0 when empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Refuses to go on unless root: every runtime here needs it.
pub fn require_root() -> anyhow::Result<()> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!("the benches create real containers: run them as root");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_odd_even_empty() {
        assert_eq!(super::median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(super::median(&mut []), 0.0);
    }
}
