-- The event log. Column names and types that postgres-es 0.5 expects (payloads as jsonb),
-- plus a global order, the writing transaction's id for commit-order-safe reading, the time
-- of recording and the tenant (taken from the metadata every event carries).
CREATE TABLE events (
    aggregate_type  text   NOT NULL,
    aggregate_id    text   NOT NULL,
    sequence        bigint NOT NULL CHECK (sequence >= 1),
    event_type      text   NOT NULL,
    event_version   text   NOT NULL,
    payload         jsonb  NOT NULL,
    metadata        jsonb  NOT NULL,
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    tx_id           xid8   NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    tenant_id       uuid GENERATED ALWAYS AS ((metadata ->> 'tenant_id')::uuid) STORED,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence),
    CONSTRAINT events_global_position_key UNIQUE (global_position),
    CONSTRAINT events_have_tenant CHECK (tenant_id IS NOT NULL)
);

-- Readers (projections, audit export) walk the log in commit-safe order.
CREATE INDEX events_tx_order ON events (tx_id, global_position);
CREATE INDEX events_tenant_order ON events (tenant_id, global_position);

-- Usernames are unique within a tenant, ignoring case, for ever (a removed user's name stays
-- reserved). The reservation is the creation event itself, so it cannot be lost or raced.
CREATE UNIQUE INDEX events_username_unique
    ON events (tenant_id, lower(payload #>> '{PortalUserCreated,username}'))
    WHERE event_type = 'PortalUserCreated';

-- SKUs are unique within a tenant, ignoring case.
CREATE UNIQUE INDEX events_sku_unique
    ON events (tenant_id, lower(payload #>> '{ItemCreated,sku}'))
    WHERE event_type = 'ItemCreated';

-- The log is append-only: no application path updates or deletes events.
CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- Wake listeners (projection engine, mailer) once per writing statement.
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('events_appended', '');
    RETURN NULL;
END $$;

CREATE TRIGGER events_appended AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
