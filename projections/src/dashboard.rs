//! The invitation dashboard's counters, kept by the `clients` read model: after each batch
//! the clients it touched are put in their bucket again (`client_bucket` of their
//! `client_logins`, migrations 26 and 27) and
//! the firm's counts move by the difference, so a dashboard read is a few rows, not a pass
//! over the firm.

use aggregates::events::AnyEvent;
use eventlog::Envelope;
use sqlx::PgConnection;

use crate::engine::ProjectionError;

/// Recounts the clients touched by `events`: a client event's client, and every client a
/// portal-user event's login reaches (links are never deleted with the login, only by a
/// client's own `PortalUserDetached`).
pub(crate) async fn recount(
    tx: &mut PgConnection,
    events: &[&Envelope],
) -> Result<(), ProjectionError> {
    let (mut tenants, mut streams) = (Vec::new(), Vec::new());
    for e in events {
        if matches!(e.event, AnyEvent::Client(_) | AnyEvent::PortalUser(_)) {
            tenants.push(e.tenant.uuid());
            streams.push(e.stream_uuid()?);
        }
    }
    if streams.is_empty() {
        return Ok(());
    }
    // Planned at each batch (unnamed) and by index only: a plan cached on a new, unanalysed
    // read model scanned the whole firm for every batch (decisions.md, record 38).
    let before: (String, String, String) = sqlx::query_as(PLAN_BY_KEY).fetch_one(&mut *tx).await?;
    sqlx::query(RECOUNT_SQL)
        .persistent(false)
        .bind(&tenants)
        .bind(streams)
        .execute(&mut *tx)
        .await?;
    sqlx::query(PLAN_AS_BEFORE)
        .bind(before.0)
        .bind(before.1)
        .bind(before.2)
        .execute(&mut *tx)
        .await?;
    // An emptied bucket has no row, as in a count made from scratch.
    sqlx::query("DELETE FROM rm_client_counts WHERE tenant_id = ANY($1) AND clients = 0")
        .bind(tenants)
        .execute(tx)
        .await?;
    Ok(())
}

/// For the statements after it in the transaction: joins by nested loops of index lookups.
/// Answers the settings it found, to be put back by `PLAN_AS_BEFORE`.
pub const PLAN_BY_KEY: &str = "WITH before AS MATERIALIZED (
        SELECT current_setting('enable_seqscan') AS seqscan,
               current_setting('enable_hashjoin') AS hashjoin,
               current_setting('enable_mergejoin') AS mergejoin)
    SELECT seqscan, hashjoin, mergejoin FROM before
     WHERE set_config('enable_seqscan', 'off', true) IS NOT NULL
       AND set_config('enable_hashjoin', 'off', true) IS NOT NULL
       AND set_config('enable_mergejoin', 'off', true) IS NOT NULL";
pub const PLAN_AS_BEFORE: &str = "SELECT set_config('enable_seqscan', $1, true),
        set_config('enable_hashjoin', $2, true), set_config('enable_mergejoin', $3, true)";

/// `$1`, `$2`: the touched streams (tenant, id), clients or logins (a login's id matches no
/// client row, so `fresh` keeps only clients).
pub const RECOUNT_SQL: &str = "
WITH streams AS (
    SELECT DISTINCT tenant_id, id FROM UNNEST($1::uuid[], $2::uuid[]) AS s(tenant_id, id)),
touched AS (
    SELECT tenant_id, id AS client_id FROM streams
    UNION
    SELECT pc.tenant_id, pc.client_id FROM streams s
      JOIN rm_portal_user_clients pc ON pc.tenant_id = s.tenant_id AND pc.portal_user_id = s.id),
fresh AS (
    SELECT c.tenant_id, c.client_id, c.invitation_expires_at, b.bucket AS old, b.client_id IS NOT NULL AS known,
           client_bucket(l.active, l.disabled, l.pending, c.invitation_state,
                         c.email IS NOT NULL, c.archived) AS new
      FROM touched t
      JOIN rm_clients c USING (tenant_id, client_id)
      LEFT JOIN rm_client_buckets b USING (tenant_id, client_id)
      CROSS JOIN LATERAL client_logins(c.tenant_id, c.client_id) l),
changed AS (
    INSERT INTO rm_client_buckets AS b (tenant_id, client_id, bucket, invitation_expires_at)
    SELECT tenant_id, client_id, new, CASE WHEN new = 'open_invitation' THEN invitation_expires_at END
      FROM fresh
     WHERE NOT known OR old IS DISTINCT FROM new
        OR (new = 'open_invitation')
    ON CONFLICT (tenant_id, client_id) DO UPDATE
       SET bucket = EXCLUDED.bucket, invitation_expires_at = EXCLUDED.invitation_expires_at
    RETURNING b.tenant_id),
moves AS (
    SELECT tenant_id, old AS bucket, -1 AS d FROM fresh WHERE known AND old IS NOT NULL AND old IS DISTINCT FROM new
    UNION ALL
    SELECT tenant_id, new, 1 FROM fresh WHERE new IS NOT NULL AND (NOT known OR old IS DISTINCT FROM new))
INSERT INTO rm_client_counts AS k (tenant_id, bucket, clients)
SELECT tenant_id, bucket, sum(d) FROM moves GROUP BY tenant_id, bucket
ON CONFLICT (tenant_id, bucket) DO UPDATE SET clients = k.clients + EXCLUDED.clients";
