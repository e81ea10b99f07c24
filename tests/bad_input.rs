//! A table of bad requests: each gets the 4xx API.md names, as problem+json, never a 500,
//! and none writes an event.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

enum Body {
    None,
    Json(serde_json::Value),
    Raw(&'static str, Vec<u8>),
}

/// (what, method, path, body, expected status, expected code, first field in error)
type Case = (
    &'static str,
    Method,
    String,
    Body,
    u16,
    &'static str,
    Option<&'static str>,
);

#[tokio::test]
async fn bad_requests_are_refused_clearly_and_write_nothing() {
    let s = Server::start().await;
    let t = s.tenant().await;
    let (_, client) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Jo", "kind": "individual"}),
        )
        .await;
    let client = id_of(&client, "id");
    let (_, org) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Org", "kind": "organisation"}),
        )
        .await;
    let org = id_of(&org, "id");
    let (_, user) = s
        .post(
            &format!("/api/v1/clients/{org}/portal-users"),
            &t.staff,
            json!({"email": "u@example.org"}),
        )
        .await;
    let user = id_of(&user, "id");
    let (_, item) = s
        .post("/api/v1/items", &t.staff, json!({"sku": "S1", "name": "Thing", "unit_price": {"amount_minor": 5, "currency": "GBP"}}))
        .await;
    let item = id_of(&item, "id");
    let unknown = uuid::Uuid::now_v7();
    let before = event_count(s.pool(), t.id).await;

    let clients = "/api/v1/clients".to_string();
    let users = format!("/api/v1/clients/{org}/portal-users");
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            Method::POST,
            clients.clone(),
            Body::Raw("application/json", b"{\"display_name\":".to_vec()),
            400,
            "malformed_request",
            None,
        ),
        (
            "not JSON at all",
            Method::POST,
            clients.clone(),
            Body::Raw("text/plain", b"hello".to_vec()),
            400,
            "malformed_request",
            None,
        ),
        (
            "JSON array",
            Method::POST,
            clients.clone(),
            Body::Json(json!([1, 2])),
            400,
            "malformed_request",
            None,
        ),
        (
            "wrong type",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"display_name": 5, "kind": "individual"})),
            400,
            "malformed_request",
            None,
        ),
        (
            "missing field",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"kind": "individual"})),
            400,
            "malformed_request",
            None,
        ),
        (
            "unknown field",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"display_name": "X", "kind": "individual", "nickname": "x"})),
            400,
            "malformed_request",
            None,
        ),
        (
            "unknown enum value",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"display_name": "X", "kind": "company"})),
            422,
            "validation_failed",
            Some("kind"),
        ),
        (
            "empty name",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"display_name": "   ", "kind": "individual"})),
            422,
            "validation_failed",
            Some("display_name"),
        ),
        (
            "over-long name",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"display_name": "n".repeat(201), "kind": "individual"})),
            422,
            "validation_failed",
            Some("display_name"),
        ),
        (
            "invalid email",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"display_name": "X", "kind": "individual", "email": "not-an-email"})),
            422,
            "validation_failed",
            Some("email"),
        ),
        (
            "over-long body",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"display_name": "x".repeat(70_000), "kind": "individual"})),
            413,
            "payload_too_large",
            None,
        ),
        (
            "invalid email on change",
            Method::PATCH,
            format!("/api/v1/clients/{client}"),
            Body::Json(json!({"email": "a@b"})),
            422,
            "validation_failed",
            Some("email"),
        ),
        (
            "non-UUID id",
            Method::PATCH,
            "/api/v1/clients/42".into(),
            Body::Json(json!({"display_name": "X"})),
            404,
            "not_found",
            None,
        ),
        (
            "unknown id",
            Method::PATCH,
            format!("/api/v1/clients/{unknown}"),
            Body::Json(json!({"display_name": "X"})),
            404,
            "not_found",
            None,
        ),
        (
            "unknown client to invite",
            Method::POST,
            format!("/api/v1/clients/{unknown}/invitations"),
            Body::Json(json!({})),
            404,
            "not_found",
            None,
        ),
        (
            "short username",
            Method::POST,
            users.clone(),
            Body::Json(json!({"email": "a@example.org", "username": "ab"})),
            422,
            "validation_failed",
            Some("username"),
        ),
        (
            "username with spaces",
            Method::POST,
            users.clone(),
            Body::Json(json!({"email": "a@example.org", "username": "a b c"})),
            422,
            "validation_failed",
            Some("username"),
        ),
        (
            "short password",
            Method::POST,
            users.clone(),
            Body::Json(
                json!({"email": "a@example.org", "username": "abcdef", "password": "short"}),
            ),
            422,
            "validation_failed",
            Some("password"),
        ),
        (
            "password containing the username",
            Method::POST,
            users.clone(),
            Body::Json(
                json!({"email": "a@example.org", "username": "abcdef", "password": "my abcdef password"}),
            ),
            422,
            "validation_failed",
            Some("password"),
        ),
        (
            "missing email",
            Method::POST,
            users.clone(),
            Body::Json(json!({"username": "abcdef"})),
            400,
            "malformed_request",
            None,
        ),
        (
            "unknown reset mode",
            Method::POST,
            format!("/api/v1/portal-users/{user}/password-reset"),
            Body::Json(json!({"mode": "sms"})),
            422,
            "validation_failed",
            Some("mode"),
        ),
        (
            "set without password",
            Method::POST,
            format!("/api/v1/portal-users/{user}/password-reset"),
            Body::Json(json!({"mode": "set"})),
            422,
            "validation_failed",
            Some("new_password"),
        ),
        (
            "non-UUID client in body",
            Method::POST,
            format!("/api/v1/portal-users/{user}/client-access"),
            Body::Json(json!({"client_id": "nope"})),
            404,
            "not_found",
            None,
        ),
        (
            "negative price",
            Method::POST,
            "/api/v1/items".into(),
            Body::Json(
                json!({"sku": "S2", "name": "N", "unit_price": {"amount_minor": -1, "currency": "GBP"}}),
            ),
            422,
            "validation_failed",
            Some("unit_price.amount_minor"),
        ),
        (
            "bad currency",
            Method::PUT,
            format!("/api/v1/items/{item}/price"),
            Body::Json(json!({"unit_price": {"amount_minor": 1, "currency": "pounds"}})),
            422,
            "validation_failed",
            Some("unit_price.currency"),
        ),
        (
            "fractional price",
            Method::PUT,
            format!("/api/v1/items/{item}/price"),
            Body::Json(json!({"unit_price": {"amount_minor": 1.5, "currency": "GBP"}})),
            400,
            "malformed_request",
            None,
        ),
        (
            "bad SKU",
            Method::POST,
            "/api/v1/items".into(),
            Body::Json(
                json!({"sku": "has space", "name": "N", "unit_price": {"amount_minor": 1, "currency": "GBP"}}),
            ),
            422,
            "validation_failed",
            Some("sku"),
        ),
        (
            "not a PNG",
            Method::PUT,
            format!("/api/v1/items/{item}/image"),
            Body::Raw("image/png", b"\x89PNG but not really".to_vec()),
            422,
            "validation_failed",
            Some("body"),
        ),
        (
            "image of another type",
            Method::PUT,
            format!("/api/v1/items/{item}/image"),
            Body::Raw("image/jpeg", portal_accounts::http::png::tiny_png()),
            422,
            "validation_failed",
            Some("content-type"),
        ),
        (
            "non-UUID item",
            Method::POST,
            format!("/api/v1/clients/{org}/items"),
            Body::Json(json!({"item_id": "x"})),
            404,
            "not_found",
            None,
        ),
        (
            "unknown item",
            Method::POST,
            format!("/api/v1/clients/{org}/items"),
            Body::Json(json!({"item_id": unknown})),
            404,
            "not_found",
            None,
        ),
        (
            "empty contract",
            Method::POST,
            format!("/api/v1/clients/{client}/contracts"),
            Body::Json(json!({"title": "T", "body": " "})),
            422,
            "validation_failed",
            Some("body"),
        ),
        (
            "bulk with both",
            Method::POST,
            "/api/v1/invitations/bulk".into(),
            Body::Json(json!({"client_ids": [client], "filter": "not_invited"})),
            422,
            "validation_failed",
            Some("client_ids"),
        ),
        (
            "bulk with none",
            Method::POST,
            "/api/v1/invitations/bulk".into(),
            Body::Json(json!({"client_ids": []})),
            422,
            "validation_failed",
            Some("client_ids"),
        ),
        (
            "bulk with a bad id",
            Method::POST,
            "/api/v1/invitations/bulk".into(),
            Body::Json(json!({"client_ids": [client, "x"]})),
            422,
            "validation_failed",
            Some("client_ids[1]"),
        ),
        (
            "bulk with an unknown filter",
            Method::POST,
            "/api/v1/invitations/bulk".into(),
            Body::Json(json!({"filter": "everyone"})),
            422,
            "validation_failed",
            Some("filter"),
        ),
        (
            "setting of the wrong type",
            Method::PUT,
            "/api/v1/settings/portal".into(),
            Body::Json(json!({"active": "yes"})),
            400,
            "malformed_request",
            None,
        ),
        (
            "over-long reason",
            Method::POST,
            format!("/api/v1/portal-users/{user}/disable"),
            Body::Json(json!({"reason": "r".repeat(501)})),
            422,
            "validation_failed",
            Some("reason"),
        ),
        (
            "wrong method",
            Method::PUT,
            clients.clone(),
            Body::None,
            405,
            "method_not_allowed",
            None,
        ),
        (
            "unknown route",
            Method::GET,
            "/api/v1/nothing-here".into(),
            Body::None,
            404,
            "not_found",
            None,
        ),
        (
            "NUL in a search",
            Method::GET,
            format!("{clients}?q=%00"),
            Body::None,
            400,
            "malformed_request",
            None,
        ),
        (
            "NUL in a firm's portal address",
            Method::POST,
            "/portal/v1/%00/login".into(),
            Body::Json(json!({"username": "x", "password": "y"})),
            400,
            "malformed_request",
            None,
        ),
        (
            "NUL in a JSON string",
            Method::POST,
            clients.clone(),
            Body::Raw(
                "application/json",
                br#"{"display_name": "Jo\u0000", "kind": "individual"}"#.to_vec(),
            ),
            400,
            "malformed_request",
            None,
        ),
        (
            "NUL in a portal username",
            Method::POST,
            format!("/portal/v1/{}/login", t.slug),
            Body::Raw(
                "application/json",
                br#"{"username": "a\u0000b", "password": "whatever it is"}"#.to_vec(),
            ),
            400,
            "malformed_request",
            None,
        ),
        (
            "a hyphen-less id",
            Method::GET,
            format!(
                "{clients}/{}",
                uuid::Uuid::try_parse(&client).unwrap().simple()
            ),
            Body::None,
            404,
            "not_found",
            None,
        ),
        (
            "a braced id",
            Method::GET,
            format!("{clients}/{{{client}}}"),
            Body::None,
            404,
            "not_found",
            None,
        ),
    ];

    for (name, method, path, body, status, code, field) in cases {
        let mut req = s.request(method, &path, &t.admin);
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(content_type, bytes) => req.header("content-type", content_type).body(bytes),
        };
        let (got, problem) = send(req).await;
        assert_eq!(got, status, "{name}: {problem}");
        assert_eq!(problem["code"], code, "{name}: {problem}");
        assert_eq!(problem["status"], status, "{name}");
        assert!(
            problem["title"].is_string()
                && problem["type"].is_string()
                && problem["detail"].is_string(),
            "{name}"
        );
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{name}: {problem}");
        }
    }
    assert_eq!(
        event_count(s.pool(), t.id).await,
        before,
        "no refused request wrote an event"
    );
    // An escaped backslash before u0000 is ordinary text, not a NUL.
    let (status, _) = send(
        s.request(Method::POST, "/api/v1/clients", &t.staff)
            .header("content-type", "application/json")
            .body(br#"{"display_name": "back\\u0000slash", "kind": "individual"}"#.to_vec()),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn every_field_error_is_reported_at_once() {
    let s = Server::start().await;
    let t = s.tenant().await;
    let (status, problem) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "", "kind": "robot", "email": "nope"}),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["display_name", "kind", "email"]);
}

#[tokio::test]
async fn an_unusable_request_id_is_replaced_and_a_good_one_echoed() {
    let s = Server::start().await;
    let ok = s
        .http
        .get(format!("{}/healthz", s.base))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.headers()["x-request-id"], "trace-123");
    let long = "x".repeat(500);
    let replaced = s
        .http
        .get(format!("{}/healthz", s.base))
        .header("x-request-id", long.as_str())
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::try_parse(id).is_ok(), "{id}");
}
