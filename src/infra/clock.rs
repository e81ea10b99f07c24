//! The time the service acts on: the system's, which a test moves forward (`advance`) to
//! see links expire and lockouts lift without waiting for them. Every rule about time —
//! link and session lifetimes, lockouts, throttle windows — reads it from here, in Rust and
//! as a bound parameter in SQL, never from `Utc::now()` or the database's `now()`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

/// Shared by clones: advancing one advances all.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    ahead_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.ahead_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and its clones) forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.ahead_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone() {
        let clock = Clock::default();
        let other = clock.clone();
        let before = other.now();
        clock.advance(Duration::days(3));
        let moved = other.now() - before;
        assert!(moved >= Duration::days(3) && moved < Duration::days(3) + Duration::minutes(1));
    }
}
