-- ANALYZE of `events` spent most of its time on the two jsonb columns: it detoasts, sorts
-- and hashes 30,000 sampled payloads and metadata documents to build statistics that no
-- query uses (the service filters on keys, positions, types and expressions such as
-- `metadata ->> 'actor'`, whose estimates never come from the column's statistics).
-- Measured on a 400k-event bench log: 0.57 s of CPU per ANALYZE, 0.25 s without these
-- two (docs/performance.md, session 11). Autovacuum analyzes the log after every 10 % of
-- growth, on the same cores as the commands. SET STATISTICS takes a lock that reads and
-- appends do not wait for.
ALTER TABLE events
    ALTER COLUMN payload SET STATISTICS 0,
    ALTER COLUMN metadata SET STATISTICS 0;
