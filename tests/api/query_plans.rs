//! A command loads its streams by their key, whatever the planner knows of the firm: a new
//! firm (absent from the statistics, so estimated at a row or two) once made PostgreSQL
//! scan the firm's whole log through the tenant index for every command. And the statements
//! run for every command or every background batch are planned once per connection, not
//! on every execution (measured: planning had cost more than executing).

use crate::common;

use common::*;
use uuid::Uuid;

/// A database with an established firm's long, analysed log; the statistics know no other.
async fn established_log() -> sqlx::PgPool {
    let pool = fresh_database().await;
    let established = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'client', md5((g / 5)::text)::uuid::text, g % 5 + 1, 'ClientRenamed', '1.0',
                jsonb_build_object('ClientRenamed', jsonb_build_object('display_name', 'C' || g)),
                jsonb_build_object('tenant_id', $1::text)
           FROM generate_series(0, 49999) g",
    )
    .bind(established)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE events").execute(&pool).await.unwrap();
    pool
}

/// The plan found the stream by its key, not by walking the firm's log.
fn assert_by_key(plan: serde_json::Value) {
    let plan = plan.to_string();
    assert!(plan.contains("events_pkey"), "{plan}");
    assert!(!plan.contains("events_tenant_order"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_loaded_by_key_even_for_a_firm_the_statistics_do_not_know() {
    let pool = established_log().await;
    let plan = sqlx::query_scalar(&format!(
        "EXPLAIN (FORMAT JSON) {}",
        *eventlog::queries::LOAD_STREAMS_SQL
    ))
    .bind("client")
    .bind(vec![Uuid::now_v7().to_string()])
    .bind(Uuid::now_v7())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_by_key(plan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditors_replay_finds_the_stream_by_key_for_a_firm_the_statistics_do_not_know() {
    let pool = established_log().await;
    let plan = sqlx::query_scalar(&format!(
        "EXPLAIN (FORMAT JSON) {}",
        eventlog::statements::REPLAY_STREAM_SQL
    ))
    .bind(Uuid::now_v7())
    .bind("client")
    .bind(Uuid::now_v7().to_string())
    .bind(i64::MAX)
    .bind(None::<chrono::DateTime<chrono::Utc>>)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_by_key(plan);
}

/// `count` renames of one client of `tenant`, written straight into the log.
async fn renames(pool: &sqlx::PgPool, tenant: Uuid, client: Uuid, count: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'client', $2::text, g, 'ClientRenamed', '1.0',
                jsonb_build_object('ClientRenamed', jsonb_build_object('display_name', 'C' || g)),
                jsonb_build_object('tenant_id', $1::text)
           FROM generate_series(1, $3) g",
    )
    .bind(tenant)
    .bind(client.to_string())
    .bind(count)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_read_together_are_looked_up_by_key_even_by_a_plan_made_on_an_empty_log() {
    let db = fresh_database().await;
    // A new database: nothing analysed, the log empty when the statement is first planned.
    let lookups = portal_accounts::infra::coalesce::generic_plan_pool(&db);
    let mut conn = lookups.acquire().await.unwrap();
    sqlx::raw_sql(&format!(
        "PREPARE probe(text[], text[]) AS {}",
        *eventlog::queries::READ_STREAMS_SQL
    ))
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::raw_sql("EXPLAIN EXECUTE probe('{client}', '{none}')")
        .execute(&mut *conn)
        .await
        .unwrap();

    // The log grows; no ANALYZE comes to invalidate the plan.
    for _ in 0..200 {
        renames(&db, Uuid::now_v7(), Uuid::now_v7(), 100).await;
    }
    let plan: serde_json::Value =
        sqlx::query_scalar("EXPLAIN (FORMAT JSON) EXECUTE probe('{client}', '{none}')")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    let plan = plan.to_string();
    assert!(plan.contains("events_pkey"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
    assert!(!plan.contains("Hash Join"), "{plan}");

    // And what the stream reads answer: each key its own tenant's events, in order.
    let (tenant, client) = (Uuid::now_v7(), Uuid::now_v7());
    renames(&db, tenant, client, 3).await;
    let key = |tenant| eventlog::queries::StreamKey {
        tenant,
        stream_type: "client",
        id: client,
    };
    let read = eventlog::queries::read_streams(&mut *conn, &[key(tenant), key(Uuid::now_v7())])
        .await
        .unwrap();
    assert_eq!(read.get(&key(tenant)).map(Vec::len), Some(3));
    assert_eq!(read.len(), 1, "another tenant's key reads nothing");
}

/// ANALYZE of the log gathers statistics on the columns queries filter by and skips the
/// two jsonb documents, which no query's estimate reads (they were most of its cost).
#[tokio::test]
async fn the_logs_statistics_skip_the_json_documents() {
    let pool = established_log().await;
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_stats WHERE schemaname = 'public' AND tablename = 'events' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for analysed in ["aggregate_id", "event_type", "tenant_id"] {
        assert!(
            columns.iter().any(|c| c == analysed),
            "{analysed}: {columns:?}"
        );
    }
    for skipped in ["payload", "metadata"] {
        assert!(
            !columns.iter().any(|c| c == skipped),
            "{skipped}: {columns:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_looks_fragments_up_in_trigram_indexes_not_the_whole_firm() {
    let pool = common::fresh_database().await;
    let tenant = Uuid::now_v7();
    // A large practice: 100,000 clients, a login each.
    sqlx::query(
        "INSERT INTO rm_clients (tenant_id, client_id, display_name, kind, email, registered_at, last_position)
         SELECT $1, md5(g::text)::uuid, 'Client ' || md5(g::text), 'individual',
                'c' || g || '@example.test', now(), g
           FROM generate_series(1, 100000) g",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO rm_portal_users (tenant_id, portal_user_id, username, email, created_at, last_position)
         SELECT $1, md5('u' || g)::uuid, 'user.' || md5(g::text), 'u' || g || '@example.test', now(), g
           FROM generate_series(1, 100000) g",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO rm_portal_user_clients (tenant_id, portal_user_id, client_id)
         SELECT $1, md5('u' || g)::uuid, md5(g::text)::uuid FROM generate_series(1, 100000) g",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE rm_clients, rm_portal_users, rm_portal_user_clients")
        .execute(&pool)
        .await
        .unwrap();
    let plan: serde_json::Value = sqlx::query_scalar(&format!(
        "EXPLAIN (FORMAT JSON) {}",
        // Its pattern is `$3` in the list's statement; here the second parameter.
        portal_accounts::reads::clients::SEARCH_MATCHES_SQL.replace("$3", "$2")
    ))
    .bind(tenant)
    .bind("%4f1c9e%")
    .fetch_one(&pool)
    .await
    .unwrap();
    let text = plan.to_string();
    for index in [
        "rm_clients_display_name_trgm",
        "rm_clients_email_trgm",
        "rm_portal_users_username_trgm",
    ] {
        assert!(text.contains(index), "{index} unused: {text}");
    }
    assert!(
        !text.contains("\"Seq Scan\""),
        "a search reads a table whole: {text}"
    );
}

/// The checkpoint signer finds each due head's seal by key, even by a plan made while the
/// seals were none and nothing was analysed: as a join, such a plan hashed every seal in the
/// log at each round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_checkpoints_find_their_seals_by_key_even_by_a_plan_made_on_an_empty_log() {
    let db = fresh_database().await;
    let mut conn = db.acquire().await.unwrap();
    sqlx::raw_sql(&format!(
        "SET plan_cache_mode = force_generic_plan; PREPARE due(float8) AS {}",
        portal_accounts::audit::checkpoint::DUE_HEADS_SQL
    ))
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::raw_sql("EXPLAIN EXECUTE due(60)")
        .execute(&mut *conn)
        .await
        .unwrap();

    // 20 chains of 5,000 seals each; no ANALYZE comes to invalidate the plan.
    sqlx::raw_sql(
        "INSERT INTO audit_seals (global_position, tenant_id, chain_seq, prev_hash, event_hash)
         SELECT g, md5((g % 20)::text)::uuid, g / 20 + 1, '\\x00', '\\x00'
           FROM generate_series(0, 99999) g;
         INSERT INTO audit_chain_heads (tenant_id, last_seq, last_hash)
         SELECT md5(t::text)::uuid, 5000, '\\x00' FROM generate_series(0, 19) t",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let plan: Vec<String> = sqlx::query_scalar("EXPLAIN EXECUTE due(60)")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("audit_seals_tenant_id_chain_seq_key"),
        "{plan}"
    );
    assert!(!plan.contains("Seq Scan on audit_seals"), "{plan}");
    assert!(!plan.contains("Hash Join"), "{plan}");
    // And what it answers: every head without a checkpoint, with its seal's position.
    let due: Vec<(Uuid, i64)> = sqlx::query_as::<_, (Uuid, i64, Vec<u8>, i64)>(
        portal_accounts::audit::checkpoint::DUE_HEADS_SQL,
    )
    .bind(60.0)
    .fetch_all(&db)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.0, row.3))
    .collect();
    assert_eq!(due.len(), 20);
    assert!(
        due.iter().all(|(_, p)| (99_980..100_000).contains(p)),
        "{due:?}"
    );
}

/// The dashboard recount, planned at each batch and only by index, looks the touched clients
/// up by key in a read model never analysed (a generic plan cached while it was small
/// hash-joined every client of every firm for each batch), and leaves the transaction's
/// planner settings as it found them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_recount_finds_clients_by_key_in_a_read_model_never_analysed() {
    use projections::dashboard::{PLAN_AS_BEFORE, PLAN_BY_KEY, RECOUNT_SQL};
    let db = fresh_database().await;
    let (firm, client) = (Uuid::now_v7(), Uuid::now_v7());
    let mut tx = db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO rm_clients (tenant_id, client_id, display_name, kind, registered_at, last_position)
         SELECT $1, CASE g WHEN 1 THEN $2 ELSE md5(g::text)::uuid END, 'C' || g, 'organisation', now(), g
           FROM generate_series(1, 50000) g",
    )
    .bind(firm)
    .bind(client)
    .execute(&mut *tx)
    .await
    .unwrap();
    let before: (String, String, String) = sqlx::query_as(PLAN_BY_KEY)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {RECOUNT_SQL}"))
        .persistent(false)
        .bind(vec![firm])
        .bind(vec![client])
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("rm_clients_pkey"), "{plan}");
    assert!(!plan.contains("Seq Scan on rm_clients"), "{plan}");
    assert!(!plan.contains("Hash Join"), "{plan}");
    sqlx::query(RECOUNT_SQL)
        .persistent(false)
        .bind(vec![firm])
        .bind(vec![client])
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(PLAN_AS_BEFORE)
        .bind(&before.0)
        .bind(&before.1)
        .bind(&before.2)
        .execute(&mut *tx)
        .await
        .unwrap();
    let after: (String, String, String) = sqlx::query_as(
        "SELECT current_setting('enable_seqscan'), current_setting('enable_hashjoin'),
                current_setting('enable_mergejoin')",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(after, before, "the planner settings are put back");
    // And the count it keeps: the client, now in its bucket.
    let counted: Vec<(String, i64)> =
        sqlx::query_as("SELECT bucket, clients FROM rm_client_counts WHERE tenant_id = $1")
            .bind(firm)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(counted, vec![("not_invited_without_email".to_string(), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_history_reads_its_streams_by_key_however_many_logins_and_contracts_the_log_holds(
) {
    let pool = established_log().await;
    // The firm's logins and contracts: many streams of the types a history reaches.
    let tenant = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT CASE WHEN g % 2 = 0 THEN 'portal_user' ELSE 'contract' END,
                md5(('s' || g)::text)::uuid::text, 1,
                CASE WHEN g % 2 = 0 THEN 'PortalUserActivated' ELSE 'ContractIssued' END, '1.0',
                CASE WHEN g % 2 = 0 THEN '{\"PortalUserActivated\": {}}'::jsonb
                     ELSE jsonb_build_object('ContractIssued',
                              jsonb_build_object('client_id', md5(('c' || g)::text)::uuid::text))
                END,
                jsonb_build_object('tenant_id', $1::text)
           FROM generate_series(0, 19999) g",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE events").execute(&pool).await.unwrap();
    let plan: serde_json::Value = sqlx::query_scalar(&format!(
        "EXPLAIN (FORMAT JSON) {}",
        portal_accounts::audit::client_history_statement()
    ))
    .bind(tenant)
    .bind(Uuid::now_v7().to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    let plan = plan.to_string();
    assert!(plan.contains("events_pkey"), "{plan}");
    assert!(!plan.contains("events_tenant_order"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_counts_an_items_clients_from_that_items_assignments_only() {
    let pool = fresh_database().await;
    // A big firm's assignments: 20,000 clients, 20 to each item of its catalogue of 1,000.
    let firm = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO rm_client_items (tenant_id, client_id, item_id, assigned_at)
         SELECT $1, gen_random_uuid(), md5((g % 1000)::text)::uuid, now()
           FROM generate_series(1, 20000) g",
    )
    .bind(firm)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE rm_client_items")
        .execute(&pool)
        .await
        .unwrap();
    let plan: serde_json::Value = sqlx::query_scalar(&format!(
        "EXPLAIN (FORMAT JSON) {}",
        portal_accounts::reads::catalogue::list_statement()
    ))
    .bind(firm)
    .bind(false)
    .bind(None::<String>)
    .bind(None::<String>)
    .bind(None::<Uuid>)
    .bind(51_i64)
    .fetch_one(&pool)
    .await
    .unwrap();
    let plan = plan.to_string();
    assert!(plan.contains("rm_client_items_by_item"), "{plan}");
}
