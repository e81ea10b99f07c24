//! A command loads its streams by their key, whatever the planner knows of the firm: a new
//! firm (absent from the statistics, so estimated at a row or two) once made PostgreSQL
//! scan the firm's whole log through the tenant index for every command. And the statements
//! run for every command or every background batch are planned once per connection, not
//! on every execution (measured: planning had cost more than executing).

mod common;

use common::*;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_loaded_by_key_even_for_a_firm_the_statistics_do_not_know() {
    let pool = fresh_database().await;
    // An established firm with a long log, analysed; then a firm the statistics never saw.
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
    let new_firm = Uuid::now_v7();

    let mut conn = pool.acquire().await.unwrap();
    let plan: serde_json::Value = sqlx::query_scalar(&format!(
        "EXPLAIN (FORMAT JSON) {}",
        eventlog::queries::LOAD_STREAMS_SQL
    ))
    .bind("client")
    .bind(vec![Uuid::now_v7().to_string()])
    .bind(new_firm)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let plan = plan.to_string();
    assert!(plan.contains("events_pkey"), "{plan}");
    assert!(!plan.contains("events_tenant_order"), "{plan}");
}

/// `count` renames of one client in a firm of its own, written straight into the log.
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

/// How often the statement `sql` was planned generically and how often afresh on the
/// connection `pool` (one connection) has prepared it on.
async fn plans_of(pool: &sqlx::PgPool, sql_fragment: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements
          WHERE strpos(statement, $1) > 0",
    )
    .bind(sql_fragment)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("no prepared statement like {sql_fragment}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commands_stream_read_and_the_runners_reads_are_not_planned_on_every_execution() {
    let db = fresh_database().await;
    let (tenant, client) = (Uuid::now_v7(), Uuid::now_v7());
    renames(&db, tenant, client, 12).await;
    sqlx::query("ANALYZE events").execute(&db).await.unwrap();
    // One connection, so that its prepared statements are the ones looked at.
    let one = portal_accounts::runtime::db::pool_options()
        .max_connections(1)
        .connect_with(db.connect_options().as_ref().clone())
        .await
        .unwrap();

    // A command reading its one stream: PostgreSQL plans the first five executions afresh,
    // then keeps the generic plan if it is no dearer.
    for _ in 0..10 {
        let events = eventlog::queries::load_streams::<aggregates::client::Client>(
            &one,
            aggregates::ids::TenantId::from_uuid(tenant),
            &[client],
        )
        .await
        .unwrap();
        assert_eq!(events.len(), 12);
    }
    let (generic, custom) = plans_of(&one, eventlog::queries::LOAD_STREAM_SQL).await;
    assert!(generic >= 5, "generic {generic}, custom {custom}");

    // A projection catching up one event per batch: each batch reads a range of the log.
    let engine = projections::Engine::new(one.clone(), projections::all()).with_batch_size(1);
    let clients = projections::all().into_iter().next().unwrap();
    // Transactions still open elsewhere in the cluster (other tests) can hold the commit
    // horizon back for a moment: catch up until all twelve are covered.
    let mut covered = 0;
    while covered < 12 {
        covered += engine.catch_up(clients.as_ref()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (generic, custom) = plans_of(&one, "AND event_type = ANY($4)").await;
    assert_eq!((generic >= 12, custom), (true, 0), "generic {generic}");
}
