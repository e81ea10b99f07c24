//! The seeds' staff screens walked end to end over real HTTP, PostgreSQL and SMTP: the
//! catalogue picker, "Add Sold Item to Portal", a letter of engagement e-mailed for
//! signature and confirmed once signed, the invitation history, a failed e-mail sent again,
//! and a FAKE test client archived out of the dashboard counts.

use crate::common;
use crate::common::eventually;

use std::time::Duration;

use common::portal_flow::{invited_and_accepted, notifications_until, portal, staff_get};
use common::smtp::SmtpSink;
use common::Server;
use reqwest::Method;
use serde_json::{json, Value};

/// Waits until the firm-wide e-mail list, filtered by `query`, satisfies `done`.
async fn firm_mail_until(
    s: &Server,
    token: &str,
    query: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/api/v1/notifications?{query}");
    eventually(query, Duration::from_secs(30), || async {
        let page = staff_get(s, token, &path).await;
        let items = page["items"].as_array().unwrap().clone();
        done(&items).then_some(items)
    })
    .await
}

#[tokio::test]
async fn a_firm_walks_the_seeds_staff_screens() {
    let sink = SmtpSink::start().await;
    let mut s = Server::start_with(common::app(common::fresh_database().await)).await;
    // A mailer that gives up after two refusals, so a failed e-mail can be shown.
    let mut mail =
        portal_accounts::mail::MailConfig::new(Some(sink.url()), &common::test_data_dir(), &s.base);
    mail.retry_base = Duration::from_millis(50);
    mail.max_attempts = 2;
    let background = portal_accounts::runtime::server::Background::start(&s.app, &mail).unwrap();
    let t = s.tenant().await;
    let staff = s.staff(&t.staff);

    // A client accepts the e-mailed invitation; staff give the login its person's name.
    let (client, user, username, to) = invited_and_accepted(&s, &sink, &t).await;
    staff
        .ok(
            Method::PATCH,
            &format!("/api/v1/portal-users/{user}"),
            Some(json!({"first_name": "Hannah", "last_name": "Example"})),
        )
        .await;

    // Catalogue picker → "Add Sold Item to Portal" → the client sees it.
    let created = staff
        .ok(
            Method::POST,
            "/api/v1/items",
            Some(json!({"sku": "BK-MONTHLY", "name": "Monthly bookkeeping",
                        "unit_price": {"amount_minor": 12_000, "currency": "GBP"}})),
        )
        .await;
    let item: aggregates::ids::ItemId = common::id_of(&created, "id").parse().unwrap();
    let picked = staff
        .get(&format!(
            "/api/v1/items?q=bookkeeping&min_position={}",
            created["position"]
        ))
        .await;
    assert_eq!(picked["items"][0]["id"], json!(item), "{picked}");
    staff.assign_item(client, item).await;
    let session =
        common::portal_flow::session(&s, &t, &username, common::portal_flow::PASSWORD).await;
    let (status, items) = portal(
        &s,
        &t,
        Method::GET,
        &format!("/clients/{client}/items"),
        Some(&session),
        None,
    )
    .await;
    assert_eq!(status, 200, "{items}");
    assert_eq!(items["items"][0]["name"], "Monthly bookkeeping", "{items}");

    // A letter of engagement: the client's login is asked by e-mail to sign.
    let (contract, hash) =
        common::portal_flow::issue_contract(&s, &t, client, "Letter of engagement 2027").await;
    let asked = sink.wait_for(&to, 2).await.remove(1);
    assert_eq!(
        asked.header("X-Portal-Notification").as_deref(),
        Some("contract_to_sign")
    );
    assert!(
        asked.text.contains("Hello Hannah Example,"),
        "{}",
        asked.text
    );
    assert!(asked.text.contains("Letter of engagement 2027"));
    assert!(
        asked
            .link()
            .ends_with(&format!("/portal/{}/contracts/{contract}", t.slug)),
        "{}",
        asked.link()
    );

    // Signed without typing a name: the name on file signs; a confirmation follows.
    let (status, body) = portal(
        &s,
        &t,
        Method::POST,
        &format!("/contracts/{contract}/sign"),
        Some(&session),
        Some(json!({"content_sha256": hash, "agree": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let confirmation = sink.wait_for(&to, 3).await.remove(2);
    assert_eq!(
        confirmation.header("X-Portal-Notification").as_deref(),
        Some("contract_signed")
    );
    let unfolded = confirmation.text.replace("\r\n", " ");
    assert!(unfolded.contains(&hash), "{unfolded}");
    assert!(unfolded.contains("as \"Hannah Example\""), "{unfolded}");
    let position = body["position"].as_i64().unwrap();
    let signed = staff
        .get(&format!(
            "/api/v1/contracts/{contract}?min_position={position}"
        ))
        .await;
    assert_eq!(signed["status"], "signed", "{signed}");
    assert_eq!(signed["signature"]["signer_name"], "Hannah Example");
    assert_eq!(signed["signature"]["username"], json!(username));
    let per_client = staff
        .get(&format!("/api/v1/clients/{client}/contracts"))
        .await;
    assert_eq!(per_client["items"][0]["id"], json!(contract));

    // The client's e-mails, in order, as staff read them.
    let log = notifications_until(&s, &t, client, |n| {
        n.len() == 3 && n.iter().all(|n| n["status"] == "sent")
    })
    .await;
    assert_eq!(log[1]["contract_id"], json!(contract));
    assert_eq!(log[2]["portal_user_id"], json!(user));
    let kinds: Vec<Value> = log.iter().map(|n| n["kind"].clone()).collect();
    assert_eq!(
        kinds,
        vec![
            json!("invitation"),
            json!("contract_to_sign"),
            json!("contract_signed")
        ]
    );

    // Invitation history: the accepted invitation, firm-wide and per client.
    let history = staff
        .get(&format!("/api/v1/clients/{client}/invitations"))
        .await;
    assert_eq!(history["items"][0]["state"], "accepted", "{history}");
    let accepted = staff.get("/api/v1/invitations?state=accepted").await;
    assert_eq!(accepted["items"].as_array().unwrap().len(), 1, "{accepted}");

    // A FAKE test client's invitation fails to send; the firm-wide list shows it, retry
    // sends it; archiving the FAKE client takes it out of the dashboard counts.
    sink.refuse(true);
    let fake_address = common::portal_flow::email("fake");
    let fake = staff
        .register_client("Test Client (FAKE)", "organisation", Some(&fake_address))
        .await;
    let invited = staff.invite(fake).await;
    let failed = firm_mail_until(&s, &t.staff, "status=failed", |n| n.len() == 1).await;
    assert_eq!(failed[0]["client_id"], json!(fake));
    sink.refuse(false);
    let retry = format!(
        "/api/v1/notifications/{}/retry",
        failed[0]["id"].as_str().unwrap()
    );
    let _ = s.staff(&t.staff).ok(Method::POST, &retry, None).await;
    sink.wait_for(&fake_address, 1).await;
    let before = staff
        .get(&format!(
            "/api/v1/dashboard/invitations?min_position={}",
            invited.position
        ))
        .await;
    let archived = staff
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{fake}/archive"),
            None,
        )
        .await;
    let after = staff
        .get(&format!(
            "/api/v1/dashboard/invitations?min_position={}",
            archived["position"]
        ))
        .await;
    assert_eq!(
        after["total_clients"].as_i64().unwrap(),
        before["total_clients"].as_i64().unwrap() - 1,
        "{before} → {after}"
    );
    assert_eq!(
        after["invited"].as_i64().unwrap(),
        before["invited"].as_i64().unwrap() - 1
    );

    background.stop().await;
    s.stop_background().await;
}
