-- Tables the write side keeps beside the log: lookups that must be atomic with an event
-- (tenant slugs), and secrets that must never enter the log (token and password hashes,
-- image bytes are kept here only because they are large).

CREATE TABLE tenants (
    id         uuid PRIMARY KEY,
    slug       text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE staff_tokens (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    role       text NOT NULL CHECK (role IN ('admin', 'staff', 'auditor', 'reporting')),
    label      text,
    -- SHA-256 of the whole bearer token; the token itself is shown once and never stored.
    token_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- Argon2id PHC strings. Written in the same transaction as the event that says a password
-- was set, so the log and the credential never disagree.
CREATE TABLE portal_credentials (
    tenant_id      uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    password_hash  text NOT NULL,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, portal_user_id)
);

CREATE TABLE item_images (
    tenant_id  uuid  NOT NULL,
    item_id    uuid  NOT NULL,
    sha256     text  NOT NULL,
    png        bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, item_id)
);

-- Responses to POSTs that carried an Idempotency-Key, kept so a retry gets the first answer.
CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    status_code   integer,
    response_body bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    PRIMARY KEY (tenant_id, key)
);
