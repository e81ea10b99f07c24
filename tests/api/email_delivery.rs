//! E-mail delivery holds when SMTP does not: a server that is down or refusing delays an
//! e-mail and loses none, a restart neither loses nor repeats one, and without SMTP the
//! message lands as an `.eml` file.

use crate::common;
use crate::common::eventually;

use std::time::Duration;

use common::smtp::SmtpSink;
use common::{Server, Tenant};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

async fn invited_client(s: &Server, t: &Tenant, to: &str) -> String {
    let staff = s.staff(&t.staff);
    let client = staff
        .register_client("Delayed Dora", "individual", Some(to))
        .await;
    staff.invite(client).await;
    client.to_string()
}

/// The client's one notification, once `done` holds for it.
async fn notification_when(
    s: &Server,
    t: &Tenant,
    client: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/api/v1/clients/{client}/notifications");
    eventually(
        "the notification as wanted",
        Duration::from_secs(30),
        || async {
            let body = s.staff(&t.reporting).ok(Method::GET, &path, None).await;
            let n = body["items"].as_array().and_then(|i| i.first())?;
            assert_eq!(body["items"].as_array().unwrap().len(), 1);
            done(n).then(|| n.clone())
        },
    )
    .await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn smtp_down_delays_the_email_and_a_restart_neither_loses_nor_repeats_it() {
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let mut s = Server::start_mailing(&url).await;
    let t = s.tenant().await;
    let to = format!("dora-{}@client.test", Uuid::now_v7().simple());
    let client = invited_client(&s, &t, &to).await;

    let failing = notification_when(&s, &t, &client, |n| n["attempts"].as_i64() >= Some(2)).await;
    assert_eq!(failing["status"], json!("pending"));
    assert!(failing["last_error"].is_string(), "{failing}");
    assert!(failing["next_attempt_at"].is_string());

    // The service goes down while the e-mail is still owed, and comes back.
    s.stop_background().await;
    s.start_background(Some(url));

    let sink = SmtpSink::start_on(port).await;
    let mails = sink.wait_for(&to, 1).await;
    let sent = notification_when(&s, &t, &client, |n| n["status"] == "sent").await;
    assert!(sent["attempts"].as_i64().unwrap() >= 3, "{sent}");
    assert!(sent["sent_at"].is_string());
    // An e-mail owed later is sent after every pass that could repeat the first: once it
    // arrives, the first has had every chance to go twice.
    let later = format!("lena-{}@client.test", Uuid::now_v7().simple());
    invited_client(&s, &t, &later).await;
    sink.wait_for(&later, 1).await;
    assert_eq!(sink.mails_to(&to).len(), 1, "sent once");
    assert!(mails[0].link().contains("token="));
}

#[tokio::test]
async fn a_refusing_smtp_server_is_retried_until_it_accepts() {
    let sink = SmtpSink::start().await;
    sink.refuse(true);
    let s = Server::start_mailing(&sink.url()).await;
    let t = s.tenant().await;
    let to = format!("rita-{}@client.test", Uuid::now_v7().simple());
    let client = invited_client(&s, &t, &to).await;

    let refused = notification_when(&s, &t, &client, |n| n["attempts"].as_i64() >= Some(2)).await;
    assert_eq!(refused["status"], json!("pending"));
    assert!(
        refused["last_error"].as_str().unwrap().contains("451"),
        "{refused}"
    );
    assert!(sink.mails_to(&to).is_empty());

    sink.refuse(false);
    sink.wait_for(&to, 1).await;
    let sent = notification_when(&s, &t, &client, |n| n["status"] == "sent").await;
    assert_eq!(sent["last_error"], Value::Null);
}

#[tokio::test]
async fn without_smtp_emails_are_written_as_eml_files() {
    let mut s = Server::start_with(common::app(common::fresh_database().await)).await;
    s.start_background(None);
    let t = s.tenant().await;
    let to = format!("file-{}@client.test", Uuid::now_v7().simple());
    let client = invited_client(&s, &t, &to).await;
    notification_when(&s, &t, &client, |n| n["status"] == "sent").await;

    let outbox = std::fs::read_dir(common::test_data_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("outbox-"))
        .flat_map(|dir| {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(Result::ok)
        })
        .map(|f| std::fs::read_to_string(f.path()).unwrap())
        .find(|m| m.contains(&to))
        .expect("an .eml file for the invitation");
    assert!(outbox.contains("Subject: Test Firm invites you to your client portal"));
    assert!(outbox
        .replace("=\r\n", "")
        .contains("accept-invitation?token=3D"));
}

#[tokio::test]
async fn a_failed_email_is_listed_firm_wide_and_sent_again_on_request() {
    let sink = SmtpSink::start().await;
    sink.refuse(true);
    let mut s = Server::start_with(common::app(common::fresh_database().await)).await;
    let t = s.tenant().await;
    // A mailer that gives up after two refusals.
    let mut mail =
        portal_accounts::mail::MailConfig::new(Some(sink.url()), &common::test_data_dir(), &s.base);
    mail.retry_base = Duration::from_millis(50);
    mail.max_attempts = 2;
    let background = portal_accounts::runtime::server::Background::start(&s.app, &mail).unwrap();
    let to = format!("fay-{}@client.test", Uuid::now_v7().simple());
    let client = invited_client(&s, &t, &to).await;
    let failed = notification_when(&s, &t, &client, |n| n["status"] == "failed").await;

    // Staff see it among the firm's failed e-mails, with its id and client.
    let page = s
        .staff(&t.staff)
        .ok(Method::GET, "/api/v1/notifications?status=failed", None)
        .await;
    let listed = &page["items"][0];
    assert_eq!(listed["id"], failed["id"]);
    assert_eq!(listed["client_id"], json!(client));
    assert_eq!(listed["kind"], "invitation");
    let (_, sent_page) = s
        .call(
            Method::GET,
            "/api/v1/notifications?status=sent",
            &t.staff,
            None,
        )
        .await;
    assert_eq!(sent_page["items"], json!([]));

    // Only a failed e-mail is sent again; an auditor may not; another firm sees nothing.
    let retry = format!(
        "/api/v1/notifications/{}/retry",
        failed["id"].as_str().unwrap()
    );
    let status = s
        .staff(&t.auditor)
        .status_of(Method::POST, &retry, None)
        .await;
    assert_eq!(status, 403);
    let other = s.tenant().await;
    let status = s
        .staff(&other.staff)
        .status_of(Method::POST, &retry, None)
        .await;
    assert_eq!(status, 404);
    sink.refuse(false);
    let (status, accepted) = s.call(Method::POST, &retry, &t.staff, None).await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (202, Some("pending"))
    );
    sink.wait_for(&to, 1).await;
    let sent = notification_when(&s, &t, &client, |n| n["status"] == "sent").await;
    assert_eq!(sent["id"], failed["id"]);
    s.staff(&t.staff)
        .assert_refused(Method::POST, &retry, None, (409, "notification_not_failed"))
        .await;
    background.stop().await;
    s.stop_background().await;
}

/// What a sender killed mid-round leaves behind: notifications it claimed (attempted once,
/// held for the claim's lease), marked with the presence key its database session held.
async fn claimed_by_a_sender(s: &Server, t: &Tenant) -> sqlx::PgConnection {
    use sqlx::Connection;
    let owed = || portal_accounts::mail::notifications::Notifications {
        keys: s.app.keys().clone(),
    };
    let engine = projections::Engine::new(
        s.pool().clone(),
        s.app.keys().clone(),
        vec![std::sync::Arc::new(owed())],
    );
    // Caught up until the e-mail is owed: a catch-up stops short of events whose
    // transactions other sessions (the sealer, say) could still precede.
    eventually(
        "the invitation's e-mail owed",
        Duration::from_secs(10),
        || async {
            engine.catch_up(&owed()).await.unwrap();
            let owed: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM notifications WHERE tenant_id = $1 AND status = 'pending'",
            )
            .bind(t.id)
            .fetch_one(s.pool())
            .await
            .unwrap();
            (owed == 1).then_some(())
        },
    )
    .await;
    let mut sender = sqlx::PgConnection::connect_with(&s.pool().connect_options())
        .await
        .unwrap();
    let key = i64::from_le_bytes(Uuid::new_v4().as_bytes()[..8].try_into().unwrap());
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut sender)
        .await
        .unwrap();
    let claimed = sqlx::query(
        "UPDATE notifications SET attempts = attempts + 1, claimed_by = $2,
                next_attempt_at = now() + interval '300 seconds'
          WHERE tenant_id = $1 AND status = 'pending'",
    )
    .bind(t.id)
    .bind(key)
    .execute(s.pool())
    .await
    .unwrap();
    assert_eq!(claimed.rows_affected(), 1);
    sender
}

#[tokio::test]
async fn a_killed_senders_claims_are_sent_at_once_by_another_and_only_once() {
    let sink = SmtpSink::start().await;
    let mut s = Server::start_with(common::app(common::fresh_database().await)).await;
    let t = s.tenant().await;
    let to = format!("kim-{}@client.test", Uuid::now_v7().simple());
    invited_client(&s, &t, &to).await;
    let dead = claimed_by_a_sender(&s, &t).await;

    // While the claiming sender's session lives, its claim is its own: a later e-mail goes
    // out, this one does not.
    s.start_background(Some(sink.url()));
    let later = format!("lena-{}@client.test", Uuid::now_v7().simple());
    invited_client(&s, &t, &later).await;
    sink.wait_for(&later, 1).await;
    assert!(sink.mails_to(&to).is_empty(), "taken from a live sender");

    // The sender dies (its session ends with the process): its claim is taken over within
    // seconds, not after the five-minute lease, and sent once.
    drop(dead);
    let mails = sink.wait_for(&to, 1).await;
    assert!(mails[0].link().contains("token="));
    let last = format!("lou-{}@client.test", Uuid::now_v7().simple());
    invited_client(&s, &t, &last).await;
    sink.wait_for(&last, 1).await;
    assert_eq!(sink.mails_to(&to).len(), 1, "sent once");
    s.stop_background().await;
}
