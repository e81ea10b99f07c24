//! The projection engine: reads the log in commit-safe order in batches, applies each batch
//! and moves the checkpoint in one transaction, records events it cannot apply, and wakes on
//! NOTIFY with a polling fallback. One runner per projection across processes: the
//! checkpoint row is locked (SKIP LOCKED) for the length of each batch.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use futures::future::BoxFuture;
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::{watch, Notify};
use uuid::Uuid;

/// One row of the `events` table as projections see it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub global_position: i64,
    pub tx_id: String,
    pub tenant_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The event's own fields (the stored `{"Type": {...}}` wrapper removed).
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

impl StoredEvent {
    /// Reads a row and lifts its payload to today's shape with the same upcasters the write
    /// side applies, so projections only ever see current event shapes.
    fn from_row(row: &PgRow, upcasters: &[Box<dyn EventUpcaster>]) -> Result<Self, sqlx::Error> {
        let mut stored = SerializedEvent::new(
            row.try_get("aggregate_id")?,
            row.try_get::<i64, _>("sequence")? as usize,
            row.try_get("aggregate_type")?,
            row.try_get("event_type")?,
            row.try_get("event_version")?,
            row.try_get("payload")?,
            row.try_get("metadata")?,
        );
        for upcaster in upcasters {
            if upcaster.can_upcast(&stored.event_type, &stored.event_version) {
                stored = upcaster.upcast(stored);
            }
        }
        let SerializedEvent {
            aggregate_id,
            sequence,
            aggregate_type,
            event_type,
            event_version,
            payload,
            metadata,
        } = stored;
        Ok(Self {
            global_position: row.try_get("global_position")?,
            tx_id: row.try_get("tx_text")?,
            tenant_id: row.try_get("tenant_id")?,
            aggregate_type,
            aggregate_id,
            sequence: sequence as i64,
            data: payload.get(&event_type).cloned().unwrap_or(payload),
            event_type,
            event_version,
            metadata,
            recorded_at: row.try_get("recorded_at")?,
        })
    }

    /// A UUID field of the event's data.
    pub fn uuid(&self, field: &str) -> Result<Uuid, sqlx::Error> {
        self.data
            .get(field)
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::try_parse(s).ok())
            .ok_or_else(|| {
                sqlx::Error::Protocol(format!("{} has no UUID {field}", self.event_type))
            })
    }

    pub fn text(&self, field: &str) -> Option<&str> {
        self.data.get(field).and_then(|v| v.as_str())
    }

    pub fn stream_uuid(&self) -> Result<Uuid, sqlx::Error> {
        Uuid::try_parse(&self.aggregate_id).map_err(|e| sqlx::Error::Protocol(e.to_string()))
    }
}

/// A read model: applies events to its tables inside the engine's transaction.
pub trait Projection: Send + Sync {
    fn name(&self) -> &'static str;
    /// The tables it writes (emptied and refilled by a rebuild).
    fn tables(&self) -> &'static [&'static str];
    /// The event types it reads; the engine does not fetch the others for it.
    fn event_types(&self) -> &'static [&'static str];
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
    /// Applies a batch in log order. Projections override this to turn runs of events into
    /// single statements; by default each event is applied in turn.
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            for event in events {
                self.apply(tx, event).await?;
            }
            Ok(())
        })
    }
}

/// Where a batch goes: the live tables and checkpoint, or a rebuild's.
#[derive(Clone, Copy)]
struct Target<'a> {
    checkpoint: &'a str,
    schema: Option<&'a str>,
}

impl<'a> Target<'a> {
    fn live(projection: &'a dyn Projection) -> Self {
        Self {
            checkpoint: projection.name(),
            schema: None,
        }
    }
}

pub struct Engine {
    pool: PgPool,
    projections: Vec<Arc<dyn Projection>>,
    batch_size: i64,
}

/// Events read per transaction.
pub const DEFAULT_BATCH: i64 = 500;
/// How often to look for events when no NOTIFY arrives.
const POLL: Duration = Duration::from_secs(1);

impl Engine {
    pub fn new(pool: PgPool, projections: Vec<Arc<dyn Projection>>) -> Self {
        Self {
            pool,
            projections,
            batch_size: DEFAULT_BATCH,
        }
    }

    pub fn with_batch_size(mut self, batch_size: i64) -> Self {
        self.batch_size = batch_size;
        self
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.projections.iter().map(|p| p.name()).collect()
    }

    /// Applies one batch of `projection`: the number of events it covered (0: nothing new),
    /// or `None` when another runner holds this projection right now.
    pub async fn step(&self, projection: &dyn Projection) -> Result<Option<usize>, sqlx::Error> {
        self.step_into(projection, Target::live(projection)).await
    }

    async fn step_into(
        &self,
        projection: &dyn Projection,
        target: Target<'_>,
    ) -> Result<Option<usize>, sqlx::Error> {
        sqlx::query("INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(target.checkpoint)
            .execute(&self.pool)
            .await?;
        match self.batch(projection, target, false).await {
            Ok(n) => Ok(n),
            Err(e) => {
                // Apply the batch again one event at a time, so a poisoned event is recorded
                // and skipped while the rest still apply. (A lost connection fails here too.)
                tracing::warn!(projection = projection.name(), error = %e, "batch failed; isolating the event");
                self.batch(projection, target, true).await
            }
        }
    }

    async fn batch(
        &self,
        projection: &dyn Projection,
        target: Target<'_>,
        isolate: bool,
    ) -> Result<Option<usize>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if let Some(schema) = target.schema {
            // The projection's unqualified table names now mean the rebuild's fresh tables.
            sqlx::query(&format!("SET LOCAL search_path TO {schema}, public"))
                .execute(&mut *tx)
                .await?;
        }
        let checkpoint: Option<(String, i64)> = sqlx::query_as(
            "SELECT last_tx::text, last_position FROM projection_checkpoints WHERE name = $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(target.checkpoint)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((last_tx, last_position)) = checkpoint else {
            return Ok(None);
        };
        // Only transactions older than every running one: a later-committing event with a
        // lower position cannot be overtaken. The horizon is fixed once, so the statements
        // below agree on what is finished even though each has its own snapshot.
        let horizon: String =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                .fetch_one(&mut *tx)
                .await?;
        let rows = sqlx::query(
            // `tx_text`, not `tx_id`: an output column named tx_id would make ORDER BY sort the
            // text ("1000" < "999"), skipping events and defeating the index.
            "SELECT global_position, tx_id::text AS tx_text, tenant_id, aggregate_type, aggregate_id, sequence,
                    event_type, event_version, payload, metadata, recorded_at
               FROM events
              WHERE (tx_id, global_position) > ($1::xid8, $2)
                AND tx_id < $3::xid8
                AND event_type = ANY($4)
              ORDER BY events.tx_id, events.global_position
              LIMIT $5",
        )
        .bind(&last_tx)
        .bind(last_position)
        .bind(&horizon)
        .bind(projection.event_types())
        .bind(self.batch_size)
        .fetch_all(&mut *tx)
        .await?;
        let end: Option<(String, i64)> = if rows.len() as i64 == self.batch_size {
            let last = rows.last().expect("a full batch");
            Some((last.try_get("tx_text")?, last.try_get("global_position")?))
        } else {
            // Caught up: move past the events of other types too.
            sqlx::query_as(
                "SELECT tx_id::text AS tx_text, global_position FROM events
                  WHERE (tx_id, global_position) > ($1::xid8, $2) AND tx_id < $3::xid8
                  ORDER BY events.tx_id DESC, events.global_position DESC LIMIT 1",
            )
            .bind(&last_tx)
            .bind(last_position)
            .bind(&horizon)
            .fetch_optional(&mut *tx)
            .await?
        };
        let Some((end_tx, end_position)) = end else {
            return Ok(Some(0));
        };
        let upcasters = aggregates::upcasting::upcasters();
        let events = rows
            .iter()
            .map(|row| StoredEvent::from_row(row, &upcasters))
            .collect::<Result<Vec<_>, _>>()?;
        if isolate {
            for event in &events {
                sqlx::query("SAVEPOINT one_event").execute(&mut *tx).await?;
                if let Err(e) = projection.apply(&mut tx, event).await {
                    sqlx::query("ROLLBACK TO SAVEPOINT one_event")
                        .execute(&mut *tx)
                        .await?;
                    tracing::error!(projection = projection.name(), position = event.global_position, error = %e, "event could not be projected");
                    metrics::counter!("projection_failures_total", "projection" => projection.name()).increment(1);
                    sqlx::query(
                        "INSERT INTO projection_failures (projection, global_position, event_type, error)
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(projection.name())
                    .bind(event.global_position)
                    .bind(&event.event_type)
                    .bind(e.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
            }
        } else {
            projection.apply_batch(&mut tx, &events).await?;
        }
        sqlx::query("UPDATE projection_checkpoints SET last_tx = $2::xid8, last_position = $3, updated_at = now() WHERE name = $1")
            .bind(target.checkpoint)
            .bind(&end_tx)
            .bind(end_position)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        metrics::gauge!("projection_position", "projection" => projection.name())
            .set(end_position as f64);
        // Counted as progress even when only other types' events were passed over.
        Ok(Some(events.len().max(1)))
    }

    /// Applies batches until `projection` has reached the commit horizon (every transaction
    /// older than the oldest still running); while another runner holds it, waits for that
    /// runner. A transaction left open anywhere in the cluster holds the horizon back.
    pub async fn catch_up(&self, projection: &dyn Projection) -> Result<usize, sqlx::Error> {
        let mut total = 0;
        loop {
            match self.step(projection).await? {
                Some(0) => return Ok(total),
                Some(n) => total += n,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Like `catch_up`, but gives up at once when another runner holds the projection (it
    /// will do the work): what the background loop wants.
    async fn catch_up_unless_held(&self, projection: &dyn Projection) -> Result<(), sqlx::Error> {
        while let Some(n) = self.step(projection).await? {
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Rebuilds `projection` from the first event into fresh tables, then swaps their
    /// contents in under the live checkpoint's lock, in one transaction: readers see the old
    /// rows until the commit and the new ones after it, and never wait.
    pub async fn rebuild(&self, projection: &dyn Projection) -> Result<usize, sqlx::Error> {
        let name = projection.name();
        let schema = format!(
            "rebuild_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let checkpoint = format!("{name}__rebuild");
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&self.pool)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&self.pool)
            .await?;
        for table in projection.tables() {
            sqlx::query(&format!(
                "CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"
            ))
            .execute(&self.pool)
            .await?;
        }
        sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
            .bind(&checkpoint)
            .execute(&self.pool)
            .await?;
        let target = Target {
            checkpoint: &checkpoint,
            schema: Some(&schema),
        };
        let mut applied = 0;
        loop {
            match self.step_into(projection, target).await? {
                Some(0) => break,
                Some(n) => applied += n,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }

        let mut tx = self.pool.begin().await?;
        // Holding the live checkpoint keeps the live runner out until the swap commits.
        sqlx::query("INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        for table in projection.tables() {
            sqlx::query(&format!("DELETE FROM public.{table}"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "INSERT INTO public.{table} SELECT * FROM {schema}.{table}"
            ))
            .execute(&mut *tx)
            .await?;
        }
        // The live runner carries on from where the rebuild stopped.
        sqlx::query(
            "UPDATE projection_checkpoints l SET last_tx = r.last_tx, last_position = r.last_position, updated_at = now()
               FROM projection_checkpoints r WHERE l.name = $1 AND r.name = $2",
        )
        .bind(name)
        .bind(&checkpoint)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
            .bind(&checkpoint)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&self.pool)
            .await?;
        Ok(applied)
    }

    /// Runs every projection until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(self.pool.clone(), wake.clone()));
        let engine = Arc::new(self);
        let mut runners = Vec::new();
        for projection in engine.projections.clone() {
            let (engine, wake, mut shutdown) = (engine.clone(), wake.clone(), shutdown.clone());
            runners.push(tokio::spawn(async move {
                loop {
                    if let Err(e) = engine.catch_up_unless_held(projection.as_ref()).await {
                        tracing::warn!(projection = projection.name(), error = %e, "projection paused; retrying");
                    }
                    tokio::select! {
                        () = wake.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }));
        }
        let _ = shutdown.changed().await;
        for runner in runners {
            let _ = runner.await;
        }
        listener.abort();
    }
}

async fn listen(pool: PgPool, wake: Arc<Notify>) {
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen("events_appended").await?;
            loop {
                listener.recv().await?;
                wake.notify_waiters();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        if let Err(e) = listening.await {
            tracing::debug!(error = %e, "event listener lost its connection; polling meanwhile");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether every projection named has applied the event at `position` (false if there is no
/// such event yet).
pub async fn includes(pool: &PgPool, names: &[&str], position: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) = cardinality($2::text[])
                AND COALESCE(bool_and((e.tx_id, e.global_position) <= (c.last_tx, c.last_position)), false)
           FROM events e CROSS JOIN projection_checkpoints c
          WHERE e.global_position = $1 AND c.name = ANY($2)",
    )
    .bind(position)
    .bind(names)
    .fetch_one(pool)
    .await
}

/// Where a projection stands, for operators and `/metrics`.
#[derive(Debug, Clone)]
pub struct ProjectionStatus {
    pub name: String,
    pub position: i64,
    /// Positions between the projection and the newest event in the log.
    pub lag: i64,
    pub failures: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn status(pool: &PgPool) -> Result<Vec<ProjectionStatus>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.name, c.last_position, c.updated_at,
                GREATEST((SELECT COALESCE(max(global_position), 0) FROM events) - c.last_position, 0) AS lag,
                (SELECT count(*) FROM projection_failures f WHERE f.projection = c.name) AS failures
           FROM projection_checkpoints c ORDER BY c.name",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ProjectionStatus {
                name: r.try_get("name")?,
                position: r.try_get("last_position")?,
                lag: r.try_get("lag")?,
                failures: r.try_get("failures")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .collect()
}
