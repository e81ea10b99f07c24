-- Tamper evidence: every event is chained to the previous event of the same tenant.
--
-- chain_seq  1, 2, 3 … per tenant, with no gaps, assigned under a per-tenant row lock that
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
    head   audit_chain_heads%ROWTYPE;
BEGIN
    INSERT INTO audit_chain_heads (tenant_id, last_seq, last_hash)
        VALUES (tenant, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
        ON CONFLICT (tenant_id) DO NOTHING;
    -- Serialises this tenant's writers until commit, so chain order is commit order.
    SELECT * INTO head FROM audit_chain_heads WHERE tenant_id = tenant FOR UPDATE;
    NEW.chain_seq := head.last_seq + 1;
    NEW.prev_hash := head.last_hash;
    NEW.event_hash := sha256(NEW.prev_hash || event_chain_text(
        NEW.chain_seq, NEW.global_position, NEW.aggregate_type, NEW.aggregate_id, NEW.sequence,
        NEW.event_type, NEW.event_version, NEW.recorded_at, NEW.payload, NEW.metadata));
    UPDATE audit_chain_heads SET last_seq = NEW.chain_seq, last_hash = NEW.event_hash
        WHERE tenant_id = tenant;
    RETURN NEW;
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

-- Auditors' client history finds the client's contracts through their issue events.
CREATE INDEX events_contract_client ON events ((payload #>> '{ContractIssued,client_id}'))
    WHERE event_type = 'ContractIssued';
-- … and its portal users through the client stream, which the primary key already serves.
