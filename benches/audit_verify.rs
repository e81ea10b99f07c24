//! Benchmark: `audit verify` over a large tenant log, beside the raw rate at which the same
//! PostgreSQL hands the same rows to a client, measured in the same run.
//!
//!     cargo bench --bench audit_verify                # 1,000,000 events
//!     cargo bench --bench audit_verify -- 200000      # another size
//!
//! Uses DATABASE_URL, or a private cluster under target/bench-data/audit_verify. Results: docs/performance.md.

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use futures::TryStreamExt;
use portal_accounts::audit::verify::verify_tenant;
use portal_accounts::services::tenants::{create_tenant, tenant_id_by_slug};
use support::synthetic::append_events;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let (db, app) =
        support::synthetic::bench_app(env!("CARGO_MANIFEST_DIR"), "audit_verify").await?;
    let pool = db.pool.clone();
    // The log for a size is generated once per database and reused by later runs.
    let slug = format!("verify-{events}");
    let tenant = match tenant_id_by_slug(&app, &slug).await? {
        Some(id) => id,
        None => {
            let id = create_tenant(&app, &slug, "Bench").await?;
            let started = Instant::now();
            append_events(&pool, id, events, 200).await?;
            let appended = started.elapsed().as_secs_f64();
            println!(
                "append                      {appended:.1} s  ({:.0} events/s)",
                events as f64 / appended
            );
            let started = Instant::now();
            let sealed = portal_accounts::audit::seal::catch_up(&pool).await?;
            let sealing = started.elapsed().as_secs_f64();
            println!(
                "seal (sealer, batched)      {sealing:.1} s  ({:.0} events/s, {sealed} events)",
                sealed as f64 / sealing
            );
            sqlx::query("ANALYZE events").execute(&pool).await?;
            id
        }
    };

    // The floor: the same columns, same order, read and discarded.
    let started = Instant::now();
    let mut rows = sqlx::query(
        "SELECT s.chain_seq, s.global_position, s.prev_hash, s.event_hash,
                concat_ws(E'\\n', global_position, aggregate_type, aggregate_id, sequence,
                    event_type, event_version, (extract(epoch FROM recorded_at) * 1000000)::bigint,
                    payload::text, metadata::text)
           FROM audit_seals s JOIN events e USING (global_position)
          WHERE s.tenant_id = $1 ORDER BY s.chain_seq",
    )
    .bind(tenant)
    .fetch(&pool);
    let mut raw = 0i64;
    while rows.try_next().await?.is_some() {
        raw += 1;
    }
    drop(rows);
    let raw_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    // The operator edge hands out the tenant's scope, as `audit verify` does.
    let scope = portal_accounts::auth::operator::tenant(&pool, app.keys(), &slug)
        .await?
        .expect("the bench tenant exists");
    let report = verify_tenant(&scope).await?;
    let verify_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(report.ok, "verification failed: {report:?}");
    // A floor that read nothing measures nothing (a log without seals, say).
    anyhow::ensure!(
        raw > 0 && raw == report.checked,
        "the floor read {raw} rows, verify checked {}: not the same work",
        report.checked
    );

    println!("events in tenant log        {}", report.checked);
    println!(
        "raw read of the same rows   {raw_seconds:.2} s  ({:.0} rows/s)",
        raw as f64 / raw_seconds
    );
    println!(
        "audit verify                {verify_seconds:.2} s  ({:.0} events/s)",
        report.checked as f64 / verify_seconds
    );
    println!(
        "verify / raw read           {:.0}%",
        100.0 * raw_seconds / verify_seconds
    );
    db.shutdown().await;
    Ok(())
}
