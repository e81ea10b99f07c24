-- Personal fields in events are sealed under a key per data subject (a client, a portal
-- login), kept here wrapped by the master key; erasure sets `wrapped` to NULL, for good
-- (docs/privacy.md). Only the service reads this schema.
CREATE TABLE secrets.data_keys (
    subject_id    uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    wrapped       bytea,
    master_key_id text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz,
    CHECK ((wrapped IS NULL) = (erased_at IS NOT NULL))
);
CREATE INDEX data_keys_by_tenant ON secrets.data_keys (tenant_id);

-- A sealed username cannot be indexed: its keyed hash reserves it instead (any case, per
-- tenant, for ever, like the plaintext index that still covers logins made before).
CREATE UNIQUE INDEX events_username_key_unique
    ON events (tenant_id, (payload #>> '{PortalUserCreated,username_key}'))
    WHERE event_type = 'PortalUserCreated';

-- An erased client, as its events leave the log (projection `clients`).
ALTER TABLE rm_clients ADD COLUMN erased_at timestamptz;

-- Rows of the login history and the e-mail log scrubbed by an erasure: their links are taken
-- as sealed (the chain around them still verifies), their content no longer can be.
ALTER TABLE side_seals ADD COLUMN redacted boolean NOT NULL DEFAULT false;

-- The login history stays append-only but for that scrub: an UPDATE may only clear the
-- address and browser of a row; anything else (or a DELETE) is refused as before.
CREATE FUNCTION portal_logins_scrub_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.client_ip IS NULL AND NEW.user_agent IS NULL
       AND to_jsonb(NEW) - 'client_ip' - 'user_agent' = to_jsonb(OLD) - 'client_ip' - 'user_agent' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER portal_logins_no_update_or_delete ON portal_logins;
CREATE TRIGGER portal_logins_no_update_or_delete BEFORE UPDATE OR DELETE ON portal_logins
    FOR EACH ROW EXECUTE FUNCTION portal_logins_scrub_only();

-- Seals stay insert-only but for marking a link redacted (never unmarking it).
CREATE FUNCTION side_seals_redact_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.redacted AND NOT OLD.redacted
       AND to_jsonb(NEW) - 'redacted' = to_jsonb(OLD) - 'redacted' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER side_seals_insert_only ON side_seals;
CREATE TRIGGER side_seals_insert_only BEFORE UPDATE OR DELETE ON side_seals
    FOR EACH ROW EXECUTE FUNCTION side_seals_redact_only();
