//! A unit of work: the streams one command loads, the events the domain decides on and the
//! side rows that go with them, committed in one transaction and one INSERT.

use std::collections::HashMap;

use aggregates::ids::TenantId;
use aggregates::personal::DataSubject;
use aggregates::DomainError;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use eventlog::{Actor, ActorKind, DataKeys, FreshKey, SealError};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::commit::CommitError;
use super::group_commit::{positions, write_rows, GroupCommit, StagedEvent, Write};
use super::idempotency::{self, Claim, KeyStep};
use super::recent::{Decided, RecentStreams};
use super::side_writes::SideWrite;
use super::{StoreResult, StreamReads};
use crate::errors::service::ServiceError;
use eventlog::queries::{StoredEvent, StreamKey};

/// Who asked for a change, and from where: stored as each event's metadata.
#[derive(Debug, Clone)]
pub struct CommandMeta {
    pub tenant_id: Uuid,
    /// The person or process behind the command, named as they are now.
    pub actor: Actor,
    /// The staff token the request came with, if any.
    pub via_token: Option<Uuid>,
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
            "via_token": self.via_token,
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

/// What a stream needs to be kept between commands (`recent`) and written (whose personal
/// data it holds); every aggregate has it.
pub trait Keepable:
    Aggregate + DataSubject + Clone + PartialEq + std::fmt::Debug + 'static
{
}
impl<A: Aggregate + DataSubject + Clone + PartialEq + std::fmt::Debug + 'static> Keepable for A {}

/// The events and side rows one command produces, committed atomically.
pub struct UnitOfWork {
    pool: PgPool,
    keys: DataKeys,
    /// One-stream reads, read together with those of concurrent commands.
    stream_reads: StreamReads,
    /// Streams this process wrote recently; `None` when this unit must read what is stored.
    recent: Option<RecentStreams>,
    /// Streams loaded from `recent`: each must be written by this unit, or it runs again.
    from_recent: Vec<StreamKey>,
    /// The state each stream written by this unit is left in, to keep once committed.
    decided: HashMap<StreamKey, Decided>,
    meta: CommandMeta,
    events: Vec<StagedEvent>,
    side_writes: Vec<Box<dyn SideWrite>>,
    /// Highest position among the events loaded: the answer when nothing new is written.
    seen_position: i64,
    /// The data subject of the first event staged that has one: whose key seals where a
    /// visitor without a login came from (`seal_metadata`).
    first_subject: Option<Uuid>,
    /// Keys of the subjects this unit creates, stored by the statement appending its events.
    fresh_keys: HashMap<Uuid, FreshKey>,
}

impl UnitOfWork {
    pub(super) fn new(
        pool: PgPool,
        keys: DataKeys,
        stream_reads: StreamReads,
        recent: Option<RecentStreams>,
        meta: CommandMeta,
    ) -> Self {
        Self {
            pool,
            keys,
            stream_reads,
            recent,
            from_recent: Vec::new(),
            decided: HashMap::new(),
            meta,
            events: Vec::new(),
            side_writes: Vec::new(),
            seen_position: 0,
            first_subject: None,
            fresh_keys: HashMap::new(),
        }
    }

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

    pub async fn load<A: Keepable>(&mut self, id: Uuid) -> StoreResult<Loaded<A>> {
        Ok(self
            .load_many::<A>(&[id])
            .await?
            .pop()
            .expect("one stream per id"))
    }

    /// Loads several streams of one type in one query; ids of other tenants load empty.
    pub async fn load_many<A: Keepable>(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Loaded<A>>> {
        if let [id] = ids {
            let key = self.key::<A>(*id);
            if let Some((state, stored, position)) =
                self.recent.as_ref().and_then(|r| r.get::<A>(&key))
            {
                metrics::counter!("command_stream_loads_total", "from" => "kept").increment(1);
                #[cfg(debug_assertions)]
                self.check_kept(&key, &state, stored).await?;
                self.from_recent.push(key);
                self.seen_position = self.seen_position.max(position);
                return Ok(vec![Loaded {
                    id: *id,
                    state,
                    stored,
                    staged: 0,
                }]);
            }
        }
        metrics::counter!("command_stream_loads_total", "from" => "log")
            .increment(ids.len() as u64);
        self.load_stored(ids).await
    }

    /// `load_many` from the log.
    async fn load_stored<A: Keepable>(&mut self, ids: &[Uuid]) -> StoreResult<Vec<Loaded<A>>> {
        let tenant = TenantId::from_uuid(self.meta.tenant_id);
        let stored = match ids {
            [id] => {
                let mut events = self
                    .stream_reads
                    .get(self.key::<A>(*id))
                    .await?
                    .unwrap_or_default();
                StoredEvent::open_all(&self.keys, &mut events).await?;
                events
                    .into_iter()
                    .map(StoredEvent::decode::<A>)
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => eventlog::queries::load_streams::<A>(&self.pool, &self.keys, tenant, ids).await?,
        };
        let mut by_id: HashMap<Uuid, Loaded<A>> = HashMap::new();
        for e in stored {
            let loaded = by_id
                .entry(e.stream_id)
                .or_insert_with(|| self.new_stream::<A>(e.stream_id));
            loaded.state.apply(e.event);
            loaded.stored = e.sequence as usize;
            self.seen_position = self.seen_position.max(e.global_position);
        }
        Ok(ids
            .iter()
            .map(|id| by_id.remove(id).unwrap_or_else(|| self.new_stream(*id)))
            .collect())
    }

    /// Debug builds (every test) check each kept state they use against the log: when no
    /// event was appended since it was kept, it must equal the state the log gives (it can
    /// only differ through a command whose state and events disagree).
    #[cfg(debug_assertions)]
    async fn check_kept<A: Keepable>(
        &mut self,
        key: &StreamKey,
        kept: &A,
        stored: usize,
    ) -> StoreResult<()> {
        let saw = self.seen_position;
        let fresh = self.load_stored::<A>(&[key.id]).await?.pop();
        self.seen_position = saw;
        if let Some(fresh) = fresh.filter(|f| f.stored == stored) {
            assert_eq!(
                &fresh.state, kept,
                "a kept state of {key:?} differs from its events"
            );
        }
        Ok(())
    }

    fn key<A: Aggregate>(&self, id: Uuid) -> StreamKey {
        StreamKey {
            tenant: self.meta.tenant_id,
            stream_type: A::TYPE,
            id,
        }
    }

    /// Whether this unit decided on a stream taken from `recent` that it does not write: no
    /// sequence check covers such a stream, so the unit must run again on what is stored.
    pub(super) fn decided_on_unwritten_recent(&self) -> bool {
        self.from_recent
            .iter()
            .any(|key| !self.decided.contains_key(key))
    }

    /// Whether anything this unit decided rests on a stream taken from `recent`.
    pub(super) fn used_recent(&self) -> bool {
        !self.from_recent.is_empty()
    }

    /// The streams this unit took from `recent` or wrote: forgotten after a conflict.
    pub(super) fn touched_streams(&self) -> Vec<StreamKey> {
        self.from_recent
            .iter()
            .chain(self.decided.keys())
            .copied()
            .collect()
    }

    /// Runs a command against a loaded aggregate and stages the events it emits.
    pub async fn execute<A>(
        &mut self,
        target: &mut Loaded<A>,
        command: A::Command,
    ) -> StoreResult<()>
    where
        A: Keepable + Aggregate<Services = (), Error = DomainError>,
    {
        let sink = EventSink::default();
        // The sink applies each event to the state as the command writes it.
        target
            .state
            .handle(command, &(), &sink)
            .await
            .map_err(ServiceError::Domain)?;
        let events = sink.collect().await;
        if !events.is_empty() && self.recent.is_some() {
            let key = self.key::<A>(target.id);
            let stored = target.stored + target.staged + events.len();
            let state = Box::new(target.state.clone());
            self.decided.insert(key, Decided { key, state, stored });
        }
        let subject = target.state.data_subject(target.id);
        // A stream this unit creates that is its own data subject (a new client, a new
        // login) gets its key here, stored by this unit's transaction.
        if subject == Some(target.id) && target.stored + target.staged == 0 {
            self.fresh_key(target.id);
        }
        for event in events {
            target.staged += 1;
            let mut payload = serde_json::to_value(&event).map_err(ServiceError::internal)?;
            if let Some(subject) = subject {
                let fresh = self.fresh_keys.get(&subject);
                self.keys
                    .seal_payload(self.meta.tenant_id, subject, fresh, &mut payload)
                    .await
                    .map_err(refused_if_erased)?;
                self.first_subject.get_or_insert(subject);
            }
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

    /// Makes `subject`'s key, to be stored with this unit's events (once per unit).
    fn fresh_key(&mut self, subject: Uuid) {
        if !self.fresh_keys.contains_key(&subject) {
            self.fresh_keys.insert(subject, self.keys.fresh(subject));
        }
    }

    /// A row to write in this unit's transaction (see `SideWrite`).
    pub fn side_write(&mut self, write: impl SideWrite) {
        self.side_writes.push(Box::new(write));
    }

    pub fn staged_events(&self) -> usize {
        self.events.len()
    }

    /// Commits what was staged: with other commands' units (group commit), or — for a
    /// request with an `Idempotency-Key`, whose transaction is held open for its response —
    /// alone.
    pub(super) async fn commit(self, group: &GroupCommit) -> Result<i64, CommitError> {
        if self.events.is_empty() && self.side_writes.is_empty() {
            return Ok(self.seen_position);
        }
        let key = idempotency::before_commit()
            .await
            .map_err(CommitError::Sql)?;
        let decided: Vec<Decided> = self.decided.into_values().collect();
        let mut metadata = self.meta.to_json();
        if let Some(subject) = visitor_subject(&self.meta.actor, self.first_subject) {
            let fresh = self.fresh_keys.get(&subject);
            self.keys
                .seal_metadata(self.meta.tenant_id, subject, fresh, &mut metadata)
                .await
                .map_err(|e| CommitError::Refused(refused_if_erased(e)))?;
        }
        let write = Write {
            tenant_id: self.meta.tenant_id,
            metadata,
            events: self.events,
            fresh_keys: self.fresh_keys.values().cloned().collect(),
            side_writes: self.side_writes,
            seen_position: self.seen_position,
        };
        match key {
            KeyStep::None => {
                let position = group.commit(write).await?;
                if let Some(recent) = &self.recent {
                    recent.keep(decided, position);
                }
                self.fresh_keys.values().for_each(|k| self.keys.remember(k));
                Ok(position)
            }
            KeyStep::Claim(claim) => {
                // Held open for the response, this transaction may yet roll back: nothing of
                // it is kept, and what was kept of its streams is now behind.
                if let Some(recent) = &self.recent {
                    recent.forget(decided.iter().map(|d| d.key));
                }
                commit_claimed(&self.pool, write, &claim).await
            }
        }
    }
}

/// Whose key seals where a change came from: the login's own when a portal login made it,
/// the data subject written about when a visitor without a login did (accepting an
/// invitation, asking for a reset link); none for staff, operators and the system.
fn visitor_subject(actor: &Actor, first_subject: Option<Uuid>) -> Option<Uuid> {
    match actor.kind {
        ActorKind::PortalUser => actor.id.or(first_subject),
        _ => None,
    }
}

fn refused_if_erased(e: SealError) -> ServiceError {
    match e {
        SealError::Erased => ServiceError::Domain(DomainError::ClientErased),
        SealError::Sql(e) => e.into(),
    }
}

/// A request's first commit with its `Idempotency-Key`: the key's row first (a duplicate
/// waits on it), then the events and side rows; the transaction is then held for the
/// response (`idempotency::hold`).
async fn commit_claimed(pool: &PgPool, write: Write, claim: &Claim) -> Result<i64, CommitError> {
    let mut tx = pool.begin().await.map_err(CommitError::Sql)?;
    if !idempotency::write_key(&mut tx, claim)
        .await
        .map_err(CommitError::Sql)?
    {
        return Err(CommitError::Refused(ServiceError::Conflict {
            code: "idempotency_key_in_use",
            detail: "a request with this Idempotency-Key already ran".into(),
        }));
    }
    let stored = write_rows(&mut tx, &[&write]).await?;
    if let Some(tx) = idempotency::hold(tx) {
        tx.commit().await.map_err(CommitError::Sql)?;
        eventlog::wake::notify_appended();
    }
    Ok(positions(&[&write], &stored)[0])
}
