-- Tamper evidence: every event is chained to the previous event of the same tenant.
--
-- chain_seq  1, 2, 3 … per tenant, with no gaps, assigned under a per-tenant advisory lock that
--            is held until commit: it is also the tenant's commit order.
-- prev_hash  the previous event's event_hash (32 zero bytes for the first).
-- event_hash sha256(prev_hash || the event's canonical text, see event_chain_text).
--
-- The hash is computed by a trigger, so no application path can append without it.

CREATE TABLE audit_chain_heads (
    tenant_id uuid PRIMARY KEY,
    last_seq  bigint NOT NULL,
    last_hash bytea  NOT NULL
);

ALTER TABLE events
    ADD COLUMN chain_seq  bigint,
    ADD COLUMN prev_hash  bytea,
    ADD COLUMN event_hash bytea;

-- The exact text that is hashed; auditors' tools recompute it from the exported columns:
-- fields joined by line feeds, recorded_at as microseconds since the Unix epoch (UTC).
CREATE FUNCTION event_chain_text(
    chain_seq bigint, global_position bigint, aggregate_type text, aggregate_id text,
    sequence bigint, event_type text, event_version text, recorded_at timestamptz,
    payload jsonb, metadata jsonb
) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(concat_ws(E'\n',
        chain_seq, global_position, aggregate_type, aggregate_id, sequence, event_type,
        event_version, (extract(epoch FROM recorded_at) * 1000000)::bigint,
        payload::text, metadata::text), 'UTF8')
$$;

CREATE FUNCTION events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := (NEW.metadata ->> 'tenant_id')::uuid;
    last_seq bigint;
    last_hash bytea;
BEGIN
    -- Serialises this tenant's writers until commit, so chain order is commit order.
    PERFORM pg_advisory_xact_lock(1936020338, hashtext(tenant::text));
    -- A fresh snapshot (read committed) sees the previous holder's events, and this
    -- statement's earlier rows.
    SELECT e.chain_seq, e.event_hash INTO last_seq, last_hash
      FROM events e WHERE e.tenant_id = tenant ORDER BY e.chain_seq DESC LIMIT 1;
    NEW.chain_seq := COALESCE(last_seq, 0) + 1;
    NEW.prev_hash := COALESCE(last_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    NEW.event_hash := sha256(NEW.prev_hash || event_chain_text(
        NEW.chain_seq, NEW.global_position, NEW.aggregate_type, NEW.aggregate_id, NEW.sequence,
        NEW.event_type, NEW.event_version, NEW.recorded_at, NEW.payload, NEW.metadata));
    RETURN NEW;
END $$;

-- The head of each chain, once per statement: a deleted tail leaves no gap, but a head
-- that is ahead of the log gives it away.
CREATE FUNCTION events_chain_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_chain_heads (tenant_id, last_seq, last_hash)
    SELECT DISTINCT ON (tenant_id) tenant_id, chain_seq, event_hash
      FROM appended ORDER BY tenant_id, chain_seq DESC
    ON CONFLICT (tenant_id) DO UPDATE SET last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash;
    RETURN NULL;
END $$;

-- Chain the events written before this migration, tenant by tenant in position order.
ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete;
DO $$
DECLARE
    e record;
    tenant uuid := NULL;
    seq bigint;
    prev bytea;
    this bytea;
BEGIN
    FOR e IN SELECT * FROM events ORDER BY tenant_id, global_position LOOP
        IF tenant IS DISTINCT FROM e.tenant_id THEN
            IF tenant IS NOT NULL THEN
                INSERT INTO audit_chain_heads VALUES (tenant, seq, prev);
            END IF;
            tenant := e.tenant_id;
            seq := 0;
            prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
        END IF;
        seq := seq + 1;
        this := sha256(prev || event_chain_text(seq, e.global_position, e.aggregate_type,
            e.aggregate_id, e.sequence, e.event_type, e.event_version, e.recorded_at,
            e.payload, e.metadata));
        UPDATE events SET chain_seq = seq, prev_hash = prev, event_hash = this
            WHERE global_position = e.global_position;
        prev := this;
    END LOOP;
    IF tenant IS NOT NULL THEN
        INSERT INTO audit_chain_heads VALUES (tenant, seq, prev);
    END IF;
END $$;
ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete;

ALTER TABLE events
    ALTER COLUMN chain_seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN event_hash SET NOT NULL;

CREATE UNIQUE INDEX events_tenant_chain ON events (tenant_id, chain_seq);

CREATE TRIGGER events_chain BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_chain();
CREATE TRIGGER events_chain_head AFTER INSERT ON events
    REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION events_chain_head();

-- Auditors' client history finds the client's contracts through their issue events.
CREATE INDEX events_contract_client ON events ((payload #>> '{ContractIssued,client_id}'))
    WHERE event_type = 'ContractIssued';
-- … and its portal users through the client stream, which the primary key already serves.
