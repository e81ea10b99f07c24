//! What the benches share (and `tests/` borrows for large logs): synthetic event logs and
//! the bench database. Kept out of the server crate: nothing here ships.

// Each bench (and test) uses a part of it.
#![allow(dead_code)]

pub mod synthetic;

/// The `p` quantile (0–1) of sorted samples, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
