//! Rebuilding read models from the first event into fresh tables, swapped in while the API
//! keeps serving the old rows. One pass over the log feeds every read model rebuilt, and
//! the next batch is read and decoded while the last one is applied.

use std::collections::HashSet;

use eventlog::{statements, DataKeys, Envelope};
use sqlx::{Connection, PgConnection, PgPool, Row};
use tokio::sync::mpsc;

use super::{
    apply_one_by_one, begin_derived, decode, Decoded, Engine, Projection, ProjectionError,
};

/// Batches read ahead of the one being applied: one is enough to keep the reader and the
/// writer busy at once; more would only hold memory.
const READ_AHEAD: usize = 1;

/// Takes the advisory lock `rebuild:<name>` of each read model named in `$1`; true when
/// every one was free. Operators see a running rebuild's locks in `pg_locks`.
pub const REBUILD_LOCK_SQL: &str =
    "SELECT bool_and(pg_try_advisory_lock(hashtextextended('rebuild:' || name, 0)))
       FROM UNNEST($1::text[]) AS name";

/// What a rebuild writes: per read model a schema of fresh tables and a checkpoint.
struct Plan<'a> {
    chosen: Vec<&'a dyn Projection>,
    schemas: Vec<String>,
    checkpoints: Vec<String>,
    /// Per read model, the event types it reads.
    reads: Vec<HashSet<&'static str>>,
}

impl<'a> Plan<'a> {
    fn new(chosen: &[&'a dyn Projection]) -> Self {
        let schemas = chosen
            .iter()
            .map(|p| {
                let safe = p.name().replace(|c: char| !c.is_ascii_alphanumeric(), "_");
                format!("rebuild_{safe}")
            })
            .collect();
        Self {
            chosen: chosen.to_vec(),
            schemas,
            checkpoints: chosen
                .iter()
                .map(|p| format!("{}__rebuild", p.name()))
                .collect(),
            reads: chosen
                .iter()
                .map(|p| p.event_types().into_iter().collect())
                .collect(),
        }
    }

    /// Every type any of the read models reads: what the one pass fetches.
    fn event_types(&self) -> Vec<&'static str> {
        let all: HashSet<&'static str> = self.reads.iter().flatten().copied().collect();
        all.into_iter().collect()
    }
}

/// A run of the log read ahead: the events after `from` up to and including `end`.
struct Batch {
    from: (String, i64),
    end: (String, i64),
    events: Vec<Decoded>,
}

impl Engine {
    /// Rebuilds `chosen` from the first event into fresh tables, then swaps their contents
    /// in under the live checkpoints' locks, in one transaction: readers see the old rows
    /// until the commit and the new ones after it, and never wait. Returns the events read.
    pub async fn rebuild(&self, chosen: &[&dyn Projection]) -> Result<usize, ProjectionError> {
        let plan = Plan::new(chosen);
        // Held by a connection of its own until the rebuild ends (closing it frees the
        // locks, also when this returns early): one rebuild of a read model at a time.
        let mut running = self.pool.acquire().await?.detach();
        let names: Vec<&str> = plan.chosen.iter().map(|p| p.name()).collect();
        let free: bool = sqlx::query_scalar(REBUILD_LOCK_SQL)
            .bind(&names)
            .fetch_one(&mut running)
            .await?;
        if !free {
            return Err(ProjectionError::RebuildRunning(names.join(", ")));
        }
        let start = self.prepare(&plan).await?;
        let (sender, mut batches) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(read_ahead(
            self.pool.clone(),
            self.keys.clone(),
            plan.event_types(),
            self.rebuild_batch_size,
            start,
            sender,
        ));
        let mut read = 0;
        while let Some(batch) = batches.recv().await {
            let batch = batch?;
            read += batch.events.len();
            if let Err(e) = self.apply_rebuilt(&plan, &batch, false).await {
                // Again one event at a time, so a poisoned event is recorded and skipped.
                tracing::warn!(error = %e, "rebuild batch failed; isolating the event");
                self.apply_rebuilt(&plan, &batch, true).await?;
            }
        }
        reader.await.expect("the rebuild's reader does not panic");
        self.swap(&plan).await?;
        running.close().await?;
        Ok(read)
    }

    /// Fresh, empty tables and checkpoints at the start of the log; returns that start.
    async fn prepare(&self, plan: &Plan<'_>) -> Result<(String, i64), ProjectionError> {
        for (projection, schema) in plan.chosen.iter().zip(&plan.schemas) {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&self.pool)
                .await?;
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&self.pool)
                .await?;
            // Unlogged: the fresh tables are scratch until the swap copies them (logged) into
            // the live ones, and a crash mid-rebuild means a rebuild from the start anyway.
            for table in projection.tables() {
                sqlx::query(&format!(
                    "CREATE UNLOGGED TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"
                ))
                .execute(&self.pool)
                .await?;
            }
        }
        sqlx::query("DELETE FROM projection_checkpoints WHERE name = ANY($1)")
            .bind(&plan.checkpoints)
            .execute(&self.pool)
            .await?;
        let starts: Vec<(String, i64)> = sqlx::query_as(
            "INSERT INTO projection_checkpoints (name) SELECT UNNEST($1::text[])
             RETURNING last_tx::text, last_position",
        )
        .bind(&plan.checkpoints)
        .fetch_all(&self.pool)
        .await?;
        Ok(starts.into_iter().next().unwrap_or(("0".into(), 0)))
    }

    /// Applies one batch to every read model rebuilt and moves their checkpoints, in one
    /// transaction; `isolate` applies it event by event behind savepoints.
    async fn apply_rebuilt(
        &self,
        plan: &Plan<'_>,
        batch: &Batch,
        isolate: bool,
    ) -> Result<(), ProjectionError> {
        let mut tx = begin_derived(&self.pool).await?;
        match apply_in(&mut tx, plan, batch, isolate).await {
            Ok(()) => Ok(tx.commit().await?),
            Err(e) => {
                // Rolled back here, not on drop: a dropped transaction's rollback waits for
                // its connection's next use, and until then its row locks would make the
                // retry's checkpoint claim skip the rows ("already running").
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    /// Swaps the fresh tables in and hands each live runner the rebuild's place.
    async fn swap(&self, plan: &Plan<'_>) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        let live: Vec<&str> = plan.chosen.iter().map(|p| p.name()).collect();
        // Holding the live checkpoints keeps the live runners out until the swap commits.
        sqlx::query(
            "INSERT INTO projection_checkpoints (name) SELECT UNNEST($1::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(&live)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT 1 FROM projection_checkpoints WHERE name = ANY($1) FOR UPDATE")
            .bind(&live)
            .execute(&mut *tx)
            .await?;
        for (projection, schema) in plan.chosen.iter().zip(&plan.schemas) {
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
        }
        // The live runners carry on from where the rebuild stopped.
        sqlx::query(
            "UPDATE projection_checkpoints l SET last_tx = r.last_tx, last_position = r.last_position, updated_at = now()
               FROM projection_checkpoints r
              WHERE l.name = ANY($1) AND r.name = l.name || '__rebuild'",
        )
        .bind(&live)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM projection_checkpoints WHERE name = ANY($1)")
            .bind(&plan.checkpoints)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for schema in &plan.schemas {
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

/// `Engine::apply_rebuilt`'s work inside its transaction.
async fn apply_in(
    tx: &mut PgConnection,
    plan: &Plan<'_>,
    batch: &Batch,
    isolate: bool,
) -> Result<(), ProjectionError> {
    // The read models' unqualified table names now mean the rebuild's fresh tables.
    sqlx::query(&format!(
        "SET LOCAL search_path TO {}, public",
        plan.schemas.join(", ")
    ))
    .execute(&mut *tx)
    .await?;
    let held: Vec<(String, i64)> = sqlx::query_as(
        "SELECT last_tx::text, last_position FROM projection_checkpoints
          WHERE name = ANY($1) FOR UPDATE SKIP LOCKED",
    )
    .bind(&plan.checkpoints)
    .fetch_all(&mut *tx)
    .await?;
    if held.len() != plan.checkpoints.len() || held.iter().any(|h| *h != batch.from) {
        let names: Vec<&str> = plan.chosen.iter().map(|p| p.name()).collect();
        return Err(ProjectionError::RebuildRunning(names.join(", ")));
    }
    for (projection, reads) in plan.chosen.iter().zip(&plan.reads) {
        let mine = batch
            .events
            .iter()
            .filter(|((_, event_type), _)| reads.contains(event_type.as_str()));
        if isolate {
            apply_one_by_one(tx, *projection, mine).await?;
        } else {
            let events = mine
                .map(|(_, event)| event.as_ref())
                .collect::<Result<Vec<&Envelope>, _>>()
                .map_err(|e| ProjectionError::Decoding(e.to_string()))?;
            projection.apply_batch(tx, &events).await?;
        }
    }
    sqlx::query(
        "UPDATE projection_checkpoints SET last_tx = $2::xid8, last_position = $3, updated_at = now()
          WHERE name = ANY($1)",
    )
    .bind(&plan.checkpoints)
    .bind(&batch.end.0)
    .bind(batch.end.1)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Reads the log from `from` in batches of `size` events of `types`, each decoded, until a
/// batch reaches the commit horizon (every transaction older than the oldest running).
/// Runs beside the writer, on its own connection: each read fixes its horizon first (an
/// older horizon only ends a batch sooner), so batches follow one another exactly as one
/// runner's would.
async fn read_ahead(
    pool: PgPool,
    keys: DataKeys,
    types: Vec<&'static str>,
    size: i64,
    mut from: (String, i64),
    batches: mpsc::Sender<Result<Batch, ProjectionError>>,
) {
    loop {
        let read = read_batch(&pool, &keys, &types, size, &from).await;
        let (next, full) = match read {
            Ok(Some((batch, full))) => (batch, full),
            Ok(None) => return,
            Err(e) => {
                let _ = batches.send(Err(e)).await;
                return;
            }
        };
        from = next.end.clone();
        // A closed channel: the writer failed and has stopped.
        if batches.send(Ok(next)).await.is_err() || !full {
            return;
        }
    }
}

/// One batch after `from` and whether it was full; `None` when nothing lies past `from`.
async fn read_batch(
    pool: &PgPool,
    keys: &DataKeys,
    types: &[&'static str],
    size: i64,
    from: &(String, i64),
) -> Result<Option<(Batch, bool)>, ProjectionError> {
    let horizon: String =
        sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
            .fetch_one(pool)
            .await?;
    let rows = sqlx::query(&statements::PROJECTION_BATCH_SQL)
        .bind(&from.0)
        .bind(from.1)
        .bind(&horizon)
        .bind(types)
        .bind(size)
        .fetch_all(pool)
        .await?;
    let full = rows.len() as i64 == size;
    let end: Option<(String, i64)> = match rows.last() {
        Some(last) if full => Some((last.try_get("tx_text")?, last.try_get("global_position")?)),
        // Caught up: move past the events of other types too.
        _ => {
            sqlx::query_as(statements::LAST_BEFORE_HORIZON_SQL)
                .bind(&from.0)
                .bind(from.1)
                .bind(&horizon)
                .fetch_optional(pool)
                .await?
        }
    };
    let Some(end) = end else {
        return Ok(None);
    };
    let events = decode(keys, &rows).await?;
    Ok(Some((
        Batch {
            from: from.clone(),
            end,
            events,
        },
        full,
    )))
}
