-- The dispatcher claims an endpoint's due deliveries oldest message first. With only the
-- index by due time it read and sorted every pending delivery of the endpoint to take the
-- first 50, so a backlog made each claim slower and the backlog longer. This index gives
-- them in claim order; the one by due time still finds which endpoints have work.
CREATE INDEX webhook_deliveries_in_order ON webhook_deliveries (webhook_id, position NULLS FIRST, id)
    WHERE status = 'pending';
