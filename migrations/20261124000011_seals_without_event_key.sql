-- A seal's foreign key to its event made PostgreSQL check every sealed row through the
-- referential-integrity trigger: a lookup per seal and a KEY SHARE lock on the event row,
-- which rewrites that event's tuple header and writes WAL for it — measured, ≈ 17 buffer
-- accesses per sealed event, the sealer's largest cost (docs/performance.md).
--
-- The key guarded nothing an auditor relies on: events cannot be updated or deleted (the
-- append-only triggers), seals are written only by the sealer from events it has just
-- read, and `audit verify` joins every link to its event and reports a seal whose event
-- is gone as a break ("the sealed event is missing from the log").
ALTER TABLE audit_seals DROP CONSTRAINT audit_seals_global_position_fkey;
