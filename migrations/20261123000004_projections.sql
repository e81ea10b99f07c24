-- The projection engine's bookkeeping, and the first read models.

-- Where each projection has got to in (tx_id, global_position) order. Updated in the same
-- transaction as the read-model rows it covers; its row lock makes one runner per projection.
CREATE TABLE projection_checkpoints (
    name          text PRIMARY KEY,
    last_tx       xid8   NOT NULL DEFAULT '0',
    last_position bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Events a projection could not apply: recorded and skipped, so one bad event does not
-- stall the read model.
CREATE TABLE projection_failures (
    projection      text   NOT NULL,
    global_position bigint NOT NULL,
    event_type      text   NOT NULL,
    error           text   NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, global_position)
);

-- Read model "clients": clients, portal users and which user reaches which client.
CREATE TABLE rm_clients (
    tenant_id             uuid NOT NULL,
    client_id             uuid NOT NULL,
    display_name          text NOT NULL,
    kind                  text NOT NULL,
    email                 text,
    external_ref          text,
    registered_at         timestamptz NOT NULL,
    invitation_id         uuid,
    -- none, open, revoked, accepted
    invitation_state      text NOT NULL DEFAULT 'none',
    invited_at            timestamptz,
    invitation_expires_at timestamptz,
    last_position         bigint NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
);
CREATE INDEX rm_clients_name ON rm_clients (tenant_id, lower(display_name), client_id);

CREATE TABLE rm_portal_users (
    tenant_id      uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    username       text NOT NULL,
    email          text NOT NULL,
    created_at     timestamptz NOT NULL,
    activated_at   timestamptz,
    disabled       boolean NOT NULL DEFAULT false,
    removed        boolean NOT NULL DEFAULT false,
    last_login_at  timestamptz,
    last_position  bigint NOT NULL,
    PRIMARY KEY (tenant_id, portal_user_id)
);

CREATE TABLE rm_portal_user_clients (
    tenant_id      uuid NOT NULL,
    client_id      uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, client_id, portal_user_id)
);
CREATE INDEX rm_portal_user_clients_user ON rm_portal_user_clients (tenant_id, portal_user_id);

-- A portal user's status, as staff see it.
CREATE VIEW rm_portal_user_status AS
SELECT u.*,
       CASE WHEN u.removed THEN 'removed'
            WHEN u.disabled THEN 'disabled'
            WHEN u.activated_at IS NOT NULL THEN 'active'
            ELSE 'pending_activation' END AS status
  FROM rm_portal_users u;

-- A client's portal status. Invitation expiry is a matter of time, so it is decided when
-- the view is read, not when an event arrives.
CREATE VIEW rm_client_status AS
SELECT c.*,
       c.email IS NOT NULL AS has_email,
       CASE WHEN u.active > 0 THEN 'active'
            WHEN u.disabled > 0 THEN 'disabled'
            WHEN c.invitation_state = 'open' AND c.invitation_expires_at <= now() THEN 'invitation_expired'
            WHEN c.invitation_state = 'open' OR u.pending > 0 THEN 'invited'
            ELSE 'not_invited' END AS status
  FROM rm_clients c
  LEFT JOIN LATERAL (
      SELECT count(*) FILTER (WHERE s.status = 'active') AS active,
             count(*) FILTER (WHERE s.status = 'disabled') AS disabled,
             count(*) FILTER (WHERE s.status = 'pending_activation') AS pending
        FROM rm_portal_user_clients pc
        JOIN rm_portal_user_status s USING (tenant_id, portal_user_id)
       WHERE pc.tenant_id = c.tenant_id AND pc.client_id = c.client_id
  ) u ON true;
