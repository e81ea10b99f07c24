-- Staff see at a glance whether a client has logged in: `last_login_at`, the latest
-- successful login of any of its logins (each found through the index
-- portal_logins_last_success, within the lateral join the view already has). Appended as
-- the view's last column, so the view is replaced in place and keeps its grants.
CREATE OR REPLACE VIEW rm_client_status AS
SELECT c.*,
       c.email IS NOT NULL AS has_email,
       CASE WHEN u.active > 0 THEN 'active'
            WHEN u.disabled > 0 THEN 'disabled'
            WHEN c.invitation_state = 'open' AND c.invitation_expires_at <= now() THEN 'invitation_expired'
            WHEN c.invitation_state = 'open' OR u.pending > 0 THEN 'invited'
            ELSE 'not_invited' END AS status,
       u.last_login_at
  FROM rm_clients c
  LEFT JOIN LATERAL (
      SELECT count(*) FILTER (WHERE s.status IN ('active', 'locked')) AS active,
             count(*) FILTER (WHERE s.status = 'disabled') AS disabled,
             count(*) FILTER (WHERE s.status = 'pending_activation') AS pending,
             max(s.last_login_at) AS last_login_at
        FROM rm_portal_user_clients pc
        JOIN rm_portal_user_status s USING (tenant_id, portal_user_id)
       WHERE pc.tenant_id = c.tenant_id AND pc.client_id = c.client_id
  ) u ON true;
ALTER VIEW rm_client_status SET (security_invoker = true);
