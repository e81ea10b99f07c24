//! A command loads its streams by their key, whatever the planner knows of the firm: a new
//! firm (absent from the statistics, so estimated at a row or two) once made PostgreSQL
//! scan the firm's whole log through the tenant index for every command.

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
