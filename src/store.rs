//! The write side's event store: loads aggregates from the `events` table (tenant-scoped)
//! and commits a unit of work — events for one or more streams plus the secret-side rows
//! that go with them — in one transaction and one INSERT, with optimistic concurrency.
//!
//! Why not postgres-es's `persist`: it writes one round trip per event, one stream per
//! transaction, returns no positions and reports every unique violation as the same
//! conflict. The table stays postgres-es-compatible (a test reads it with postgres-es).

use std::collections::HashMap;
use std::time::Duration;

use aggregates::DomainError;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use futures::future::BoxFuture;
use rand::Rng;
use serde_json::Value;
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::stripes::Stripes;

/// Who asked for a change, and from where: stored as each event's metadata.
#[derive(Debug, Clone)]
pub struct CommandMeta {
    pub tenant_id: Uuid,
    /// `staff_token:<id>`, `portal_user:<id>`, `operator` or `system`.
    pub actor: String,
    pub request_id: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The command's name as the product says it (InviteClient, DisableLogin, …).
    pub command: &'static str,
}

impl CommandMeta {
    pub fn with_command(&self, command: &'static str) -> Self {
        Self {
            command,
            ..self.clone()
        }
    }

    fn to_json(&self) -> Value {
        serde_json::json!({
            "tenant_id": self.tenant_id,
            "actor": self.actor,
            "request_id": self.request_id,
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            "command": self.command,
        })
    }
}

/// An aggregate as loaded for a command, with how many of its events are already stored.
pub struct Loaded<A: Aggregate> {
    pub id: Uuid,
    pub state: A,
    stored: usize,
    staged: usize,
}

impl<A: Aggregate> Loaded<A> {
    pub fn exists(&self) -> bool {
        self.stored + self.staged > 0
    }
}

/// Turns a stored payload into a domain event, lifting old payload shapes first.
pub fn decode_event<A: Aggregate>(
    aggregate_id: &str,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
    upcasters: &[Box<dyn EventUpcaster>],
) -> AppResult<A::Event> {
    let mut serialized = SerializedEvent::new(
        aggregate_id.to_string(),
        sequence as usize,
        A::TYPE.to_string(),
        event_type,
        event_version,
        payload,
        Value::Null,
    );
    for upcaster in upcasters {
        if upcaster.can_upcast(&serialized.event_type, &serialized.event_version) {
            serialized = upcaster.upcast(serialized);
        }
    }
    serde_json::from_value(serialized.payload).map_err(|e| {
        AppError::internal(anyhow::anyhow!(
            "stored {} event {aggregate_id}#{sequence} does not deserialize: {e}",
            A::TYPE
        ))
    })
}

/// An aggregate's state from its events given as a JSON array of
/// `[sequence, event_type, event_version, payload]` (as `json_agg` builds them), for reads
/// that fetch a stream inside a larger query.
pub fn replay_json<A: Aggregate>(aggregate_id: &str, events: Value) -> AppResult<A> {
    let upcasters = aggregates::upcasting::upcasters();
    let mut state = A::default();
    let rows: Vec<(i64, String, String, Value)> =
        serde_json::from_value(events).map_err(AppError::internal)?;
    for (sequence, event_type, event_version, payload) in rows {
        state.apply(decode_event::<A>(
            aggregate_id,
            sequence,
            event_type,
            event_version,
            payload,
            &upcasters,
        )?);
    }
    Ok(state)
}

/// Rows that must commit or fail together with the events (secrets and lookups).
#[derive(Debug)]
pub enum SideWrite {
    Credential {
        portal_user_id: Uuid,
        password_hash: String,
    },
    ItemImage {
        item_id: Uuid,
        sha256: String,
        png: Vec<u8>,
    },
    Tenant {
        id: Uuid,
        slug: String,
        name: String,
    },
    StaffToken {
        id: Uuid,
        role: &'static str,
        label: Option<String>,
        token_hash: Vec<u8>,
    },
    /// Ends a portal user's open sessions with the change that makes them invalid (disable,
    /// removal, a new password), so no request is served on the old footing after commit.
    EndSessions {
        portal_user_id: Uuid,
        reason: &'static str,
    },
    /// A new password or a removed login also lifts a login lockout.
    ClearLoginThrottle { portal_user_id: Uuid },
}

struct StagedEvent {
    aggregate_type: &'static str,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
}

/// The events and side rows one command produces, committed atomically.
pub struct UnitOfWork {
    pool: PgPool,
    meta: CommandMeta,
    events: Vec<StagedEvent>,
    side_writes: Vec<SideWrite>,
    /// Highest position among the events loaded: the answer when nothing new is written.
    seen_position: i64,
}

impl UnitOfWork {
    pub fn meta(&self) -> &CommandMeta {
        &self.meta
    }

    /// A stream that is known to be new (its id was just generated): nothing to read.
    pub fn new_stream<A: Aggregate>(&self, id: Uuid) -> Loaded<A> {
        Loaded {
            id,
            state: A::default(),
            stored: 0,
            staged: 0,
        }
    }

    pub async fn load<A: Aggregate>(&mut self, id: Uuid) -> AppResult<Loaded<A>> {
        Ok(self
            .load_many::<A>(&[id])
            .await?
            .pop()
            .expect("one stream per id"))
    }

    /// Loads several streams of one type in one query; ids of other tenants load empty.
    pub async fn load_many<A: Aggregate>(&mut self, ids: &[Uuid]) -> AppResult<Vec<Loaded<A>>> {
        let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let rows = sqlx::query(
            "SELECT aggregate_id, sequence, event_type, event_version, payload, metadata, global_position
               FROM events
              WHERE aggregate_type = $1 AND aggregate_id = ANY($2) AND tenant_id = $3
              ORDER BY aggregate_id, sequence",
        )
        .bind(A::TYPE)
        .bind(&keys)
        .bind(self.meta.tenant_id)
        .fetch_all(&self.pool)
        .await?;

        let mut by_id: HashMap<String, Loaded<A>> = HashMap::new();
        let upcasters = aggregates::upcasting::upcasters();
        for row in rows {
            let aggregate_id: String = row.try_get("aggregate_id")?;
            let sequence: i64 = row.try_get("sequence")?;
            let position: i64 = row.try_get("global_position")?;
            let event: A::Event = decode_event::<A>(
                &aggregate_id,
                sequence,
                row.try_get("event_type")?,
                row.try_get("event_version")?,
                row.try_get("payload")?,
                &upcasters,
            )?;
            let id = Uuid::parse_str(&aggregate_id).map_err(AppError::internal)?;
            let loaded = by_id
                .entry(aggregate_id)
                .or_insert_with(|| self.new_stream::<A>(id));
            loaded.state.apply(event);
            loaded.stored = sequence as usize;
            self.seen_position = self.seen_position.max(position);
        }
        Ok(ids
            .iter()
            .map(|id| {
                by_id
                    .remove(&id.to_string())
                    .unwrap_or_else(|| self.new_stream(*id))
            })
            .collect())
    }

    /// Runs a command against a loaded aggregate and stages the events it emits.
    pub async fn execute<A>(&mut self, target: &mut Loaded<A>, command: A::Command) -> AppResult<()>
    where
        A: Aggregate<Services = (), Error = DomainError>,
    {
        let sink = EventSink::default();
        target.state.handle(command, &(), &sink).await?;
        for event in sink.collect().await {
            target.staged += 1;
            let payload = serde_json::to_value(&event).map_err(AppError::internal)?;
            self.events.push(StagedEvent {
                aggregate_type: A::TYPE,
                aggregate_id: target.id.to_string(),
                sequence: (target.stored + target.staged) as i64,
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload,
            });
        }
        Ok(())
    }

    pub fn side_write(&mut self, write: SideWrite) {
        self.side_writes.push(write);
    }

    pub fn staged_events(&self) -> usize {
        self.events.len()
    }

    async fn commit(self) -> Result<i64, CommitError> {
        if self.events.is_empty() && self.side_writes.is_empty() {
            return Ok(self.seen_position);
        }
        let mut tx = self.pool.begin().await.map_err(CommitError::Sql)?;
        let mut position = self.seen_position;
        if !self.events.is_empty() {
            let metadata = self.meta.to_json();
            let n = self.events.len();
            let mut types = Vec::with_capacity(n);
            let mut ids = Vec::with_capacity(n);
            let mut seqs = Vec::with_capacity(n);
            let mut event_types = Vec::with_capacity(n);
            let mut versions = Vec::with_capacity(n);
            let mut payloads = Vec::with_capacity(n);
            for e in self.events {
                types.push(e.aggregate_type);
                ids.push(e.aggregate_id);
                seqs.push(e.sequence);
                event_types.push(e.event_type);
                versions.push(e.event_version);
                payloads.push(e.payload);
            }
            let metadatas = vec![metadata; n];
            let positions: Vec<i64> = sqlx::query_scalar(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
                 RETURNING global_position",
            )
            .bind(&types)
            .bind(&ids)
            .bind(&seqs)
            .bind(&event_types)
            .bind(&versions)
            .bind(&payloads)
            .bind(&metadatas)
            .fetch_all(&mut *tx)
            .await
            .map_err(CommitError::from_insert)?;
            position = positions.into_iter().max().unwrap_or(position);
        }
        for write in &self.side_writes {
            apply_side_write(&mut tx, self.meta.tenant_id, write)
                .await
                .map_err(CommitError::from_insert)?;
        }
        tx.commit().await.map_err(CommitError::Sql)?;
        Ok(position)
    }
}

async fn apply_side_write(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    write: &SideWrite,
) -> Result<(), sqlx::Error> {
    match write {
        SideWrite::Credential {
            portal_user_id,
            password_hash,
        } => {
            sqlx::query(
                "INSERT INTO portal_credentials (tenant_id, portal_user_id, password_hash)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, portal_user_id)
                 DO UPDATE SET password_hash = EXCLUDED.password_hash, changed_at = now()",
            )
            .bind(tenant_id)
            .bind(portal_user_id)
            .bind(password_hash)
            .execute(&mut **tx)
            .await?;
        }
        SideWrite::ItemImage {
            item_id,
            sha256,
            png,
        } => {
            sqlx::query(
                "INSERT INTO item_images (tenant_id, item_id, sha256, png) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, item_id)
                 DO UPDATE SET sha256 = EXCLUDED.sha256, png = EXCLUDED.png, updated_at = now()",
            )
            .bind(tenant_id)
            .bind(item_id)
            .bind(sha256)
            .bind(png)
            .execute(&mut **tx)
            .await?;
        }
        SideWrite::Tenant { id, slug, name } => {
            sqlx::query("INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(slug)
                .bind(name)
                .execute(&mut **tx)
                .await?;
        }
        SideWrite::StaffToken {
            id,
            role,
            label,
            token_hash,
        } => {
            sqlx::query(
                "INSERT INTO staff_tokens (id, tenant_id, role, label, token_hash) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(tenant_id)
            .bind(role)
            .bind(label)
            .bind(token_hash)
            .execute(&mut **tx)
            .await?;
        }
        SideWrite::EndSessions {
            portal_user_id,
            reason,
        } => {
            sqlx::query(
                "UPDATE portal_sessions SET ended_at = now(), end_reason = $3
                  WHERE tenant_id = $1 AND portal_user_id = $2 AND ended_at IS NULL",
            )
            .bind(tenant_id)
            .bind(portal_user_id)
            .bind(reason)
            .execute(&mut **tx)
            .await?;
        }
        SideWrite::ClearLoginThrottle { portal_user_id } => {
            sqlx::query(
                "DELETE FROM portal_login_throttle WHERE tenant_id = $1 AND portal_user_id = $2",
            )
            .bind(tenant_id)
            .bind(portal_user_id)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

enum CommitError {
    /// Another writer appended to one of our streams first: reload and try again.
    Conflict,
    /// A uniqueness rule spanning aggregates refused the command.
    Refused(AppError),
    Sql(sqlx::Error),
}

impl CommitError {
    fn from_insert(e: sqlx::Error) -> Self {
        let constraint = match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                db.constraint().map(str::to_owned)
            }
            _ => None,
        };
        match constraint.as_deref() {
            Some("events_pkey") => Self::Conflict,
            Some("events_username_unique") => Self::Refused(DomainError::UsernameTaken.into()),
            Some("events_sku_unique") => Self::Refused(DomainError::SkuTaken.into()),
            Some("tenants_slug_key") => Self::Refused(AppError::Conflict {
                code: "tenant_slug_taken",
                detail: "a tenant with this slug already exists".into(),
            }),
            _ => Self::Sql(e),
        }
    }
}

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
}

impl EventStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            stripes: Stripes::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A unit of work for reading current state only; nothing it stages is ever committed.
    pub fn reader(&self, meta: &CommandMeta) -> UnitOfWork {
        self.unit_of_work(meta)
    }

    fn unit_of_work(&self, meta: &CommandMeta) -> UnitOfWork {
        UnitOfWork {
            pool: self.pool.clone(),
            meta: meta.clone(),
            events: Vec::new(),
            side_writes: Vec::new(),
            seen_position: 0,
        }
    }

    /// Runs `work` (load, decide, stage) and commits what it staged; on a concurrency
    /// conflict runs it again on fresh state, a bounded number of times, then answers 409.
    pub async fn transact<T, F>(
        &self,
        meta: &CommandMeta,
        lock_key: Uuid,
        work: F,
    ) -> AppResult<Committed<T>>
    where
        F: for<'u> Fn(&'u mut UnitOfWork) -> BoxFuture<'u, AppResult<T>>,
    {
        let _queued = self.stripes.queue(&lock_key).await;

        for attempt in 1..=MAX_ATTEMPTS {
            let mut uow = self.unit_of_work(meta);
            let value = work(&mut uow).await?;
            match uow.commit().await {
                Ok(position) => return Ok(Committed { value, position }),
                Err(CommitError::Conflict) => {
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
                Err(CommitError::Refused(e)) => return Err(e),
                Err(CommitError::Sql(e)) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict {
            code: "concurrent_modification",
            detail: "the record kept changing while this command ran; try again".into(),
        })
    }
}
