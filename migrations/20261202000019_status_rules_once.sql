-- The status rules in SQL, once each, so that the status views and the invitation
-- dashboard's counts (which groups a firm's logins in one pass instead of looking each
-- client's up on its own) cannot drift apart. The views are replaced in place (same
-- columns), keeping their grants.

-- A portal login's status. `locked` is whether failed logins lock it now.
CREATE FUNCTION portal_user_status(removed boolean, disabled boolean,
                                   activated_at timestamptz, locked boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN removed THEN 'removed'
                WHEN disabled THEN 'disabled'
                WHEN activated_at IS NULL THEN 'pending_activation'
                WHEN locked THEN 'locked'
                ELSE 'active' END
$$;

-- A client's portal status from its logins' counts (a locked login counts as active) and
-- its invitation. Reads the clock for an open invitation's expiry.
CREATE FUNCTION client_status(active bigint, disabled bigint, pending bigint,
                              invitation_state text, invitation_expires_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN active > 0 THEN 'active'
                WHEN disabled > 0 THEN 'disabled'
                WHEN invitation_state = 'open' AND invitation_expires_at <= now() THEN 'invitation_expired'
                WHEN invitation_state = 'open' OR pending > 0 THEN 'invited'
                ELSE 'not_invited' END
$$;

CREATE OR REPLACE VIEW rm_portal_user_status AS
SELECT u.tenant_id, u.portal_user_id, u.username, u.email, u.created_at, u.activated_at,
       u.disabled, u.removed,
       (SELECT l.at FROM portal_logins l
         WHERE l.tenant_id = u.tenant_id AND l.portal_user_id = u.portal_user_id
           AND l.outcome = 'succeeded'
         ORDER BY l.id DESC LIMIT 1) AS last_login_at,
       u.last_position,
       portal_user_status(u.removed, u.disabled, u.activated_at,
           EXISTS (SELECT 1 FROM portal_login_throttle t
                    WHERE t.tenant_id = u.tenant_id AND t.portal_user_id = u.portal_user_id
                      AND t.locked_until > now())) AS status
  FROM rm_portal_users u;

CREATE OR REPLACE VIEW rm_client_status AS
SELECT c.*,
       c.email IS NOT NULL AS has_email,
       client_status(u.active, u.disabled, u.pending, c.invitation_state,
                     c.invitation_expires_at) AS status,
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
ALTER VIEW rm_portal_user_status SET (security_invoker = true);
ALTER VIEW rm_client_status SET (security_invoker = true);
