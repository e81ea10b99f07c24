//! Read models rebuilt from the first event equal the ones built live — for a worked
//! example while the API keeps serving, and for random sequences of commands.

use crate::common;

use std::sync::Arc;

use aggregates::values::{
    ClientKind, ContractBody, ContractTitle, DisplayName, Email, ItemName, Money, Sku,
};
use common::*;
use portal_accounts::app::App;
use portal_accounts::services::{client_items, clients, contracts, items, portal_users};
use portal_accounts::store::CommandMeta;
use projections::engine::includes;
use proptest::prelude::*;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// Every read-model row, in key order, as JSON: what "equal read models" means.
async fn snapshot(pool: &PgPool, tenant: Option<Uuid>) -> Vec<(String, Vec<Value>)> {
    let mut all = Vec::new();
    for projection in projections::all() {
        for table in projection.tables() {
            let rows: Vec<Value> = sqlx::query_scalar(&format!(
                "SELECT to_jsonb(t) FROM {table} t WHERE $1::uuid IS NULL OR t.tenant_id = $1 ORDER BY to_jsonb(t)::text"
            ))
            .bind(tenant)
            .fetch_all(pool)
            .await
            .unwrap();
            all.push((table.to_string(), rows));
        }
    }
    all
}

/// Until every projection includes the newest event (a transaction still open anywhere in
/// the cluster holds the horizon back for a moment). One event per batch: each event goes
/// through its projection's one-event path, while a rebuild reads 500 at a time and takes
/// the batched statements — so comparing the two checks one against the other.
async fn caught_up(pool: &PgPool) {
    let engine =
        projections::Engine::new(pool.clone(), common::data_keys(pool), projections::all())
            .with_batch_size(1);
    let names: Vec<&str> = engine.names();
    let newest: i64 = sqlx::query_scalar("SELECT COALESCE(max(global_position), 0) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    let limit = std::time::Duration::from_secs(60);
    eventually("the projections to catch up", limit, || async {
        for projection in projections::all() {
            engine.catch_up(projection.as_ref()).await.unwrap();
        }
        let done = newest == 0 || includes(pool, &names, newest).await.unwrap();
        done.then_some(())
    })
    .await
}

/// The invitation dashboard counted from scratch over every client of the firm, by the
/// status rule the list views use (`client_status`): what the kept counters must equal.
async fn dashboard_by_scan(
    pool: &PgPool,
    tenant: Uuid,
) -> portal_accounts::reads::clients::InvitationDashboard {
    let counts: Vec<(String, bool)> = sqlx::query_as(
        "SELECT s.status, c.email IS NOT NULL
           FROM rm_client_status s JOIN rm_clients c USING (tenant_id, client_id)
          WHERE s.tenant_id = $1 AND NOT c.archived",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap();
    let count = |f: &dyn Fn(&str, bool) -> bool| {
        counts.iter().filter(|(s, e)| f(s.as_str(), *e)).count() as i64
    };
    portal_accounts::reads::clients::InvitationDashboard {
        total_clients: counts.len() as i64,
        not_invited: count(&|s, _| s == "not_invited"),
        not_invited_without_email: count(&|s, e| s == "not_invited" && !e),
        invited: count(&|s, _| s == "invited"),
        invitation_expired: count(&|s, _| s == "invitation_expired"),
        active: count(&|s, _| s == "active"),
        disabled: count(&|s, _| s == "disabled"),
    }
}

async fn rebuild_all(pool: &PgPool) {
    let engine =
        projections::Engine::new(pool.clone(), common::data_keys(pool), projections::all());
    let all = projections::all();
    let chosen: Vec<&dyn projections::Projection> = all.iter().map(|p| p.as_ref()).collect();
    engine.rebuild(&chosen).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_while_serving_reproduces_the_live_read_models() {
    let pool = fresh_database().await;
    let s = Server::start_with(app(pool.clone())).await;
    let t = s.tenant().await;
    let staff = s.staff(&t.staff);
    for i in 0..30 {
        let (name, email) = (format!("Client {i}"), format!("c{i}@example.org"));
        let c = staff
            .register_client(&name, "organisation", Some(&email))
            .await;
        if i % 3 == 0 {
            staff.invite(c).await;
        }
        if i % 4 == 0 {
            let login = json!({"email": "u@example.org"});
            staff.create_portal_user(c, login).await;
        }
        if i % 5 == 0 {
            staff.issue_contract(c, "T").await;
        }
    }
    caught_up(&pool).await;
    let live = snapshot(&pool, None).await;
    assert!(live.iter().any(|(_, rows)| !rows.is_empty()));

    // Staff keep reading while the read models are rebuilt and swapped.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (http, url, token, stop) = (
            s.http.clone(),
            format!("{}/api/v1/clients?limit=200", s.base),
            t.staff.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let page: Value = http
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(
                    page["items"].as_array().map(Vec::len),
                    Some(30),
                    "a read during the rebuild saw {page}"
                );
                reads += 1;
            }
            reads
        })
    };
    rebuild_all(&pool).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.await.unwrap() > 0);
    assert_eq!(snapshot(&pool, None).await, live);
}

#[derive(Debug, Clone)]
enum Op {
    Register { individual: bool, email: bool },
    Rename(usize),
    Invite(usize),
    Revoke(usize),
    CreateUser { client: usize, password: bool },
    Disable(usize),
    Enable(usize),
    Remove(usize),
    Grant { user: usize, client: usize },
    CreateItem(i64),
    ChangePrice { item: usize, price: i64 },
    Assign { client: usize, item: usize },
    Unassign { client: usize, item: usize },
    Issue(usize),
    Void(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), any::<bool>()).prop_map(|(individual, email)| Op::Register { individual, email }),
        2 => any::<usize>().prop_map(Op::Rename),
        2 => any::<usize>().prop_map(Op::Invite),
        1 => any::<usize>().prop_map(Op::Revoke),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(client, password)| Op::CreateUser { client, password }),
        1 => any::<usize>().prop_map(Op::Disable),
        1 => any::<usize>().prop_map(Op::Enable),
        1 => any::<usize>().prop_map(Op::Remove),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(user, client)| Op::Grant { user, client }),
        1 => (0i64..100_000).prop_map(Op::CreateItem),
        1 => (any::<usize>(), 0i64..100_000).prop_map(|(item, price)| Op::ChangePrice { item, price }),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(client, item)| Op::Assign { client, item }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(client, item)| Op::Unassign { client, item }),
        1 => any::<usize>().prop_map(Op::Issue),
        1 => any::<usize>().prop_map(Op::Void),
    ]
}

fn pick(ids: &[Uuid], i: usize) -> Option<Uuid> {
    (!ids.is_empty()).then(|| ids[i % ids.len()])
}

/// Runs the commands; refusals (the domain saying no) are part of the story, not failures.
async fn run(app: &App, meta: &CommandMeta, ops: &[Op]) {
    let (mut cs, mut us, mut is, mut ks) = (vec![], vec![], vec![], vec![]);
    for (n, op) in ops.iter().enumerate() {
        let email = |e: bool| e.then(|| Email::parse(&format!("p{n}@example.org")).unwrap());
        let outcome: Result<(), portal_accounts::errors::service::ServiceError> = async {
            match op.clone() {
                Op::Register {
                    individual,
                    email: e,
                } => {
                    let kind = if individual {
                        ClientKind::Individual
                    } else {
                        ClientKind::Organisation
                    };
                    let new = clients::NewClient {
                        display_name: DisplayName::parse(&format!("C{n}")).unwrap(),
                        kind,
                        email: email(e),
                        external_ref: None,
                    };
                    cs.push(clients::register(app, meta, new).await?.value);
                }
                Op::Rename(i) => {
                    if let Some(c) = pick(&cs, i) {
                        let change = clients::ClientChange {
                            display_name: Some(DisplayName::parse(&format!("R{n}")).unwrap()),
                            email: None,
                        };
                        clients::change_details(app, meta, c, change).await?;
                    }
                }
                Op::Invite(i) => {
                    if let Some(c) = pick(&cs, i) {
                        clients::invite(app, meta, c).await?;
                    }
                }
                Op::Revoke(i) => {
                    if let Some(c) = pick(&cs, i) {
                        clients::revoke_invitation(app, meta, c).await?;
                    }
                }
                Op::CreateUser { client, password } => {
                    if let Some(c) = pick(&cs, client) {
                        let new = portal_users::NewPortalUser {
                            client_id: c,
                            email: email(true).unwrap(),
                            username: None,
                            names: aggregates::portal_user::PersonNames {
                                first_name: aggregates::values::PersonName::parse("Pat").ok(),
                                last_name: None,
                            },
                            password: password.then(|| "a long random-ish password".to_string()),
                        };
                        us.push(portal_users::create(app, meta, new).await?.value.id);
                    }
                }
                Op::Disable(i) => {
                    if let Some(u) = pick(&us, i) {
                        portal_users::disable(app, meta, u, None).await?;
                    }
                }
                Op::Enable(i) => {
                    if let Some(u) = pick(&us, i) {
                        portal_users::enable(app, meta, u).await?;
                    }
                }
                Op::Remove(i) => {
                    if let Some(u) = pick(&us, i) {
                        portal_users::remove(app, meta, u).await?;
                    }
                }
                Op::Grant { user, client } => {
                    if let (Some(u), Some(c)) = (pick(&us, user), pick(&cs, client)) {
                        portal_users::grant_client_access(app, meta, u, c).await?;
                    }
                }
                Op::CreateItem(price) => {
                    let sku = Sku::parse(&format!("S{n}-{}", Uuid::now_v7().simple())).unwrap();
                    is.push(
                        items::create(
                            app,
                            meta,
                            sku,
                            ItemName::parse("I").unwrap(),
                            Money::parse(price, "GBP").unwrap(),
                        )
                        .await?
                        .value,
                    );
                }
                Op::ChangePrice { item, price } => {
                    if let Some(i) = pick(&is, item) {
                        items::change_price(app, meta, i, Money::parse(price, "GBP").unwrap())
                            .await?;
                    }
                }
                Op::Assign { client, item } => {
                    if let (Some(c), Some(i)) = (pick(&cs, client), pick(&is, item)) {
                        client_items::assign_item(app, meta, c, i).await?;
                    }
                }
                Op::Unassign { client, item } => {
                    if let (Some(c), Some(i)) = (pick(&cs, client), pick(&is, item)) {
                        client_items::unassign_item(app, meta, c, i).await?;
                    }
                }
                Op::Issue(i) => {
                    if let Some(c) = pick(&cs, i) {
                        ks.push(
                            contracts::issue(
                                app,
                                meta,
                                c,
                                ContractTitle::parse("T").unwrap(),
                                ContractBody::parse("B").unwrap(),
                            )
                            .await?
                            .value
                            .id,
                        );
                    }
                }
                Op::Void(i) => {
                    if let Some(k) = pick(&ks, i) {
                        contracts::void(app, meta, k, None).await?;
                    }
                }
            }
            Ok(())
        }
        .await
        .map_err(|e| match e {
            portal_accounts::errors::service::ServiceError::Domain(_) => e,
            other => panic!("{op:?} failed unexpectedly: {other}"),
        });
        let _ = outcome;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn read_models_built_live_equal_those_rebuilt_from_zero(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            static DB: tokio::sync::OnceCell<sqlx::postgres::PgConnectOptions> = tokio::sync::OnceCell::const_new();
            let options = DB.get_or_init(|| async { fresh_database().await.connect_options().as_ref().clone() }).await;
            let pool = portal_accounts::infra::pool::pool_options().max_connections(10).connect_with(options.clone()).await.unwrap();
            let app = app(pool.clone());
            let slug = format!("p-{}", Uuid::now_v7().simple());
            let tenant = portal_accounts::services::tenants::create_tenant(&app, &slug, "Prop").await.unwrap();
            let meta = CommandMeta { tenant_id: tenant, actor: eventlog::Actor::system(), via_token: None, request_id: "prop".into(), client_ip: None, user_agent: None, command: "" };
            run(&app, &meta, &ops).await;
            caught_up(&pool).await;
            let live = snapshot(&pool, Some(tenant)).await;
            rebuild_all(&pool).await;
            let rebuilt = snapshot(&pool, Some(tenant)).await;
            assert_eq!(live, rebuilt);
            let scope = portal_accounts::auth::operator::tenant(&pool, app.keys(), &slug).await.unwrap().unwrap();
            let kept = portal_accounts::reads::clients::dashboard(&scope).await.unwrap();
            assert_eq!(kept, dashboard_by_scan(&pool, tenant).await, "after {ops:?}");
        });
    }
}

#[tokio::test]
async fn a_rebuild_of_a_read_model_already_being_rebuilt_stops_at_once() {
    let pool = fresh_database().await;
    let engine =
        projections::Engine::new(pool.clone(), common::data_keys(&pool), projections::all());
    let all = projections::all();
    let chosen: Vec<&dyn projections::Projection> = all.iter().map(|p| p.as_ref()).collect();

    // Another process is rebuilding `history`: it holds that read model's lock.
    let mut other = pool.acquire().await.unwrap();
    let taken: bool = sqlx::query_scalar(projections::engine::REBUILD_LOCK_SQL)
        .bind(vec!["history"])
        .fetch_one(&mut *other)
        .await
        .unwrap();
    assert!(taken);
    let refused = engine.rebuild(&chosen).await.unwrap_err();
    assert!(
        matches!(&refused, projections::ProjectionError::RebuildRunning(names) if names.contains("history")),
        "{refused}"
    );
    let scratch: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        scratch, 0,
        "the refused rebuild touched nothing of the running one"
    );

    // Once the other rebuild is over, this one runs.
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut *other)
        .await
        .unwrap();
    engine.rebuild(&chosen).await.unwrap();
}
