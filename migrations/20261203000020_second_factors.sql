-- Second factors of portal logins. Their events say only that a factor was added, removed
-- or reset; the secrets live here, in schema `secrets`, which no reporting role may enter.

-- A login's authenticator-app key, sealed under the server's key and bound to its row.
-- Unconfirmed until the person types a code from the app; `last_step` is the 30-second
-- step of the last code accepted, so a code is accepted once.
CREATE TABLE secrets.portal_totp (
    tenant_id      uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    secret_sealed  bytea NOT NULL,
    confirmed      boolean NOT NULL DEFAULT false,
    last_step      bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, portal_user_id)
);

-- Recovery codes, kept as keyed hashes; a used one keeps its row with `used_at`.
CREATE TABLE secrets.portal_recovery_codes (
    tenant_id      uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    code_hash      bytea NOT NULL,
    used_at        timestamptz,
    PRIMARY KEY (tenant_id, portal_user_id, code_hash)
);

-- The second step of a login: issued for a right password, used once, for five minutes.
-- `username_key` is the throttle key wrong codes count against (the password's).
CREATE TABLE secrets.portal_mfa_challenges (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    token_hash     bytea NOT NULL,
    username_key   bytea NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX portal_mfa_challenges_by_user ON secrets.portal_mfa_challenges (tenant_id, portal_user_id)
    WHERE used_at IS NULL;

-- Under the firm's policy `mfa: required`, a login without a factor gets a session that
-- may only set one up; confirming a factor lifts that.
ALTER TABLE secrets.portal_sessions ADD COLUMN enrolment_only boolean NOT NULL DEFAULT false;

-- Login history says how each login was completed, and the second step's outcomes.
ALTER TABLE portal_logins ADD COLUMN method text
    CHECK (method IN ('password', 'totp', 'recovery_code'));
ALTER TABLE portal_logins DROP CONSTRAINT portal_logins_outcome_check;
ALTER TABLE portal_logins ADD CONSTRAINT portal_logins_outcome_check CHECK (outcome IN
    ('succeeded', 'invalid_credentials', 'login_disabled', 'locked_out', 'rate_limited',
     'portal_inactive', 'mfa_required', 'invalid_code'));

-- The factor state for reporting (projection `clients`).
ALTER TABLE rm_portal_users
    ADD COLUMN totp_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN recovery_codes_left integer NOT NULL DEFAULT 0;

-- The login is told of every factor added, removed or reset.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN
    ('invitation', 'activation', 'password_reset', 'contract_to_sign', 'contract_signed',
     'username_reminder', 'webhook_disabled', 'security_notice'));
