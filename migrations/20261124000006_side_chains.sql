-- What auditors read besides the event log is chained too, each table on its own chain
-- per firm, sealed by the same sealer (src/audit/side_chain.rs): the portal login history
-- and the notification log (each e-mail owed; its delivery status changes, so the chain
-- covers what was owed to whom, not the attempts).
--
-- The sealer reads these rows in commit-safe order, as it reads events: each table gets
-- the transaction id of the insert (existing rows: this migration's).

ALTER TABLE portal_logins ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX portal_logins_tx_order ON portal_logins (tx_id, id);
ALTER TABLE notifications ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX notifications_tx_order ON notifications (tx_id, source_position);

-- One link per row: `chain` names the table, `row_key` the row (login id, notification's
-- source position).
CREATE TABLE side_seals (
    chain      text   NOT NULL,
    row_key    bigint NOT NULL,
    tenant_id  uuid   NOT NULL,
    chain_seq  bigint NOT NULL,
    prev_hash  bytea  NOT NULL,
    row_hash   bytea  NOT NULL,
    sealed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, row_key),
    UNIQUE (chain, tenant_id, chain_seq)
);
CREATE TRIGGER side_seals_insert_only BEFORE UPDATE OR DELETE ON side_seals
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();

CREATE TABLE side_chain_heads (
    chain     text  NOT NULL,
    tenant_id uuid  NOT NULL,
    last_seq  bigint NOT NULL,
    last_hash bytea NOT NULL,
    PRIMARY KEY (chain, tenant_id)
);

INSERT INTO projection_checkpoints (name) VALUES ('seal_portal_logins'), ('seal_notifications');
