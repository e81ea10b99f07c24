-- The portal side: e-mails owed and their delivery, portal sessions, login history and
-- login throttling. None of these rows is an event: they record deliveries and logins,
-- not decisions about an account (docs/decisions.md says why logins stay out of streams).

-- One row per e-mail an event asked for (invitation, activation link, reset link), made by
-- the `notifications` consumer of the log under its own checkpoint. Holds what the mailer
-- needs to rebuild the link (stream and link id) but never the token or the link itself.
CREATE TABLE notifications (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    -- The event that asked for this e-mail: at most one e-mail per event, even when the
    -- consumer re-reads a batch after a crash.
    source_position  bigint NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('invitation', 'activation', 'password_reset')),
    client_id        uuid,
    portal_user_id   uuid,
    to_address       text NOT NULL,
    recipient_name   text NOT NULL,
    username         text,
    link_stream_id   uuid NOT NULL,
    link_id          uuid NOT NULL,
    link_expires_at  timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    CONSTRAINT notifications_one_per_event UNIQUE (source_position)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_by_client ON notifications (tenant_id, client_id, created_at);
CREATE INDEX notifications_by_user ON notifications (tenant_id, portal_user_id, created_at);

-- Portal sessions. The bearer token is `pss_<id>_<secret>`; only its SHA-256 is kept.
CREATE TABLE portal_sessions (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    token_hash     bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    -- logout, disabled, removed, password_changed
    end_reason     text
);
CREATE INDEX portal_sessions_open_by_user ON portal_sessions (tenant_id, portal_user_id)
    WHERE ended_at IS NULL;

-- Every login attempt, for auditors. Append-only like the event log.
-- `username_key` is an HMAC of the lower-cased username typed: attempts on one name can be
-- counted without keeping what was typed (people type passwords into the username box).
CREATE TABLE portal_logins (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    portal_user_id uuid,
    username_key   bytea NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN
                     ('succeeded', 'invalid_credentials', 'login_disabled', 'locked_out',
                      'rate_limited', 'portal_inactive')),
    session_id     uuid,
    client_ip      text,
    user_agent     text,
    request_id     text,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_logins_by_user ON portal_logins (tenant_id, portal_user_id, id);
CREATE INDEX portal_logins_by_tenant ON portal_logins (tenant_id, id);

CREATE TRIGGER portal_logins_no_update_or_delete BEFORE UPDATE OR DELETE ON portal_logins
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
CREATE TRIGGER portal_logins_no_truncate BEFORE TRUNCATE ON portal_logins
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- Failed-login counting. A row counts the failures on one key in a window and, once too
-- many, holds a lock. Two kinds of key, both HMACs: a typed username (known or not, so
-- lockouts cannot be used to discover which usernames exist), and a client address (so
-- one password tried across many names is stopped too).
CREATE TABLE portal_login_throttle (
    tenant_id         uuid NOT NULL,
    key               bytea NOT NULL,
    -- The login a username key names, if any (so staff can see it `locked`).
    portal_user_id    uuid,
    failures          integer NOT NULL,
    window_started_at timestamptz NOT NULL,
    locked_until      timestamptz,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX portal_login_throttle_by_user ON portal_login_throttle (tenant_id, portal_user_id)
    WHERE portal_user_id IS NOT NULL;

-- A login's last success, found without scanning its failures.
CREATE INDEX portal_logins_last_success ON portal_logins (tenant_id, portal_user_id, id DESC)
    WHERE outcome = 'succeeded';

-- Staff see `locked` while a lockout lasts, and the last login time. Both come from the
-- login tables above, so the views are redefined (the client view depends on the user view).
DROP VIEW rm_client_status;
DROP VIEW rm_portal_user_status;

CREATE VIEW rm_portal_user_status AS
SELECT u.tenant_id, u.portal_user_id, u.username, u.email, u.created_at, u.activated_at,
       u.disabled, u.removed,
       (SELECT l.at FROM portal_logins l
         WHERE l.tenant_id = u.tenant_id AND l.portal_user_id = u.portal_user_id
           AND l.outcome = 'succeeded'
         ORDER BY l.id DESC LIMIT 1) AS last_login_at,
       u.last_position,
       CASE WHEN u.removed THEN 'removed'
            WHEN u.disabled THEN 'disabled'
            WHEN u.activated_at IS NULL THEN 'pending_activation'
            WHEN EXISTS (SELECT 1 FROM portal_login_throttle t
                          WHERE t.tenant_id = u.tenant_id AND t.portal_user_id = u.portal_user_id
                            AND t.locked_until > now()) THEN 'locked'
            ELSE 'active' END AS status
  FROM rm_portal_users u;

-- Unchanged except that a locked login still makes its client `active`.
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
      SELECT count(*) FILTER (WHERE s.status IN ('active', 'locked')) AS active,
             count(*) FILTER (WHERE s.status = 'disabled') AS disabled,
             count(*) FILTER (WHERE s.status = 'pending_activation') AS pending
        FROM rm_portal_user_clients pc
        JOIN rm_portal_user_status s USING (tenant_id, portal_user_id)
       WHERE pc.tenant_id = c.tenant_id AND pc.client_id = c.client_id
  ) u ON true;
