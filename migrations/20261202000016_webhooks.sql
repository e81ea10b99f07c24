-- Webhook endpoints, as the write side keeps them beside their events: the configuration
-- staff read back and the dispatcher sends by, with the signing secret sealed under the
-- server's key (never in an event), in schema `secrets`, which no reporting role may enter.
-- A deleted endpoint's row goes, with its deliveries.
CREATE TABLE secrets.webhooks (
    id                     uuid PRIMARY KEY,
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    url                    text NOT NULL,
    event_types            text[] NOT NULL,
    description            text,
    enabled                boolean NOT NULL DEFAULT true,
    disabled_reason        text,
    secret_sealed          bytea NOT NULL,
    previous_secret_sealed bytea,
    previous_valid_until   timestamptz,
    created_at             timestamptz NOT NULL
);
CREATE INDEX webhooks_by_tenant ON secrets.webhooks (tenant_id, created_at, id);

-- The outbox consumer's own view of each endpoint's subscription, as of its checkpoint in
-- the log: an event is matched against the subscriptions as they stood when it was
-- committed, not as they stand when the consumer gets to it.
CREATE TABLE webhook_subscriptions (
    tenant_id   uuid NOT NULL,
    webhook_id  uuid NOT NULL,
    event_types text[] NOT NULL,
    active      boolean NOT NULL,
    PRIMARY KEY (tenant_id, webhook_id)
);

-- One message per matching event per endpoint. `message_id` is derived from the event's
-- place in the log, so a message keeps its id through retries, restarts and redelivery.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    webhook_id       uuid NOT NULL REFERENCES secrets.webhooks (id) ON DELETE CASCADE,
    message_id       text NOT NULL,
    event_type       text NOT NULL,
    position         bigint,
    occurred_at      timestamptz NOT NULL,
    data             jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    next_attempt_at  timestamptz NOT NULL,
    delivered_at     timestamptz,
    claimed_by       bigint,
    CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, message_id)
);
-- What is due, per endpoint, oldest message first.
CREATE INDEX webhook_deliveries_due
    ON webhook_deliveries (webhook_id, next_attempt_at, position) WHERE status = 'pending';
-- The delivery log, newest first (ids are time-ordered UUIDv7).
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id DESC);

-- Wake the dispatcher once per writing statement.
CREATE FUNCTION webhook_deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webhook_deliveries_pending', '');
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_deliveries_pending AFTER INSERT ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_notify();

-- The integration feed reads one firm's log in commit order from a cursor.
CREATE INDEX events_tenant_commit_order ON events (tenant_id, tx_id, global_position);

-- The firm's admins are e-mailed when an endpoint is disabled for failing throughout the
-- retry schedule (`recipient` is the staff member).
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN
    ('invitation', 'activation', 'password_reset', 'contract_to_sign', 'contract_signed',
     'username_reminder', 'webhook_disabled'));
