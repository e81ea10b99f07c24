//! A subject access request over HTTP: a client invited, its login accepted and used, a
//! contract signed; the admin's export holds every part of it (the client, the login with
//! its history, the contract's signature, the e-mails, the events), and nobody else's.

use crate::common;

use common::eventually;
use common::portal_flow::*;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn the_export_holds_everything_about_the_client_and_nothing_of_others() {
    let (sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.admin);
    let (client, user, username, address) = invited_and_accepted(&s, &sink, &t).await;
    let (neighbour, _, neighbour_name, _) = invited_and_accepted(&s, &sink, &t).await;
    let (status, _) = login(&s, &t, &username, "not the password").await;
    assert_eq!(status, 401);
    let portal = s.portal(&t.slug);
    let token = portal.login(&username, PASSWORD).await.session_token;
    let (contract, sha) = staff.issue_contract(client, "Engagement letter").await;
    let me = portal.signed_in(&token);
    eventually("the contract on the portal", WAIT, || async {
        (!me.contracts().await.items.is_empty()).then_some(())
    })
    .await;
    me.sign(contract, json!({"content_sha256": sha, "agree": true}))
        .await;
    eventually("the signature in the read model", WAIT, || async {
        staff.contract(contract, "").await.contract.signed_by
    })
    .await;

    let document = staff.personal_data(client).await;
    assert_eq!(
        document.client.client.email.as_deref(),
        Some(address.as_str())
    );
    assert_eq!(document.portal_users.len(), 1);
    let login_data = &document.portal_users[0];
    assert_eq!(login_data.login.id, user.uuid());
    assert_eq!(login_data.login.username, username);
    let outcomes: Vec<&str> = login_data
        .logins
        .iter()
        .map(|l| l.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["invalid_credentials", "succeeded"]);
    assert!(login_data.logins.iter().all(|l| l.client_ip.is_some()));
    assert_eq!(document.contracts.len(), 1);
    assert_eq!(
        document.contracts[0].signed_by.as_deref(),
        Some("Hannah Example")
    );
    let sent = document.notifications.iter().map(|n| n.kind.as_str());
    assert!(
        sent.clone().any(|k| k == "invitation"),
        "{:?}",
        sent.collect::<Vec<_>>()
    );
    let types: Vec<&str> = document
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    for expected in [
        "ClientRegistered",
        "ClientInvited",
        "PortalUserCreated",
        "ContractSigned",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    let whole = serde_json::to_string(&document).unwrap();
    assert!(
        !whole.contains(&neighbour_name),
        "another client's login is not in it"
    );
    assert!(!whole.contains(&neighbour.to_string()));

    // Admins only; another firm's client is not found.
    let path = format!("/api/v1/clients/{client}/personal-data");
    let (status, body) = s.staff(&t.staff).call(Method::GET, &path, None).await;
    assert_eq!(status, 403, "{body}");
    let other = s.tenant().await;
    let (status, _) = s.staff(&other.admin).call(Method::GET, &path, None).await;
    assert_eq!(status, 404);
    let unknown = format!("/api/v1/clients/{}/personal-data", uuid::Uuid::now_v7());
    assert_eq!(staff.status_of(Method::GET, &unknown, None).await, 404);
}

#[tokio::test]
async fn a_legal_hold_is_set_and_released_by_admins_with_reasons_even_when_archived() {
    let (s, t) = common::Server::reading_with_firm().await;
    let admin = s.staff(&t.admin);
    let client = admin
        .register_client("Former Client Ltd", "organisation", None)
        .await;
    admin.archive_client(client).await;
    let before = common::event_count(s.pool(), t.id).await;

    // Refused, nothing written: no reason, a staff role, another firm, an unknown client,
    // a release before any hold.
    let (status, body) = admin.legal_hold(client, true, " ").await;
    assert_eq!(
        (status, body["code"].clone()),
        (422, json!("validation_failed"))
    );
    let (status, _) = s.staff(&t.staff).legal_hold(client, true, "dispute").await;
    assert_eq!(status, 403);
    let other = s.tenant().await;
    let (status, _) = s
        .staff(&other.admin)
        .legal_hold(client, true, "dispute")
        .await;
    assert_eq!(status, 404);
    let unknown = aggregates::ids::ClientId::from_uuid(uuid::Uuid::now_v7());
    assert_eq!(admin.legal_hold(unknown, true, "dispute").await.0, 404);
    let (status, body) = admin.legal_hold(client, false, "nothing held").await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("no_legal_hold"))
    );
    assert_eq!(common::event_count(s.pool(), t.id).await, before);

    let reason = "tax dispute with HMRC, keep until settled";
    let (status, set) = admin.legal_hold(client, true, reason).await;
    assert_eq!(status, 200, "{set}");
    let position = set["position"].as_i64().unwrap();
    common::wait_for_position(s.pool(), position, WAIT).await;
    let held = admin
        .client(client)
        .await
        .legal_hold
        .expect("the detail shows the hold");
    assert_eq!(held.reason, reason);
    let (status, body) = admin.legal_hold(client, true, "again").await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("legal_hold_exists"))
    );

    let (status, released) = admin.legal_hold(client, false, "settled in March").await;
    assert_eq!(status, 200, "{released}");
    let position = released["position"].as_i64().unwrap();
    common::wait_for_position(s.pool(), position, WAIT).await;
    assert!(admin.client(client).await.legal_hold.is_none());

    // The audit trail keeps both reasons and who gave them.
    let events = common::events_of_tenant(s.pool(), t.id).await;
    let reasons: Vec<(&str, &serde_json::Value, &serde_json::Value)> = events
        .iter()
        .filter(|e| e.event_type.starts_with("LegalHold"))
        .map(|e| {
            let payload = &e.payload[e.event_type.as_str()]["reason"];
            (e.event_type.as_str(), payload, &e.metadata["actor"]["kind"])
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("LegalHoldSet", &json!(reason), &json!("staff")),
            (
                "LegalHoldReleased",
                &json!("settled in March"),
                &json!("staff")
            ),
        ]
    );
}
