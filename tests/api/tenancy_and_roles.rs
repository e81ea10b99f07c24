//! Tenancy and roles: another tenant's ids answer 404 on every route that takes an id, and
//! each role reaches only what it may. Nothing refused writes an event.

use crate::common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

struct World {
    client: String,
    org: String,
    user: String,
    item: String,
    contract: String,
}

async fn world(s: &Server, t: &Tenant) -> World {
    let staff = s.staff(&t.staff);
    let client = staff
        .register_client("Jo", "individual", Some("jo@example.org"))
        .await;
    let org = staff.register_client("Org", "organisation", None).await;
    let login = json!({"email": "u@example.org"});
    let (user, _) = staff.create_portal_user(org, login).await;
    let sku = format!("S-{}", uuid::Uuid::now_v7().simple());
    let item = staff.create_item(&sku, "Thing", 5).await;
    staff.assign_item(org, item).await;
    let (contract, _) = staff.issue_contract(client, "T").await;
    World {
        client: client.to_string(),
        org: org.to_string(),
        user: user.to_string(),
        item: item.to_string(),
        contract: contract.to_string(),
    }
}

/// Every staff route that names an id, as (method, path, body).
fn id_routes(w: &World) -> Vec<(Method, String, Option<Value>)> {
    let png = None;
    vec![
        (
            Method::PATCH,
            format!("/api/v1/clients/{}", w.client),
            Some(json!({"display_name": "X"})),
        ),
        (
            Method::POST,
            format!("/api/v1/clients/{}/invitations", w.client),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/clients/{}/invitations/current", w.client),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/clients/{}/portal-users", w.org),
            Some(json!({"email": "v@example.org"})),
        ),
        (
            Method::POST,
            format!("/api/v1/portal-users/{}/client-access", w.user),
            Some(json!({"client_id": w.client})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/portal-users/{}/client-access/{}", w.user, w.org),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/portal-users/{}/password-reset", w.user),
            Some(json!({"mode": "email_link"})),
        ),
        (
            Method::POST,
            format!("/api/v1/portal-users/{}/disable", w.user),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/portal-users/{}/enable", w.user),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/portal-users/{}", w.user),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/items/{}/price", w.item),
            Some(json!({"unit_price": {"amount_minor": 9, "currency": "GBP"}})),
        ),
        (Method::PUT, format!("/api/v1/items/{}/image", w.item), png),
        (Method::GET, format!("/api/v1/items/{}/image", w.item), None),
        (
            Method::POST,
            format!("/api/v1/clients/{}/items", w.org),
            Some(json!({"item_id": w.item})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/clients/{}/items/{}", w.org, w.item),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/clients/{}/contracts", w.client),
            Some(json!({"title": "T", "body": "B"})),
        ),
        (
            Method::POST,
            format!("/api/v1/contracts/{}/void", w.contract),
            Some(json!({})),
        ),
    ]
}

async fn call(
    s: &Server,
    method: Method,
    path: &str,
    token: &str,
    body: &Option<Value>,
) -> (u16, Value) {
    let mut req = s.request(method, path, token);
    if path.ends_with("/image") {
        req = req
            .header("content-type", "image/png")
            .body(portal_accounts::http::png::tiny_png());
    } else if let Some(body) = body {
        req = req.json(body);
    }
    send(req).await
}

#[tokio::test]
async fn another_tenants_ids_answer_404_everywhere_and_change_nothing() {
    let s = Server::start().await;
    let ours = s.tenant().await;
    let theirs = s.tenant().await;
    let w = world(&s, &ours).await;
    // The intruder has a client of its own, so the ids in bodies are not the only unknowns.
    let _ = world(&s, &theirs).await;
    let before = event_count(s.pool(), ours.id).await;
    let before_theirs = event_count(s.pool(), theirs.id).await;
    for (method, path, body) in id_routes(&w) {
        let (status, problem) = call(&s, method.clone(), &path, &theirs.admin, &body).await;
        assert_eq!(status, 404, "{method} {path} answered {status}: {problem}");
    }
    // A body naming another tenant's id (with a path of one's own) is just as unknown.
    let mine = world(&s, &theirs).await;
    let status = s
        .staff(&theirs.staff)
        .status_of(
            Method::POST,
            &format!("/api/v1/clients/{}/items", mine.org),
            Some(json!({"item_id": w.item})),
        )
        .await;
    assert_eq!(status, 404);
    let status = s
        .staff(&theirs.staff)
        .status_of(
            Method::POST,
            &format!("/api/v1/portal-users/{}/client-access", mine.user),
            Some(json!({"client_id": w.client})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, result) = s
        .post(
            "/api/v1/invitations/bulk",
            &theirs.staff,
            json!({"client_ids": [w.client]}),
        )
        .await;
    assert_eq!(
        (status, &result["skipped"][0]["reason"]),
        (200, &json!("not_found"))
    );
    assert_eq!(
        event_count(s.pool(), ours.id).await,
        before,
        "nothing of ours changed"
    );
    let theirs_now = event_count(s.pool(), theirs.id).await;
    assert!(theirs_now > before_theirs, "their own world was written");

    // And the owner still reaches every one of them.
    for (method, path, body) in id_routes(&w) {
        let (status, problem) = call(&s, method.clone(), &path, &ours.admin, &body).await;
        assert!(
            status < 300 || status == 409,
            "{method} {path} answered {status} to its owner: {problem}"
        );
    }
}

#[tokio::test]
async fn roles_reach_only_what_they_may() {
    let (s, t) = Server::with_firm().await;
    let w = world(&s, &t).await;
    let before = event_count(s.pool(), t.id).await;
    let mut commands = id_routes(&w);
    commands.retain(|(m, _, _)| *m != Method::GET);
    commands.push((
        Method::POST,
        "/api/v1/clients".into(),
        Some(json!({"display_name": "X", "kind": "individual"})),
    ));
    commands.push((
        Method::POST,
        "/api/v1/items".into(),
        Some(
            json!({"sku": "S9", "name": "N", "unit_price": {"amount_minor": 1, "currency": "GBP"}}),
        ),
    ));
    commands.push((
        Method::POST,
        "/api/v1/invitations/bulk".into(),
        Some(json!({"filter": "not_invited"})),
    ));
    commands.push((
        Method::PUT,
        "/api/v1/settings/portal".into(),
        Some(json!({"active": false})),
    ));
    for token in [&t.auditor, &t.reporting] {
        for (method, path, body) in &commands {
            let (status, problem) = call(&s, method.clone(), path, token, body).await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (403, Some("forbidden_role")),
                "{method} {path}"
            );
        }
    }
    for (method, path, body) in &commands {
        let (status, problem) = call(&s, method.clone(), path, "pat_not_a_token", body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (401, Some("unauthorized")),
            "{method} {path}"
        );
        let (status, _) = send(s.http.request(method.clone(), format!("{}{path}", s.base))).await;
        assert_eq!(status, 401);
    }
    // A well-formed token id with the wrong secret is refused too.
    let forged = format!("{}x", &t.admin[..t.admin.len() - 1]);
    let status = s
        .staff(&forged)
        .status_of(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"display_name": "X", "kind": "individual"})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(event_count(s.pool(), t.id).await, before);
    // Reading an image is open to every role.
    let status = s
        .staff(&t.auditor)
        .status_of(
            Method::GET,
            &format!("/api/v1/items/{}/image", w.item),
            None,
        )
        .await;
    assert_eq!(status, 404, "no image yet, but the auditor may ask");
}
