//! Streams this process wrote recently, kept as the state its commands decided on, so that
//! the next command on one of them need not read it back (a rename reads its client's
//! stream, and a client being worked on is usually renamed, invited, assigned items in a
//! row).
//!
//! Why a command may decide on a kept state that another server has since made stale:
//! - A command that **writes** a stream it took from here appends at the sequence after
//!   the kept one. If anything was appended since, that sequence is taken, the commit fails
//!   as a concurrent append, the stream is dropped from here and the command runs again on
//!   what is stored. So its events always follow the state they were decided on.
//! - A command that **reads without writing** one of them (an item it only checks, a
//!   refusal, an answer computed from it) has nothing that checks the state: it runs again
//!   on what is stored (`UnitOfWork::decided_on_unwritten_recent`).
//!
//! A state is kept only once its events are known to be committed (the group commit
//! answered), never for a commit whose transaction is held open for an `Idempotency-Key`
//! response (it could still roll back). Entries are few (bounded), and older than
//! `KEPT_FOR` count as absent, which bounds how long anything unforeseen (an operator's
//! edit of the log) could be seen here.

use std::any::Any;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

use eventlog::queries::StreamKey;

/// Streams kept at most (a client's state is a few hundred bytes).
const CAPACITY: usize = 16_384;
/// How long a kept state may be used.
const KEPT_FOR: Duration = Duration::from_secs(30);

/// A stream's state after its last event written by this process.
pub(super) struct Recent {
    /// The aggregate (`A`, as `load` asked for it).
    state: Box<dyn Any + Send + Sync>,
    /// Events in the stream (its last sequence).
    stored: usize,
    /// The global position of the commit that wrote the last of them, or later.
    position: i64,
    kept_at: Instant,
}

/// The recently written streams, shared by the event store's clones. Least recently used
/// goes first: the streams written last are the likeliest to be written next. (A cache
/// that admits by frequency keeps a stream out until it was written twice, which here is
/// most of the benefit; measured with `quick_cache`.) One lock: each command holds it for
/// one lookup and one insert, well under a microsecond each.
#[derive(Clone)]
pub(super) struct RecentStreams {
    kept: Arc<Mutex<LruCache<StreamKey, Arc<Recent>>>>,
}

impl Default for RecentStreams {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).expect("a capacity");
        Self {
            kept: Arc::new(Mutex::new(LruCache::new(capacity))),
        }
    }
}

/// A state to keep once its commit is confirmed.
pub(super) struct Decided {
    pub key: StreamKey,
    pub state: Box<dyn Any + Send + Sync>,
    pub stored: usize,
}

impl RecentStreams {
    /// The kept state of `key` as an `A`: its aggregate, its event count and a position at
    /// or after its last event.
    pub(super) fn get<A: Clone + 'static>(&self, key: &StreamKey) -> Option<(A, usize, i64)> {
        let recent = {
            let mut kept = self.kept.lock().expect("recent streams");
            let recent = kept.get(key)?.clone();
            if recent.kept_at.elapsed() > KEPT_FOR {
                kept.pop(key);
                return None;
            }
            recent
        };
        let state = recent.state.downcast_ref::<A>()?.clone();
        Some((state, recent.stored, recent.position))
    }

    /// Keeps what a confirmed commit at `position` decided. A state older than the one
    /// kept (a slower command's) does not replace it.
    pub(super) fn keep(&self, decided: Vec<Decided>, position: i64) {
        let mut kept = self.kept.lock().expect("recent streams");
        for d in decided {
            let newer = kept.peek(&d.key).is_none_or(|k| k.stored < d.stored);
            if newer {
                kept.put(
                    d.key,
                    Arc::new(Recent {
                        state: d.state,
                        stored: d.stored,
                        position,
                        kept_at: Instant::now(),
                    }),
                );
            }
        }
    }

    /// Forgets every stream of `tenant` kept here (after an erasure: kept states hold the
    /// plaintext the log no longer gives).
    pub(super) fn forget_tenant(&self, tenant: uuid::Uuid) {
        let mut kept = self.kept.lock().expect("recent streams");
        let keys: Vec<StreamKey> = kept
            .iter()
            .filter(|(key, _)| key.tenant == tenant)
            .map(|(key, _)| *key)
            .collect();
        for key in keys {
            kept.pop(&key);
        }
    }

    pub(super) fn forget(&self, keys: impl IntoIterator<Item = StreamKey>) {
        let mut kept = self.kept.lock().expect("recent streams");
        for key in keys {
            kept.pop(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn key() -> StreamKey {
        StreamKey {
            tenant: Uuid::now_v7(),
            stream_type: "client",
            id: Uuid::now_v7(),
        }
    }

    fn decided(key: StreamKey, state: &str, stored: usize) -> Vec<Decided> {
        vec![Decided {
            key,
            state: Box::new(state.to_string()),
            stored,
        }]
    }

    #[test]
    fn a_kept_state_is_found_as_its_own_type_only() {
        let (recent, k) = (RecentStreams::default(), key());
        recent.keep(decided(k, "renamed", 3), 42);
        assert_eq!(recent.get::<String>(&k), Some(("renamed".into(), 3, 42)));
        assert_eq!(recent.get::<u32>(&k), None);
        assert_eq!(recent.get::<String>(&key()), None);
    }

    #[test]
    fn an_older_state_does_not_replace_a_newer_one() {
        let (recent, k) = (RecentStreams::default(), key());
        recent.keep(decided(k, "third", 3), 30);
        recent.keep(decided(k, "second", 2), 20);
        assert_eq!(recent.get::<String>(&k), Some(("third".into(), 3, 30)));
        recent.keep(decided(k, "fourth", 4), 40);
        assert_eq!(recent.get::<String>(&k), Some(("fourth".into(), 4, 40)));
    }

    #[test]
    fn a_forgotten_stream_is_absent() {
        let (recent, k) = (RecentStreams::default(), key());
        recent.keep(decided(k, "kept", 1), 1);
        recent.forget([k]);
        assert_eq!(recent.get::<String>(&k), None);
    }
}
