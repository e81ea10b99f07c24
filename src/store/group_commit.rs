//! Group commit: the units of work of commands running at the same time are written
//! together — one INSERT for all their events, one commit — so that sixteen commands in
//! flight cost PostgreSQL one statement and one WAL flush, not sixteen of each (measured:
//! the INSERT's fixed cost is ≈ 55 µs of PostgreSQL's time, a row ≈ 8 µs).
//!
//! Nothing waits to gather a batch: a unit goes into a queue, and a few drainer tasks take
//! whatever has queued up while they were writing. Under no load a batch is one unit and
//! costs what a unit alone always did, less the BEGIN and COMMIT round trips when it has
//! only events and the data keys they are sealed under (one statement is its own
//! transaction).
//!
//! Each command's outcome is its own: when a batch fails (a concurrent append to a stream,
//! a username taken, a lost connection), its units are written again one by one and each
//! answered with what happened to it alone. The drainers are spawned tasks, so a command
//! whose caller goes away mid-commit never takes its batch-mates' outcome with it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::commit::CommitError;
use super::side_writes::SideWrite;
use eventlog::FreshKey;

/// An event decided on and not yet written.
pub(super) struct StagedEvent {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
}

/// What one command writes: its events with their metadata, and the rows beside them.
pub(super) struct Write {
    pub tenant_id: Uuid,
    pub metadata: Value,
    pub events: Vec<StagedEvent>,
    /// Keys of data subjects new with these events, stored by the statement appending them.
    pub fresh_keys: Vec<FreshKey>,
    pub side_writes: Vec<Box<dyn SideWrite>>,
    /// The answer when it writes no event: the newest position it read.
    pub seen_position: i64,
}

/// Drainers writing at once. One: with two or four, batches stayed small and commands
/// slower (decisions.md, record 4); a second drainer measured again on a noisy host was
/// within the noise of one.
pub const DRAINERS: usize = 1;
/// Units per batch at most (bounds one statement's size and one failure's redo).
const MOST_PER_BATCH: usize = 64;

struct Job {
    write: Write,
    answer: oneshot::Sender<Result<i64, CommitError>>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    drainers: usize,
}

/// The queue of units waiting to be committed, shared by the event store's clones.
#[derive(Clone)]
pub(super) struct GroupCommit {
    pool: PgPool,
    queue: Arc<Mutex<Queue>>,
}

impl GroupCommit {
    pub(super) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            queue: Arc::default(),
        }
    }

    /// Units queued and not yet taken by a drainer.
    pub(super) fn waiting(&self) -> usize {
        self.queue.lock().expect("commit queue").jobs.len()
    }

    /// Commits `write` with whatever else is committing now: the position of its last event.
    pub(super) async fn commit(&self, write: Write) -> Result<i64, CommitError> {
        let (answer, answered) = oneshot::channel();
        let start_drainer = {
            let mut queue = self.queue.lock().expect("commit queue");
            queue.jobs.push_back(Job { write, answer });
            let start = queue.drainers < DRAINERS;
            if start {
                queue.drainers += 1;
            }
            start
        };
        if start_drainer {
            tokio::spawn(self.clone().drain());
        }
        // Dropped unanswered only when the runtime shuts down under the drainer.
        answered.await.unwrap_or(Err(CommitError::OutcomeUnknown))
    }

    /// Writes batches until the queue is empty.
    async fn drain(self) {
        let mut slot = DrainerSlot {
            queue: self.queue.clone(),
            held: true,
        };
        loop {
            let batch: Vec<Job> = {
                let mut queue = self.queue.lock().expect("commit queue");
                if queue.jobs.is_empty() {
                    // Under the lock: a unit queued after this sees one drainer fewer and
                    // starts its own.
                    queue.drainers -= 1;
                    slot.held = false;
                    return;
                }
                let n = queue.jobs.len().min(MOST_PER_BATCH);
                queue.jobs.drain(..n).collect()
            };
            self.write_batch(batch).await;
        }
    }

    async fn write_batch(&self, batch: Vec<Job>) {
        metrics::histogram!("command_commit_batch_units").record(batch.len() as f64);
        let writes: Vec<&Write> = batch.iter().map(|job| &job.write).collect();
        match write_together(&self.pool, &writes).await {
            Ok(positions) => {
                if writes.iter().any(|w| !w.events.is_empty()) {
                    eventlog::wake::notify_appended();
                }
                for (job, position) in batch.into_iter().zip(positions) {
                    let _ = job.answer.send(Ok(position));
                }
            }
            Err(e) if batch.len() == 1 => {
                let job = batch.into_iter().next().expect("one unit");
                let _ = job.answer.send(Err(e));
            }
            Err(_) => {
                // One of them could not be written (or the connection failed): each alone,
                // so each gets its own outcome.
                metrics::counter!("command_commit_batches_split_total").increment(1);
                for job in batch {
                    let alone = write_together(&self.pool, &[&job.write]).await;
                    if alone.is_ok() && !job.write.events.is_empty() {
                        eventlog::wake::notify_appended();
                    }
                    let _ = job.answer.send(alone.map(|positions| positions[0]));
                }
            }
        }
    }
}

/// Gives the drainer's place back if its task ends without emptying the queue (a runtime
/// shutting down drops it mid-batch), so later units start a drainer of their own.
struct DrainerSlot {
    queue: Arc<Mutex<Queue>>,
    held: bool,
}

impl Drop for DrainerSlot {
    fn drop(&mut self) {
        if self.held {
            if let Ok(mut queue) = self.queue.lock() {
                queue.drainers -= 1;
            }
        }
    }
}

/// Writes `writes` in one transaction: the position each one answers with.
async fn write_together(pool: &PgPool, writes: &[&Write]) -> Result<Vec<i64>, CommitError> {
    let stored = if writes.iter().all(|w| w.side_writes.is_empty()) {
        // One statement (events and their fresh keys) is a transaction of its own: no BEGIN
        // and COMMIT round trips.
        let mut conn = pool.acquire().await.map_err(CommitError::Sql)?;
        insert_events(&mut conn, writes).await?
    } else {
        let mut tx = pool.begin().await.map_err(CommitError::Sql)?;
        let stored = write_rows(&mut tx, writes).await?;
        tx.commit().await.map_err(CommitError::Sql)?;
        stored
    };
    Ok(positions(writes, &stored))
}

/// Appends the writes' events and writes their side rows, inside `tx`.
pub(super) async fn write_rows(
    tx: &mut Transaction<'static, Postgres>,
    writes: &[&Write],
) -> Result<Vec<Stored>, CommitError> {
    let stored = insert_events(tx, writes).await?;
    for write in writes {
        for side_write in &write.side_writes {
            side_write
                .statement(write.tenant_id)
                .execute(&mut **tx)
                .await
                .map_err(CommitError::from_insert)?;
        }
    }
    Ok(stored)
}

/// Each write's answer: the position of its newest stored event (or, writing none, the
/// newest it read).
pub(super) fn positions(writes: &[&Write], stored: &[Stored]) -> Vec<i64> {
    let mut owner: HashMap<(&str, &str, i64), usize> = HashMap::new();
    for (i, write) in writes.iter().enumerate() {
        for e in &write.events {
            owner.insert((e.aggregate_type, e.aggregate_id.as_str(), e.sequence), i);
        }
    }
    let mut positions: Vec<i64> = writes.iter().map(|w| w.seen_position).collect();
    for (aggregate_type, aggregate_id, sequence, position) in stored {
        if let Some(&i) = owner.get(&(aggregate_type.as_str(), aggregate_id.as_str(), *sequence)) {
            positions[i] = positions[i].max(*position);
        }
    }
    positions
}

/// A stored event: its stream, sequence and global position.
pub(super) type Stored = (String, String, i64, i64);

/// Appends every event of `writes` in one statement (none when there are none).
async fn insert_events(
    conn: &mut PgConnection,
    writes: &[&Write],
) -> Result<Vec<Stored>, CommitError> {
    let n = writes.iter().map(|w| w.events.len()).sum();
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut types = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut event_types = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut metadatas = Vec::with_capacity(n);
    for write in writes {
        for e in &write.events {
            types.push(e.aggregate_type);
            ids.push(e.aggregate_id.as_str());
            seqs.push(e.sequence);
            event_types.push(e.event_type.as_str());
            versions.push(e.event_version.as_str());
            payloads.push(&e.payload);
            metadatas.push(&write.metadata);
        }
    }
    let mut key_subjects = Vec::new();
    let mut key_tenants = Vec::new();
    let mut key_wrapped = Vec::new();
    let mut key_masters = Vec::new();
    for write in writes {
        for key in &write.fresh_keys {
            let (subject, wrapped, master_key_id) = key.row();
            key_subjects.push(subject);
            key_tenants.push(write.tenant_id);
            key_wrapped.push(wrapped);
            key_masters.push(master_key_id);
        }
    }
    let statement = if key_subjects.is_empty() {
        eventlog::statements::APPEND_SQL
    } else {
        eventlog::statements::APPEND_WITH_KEYS_SQL
    };
    let mut query = sqlx::query_as(statement)
        .bind(&types)
        .bind(&ids)
        .bind(&seqs)
        .bind(&event_types)
        .bind(&versions)
        .bind(&payloads)
        .bind(&metadatas);
    if !key_subjects.is_empty() {
        query = query
            .bind(&key_subjects)
            .bind(&key_tenants)
            .bind(&key_wrapped)
            .bind(&key_masters);
    }
    query
        .fetch_all(&mut *conn)
        .await
        .map_err(CommitError::from_insert)
}
