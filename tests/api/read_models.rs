//! Read models built by the projection engine: client statuses, the invitation dashboard,
//! paging and search, read-your-writes — and the engine's promises: late commits are not
//! skipped, two engines apply each event once, a killed engine resumes without gaps.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use aggregates::ids::ContractId;
use common::*;
use eventlog::Envelope;
use futures::future::BoxFuture;
use portal_accounts::http::routes::clients::ClientPage;
use portal_accounts::http::routes::contracts::ContractIssued;
use portal_accounts::reads::clients::ClientDetail;
use projections::{Engine, Projection, ProjectionError};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

async fn get(s: &Server, path: &str, token: &str) -> (u16, Value) {
    s.call(Method::GET, path, token, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_dashboard_search_and_paging() {
    let mut app = app(pool().await);
    // Invitations from this server are expired as soon as they are sent (the dashboard's
    // status is the reporting view's, which reads the database's clock).
    app.limits.invitation_ttl = chrono::Duration::zero();
    let s = Server::start_with(app).await;
    let reading = Server::start_reading().await;
    let t = s.tenant().await;
    let staff = s.staff(&t.staff);
    let org = |name: &'static str, email: Option<&'static str>| {
        staff.register_client(name, "organisation", email)
    };
    let quiet = org("Alder & Co", None).await;
    let waiting = org("Birch Ltd", Some("b@example.org")).await;
    let expired = org("Cedar LLP", Some("c@example.org")).await;
    let invited = org("Damson", Some("d@example.org")).await;
    let active = org("Elm Partners", Some("e@example.org")).await;
    let disabled = org("Fir & Sons", Some("f@example.org")).await;
    let pending = org("Gorse", Some("g@example.org")).await;

    staff.invite(expired).await;
    // This server keeps the usual invitation lifetime.
    reading.staff(&t.staff).invite(invited).await;
    let login = |email: &str| json!({"email": email, "password": "a fine long password"});
    staff
        .create_portal_user(active, login("e@example.org"))
        .await;
    let (disabled_user, _) = staff
        .create_portal_user(disabled, login("f@example.org"))
        .await;
    staff.on_login(disabled_user, "disable", None).await;
    let (_, last) = staff
        .create_portal_user(pending, json!({"email": "g@example.org"}))
        .await;

    let wait = format!("min_position={}", last.position);
    let dash = reading
        .staff(&t.reporting)
        .invitation_dashboard(&wait)
        .await;
    let want = json!({"total_clients": 7, "not_invited": 2, "not_invited_without_email": 1,
                      "invited": 2, "invitation_expired": 1, "active": 1, "disabled": 1});
    assert_eq!(dash, serde_json::from_value(want).unwrap());

    let reader = reading.staff(&t.staff);
    let statuses = [
        (quiet, "not_invited"),
        (waiting, "not_invited"),
        (expired, "invitation_expired"),
        (invited, "invited"),
        (active, "active"),
        (disabled, "disabled"),
        (pending, "invited"),
    ];
    for (id, expected) in statuses {
        assert_eq!(reader.client(id).await.client.status, expected, "{id}");
    }
    assert!(!reader.client(quiet).await.client.has_email);
    assert_eq!(
        reader.client(disabled).await.portal_users[0].status,
        "disabled"
    );
    let login = reading.staff(&t.auditor).portal_user(disabled_user).await;
    assert_eq!(
        (login.status.as_str(), login.client_ids[0]),
        ("disabled", disabled.uuid())
    );

    // The list behind "2 not invited", a search, and paging two at a time.
    let names = |page: ClientPage| -> Vec<String> {
        page.items.into_iter().map(|c| c.display_name).collect()
    };
    let page = reader.list_clients("status=not_invited").await;
    assert_eq!(names(page), ["Alder & Co", "Birch Ltd"]);
    let found = reader.list_clients("q=LLP").await;
    assert_eq!(found.items[0].id, expired.uuid());
    let found = reader.list_clients("q=%25").await;
    assert!(found.items.is_empty(), "% is a character, not a wildcard");
    let mut seen = Vec::new();
    let mut query = "limit=2".to_string();
    loop {
        let page = reader.list_clients(&query).await;
        let next = page.next_cursor.clone();
        seen.extend(names(page));
        match next {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let all = ["Alder & Co", "Birch Ltd", "Cedar LLP", "Damson"];
    let all = all
        .into_iter()
        .chain(["Elm Partners", "Fir & Sons", "Gorse"]);
    assert_eq!(seen, all.collect::<Vec<_>>());

    for bad in [
        "status=sleeping",
        "limit=0",
        "limit=x",
        "cursor=nope",
        "min_position=-1",
    ] {
        let path = format!("/api/v1/clients?{bad}");
        assert_eq!(
            reader.refused(Method::GET, &path, None).await.0,
            422,
            "{bad}"
        );
    }
    // Another firm sees none of it.
    let other = s.tenant().await;
    let theirs = reading.staff(&other.staff);
    let path = format!("/api/v1/clients/{active}");
    assert_eq!(theirs.refused(Method::GET, &path, None).await.0, 404);
    assert_eq!(theirs.invitation_dashboard("").await.total_clients, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_with_min_position_sees_the_write_that_returned_it() {
    let (s, t) = Server::reading_with_firm().await;
    let staff = s.staff(&t.staff);
    for i in 0..10 {
        let name = format!("Client {i}");
        let created = staff
            .register(json!({"display_name": name, "kind": "individual"}))
            .await;
        let path = format!(
            "/api/v1/clients/{}?min_position={}",
            created.id, created.position
        );
        let client: ClientDetail = staff.typed(Method::GET, &path, None).await;
        assert_eq!(client.client.display_name, name);
    }
    let (status, problem) = get(
        &s,
        "/api/v1/dashboard/invitations?min_position=999999999999",
        &t.staff,
    )
    .await;
    // No write has reached that position: refused at once, not waited for (the bounded
    // wait and its 504 are tested with a paused replica in replica.rs).
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("position_not_reached"))
    );
}

/// Inserts a client-registered event for `tenant` on `conn` (inside whatever transaction
/// the connection has open).
async fn raw_registration(conn: &mut PgConnection, tenant: uuid::Uuid, name: &str) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('client', $1, 1, 'ClientRegistered', '1.0', $2, $3)",
    )
    .bind(id.to_string())
    .bind(json!({"ClientRegistered": {"display_name": name, "kind": "individual", "email": null, "external_ref": null}}))
    .bind(json!({"tenant_id": tenant, "actor": "system", "request_id": "test", "command": "Test"}))
    .execute(conn)
    .await
    .unwrap();
    id
}

async fn projected(s: &Server, tenant: uuid::Uuid, id: uuid::Uuid) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rm_clients WHERE tenant_id = $1 AND client_id = $2)",
    )
    .bind(tenant)
    .bind(id)
    .fetch_one(s.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_commits_after_a_later_numbered_one_is_still_projected() {
    let s = Server::start().await;
    let (early, late) = (s.tenant().await, s.tenant().await);
    let options = s.pool().connect_options();
    let mut held = PgConnection::connect_with(&options).await.unwrap();
    let mut tx = held.begin().await.unwrap();
    let slow = raw_registration(&mut tx, early.id, "Takes its time").await;

    // A later-numbered event commits, and the engine catches up as far as it may while the
    // earlier one's transaction is open; it must not move past that event for good.
    let quick = s.staff(&late.staff);
    let quick = quick.register_client("Quick", "individual", None).await;
    let engine = Engine::new(s.pool().clone(), s.app.keys().clone(), projections::all());
    let catch_up = || async {
        for projection in projections::all() {
            engine.catch_up(projection.as_ref()).await.unwrap();
        }
    };
    catch_up().await;
    assert!(!projected(&s, early.id, slow).await);
    tx.commit().await.unwrap();

    catch_up().await;
    assert!(projected(&s, early.id, slow).await, "an event was skipped");
    assert!(projected(&s, late.id, quick.uuid()).await);
}

/// Counts every application of every event (no uniqueness: duplicates stay visible).
struct Counting(&'static str);

impl Projection for Counting {
    fn name(&self) -> &'static str {
        self.0
    }
    fn tables(&self) -> &'static [&'static str] {
        &["test_applications"]
    }
    fn event_types(&self) -> Vec<&'static str> {
        use aggregates::client::ClientEventKind as C;
        use aggregates::tenant::TenantEventKind as T;
        aggregates::event_names![C::ClientRegistered, T::TenantCreated, T::StaffTokenIssued]
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        e: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO test_applications (projection, global_position) VALUES ($1, $2)",
            )
            .bind(self.0)
            .bind(e.global_position)
            .execute(tx)
            .await?;
            Ok(())
        })
    }
}

/// A counting projection whose checkpoint starts at the log's current end.
async fn counting_from_now(s: &Server, name: &'static str) -> Arc<Counting> {
    sqlx::query("CREATE TABLE IF NOT EXISTS test_applications (projection text NOT NULL, global_position bigint NOT NULL)")
        .execute(s.pool())
        .await
        .ok();
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, last_tx, last_position)
         SELECT $1, COALESCE(max(tx_id), '0'), COALESCE(max(global_position), 0) FROM events
         WHERE tx_id = (SELECT max(tx_id) FROM events)",
    )
    .bind(name)
    .execute(s.pool())
    .await
    .unwrap();
    Arc::new(Counting(name))
}

async fn applications(s: &Server, name: &str, tenant: uuid::Uuid) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT a.global_position),
                (SELECT count(*) FROM events WHERE tenant_id = $2 AND event_type IN ('ClientRegistered', 'TenantCreated', 'StaffTokenIssued'))
           FROM test_applications a JOIN events e USING (global_position)
          WHERE a.projection = $1 AND e.tenant_id = $2",
    )
    .bind(name)
    .bind(tenant)
    .fetch_one(s.pool())
    .await
    .unwrap()
}

fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_on_one_database_apply_every_event_once() {
    let s = Server::start().await;
    let name = leak(format!("count-{}", uuid::Uuid::now_v7().simple()));
    let counting = counting_from_now(&s, name).await;
    let t = s.tenant().await;
    let engines: Vec<_> = (0..2)
        .map(|_| {
            let (stop, stopping) = tokio::sync::watch::channel(false);
            let engine = Engine::new(
                s.pool().clone(),
                s.app.keys().clone(),
                vec![counting.clone()],
            )
            .with_batch_size(7);
            (stop, tokio::spawn(engine.run(stopping)))
        })
        .collect();
    for i in 0..60 {
        let name = format!("C{i}");
        s.staff(&t.staff)
            .register_client(&name, "individual", None)
            .await;
    }
    let limit = Duration::from_secs(20);
    eventually("the engines to apply every event once", limit, || async {
        let (total, distinct, events) = applications(&s, name, t.id).await;
        assert_eq!(total, distinct, "an event was applied twice");
        (distinct == events).then_some(())
    })
    .await;
    for (stop, task) in engines {
        stop.send(true).unwrap();
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_engine_killed_between_batches_resumes_without_duplicates_or_gaps() {
    let s = Server::start().await;
    let name = leak(format!("count-{}", uuid::Uuid::now_v7().simple()));
    let counting = counting_from_now(&s, name).await;
    let t = s.tenant().await;
    for i in 0..80 {
        let name = format!("C{i}");
        s.staff(&t.staff)
            .register_client(&name, "individual", None)
            .await;
    }
    // Start and kill the engine again and again, mid-work.
    for round in 0..12u64 {
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        let engine = Engine::new(
            s.pool().clone(),
            s.app.keys().clone(),
            vec![counting.clone()],
        )
        .with_batch_size(5);
        let task = tokio::spawn(engine.run(stopping));
        tokio::time::sleep(Duration::from_millis(3 + round * 4)).await;
        task.abort();
        let _ = task.await;
    }
    // Catching up stops at the commit horizon, which a transaction still open elsewhere in
    // the cluster (another test's) may hold back for a moment: catch up until all are in.
    let engine = Engine::new(
        s.pool().clone(),
        s.app.keys().clone(),
        vec![counting.clone()],
    )
    .with_batch_size(5);
    let limit = Duration::from_secs(20);
    eventually("catching up to apply every event", limit, || async {
        engine.catch_up(counting.as_ref()).await.unwrap();
        let (total, distinct, events) = applications(&s, name, t.id).await;
        assert_eq!(total, distinct, "an event was applied twice");
        (distinct == events).then_some(())
    })
    .await;
    let (total, distinct, events) = applications(&s, name, t.id).await;
    assert_eq!(
        (total, distinct),
        (events, events),
        "every event exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_lists_show_the_current_price_and_contracts_their_status() {
    let (s, t) = Server::reading_with_firm().await;
    let staff = s.staff(&t.staff);
    let a = staff.register_client("A", "organisation", None).await;
    let b = staff.register_client("B", "organisation", None).await;
    let item = staff.create_item("PAYROLL", "Payroll", 5000).await;
    let other = staff.create_item("AUDIT", "Audit", 90000).await;
    for client in [a, b] {
        staff.assign_item(client, item).await;
    }
    staff.assign_item(a, other).await;
    staff
        .set_image(item, portal_accounts::http::png::tiny_png())
        .await;
    let priced = staff.change_price(item, 5500).await;
    let removed = staff.unassign_item(a, other).await;
    let wait = format!("min_position={}", priced.position.max(removed.position));

    for client in [a, b] {
        let items = s
            .staff(&t.reporting)
            .client_items(client, &wait)
            .await
            .items;
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].item_id, item.uuid());
        let price = &items[0].unit_price;
        assert_eq!((price.amount_minor, price.currency.as_str()), (5500, "GBP"));
        assert!(items[0].has_image);
    }

    let path = format!("/api/v1/clients/{a}/contracts");
    let body = json!({"title": "LoE", "body": "Terms"});
    let contract: ContractIssued = staff.typed(Method::POST, &path, Some(body)).await;
    let (id, content_sha256) = (ContractId::from_uuid(contract.id), contract.content_sha256);
    let issued = staff
        .contract(id, &format!("min_position={}", contract.position))
        .await;
    assert_eq!(
        (issued.contract.status.as_str(), issued.contract.client_id),
        ("awaiting_signature", a.uuid())
    );
    assert_eq!(issued.contract.content_sha256, content_sha256);
    let path = format!("/api/v1/contracts/{id}/void");
    let voided: portal_accounts::http::routes::PositionOnly =
        staff.typed(Method::POST, &path, Some(json!({}))).await;
    let c = staff
        .contract(id, &format!("min_position={}", voided.position))
        .await;
    assert_eq!(
        (c.contract.status.as_str(), c.contract.signed_by),
        ("voided", None)
    );

    let stranger = s.tenant().await;
    let stranger = s.staff(&stranger.staff);
    for path in [
        format!("/api/v1/contracts/{id}"),
        format!("/api/v1/clients/{a}/items"),
    ] {
        assert_eq!(
            stranger.refused(Method::GET, &path, None).await.0,
            404,
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_event_is_recorded_and_does_not_stall_the_read_model() {
    // A database of its own: the test rebuilds every read model in it.
    let s = Server::start_reading_with(app(fresh_database().await)).await;
    let t = s.tenant().await;
    let client = s
        .staff(&t.staff)
        .register_client("Before", "individual", None)
        .await
        .to_string();
    // An invitation event without its expiry: the clients projection cannot apply it.
    let poisoned: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('client', $1, 2, 'ClientInvited', '1.0', $2, $3) RETURNING global_position",
    )
    .bind(&client)
    .bind(json!({"ClientInvited": {"invitation_id": uuid::Uuid::now_v7(), "email": "x@example.org"}}))
    .bind(json!({"tenant_id": t.id, "actor": "system", "request_id": "test", "command": "Test"}))
    .fetch_one(s.pool())
    .await
    .unwrap();
    let after = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"display_name": "After", "kind": "individual"})),
        )
        .await;
    // The engine isolates the poisoned event and moves past it; on a busy machine that can
    // take longer than a read's own wait, so wait for the position first.
    let position = after["position"].as_i64().unwrap();
    common::wait_for_position(s.pool(), position, std::time::Duration::from_secs(60)).await;
    let (status, c) = get(
        &s,
        &format!(
            "/api/v1/clients/{}?min_position={position}",
            id_of(&after, "id"),
        ),
        &t.staff,
    )
    .await;
    assert_eq!(
        (status, c["display_name"].as_str()),
        (200, Some("After")),
        "the read model moved on"
    );
    let failure: (String, String) = sqlx::query_as("SELECT event_type, error FROM projection_failures WHERE projection = 'clients' AND global_position = $1")
        .bind(poisoned)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(failure.0, "ClientInvited");
    let metrics = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("projection_failed_events{projection=\"clients\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("projection_lag_positions{projection=\"clients\"}"));

    // A rebuild of every read model meets the same event in its one pass: recorded again
    // for each read model that reads it, skipped, and the rest rebuilt.
    sqlx::query("DELETE FROM projection_failures WHERE global_position = $1")
        .bind(poisoned)
        .execute(s.pool())
        .await
        .unwrap();
    let all = projections::all();
    let chosen: Vec<&dyn Projection> = all.iter().map(|p| p.as_ref()).collect();
    Engine::new(s.pool().clone(), s.app.keys().clone(), all.clone())
        .rebuild(&chosen)
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT display_name FROM rm_clients WHERE tenant_id = $1 ORDER BY display_name",
    )
    .bind(t.id)
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(names, ["After", "Before"]);
    let failed: Vec<String> = sqlx::query_scalar(
        "SELECT projection FROM projection_failures WHERE global_position = $1 ORDER BY projection",
    )
    .bind(poisoned)
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(failed, ["clients", "history"]);
}

/// The reporting history, as analysts read it: rows of `rm_item_prices` and `rm_invitations`
/// ordered by position.
async fn history_rows(s: &Server, tenant: uuid::Uuid) -> (Vec<Value>, Vec<Value>) {
    let rows = |sql: &'static str| async move {
        sqlx::query_scalar::<_, Value>(sql)
            .bind(tenant)
            .fetch_all(s.pool())
            .await
            .unwrap()
    };
    let prices = rows(
        "SELECT to_jsonb(p) - 'tenant_id' FROM rm_item_prices p WHERE tenant_id = $1 ORDER BY position",
    )
    .await;
    let invitations = rows(
        "SELECT to_jsonb(i) - 'tenant_id' FROM rm_invitations i WHERE tenant_id = $1 ORDER BY sent_at",
    )
    .await;
    (prices, invitations)
}

#[tokio::test]
async fn the_history_keeps_every_price_and_invitation_however_events_are_batched() {
    use common::portal_flow::{client_with_email, email, mailing, PASSWORD};
    let (sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.staff);
    let item = staff.create_item("HIST-1", "History", 100).await;
    for pence in [200, 300, 400] {
        staff.change_price(item, pence).await;
    }
    let to = email("hist");
    let client = client_with_email(&s, &t, "individual", &to).await;
    staff.invite(client).await;
    let second = staff.invite(client).await.invitation_id;
    // The two e-mails may arrive in either order: the second invitation's names its id.
    let second = sink
        .wait_for(&to, 2)
        .await
        .into_iter()
        .find(|mail| mail.token().contains(&second.simple().to_string()))
        .expect("the second invitation's e-mail");
    s.portal(&t.slug)
        .accept_invitation(&second.token(), "hist.user", PASSWORD)
        .await;
    let (prices, invitations) = eventually("the history", Duration::from_secs(10), || async {
        let (prices, invitations) = history_rows(&s, t.id).await;
        let accepted = invitations.iter().any(|i| i["state"] == "accepted");
        (prices.len() == 4 && accepted).then_some((prices, invitations))
    })
    .await;
    let amounts: Vec<&Value> = prices.iter().map(|p| &p["amount_minor"]).collect();
    assert_eq!(
        amounts,
        [&json!(100), &json!(200), &json!(300), &json!(400)]
    );
    for pair in prices.windows(2) {
        assert_eq!(pair[0]["valid_to"], pair[1]["valid_from"], "{prices:?}");
    }
    assert_eq!(
        prices[3]["valid_to"],
        Value::Null,
        "the current price is open"
    );
    let states: Vec<&Value> = invitations.iter().map(|i| &i["state"]).collect();
    assert_eq!(states, [&json!("replaced"), &json!("accepted")]);
    assert!(invitations[1]["portal_user_id"].is_string());

    // Rebuilt one event at a time and in one batch, the history is the same.
    let history = || {
        projections::all()
            .into_iter()
            .find(|p| p.name() == "history")
            .unwrap()
    };
    for batch in [1, 1_000] {
        let engine = Engine::new(s.pool().clone(), s.app.keys().clone(), vec![history()])
            .with_batch_size(batch);
        engine.rebuild(&[history().as_ref()]).await.unwrap();
        assert_eq!(
            history_rows(&s, t.id).await,
            (prices.clone(), invitations.clone()),
            "rebuilt in batches of {batch}"
        );
    }
}
