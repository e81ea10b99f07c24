-- Archived clients (a test client, a former client) leave staff lists and the invitation
-- dashboard's counts; `?archived=true` lists them. Filled by the clients projection from
-- ClientArchived / ClientUnarchived.
ALTER TABLE rm_clients ADD COLUMN archived boolean NOT NULL DEFAULT false;

-- The status view lists rm_clients' columns as they were when it was made: made again to
-- carry `archived` (same definition otherwise), run as its caller, and granted again to
-- the reporting logins that had it.
DROP VIEW rm_client_status;
CREATE VIEW rm_client_status AS
SELECT c.*,
       c.email IS NOT NULL AS has_email,
       CASE WHEN u.active > 0 THEN 'active'
            WHEN u.disabled > 0 THEN 'disabled'
            WHEN c.invitation_state = 'open' AND c.invitation_expires_at <= now() THEN 'invitation_expired'
            WHEN c.invitation_state = 'open' OR u.pending > 0 THEN 'invited'
            ELSE 'not_invited' END AS status
  FROM rm_clients c
  LEFT JOIN LATERAL (
      SELECT count(*) FILTER (WHERE s.status IN ('active', 'locked')) AS active,
             count(*) FILTER (WHERE s.status = 'disabled') AS disabled,
             count(*) FILTER (WHERE s.status = 'pending_activation') AS pending
        FROM rm_portal_user_clients pc
        JOIN rm_portal_user_status s USING (tenant_id, portal_user_id)
       WHERE pc.tenant_id = c.tenant_id AND pc.client_id = c.client_id
  ) u ON true;
ALTER VIEW rm_client_status SET (security_invoker = true);
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT role_name FROM reporting_roles LOOP
        EXECUTE format('GRANT SELECT ON rm_client_status TO %I', r.role_name);
    END LOOP;
END $$;
