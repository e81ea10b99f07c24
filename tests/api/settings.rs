//! A firm's settings: read by its staff, policies changed by admins within bounds, and the
//! policies taking effect (invitation lifetime, lockout).

use crate::common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn patch(s: &Server, token: &str, body: Value) -> (u16, Value) {
    send(
        s.request(Method::PATCH, "/api/v1/settings", token)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn settings_are_read_by_staff_and_changed_by_admins_within_bounds() {
    let (s, t) = Server::with_firm().await;
    for token in [&t.staff, &t.auditor, &t.reporting] {
        let (status, settings) = send(s.request(Method::GET, "/api/v1/settings", token)).await;
        assert_eq!(status, 200);
        assert_eq!(
            settings,
            json!({"portal_active": true, "portal_login_url": format!("{}/portal/{}/login", s.base, t.slug), "invitation_ttl_days": 14,
                   "session_hours": 8, "lockout_failures": 5, "lockout_minutes": 15,
                   "checkpoint_email": null, "mfa": "optional", "erase_archived_after_days": null})
        );
    }
    let before = event_count(s.pool(), t.id).await;
    let (status, problem) = patch(&s, &t.staff, json!({"session_hours": 2})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("forbidden_role"))
    );
    let (status, problem) = patch(
        &s,
        &t.admin,
        json!({"session_hours": 0, "lockout_failures": 99, "invitation_ttl_days": 30}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let fields = field_names(&problem);
    assert_eq!(fields, ["session_hours", "lockout_failures"]);
    assert_eq!(event_count(s.pool(), t.id).await, before, "nothing written");

    let (status, changed) = patch(
        &s,
        &t.admin,
        json!({"session_hours": 2, "invitation_ttl_days": 3}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (
            changed["session_hours"].as_i64(),
            changed["invitation_ttl_days"].as_i64(),
            changed["lockout_failures"].as_i64()
        ),
        (Some(2), Some(3), Some(5))
    );
    // The same again changes nothing and records nothing.
    let events = event_count(s.pool(), t.id).await;
    patch(&s, &t.admin, json!({"session_hours": 2})).await;
    assert_eq!(event_count(s.pool(), t.id).await, events);

    // Invitations now last three days.
    let staff = s.staff(&t.staff);
    let client = staff
        .register_client("Jo", "individual", Some("jo@example.org"))
        .await;
    let invitation = staff.invite(client).await;
    let expires: chrono::DateTime<chrono::Utc> = invitation.expires_at;
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((2.9..=3.0).contains(&days), "{days}");

    // Another firm keeps the defaults.
    let other = s.tenant().await;
    let (_, theirs) = send(s.request(Method::GET, "/api/v1/settings", &other.staff)).await;
    assert_eq!(theirs["invitation_ttl_days"], 14);
}

#[tokio::test]
async fn a_firms_lockout_policy_is_what_locks_its_logins() {
    let (s, t) = Server::with_firm().await;
    let (status, _) = patch(
        &s,
        &t.admin,
        json!({"lockout_failures": 3, "lockout_minutes": 2}),
    )
    .await;
    assert_eq!(status, 200);
    let attempt = || async {
        s.http
            .post(format!("{}/portal/v1/{}/login", s.base, t.slug))
            .json(&json!({"username": "ghost-of-acme", "password": "not the password"}))
            .send()
            .await
            .unwrap()
    };
    for n in 1..=3 {
        assert_eq!(attempt().await.status(), 401, "attempt {n}");
    }
    let locked = attempt().await;
    assert_eq!(locked.status(), 429);
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((61..=120).contains(&retry_after), "{retry_after}");
}
