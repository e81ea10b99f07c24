//! Rules that span aggregates, and concurrent writers, under real concurrency.

use crate::common;

use common::*;
use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_of_one_username_yield_exactly_one_user() {
    // Two servers and five clients, so the creates really race in the database rather than
    // queueing behind one client's stream.
    let s = Server::start().await;
    let other = Server::start().await;
    let t = s.tenant().await;
    let mut paths = Vec::new();
    for i in 0..5 {
        let org = s
            .staff(&t.staff)
            .ok(
                Method::POST,
                "/api/v1/clients",
                Some(json!({"display_name": format!("Acme {i}"), "kind": "organisation"})),
            )
            .await;
        paths.push(format!(
            "/api/v1/clients/{}/portal-users",
            id_of(&org, "id")
        ));
    }
    let attempts = (0..50).map(|i| {
        // Differently cased: uniqueness ignores case.
        let username = if i % 2 == 0 {
            "Popular.Name"
        } else {
            "popular.name"
        };
        let server = if i % 3 == 0 { &other } else { &s };
        server.post(
            &paths[i % 5],
            &t.staff,
            json!({"email": "x@acme.example", "username": username}),
        )
    });
    let results = join_all(attempts).await;
    let created = results.iter().filter(|(status, _)| *status == 201).count();
    let taken = results
        .iter()
        .filter(|(status, body)| *status == 409 && body["code"] == "username_taken")
        .count();
    assert_eq!((created, taken), (1, 49), "{results:?}");
    let users: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'PortalUserCreated'",
    )
    .bind(t.id)
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(users, 1);
    let attached: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'PortalUserAttached'",
    )
    .bind(t.id)
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(attached, 1, "the losers left no half-written user behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_for_one_individual_client_leave_one() {
    let (s, t) = Server::with_firm().await;
    let jo = s
        .staff(&t.staff)
        .register_client("Jo", "individual", None)
        .await
        .to_string();
    let path = format!("/api/v1/clients/{jo}/portal-users");
    let results =
        join_all((0..20).map(|_| s.post(&path, &t.staff, json!({"email": "jo@example.org"}))))
            .await;
    let created = results.iter().filter(|(status, _)| *status == 201).count();
    let refused = results
        .iter()
        .filter(|(status, body)| *status == 409 && body["code"] == "individual_client_has_user")
        .count();
    assert_eq!((created, refused), (1, 19), "{results:?}");
}

/// Two server instances (as two replicas would) on one database, twenty commands on the
/// same client at once: every one lands, each at its own sequence, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_commands_on_one_aggregate_lose_nothing() {
    let a = Server::start().await;
    let b = Server::start().await;
    let t = a.tenant().await;
    let client = a
        .staff(&t.staff)
        .register_client("Acme", "organisation", None)
        .await
        .to_string();
    let mut items = Vec::new();
    for i in 0..20 {
        let item = a.staff(&t.staff).ok(Method::POST, "/api/v1/items", Some(json!({"sku": format!("SKU-{i}"), "name": format!("Item {i}"), "unit_price": {"amount_minor": 100, "currency": "GBP"}}))).await;
        items.push(id_of(&item, "id"));
    }
    let path = format!("/api/v1/clients/{client}/items");
    let results = join_all(items.iter().enumerate().map(|(i, item)| {
        let server = if i % 2 == 0 { &a } else { &b };
        server.post(&path, &t.staff, json!({"item_id": item}))
    }))
    .await;
    assert!(
        results.iter().all(|(status, _)| *status == 201),
        "{results:?}"
    );
    let sequences: Vec<i64> = sqlx::query_scalar(
        "SELECT sequence FROM events WHERE aggregate_type = 'client' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(&client)
    .fetch_all(a.pool())
    .await
    .unwrap();
    assert_eq!(sequences, (1..=21).collect::<Vec<i64>>());
    let mut positions: Vec<i64> = results
        .iter()
        .map(|(_, body)| body["position"].as_i64().unwrap())
        .collect();
    positions.sort();
    positions.dedup();
    assert_eq!(
        positions.len(),
        20,
        "each command reports its own event's position"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_idempotency_key_runs_a_command_once() {
    let (s, t) = Server::with_firm().await;
    let body = json!({"display_name": "Once Only", "kind": "individual"});
    let send_with = |key: &str, body: serde_json::Value| {
        send(
            s.request(Method::POST, "/api/v1/clients", &t.staff)
                .header("Idempotency-Key", key)
                .json(&body),
        )
    };
    let (first_status, first) = send_with("k-1", body.clone()).await;
    assert_eq!(first_status, 201);
    let before = event_count(s.pool(), t.id).await;
    // Sequential and concurrent repeats: all get the first answer, nothing new is written.
    let (status, again) = send_with("k-1", body.clone()).await;
    assert_eq!((status, &again), (201, &first));
    let repeats = join_all((0..10).map(|_| send_with("k-1", body.clone()))).await;
    assert!(
        repeats
            .iter()
            .all(|(status, b)| *status == 201 && b == &first),
        "{repeats:?}"
    );
    assert_eq!(event_count(s.pool(), t.id).await, before);

    // Another request under the same key is refused; another key runs.
    let (status, problem) = send_with(
        "k-1",
        json!({"display_name": "Other", "kind": "individual"}),
    )
    .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("Idempotency-Key"))
    );
    let (status, other) = send_with("k-2", body.clone()).await;
    assert_eq!(status, 201);
    assert_ne!(other["id"], first["id"]);

    // A refused command's answer is kept too.
    let client = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"display_name": "No mail", "kind": "individual"})),
        )
        .await;
    let path = format!("/api/v1/clients/{}/invitations", id_of(&client, "id"));
    let invite = || {
        send(
            s.request(Method::POST, &path, &t.staff)
                .header("Idempotency-Key", "k-3")
                .json(&json!({})),
        )
    };
    let (s1, p1) = invite().await;
    let (s2, p2) = invite().await;
    assert_eq!((s1, s2), (409, 409));
    assert_eq!(p1, p2);

    // Keys are per tenant: another firm's identical key is its own.
    let t2 = s.tenant().await;
    let (status, theirs) = send(
        s.request(Method::POST, "/api/v1/clients", &t2.staff)
            .header("Idempotency-Key", "k-1")
            .json(&body),
    )
    .await;
    assert_eq!(status, 201);
    assert_ne!(theirs["id"], first["id"]);
}
