//! The portal side's shared steps: a mailing server with a fresh firm, portal requests,
//! inviting and accepting from the e-mail, logging in, and what staff read meanwhile.

use aggregates::ids::{ClientId, ContractId, PortalUserId};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use super::smtp::SmtpSink;
use super::{id_of, send, Server, Tenant};

pub const PASSWORD: &str = "correct horse battery staple";

pub fn email(tag: &str) -> String {
    format!("{tag}-{}@client.test", Uuid::now_v7().simple())
}

/// An SMTP sink, a server on a database of its own mailing to it (with `tune` applied to
/// its settings first) and a fresh firm on it.
pub async fn mailing(
    tune: impl FnOnce(&mut portal_accounts::http::Edge),
) -> (SmtpSink, Server, Tenant) {
    mailing_at("127.0.0.1", tune).await
}

/// `mailing`, the server's public URL naming it `host` (passkeys need "localhost").
pub async fn mailing_at(
    host: &str,
    tune: impl FnOnce(&mut portal_accounts::http::Edge),
) -> (SmtpSink, Server, Tenant) {
    let sink = SmtpSink::start().await;
    let mut app = super::app(super::fresh_database().await);
    tune(&mut app);
    let s = Server::start_mailing_at(app, &sink.url(), host).await;
    let t = s.tenant().await;
    (sink, s, t)
}

/// A portal request, optionally with a session token.
pub async fn portal(
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

pub async fn client_with_email(s: &Server, t: &Tenant, kind: &str, address: &str) -> ClientId {
    let (status, body) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Hannah Example", "kind": kind, "email": address}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    id_of(&body, "id").parse().unwrap()
}

pub async fn invite(s: &Server, t: &Tenant, client: ClientId) -> Value {
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

pub async fn login(s: &Server, t: &Tenant, username: &str, password: &str) -> (u16, Value) {
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

/// Logs in with the password, expecting the second step: its token and methods.
pub async fn second_step(s: &Server, t: &Tenant, username: &str) -> (String, Value) {
    let (status, body) = login(s, t, username, PASSWORD).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, serde_json::json!("mfa_required")),
        "{body}"
    );
    (
        body["mfa_token"].as_str().unwrap().to_string(),
        body["methods"].clone(),
    )
}

pub async fn session(s: &Server, t: &Tenant, username: &str, password: &str) -> String {
    let (status, body) = login(s, t, username, password).await;
    assert_eq!(status, 200, "{body}");
    id_of(&body, "session_token")
}

/// Invites a fresh individual client and accepts from the e-mail:
/// (client, portal user, username, e-mail address).
pub async fn invited_and_accepted(
    s: &Server,
    sink: &SmtpSink,
    t: &Tenant,
) -> (ClientId, PortalUserId, String, String) {
    let to = email("inv");
    let client = client_with_email(s, t, "individual", &to).await;
    invite(s, t, client).await;
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
    let user = id_of(&body, "portal_user_id").parse().unwrap();
    (client, user, username, to)
}

pub async fn staff_get(s: &Server, token: &str, path: &str) -> Value {
    let (status, body) = s.call(Method::GET, path, token, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Waits for the notification log of `client` to satisfy `done`.
pub async fn notifications_until(
    s: &Server,
    t: &Tenant,
    client: ClientId,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let limit = std::time::Duration::from_secs(30);
    let path = format!("/api/v1/clients/{client}/notifications");
    super::eventually("the client's notifications", limit, || async {
        let body = staff_get(s, &t.staff, &path).await;
        let items = body["items"].as_array().unwrap().clone();
        done(&items).then_some(items)
    })
    .await
}

/// Issues a contract to `client`: its id and content hash.
pub async fn issue_contract(
    s: &Server,
    t: &Tenant,
    client: ClientId,
    title: &str,
) -> (ContractId, String) {
    let (status, body) = s
        .post(
            &format!("/api/v1/clients/{client}/contracts"),
            &t.staff,
            json!({"title": title, "body": "Terms."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = id_of(&body, "id").parse().unwrap();
    (id, id_of(&body, "content_sha256"))
}
