-- A tenant-scoped reporting connection (issue 14).
--
-- 1. Secrets move out of reach: credentials, sessions, staff tokens and idempotency
--    records live in schema `secrets`, on which no reporting role is granted anything. The
--    service finds them through its connections' search_path (`public, secrets`, set by the
--    server on every connection it opens). Login throttles stay in public: the status
--    view reads their lock times (a reporting role gets those columns, never the keys).
CREATE SCHEMA IF NOT EXISTS secrets;
ALTER TABLE portal_credentials SET SCHEMA secrets;
ALTER TABLE portal_sessions SET SCHEMA secrets;
ALTER TABLE staff_tokens SET SCHEMA secrets;
ALTER TABLE idempotency_keys SET SCHEMA secrets;

-- 2. Which reporting login role belongs to which firm. `portal-accounts reporting grant`
--    creates the role and this row; `revoke` drops both.
CREATE TABLE reporting_roles (
    role_name  name PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The firm of the connected reporting role (NULL for anyone else). SECURITY DEFINER so the
-- role need not read `reporting_roles`; `session_user` because inside the function
-- `current_user` is its owner.
CREATE FUNCTION reporting_tenant() RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT tenant_id FROM public.reporting_roles WHERE role_name = session_user $$;

-- 3. History for reporting: every invitation with its state and times; every price with
--    its validity period (the `history` read model).
CREATE TABLE rm_invitations (
    tenant_id       uuid NOT NULL,
    invitation_id   uuid NOT NULL,
    client_id       uuid NOT NULL,
    email           text NOT NULL,
    -- open, accepted, revoked (by staff) or replaced (by a newer invitation); an open one
    -- past expires_at has expired.
    state           text NOT NULL CHECK (state IN ('open', 'accepted', 'revoked', 'replaced')),
    sent_at         timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    portal_user_id  uuid,
    last_position   bigint NOT NULL,
    PRIMARY KEY (tenant_id, invitation_id)
);
CREATE INDEX rm_invitations_by_client ON rm_invitations (tenant_id, client_id, sent_at);

CREATE TABLE rm_item_prices (
    tenant_id     uuid NOT NULL,
    item_id       uuid NOT NULL,
    amount_minor  bigint NOT NULL,
    currency      text NOT NULL,
    valid_from    timestamptz NOT NULL,
    -- NULL: the current price.
    valid_to      timestamptz,
    position      bigint NOT NULL,
    PRIMARY KEY (tenant_id, item_id, position)
);
CREATE INDEX rm_item_prices_current ON rm_item_prices (tenant_id, item_id) WHERE valid_to IS NULL;

-- 4. Login history and e-mail log as reporting views (no username key, no link ids).
CREATE VIEW rm_logins WITH (security_invoker = true) AS
    SELECT id, tenant_id, at, portal_user_id, outcome, session_id, client_ip, user_agent, request_id
      FROM portal_logins;
CREATE VIEW rm_notifications WITH (security_invoker = true) AS
    SELECT id, tenant_id, kind, client_id, portal_user_id, to_address, recipient_name, status,
           attempts, last_error, next_attempt_at, created_at, sent_at
      FROM notifications;

-- 5. Views run with the querying role's rights (so row-level security applies through
--    them), and every reporting table shows a reporting role its own firm's rows only.
ALTER VIEW rm_client_status SET (security_invoker = true);
ALTER VIEW rm_portal_user_status SET (security_invoker = true);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rm_clients', 'rm_portal_users', 'rm_portal_user_clients',
                             'rm_items', 'rm_client_items', 'rm_contracts', 'rm_invitations',
                             'rm_item_prices', 'notifications', 'portal_logins',
                             'portal_login_throttle']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY own_firm ON %I FOR SELECT USING (tenant_id = reporting_tenant())', t);
    END LOOP;
END $$;
