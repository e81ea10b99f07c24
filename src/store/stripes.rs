//! In-process queues keyed by anything hashable: work on the same key waits its turn here
//! instead of racing (the store's streams, the login's typed names). A fixed set of async
//! mutexes; unrelated keys occasionally share one, which only costs a short wait.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 256;

#[derive(Clone)]
pub struct Stripes(Arc<Vec<Mutex<()>>>);

impl Default for Stripes {
    fn default() -> Self {
        Self(Arc::new((0..STRIPES).map(|_| Mutex::new(())).collect()))
    }
}

impl Stripes {
    /// Waits for the key's turn; the turn lasts as long as the guard.
    pub async fn queue<K: Hash + ?Sized>(&self, key: &K) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        self.0[hasher.finish() as usize % self.0.len()].lock().await
    }
}
