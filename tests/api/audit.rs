//! Auditors: the log in commit order with who/when, a client's whole history, any stream as
//! of a moment, a streamed export, and a hash chain that exposes altered, deleted and
//! reordered events.

use crate::common;

use aggregates::ids::ClientId;
use common::*;
use portal_accounts::http::routes::Created;
use reqwest::Method;
use serde_json::{json, Value};

async fn get(s: &Server, path: &str, token: &str) -> (u16, Value) {
    s.call(Method::GET, path, token, None).await
}

/// A small, realistic history: a client invited, given a login (with a password), an item
/// and a contract; another client beside it.
async fn history(s: &Server, t: &Tenant) -> (String, String, String, String) {
    let staff = s.staff(&t.staff);
    let email = Some("jo@example.org");
    let client = staff
        .register_client("Jo Smith", "organisation", email)
        .await;
    let other = staff
        .register_client("Someone Else", "individual", None)
        .await;
    staff.invite(client).await;
    let login = json!({"email": "jo@example.org", "username": "josmith",
                       "password": "the secret password 1"});
    let (user, _) = staff.create_portal_user(client, login).await;
    let reset = json!({"mode": "set", "new_password": "the secret password 2"});
    staff.on_login(user, "password-reset", Some(reset)).await;
    let item = staff.create_item("BOOKS", "Bookkeeping", 9900).await;
    staff.assign_item(client, item).await;
    staff.assign_item(other, item).await;
    let path = format!("/api/v1/clients/{client}/contracts");
    let contract = json!({"title": "LoE", "body": "Terms"});
    let contract: Created = staff.typed(Method::POST, &path, Some(contract)).await;
    let ids = [client.uuid(), other.uuid(), user.uuid(), contract.id];
    let [client, other, user, contract] = ids.map(|id| id.to_string());
    (client, other, user, contract)
}

#[tokio::test]
async fn the_log_pages_in_order_with_who_and_when() {
    let (s, t) = Server::with_firm().await;
    history(&s, &t).await;
    let total = event_count(s.pool(), t.id).await;

    let mut seen: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let (status, page) = get(
            &s,
            &format!("/api/v1/audit/events?after={after}&limit=3"),
            &t.auditor,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap().clone();
        seen.extend(events);
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, total);
    let sequences: Vec<i64> = seen
        .iter()
        .map(|e| e["tenant_sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=total).collect::<Vec<_>>());
    let invited = seen
        .iter()
        .find(|e| e["event_type"] == "ClientInvited")
        .unwrap();
    // The person behind the command, by name, and the token used.
    assert!(invited["actor"].as_str().unwrap().starts_with("staff:"));
    assert_eq!(invited["actor_kind"], "staff");
    assert_eq!(invited["actor_name"], "test");
    assert!(invited["via_token"].as_str().is_some());
    assert!(invited["request_id"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert!(invited["recorded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(invited["command"], "InviteClient");
    assert_eq!(invited["payload"]["email"], "jo@example.org");
    assert!(invited["summary"]
        .as_str()
        .unwrap()
        .contains("jo@example.org"));

    let (status, _) = get(&s, "/api/v1/audit/events?limit=1001", &t.auditor).await;
    assert_eq!(status, 422);
    let (status, _) = get(&s, "/api/v1/audit/events?after=-1", &t.auditor).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_clients_history_covers_its_logins_items_and_contracts_only() {
    let (s, t) = Server::with_firm().await;
    let (client, other, user, contract) = history(&s, &t).await;
    let (status, h) = get(
        &s,
        &format!("/api/v1/audit/clients/{client}/history"),
        &t.auditor,
    )
    .await;
    assert_eq!(status, 200, "{h}");
    let events = h["events"].as_array().unwrap();
    let streams: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e["stream_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        streams,
        [client.as_str(), user.as_str(), contract.as_str()]
            .into_iter()
            .collect()
    );
    assert!(!streams.contains(other.as_str()));
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    for expected in [
        "ClientRegistered",
        "ClientInvited",
        "PortalUserCreated",
        "PasswordChanged",
        "ItemAssigned",
        "ContractIssued",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["tenant_sequence"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(events
        .iter()
        .all(|e| e["summary"].as_str().is_some_and(|s| !s.is_empty())));

    let stranger = s.tenant().await;
    let (status, _) = get(
        &s,
        &format!("/api/v1/audit/clients/{client}/history"),
        &stranger.auditor,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(
        &s,
        &format!("/api/v1/audit/clients/{}/history", uuid::Uuid::now_v7()),
        &t.auditor,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_stream_replays_to_any_position_or_time() {
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);
    let created = staff
        .register(json!({"display_name": "Old Name", "kind": "organisation"}))
        .await;
    let client = ClientId::from_uuid(created.id);
    let change = json!({"display_name": "New Name", "email": "n@example.org"});
    let renamed = staff.change_client(client, change).await;

    let auditor = s.staff(&t.auditor);
    let as_of = |query: String| {
        let auditor = &auditor;
        async move {
            let query = format!("as_of={query}");
            auditor.stream_as_of("client", created.id, &query).await
        }
    };
    let then = as_of(created.position.to_string()).await;
    assert_eq!(then.version, 1);
    assert_eq!(then.state["profile"]["display_name"], "Old Name");
    assert_eq!(then.state["profile"]["email"], Value::Null);
    // As of the moment the first event was recorded: the same state.
    let at_time = then
        .last_recorded_at
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let by_time = as_of(urlencode(&at_time)).await;
    assert_eq!(by_time.state, then.state);
    let now = auditor.stream_as_of("client", created.id, "").await;
    assert_eq!(now.state["profile"]["display_name"], "New Name");
    assert_eq!(now.last_position, renamed.position);
    assert!(now.last_recorded_at > then.last_recorded_at);

    let path = |as_of: &str| format!("/api/v1/audit/streams/client/{client}?as_of={as_of}");
    let refused = auditor.refused(Method::GET, &path("0"), None).await;
    assert_eq!(refused.0, 404, "nothing existed at position 0");
    assert_eq!(
        auditor
            .refused(Method::GET, &path("yesterday"), None)
            .await
            .0,
        422
    );
    let spaceship = format!("/api/v1/audit/streams/spaceship/{client}");
    assert_eq!(auditor.refused(Method::GET, &spaceship, None).await.0, 404);
    let stranger = s.tenant().await;
    let theirs = format!("/api/v1/audit/streams/client/{client}");
    let stranger = s.staff(&stranger.auditor);
    assert_eq!(stranger.refused(Method::GET, &theirs, None).await.0, 404);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn the_export_is_ndjson_in_commit_order_and_resumes_after_a_position() {
    let (s, t) = Server::with_firm().await;
    history(&s, &t).await;
    let response = s
        .request(Method::GET, "/api/v1/audit/export", &t.auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as i64, event_count(s.pool(), t.id).await);
    for pair in lines.windows(2) {
        assert_eq!(
            pair[1]["prev_hash"], pair[0]["event_hash"],
            "the chain links line to line"
        );
    }
    // The link number under both its names (API v1.2: chain_seq, tenant_sequence kept).
    for line in &lines {
        assert!(line["chain_seq"].is_i64(), "{line}");
        assert_eq!(line["chain_seq"], line["tenant_sequence"]);
    }
    let middle = lines[4]["position"].as_i64().unwrap();
    let rest = s
        .staff(&t.auditor)
        .export_text(&format!("after={middle}"))
        .await;
    assert_eq!(rest.lines().count(), lines.len() - 5);
}

#[tokio::test]
async fn audit_routes_are_for_auditors_and_admins_only_and_hold_no_secrets() {
    let (s, t) = Server::with_firm().await;
    let (client, _, user, _) = history(&s, &t).await;
    let paths = [
        "/api/v1/audit/events".to_string(),
        format!("/api/v1/audit/clients/{client}/history"),
        format!("/api/v1/audit/streams/portal_user/{user}"),
        "/api/v1/audit/export".to_string(),
        "/api/v1/audit/verify".to_string(),
    ];
    let mut everything = String::new();
    for path in &paths {
        for token in [&t.staff, &t.reporting] {
            let (status, problem) = get(&s, path, token).await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (403, Some("forbidden_role")),
                "{path}"
            );
        }
        let (status, _) = send(s.http.get(format!("{}{path}", s.base))).await;
        assert_eq!(status, 401);
        for token in [&t.auditor, &t.admin] {
            let response = s.request(Method::GET, path, token).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            everything.push_str(&response.text().await.unwrap());
        }
    }
    let hashes = common::password_hashes(s.pool(), t.id).await;
    assert_eq!(hashes.len(), 1);
    for secret in [
        "the secret password 1",
        "the secret password 2",
        "argon2",
        hashes[0].as_str(),
        t.staff.as_str(),
        t.admin.as_str(),
    ] {
        assert!(
            !everything.contains(secret),
            "a secret reached an audit answer"
        );
    }
    // The auditor wrote nothing by reading.
    let before = event_count(s.pool(), t.id).await;
    let status = s
        .staff(&t.auditor)
        .status_of(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"display_name": "X", "kind": "individual"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(event_count(s.pool(), t.id).await, before);
}

async fn verify(s: &Server, t: &Tenant) -> Value {
    let (status, v) = get(s, "/api/v1/audit/verify", &t.auditor).await;
    assert_eq!(status, 200);
    v
}

#[tokio::test]
async fn the_hash_chain_detects_altered_deleted_and_reordered_events() {
    let s = Server::start().await;

    let untouched = s.tenant().await;
    history(&s, &untouched).await;
    let v = verify(&s, &untouched).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        v["checked"].as_i64(),
        Some(event_count(s.pool(), untouched.id).await)
    );
    assert_eq!(v["first_broken_position"], Value::Null);

    let nth_position = |t: uuid::Uuid, n: i64| {
        let pool = s.pool().clone();
        async move {
            let limit = std::time::Duration::from_secs(30);
            portal_accounts::audit::seal::seal_tenant(&pool, t, limit)
                .await
                .unwrap();
            sqlx::query_scalar::<_, i64>(
                "SELECT global_position FROM audit_seals WHERE tenant_id = $1 AND chain_seq = $2",
            )
            .bind(t)
            .bind(n)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };

    // An altered payload.
    let altered = s.tenant().await;
    history(&s, &altered).await;
    let target = nth_position(altered.id, altered.setup_events + 2).await;
    tamper(
        &s,
        &format!("UPDATE events SET payload = jsonb_set(payload, '{{ClientRegistered,display_name}}', '\"Tampered Name\"') WHERE tenant_id = $1 AND global_position = {target} AND event_type = 'ClientRegistered'"),
        altered.id,
    )
    .await;
    let v = verify(&s, &altered).await;
    assert_eq!(
        (v["ok"].as_bool(), v["first_broken_position"].as_i64()),
        (Some(false), Some(target)),
        "{v}"
    );

    // A deleted event: its seal names an event that is gone.
    let deleted = s.tenant().await;
    history(&s, &deleted).await;
    let victim = nth_position(deleted.id, deleted.setup_events + 3).await;
    let next = nth_position(deleted.id, deleted.setup_events + 4).await;
    tamper(
        &s,
        &format!("DELETE FROM events WHERE tenant_id = $1 AND global_position = {victim}"),
        deleted.id,
    )
    .await;
    let v = verify(&s, &deleted).await;
    assert_eq!(
        (v["ok"].as_bool(), v["first_broken_position"].as_i64()),
        (Some(false), Some(victim)),
        "{v}"
    );

    // A deleted event and its seal: the next one no longer links.
    let unsealed = s.tenant().await;
    history(&s, &unsealed).await;
    let victim = nth_position(unsealed.id, unsealed.setup_events + 3).await;
    let next_after = nth_position(unsealed.id, unsealed.setup_events + 4).await;
    for table in ["audit_seals", "events"] {
        tamper(
            &s,
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND global_position = {victim}"),
            unsealed.id,
        )
        .await;
    }
    let v = verify(&s, &unsealed).await;
    assert_eq!(
        (v["ok"].as_bool(), v["first_broken_position"].as_i64()),
        (Some(false), Some(next_after)),
        "{v}"
    );
    let _ = next;

    // An event inserted into the middle of the chain, the later seals renumbered to make
    // room: the inserted one does not link to the event before it.
    let inserted = s.tenant().await;
    history(&s, &inserted).await;
    let k = inserted.setup_events + 2;
    let copied = nth_position(inserted.id, k).await;
    for sql in [
        format!("UPDATE audit_seals SET chain_seq = chain_seq + 1000000 WHERE tenant_id = $1 AND chain_seq > {k}"),
        "UPDATE audit_seals SET chain_seq = chain_seq - 999999 WHERE tenant_id = $1 AND chain_seq > 1000000".to_string(),
        format!(
            "WITH copy AS (
                INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                SELECT aggregate_type, aggregate_id, 1000, event_type, event_version, payload, metadata
                  FROM events WHERE tenant_id = $1 AND global_position = {copied}
                RETURNING global_position, tenant_id)
             INSERT INTO audit_seals (global_position, tenant_id, chain_seq, prev_hash, event_hash)
             SELECT global_position, tenant_id, {k} + 1, '\\x00', '\\x00' FROM copy"
        ),
    ] {
        tamper(&s, &sql, inserted.id).await;
    }
    let squeezed = nth_position(inserted.id, k + 1).await;
    let v = verify(&s, &inserted).await;
    assert_eq!(
        (v["ok"].as_bool(), v["first_broken_position"].as_i64()),
        (Some(false), Some(squeezed)),
        "{v}"
    );

    // Two events swapped in the chain.
    let reordered = s.tenant().await;
    history(&s, &reordered).await;
    let (first, second) = (reordered.setup_events + 3, reordered.setup_events + 4);
    let (a, b) = (
        nth_position(reordered.id, first).await,
        nth_position(reordered.id, second).await,
    );
    tamper(
        &s,
        &format!(
            "UPDATE audit_seals SET chain_seq = -1 WHERE tenant_id = $1 AND global_position = {a}"
        ),
        reordered.id,
    )
    .await;
    tamper(
        &s,
        &format!(
            "UPDATE audit_seals SET chain_seq = {first} WHERE tenant_id = $1 AND global_position = {b}"
        ),
        reordered.id,
    )
    .await;
    tamper(
        &s,
        &format!(
            "UPDATE audit_seals SET chain_seq = {second} WHERE tenant_id = $1 AND global_position = {a}"
        ),
        reordered.id,
    )
    .await;
    let v = verify(&s, &reordered).await;
    assert_eq!(
        (v["ok"].as_bool(), v["first_broken_position"].as_i64()),
        (Some(false), Some(b)),
        "{v}"
    );

    // The newest event removed: no gap, but the chain head remembers.
    let truncated = s.tenant().await;
    history(&s, &truncated).await;
    portal_accounts::audit::seal::seal_tenant(
        s.pool(),
        truncated.id,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    let last: i64 = sqlx::query_scalar(
        "SELECT global_position FROM audit_seals WHERE tenant_id = $1 ORDER BY chain_seq DESC LIMIT 1",
    )
    .bind(truncated.id)
    .fetch_one(s.pool())
    .await
    .unwrap();
    for table in ["audit_seals", "events"] {
        tamper(
            &s,
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND global_position = {last}"),
            truncated.id,
        )
        .await;
    }
    let v = verify(&s, &truncated).await;
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["problem"]
        .as_str()
        .unwrap()
        .contains("removed at the end"));

    // Other tenants are unaffected by each other's damage.
    assert_eq!(verify(&s, &untouched).await["ok"], true);
}

/// Renames client `id` as `t`'s staff: the status and body.
async fn rename_client(s: &Server, t: &Tenant, id: ClientId) -> (u16, Value) {
    let path = format!("/api/v1/clients/{id}");
    s.staff(&t.staff)
        .call(
            Method::PATCH,
            &path,
            Some(json!({"display_name": "Renamed"})),
        )
        .await
}

/// A 503 `event_log_integrity` that names the stream and nothing of the payload (`hidden`).
fn assert_integrity_problem((status, problem): (u16, Value), stream: ClientId, hidden: &str) {
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("event_log_integrity")),
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&stream.to_string()),
        "names the stream: {detail}"
    );
    assert!(
        !detail.contains(hidden),
        "says nothing of the payload: {detail}"
    );
}

#[tokio::test]
async fn an_unreadable_event_answers_event_log_integrity_for_its_streams_only() {
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);
    let broken = staff
        .register_client("Broken Ltd", "organisation", None)
        .await;
    let sound = staff
        .register_client("Sound Ltd", "organisation", None)
        .await;
    tamper(
        &s,
        &format!(
            "UPDATE events SET payload = '{{\"ClientRegistered\": {{\"display_name\": 5}}}}'
              WHERE tenant_id = $1 AND aggregate_id = '{broken}' AND event_type = 'ClientRegistered'"
        ),
        t.id,
    )
    .await;
    let before = event_count(s.pool(), t.id).await;
    assert_integrity_problem(rename_client(&s, &t, broken).await, broken, "display_name");
    assert_eq!(event_count(s.pool(), t.id).await, before, "nothing written");

    // The firm's other streams carry on; the service stays ready (one stream is broken,
    // not the database); the failure is counted.
    assert_eq!(rename_client(&s, &t, sound).await.0, 200);
    assert_eq!(s.get_status("/readyz").await, 200);
    let metrics = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("event_log_integrity_failures_total{stream_type=\"client\"}"),
        "{metrics}"
    );

    // A firm whose own stream is altered: its portal logins answer the same problem, not
    // a 500.
    let other = s.tenant().await;
    tamper(
        &s,
        "UPDATE events SET payload = '{\"Nonsense\": {}}'
          WHERE tenant_id = $1 AND aggregate_type = 'tenant'",
        other.id,
    )
    .await;
    let (status, problem) = s
        .portal(&other.slug)
        .try_login("someone", "not the password at all")
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("event_log_integrity")),
        "{problem}"
    );
}

#[tokio::test]
async fn an_event_changed_after_it_was_sealed_stops_the_commands_of_its_stream() {
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);
    let altered = staff
        .register_client("Altered Ltd", "organisation", None)
        .await;
    let sound = staff
        .register_client("Sound Ltd", "organisation", None)
        .await;
    s.checkpoint_now(&t, None).await;
    // Another payload that decodes as well: only the seal tells it from the history.
    tamper(
        &s,
        &format!(
            "UPDATE events SET payload = jsonb_set(payload, '{{ClientRegistered,display_name}}', '\"Forged Ltd\"')
              WHERE tenant_id = $1 AND aggregate_id = '{altered}' AND event_type = 'ClientRegistered'"
        ),
        t.id,
    )
    .await;
    let before = event_count(s.pool(), t.id).await;
    assert_integrity_problem(rename_client(&s, &t, altered).await, altered, "Forged");
    assert_eq!(event_count(s.pool(), t.id).await, before, "nothing written");
    assert_eq!(
        rename_client(&s, &t, sound).await.0,
        200,
        "the firm's other streams carry on"
    );
}
