-- The audit chain moves off the write path. Appending an event takes no per-tenant lock and
-- computes no hash; a sealer (one runner at a time, in commit-safe order, batched, hashing
-- in Rust: src/audit/seal.rs) extends each tenant's chain shortly after commit and records
-- each link here. Events stay insert-only; so do seals.
--
-- chain_seq  1, 2, 3 … per tenant, with no gaps, in the order the sealer reads the log
--            (commit order, as the projections read it).
-- prev_hash  the previous link's event_hash (32 zero bytes for the first).
-- event_hash sha256(prev_hash || canonical text), the text as before (docs/audit.md):
--            chain_seq, global_position, aggregate_type, aggregate_id, sequence,
--            event_type, event_version, recorded_at (µs since the epoch), payload::text,
--            metadata::text, joined by line feeds.

DROP TRIGGER events_chain ON events;
DROP TRIGGER events_chain_head ON events;
DROP FUNCTION events_chain();
DROP FUNCTION events_chain_head();

-- NOTIFY inside every writing transaction made each commit take the cluster-wide notify
-- lock. Writers now wake this process's runners directly; other processes poll.
DROP TRIGGER events_appended ON events;
DROP FUNCTION events_notify();

CREATE TABLE audit_seals (
    global_position bigint PRIMARY KEY REFERENCES events (global_position),
    tenant_id       uuid   NOT NULL,
    chain_seq       bigint NOT NULL,
    prev_hash       bytea  NOT NULL,
    event_hash      bytea  NOT NULL,
    sealed_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, chain_seq)
);

-- The links the trigger wrote so far carry over unchanged.
INSERT INTO audit_seals (global_position, tenant_id, chain_seq, prev_hash, event_hash)
SELECT global_position, tenant_id, chain_seq, prev_hash, event_hash FROM events;

DROP INDEX events_tenant_chain;
ALTER TABLE events DROP COLUMN chain_seq, DROP COLUMN prev_hash, DROP COLUMN event_hash;

CREATE TRIGGER audit_seals_insert_only BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- The sealer's place in the log, kept like a projection's: everything written so far is
-- sealed already.
INSERT INTO projection_checkpoints (name) VALUES ('audit_sealer');
UPDATE projection_checkpoints c
   SET last_tx = e.tx_id, last_position = e.global_position
  FROM (SELECT tx_id, global_position FROM events
         ORDER BY tx_id DESC, global_position DESC LIMIT 1) e
 WHERE c.name = 'audit_sealer';

-- What auditors read: the events with their links. Unsealed events are not in it yet.
CREATE VIEW sealed_events AS
SELECT e.*, s.chain_seq, s.prev_hash, s.event_hash
  FROM events e JOIN audit_seals s USING (global_position);
