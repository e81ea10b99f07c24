-- Read model "items": the catalogue with current prices, and which item is on which
-- client's portal.
CREATE TABLE rm_items (
    tenant_id     uuid   NOT NULL,
    item_id       uuid   NOT NULL,
    sku           text   NOT NULL,
    name          text   NOT NULL,
    amount_minor  bigint NOT NULL,
    currency      text   NOT NULL,
    has_image     boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    last_position bigint NOT NULL,
    PRIMARY KEY (tenant_id, item_id)
);

CREATE TABLE rm_client_items (
    tenant_id   uuid NOT NULL,
    client_id   uuid NOT NULL,
    item_id     uuid NOT NULL,
    assigned_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, client_id, item_id)
);

-- Read model "contracts": each contract and its signature status.
CREATE TABLE rm_contracts (
    tenant_id                 uuid NOT NULL,
    contract_id               uuid NOT NULL,
    client_id                 uuid NOT NULL,
    title                     text NOT NULL,
    content_sha256            text NOT NULL,
    -- awaiting_signature, signed, voided
    status                    text NOT NULL,
    issued_at                 timestamptz NOT NULL,
    signed_by                 text,
    signed_by_portal_user_id  uuid,
    signed_at                 timestamptz,
    voided_at                 timestamptz,
    last_position             bigint NOT NULL,
    PRIMARY KEY (tenant_id, contract_id)
);
CREATE INDEX rm_contracts_client ON rm_contracts (tenant_id, client_id);
