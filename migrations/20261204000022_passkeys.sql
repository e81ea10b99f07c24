-- Passkeys (WebAuthn credentials) of portal logins. Their events carry only an id; the
-- public keys and the ceremonies in flight live here, in schema `secrets`, which no
-- reporting role may enter.

-- A registered passkey: the relying party's record of the credential (its public key,
-- signature counter and flags, as webauthn-rs keeps it; no private key ever reaches the
-- server) under the id its events name. A credential id is registered once per firm.
CREATE TABLE secrets.portal_passkeys (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    credential_id  bytea NOT NULL,
    name           text NOT NULL,
    passkey        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    UNIQUE (tenant_id, credential_id)
);
CREATE INDEX portal_passkeys_by_user ON secrets.portal_passkeys (tenant_id, portal_user_id);

-- A WebAuthn ceremony in flight: registering a passkey, a passkey as the second step of a
-- login (`mfa_challenge_id`), or a passwordless login (no login known until the answer).
-- The relying party's state (its challenge) is sealed under the server key; the token
-- that names it is kept hashed, used once, for five minutes.
CREATE TABLE secrets.portal_passkey_ceremonies (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    purpose          text NOT NULL CHECK (purpose IN ('register', 'second_step', 'passwordless')),
    portal_user_id   uuid,
    mfa_challenge_id uuid,
    token_hash       bytea NOT NULL,
    state_sealed     bytea NOT NULL,
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz
);

-- Login history names passkey logins, and refused passkey answers.
ALTER TABLE portal_logins DROP CONSTRAINT portal_logins_method_check;
ALTER TABLE portal_logins ADD CONSTRAINT portal_logins_method_check
    CHECK (method IN ('password', 'totp', 'recovery_code', 'passkey'));
ALTER TABLE portal_logins DROP CONSTRAINT portal_logins_outcome_check;
ALTER TABLE portal_logins ADD CONSTRAINT portal_logins_outcome_check CHECK (outcome IN
    ('succeeded', 'invalid_credentials', 'login_disabled', 'locked_out', 'rate_limited',
     'portal_inactive', 'mfa_required', 'invalid_code', 'invalid_passkey'));

-- How many passkeys each login has, for reporting (projection `clients`).
ALTER TABLE rm_portal_users ADD COLUMN passkeys integer NOT NULL DEFAULT 0;
