//! A firm names its auditor's address: each new signed checkpoint is e-mailed there (a real
//! SMTP server), and the checkpoint in the e-mail verifies against the log; the setting is
//! an admin's, validated, and recorded in the audit trail.

use crate::common;

use common::portal_flow::{email, mailing};
use common::smtp::{Mail, SmtpSink};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn set_address(s: &Server, token: &str, address: Value) -> (u16, Value) {
    s.call(
        Method::PUT,
        "/api/v1/settings/audit",
        token,
        Some(json!({ "checkpoint_email": address })),
    )
    .await
}

/// The checkpoint a mail carries: the JSON object in its text.
fn mailed_checkpoint(mail: &Mail) -> Value {
    let start = mail
        .text
        .find('{')
        .unwrap_or_else(|| panic!("no checkpoint in the e-mail:\n{}", mail.raw));
    serde_json::Deserializer::from_str(&mail.text[start..])
        .into_iter::<Value>()
        .next()
        .expect("JSON")
        .expect("a whole JSON object")
}

/// Waits for the e-mail of the checkpoint at `chain_seq` (the sealer may have signed and
/// mailed an earlier one of its own meanwhile).
async fn mail_of(sink: &SmtpSink, address: &str, chain_seq: i64) -> Mail {
    for count in 1..=5 {
        let mails = sink.wait_for(address, count).await;
        if let Some(mail) = mails
            .into_iter()
            .find(|m| mailed_checkpoint(m)["chain_seq"] == chain_seq)
        {
            return mail;
        }
    }
    panic!("no e-mail of checkpoint {chain_seq} to {address}");
}

#[tokio::test]
async fn the_auditor_named_by_the_firm_receives_each_new_checkpoint_and_it_verifies() {
    let (sink, s, t) = mailing(|_| {}).await;
    let auditor = email("auditor");

    let (status, settings) = set_address(&s, &t.admin, json!(auditor)).await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["checkpoint_email"], json!(auditor));
    s.register_client(&t, "Jo Mailed").await;
    let checkpoint = s.checkpoint_now(&t, None).await;

    let mail = mail_of(&sink, &auditor, checkpoint["chain_seq"].as_i64().unwrap()).await;
    assert_eq!(mailed_checkpoint(&mail), checkpoint);
    assert!(
        mail.header("Subject")
            .is_some_and(|subject| subject.contains("Audit checkpoint of Test Firm")),
        "{}",
        mail.raw
    );
    let file = format!("checkpoint-{}.json", checkpoint["chain_seq"]);
    assert!(
        mail.raw.contains(&file),
        "the checkpoint attached as {file}"
    );
    // What the auditor does with it later: the log still passes through it.
    let verdict = s
        .staff(&t.auditor)
        .ok(
            Method::POST,
            "/api/v1/audit/checkpoints/verify",
            Some(mailed_checkpoint(&mail)),
        )
        .await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    let (_, row) = send(s.request(Method::GET, "/api/v1/settings", &t.staff)).await;
    assert_eq!(row["checkpoint_email"], json!(auditor));

    // Who named the address, and when, is in the audit trail.
    let (status, events) = send(s.request(
        Method::GET,
        "/api/v1/audit/events?event_type=CheckpointRecipientChanged",
        &t.auditor,
    ))
    .await;
    assert_eq!(status, 200, "{events}");
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
    let changed = &events["events"][0];
    assert_eq!(changed["payload"]["email"], json!(auditor), "{changed}");
    assert_eq!(changed["actor_kind"], "staff", "{changed}");

    // Stopped: a checkpoint signed after that owes no e-mail.
    let (status, settings) = set_address(&s, &t.admin, Value::Null).await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["checkpoint_email"], Value::Null);
    s.register_client(&t, "Jo Unmailed").await;
    let later = s.checkpoint_now(&t, None).await;
    assert!(later["chain_seq"].as_i64() > checkpoint["chain_seq"].as_i64());
    let owed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM checkpoint_mail WHERE tenant_id = $1 AND chain_seq >= $2",
    )
    .bind(t.id)
    .bind(later["chain_seq"].as_i64().unwrap())
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(owed, 0);
}

#[tokio::test]
async fn only_an_admin_names_the_address_and_a_bad_one_is_refused_without_an_event() {
    let (s, t) = Server::with_firm().await;
    let before = event_count(s.pool(), t.id).await;

    let (status, body) = set_address(&s, &t.staff, json!("audit@firm.example")).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = set_address(&s, &t.auditor, json!("audit@firm.example")).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = set_address(&s, &t.admin, json!("not an address")).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("checkpoint_email"), "{body}");
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/settings/audit",
            &t.admin,
            Some(json!({})),
        )
        .await;
    assert!(matches!(status, 400 | 422), "{status} {body}");
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/settings/audit",
            &t.admin,
            Some(json!({"checkpoint_email": null, "cc": "x@firm.example"})),
        )
        .await;
    assert!(matches!(status, 400 | 422), "{status} {body}");
    assert_eq!(event_count(s.pool(), t.id).await, before);

    // Naming the address already in force records nothing more.
    let (status, _) = set_address(&s, &t.admin, json!("audit@firm.example")).await;
    assert_eq!(status, 200);
    let (status, _) = set_address(&s, &t.admin, json!(" audit@firm.example ")).await;
    assert_eq!(status, 200);
    assert_eq!(event_count(s.pool(), t.id).await, before + 1);
}

#[tokio::test]
async fn a_checkpoint_e_mail_refused_for_now_is_sent_when_the_server_takes_it() {
    let (sink, s, t) = mailing(|_| {}).await;
    let auditor = email("auditor");
    let (status, _) = set_address(&s, &t.admin, json!(auditor)).await;
    assert_eq!(status, 200);
    sink.refuse(true);
    s.register_client(&t, "Jo Delayed").await;
    let checkpoint = s.checkpoint_now(&t, None).await;
    let chain_seq = checkpoint["chain_seq"].as_i64().unwrap();

    // Refused (451): kept with its error, to be tried again — as auditors see it.
    let refused = email_of_checkpoint(&s, &t, chain_seq, |e| !e["last_error"].is_null()).await;
    assert_eq!(refused["status"], "pending", "{refused}");
    assert_eq!(refused["to"], json!(auditor), "{refused}");
    sink.refuse(false);
    let mail = mail_of(&sink, &auditor, chain_seq).await;
    assert_eq!(mailed_checkpoint(&mail), checkpoint);
    let sent = email_of_checkpoint(&s, &t, chain_seq, |e| e["status"] == "sent").await;
    assert!(
        sent["sent_at"].is_string() && sent["attempts"].as_i64() >= Some(2),
        "{sent}"
    );

    // Only the firm's auditors and admins read them, and only their own firm's.
    let (status, _) = send(s.request(Method::GET, EMAILS, &t.staff)).await;
    assert_eq!(status, 403);
    let other = s.tenant().await;
    let (status, theirs) = send(s.request(Method::GET, EMAILS, &other.auditor)).await;
    assert_eq!((status, theirs), (200, json!({"items": []})));
}

const EMAILS: &str = "/api/v1/audit/checkpoints/emails";

/// Polls the firm's checkpoint e-mails until the one of `chain_seq` is as `wanted`.
async fn email_of_checkpoint(
    s: &Server,
    t: &Tenant,
    chain_seq: i64,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let limit = std::time::Duration::from_secs(30);
    eventually("the checkpoint e-mail as wanted", limit, || async {
        let (status, list) = send(s.request(Method::GET, EMAILS, &t.auditor)).await;
        assert_eq!(status, 200, "{list}");
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["chain_seq"] == chain_seq && wanted(e))
            .cloned()
    })
    .await
}
