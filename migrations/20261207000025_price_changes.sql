-- Item prices stored as the changes that set them. A price's end (`valid_to`) is the next
-- change's start, computed when read by the `rm_item_prices` view (same columns as the
-- table it replaces), so a price change is one INSERT: no earlier row is updated, and a
-- rebuild writes every row once (decisions.md, record 36).

CREATE TABLE rm_item_price_changes (
    tenant_id     uuid NOT NULL,
    item_id       uuid NOT NULL,
    amount_minor  bigint NOT NULL,
    currency      text NOT NULL,
    valid_from    timestamptz NOT NULL,
    position      bigint NOT NULL,
    PRIMARY KEY (tenant_id, item_id, position)
);

INSERT INTO rm_item_price_changes (tenant_id, item_id, amount_minor, currency, valid_from, position)
SELECT tenant_id, item_id, amount_minor, currency, valid_from, position FROM rm_item_prices;

DROP TABLE rm_item_prices;

-- Filters on tenant_id and item_id reach the table through the window (its partition key).
CREATE VIEW rm_item_prices WITH (security_invoker = true) AS
SELECT tenant_id, item_id, amount_minor, currency, valid_from,
       lead(valid_from) OVER (PARTITION BY tenant_id, item_id ORDER BY position) AS valid_to,
       position
  FROM rm_item_price_changes;

ALTER TABLE rm_item_price_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_firm ON rm_item_price_changes FOR SELECT USING (tenant_id = reporting_tenant());

-- Firms' reporting roles read the view, and through it (as themselves) the table.
DO $$
DECLARE r text;
BEGIN
    FOR r IN SELECT role_name FROM reporting_roles WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name)
    LOOP
        EXECUTE format('GRANT SELECT ON rm_item_prices TO %I', r);
        EXECUTE format('GRANT SELECT (tenant_id, item_id, amount_minor, currency, valid_from, position) ON rm_item_price_changes TO %I', r);
    END LOOP;
END $$;
