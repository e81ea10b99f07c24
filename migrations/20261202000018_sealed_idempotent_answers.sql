-- Kept answers are sealed from now on (they may hold a secret shown once: an API token, a
-- webhook's signing secret). Answers kept before in plain text are dropped: a retry of one
-- of those keys is told its outcome is unknown and to read the current state.
UPDATE secrets.idempotency_keys SET response_body = NULL WHERE response_body IS NOT NULL;
