-- The invitation dashboard from counters the `clients` projection keeps, instead of a pass
-- over the whole firm per request. Each client has a bucket that does not depend on the
-- clock; the only clock-dependent split (an open invitation that has expired) is counted at
-- read time from an index over the open invitations' expiries.

-- A client's bucket: its portal status but for the expiry of an open invitation (which
-- depends on the clock), split by whether it has an e-mail address; NULL for an archived
-- client (not on the dashboard). `client_status` (below) is this with the clock applied.
CREATE FUNCTION client_bucket(active bigint, disabled bigint, pending bigint,
                              invitation_state text, has_email boolean, archived boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN archived THEN NULL
                WHEN active > 0 THEN 'active'
                WHEN disabled > 0 THEN 'disabled'
                WHEN invitation_state = 'open' THEN 'open_invitation'
                WHEN pending > 0 THEN 'invited'
                WHEN has_email THEN 'not_invited'
                ELSE 'not_invited_without_email' END
$$;

-- The views' status is the bucket with the clock applied: the rule lives once.
CREATE OR REPLACE FUNCTION client_status(active bigint, disabled bigint, pending bigint,
                                         invitation_state text, invitation_expires_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE b WHEN 'open_invitation' THEN
                      CASE WHEN invitation_expires_at <= now() THEN 'invitation_expired'
                           ELSE 'invited' END
                  WHEN 'not_invited_without_email' THEN 'not_invited'
                  ELSE b END
      FROM client_bucket(active, disabled, pending, invitation_state, true, false) AS b
$$;

-- A client's logins by status (a locked login counts as active, as in `client_status`).
-- Unqualified names: a rebuild's search path points them at its fresh tables.
CREATE FUNCTION client_logins(p_tenant uuid, p_client uuid,
                              OUT active bigint, OUT disabled bigint, OUT pending bigint)
LANGUAGE sql STABLE AS $$
    SELECT count(*) FILTER (WHERE s.status = 'active'),
           count(*) FILTER (WHERE s.status = 'disabled'),
           count(*) FILTER (WHERE s.status = 'pending_activation')
      FROM rm_portal_user_clients pc
      JOIN rm_portal_users u USING (tenant_id, portal_user_id)
     CROSS JOIN LATERAL (SELECT portal_user_status(u.removed, u.disabled, u.activated_at, false)
                         AS status) s
     WHERE pc.tenant_id = p_tenant AND pc.client_id = p_client
$$;

-- Each client's bucket as last counted, and the expiry of its open invitation (NULL in any
-- other bucket).
CREATE TABLE rm_client_buckets (
    tenant_id             uuid NOT NULL,
    client_id             uuid NOT NULL,
    bucket                text,
    invitation_expires_at timestamptz,
    PRIMARY KEY (tenant_id, client_id)
);
CREATE INDEX rm_client_buckets_expiring ON rm_client_buckets (tenant_id, invitation_expires_at)
    WHERE bucket = 'open_invitation';

-- Clients per firm and bucket.
CREATE TABLE rm_client_counts (
    tenant_id uuid NOT NULL,
    bucket    text NOT NULL,
    clients   bigint NOT NULL,
    PRIMARY KEY (tenant_id, bucket)
);

-- Every client's bucket now, from the rows as they stand.
INSERT INTO rm_client_buckets (tenant_id, client_id, bucket, invitation_expires_at)
SELECT tenant_id, client_id, bucket,
       CASE WHEN bucket = 'open_invitation' THEN invitation_expires_at END
  FROM (SELECT c.tenant_id, c.client_id, c.invitation_expires_at,
               client_bucket(l.active, l.disabled, l.pending, c.invitation_state,
                             c.email IS NOT NULL, c.archived) AS bucket
          FROM rm_clients c, client_logins(c.tenant_id, c.client_id) l) b;

INSERT INTO rm_client_counts (tenant_id, bucket, clients)
SELECT tenant_id, bucket, count(*) FROM rm_client_buckets WHERE bucket IS NOT NULL
 GROUP BY tenant_id, bucket;
