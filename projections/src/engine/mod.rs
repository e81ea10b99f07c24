//! The projection engine: reads the log in commit-safe order in batches, applies each batch
//! and moves the checkpoint in one transaction, records events it cannot apply, and wakes
//! when this process appends (`eventlog::wake`), polling for other processes' writes. One runner per projection across processes: the
//! checkpoint row is locked (SKIP LOCKED) for the length of each batch.

use std::sync::Arc;
use std::time::Duration;

use eventlog::{statements, DataKeys, Envelope, LogError};
use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::watch;

mod rebuild;

pub use rebuild::REBUILD_LOCK_SQL;
mod status;

pub use status::{includes, status, ProjectionStatus};

/// Why a projection could not apply an event: the database, or an event it cannot read.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Log(#[from] LogError),
    /// An event of a batch that does not decode (the batch is then applied event by event).
    #[error("{0}")]
    Decoding(String),
    /// Another process is rebuilding the same read models.
    #[error("a rebuild of {0} is already running")]
    RebuildRunning(String),
}

impl From<eventlog::DecodeError> for ProjectionError {
    fn from(e: eventlog::DecodeError) -> Self {
        Self::Log(e.into())
    }
}

/// A read model: applies events to its tables inside the engine's transaction.
pub trait Projection: Send + Sync {
    fn name(&self) -> &'static str;
    /// The tables it writes (emptied and refilled by a rebuild).
    fn tables(&self) -> &'static [&'static str];
    /// The event types it reads (from the domain's event kinds, see `event_names!`); the
    /// engine does not fetch the others for it.
    fn event_types(&self) -> Vec<&'static str>;
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), ProjectionError>>;
    /// Applies a batch in log order. Projections override this to turn runs of events into
    /// single statements; by default each event is applied in turn.
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [&'a Envelope],
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            for event in events {
                self.apply(tx, event).await?;
            }
            Ok(())
        })
    }
}

/// The parts of a [`Projection`] every one spells alike: its name, the tables it writes,
/// the event kinds it reads, and `apply` handing one event to the module's own
/// `async fn apply(tx, event)` — and, given `batch: f`, `apply_batch` handing a batch to
/// `async fn f(tx, events)`.
#[macro_export]
macro_rules! projection_basics {
    (@names $name:expr, tables: [$($table:literal),* $(,)?], events: [$($kind:expr),* $(,)?]) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn tables(&self) -> &'static [&'static str] {
            &[$($table),*]
        }

        fn event_types(&self) -> Vec<&'static str> {
            aggregates::event_names![$($kind),*]
        }
    };
    // `apply` and `apply_batch` handing on to the module's functions, `$first` (`self,` for
    // a projection with state of its own) before the transaction. `self` is passed in so
    // that the receiver and its use come from one expansion (macro hygiene).
    (@apply $self:tt [$($first:tt)*]) => {
        fn apply<'a>(
            &'a $self,
            tx: &'a mut sqlx::PgConnection,
            event: &'a eventlog::Envelope,
        ) -> futures::future::BoxFuture<'a, Result<(), $crate::ProjectionError>> {
            Box::pin(apply($($first)* tx, event))
        }
    };
    (@batch $self:tt $batch:ident [$($first:tt)*]) => {
        fn apply_batch<'a>(
            &'a $self,
            tx: &'a mut sqlx::PgConnection,
            events: &'a [&'a eventlog::Envelope],
        ) -> futures::future::BoxFuture<'a, Result<(), $crate::ProjectionError>> {
            Box::pin($batch($($first)* tx, events))
        }
    };
    // A projection with state of its own (e.g. the keys to open personal fields with): its
    // `apply(self, tx, event)` and batch function take it first.
    ($name:expr, tables: $tables:tt, events: $events:tt, batch_with_self: $batch:ident $(,)?) => {
        $crate::projection_basics!(@names $name, tables: $tables, events: $events);
        $crate::projection_basics!(@apply self [self,]);
        $crate::projection_basics!(@batch self $batch [self,]);
    };
    ($name:expr, tables: $tables:tt, events: $events:tt $(,)?) => {
        $crate::projection_basics!(@names $name, tables: $tables, events: $events);
        $crate::projection_basics!(@apply self []);
    };
    ($name:expr, tables: $tables:tt, events: $events:tt, batch: $batch:ident $(,)?) => {
        $crate::projection_basics!(@names $name, tables: $tables, events: $events);
        $crate::projection_basics!(@apply self []);
        $crate::projection_basics!(@batch self $batch []);
    };
}

/// A batch split into runs of events of one kind, in log order: what a projection may
/// apply as one statement each.
pub fn runs<'a>(events: &'a [&'a Envelope]) -> impl Iterator<Item = Run<'a>> {
    events
        .chunk_by(|a, b| a.event.kind() == b.event.kind())
        .map(|events| Run { events })
}

/// Consecutive events of one kind.
pub struct Run<'a> {
    pub events: &'a [&'a Envelope],
}

impl Run<'_> {
    /// More than one event, of `kind`: worth a statement of its own.
    pub fn is_many(&self, kind: impl Into<aggregates::events::EventKind>) -> bool {
        self.events.len() > 1 && self.events[0].event.kind() == kind.into()
    }
}

/// A runner's place in the log, claimed for one transaction.
pub struct Claimed {
    pub last_tx: String,
    pub last_position: i64,
    /// Only transactions older than this (every running one) may be read: a
    /// later-committing event with a lower position cannot be overtaken.
    pub horizon: String,
}

/// Locks the checkpoint row `name` for the transaction (`None`: another runner holds it)
/// and fixes the commit horizon once, so the batch's statements agree on what is finished
/// even though each has its own snapshot. Shared by the projections and the audit sealer.
/// One statement: the horizon is the snapshot of the statement that takes the lock (it may
/// only be older, never newer, than one taken after it — older only stops a batch sooner).
///
/// A batch's reads of the log are planned afresh each time (PostgreSQL's custom plans:
/// their ranges look narrower than a generic plan's). Forcing generic plans saved that
/// planning, but a generic plan made while the log was small and unanalysed (a new
/// database) would be a scan of the whole log kept until the first ANALYZE; the planning
/// is the cheaper risk (see `runtime::coalesce::generic_plan_pool` for what it did to the
/// stream reads).
pub async fn claim(tx: &mut PgConnection, name: &str) -> Result<Option<Claimed>, sqlx::Error> {
    let checkpoint: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT last_tx::text, last_position, pg_snapshot_xmin(pg_current_snapshot())::text
           FROM projection_checkpoints WHERE name = $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(checkpoint.map(|(last_tx, last_position, horizon)| Claimed {
        last_tx,
        last_position,
        horizon,
    }))
}

/// Begins a runner's batch transaction, committed without waiting for the WAL flush.
///
/// What a runner writes — read-model rows, seal links, its checkpoint — is derived from
/// events that are already durable, and goes in one transaction with the checkpoint: a
/// crash that loses the last such commits (at most `wal_writer_delay` × 3, 600 ms by
/// default) leaves the checkpoint where the lost batch began, and the runner derives the
/// same rows again (the seal links too: they are a function of the events). A waited
/// flush per batch bought nothing but turns on the disk that every command commit shares
/// (docs/decisions.md, record 24). Others see the commit at once either way: only the
/// durability is later. One round trip: the `SET LOCAL` rides with `BEGIN`.
pub async fn begin_derived(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off")
        .await
}

/// Creates a runner's checkpoint row (at the start of the log) if it has none yet.
async fn ensure_checkpoint(pool: &PgPool, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(name)
        .execute(pool)
        .await
        .map(drop)
}

/// What one batch did.
#[derive(Debug, Clone, Copy)]
struct Progress {
    /// Events covered (at least 1 when the checkpoint moved, 0 when nothing was new).
    covered: usize,
    /// The batch was full: more may be waiting below the horizon.
    full: bool,
}

pub struct Engine {
    pool: PgPool,
    /// Opens the personal fields of the events read.
    keys: DataKeys,
    projections: Vec<Arc<dyn Projection>>,
    batch_size: i64,
    rebuild_batch_size: i64,
}

/// Events read per transaction.
pub const DEFAULT_BATCH: i64 = 500;
/// Events read per transaction of a rebuild: nobody waits on its fresh tables, so fewer,
/// larger transactions (a batch's commit and checkpoint write are its fixed cost; 5,000
/// events of the bench log are about 2.5 MB in memory).
pub const REBUILD_BATCH: i64 = 5_000;
/// How often to look for events written by other processes (this process's writes wake
/// the runners at once: `eventlog::wake`).
const POLL: Duration = Duration::from_millis(250);

impl Engine {
    pub fn new(pool: PgPool, keys: DataKeys, projections: Vec<Arc<dyn Projection>>) -> Self {
        Self {
            pool,
            keys,
            projections,
            batch_size: DEFAULT_BATCH,
            rebuild_batch_size: REBUILD_BATCH,
        }
    }

    /// Events per transaction, live and rebuilding alike.
    pub fn with_batch_size(mut self, batch_size: i64) -> Self {
        self.batch_size = batch_size;
        self.rebuild_batch_size = batch_size;
        self
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.projections.iter().map(|p| p.name()).collect()
    }

    /// Applies one batch of `projection`: the number of events it covered (0: nothing new),
    /// or `None` when another runner holds this projection right now.
    pub async fn step(
        &self,
        projection: &dyn Projection,
    ) -> Result<Option<usize>, ProjectionError> {
        ensure_checkpoint(&self.pool, projection.name()).await?;
        Ok(self.batch_or_isolate(projection).await?.map(|p| p.covered))
    }

    /// A batch; when it fails, the same events again one at a time.
    async fn batch_or_isolate(
        &self,
        projection: &dyn Projection,
    ) -> Result<Option<Progress>, ProjectionError> {
        match self.batch(projection, false).await {
            Ok(n) => Ok(n),
            Err(e) => {
                // Apply the batch again one event at a time, so a poisoned event is recorded
                // and skipped while the rest still apply. (A lost connection fails here too.)
                tracing::warn!(projection = projection.name(), error = %e, "batch failed; isolating the event");
                self.batch(projection, true).await
            }
        }
    }

    async fn batch(
        &self,
        projection: &dyn Projection,
        isolate: bool,
    ) -> Result<Option<Progress>, ProjectionError> {
        let batch_size = self.batch_size;
        let mut tx = begin_derived(&self.pool).await?;
        let Some(Claimed {
            last_tx,
            last_position,
            horizon,
        }) = claim(&mut tx, projection.name()).await?
        else {
            return Ok(None);
        };
        let rows = sqlx::query(&statements::PROJECTION_BATCH_SQL)
            .bind(&last_tx)
            .bind(last_position)
            .bind(&horizon)
            .bind(projection.event_types())
            .bind(batch_size)
            .fetch_all(&mut *tx)
            .await?;
        let end: Option<(String, i64)> = if rows.len() as i64 == batch_size {
            let last = rows.last().expect("a full batch");
            Some((last.try_get("tx_text")?, last.try_get("global_position")?))
        } else {
            // Caught up: move past the events of other types too.
            sqlx::query_as(statements::LAST_BEFORE_HORIZON_SQL)
                .bind(&last_tx)
                .bind(last_position)
                .bind(&horizon)
                .fetch_optional(&mut *tx)
                .await?
        };
        let Some((end_tx, end_position)) = end else {
            return Ok(Some(Progress {
                covered: 0,
                full: false,
            }));
        };
        let decoded = decode(&self.keys, &rows).await?;
        let count = decoded.len();
        let full = count as i64 == batch_size;
        if isolate {
            apply_one_by_one(&mut tx, projection, &decoded).await?;
        } else {
            let events = decoded
                .iter()
                .map(|(_, event)| event.as_ref())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ProjectionError::Decoding(e.to_string()))?;
            projection.apply_batch(&mut tx, &events).await?;
        }
        sqlx::query("UPDATE projection_checkpoints SET last_tx = $2::xid8, last_position = $3, updated_at = now() WHERE name = $1")
            .bind(projection.name())
            .bind(&end_tx)
            .bind(end_position)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        metrics::gauge!("projection_position", "projection" => projection.name())
            .set(end_position as f64);
        Ok(Some(Progress {
            // Counted as progress even when only other types' events were passed over.
            covered: count.max(1),
            full,
        }))
    }

    /// Applies batches until `projection` has reached the commit horizon (every transaction
    /// older than the oldest still running); while another runner holds it, waits for that
    /// runner. A transaction left open anywhere in the cluster holds the horizon back.
    pub async fn catch_up(&self, projection: &dyn Projection) -> Result<usize, ProjectionError> {
        let mut total = 0;
        loop {
            match self.step(projection).await? {
                Some(0) => return Ok(total),
                Some(n) => total += n,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// The background loop's turn: batches until one ends below the batch size (it reached
    /// the commit horizon); gives up at once when another runner holds the projection (it
    /// will do the work). Appends committed meanwhile wake the loop again (`wake`), so no
    /// extra round is spent asking whether anything came in.
    async fn catch_up_unless_held(
        &self,
        projection: &dyn Projection,
    ) -> Result<(), ProjectionError> {
        while let Some(Progress { full: true, .. }) = self.batch_or_isolate(projection).await? {}
        Ok(())
    }

    /// Runs every projection until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let engine = Arc::new(self);
        let mut runners = Vec::new();
        for projection in engine.projections.clone() {
            let (engine, mut shutdown) = (engine.clone(), shutdown.clone());
            let mut appended = eventlog::wake::subscribe();
            runners.push(tokio::spawn(async move {
                let (mut ensured, mut pacing) = (false, eventlog::wake::Pacing::default());
                loop {
                    tokio::select! {
                        () = pacing.round() => {}
                        _ = shutdown.changed() => return,
                    }
                    appended.seen();
                    let turn = async {
                        if !ensured {
                            ensure_checkpoint(&engine.pool, projection.name()).await?;
                            ensured = true;
                        }
                        engine.catch_up_unless_held(projection.as_ref()).await
                    };
                    if let Err(e) = turn.await {
                        tracing::warn!(projection = projection.name(), error = %e, "projection paused; retrying");
                    }
                    tokio::select! {
                        () = appended.next() => {}
                        () = tokio::time::sleep(POLL) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }));
        }
        for runner in runners {
            let _ = runner.await;
        }
    }
}

/// Applies a batch's events one at a time, each behind a savepoint: an event that does not
/// decode or apply is recorded in `projection_failures` and skipped; the rest apply.
async fn apply_one_by_one<'a>(
    tx: &mut PgConnection,
    projection: &dyn Projection,
    decoded: impl IntoIterator<Item = &'a Decoded>,
) -> Result<(), ProjectionError> {
    for ((position, event_type), event) in decoded {
        sqlx::query("SAVEPOINT one_event").execute(&mut *tx).await?;
        let applied = match event {
            Ok(event) => projection.apply(tx, event).await,
            Err(e) => Err(ProjectionError::Decoding(e.to_string())),
        };
        if let Err(e) = applied {
            sqlx::query("ROLLBACK TO SAVEPOINT one_event")
                .execute(&mut *tx)
                .await?;
            tracing::error!(projection = projection.name(), position, error = %e, "event could not be projected");
            metrics::counter!("projection_failures_total", "projection" => projection.name())
                .increment(1);
            sqlx::query(
                "INSERT INTO projection_failures (projection, global_position, event_type, error)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(projection.name())
            .bind(position)
            .bind(event_type)
            .bind(e.to_string())
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

/// A row of a batch: its place (position, event type) and its event, or why it does not
/// decode (a row that does not decode is a poisoned event like one that does not apply).
type Decoded = ((i64, String), Result<Envelope, LogError>);

/// A batch's rows, decoded.
async fn decode(
    keys: &DataKeys,
    rows: &[sqlx::postgres::PgRow],
) -> Result<Vec<Decoded>, ProjectionError> {
    let events = Envelope::each_of_rows(keys, rows).await?;
    Ok(rows
        .iter()
        .zip(events)
        .map(|(row, event)| {
            let place = (row.try_get("global_position")?, row.try_get("event_type")?);
            Ok((place, event))
        })
        .collect::<Result<_, sqlx::Error>>()?)
}
