//! Portal logins: refusals alike, disable/remove/switch-off, lockout, address limits,
//! housekeeping of counters and sessions. (Equal cost for unknown names: portal_timing.rs.)

use crate::common;
use crate::common::eventually;

use common::portal_flow::*;
use common::send;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn logins_refuse_alike_and_disable_remove_and_switch_off_take_effect() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (_client, user, username, _) = invited_and_accepted(&s, &sink, &t).await;

    let (s1, wrong_password) = login(&s, &t, &username, "not the password at all").await;
    let (s2, unknown_user) = login(&s, &t, "no-such-user", "not the password at all").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(wrong_password["code"], json!("invalid_credentials"));
    assert_eq!(wrong_password["detail"], unknown_user["detail"]);

    let token = session(&s, &t, &username, PASSWORD).await;
    let _ = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/portal-users/{user}/disable"),
            Some(json!({"reason": "left"})),
        )
        .await;
    let (status, _) = portal(&s, &t, Method::GET, "/me", Some(&token), None).await;
    assert_eq!(status, 401, "disabling ends sessions");
    let (status, body) = login(&s, &t, &username, PASSWORD).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("login_disabled"))
    );
    assert_eq!(
        login(&s, &t, &username, "wrong password here").await.0,
        401,
        "no hint without the password"
    );

    s.staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/portal-users/{user}/enable"),
            Some(json!({})),
        )
        .await;
    let token = session(&s, &t, &username, PASSWORD).await;

    // The firm switches its portal off.
    let _ = s
        .staff(&t.admin)
        .ok(
            Method::PUT,
            "/api/v1/settings/portal",
            Some(json!({"active": false})),
        )
        .await;
    let (status, body) = login(&s, &t, &username, PASSWORD).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("portal_inactive"))
    );
    let (status, body) = portal(&s, &t, Method::GET, "/me", Some(&token), None).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("portal_inactive"))
    );
    for (path, body) in [
        ("/password/forgot", json!({"username": username})),
        ("/username/forgot", json!({"email": "anyone@client.test"})),
    ] {
        let (status, answer) = portal(&s, &t, Method::POST, path, None, Some(body)).await;
        assert_eq!(
            (status, answer["code"].clone()),
            (403, json!("portal_inactive")),
            "{path}"
        );
    }
    s.call(
        Method::PUT,
        "/api/v1/settings/portal",
        &t.admin,
        Some(json!({"active": true})),
    )
    .await;

    // Another tenant's portal does not know this session or this login.
    let other = s.tenant().await;
    let (status, _) = portal(&s, &other, Method::GET, "/me", Some(&token), None).await;
    assert_eq!(status, 401);
    assert_eq!(login(&s, &other, &username, PASSWORD).await.0, 401);

    // Removal ends the session and the login.
    let _ = s
        .staff(&t.staff)
        .ok(
            Method::DELETE,
            &format!("/api/v1/portal-users/{user}"),
            None,
        )
        .await;
    assert_eq!(
        portal(&s, &t, Method::GET, "/me", Some(&token), None)
            .await
            .0,
        401
    );
    assert_eq!(login(&s, &t, &username, PASSWORD).await.0, 401);

    // Auditors see the attempts, outside the account's stream.
    let logins = staff_get(
        &s,
        &t.auditor,
        &format!("/api/v1/audit/logins?portal_user_id={user}"),
    )
    .await;
    let outcomes: Vec<&str> = logins["logins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "invalid_credentials",
            "succeeded",
            "login_disabled",
            "invalid_credentials",
            "succeeded",
            "portal_inactive",
            "invalid_credentials"
        ]
    );
    let stream_events = common::events_of_tenant(s.pool(), t.id)
        .await
        .into_iter()
        .filter(|e| e.aggregate_id == user.to_string())
        .count();
    assert!(
        stream_events <= 5,
        "logins do not grow the account stream ({stream_events})"
    );
}

#[tokio::test]
async fn repeated_failures_lock_a_login_for_a_while_known_or_not() {
    let (sink, s, t) = mailing(|_| {}).await;
    let lockout = s.app.limits.lockout_duration;
    let (_, user, username, _) = invited_and_accepted(&s, &sink, &t).await;

    for name in [username.as_str(), "ghost-user"] {
        for attempt in 1..=5 {
            let (status, _) = login(&s, &t, name, "wrong wrong wrong").await;
            assert_eq!(status, 401, "{name} attempt {attempt}");
        }
        let response = s
            .http
            .post(format!("{}/portal/v1/{}/login", s.base, t.slug))
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            429,
            "{name}: locked even with the right password"
        );
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let full = lockout.num_seconds() as u64;
        assert!((full - 5..=full).contains(&retry_after), "{retry_after}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], json!("locked_out"));
    }
    let path = format!("/api/v1/portal-users/{user}");
    eventually(
        "the login in the read model",
        std::time::Duration::from_secs(10),
        || async { (s.call(Method::GET, &path, &t.staff, None).await.0 == 200).then_some(()) },
    )
    .await;
    assert_eq!(
        staff_get(&s, &t.staff, &path).await["status"],
        json!("locked")
    );

    s.app.clock.advance(lockout + chrono::Duration::seconds(1));
    session(&s, &t, &username, PASSWORD).await;
    let seen = staff_get(&s, &t.staff, &format!("/api/v1/portal-users/{user}")).await;
    assert_eq!(seen["status"], json!("active"));
}

#[tokio::test]
async fn housekeeping_prunes_idle_counters_and_old_sessions_but_keeps_history() {
    let pool = common::fresh_database().await;
    let tenant = Uuid::now_v7();
    let user = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO portal_login_throttle (tenant_id, key, failures, window_started_at, locked_until)
         VALUES ($1, 'old', 3, now() - interval '2 days', NULL),
                ($1, 'recent', 3, now() - interval '1 hour', NULL),
                ($1, 'locked', 0, now() - interval '2 days', now() + interval '1 hour')",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO portal_sessions (id, tenant_id, portal_user_id, token_hash, created_at, expires_at, ended_at)
         VALUES ($2, $1, $3, 'x', now() - interval '40 days', now() - interval '39 days', NULL),
                ($4, $1, $3, 'x', now(), now() + interval '8 hours', NULL)",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(user)
    .bind(Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        portal_accounts::runtime::housekeeping::prune(&pool)
            .await
            .unwrap(),
        2
    );
    let keys: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT key FROM portal_login_throttle ORDER BY key")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(keys, [b"locked".to_vec(), b"recent".to_vec()]);
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM portal_sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sessions, 1);
}

#[tokio::test]
async fn one_address_trying_many_names_is_refused_for_a_while() {
    let (sink, s, t) = mailing(|app| {
        app.limits.address_failures = 4;
        app.trust_forwarded_for = true;
    })
    .await;
    let (_, user, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let attempt = |name: String, password: &'static str, address: &'static str| {
        let req = s
            .http
            .post(format!("{}/portal/v1/{}/login", s.base, t.slug))
            .header("x-forwarded-for", format!("198.51.100.1, {address}"))
            .json(&json!({"username": name, "password": password}));
        async move { send(req).await }
    };
    // One password sprayed over four names: each name has only one failure.
    for n in 0..4 {
        let (status, _) = attempt(format!("spray{n}"), "Winter2026!Winter", "203.0.113.9").await;
        assert_eq!(status, 401);
    }
    let (status, body) = attempt(username.clone(), PASSWORD, "203.0.113.9").await;
    assert_eq!((status, body["code"].clone()), (429, json!("rate_limited")));
    // The login itself is not locked: from elsewhere it works.
    let (status, _) = attempt(username, PASSWORD, "192.0.2.44").await;
    assert_eq!(status, 200);

    let logins = staff_get(&s, &t.auditor, "/api/v1/audit/logins").await;
    let rows = logins["logins"].as_array().unwrap();
    assert!(
        rows.iter().all(|l| l["client_ip"] != json!("198.51.100.1")),
        "the claimed hop is not trusted"
    );
    let refused = rows
        .iter()
        .find(|l| l["outcome"] == "rate_limited")
        .expect("the refusal is in the history");
    assert_eq!(refused["client_ip"], json!("203.0.113.9"));
    assert_eq!(refused["portal_user_id"], json!(user));
}
