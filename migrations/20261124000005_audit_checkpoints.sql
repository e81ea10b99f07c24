-- Signed checkpoints of each firm's chain (src/audit/checkpoint.rs): the head at a moment,
-- signed with the server's Ed25519 audit key. Insert-only. Auditors keep their own copies;
-- these rows are the server's record and what `GET /api/v1/audit/checkpoints` lists.
CREATE TABLE audit_checkpoints (
    tenant_id  uuid        NOT NULL,
    chain_seq  bigint      NOT NULL,
    position   bigint      NOT NULL,
    head_hash  bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    key_id     text        NOT NULL,
    signature  text        NOT NULL,
    PRIMARY KEY (tenant_id, chain_seq)
);

CREATE TRIGGER audit_checkpoints_insert_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
