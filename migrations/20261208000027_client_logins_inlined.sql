-- `client_logins` as a set-returning SQL function of one row, so that PostgreSQL inlines it
-- into the dashboard recount (a plain join on the links' primary key) instead of running
-- it as a separate query per client: the recount after each batch of the `clients` read
-- model took about as long as the batch's own writes. Same rule, same columns.
DROP FUNCTION client_logins(uuid, uuid);
CREATE FUNCTION client_logins(p_tenant uuid, p_client uuid)
RETURNS TABLE (active bigint, disabled bigint, pending bigint)
LANGUAGE sql STABLE ROWS 1 AS $$
    SELECT count(*) FILTER (WHERE s.status = 'active'),
           count(*) FILTER (WHERE s.status = 'disabled'),
           count(*) FILTER (WHERE s.status = 'pending_activation')
      FROM rm_portal_user_clients pc
      JOIN rm_portal_users u USING (tenant_id, portal_user_id)
     CROSS JOIN LATERAL (SELECT portal_user_status(u.removed, u.disabled, u.activated_at, false)
                         AS status) s
     WHERE pc.tenant_id = p_tenant AND pc.client_id = p_client
$$;
