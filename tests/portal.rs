//! The portal side end to end over HTTP, with e-mail through a real SMTP server on
//! 127.0.0.1: invitation → accept → login → items → sign; activation; forgot/reset; lockout;
//! every refusal; what staff see of it.

mod common;

use common::smtp::{Mail, SmtpSink};
use common::{id_of, send, Server, Tenant};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";

fn email(tag: &str) -> String {
    format!("{tag}-{}@client.test", Uuid::now_v7().simple())
}

/// An SMTP sink, a server on a database of its own mailing to it (with `tune` applied to
/// its settings first) and a fresh firm on it.
async fn mailing(tune: impl FnOnce(&mut portal_accounts::app::App)) -> (SmtpSink, Server, Tenant) {
    let sink = SmtpSink::start().await;
    let mut app = common::app(common::fresh_database().await);
    tune(&mut app);
    let s = Server::start_mailing_with(app, &sink.url()).await;
    let t = s.tenant().await;
    (sink, s, t)
}

/// A portal request, optionally with a session token.
async fn portal(
    s: &Server,
    t: &Tenant,
    method: Method,
    path: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s
        .http
        .request(method, format!("{}/portal/v1/{}{path}", s.base, t.slug));
    if let Some(token) = session {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    send(req).await
}

async fn client_with_email(s: &Server, t: &Tenant, kind: &str, address: &str) -> String {
    let (status, body) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Hannah Example", "kind": kind, "email": address}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    id_of(&body, "id")
}

async fn invite(s: &Server, t: &Tenant, client: &str) -> Value {
    let (status, body) = s
        .post(
            &format!("/api/v1/clients/{client}/invitations"),
            &t.staff,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn login(s: &Server, t: &Tenant, username: &str, password: &str) -> (u16, Value) {
    portal(
        s,
        t,
        Method::POST,
        "/login",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
}

async fn session(s: &Server, t: &Tenant, username: &str, password: &str) -> String {
    let (status, body) = login(s, t, username, password).await;
    assert_eq!(status, 200, "{body}");
    id_of(&body, "session_token")
}

/// Invites a fresh individual client and accepts from the e-mail:
/// (client, portal user, username, e-mail address).
async fn invited_and_accepted(
    s: &Server,
    sink: &SmtpSink,
    t: &Tenant,
) -> (String, String, String, String) {
    let to = email("inv");
    let client = client_with_email(s, t, "individual", &to).await;
    invite(s, t, &client).await;
    let mail = sink.wait_for(&to, 1).await.remove(0);
    let username = format!("user{}", &Uuid::now_v7().simple().to_string()[20..]);
    let (status, body) = portal(
        s,
        t,
        Method::POST,
        "/invitations/accept",
        None,
        Some(json!({"token": mail.token(), "username": username, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (client, id_of(&body, "portal_user_id"), username, to)
}

async fn staff_get(s: &Server, token: &str, path: &str) -> Value {
    let (status, body) = s.call(Method::GET, path, token, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Waits for the notification log of `client` to satisfy `done`.
async fn notifications_until(
    s: &Server,
    t: &Tenant,
    client: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let body = staff_get(
            s,
            &t.staff,
            &format!("/api/v1/clients/{client}/notifications"),
        )
        .await;
        let items = body["items"].as_array().unwrap().clone();
        if done(&items) {
            return items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "notifications: {items:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_client_follows_the_invitation_email_logs_in_sees_items_and_signs() {
    let (sink, s, t) = mailing(|_| {}).await;
    let to = email("flow");
    let client = client_with_email(&s, &t, "individual", &to).await;
    let (_, item) = s
        .post(
            "/api/v1/items",
            &t.staff,
            json!({"sku": "BOOK-1", "name": "Bookkeeping", "unit_price": {"amount_minor": 4500, "currency": "GBP"}}),
        )
        .await;
    let item = id_of(&item, "id");
    s.post(
        &format!("/api/v1/clients/{client}/items"),
        &t.staff,
        json!({"item_id": item}),
    )
    .await;
    let (_, contract) = s
        .post(
            &format!("/api/v1/clients/{client}/contracts"),
            &t.staff,
            json!({"title": "Engagement letter", "body": "We keep your books."}),
        )
        .await;
    let contract_id = id_of(&contract, "id");
    let content_sha256 = id_of(&contract, "content_sha256");
    invite(&s, &t, &client).await;

    let mail: Mail = sink.wait_for(&to, 1).await.remove(0);
    assert!(
        mail.header("subject").unwrap().contains("Test Firm"),
        "{}",
        mail.raw
    );
    assert!(mail.raw.contains("text/plain") && mail.raw.contains("text/html"));
    let link = mail.link();
    assert!(
        link.starts_with(&format!(
            "{}/portal/{}/accept-invitation?token=",
            s.base, t.slug
        )),
        "{link}"
    );

    // The link opens a page (served here, as PORTAL_PUBLIC_URL is this server) whose form
    // posts to the Portal API; the token must not leak onwards as a Referer.
    let page = s.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("/portal/v1/{}/invitations/accept", t.slug)),
        "{html}"
    );
    let (status, body) = send(
        s.http
            .get(format!("{}/portal/no-such-firm/activate", s.base)),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (404, json!("not_found")));

    let (status, accepted) = portal(
        &s,
        &t,
        Method::POST,
        "/invitations/accept",
        None,
        Some(json!({"token": mail.token(), "username": "Hannah.E", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{accepted}");
    let user = id_of(&accepted, "portal_user_id");

    // Usernames are case-insensitive at login.
    let token = session(&s, &t, "hannah.e", PASSWORD).await;
    let (status, me) = portal(&s, &t, Method::GET, "/me", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(me["portal_user_id"], json!(user));
    assert_eq!(me["username"], json!("Hannah.E"));
    assert_eq!(
        me["clients"],
        json!([{"id": client, "display_name": "Hannah Example"}])
    );

    let (status, items) = portal(
        &s,
        &t,
        Method::GET,
        &format!("/clients/{client}/items?min_position=0"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{items}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut items = items;
    while items["items"].as_array().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        items = portal(
            &s,
            &t,
            Method::GET,
            &format!("/clients/{client}/items"),
            Some(&token),
            None,
        )
        .await
        .1;
    }
    assert_eq!(items["items"][0]["sku"], json!("BOOK-1"));
    assert_eq!(items["items"][0]["unit_price"]["amount_minor"], json!(4500));

    let (status, shown) = portal(
        &s,
        &t,
        Method::GET,
        &format!("/contracts/{contract_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["body"], json!("We keep your books."));
    assert_eq!(shown["content_sha256"], json!(content_sha256));
    let (status, signed) = portal(
        &s,
        &t,
        Method::POST,
        &format!("/contracts/{contract_id}/sign"),
        Some(&token),
        Some(json!({"signer_name": "Hannah Example", "content_sha256": content_sha256, "agree": true})),
    )
    .await;
    assert_eq!(status, 200, "{signed}");

    // Staff see it all.
    let position = signed["position"].as_i64().unwrap();
    let seen = staff_get(
        &s,
        &t.staff,
        &format!("/api/v1/contracts/{contract_id}?min_position={position}"),
    )
    .await;
    assert_eq!(seen["status"], json!("signed"));
    assert_eq!(seen["signed_by"], json!("Hannah Example"));
    let (status, listed) = portal(&s, &t, Method::GET, "/contracts", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"][0]["status"], json!("signed"));
    let detail = staff_get(
        &s,
        &t.staff,
        &format!("/api/v1/clients/{client}?min_position={position}"),
    )
    .await;
    assert_eq!(detail["status"], json!("active"));
    let account = staff_get(&s, &t.staff, &format!("/api/v1/portal-users/{user}")).await;
    assert_eq!(account["status"], json!("active"));
    assert!(account["last_login_at"].is_string(), "{account}");

    // The signature records who, when and from where.
    let events = common::events_of_tenant(s.pool(), t.id).await;
    let signature = events
        .iter()
        .find(|e| e.event_type == "ContractSigned")
        .expect("signed event");
    let data = &signature.payload["ContractSigned"];
    assert_eq!(data["signer_name"], json!("Hannah Example"));
    assert_eq!(data["ip"], json!("127.0.0.1"));
    assert!(data["signed_at"].is_string(), "{data}");

    let log =
        notifications_until(&s, &t, &client, |n| n.iter().any(|x| x["status"] == "sent")).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["kind"], json!("invitation"));
    assert_eq!(log[0]["to"], json!(to));
    assert_eq!(log[0]["attempts"], json!(1));
    assert!(!log[0].to_string().contains(&mail.token()));

    // The invitation is used up.
    let (status, again) = portal(
        &s,
        &t,
        Method::POST,
        "/invitations/accept",
        None,
        Some(json!({"token": mail.token(), "username": "someone.else", "password": PASSWORD})),
    )
    .await;
    assert_eq!(
        (status, again["code"].clone()),
        (410, json!("invitation_invalid"))
    );

    // Logout ends the session.
    let (status, _) = portal(&s, &t, Method::POST, "/logout", Some(&token), None).await;
    assert_eq!(status, 204);
    let (status, _) = portal(&s, &t, Method::GET, "/me", Some(&token), None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn replaced_revoked_expired_forged_and_foreign_invitation_tokens_answer_alike() {
    let (sink, s, t) = mailing(|app| {
        app.limits.invitation_ttl = chrono::Duration::seconds(3);
    })
    .await;
    let other = s.tenant().await;
    let to = email("tok");
    let client = client_with_email(&s, &t, "organisation", &to).await;

    invite(&s, &t, &client).await;
    let first = sink.wait_for(&to, 1).await[0].token();
    invite(&s, &t, &client).await;
    let second = sink.wait_for(&to, 2).await[1].token();
    assert_ne!(first, second);

    let accept = |token: String, tenant: &Tenant| {
        let body = json!({"token": token, "username": format!("u{}", &Uuid::now_v7().simple().to_string()[24..]), "password": PASSWORD});
        let slug = tenant.slug.clone();
        let req = s
            .http
            .post(format!("{}/portal/v1/{slug}/invitations/accept", s.base))
            .json(&body);
        async move { send(req).await }
    };
    let before = common::event_count(s.pool(), t.id).await;
    let mut forged = second.clone();
    forged.replace_range(forged.len() - 3.., "AAA");
    for (what, token, tenant) in [
        ("replaced", first.clone(), &t),
        ("forged", forged, &t),
        ("another tenant's portal", second.clone(), &other),
        ("garbage", "not-a-token".to_string(), &t),
    ] {
        let (status, body) = accept(token, tenant).await;
        assert_eq!(status, 410, "{what}: {body}");
        assert_eq!(body["code"], json!("invitation_invalid"), "{what}");
        assert_eq!(
            body["detail"],
            json!("the invitation is not valid"),
            "{what}: no hint which"
        );
    }
    assert_eq!(
        common::event_count(s.pool(), t.id).await,
        before,
        "refusals write nothing"
    );

    // Revoked.
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/clients/{client}/invitations/current"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(accept(second, &t).await.0, 410);

    // Expired.
    invite(&s, &t, &client).await;
    let third = sink.wait_for(&to, 3).await[2].token();
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (status, body) = accept(third, &t).await;
    assert_eq!(
        (status, body["code"].clone()),
        (410, json!("invitation_invalid"))
    );
}

#[tokio::test]
async fn a_staff_created_login_is_activated_from_its_email_once() {
    let (sink, s, t) = mailing(|_| {}).await;
    let to = email("act");
    let client = client_with_email(&s, &t, "organisation", &to).await;
    let (status, created) = s
        .post(
            &format!("/api/v1/clients/{client}/portal-users"),
            &t.staff,
            json!({"email": to, "username": "pending.pat"}),
        )
        .await;
    assert_eq!(status, 201);
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
        notifications_until(&s, &t, &client, |n| n.iter().any(|x| x["status"] == "sent")).await;
    assert_eq!(log[0]["kind"], json!("activation"));
}

#[tokio::test]
async fn forgot_password_answers_alike_and_reset_links_work_once_and_only_the_newest() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (client, user, username, to) = invited_and_accepted(&s, &sink, &t).await;
    let old_session = session(&s, &t, &username, PASSWORD).await;

    for name in [username.as_str(), "nobody-by-this-name"] {
        let (status, body) = portal(
            &s,
            &t,
            Method::POST,
            "/password/forgot",
            None,
            Some(json!({"username": name})),
        )
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
    portal(
        &s,
        &t,
        Method::POST,
        "/password/forgot",
        None,
        Some(json!({"username": username})),
    )
    .await;
    let third = sink.wait_for(&to, 4).await[3].clone();
    let before_staff_set = session(&s, &t, &username, new_password).await;
    let (status, _) = s
        .post(
            &format!("/api/v1/portal-users/{user}/password-reset"),
            &t.staff,
            json!({"mode": "set", "new_password": "set by the firm today"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(reset(third.token(), "too late for this one").await.0, 410);
    let (status, _) = portal(&s, &t, Method::GET, "/me", Some(&before_staff_set), None).await;
    assert_eq!(status, 401, "a password set by staff ends the sessions too");

    // Staff can also send the link.
    let (status, _) = s
        .post(
            &format!("/api/v1/portal-users/{user}/password-reset"),
            &t.staff,
            json!({"mode": "email_link"}),
        )
        .await;
    assert_eq!(status, 200);
    let from_staff = sink.wait_for(&to, 5).await[4].clone();
    assert_eq!(
        reset(from_staff.token(), "chosen after staff sent it")
            .await
            .0,
        200
    );
    session(&s, &t, &username, "chosen after staff sent it").await;

    let kinds: Vec<Value> = notifications_until(&s, &t, &client, |n| n.len() >= 5)
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
async fn logins_refuse_alike_and_disable_remove_and_switch_off_take_effect() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (_client, user, username, _) = invited_and_accepted(&s, &sink, &t).await;

    let (s1, wrong_password) = login(&s, &t, &username, "not the password at all").await;
    let (s2, unknown_user) = login(&s, &t, "no-such-user", "not the password at all").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(wrong_password["code"], json!("invalid_credentials"));
    assert_eq!(wrong_password["detail"], unknown_user["detail"]);

    let token = session(&s, &t, &username, PASSWORD).await;
    let (status, _) = s
        .post(
            &format!("/api/v1/portal-users/{user}/disable"),
            &t.staff,
            json!({"reason": "left"}),
        )
        .await;
    assert_eq!(status, 200);
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

    s.post(
        &format!("/api/v1/portal-users/{user}/enable"),
        &t.staff,
        json!({}),
    )
    .await;
    let token = session(&s, &t, &username, PASSWORD).await;

    // The firm switches its portal off.
    let (status, _) = s
        .call(
            Method::PUT,
            "/api/v1/settings/portal",
            &t.admin,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200);
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
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/portal-users/{user}"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);
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
        .filter(|e| e.aggregate_id == user)
        .count();
    assert!(
        stream_events <= 5,
        "logins do not grow the account stream ({stream_events})"
    );
}

#[tokio::test]
async fn repeated_failures_lock_a_login_for_a_while_known_or_not() {
    let (sink, s, t) = mailing(|app| {
        app.limits.lockout_duration = chrono::Duration::seconds(2);
        app.limits.lockout_window = chrono::Duration::seconds(2);
    })
    .await;
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
        assert!((1..=2).contains(&retry_after), "{retry_after}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], json!("locked_out"));
    }
    let path = format!("/api/v1/portal-users/{user}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.call(Method::GET, &path, &t.staff, None).await.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "read model did not catch up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        staff_get(&s, &t.staff, &path).await["status"],
        json!("locked")
    );

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    session(&s, &t, &username, PASSWORD).await;
    let seen = staff_get(&s, &t.staff, &format!("/api/v1/portal-users/{user}")).await;
    assert_eq!(seen["status"], json!("active"));
}

async fn issue_contract(s: &Server, t: &Tenant, client: &str, title: &str) -> (String, String) {
    let (status, body) = s
        .post(
            &format!("/api/v1/clients/{client}/contracts"),
            &t.staff,
            json!({"title": title, "body": "Terms."}),
        )
        .await;
    assert_eq!(status, 201);
    (id_of(&body, "id"), id_of(&body, "content_sha256"))
}

#[tokio::test]
async fn a_portal_user_reaches_only_its_own_clients_and_signs_only_what_it_was_shown() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (mine, user, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let theirs = client_with_email(&s, &t, "organisation", &email("other")).await;
    let token = session(&s, &t, &username, PASSWORD).await;

    let (their_contract, their_hash) = issue_contract(&s, &t, &theirs, "Theirs").await;
    let (my_contract, my_hash) = issue_contract(&s, &t, &mine, "Mine").await;
    let (voided, voided_hash) = issue_contract(&s, &t, &mine, "Withdrawn").await;
    s.post(
        &format!("/api/v1/contracts/{voided}/void"),
        &t.staff,
        json!({}),
    )
    .await;

    let sign = |contract: String, hash: String| {
        let path = format!("/contracts/{contract}/sign");
        let (s, t, token) = (&s, &t, token.clone());
        async move {
            let body = json!({"signer_name": "Me", "content_sha256": hash, "agree": true});
            portal(s, t, Method::POST, &path, Some(&token), Some(body)).await
        }
    };
    assert_eq!(
        portal(
            &s,
            &t,
            Method::GET,
            &format!("/clients/{theirs}/items"),
            Some(&token),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        portal(
            &s,
            &t,
            Method::GET,
            &format!("/contracts/{their_contract}"),
            Some(&token),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(sign(their_contract.clone(), their_hash).await.0, 404);
    assert_eq!(
        portal(
            &s,
            &t,
            Method::GET,
            "/clients/not-a-uuid/items",
            Some(&token),
            None
        )
        .await
        .0,
        404
    );

    let (status, body) = sign(my_contract.clone(), "0".repeat(64)).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("content_changed"))
    );
    let (status, body) = portal(
        &s,
        &t,
        Method::POST,
        &format!("/contracts/{my_contract}/sign"),
        Some(&token),
        Some(json!({"signer_name": "Me", "content_sha256": my_hash, "agree": false})),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["field"].clone()),
        (422, json!("agree"))
    );
    assert_eq!(sign(my_contract.clone(), my_hash.clone()).await.0, 200);
    assert_eq!(
        sign(my_contract.clone(), my_hash).await.0,
        409,
        "already signed"
    );
    assert_eq!(sign(voided, voided_hash).await.0, 409, "voided");

    // A group login reaches a second client once staff grant it.
    s.post(
        &format!("/api/v1/portal-users/{user}/client-access"),
        &t.staff,
        json!({"client_id": theirs}),
    )
    .await;
    let (_, me) = portal(&s, &t, Method::GET, "/me", Some(&token), None).await;
    assert_eq!(me["clients"].as_array().unwrap().len(), 2, "{me}");
    assert_eq!(
        portal(
            &s,
            &t,
            Method::GET,
            &format!("/contracts/{their_contract}"),
            Some(&token),
            None
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn bad_portal_input_gets_clear_errors() {
    let (_sink, s, t) = mailing(|_| {}).await;
    let post = |path: &str, body: &str| {
        s.http
            .post(format!("{}/portal/v1/{}{path}", s.base, t.slug))
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    for (path, body, status) in [
        ("/login", "{not json", 400),
        ("/login", r#"{"username": 1, "password": "x"}"#, 400),
        ("/login", r#"{"username": "a"}"#, 400),
        (
            "/invitations/accept",
            r#"{"token": "x", "username": "ab", "password": "y"}"#,
            422,
        ),
        ("/password/forgot", r#"{"user": "x"}"#, 400),
        (
            "/password/reset",
            r#"{"token": "x", "new_password": "long enough password"}"#,
            410,
        ),
        ("/logout", "", 401),
    ] {
        let (got, body) = send(post(path, body)).await;
        assert_eq!(got, status, "{path}: {body}");
    }
    let (status, body) = send(
        s.http
            .post(format!("{}/portal/v1/no-such-firm/login", s.base))
            .json(&json!({"username": "a", "password": "b"})),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (404, json!("not_found")));
    let (status, _) = send(
        s.http
            .get(format!("{}/portal/v1/{}/me", s.base, t.slug))
            .bearer_auth("pss_nonsense"),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_taken_username_leaves_the_invitation_usable_and_reset_links_expire() {
    let (sink, s, t) = mailing(|app| {
        app.limits.reset_ttl = chrono::Duration::seconds(2);
    })
    .await;
    let (_, _, taken, first_to) = invited_and_accepted(&s, &sink, &t).await;

    let to = email("second");
    let client = client_with_email(&s, &t, "individual", &to).await;
    invite(&s, &t, &client).await;
    let token = sink.wait_for(&to, 1).await[0].token();
    let accept = |username: &str| {
        let body = json!({"token": token, "username": username, "password": PASSWORD});
        portal(
            &s,
            &t,
            Method::POST,
            "/invitations/accept",
            None,
            Some(body),
        )
    };
    let (status, body) = accept(&taken.to_uppercase()).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("username_taken"))
    );
    assert_eq!(
        accept("a.free.name").await.0,
        201,
        "the invitation was not used up"
    );

    portal(
        &s,
        &t,
        Method::POST,
        "/password/forgot",
        None,
        Some(json!({"username": taken})),
    )
    .await;
    let reset = sink.wait_for(&first_to, 2).await[1].token();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = portal(
        &s,
        &t,
        Method::POST,
        "/password/reset",
        None,
        Some(json!({"token": reset, "new_password": "too late for this link"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].clone()),
        (410, json!("reset_link_invalid"))
    );
}

#[tokio::test]
async fn an_unknown_username_costs_as_much_as_a_wrong_password() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (_, _, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let fastest = |name: String| {
        let (s, t) = (&s, &t);
        async move {
            let mut best = std::time::Duration::MAX;
            for _ in 0..3 {
                let started = std::time::Instant::now();
                assert_eq!(login(s, t, &name, "not the password at all").await.0, 401);
                best = best.min(started.elapsed());
            }
            best
        }
    };
    let wrong_password = fastest(username).await;
    let unknown_user = fastest("nobody-here".to_string()).await;
    // Both pay for one Argon2id check (about 15 ms in release, more here); a refusal that
    // skipped it would take a millisecond or two.
    assert!(
        unknown_user.as_secs_f64() > 0.6 * wrong_password.as_secs_f64(),
        "unknown {unknown_user:?} vs wrong password {wrong_password:?}"
    );
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
