-- Reporting sees how each login was completed: `method` appended to the login view.
CREATE OR REPLACE VIEW rm_logins WITH (security_invoker = true) AS
    SELECT id, tenant_id, at, portal_user_id, outcome, session_id, client_ip, user_agent, request_id,
           method
      FROM portal_logins;

-- The view runs with its reader's rights: reporting roles granted before this column
-- existed may read it too (`reporting grant` names it from now on).
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT role_name FROM reporting_roles LOOP
        EXECUTE format('GRANT SELECT (method) ON portal_logins TO %I', r.role_name);
    END LOOP;
END $$;
