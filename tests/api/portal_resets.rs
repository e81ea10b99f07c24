//! Activation and password resets by e-mailed link: once, only the newest, answered alike,
//! and not a way to flood a firm with e-mail.

use crate::common;
use common::field_names;

use common::portal_flow::*;
use common::send;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn a_staff_created_login_is_activated_from_its_email_once() {
    let (sink, s, t) = mailing(|_| {}).await;
    let to = email("act");
    let client = client_with_email(&s, &t, "organisation", &to).await;
    let created = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{client}/portal-users"),
            Some(json!({"email": to, "username": "pending.pat"})),
        )
        .await;
    assert_eq!(created["status"], json!("pending_activation"));
    let mail = sink.wait_for(&to, 1).await.remove(0);
    assert!(mail.link().contains("/activate?token="), "{}", mail.link());
    assert!(
        mail.text.contains("pending.pat"),
        "the e-mail names the username"
    );

    // No password yet: login fails like any other.
    assert_eq!(login(&s, &t, "pending.pat", PASSWORD).await.0, 401);

    let before = common::event_count(s.pool(), t.id).await;
    let (status, weak) = portal(
        &s,
        &t,
        Method::POST,
        "/activate",
        None,
        Some(json!({"token": mail.token(), "password": "short"})),
    )
    .await;
    assert_eq!(
        (status, weak["errors"][0]["field"].clone()),
        (422, json!("password"))
    );
    assert_eq!(common::event_count(s.pool(), t.id).await, before);

    let activate = json!({"token": mail.token(), "password": PASSWORD});
    let (status, body) = portal(
        &s,
        &t,
        Method::POST,
        "/activate",
        None,
        Some(activate.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    session(&s, &t, "pending.pat", PASSWORD).await;
    let (status, body) = portal(&s, &t, Method::POST, "/activate", None, Some(activate)).await;
    assert_eq!(
        (status, body["code"].clone()),
        (410, json!("activation_invalid"))
    );

    let log =
        notifications_until(&s, &t, client, |n| n.iter().any(|x| x["status"] == "sent")).await;
    assert_eq!(log[0]["kind"], json!("activation"));
}

#[tokio::test]
async fn forgot_password_answers_alike_and_reset_links_work_once_and_only_the_newest() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (client, user, username, to) = invited_and_accepted(&s, &sink, &t).await;
    let old_session = session(&s, &t, &username, PASSWORD).await;

    for name in [username.as_str(), "nobody-by-this-name"] {
        let forgot = "/portal/v1/{tenant_slug}/password/forgot";
        let body = Some(json!({"username": name}));
        let (status, body) = s
            .portal(&t.slug)
            .call(Method::POST, forgot, &[], body)
            .await;
        assert_eq!((status, body), (202, json!({})), "{name}");
    }
    let first = sink.wait_for(&to, 2).await[1].clone();
    assert!(first.link().contains("/reset-password?token="));
    portal(
        &s,
        &t,
        Method::POST,
        "/password/forgot",
        None,
        Some(json!({"username": username.to_uppercase()})),
    )
    .await;
    let second = sink.wait_for(&to, 3).await[2].clone();

    let reset = |token: String, password: &str| {
        portal(
            &s,
            &t,
            Method::POST,
            "/password/reset",
            None,
            Some(json!({"token": token, "new_password": password})),
        )
    };
    let new_password = "a brand new passphrase";
    let (status, body) = reset(first.token(), new_password).await;
    assert_eq!(
        (status, body["code"].clone()),
        (410, json!("reset_link_invalid")),
        "replaced"
    );
    let (status, body) = reset(second.token(), new_password).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = reset(second.token(), "yet another passphrase").await;
    assert_eq!(status, 410, "used");

    assert_eq!(login(&s, &t, &username, PASSWORD).await.0, 401);
    session(&s, &t, &username, new_password).await;
    let (status, _) = portal(&s, &t, Method::GET, "/me", Some(&old_session), None).await;
    assert_eq!(status, 401, "a password change ends the old sessions");

    // Staff setting the password kills an outstanding link too.
    s.portal(&t.slug).forgot_password(&username).await;
    let third = sink.wait_for(&to, 4).await[3].clone();
    let before_staff_set = session(&s, &t, &username, new_password).await;
    let _ = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/portal-users/{user}/password-reset"),
            Some(json!({"mode": "set", "new_password": "set by the firm today"})),
        )
        .await;
    assert_eq!(reset(third.token(), "too late for this one").await.0, 410);
    let (status, _) = portal(&s, &t, Method::GET, "/me", Some(&before_staff_set), None).await;
    assert_eq!(status, 401, "a password set by staff ends the sessions too");

    // Staff can also send the link.
    let _ = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/portal-users/{user}/password-reset"),
            Some(json!({"mode": "email_link"})),
        )
        .await;
    let from_staff = sink.wait_for(&to, 5).await[4].clone();
    assert_eq!(
        reset(from_staff.token(), "chosen after staff sent it")
            .await
            .0,
        200
    );
    session(&s, &t, &username, "chosen after staff sent it").await;

    let kinds: Vec<Value> = notifications_until(&s, &t, client, |n| n.len() >= 5)
        .await
        .iter()
        .map(|n| n["kind"].clone())
        .collect();
    assert_eq!(kinds[0], json!("invitation"));
    assert!(
        kinds[1..].iter().all(|k| k == "password_reset"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn one_address_cannot_flood_a_firm_with_reset_emails() {
    let (sink, s, t) = mailing(|app| {
        app.limits.forgot_requests_per_address = 2;
        app.trust_forwarded_for = true;
    })
    .await;
    let (_, _, username, to) = invited_and_accepted(&s, &sink, &t).await;
    let forgot = |name: String, address: &'static str| {
        let req = s
            .http
            .post(format!("{}/portal/v1/{}/password/forgot", s.base, t.slug))
            .header("x-forwarded-for", address)
            .json(&json!({"username": name}));
        async move { send(req).await.0 }
    };
    assert_eq!(forgot("someone-else".into(), "203.0.113.7").await, 202);
    assert_eq!(forgot("another-one".into(), "203.0.113.7").await, 202);
    // Over the address's limit: answered alike, but no e-mail goes out (refused before the
    // answer, so nothing is left running for it).
    assert_eq!(forgot(username.clone(), "203.0.113.7").await, 202);
    // The same login asked from elsewhere gets its link: the second and last e-mail.
    assert_eq!(forgot(username, "192.0.2.8").await, 202);
    sink.wait_for(&to, 2).await;
    let mails = sink.mails_to(&to);
    assert_eq!(mails.len(), 2, "the invitation and one reset link");
}

#[tokio::test]
async fn a_signed_in_user_changes_their_password_and_their_other_sessions_end() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (_, _, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let here = session(&s, &t, &username, PASSWORD).await;
    let elsewhere = session(&s, &t, &username, PASSWORD).await;
    let change = |token: String, body: serde_json::Value| {
        let (s, t) = (&s, &t);
        async move {
            portal(
                s,
                t,
                Method::POST,
                "/password/change",
                Some(&token),
                Some(body),
            )
            .await
        }
    };

    // Wrong current password and a weak new one: both named, nothing changes.
    let (status, problem) = change(
        here.clone(),
        json!({"current_password": "not it at all", "new_password": "short"}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let fields = field_names(&problem);
    assert_eq!(fields, ["current_password", "new_password"]);

    let new_password = "a brand new passphrase for me";
    let (status, body) = change(
        here.clone(),
        json!({"current_password": PASSWORD, "new_password": new_password}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = portal(&s, &t, Method::GET, "/me", Some(&here), None).await;
    assert_eq!(status, 200, "the session it was changed in goes on");
    let (status, _) = portal(&s, &t, Method::GET, "/me", Some(&elsewhere), None).await;
    assert_eq!(status, 401, "every other session is over");
    assert_eq!(login(&s, &t, &username, PASSWORD).await.0, 401);
    assert_eq!(login(&s, &t, &username, new_password).await.0, 200);
}
