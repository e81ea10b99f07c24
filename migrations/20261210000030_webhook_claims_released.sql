-- The dispatcher no longer claims deliveries by writing to them: a worker holds its
-- endpoint by an advisory lock on its presence session and reads the due deliveries.
-- Deliveries claimed the old way (their next attempt pushed out by a 20-minute lease)
-- are due again now; a dispatcher that had them in flight sends them under the same id.
UPDATE webhook_deliveries
   SET next_attempt_at = now(), claimed_by = NULL
 WHERE status = 'pending' AND claimed_by IS NOT NULL;
