//! A table of bad requests: each gets the 4xx API.md names, as problem+json, never a 500,
//! and none writes an event.

use crate::common;

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

/// What the cases refer to: a firm's client, organisation, login and item (as id text),
/// an id nobody has, and the paths most cases aim at.
struct Fixture {
    client: String,
    org: String,
    user: String,
    item: String,
    unknown: uuid::Uuid,
    clients: String,
    users: String,
    /// The firm's portal address.
    slug: String,
}

async fn fixture(s: &Server, t: &Tenant) -> Fixture {
    let staff = s.staff(&t.staff);
    let client = staff.register_client("Jo", "individual", None).await;
    let org = staff.register_client("Org", "organisation", None).await;
    let login = json!({"email": "u@example.org"});
    let (user, _) = staff.create_portal_user(org, login).await;
    let item = staff.create_item("S1", "Thing", 5).await;
    Fixture {
        client: client.to_string(),
        org: org.to_string(),
        user: user.to_string(),
        item: item.to_string(),
        unknown: uuid::Uuid::now_v7(),
        clients: "/api/v1/clients".to_string(),
        users: format!("/api/v1/clients/{org}/portal-users"),
        slug: t.slug.clone(),
    }
}

/// A firm with the fixture, and the cases made from it refused as each says: the server and
/// firm, for what a test checks after.
async fn refused_as_listed(cases: impl FnOnce(&Fixture) -> Vec<Case>) -> (Server, Tenant) {
    let (s, t) = Server::with_firm().await;
    let fixture = fixture(&s, &t).await;
    refuse_all(&s, &t, cases(&fixture)).await;
    (s, t)
}

/// Sends each case as the firm's admin: each is refused as it says, as problem+json, and
/// none writes an event.
async fn refuse_all(s: &Server, t: &Tenant, cases: Vec<Case>) {
    let before = event_count(s.pool(), t.id).await;
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
}

/// Bodies that are not the command's shape, or break a value's rule.
#[tokio::test]
async fn request_bodies_out_of_shape_or_breaking_a_rule_are_refused() {
    let (s, t) = refused_as_listed(|f| {
        let Fixture { client, item, clients, .. } = f;
        vec![
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
            "a JSON array in place of an object",
            Method::POST,
            "/api/v1/tokens".into(),
            Body::Raw("application/json", b"[null, null]".to_vec()),
            400,
            "malformed_request",
            None,
        ),
        (
            "a hyphen-less id in a body",
            Method::POST,
            format!("{clients}/{client}/items"),
            Body::Json(
                json!({"item_id": uuid::Uuid::try_parse(item).unwrap().simple().to_string()}),
            ),
            404,
            "not_found",
            None,
        ),
        (
            "a fractional amount",
            Method::POST,
            "/api/v1/items".into(),
            Body::Json(
                json!({"sku": "S2", "name": "Half", "unit_price": {"amount_minor": 5.5, "currency": "GBP"}}),
            ),
            400,
            "malformed_request",
            None,
        ),
        (
            "a name longer than 200 characters once spaces are counted",
            Method::POST,
            clients.clone(),
            Body::Json(
                json!({"display_name": format!("Jo{}", " ".repeat(199)), "kind": "individual"}),
            ),
            422,
            "validation_failed",
            Some("display_name"),
        ),
        (
            "a control character at the end of a name",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"display_name": "Jo\u{7}", "kind": "individual"})),
            422,
            "validation_failed",
            Some("display_name"),
        ),
        (
            "a right-to-left override in a name (Trojan Source)",
            Method::POST,
            clients.clone(),
            Body::Json(json!({"display_name": "Invoice \u{202e}fdp.exe", "kind": "individual"})),
            422,
            "validation_failed",
            Some("display_name"),
        ),
        (
            "a zero-width space in a contract body",
            Method::POST,
            format!("/api/v1/clients/{client}/contracts"),
            Body::Json(json!({"title": "Terms", "body": "Pay to acc\u{200b}ount 42"})),
            422,
            "validation_failed",
            Some("body"),
        ),
        (
            "a non-ASCII e-mail local part",
            Method::POST,
            clients.clone(),
            Body::Json(
                json!({"display_name": "Jo", "kind": "individual", "email": "zoë@example.org"}),
            ),
            422,
            "validation_failed",
            Some("email"),
        ),
        ]
    })
    .await;
    // An escaped backslash before u0000 is ordinary text, not a NUL.
    let (status, _) = send(
        s.request(Method::POST, "/api/v1/clients", &t.staff)
            .header("content-type", "application/json")
            .body(br#"{"display_name": "back\\u0000slash", "kind": "individual"}"#.to_vec()),
    )
    .await;
    assert_eq!(status, 201);
}

/// Ids, routes and query strings that name nothing the API has.
#[tokio::test]
async fn unknown_ids_routes_and_query_parameters_are_refused() {
    refused_as_listed(|f| {
        let Fixture {
            client,
            org,
            unknown,
            clients,
            slug,
            ..
        } = f;
        vec![
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
                "NUL in a portal username",
                Method::POST,
                format!("/portal/v1/{}/login", slug),
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
                    uuid::Uuid::try_parse(client).unwrap().simple()
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
            (
                "an unknown query parameter",
                Method::GET,
                "/api/v1/audit/logins?client_id=x".into(),
                Body::None,
                422,
                "validation_failed",
                Some("client_id"),
            ),
            (
                "a query parameter given twice",
                Method::GET,
                format!("{clients}?limit=5&limit=6"),
                Body::None,
                422,
                "validation_failed",
                Some("limit"),
            ),
            (
                "a query parameter on a route that takes none",
                Method::POST,
                format!("{clients}?dry_run=true"),
                Body::Json(json!({"display_name": "Jo", "kind": "individual"})),
                422,
                "validation_failed",
                Some("dry_run"),
            ),
            (
                "a cursor not of the cursor's pattern",
                Method::GET,
                format!("{clients}?cursor=abc"),
                Body::None,
                422,
                "validation_failed",
                Some("cursor"),
            ),
            (
                "an audit page of 0",
                Method::GET,
                "/api/v1/audit/events?limit=0".into(),
                Body::None,
                422,
                "validation_failed",
                Some("limit"),
            ),
            (
                "a token with a hyphen-less staff id",
                Method::POST,
                "/api/v1/tokens".into(),
                Body::Json(json!({"label": "x", "staff_id": unknown.simple().to_string()})),
                422,
                "validation_failed",
                Some("staff_id"),
            ),
            (
                "a position no write has reached",
                Method::GET,
                format!("{clients}?min_position=9223372036854775807"),
                Body::None,
                409,
                "position_not_reached",
                None,
            ),
        ]
    })
    .await;
}

/// Portal-login commands with bad usernames, passwords, names or addresses.
#[tokio::test]
async fn bad_portal_login_commands_are_refused() {
    refused_as_listed(|f| {
        let Fixture { user, users, .. } = f;
        vec![
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
            "over-long first name",
            Method::PATCH,
            format!("/api/v1/portal-users/{user}"),
            Body::Json(json!({"first_name": "n".repeat(201)})),
            422,
            "validation_failed",
            Some("first_name"),
        ),
        (
            "login e-mail without @",
            Method::PATCH,
            format!("/api/v1/portal-users/{user}"),
            Body::Json(json!({"email": "mary.example.org"})),
            422,
            "validation_failed",
            Some("email"),
        ),
        (
            "blank last name on a new login",
            Method::POST,
            users.clone(),
            Body::Json(json!({"email": "new@example.org", "last_name": "   "})),
            422,
            "validation_failed",
            Some("last_name"),
        ),
        ]
    })
    .await;
}

/// Prices, SKUs, images and contracts that break their rules.
#[tokio::test]
async fn bad_catalogue_and_contract_commands_are_refused() {
    refused_as_listed(|f| {
        let Fixture { client, user, item, .. } = f;
        vec![
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
            "empty contract",
            Method::POST,
            format!("/api/v1/clients/{client}/contracts"),
            Body::Json(json!({"title": "T", "body": " "})),
            422,
            "validation_failed",
            Some("body"),
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
        ]
    })
    .await;
}

/// Bulk invitations and settings that cannot be carried out.
#[tokio::test]
async fn bad_bulk_invitations_and_settings_are_refused() {
    refused_as_listed(|f| {
        let Fixture { client, .. } = f;
        vec![
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
        ]
    })
    .await;
}

#[tokio::test]
async fn every_field_error_is_reported_at_once() {
    let (s, t) = Server::with_firm().await;
    let fields = s
        .staff(&t.staff)
        .invalid_fields(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"display_name": "", "kind": "robot", "email": "nope"})),
        )
        .await;
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

#[tokio::test]
async fn oversized_addresses_and_headers_get_problem_json_with_a_request_id() {
    let s = Server::start().await;
    let check = |what: &str, response: &reqwest::Response, status: u16| {
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json"),
            "{what}"
        );
        assert!(response.headers().contains_key("x-request-id"), "{what}");
    };
    let long = format!("{}/api/v1/clients?q={}", s.base, "a".repeat(9_000));
    let response = s.http.get(long).send().await.unwrap();
    check("long address", &response, 414);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "uri_too_long");

    let mut many = s.http.get(format!("{}/healthz", s.base));
    for i in 0..150 {
        many = many.header(format!("x-extra-{i}"), "v");
    }
    let response = many.send().await.unwrap();
    check("many headers", &response, 431);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "headers_too_large");

    let response = s
        .http
        .get(format!("{}/healthz", s.base))
        .header("x-big", "b".repeat(20_000))
        .send()
        .await
        .unwrap();
    check("a large header", &response, 431);
}

#[tokio::test]
async fn numbers_with_no_fraction_and_null_bodies_are_accepted() {
    let (s, t) = Server::reading_with_firm().await;
    let item = s.staff(&t.staff).ok(Method::POST, "/api/v1/items", Some(json!({"sku": "WHOLE", "name": "Whole", "unit_price": {"amount_minor": 500.0, "currency": "GBP"}}))).await;
    let (_, shown) = send(s.request(
        Method::GET,
        &format!(
            "/api/v1/items/{}?min_position={}",
            id_of(&item, "id"),
            item["position"]
        ),
        &t.staff,
    ))
    .await;
    assert_eq!(shown["unit_price"]["amount_minor"], 500, "{shown}");

    let client = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"display_name": "Org", "kind": "organisation"})),
        )
        .await;
    let user = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{}/portal-users", id_of(&client, "id")),
            Some(json!({"email": "u@example.org"})),
        )
        .await;
    let (status, body) = send(
        s.request(
            Method::POST,
            &format!("/api/v1/portal-users/{}/disable", id_of(&user, "id")),
            &t.staff,
        )
        .header("content-type", "application/json")
        .body("null"),
    )
    .await;
    assert_eq!(status, 200, "a null body is no body: {body}");
}

#[tokio::test]
async fn a_position_no_event_holds_stands_for_the_event_before_it() {
    let (s, t) = Server::reading_with_firm().await;
    let client = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"display_name": "Before the gap", "kind": "individual"})),
        )
        .await;
    // A transaction that drew a position and rolled back leaves that position empty.
    let gap: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('events', 'global_position'))")
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert!(gap > client["position"].as_i64().unwrap());
    s.staff(&t.staff)
        .ok(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"display_name": "After the gap", "kind": "individual"})),
        )
        .await;
    let (status, body) = send(s.request(
        Method::GET,
        &format!(
            "/api/v1/clients/{}?min_position={gap}",
            id_of(&client, "id")
        ),
        &t.staff,
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["display_name"], "Before the gap");
}
