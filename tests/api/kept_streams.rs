//! Streams a server keeps after writing them (`store::recent`), with two servers on one
//! database: what one server keeps may be stale by the time it uses it, and no command may
//! ever decide on the stale state — a write goes after every stored event, a refusal or a
//! read-only check is made again on what is stored.

use crate::common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn two_servers() -> (Server, Server, Tenant) {
    let pool = pool().await;
    let a = Server::start_with(app(pool.clone())).await;
    let b = Server::start_with(app(pool)).await;
    let t = a.tenant().await;
    (a, b, t)
}

async fn register(s: &Server, t: &Tenant, name: &str) -> String {
    s.register_client(t, name).await.0
}

async fn rename(s: &Server, t: &Tenant, client: &str, name: &str) -> (u16, Value) {
    s.call(
        Method::PATCH,
        &format!("/api/v1/clients/{client}"),
        &t.staff,
        Some(json!({"display_name": name})),
    )
    .await
}

/// A POST without a body that must succeed (archive, unarchive).
async fn post_ok(s: &Server, t: &Tenant, path: &str) {
    s.staff(&t.staff).ok(Method::POST, path, None).await;
}

/// The stream's events as stored: (sequence, type, display name if renamed).
async fn stream(s: &Server, t: &Tenant, id: &str) -> Vec<(i64, String, Option<String>)> {
    events_of_tenant(s.pool(), t.id)
        .await
        .into_iter()
        .filter(|e| e.aggregate_id == id)
        .map(|e| {
            let name = e.payload[&e.event_type]["display_name"]
                .as_str()
                .map(str::to_owned);
            (e.sequence, e.event_type, name)
        })
        .collect()
}

#[tokio::test]
async fn a_write_on_a_stream_another_server_changed_goes_after_its_events() {
    let (a, b, t) = two_servers().await;
    let client = register(&a, &t, "Original").await;
    assert_eq!(rename(&a, &t, &client, "By A").await.0, 200);
    assert_eq!(rename(&b, &t, &client, "By B").await.0, 200);
    // A kept the client at its own rename; B's is stored after it.
    assert_eq!(rename(&a, &t, &client, "By A again").await.0, 200);
    let names: Vec<_> = stream(&a, &t, &client)
        .await
        .into_iter()
        .map(|(seq, _, name)| (seq, name.unwrap_or_default()))
        .collect();
    assert_eq!(
        names,
        [
            (1, "Original".to_string()),
            (2, "By A".to_string()),
            (3, "By B".to_string()),
            (4, "By A again".to_string()),
        ]
    );

    // Archived on B: A's kept state says otherwise, and A must still refuse.
    post_ok(&b, &t, &format!("/api/v1/clients/{client}/archive")).await;
    let (status, problem) = rename(&a, &t, &client, "Too late").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("client_archived"))
    );
    assert_eq!(stream(&a, &t, &client).await.len(), 5);
}

#[tokio::test]
async fn a_refusal_on_a_kept_state_is_checked_against_the_stored_one() {
    let (a, b, t) = two_servers().await;
    let client = register(&a, &t, "Dormant").await;
    post_ok(&a, &t, &format!("/api/v1/clients/{client}/archive")).await;
    post_ok(&b, &t, &format!("/api/v1/clients/{client}/unarchive")).await;
    // A kept the client archived; it is not any more.
    let (status, body) = rename(&a, &t, &client, "Woken").await;
    assert_eq!(status, 200, "{body}");
    let last = stream(&a, &t, &client).await.pop().unwrap();
    assert_eq!((last.0, last.2.as_deref()), (4, Some("Woken")));
}

#[tokio::test]
async fn a_stream_only_read_is_read_as_stored() {
    let (a, b, t) = two_servers().await;
    let item = a
        .staff(&t.staff)
        .create_item("KEPT-1", "Bookkeeping", 1000)
        .await
        .to_string();
    let first = register(&a, &t, "First").await;
    let assign = |client: String| {
        let (a, t, item) = (&a, &t, item.clone());
        async move {
            a.post(
                &format!("/api/v1/clients/{client}/items"),
                &t.staff,
                json!({"item_id": item}),
            )
            .await
        }
    };
    assert_eq!(assign(first).await.0, 201);
    // Archived on B; A kept the item as it created it, and only reads it to assign it.
    post_ok(&b, &t, &format!("/api/v1/items/{item}/archive")).await;
    let second = register(&a, &t, "Second").await;
    let (status, problem) = assign(second.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("item_archived"))
    );
    assert!(
        !stream(&a, &t, &second)
            .await
            .iter()
            .any(|(_, kind, _)| kind == "ItemAssigned"),
        "nothing written for the refused assignment"
    );
}
