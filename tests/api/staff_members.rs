//! Staff are people: members managed by admins, tokens that act for a member or for a
//! service (naming its person per command), expire and are revoked at once — on every
//! server — and a named person behind every event an auditor reads.

use crate::common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// A request with a bearer token and, optionally, `X-Acting-Staff`.
async fn acting(
    s: &Server,
    method: Method,
    path: &str,
    token: &str,
    person: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s.request(method, path, token);
    if let Some(person) = person {
        req = req.header("x-acting-staff", person);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    send(req).await
}

fn new_client() -> Value {
    json!({"display_name": "Acting Test", "kind": "organisation"})
}

#[tokio::test]
async fn admins_add_change_disable_and_enable_members_and_nobody_else_may() {
    let (s, t) = Server::with_firm().await;
    let admin = s.staff(&t.admin);
    let sam = admin
        .add_member("Sam Clerk", "sam@firm.example", "staff")
        .await;
    let listed = admin.get("/api/v1/staff").await;
    let entry = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == sam.to_string())
        .unwrap()
        .clone();
    assert_eq!(
        (
            &entry["name"],
            &entry["email"],
            &entry["role"],
            &entry["status"]
        ),
        (
            &json!("Sam Clerk"),
            &json!("sam@firm.example"),
            &json!("staff"),
            &json!("active")
        )
    );
    assert!(entry["created_at"].as_str().is_some());
    // Auditors read the list too; staff and reporting tokens may not; nobody but admins
    // writes, and a refused request writes nothing.
    s.staff(&t.auditor)
        .get(&format!("/api/v1/staff/{sam}"))
        .await;
    let before = event_count(s.pool(), t.id).await;
    for token in [&t.staff, &t.reporting] {
        s.staff(token)
            .assert_refused(Method::GET, "/api/v1/staff", None, (403, "forbidden_role"))
            .await;
    }
    for token in [&t.staff, &t.auditor] {
        let body = json!({"name": "X", "email": "x@firm.example", "role": "admin"});
        let status = s
            .staff(token)
            .status_of(Method::POST, "/api/v1/staff", Some(body))
            .await;
        assert_eq!(status, 403);
        let status = s
            .staff(token)
            .status_of(Method::POST, &format!("/api/v1/staff/{sam}/disable"), None)
            .await;
        assert_eq!(status, 403);
        let status = s
            .staff(token)
            .status_of(Method::POST, "/api/v1/tokens", Some(json!({})))
            .await;
        assert_eq!(status, 403);
    }
    // Bad input names every field at once.
    let fields = s
        .staff(&t.admin)
        .invalid_fields(
            Method::POST,
            "/api/v1/staff",
            Some(json!({"name": " ", "email": "not-an-address", "role": "boss"})),
        )
        .await;
    assert_eq!(fields, ["name", "email", "role"]);
    assert_eq!(event_count(s.pool(), t.id).await, before);

    // Rename and re-role; disable: the member's own token answers 401 at once.
    let path = format!("/api/v1/staff/{sam}");
    admin
        .ok(
            Method::PATCH,
            &path,
            Some(json!({"name": "Samuel Clerk", "role": "admin"})),
        )
        .await;
    let (_, token) = admin
        .issue_token(json!({"label": "Sam's laptop", "staff_id": sam}))
        .await;
    s.staff(&token).get("/api/v1/clients").await;
    admin
        .ok(Method::POST, &format!("{path}/disable"), None)
        .await;
    let status = s
        .staff(&token)
        .status_of(Method::GET, "/api/v1/clients", None)
        .await;
    assert_eq!(status, 401);
    admin
        .assert_refused(
            Method::POST,
            &format!("{path}/disable"),
            None,
            (409, "already_disabled"),
        )
        .await;
    assert_eq!(admin.get(&path).await["status"], "disabled");
    admin
        .ok(Method::POST, &format!("{path}/enable"), None)
        .await;
    s.staff(&token).get("/api/v1/clients").await;
    let member = admin.get(&path).await;
    assert_eq!(
        (&member["name"], &member["role"]),
        (&json!("Samuel Clerk"), &json!("admin"))
    );

    let events = events_of_tenant(s.pool(), t.id).await;
    assert_eq!(
        types_of(&events, sam),
        [
            "StaffMemberCreated",
            "StaffMemberRenamed",
            "StaffMemberRoleChanged",
            "StaffMemberDisabled",
            "StaffMemberEnabled"
        ]
    );
    let unknown = format!("/api/v1/staff/{}", Uuid::now_v7());
    assert_eq!(admin.refused(Method::GET, &unknown, None).await.0, 404);

    // Nobody locks themselves out: Samuel (now an admin) cannot disable Samuel.
    assert_eq!(
        s.staff(&token)
            .refused(Method::POST, &format!("{path}/disable"), None)
            .await,
        (409, "cannot_disable_self".into())
    );
}

#[tokio::test]
async fn tokens_are_listed_without_secrets_and_stop_working_when_revoked_or_expired() {
    let (s, t) = Server::with_firm().await;
    let admin = s.staff(&t.admin);
    let sam = admin
        .add_member("Sam Clerk", "sam@firm.example", "staff")
        .await;
    let (id, token) = admin
        .issue_token(json!({"label": "laptop", "staff_id": sam, "expires_in_days": 30}))
        .await;
    assert!(token.starts_with("pat_"));
    s.staff(&token).get("/api/v1/clients").await;

    let listed = s.staff(&t.auditor).get("/api/v1/tokens").await;
    let entry = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.to_string())
        .unwrap()
        .clone();
    assert_eq!(
        (
            &entry["label"],
            &entry["staff_id"],
            &entry["role"],
            &entry["holder"]
        ),
        (
            &json!("laptop"),
            &json!(sam),
            &json!("staff"),
            &json!("member")
        )
    );
    assert!(entry["expires_at"].as_str().is_some());
    assert_eq!(entry["revoked_at"], Value::Null);
    let text = listed.to_string();
    assert!(!text.contains(&token) && !text.contains("hash"), "{text}");

    // Bad input; nothing written.
    let before = event_count(s.pool(), t.id).await;
    let (status, problem) = s
        .post(
            "/api/v1/tokens",
            &t.admin,
            json!({"label": "x", "role": "root", "expires_in_days": 400}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    let status = s
        .staff(&t.admin)
        .status_of(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"staff_id": Uuid::now_v7()})),
        )
        .await;
    assert_eq!(status, 404, "an unknown member gets no token");
    assert_eq!(event_count(s.pool(), t.id).await, before);

    // Revoked: 401 from then on; revoking again changes nothing.
    admin
        .ok(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    s.staff(&token)
        .assert_refused(Method::GET, "/api/v1/clients", None, (401, "unauthorized"))
        .await;
    admin
        .ok(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    let listed = admin.get("/api/v1/tokens").await;
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["id"] == id.to_string() && k["revoked_at"].is_string()));
    let unknown = format!("/api/v1/tokens/{}", Uuid::now_v7());
    assert_eq!(admin.refused(Method::DELETE, &unknown, None).await.0, 404);

    // Expired: 401. (Time is moved by setting the expiry into the past.)
    let (old, old_token) = admin
        .issue_token(json!({"label": "old", "staff_id": sam}))
        .await;
    s.staff(&old_token).get("/api/v1/clients").await;
    sqlx::query("UPDATE staff_tokens SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(old)
        .execute(s.pool())
        .await
        .unwrap();
    let status = s
        .staff(&old_token)
        .status_of(Method::GET, "/api/v1/clients", None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_service_token_names_its_person_and_acts_with_the_lower_role() {
    let (s, t) = Server::with_firm().await;
    let other = s.tenant().await;
    let admin = s.staff(&t.admin);
    let sam = admin
        .add_member("Sam Clerk", "sam@firm.example", "staff")
        .await
        .to_string();
    let ann = admin
        .add_member("Ann Auditor", "ann@firm.example", "auditor")
        .await
        .to_string();
    let gone = admin
        .add_member("Gone Person", "gone@firm.example", "admin")
        .await
        .to_string();
    admin
        .ok(Method::POST, &format!("/api/v1/staff/{gone}/disable"), None)
        .await;
    let stranger = s
        .staff(&other.admin)
        .add_member("Other Firm", "o@other.example", "admin")
        .await
        .to_string();
    let (service_id, service) = admin.issue_token(json!({"label": "staff UI"})).await;

    let before = event_count(s.pool(), t.id).await;
    let clients = "/api/v1/clients";
    let refused = [
        (None, 400, "acting_staff_required"),
        (Some("not-a-uuid"), 404, "not_found"),
        (Some(&Uuid::now_v7().to_string()[..]), 404, "not_found"),
        (Some(&gone[..]), 404, "not_found"),
        (Some(&stranger[..]), 404, "not_found"),
        // An auditor may not write, whatever the token may.
        (Some(&ann[..]), 403, "forbidden_role"),
    ];
    for (person, status, code) in refused {
        let (got, problem) = acting(
            &s,
            Method::POST,
            clients,
            &service,
            person,
            Some(new_client()),
        )
        .await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{person:?}"
        );
    }
    assert_eq!(
        event_count(s.pool(), t.id).await,
        before,
        "refusals write nothing"
    );

    // Reads need no person; commands name theirs and the event names them.
    let (status, _) = acting(&s, Method::GET, clients, &service, None, None).await;
    assert_eq!(status, 200);
    let (status, created) = acting(
        &s,
        Method::POST,
        clients,
        &service,
        Some(&sam),
        Some(new_client()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let events = events_of_tenant(s.pool(), t.id).await;
    let registered = events.last().unwrap();
    assert_eq!(registered.event_type, "ClientRegistered");
    assert_eq!(
        registered.metadata["actor"],
        json!({"kind": "staff", "id": sam, "name": "Sam Clerk"})
    );
    assert_eq!(registered.metadata["via_token"], json!(service_id));

    // A staff member's role is lower than the service token's admin: no settings.
    let (status, problem) = acting(
        &s,
        Method::PUT,
        "/api/v1/settings/portal",
        &service,
        Some(&sam),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("forbidden_role"))
    );

    // A personal token may name only its own person.
    let (_, personal) = admin
        .issue_token(json!({"label": "Sam's", "staff_id": sam}))
        .await;
    let (status, problem) = acting(
        &s,
        Method::POST,
        clients,
        &personal,
        Some(&ann),
        Some(new_client()),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("acting_staff_mismatch"))
    );
    let (status, _) = acting(
        &s,
        Method::POST,
        clients,
        &personal,
        Some(&sam),
        Some(new_client()),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_revocation_counts_at_once_on_another_server() {
    let first = Server::start().await;
    let second = Server::start().await;
    let t = first.tenant().await;
    let (id, token) = first
        .staff(&t.admin)
        .issue_token(json!({"label": "shared"}))
        .await;
    for s in [&first, &second] {
        let _ = s
            .staff(&token)
            .ok(Method::GET, "/api/v1/clients", None)
            .await;
    }
    first
        .staff(&t.admin)
        .ok(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    // No waiting: the other server answers 401 on the very next request.
    let status = second
        .staff(&token)
        .status_of(Method::GET, "/api/v1/clients", None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_auditor_learns_which_person_disabled_a_login() {
    let (s, t) = Server::with_firm().await;
    let admin = s.staff(&t.admin);
    let sam = admin
        .add_member("Sam Clerk", "sam@firm.example", "staff")
        .await;
    let (_, token) = admin
        .issue_token(json!({"label": "Sam's laptop", "staff_id": sam}))
        .await;
    let staff = s.staff(&token);
    let client = staff
        .register_client("Hannah Example", "individual", None)
        .await;
    let (login, _) = staff
        .create_portal_user(client, json!({"email": "hannah@client.test"}))
        .await;
    staff
        .on_login(login, "disable", Some(json!({"reason": "left"})))
        .await;
    // Renamed later: the history keeps the name Sam had then.
    admin
        .ok(
            Method::PATCH,
            &format!("/api/v1/staff/{sam}"),
            Some(json!({"name": "Sam Newname"})),
        )
        .await;

    let auditor = s.staff(&t.auditor);
    let history = auditor
        .get(&format!("/api/v1/audit/clients/{client}/history"))
        .await;
    let disabled = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "LoginDisabled")
        .unwrap()
        .clone();
    assert_eq!(disabled["actor_name"], "Sam Clerk");
    assert_eq!(disabled["actor_id"], json!(sam));
    assert_eq!(disabled["actor"], format!("staff:{sam}"));

    // The event feed filters by person, type and time.
    let by_sam = auditor
        .get(&format!("/api/v1/audit/events?actor={sam}"))
        .await;
    let mut types: Vec<&str> = by_sam["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "ActivationLinkIssued",
            "ClientRegistered",
            "LoginDisabled",
            "PortalUserAttached",
            "PortalUserCreated"
        ]
    );
    let disables = auditor
        .get(&format!(
            "/api/v1/audit/events?event_type=LoginDisabled&stream_id={login}"
        ))
        .await;
    assert_eq!(disables["events"].as_array().unwrap().len(), 1);
    let future = auditor
        .get("/api/v1/audit/events?from=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future["events"], json!([]));
    let (status, problem) = auditor
        .call(
            Method::GET,
            "/api/v1/audit/events?from=yesterday&actor=sam",
            None,
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);

    // The export names the person too.
    let export = s.staff(&t.auditor).export_text("").await;
    let line: Value = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["event_type"] == "LoginDisabled")
        .unwrap();
    assert_eq!(line["actor_name"], "Sam Clerk");
}

#[tokio::test]
async fn events_from_before_staff_members_still_read_with_their_token() {
    let (s, t) = Server::with_firm().await;
    // An event as the service wrote them before people: the actor was a token string.
    let (token, client) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('client', $1, 1, 'ClientRegistered', '1.0', $2, $3)",
    )
    .bind(client.to_string())
    .bind(json!({"ClientRegistered": {"display_name": "Old Client", "kind": "individual", "email": null, "external_ref": null}}))
    .bind(json!({"tenant_id": t.id, "actor": format!("staff_token:{token}"), "request_id": "old", "command": "RegisterClient"}))
    .execute(s.pool())
    .await
    .unwrap();
    let auditor = s.staff(&t.auditor);
    let history = auditor
        .get(&format!("/api/v1/audit/clients/{client}/history"))
        .await;
    let old = &history["events"][0];
    assert_eq!(
        (
            &old["actor"],
            &old["actor_kind"],
            &old["actor_name"],
            &old["via_token"]
        ),
        (
            &json!("staff"),
            &json!("staff"),
            &Value::Null,
            &json!(token)
        )
    );
    // The feed finds it by the token.
    let found = auditor
        .get(&format!("/api/v1/audit/events?actor={token}"))
        .await;
    assert_eq!(found["events"].as_array().unwrap().len(), 1);
}
