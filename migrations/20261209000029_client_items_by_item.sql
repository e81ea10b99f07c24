-- The catalogue shows each item's number of clients. The assignments were keyed by client
-- only, so every count read every assignment of every firm: 49 ms for a page of 20 items
-- with 20,000 assignments in the database, growing with all firms' assignments. This index
-- counts an item's assignments from its own entries.
CREATE INDEX rm_client_items_by_item ON rm_client_items (tenant_id, item_id);
