//! Group commit: commands that queue while the drainers are writing are committed together
//! in one transaction, and each is answered with its own outcome — when one of them is
//! refused, the others still commit, each alone.
//!
//! Deterministic: appends are held with a table lock while the drainers are occupied one
//! by one and the rest queue up (`commits_waiting`), then released.

use crate::common;

use aggregates::values::{ClientKind, DisplayName, Email, Username};
use common::*;
use portal_accounts::app::App;
use portal_accounts::errors::service::ServiceError;
use portal_accounts::services::{clients, portal_users};
use portal_accounts::store::{CommandMeta, GROUP_COMMIT_DRAINERS};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use uuid::Uuid;

fn register(app: &App, meta: &CommandMeta, name: String) -> JoinHandle<Result<Uuid, ServiceError>> {
    let (app, meta) = (app.clone(), meta.clone());
    tokio::spawn(async move {
        let new = clients::NewClient {
            display_name: DisplayName::parse(&name).unwrap(),
            kind: ClientKind::Organisation,
            email: None,
            external_ref: None,
        };
        clients::register(&app, &meta, new).await.map(|c| c.value)
    })
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Appends waiting on the lock (with or without the data keys they store): one per occupied
/// drainer.
async fn blocked_appends(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'
            AND (query LIKE 'INSERT INTO events%' OR query LIKE 'WITH keys AS%')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn transaction_of(pool: &PgPool, client: Uuid) -> String {
    sqlx::query_scalar("SELECT tx_id::text FROM events WHERE aggregate_id = $1")
        .bind(client.to_string())
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Occupies every drainer with a registration held by `LOCK TABLE events`, then queues
/// `queued` behind them; releases the lock and returns the first registrations.
async fn hold_appends_then_queue(
    pool: &PgPool,
    app: &App,
    meta: &CommandMeta,
    queued: impl FnOnce() -> usize,
) -> Vec<JoinHandle<Result<Uuid, ServiceError>>> {
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let mut first = Vec::new();
    for n in 0..GROUP_COMMIT_DRAINERS {
        first.push(register(app, meta, format!("First {n}")));
        until("the drainer is writing", async || {
            blocked_appends(pool).await == n as i64 + 1
        })
        .await;
    }
    let expected = queued();
    until("the commands are queued", async || {
        app.store.commits_waiting() == expected
    })
    .await;
    lock.rollback().await.unwrap();
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_queued_together_commit_together_and_a_refused_one_fails_alone() {
    let pool = fresh_database().await;
    let app = app(pool.clone());
    let tenant =
        portal_accounts::services::tenants::create_tenant(&app, "group-commit", "Group Commit")
            .await
            .unwrap();
    let meta = CommandMeta {
        tenant_id: tenant,
        actor: eventlog::Actor::system(),
        via_token: None,
        request_id: "group-commit".into(),
        client_ip: None,
        user_agent: None,
        command: "",
    };

    // Eight registrations queued behind the busy drainers: one transaction for all eight.
    let mut queued = Vec::new();
    let first = hold_appends_then_queue(&pool, &app, &meta, || {
        for n in 0..8 {
            queued.push(register(&app, &meta, format!("Queued {n}")));
        }
        8
    })
    .await;
    for handle in first {
        handle.await.unwrap().unwrap();
    }
    let mut transactions = Vec::new();
    for handle in queued {
        transactions.push(transaction_of(&pool, handle.await.unwrap().unwrap()).await);
    }
    transactions.dedup();
    assert_eq!(
        transactions.len(),
        1,
        "one transaction for the batch: {transactions:?}"
    );

    // A username already taken, asked for again among registrations: the batch cannot be
    // written whole, so each is written alone — the registrations commit, the login is
    // refused as it would have been on its own, and nothing of it is written.
    let client = a_client(&app, &meta).await;
    let login = |username: &str| portal_users::NewPortalUser {
        client_id: client,
        email: Email::parse("pat@example.org").unwrap(),
        username: Some(Username::parse(username).unwrap()),
        names: aggregates::portal_user::PersonNames {
            first_name: None,
            last_name: None,
        },
        password: None,
    };
    portal_users::create(&app, &meta, login("pat.taken"))
        .await
        .unwrap();
    let mut queued = Vec::new();
    let mut refused = None;
    let first = hold_appends_then_queue(&pool, &app, &meta, || {
        for n in 0..4 {
            queued.push(register(&app, &meta, format!("Before {n}")));
        }
        let (app2, meta2, new) = (app.clone(), meta.clone(), login("Pat.Taken"));
        refused = Some(tokio::spawn(async move {
            portal_users::create(&app2, &meta2, new)
                .await
                .map(|c| c.value.id)
        }));
        for n in 0..4 {
            queued.push(register(&app, &meta, format!("After {n}")));
        }
        9
    })
    .await;
    for handle in first {
        handle.await.unwrap().unwrap();
    }
    let outcome = refused.unwrap().await.unwrap();
    assert!(
        matches!(
            outcome,
            Err(ServiceError::Domain(aggregates::DomainError::UsernameTaken))
        ),
        "{outcome:?}"
    );
    let mut transactions = Vec::new();
    for handle in queued {
        transactions.push(transaction_of(&pool, handle.await.unwrap().unwrap()).await);
    }
    transactions.sort();
    transactions.dedup();
    assert_eq!(
        transactions.len(),
        8,
        "each registration alone: {transactions:?}"
    );
    let logins: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'PortalUserCreated'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(logins, 1, "the refused login wrote nothing");
    // Nor its data key: keys are stored by the statement appending their events.
    let keys_without_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM secrets.data_keys k
          WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.aggregate_id = k.subject_id::text)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(keys_without_events, 0, "a key stored without its events");
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM secrets.data_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(keys >= 18, "every registration stored its key: {keys}");
}

/// A client to give logins to.
async fn a_client(app: &App, meta: &CommandMeta) -> Uuid {
    register(app, meta, "Logins Ltd".into())
        .await
        .unwrap()
        .unwrap()
}
