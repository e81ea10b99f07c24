//! Every statement over `events` that is not a stream's load or a payload query
//! (`queries`): the append, the runners' reads in commit order, the audit chain's reads of
//! what it hashes, and positions. Kept here so that a change to the table is a change to
//! this crate alone.

use std::sync::LazyLock;

use crate::ENVELOPE_COLUMNS;

/// Appends the events of a batch of commands, one row per array element, answering each
/// event's key with its position.
pub const APPEND_SQL: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
     RETURNING aggregate_type, aggregate_id, sequence, global_position";

/// `APPEND_SQL` storing, in the same statement, the data keys the events are sealed under
/// (`$8` subjects, `$9` tenants, `$10` wrapped keys, `$11` master key ids): one statement
/// is its own transaction, so a registration's key and events commit together without a
/// BEGIN and COMMIT. No `ON CONFLICT`: a key stored already would not be the one its events
/// are sealed with.
pub const APPEND_WITH_KEYS_SQL: &str = "WITH keys AS (
         INSERT INTO secrets.data_keys (subject_id, tenant_id, wrapped, master_key_id)
         SELECT * FROM UNNEST($8::uuid[], $9::uuid[], $10::bytea[], $11::text[]))
     INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
     RETURNING aggregate_type, aggregate_id, sequence, global_position";

/// The hashed fields of an event after its `chain_seq`, joined by line feeds, as PostgreSQL
/// renders them (`recorded_at` in microseconds since the Unix epoch; payload and metadata as
/// jsonb text). Its link is `sha256(prev_hash || chain_seq || '\n' || this)`.
pub const CHAIN_BODY_SQL: &str =
    "concat_ws(E'\\n', global_position, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, (extract(epoch FROM recorded_at) * 1000000)::bigint, \
     payload::text, metadata::text)";

/// The next events to seal after a checkpoint (`$1` tx, `$2` position) and before the commit
/// horizon (`$3`), at most `$4`, in commit order, with the text their links cover.
pub static SEAL_BATCH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT tx_id::text AS tx_text, global_position, tenant_id, {CHAIN_BODY_SQL} AS body
           FROM events
          WHERE (tx_id, global_position) > ($1::xid8, $2) AND tx_id < $3::xid8
          ORDER BY events.tx_id, events.global_position
          LIMIT $4"
    )
});

/// A firm's seals `$2..=$3` in chain order, each with the text its event hashes to now (a
/// seal whose event is gone reads as `missing`).
pub static SEALS_WITH_BODIES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT s.chain_seq, s.global_position, s.prev_hash, s.event_hash,
                e.global_position IS NULL AS missing, {CHAIN_BODY_SQL} AS body
           FROM audit_seals s LEFT JOIN events e USING (global_position)
          WHERE s.tenant_id = $1 AND s.chain_seq BETWEEN $2 AND $3 ORDER BY s.chain_seq"
    )
});

/// The newest position of a firm's events (`$1`), if it has any.
pub const NEWEST_OF_TENANT_SQL: &str =
    "SELECT max(global_position) FROM events WHERE tenant_id = $1";

/// Events committed after a runner's checkpoint (`$1` names it): how many, and how long
/// the oldest has waited, in seconds.
pub const BACKLOG_SQL: &str =
    "SELECT count(*), COALESCE(EXTRACT(epoch FROM now() - min(e.recorded_at))::float8, 0)
       FROM events e, projection_checkpoints c
      WHERE c.name = $1 AND (e.tx_id, e.global_position) > (c.last_tx, c.last_position)";

/// Where the sealer (`$2`) stands, and how many of a firm's (`$1`) events have no seal.
pub const SEALING_PROGRESS_SQL: &str =
    "SELECT (SELECT last_position FROM projection_checkpoints WHERE name = $2),
            (SELECT count(*) FROM events e WHERE e.tenant_id = $1
                AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.global_position = e.global_position))";

/// The next events of the types `$4` after a projection's checkpoint (`$1`, `$2`) and before
/// the horizon (`$3`), at most `$5`, in commit order. The transaction id is named `tx_text`:
/// an output column named tx_id would make ORDER BY sort the text ("1000" < "999"),
/// skipping events and defeating the index.
pub static PROJECTION_BATCH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ENVELOPE_COLUMNS}
           FROM events
          WHERE (tx_id, global_position) > ($1::xid8, $2)
            AND tx_id < $3::xid8
            AND event_type = ANY($4)
          ORDER BY events.tx_id, events.global_position
          LIMIT $5"
    )
});

/// The last event of any type between a checkpoint (`$1`, `$2`) and the horizon (`$3`):
/// where a caught-up projection moves to.
pub const LAST_BEFORE_HORIZON_SQL: &str =
    "SELECT tx_id::text AS tx_text, global_position FROM events
      WHERE (tx_id, global_position) > ($1::xid8, $2) AND tx_id < $3::xid8
      ORDER BY events.tx_id DESC, events.global_position DESC LIMIT 1";

/// Whether every projection named (`$2`) has applied the event at `$1` (false if there is
/// no such event yet).
pub const PROJECTIONS_INCLUDE_SQL: &str =
    "SELECT count(*) = cardinality($2::text[])
            AND COALESCE(bool_and((e.tx_id, e.global_position) <= (c.last_tx, c.last_position)), false)
       FROM events e CROSS JOIN projection_checkpoints c
      WHERE e.global_position = $1 AND c.name = ANY($2)";

/// Each projection's position, lag behind the newest event, failures and last update.
pub const PROJECTION_STATUS_SQL: &str =
    "SELECT c.name, c.last_position, c.updated_at,
            GREATEST((SELECT COALESCE(max(global_position), 0) FROM events) - c.last_position, 0) AS lag,
            (SELECT count(*) FROM projection_failures f WHERE f.projection = c.name) AS failures
       FROM projection_checkpoints c ORDER BY c.name";

/// One stream as of a position or a time. The stream is found by its key first and only
/// then checked against the tenant (a step the planner cannot merge): given both at once,
/// PostgreSQL may walk a new firm's whole log through the tenant index, estimating it at a
/// row or two until the next ANALYZE (`tests/api/query_plans.rs`).
pub const REPLAY_STREAM_SQL: &str = "WITH stream AS MATERIALIZED (
         SELECT sequence, event_type, event_version, payload, global_position, recorded_at,
                tenant_id
           FROM events WHERE aggregate_type = $2 AND aggregate_id = $3)
     SELECT sequence, event_type, event_version, payload, global_position, recorded_at
       FROM stream
      WHERE tenant_id = $1 AND global_position <= $4
        AND ($5::timestamptz IS NULL OR recorded_at <= $5)
      ORDER BY sequence";
