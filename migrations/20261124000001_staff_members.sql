-- Staff are people (issue 11): a lookup row per staff member, written in the same
-- transaction as the member's events (like `tenants`), so authentication reads a member's
-- current name, role and status in the token lookup itself — a disabled member's tokens
-- answer 401 at once, on every server.
CREATE TABLE staff_members (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    name       text NOT NULL,
    email      text NOT NULL,
    role       text NOT NULL CHECK (role IN ('admin', 'staff', 'auditor', 'reporting')),
    disabled   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_members_by_tenant ON staff_members (tenant_id, lower(name), id);

-- Whom a token acts for: a member (personal), nobody in particular (service: each command
-- names its person in X-Acting-Staff), or — tokens from before this change — nobody
-- (`unnamed`, shown by their label). Tokens expire; last use is kept (coarsely).
ALTER TABLE staff_tokens
    ADD COLUMN holder          text NOT NULL DEFAULT 'unnamed'
        CHECK (holder IN ('unnamed', 'member', 'service')),
    ADD COLUMN staff_member_id uuid REFERENCES staff_members (id),
    ADD COLUMN expires_at      timestamptz,
    ADD COLUMN last_used_at    timestamptz,
    ADD CONSTRAINT staff_tokens_member_holder
        CHECK ((holder = 'member') = (staff_member_id IS NOT NULL));
CREATE INDEX staff_tokens_by_tenant ON staff_tokens (tenant_id, created_at, id);
