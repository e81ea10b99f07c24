//! The unwrapped data keys one process holds: each with when it was read, trusted for
//! `ttl`, and dropped once stale so that memory follows the subjects in use, not every
//! subject the process has ever read (a log of 100,000 clients per firm and many firms).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chacha20poly1305::XChaCha20Poly1305;
use uuid::Uuid;

/// What is known of a subject's key.
#[derive(Clone)]
pub(crate) enum Slot {
    Live(Box<XChaCha20Poly1305>),
    /// Destroyed (erasure) or never stored: its ciphertext can never be opened.
    Erased,
}

/// Fewest entries at which stale ones are swept (below it a sweep costs more than it frees).
const SWEEP_FLOOR: usize = 4096;

pub(crate) struct KeyCache {
    slots: HashMap<Uuid, (Slot, Instant)>,
    ttl: Duration,
    /// The size at which the next insert sweeps: twice what the last sweep left, so each
    /// entry is swept over at most a constant number of times (amortised O(1) per insert).
    sweep_at: usize,
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            slots: HashMap::new(),
            ttl,
            sweep_at: SWEEP_FLOOR,
        }
    }

    /// The subject's slot if it was read less than `ttl` ago (erasure elsewhere reaches this
    /// process within `ttl`; an erased slot stays erased, it is only read again).
    pub(crate) fn get(&self, subject: &Uuid, now: Instant) -> Option<&Slot> {
        self.slots
            .get(subject)
            .filter(|(_, read_at)| now.saturating_duration_since(*read_at) < self.ttl)
            .map(|(slot, _)| slot)
    }

    pub(crate) fn insert(&mut self, subject: Uuid, slot: Slot, now: Instant) {
        if self.slots.len() >= self.sweep_at {
            self.sweep(now);
        }
        self.slots.insert(subject, (slot, now));
    }

    /// Drops every entry `get` would no longer answer with.
    fn sweep(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.slots
            .retain(|_, (_, read_at)| now.saturating_duration_since(*read_at) < ttl);
        self.sweep_at = (self.slots.len() * 2).max(SWEEP_FLOOR);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::KeyInit;

    fn live() -> Slot {
        Slot::Live(Box::new(XChaCha20Poly1305::new(&[7u8; 32].into())))
    }

    #[test]
    fn a_key_is_trusted_for_its_ttl_only() {
        let t0 = Instant::now();
        let mut cache = KeyCache::new(Duration::from_secs(60));
        let subject = Uuid::from_u128(1);
        cache.insert(subject, live(), t0);
        assert!(cache.get(&subject, t0 + Duration::from_secs(59)).is_some());
        assert!(cache.get(&subject, t0 + Duration::from_secs(60)).is_none());
    }

    #[test]
    fn stale_keys_are_dropped_so_the_cache_follows_the_subjects_in_use() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut cache = KeyCache::new(ttl);
        // A minute of traffic touches 3,000 subjects, the next minutes 3,000 others each:
        // without sweeping the cache would hold every one of the 60,000.
        for minute in 0..20u32 {
            let now = t0 + Duration::from_secs(61) * minute;
            for n in 0..3_000u128 {
                let subject = Uuid::from_u128(u128::from(minute) * 10_000 + n);
                let slot = if n % 100 == 0 { Slot::Erased } else { live() };
                cache.insert(subject, slot, now);
            }
            assert!(
                cache.len() <= 2 * SWEEP_FLOOR,
                "minute {minute}: {}",
                cache.len()
            );
            // What was read this minute is all still there.
            let last = Uuid::from_u128(u128::from(minute) * 10_000 + 2_999);
            assert!(cache.get(&last, now).is_some());
        }
    }
}
