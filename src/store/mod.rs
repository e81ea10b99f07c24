//! The write side's event store: loads aggregates from the `events` table (tenant-scoped,
//! through `eventlog`) and commits a unit of work — events for one or more streams plus the
//! secret-side rows that go with them — in one transaction and one INSERT, with optimistic
//! concurrency; the units of concurrent commands commit together (`group_commit`).
//!
//! Why not postgres-es's `persist`: it writes one round trip per event, one stream per
//! transaction, returns no positions and reports every unique violation as the same
//! conflict. The table stays postgres-es-compatible (a test reads it with postgres-es).

mod commit;
mod group_commit;
pub mod idempotency;
mod recent;
mod side_writes;
pub mod stripes;
mod unit_of_work;

use std::time::Duration;

use futures::future::BoxFuture;
use rand::Rng;
use sqlx::PgPool;
use uuid::Uuid;

use crate::errors::service::ServiceError;
use crate::infra::coalesce::{generic_plan_pool, Coalesced};
use commit::CommitError;
use eventlog::queries::{StoredEvent, StreamKey};
use group_commit::GroupCommit;
pub use group_commit::DRAINERS as GROUP_COMMIT_DRAINERS;
use recent::RecentStreams;
pub use side_writes::{SideStatement, SideWrite};
use stripes::Stripes;
pub use unit_of_work::{CommandMeta, Keepable, Loaded, UnitOfWork};

/// The store answers in the service's own error (`errors`, the layer below): a refusal
/// is `ServiceError::Domain`, a cross-aggregate uniqueness rule a `Conflict`.
pub type StoreResult<T> = Result<T, ServiceError>;

/// A command's outcome: what it returns, and the global position of its last event (or of
/// the newest event it read, when it wrote nothing).
#[derive(Debug)]
pub struct Committed<T> {
    pub value: T,
    pub position: i64,
}

const MAX_ATTEMPTS: u32 = 12;

#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
    /// Commands on the same stream from this process queue here instead of racing each other
    /// into optimistic-concurrency retries; across processes the retries still decide.
    stripes: Stripes,
    /// Concurrent commands' units of work, committed together.
    group: GroupCommit,
    /// The pool coalesced lookups run on (generic plans; `infra::coalesce`).
    lookup_pool: PgPool,
    stream_reads: StreamReads,
    /// Streams this process wrote recently, as decided (`recent`); `None` only to measure
    /// what keeping them saves.
    recent: Option<RecentStreams>,
    /// Seal personal fields as events are written and open them as streams are loaded.
    keys: eventlog::DataKeys,
}

/// One-stream reads of concurrent commands, read in one statement (`infra::coalesce`):
/// each read still starts after its command asked, so a command never decides on a stream
/// older than its request.
pub type StreamReads = Coalesced<StreamKey, Vec<StoredEvent>>;

fn stream_reads(lookup_pool: PgPool) -> StreamReads {
    Coalesced::new(
        lookup_pool,
        std::sync::Arc::new(|pool: PgPool, keys: Vec<StreamKey>| {
            Box::pin(async move { eventlog::queries::read_streams(&pool, &keys).await })
        }),
    )
}

impl EventStore {
    pub fn new(pool: PgPool, keys: eventlog::DataKeys) -> Self {
        let lookup_pool = generic_plan_pool(&pool);
        Self {
            keys,
            group: GroupCommit::new(pool.clone()),
            stream_reads: stream_reads(lookup_pool.clone()),
            lookup_pool,
            pool,
            stripes: Stripes::default(),
            recent: Some(RecentStreams::default()),
        }
    }

    /// This store keeping no streams: every command reads what it decides on from the log.
    /// For measuring (the bench's `BENCH_NOTHING_KEPT`); a server always keeps them.
    pub fn keeping_nothing(mut self) -> Self {
        self.recent = None;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn keys(&self) -> &eventlog::DataKeys {
        &self.keys
    }

    /// The pool for coalesced lookups (generic plans), shared with the token lookups.
    pub fn lookup_pool(&self) -> &PgPool {
        &self.lookup_pool
    }

    /// Commands waiting for a drainer of the group commit (all of them busy writing).
    pub fn commits_waiting(&self) -> usize {
        self.group.waiting()
    }

    /// A unit of work for reading current state only (as stored: nothing kept is used);
    /// nothing it stages is ever committed.
    pub fn reader(&self, meta: &CommandMeta) -> UnitOfWork {
        self.unit_of_work(meta, false)
    }

    fn unit_of_work(&self, meta: &CommandMeta, use_recent: bool) -> UnitOfWork {
        UnitOfWork::new(
            self.pool.clone(),
            self.keys.clone(),
            self.stream_reads.clone(),
            self.recent.clone().filter(|_| use_recent),
            meta.clone(),
        )
    }

    /// Runs `work` (load, decide, stage) and commits what it staged; on a concurrency
    /// conflict runs it again on fresh state, a bounded number of times, then answers 409.
    pub async fn transact<T, E, F>(
        &self,
        meta: &CommandMeta,
        lock_key: Uuid,
        work: F,
    ) -> Result<Committed<T>, E>
    where
        E: From<ServiceError>,
        F: for<'u> Fn(&'u mut UnitOfWork) -> BoxFuture<'u, Result<T, E>>,
    {
        let _queued = self.stripes.queue(&lock_key).await;
        self.attempts(meta, work).await
    }

    /// `transact` for work that writes only to streams whose ids it just generated: no other
    /// command can know them yet, so there is nothing to queue behind (and holding a stripe
    /// across the commit would only hold up unrelated commands that share it).
    pub async fn transact_new_streams<T, E, F>(
        &self,
        meta: &CommandMeta,
        work: F,
    ) -> Result<Committed<T>, E>
    where
        E: From<ServiceError>,
        F: for<'u> Fn(&'u mut UnitOfWork) -> BoxFuture<'u, Result<T, E>>,
    {
        self.attempts(meta, work).await
    }

    /// After an erasure: the subjects' keys are forgotten at once in this process, and with
    /// them every stream of the firm kept in memory (their states hold the plaintext).
    pub fn forget_erased(&self, tenant: Uuid, subjects: &[Uuid]) {
        self.keys.forget(subjects);
        if let Some(recent) = &self.recent {
            recent.forget_tenant(tenant);
        }
    }

    fn forget(&self, streams: Vec<StreamKey>) {
        if let Some(recent) = &self.recent {
            recent.forget(streams);
        }
    }

    async fn attempts<T, E, F>(&self, meta: &CommandMeta, work: F) -> Result<Committed<T>, E>
    where
        E: From<ServiceError>,
        F: for<'u> Fn(&'u mut UnitOfWork) -> BoxFuture<'u, Result<T, E>>,
    {
        let mut use_recent = true;
        for attempt in 1..=MAX_ATTEMPTS {
            let mut uow = self.unit_of_work(meta, use_recent);
            let value = work(&mut uow).await;
            let touched = uow.touched_streams();
            // A decision resting on a kept stream that none of this unit's events will check
            // (a stream only read, a refusal): made again on what is stored (`recent`).
            if uow.decided_on_unwritten_recent() || (value.is_err() && uow.used_recent()) {
                metrics::counter!("command_recent_rereads_total", "command" => meta.command)
                    .increment(1);
                self.forget(touched);
                use_recent = false;
                continue;
            }
            let value = value?;
            match uow.commit(&self.group).await {
                Ok(position) => return Ok(Committed { value, position }),
                Err(CommitError::Conflict) => {
                    self.forget(touched);
                    metrics::counter!("command_conflicts_total", "command" => meta.command)
                        .increment(1);
                    tracing::debug!(
                        attempt,
                        command = meta.command,
                        "concurrent append; retrying"
                    );
                    let cap = 2u64.saturating_pow(attempt).min(100);
                    let pause = rand::thread_rng().gen_range(1..=cap);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(CommitError::Refused(e)) => return Err(e.into()),
                Err(CommitError::Sql(e)) => return Err(ServiceError::from(e).into()),
                Err(CommitError::OutcomeUnknown) => {
                    return Err(ServiceError::internal(anyhow::anyhow!(
                        "the server stopped while the command was committing"
                    ))
                    .into())
                }
            }
        }
        Err(ServiceError::Conflict {
            code: "concurrent_modification",
            detail: "the record kept changing while this command ran; try again".into(),
        }
        .into())
    }
}
