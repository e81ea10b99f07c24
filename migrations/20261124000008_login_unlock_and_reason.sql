-- Why a login was disabled, shown to staff beside its status (from LoginDisabled's reason;
-- cleared when enabled again). Logins disabled before this column existed show null until
-- the read model is rebuilt.
ALTER TABLE rm_portal_users ADD COLUMN disabled_reason text;
