-- Portal users' names (PortalUserCreated's first_name/last_name, PortalUserRenamed), and the
-- lookup of logins by e-mail address (login by e-mail, "forgot username"). Existing rows
-- show null names: their events carry none.
ALTER TABLE rm_portal_users ADD COLUMN first_name text, ADD COLUMN last_name text;
CREATE INDEX rm_portal_users_by_email ON rm_portal_users (tenant_id, lower(email));

-- E-mails that carry no one-time link: a request to sign a contract, the confirmation of a
-- signature, a username reminder. They name the contract (`contract_id`) or nothing; what
-- the text needs beyond the recipient (the contract's title and content hash) is in
-- `details`. Link columns stay for the link kinds and are null for these.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN
    ('invitation', 'activation', 'password_reset', 'contract_to_sign', 'contract_signed',
     'username_reminder'));
ALTER TABLE notifications
    ALTER COLUMN link_stream_id DROP NOT NULL,
    ALTER COLUMN link_id DROP NOT NULL,
    ALTER COLUMN link_expires_at DROP NOT NULL,
    ADD COLUMN contract_id uuid,
    ADD COLUMN details jsonb NOT NULL DEFAULT '{}';
-- A link kind still needs its link.
ALTER TABLE notifications ADD CONSTRAINT notifications_link_kinds_have_links CHECK (
    kind NOT IN ('invitation', 'activation', 'password_reset')
    OR (link_stream_id IS NOT NULL AND link_id IS NOT NULL AND link_expires_at IS NOT NULL));
-- One e-mail per event and recipient: a request to sign goes to each of the client's logins.
ALTER TABLE notifications DROP CONSTRAINT notifications_one_per_event;
-- `recipient` is the portal user for those, the nil UUID where an event has one recipient.
ALTER TABLE notifications
    ADD COLUMN recipient uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ADD CONSTRAINT notifications_one_per_event_and_recipient UNIQUE (source_position, recipient);
