-- A request to sign is e-mailed to each of a client's logins: one event, several
-- notifications, so `source_position` no longer names a row. The notification log's audit
-- chain keys its rows by `row_no` instead: existing rows keep their source position as their
-- number (what their seals already name), new rows draw numbers above every one of them.
ALTER TABLE notifications ADD COLUMN row_no bigint;
UPDATE notifications SET row_no = source_position
 WHERE id IN (SELECT DISTINCT ON (source_position) id FROM notifications
               ORDER BY source_position, created_at, id);
CREATE SEQUENCE notifications_row_no_seq OWNED BY notifications.row_no;
SELECT setval('notifications_row_no_seq',
              GREATEST((SELECT max(source_position) FROM notifications),
                       (SELECT max(global_position) FROM events), 1));
UPDATE notifications SET row_no = nextval('notifications_row_no_seq') WHERE row_no IS NULL;
ALTER TABLE notifications
    ALTER COLUMN row_no SET DEFAULT nextval('notifications_row_no_seq'),
    ALTER COLUMN row_no SET NOT NULL,
    ADD CONSTRAINT notifications_row_no_unique UNIQUE (row_no);
