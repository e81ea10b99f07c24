-- A firm may name an address (its auditor's) that receives every new signed checkpoint,
-- so a copy of each lives outside the database: a rewrite of history then has to get past
-- the auditor's mailbox too (docs/audit.md). The address is set by the tenant event
-- CheckpointRecipientChanged; `tenants.checkpoint_email` is its current value, written in
-- the same transaction, for the signer to read.
ALTER TABLE tenants ADD COLUMN checkpoint_email text;

-- The checkpoint e-mails owed: one per checkpoint signed while the firm named an address,
-- queued in the checkpoint's own transaction and delivered by the mail sender (a lease
-- per claim, retries with back-off, as for `notifications`).
CREATE TABLE checkpoint_mail (
    tenant_id       uuid        NOT NULL,
    chain_seq       bigint      NOT NULL,
    to_address      text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    PRIMARY KEY (tenant_id, chain_seq),
    FOREIGN KEY (tenant_id, chain_seq) REFERENCES audit_checkpoints (tenant_id, chain_seq)
);
CREATE INDEX checkpoint_mail_due ON checkpoint_mail (next_attempt_at) WHERE status = 'pending';
