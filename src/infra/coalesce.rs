//! Coalesced lookups: keys asked for while a lookup is running wait for it to finish and
//! then go to PostgreSQL together, as one statement, the way `store::group_commit` writes
//! concurrent commands' events together. Every key's statement starts after the key was
//! asked for, so an answer is never older than its question (a token revoked before a
//! request arrived is never found valid for it); only the round trips are shared.
//!
//! A statement per request costs PostgreSQL far more than its rows: a backend wake-up, a
//! portal, an executor start and a reply (measured on this machine kind: a one-row lookup
//! by primary key ≈ 0.07 ms of PostgreSQL's time per statement, nearly all of it fixed).
//!
//! The lookups run on a pool of their own whose connections use generic plans: a statement
//! keyed by an array (`= ANY($1)`) otherwise gets a custom plan that knows the array's
//! length, looks cheaper than the generic one every time, and is planned afresh on every
//! execution; and they may plan only by key (`generic_plan_pool` says why).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use sqlx::PgPool;
use tokio::sync::oneshot;

/// Keys looked up in one statement at most.
const MOST_PER_LOOKUP: usize = 64;

/// Looks up a batch of distinct keys; keys with nothing found are left out of the map.
pub type Fetch<K, V> = Arc<
    dyn Fn(PgPool, Vec<K>) -> BoxFuture<'static, Result<HashMap<K, V>, sqlx::Error>> + Send + Sync,
>;

/// The answer a waiting key gets: its value, or word that its batch failed (the caller then
/// looks the key up alone, so that every caller sees its own error).
type Answer<V> = Result<Option<V>, BatchFailed>;

struct BatchFailed;

struct Queue<K, V> {
    waiting: Vec<(K, oneshot::Sender<Answer<V>>)>,
    running: bool,
}

/// Lookups of one kind, coalesced.
pub struct Coalesced<K, V> {
    pool: PgPool,
    fetch: Fetch<K, V>,
    queue: Arc<Mutex<Queue<K, V>>>,
}

impl<K, V> Clone for Coalesced<K, V> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            fetch: self.fetch.clone(),
            queue: self.queue.clone(),
        }
    }
}

impl<K, V> Coalesced<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Lookups by `fetch` on `pool` (see `generic_plan_pool`).
    pub fn new(pool: PgPool, fetch: Fetch<K, V>) -> Self {
        Self {
            pool,
            fetch,
            queue: Arc::new(Mutex::new(Queue {
                waiting: Vec::new(),
                running: false,
            })),
        }
    }

    /// Keys asked for and not yet taken into a lookup.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.queue.lock().expect("lookup queue").waiting.len()
    }

    /// The value of `key`, read by a statement that started after this call.
    pub async fn get(&self, key: K) -> Result<Option<V>, sqlx::Error> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().expect("lookup queue");
            queue.waiting.push((key.clone(), answer));
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            // A task of its own: a caller that goes away never strands its batch-mates.
            tokio::spawn(self.clone().drain());
        }
        match answered.await {
            Ok(Ok(value)) => Ok(value),
            // Its batch failed, or the runtime is shutting down: alone, for its own error.
            Ok(Err(BatchFailed)) | Err(_) => {
                let mut found = (self.fetch)(self.pool.clone(), vec![key.clone()]).await?;
                Ok(found.remove(&key))
            }
        }
    }

    /// Looks up what has queued, batch after batch, until nothing is waiting.
    async fn drain(self) {
        let mut slot = DrainerSlot {
            queue: self.queue.clone(),
            held: true,
        };
        loop {
            let batch = {
                let mut queue = self.queue.lock().expect("lookup queue");
                if queue.waiting.is_empty() {
                    // Under the lock: a key queued after this starts a new drainer.
                    queue.running = false;
                    slot.held = false;
                    return;
                }
                let n = queue.waiting.len().min(MOST_PER_LOOKUP);
                queue.waiting.drain(..n).collect::<Vec<_>>()
            };
            let mut keys: Vec<K> = Vec::with_capacity(batch.len());
            for (key, _) in &batch {
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
            match (self.fetch)(self.pool.clone(), keys).await {
                Ok(mut found) => {
                    // A key asked for twice gets a copy; the last asker takes the value.
                    let mut askers: HashMap<K, usize> = HashMap::new();
                    for (key, _) in &batch {
                        *askers.entry(key.clone()).or_default() += 1;
                    }
                    for (key, answer) in batch {
                        let left = askers.get_mut(&key).expect("counted");
                        *left -= 1;
                        let value = if *left == 0 {
                            found.remove(&key)
                        } else {
                            found.get(&key).cloned()
                        };
                        let _ = answer.send(Ok(value));
                    }
                }
                Err(_) => {
                    for (_, answer) in batch {
                        let _ = answer.send(Err(BatchFailed));
                    }
                }
            }
        }
    }
}

/// The drainer's place, given back however the drainer ends: should a lookup panic, the
/// next key starts a new drainer instead of queueing forever, and the keys waiting now are
/// answered (by dropping their senders) so that each looks itself up alone.
struct DrainerSlot<K, V> {
    queue: Arc<Mutex<Queue<K, V>>>,
    held: bool,
}

impl<K, V> Drop for DrainerSlot<K, V> {
    fn drop(&mut self) {
        if self.held {
            if let Ok(mut queue) = self.queue.lock() {
                queue.running = false;
                queue.waiting.clear();
            }
        }
    }
}

/// A small pool beside `pool`, on the same database, for key lookups only: its sessions
/// plan generically, and only by key.
///
/// A generic plan is made once per connection and kept until the table's statistics
/// change. Made while a table is small and not yet analysed (a new database; autovacuum
/// looks at it once a minute), it is a sequential scan or a hash join over the whole table —
/// and it stayed: a bench on a fresh cluster read the whole log for every rename (0.04 of
/// raw) until the first ANALYZE. Every statement on this pool looks rows up by a key with an
/// index, so its sessions may not scan a table whole nor join by hashing or merging: the
/// plan is a nested loop of index lookups whatever the statistics say.
pub fn generic_plan_pool(pool: &PgPool) -> PgPool {
    let options = pool.connect_options().as_ref().clone().options([
        ("plan_cache_mode", "force_generic_plan"),
        ("enable_seqscan", "off"),
        ("enable_hashjoin", "off"),
        ("enable_mergejoin", "off"),
    ]);
    super::pool::pool_options()
        .max_connections(4)
        .min_connections(0)
        .connect_lazy_with(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    /// The batches a lookup was asked for, in order.
    type Batches = Arc<Mutex<Vec<Vec<i64>>>>;

    /// Lookups that record their batches and wait for a permit each; a key is found as its
    /// double unless it is negative, and a batch holding 13 fails.
    fn gated() -> (Coalesced<i64, i64>, Batches, Arc<Semaphore>) {
        let (batches, gate) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(Semaphore::new(0)),
        );
        let (seen, permits) = (batches.clone(), gate.clone());
        let fetch: Fetch<i64, i64> = Arc::new(move |_pool, keys: Vec<i64>| {
            let (seen, permits) = (seen.clone(), permits.clone());
            Box::pin(async move {
                seen.lock().unwrap().push(keys.clone());
                permits.acquire().await.unwrap().forget();
                if keys.contains(&13) && keys.len() > 1 {
                    return Err(sqlx::Error::PoolTimedOut);
                }
                Ok(keys
                    .iter()
                    .filter(|k| **k >= 0)
                    .map(|k| (*k, k * 2))
                    .collect())
            })
        });
        let pool = PgPool::connect_lazy("postgres://localhost/unused").unwrap();
        (Coalesced::new(pool, fetch), batches, gate)
    }

    /// Starts a lookup of `key` and waits until its batch is being looked up.
    async fn running(
        lookups: &Coalesced<i64, i64>,
        batches: &Mutex<Vec<Vec<i64>>>,
        key: i64,
    ) -> Vec<tokio::task::JoinHandle<Result<Option<i64>, sqlx::Error>>> {
        let lookup = lookups.clone();
        let task = tokio::spawn(async move { lookup.get(key).await });
        while batches.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        vec![task]
    }

    /// Starts a lookup of each key and waits until all are queued behind the running one.
    async fn queue_behind(
        lookups: &Coalesced<i64, i64>,
        keys: &[i64],
    ) -> Vec<tokio::task::JoinHandle<Result<Option<i64>, sqlx::Error>>> {
        let tasks: Vec<_> = keys
            .iter()
            .map(|k| {
                let (lookups, k) = (lookups.clone(), *k);
                tokio::spawn(async move { lookups.get(k).await })
            })
            .collect();
        while lookups.waiting() < keys.len() {
            tokio::task::yield_now().await;
        }
        tasks
    }

    #[tokio::test]
    async fn keys_asked_for_during_a_lookup_are_looked_up_together_once_each() {
        let (lookups, batches, gate) = gated();
        let first = running(&lookups, &batches, 1).await;
        let rest = queue_behind(&lookups, &[2, 3, 2, -1]).await;
        gate.add_permits(2);
        let mut answers = Vec::new();
        for task in first.into_iter().chain(rest) {
            answers.push(task.await.unwrap().unwrap());
        }
        assert_eq!(answers, [Some(2), Some(4), Some(6), Some(4), None]);
        assert_eq!(*batches.lock().unwrap(), [vec![1], vec![2, 3, -1]]);
    }

    #[tokio::test]
    async fn a_lookup_that_panics_leaves_the_next_keys_looked_up() {
        let fetch: Fetch<i64, i64> = Arc::new(|_pool, keys: Vec<i64>| {
            Box::pin(async move {
                assert!(!keys.contains(&13), "a lookup that panics");
                Ok(keys.iter().map(|k| (*k, k * 2)).collect())
            })
        });
        let pool = PgPool::connect_lazy("postgres://localhost/unused").unwrap();
        let lookups = Coalesced::new(pool, fetch);
        // Its caller looked it up again alone, which panicked in the caller's own task.
        let panicked = tokio::spawn({
            let lookups = lookups.clone();
            async move { lookups.get(13).await }
        });
        assert!(panicked.await.is_err());
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), lookups.get(4));
        assert_eq!(next.await.expect("not stuck").unwrap(), Some(8));
    }

    #[tokio::test]
    async fn a_failed_lookup_is_repeated_alone_for_each_key() {
        let (lookups, batches, gate) = gated();
        let first = running(&lookups, &batches, 1).await;
        let rest = queue_behind(&lookups, &[13, 5]).await;
        gate.add_permits(4);
        let mut answers = Vec::new();
        for task in first.into_iter().chain(rest) {
            answers.push(task.await.unwrap().unwrap());
        }
        assert_eq!(answers, [Some(2), Some(26), Some(10)]);
        let mut alone: Vec<Vec<i64>> = batches.lock().unwrap()[2..].to_vec();
        alone.sort();
        assert_eq!(alone, [vec![5], vec![13]]);
    }
}
