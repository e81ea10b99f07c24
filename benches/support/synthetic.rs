//! Synthetic event logs for benchmarks and large-log tests: realistic-sized events written
//! straight into `events` (through the hash-chain trigger, like any append).

use sqlx::PgPool;
use uuid::Uuid;

/// Appends `count` price-change events for `tenant_id`, 1,000 per item stream, each payload
/// padded to about `payload_bytes`. Written in batches of 50,000 rows per statement.
pub async fn append_events(
    pool: &PgPool,
    tenant_id: Uuid,
    count: i64,
    payload_bytes: i32,
) -> Result<(), sqlx::Error> {
    let base: i64 = sqlx::query_scalar("SELECT COALESCE(max(sequence), 0) FROM events WHERE tenant_id = $1 AND event_type = 'ItemPriceChanged'")
        .bind(tenant_id)
        .fetch_one(pool)
        .await?;
    let mut written = 0;
    while written < count {
        let batch = (count - written).min(50_000);
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT 'item', md5($1::text || ((g + $4) / 1000)::text)::uuid::text, (g + $4) % 1000 + 1,
                    'ItemPriceChanged', '1.0',
                    jsonb_build_object('ItemPriceChanged', jsonb_build_object(
                        'unit_price', jsonb_build_object('amount_minor', g, 'currency', 'GBP'),
                        'previous', jsonb_build_object('amount_minor', g - 1, 'currency', 'GBP'),
                        'note', repeat('x', $3))),
                    jsonb_build_object('tenant_id', $1::text, 'actor', 'system', 'request_id', 'synthetic',
                        'client_ip', NULL, 'user_agent', NULL, 'command', 'Synthetic')
               FROM generate_series($2::bigint, $2::bigint + $5 - 1) AS g",
        )
        .bind(tenant_id)
        .bind(written)
        .bind(payload_bytes)
        .bind(base * 1000)
        .bind(batch)
        .execute(pool)
        .await?;
        written += batch;
    }
    Ok(())
}

/// A bench's database: DATABASE_URL, or its own private cluster under
/// `target/bench-data/{bench}` (kept between runs, so generated logs are reused; no bench
/// measures on another's data), migrated, with an app on it.
pub async fn bench_app(
    manifest_dir: &str,
    bench: &str,
) -> anyhow::Result<(
    portal_accounts::runtime::db::Database,
    portal_accounts::http::Edge,
)> {
    let data_dir = std::path::PathBuf::from(manifest_dir)
        .join("target/bench-data")
        .join(bench);
    let config = portal_accounts::runtime::config::DatabaseConfig {
        database_url: std::env::var("DATABASE_URL").ok(),
        data_dir: data_dir.clone(),
    };
    let db = portal_accounts::runtime::db::Database::connect(&config).await?;
    db.migrate().await?;
    let secret = portal_accounts::security::ServerSecret::from_config(None, &data_dir)?;
    let masters = portal_accounts::security::data_master_keys(None, None, &data_dir)?;
    let app = portal_accounts::http::Edge::on(db.pool.clone(), secret, masters);
    Ok((db, app))
}
