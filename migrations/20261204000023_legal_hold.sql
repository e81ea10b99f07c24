-- A legal hold on a client's records, as its events leave it (projection `clients`): why
-- and since when, while set.
ALTER TABLE rm_clients
    ADD COLUMN legal_hold_reason text,
    ADD COLUMN legal_hold_since  timestamptz;
