-- Searching a firm's clients by a fragment of a name, e-mail address, reference or login
-- (`q` on the client list) looks the fragment up in trigram indexes instead of reading
-- every client of the firm: a large practice has tens of thousands. (pg_trgm is a trusted
-- extension: a database owner may create it.)
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX rm_clients_display_name_trgm ON rm_clients USING gin (display_name gin_trgm_ops);
CREATE INDEX rm_clients_email_trgm ON rm_clients USING gin (email gin_trgm_ops);
CREATE INDEX rm_clients_external_ref_trgm ON rm_clients USING gin (external_ref gin_trgm_ops);
CREATE INDEX rm_portal_users_username_trgm ON rm_portal_users USING gin (username gin_trgm_ops);
CREATE INDEX rm_portal_users_email_trgm ON rm_portal_users USING gin (email gin_trgm_ops);
