//! The pool hands out a connection used within the last second without a ping (a round
//! trip per statement saved) and still never serves a stale pool: a connection idle for
//! longer is checked and replaced if its backend went away, and a connection lost in that
//! last second fails at most one statement and is dropped, not handed out again. (The
//! tests set the idle limit to zero or an hour, so that neither depends on how fast the
//! machine is.)

use crate::common;

use std::time::Duration;

use common::*;
use sqlx::PgPool;

/// Ends the backend of the pool's one connection, from another connection.
async fn end_backend_of(pool: &PgPool, killer: &PgPool) {
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
        .unwrap();
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(killer)
        .await
        .unwrap();
    assert!(ended);
    // The backend is gone once it no longer shows in pg_stat_activity.
    while sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
    )
    .bind(pid)
    .fetch_one(killer)
    .await
    .unwrap()
    {
        tokio::task::yield_now().await;
    }
}

/// A pool of one connection, pinged once idle for longer than `idle` (the service's pool:
/// one second; a test cannot rely on how much time passes between two statements).
async fn one_connection_pool(idle: Duration) -> PgPool {
    let shared = pool().await;
    portal_accounts::infra::pool::pool_options_pinging_after(idle)
        .max_connections(1)
        .min_connections(0)
        .connect_with(shared.connect_options().as_ref().clone())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_idle_past_a_second_is_checked_and_replaced_before_use() {
    // Every connection idle for any time at all is past this pool's limit.
    let (one, killer) = (one_connection_pool(Duration::ZERO).await, pool().await);
    end_backend_of(&one, &killer).await;
    let answer: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&one)
        .await
        .unwrap();
    assert_eq!(answer, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_within_the_second_fails_at_most_one_statement_and_is_dropped() {
    // Nothing in this test stays idle for an hour: no ping.
    let (one, killer) = (
        one_connection_pool(Duration::from_secs(3_600)).await,
        pool().await,
    );
    end_backend_of(&one, &killer).await;
    // At most this statement fails: usually it does (it is sent on the dead connection);
    // sometimes sqlx has already seen the socket close and the pool opens a new one.
    let _first = sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&one)
        .await;
    let answer: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&one)
        .await
        .unwrap();
    assert_eq!(answer, 1);
}
