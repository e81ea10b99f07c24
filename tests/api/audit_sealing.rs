//! The sealer off the write path: every event sealed exactly once, whether two sealers run
//! at once or one dies in the middle of a batch; the chain verifies afterwards.

use crate::common;
use reqwest::Method;

use common::*;
use portal_accounts::audit::seal;
use portal_accounts::audit::verify::verify_tenant;

const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

async fn seal_count(pool: &sqlx::PgPool, tenant: uuid::Uuid) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*), COALESCE(min(chain_seq), 0), COALESCE(max(chain_seq), 0)
           FROM audit_seals WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn verified(s: &Server, t: &Tenant) -> portal_accounts::audit::verify::Verification {
    let scope = portal_accounts::auth::operator::tenant(s.pool(), s.app.keys(), &t.slug)
        .await
        .unwrap()
        .unwrap();
    verify_tenant(&scope).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sealers_at_once_seal_every_event_exactly_once() {
    let (s, t) = Server::with_firm().await;
    common::synthetic::append_events(s.pool(), t.id, 6_000, 100)
        .await
        .unwrap();
    // Each waits until this tenant's events are sealed (other tests' open transactions may
    // hold the commit horizon back for a moment).
    let (a, b) = tokio::join!(
        seal::seal_tenant(s.pool(), t.id, LIMIT),
        seal::seal_tenant(s.pool(), t.id, LIMIT)
    );
    a.unwrap();
    b.unwrap();
    let events = event_count(s.pool(), t.id).await;
    assert_eq!(seal_count(s.pool(), t.id).await, (events, 1, events));
    let v = verified(&s, &t).await;
    assert!(v.ok, "{v:?}");
    assert_eq!((v.checked, v.unsealed), (events, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealer_killed_mid_batch_leaves_nothing_half_sealed() {
    let (s, t) = Server::with_firm().await;
    common::synthetic::append_events(s.pool(), t.id, 3_000, 100)
        .await
        .unwrap();
    let events = event_count(s.pool(), t.id).await;

    // A sealer in the middle of its batch: it holds the checkpoint and has written links.
    let mut doomed = s.pool().acquire().await.unwrap().detach();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut doomed)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut doomed).await.unwrap();
    sqlx::query("SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
        .bind(seal::CHECKPOINT)
        .execute(&mut doomed)
        .await
        .unwrap();
    let half = sqlx::query(
        "INSERT INTO audit_seals (global_position, tenant_id, chain_seq, prev_hash, event_hash)
         SELECT global_position, tenant_id, row_number() OVER (ORDER BY global_position) + 1000000, '\\x00', '\\x00'
           FROM events e WHERE tenant_id = $1
            AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.global_position = e.global_position)
          LIMIT 500",
    )
    .bind(t.id)
    .execute(&mut doomed)
    .await
    .unwrap();
    assert!(half.rows_affected() > 0);

    // Another sealer waits for it …
    let pool = s.pool().clone();
    let tenant = t.id;
    let waiting = tokio::spawn(async move { seal::seal_tenant(&pool, tenant, LIMIT).await });
    // … and the first one dies (its process killed: the server ends its session).
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert!(killed);
    drop(doomed);
    waiting.await.unwrap().unwrap();

    assert_eq!(seal_count(s.pool(), t.id).await, (events, 1, events));
    let v = verified(&s, &t).await;
    assert!(v.ok, "{v:?}");
    assert_eq!(v.checked, events);
}

#[tokio::test]
async fn writes_are_sealed_by_the_background_sealer_shortly_after_commit() {
    let mut s = Server::start().await;
    let t = s.tenant().await;
    s.start_background(None);
    let created = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            "/api/v1/clients",
            Some(serde_json::json!({"display_name": "Sealed soon", "kind": "individual"})),
        )
        .await;
    let position = created["position"].as_i64().unwrap();
    let sealed = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM audit_seals WHERE global_position = $1)",
        )
        .bind(position)
        .fetch_one(s.pool())
        .await
        .unwrap()
        .then_some(())
    };
    eventually(
        "the event sealed",
        std::time::Duration::from_secs(10),
        sealed,
    )
    .await;
    s.stop_background().await;
}

#[tokio::test]
async fn the_login_history_and_notification_log_are_chained_too() {
    let (s, t) = Server::with_firm().await;
    for name in ["nobody-1", "nobody-2", "nobody-3"] {
        let status = s
            .staff("")
            .status_of(
                Method::POST,
                &format!("/portal/v1/{}/login", t.slug),
                Some(serde_json::json!({"username": name, "password": "not the password"})),
            )
            .await;
        assert_eq!(status, 401);
    }
    // An e-mail owed, as the notifications consumer records one.
    sqlx::query(
        "INSERT INTO notifications (id, tenant_id, source_position, kind, to_address, recipient_name,
                                    link_stream_id, link_id, link_expires_at)
         SELECT gen_random_uuid(), $1, max(global_position), 'invitation', 'jo@example.org', 'Jo',
                gen_random_uuid(), gen_random_uuid(), now() + interval '1 day'
           FROM events WHERE tenant_id = $1",
    )
    .bind(t.id)
    .execute(s.pool())
    .await
    .unwrap();
    // One event owing two e-mails (a request to sign, to each of two logins). Two rows
    // whatever the plan: a volatile VALUES list joined to the tenant's events was evaluated
    // again for each event when the planner put it on the inner side (19 rows once).
    sqlx::query(
        "INSERT INTO notifications (id, tenant_id, source_position, kind, to_address, recipient_name,
                                    recipient, portal_user_id, contract_id, details)
         SELECT gen_random_uuid(), $1, (SELECT max(global_position) FROM events WHERE tenant_id = $1),
                'contract_to_sign', 'jo@example.org', 'Jo', u, u, gen_random_uuid(),
                '{\"title\": \"Letter\"}'::jsonb
           FROM (SELECT gen_random_uuid() AS u FROM generate_series(1, 2)) AS r",
    )
    .bind(t.id)
    .execute(s.pool())
    .await
    .unwrap();

    let v = verified(&s, &t).await;
    assert!(v.ok, "{v:?}");
    assert_eq!(v.logins.as_ref().unwrap().checked, 3);
    assert_eq!(v.notifications.as_ref().unwrap().checked, 3);

    // A failed attempt rewritten as a success.
    tamper(
        &s,
        "UPDATE portal_logins SET outcome = 'succeeded'
          WHERE id = (SELECT min(id) FROM portal_logins WHERE tenant_id = $1)",
        t.id,
    )
    .await;
    let v = verified(&s, &t).await;
    assert!(!v.ok);
    let logins = v.logins.unwrap();
    assert!(!logins.ok && logins.problem.unwrap().contains("altered"));
    assert!(v.notifications.unwrap().ok);

    // A request to sign made to name another contract.
    tamper(
        &s,
        "UPDATE notifications SET details = '{\"title\": \"Other\"}' WHERE tenant_id = $1
            AND kind = 'contract_to_sign'",
        t.id,
    )
    .await;
    let v = verified(&s, &t).await;
    assert!(!v.notifications.unwrap().ok);

    // An owed e-mail's address changed.
    tamper(
        &s,
        "UPDATE notifications SET to_address = 'attacker@example.org' WHERE tenant_id = $1",
        t.id,
    )
    .await;
    let v = verified(&s, &t).await;
    assert!(!v.notifications.unwrap().ok);
}

/// The links, in position order, and the heads of every chain in `pool`'s database.
async fn chains(
    pool: &sqlx::PgPool,
) -> (
    Vec<(i64, uuid::Uuid, i64, Vec<u8>, Vec<u8>)>,
    Vec<(uuid::Uuid, i64, Vec<u8>)>,
) {
    let links = sqlx::query_as(
        "SELECT global_position, tenant_id, chain_seq, prev_hash, event_hash
           FROM audit_seals ORDER BY global_position",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let heads = sqlx::query_as(
        "SELECT tenant_id, last_seq, last_hash FROM audit_chain_heads ORDER BY tenant_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (links, heads)
}

/// The sealer commits without waiting for its WAL flush, so a crash of the machine can lose
/// its last batches (never an event: those commit durably). What the crash leaves is the
/// log with those events unsealed and the sealer's checkpoint before them — the state a
/// copy of the database taken before the sealer reached them has, exactly. Sealing that
/// copy must give the very links the original got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seals_lost_in_a_crash_are_sealed_again_identically() {
    let original = fresh_database().await;
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    for tenant in [a, b] {
        common::synthetic::append_events(&original, tenant, 1_200, 100)
            .await
            .unwrap();
        seal::seal_tenant(&original, tenant, LIMIT).await.unwrap();
    }
    for tenant in [b, a] {
        common::synthetic::append_events(&original, tenant, 900, 100)
            .await
            .unwrap();
    }
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&original)
        .await
        .unwrap();
    let options = original.connect_options().as_ref().clone();
    original.close().await;
    let copy_name = format!("{database}_lost");
    // PostgreSQL copies a database only when no one else is in it. The server "crashed":
    // its sessions are ended (a closed sqlx pool can leave one behind for a while, and
    // autovacuum may visit), and a session's end takes a moment.
    let shared = pool().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&database)
            .execute(&shared)
            .await
            .unwrap();
        match sqlx::query(&format!("CREATE DATABASE {copy_name} TEMPLATE {database}"))
            .execute(&shared)
            .await
        {
            Ok(_) => break,
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("55006") && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            Err(e) => panic!("copying the database: {e}"),
        }
    }
    let connect = |name: &str| {
        portal_accounts::infra::pool::pool_options()
            .max_connections(4)
            .connect_lazy_with(options.clone().database(name))
    };
    let (original, copy) = (connect(&database), connect(&copy_name));
    let unsealed_in_copy: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.global_position = e.global_position)",
    )
    .fetch_one(&copy)
    .await
    .unwrap();
    assert_eq!(unsealed_in_copy, 1_800);

    for pool in [&original, &copy] {
        for tenant in [a, b] {
            seal::seal_tenant(pool, tenant, LIMIT).await.unwrap();
        }
    }
    let (sealed, again) = (chains(&original).await, chains(&copy).await);
    assert_eq!(sealed.0.len(), 2 * 2_100);
    assert_eq!(sealed.1.len(), 2);
    assert!(
        sealed == again,
        "the copy's chain differs from the original's"
    );
}
