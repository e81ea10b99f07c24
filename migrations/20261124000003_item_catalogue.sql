-- The item catalogue staff pick from (issue 12): a description, and archived items that
-- stay on the portals they are on but are not offered for new ones.
ALTER TABLE rm_items
    ADD COLUMN description text,
    ADD COLUMN archived boolean NOT NULL DEFAULT false;
CREATE INDEX rm_items_catalogue ON rm_items (tenant_id, archived, lower(name), item_id);
