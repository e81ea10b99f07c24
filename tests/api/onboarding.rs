//! Onboarding as staff and clients meet it: names given when accepting (and greeting the
//! person), contracts issued before a login exists, `last_login_at`, re-sending an
//! activation e-mail, "forgot password" by e-mail address, and a switched-off portal.

use crate::common;

use common::portal_flow::*;
use common::{event_count, eventually, wait_for_position};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

/// Accepting an invitation with `body` as it stands: status and answer.
async fn accept(
    portal: &common::portal::Portal<'_>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let template = "/portal/v1/{tenant_slug}/invitations/accept";
    portal.call(Method::POST, template, &[], Some(body)).await
}

/// A login made by accepting, once the read models have it (accepting answers no position).
async fn login_once_read(
    staff: &common::staff::Staff<'_>,
    user: aggregates::ids::PortalUserId,
) -> portal_accounts::reads::portal_users::PortalUserDetail {
    let path = format!("/api/v1/portal-users/{user}");
    eventually("the new login in the read models", WAIT, || async {
        (staff.status_of(Method::GET, &path, None).await == 200).then_some(())
    })
    .await;
    staff.portal_user(user).await
}

#[tokio::test]
async fn accepting_gives_names_that_greet_the_person_and_sign_by_default() {
    let (sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.staff);
    let portal = s.portal(&t.slug);

    // An organisation's login names its person when accepting.
    let to = email("named");
    let org = client_with_email(&s, &t, "organisation", &to).await;
    staff.invite(org).await;
    let invitation = sink.wait_for(&to, 1).await.remove(0);
    let body = json!({"token": invitation.token(), "username": "bob.baker", "password": PASSWORD,
                      "first_name": "Bob", "last_name": "Baker"});
    let (status, accepted) = accept(&portal, body).await;
    assert_eq!(status, 201, "{accepted}");
    let user = aggregates::ids::PortalUserId::from_uuid(
        accepted["portal_user_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
    let detail = login_once_read(&staff, user).await;
    assert_eq!(
        (detail.first_name.as_deref(), detail.last_name.as_deref()),
        (Some("Bob"), Some("Baker"))
    );
    portal.forgot_password("bob.baker").await;
    let reset = sink.wait_for(&to, 2).await.remove(1);
    assert!(reset.text.contains("Hello Bob Baker,"), "{}", reset.text);
    assert!(!reset.text.contains("Hello bob.baker"), "{}", reset.text);
    assert!(
        reset.text.contains("portal login bob.baker"),
        "{}",
        reset.text
    );

    // An individual client's login, accepted without names, takes the client's own name:
    // a contract signed over the API needs no typed name.
    let (client, user, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let detail = login_once_read(&staff, user).await;
    assert_eq!(
        (detail.first_name.as_deref(), detail.last_name.as_deref()),
        (Some("Hannah"), Some("Example"))
    );
    let (contract, sha) = staff.issue_contract(client, "Engagement letter").await;
    let token = portal.login(&username, PASSWORD).await.session_token;
    let signed_in = portal.signed_in(&token);
    eventually("the contract on the portal", WAIT, || async {
        (!signed_in.contracts().await.items.is_empty()).then_some(())
    })
    .await;
    signed_in
        .sign(contract, json!({"content_sha256": sha, "agree": true}))
        .await;
    let seen = eventually("the signature in the read model", WAIT, || async {
        let c = staff.contract(contract, "").await;
        c.contract.signed_by.clone()
    })
    .await;
    assert_eq!(seen, "Hannah Example");

    // Names are checked like every name: refused, nothing written.
    let to = email("badname");
    let org = client_with_email(&s, &t, "organisation", &to).await;
    staff.invite(org).await;
    let invitation = sink.wait_for(&to, 1).await.remove(0);
    let before = event_count(s.pool(), t.id).await;
    let body = json!({"token": invitation.token(), "username": "carol.c", "password": PASSWORD,
                      "first_name": "Car\u{202e}ol"});
    let (status, problem) = accept(&portal, body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(common::field_names(&problem), ["first_name"]);
    assert_eq!(event_count(s.pool(), t.id).await, before);
}

#[tokio::test]
async fn a_contract_issued_before_any_login_tells_staff_and_the_invitation_names_it() {
    let (sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.staff);
    let to = email("early");
    let client = client_with_email(&s, &t, "individual", &to).await;
    let path = format!("/api/v1/clients/{client}/contracts");
    let issued = staff
        .ok(
            Method::POST,
            &path,
            Some(json!({"title": "Engagement letter", "body": "1. Scope\nWe keep your books."})),
        )
        .await;
    assert_eq!(issued["awaiting_login"], json!(true), "{issued}");
    assert_eq!(issued["signature_requested_from"], json!([]));
    wait_for_position(s.pool(), issued["position"].as_i64().unwrap(), WAIT).await;

    staff.invite(client).await;
    let invitation = sink.wait_for(&to, 1).await.remove(0);
    assert!(
        invitation
            .text
            .contains("waiting for your signature: \"Engagement letter\""),
        "{}",
        invitation.text
    );

    // With a login, the next contract is asked for at once and e-mailed; its link opens
    // that contract (after logging in).
    let token = invitation.token();
    let portal = s.portal(&t.slug);
    portal
        .accept_invitation(&token, "early.bird", PASSWORD)
        .await;
    let second = staff
        .ok(
            Method::POST,
            &path,
            Some(json!({"title": "Data processing", "body": "Terms."})),
        )
        .await;
    assert_eq!(second["awaiting_login"], json!(false), "{second}");
    assert_eq!(
        second["signature_requested_from"].as_array().unwrap().len(),
        1
    );
    let to_sign = sink.wait_for(&to, 2).await.remove(1);
    assert_eq!(
        to_sign.link(),
        format!(
            "{}/portal/{}/contracts/{}",
            s.base,
            t.slug,
            second["id"].as_str().unwrap()
        )
    );
}

#[tokio::test]
async fn staff_see_when_a_client_last_logged_in() {
    let (sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.staff);
    let (client, _user, username, _) = invited_and_accepted(&s, &sink, &t).await;
    assert_eq!(staff.client(client).await.client.last_login_at, None);
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    s.portal(&t.slug).login(&username, PASSWORD).await;
    // The login's link to its client reaches the read models after accepting.
    let at = eventually("the client's last login", WAIT, || async {
        staff.client(client).await.client.last_login_at
    })
    .await;
    assert!(at >= before, "{at}");
    let listed = staff.list_clients("").await;
    let row = listed.items.iter().find(|c| c.id == client.uuid()).unwrap();
    assert_eq!(row.last_login_at, Some(at));
    // A failed login is not a login.
    s.portal(&t.slug)
        .try_login(&username, "not the password at all")
        .await;
    assert_eq!(staff.client(client).await.client.last_login_at, Some(at));
}

#[tokio::test]
async fn staff_resend_an_activation_email_and_the_earlier_link_stops_working() {
    let (sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.staff);
    let to = email("act");
    let client = client_with_email(&s, &t, "organisation", &to).await;
    let (user, _) = staff
        .create_portal_user(client, json!({"email": to, "username": "dana.d"}))
        .await;
    let first = sink.wait_for(&to, 1).await.remove(0);
    let (status, answer) = staff
        .call(
            Method::POST,
            &format!("/api/v1/portal-users/{user}/activation"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let second = sink.wait_for(&to, 2).await.remove(1);
    assert_eq!(
        second.header("x-portal-notification").unwrap(),
        "activation"
    );
    assert_ne!(first.token(), second.token());

    let portal = s.portal(&t.slug);
    let template = "/portal/v1/{tenant_slug}/activate";
    let old = json!({"token": first.token(), "password": PASSWORD});
    let (status, problem) = portal.call(Method::POST, template, &[], Some(old)).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (410, json!("activation_invalid"))
    );
    portal.activate(&second.token(), PASSWORD).await;

    // Only a login waiting for activation: an active one is refused, nothing written.
    let before = common::event_count(s.pool(), t.id).await;
    staff
        .assert_refused(
            Method::POST,
            &format!("/api/v1/portal-users/{user}/activation"),
            None,
            (409, "not_pending"),
        )
        .await;
    let unknown = Uuid::now_v7();
    staff
        .assert_refused(
            Method::POST,
            &format!("/api/v1/portal-users/{unknown}/activation"),
            None,
            (404, "not_found"),
        )
        .await;
    assert_eq!(common::event_count(s.pool(), t.id).await, before);
}

#[tokio::test]
async fn forgot_password_takes_an_email_address_and_reaches_each_of_its_logins() {
    let (sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.staff);
    let shared = email("shared");
    let mut usernames = Vec::new();
    for name in ["eve.one", "eve.two"] {
        let client = client_with_email(&s, &t, "organisation", &email("org")).await;
        let body = json!({"email": shared, "username": name, "password": PASSWORD});
        let (_, created) = staff.create_portal_user(client, body).await;
        wait_for_position(s.pool(), created.position, WAIT).await;
        usernames.push(name);
    }
    let portal = s.portal(&t.slug);
    // A shared address logs into neither login.
    let (status, _) = portal.try_login(&shared, PASSWORD).await;
    assert_eq!(status, 401);

    portal.forgot_password(&shared.to_uppercase()).await;
    let mails = sink.wait_for(&shared, 2).await;
    for name in usernames {
        let named = mails.iter().find(|m| m.text.contains(name));
        let mail = named.unwrap_or_else(|| panic!("no reset e-mail naming {name}"));
        assert_eq!(
            mail.header("x-portal-notification").unwrap(),
            "password_reset"
        );
    }
    // An address nobody has: the same 202, no e-mail.
    portal.forgot_password(&email("nobody")).await;
    assert_eq!(sink.mails_to(&shared).len(), 2);
}

#[tokio::test]
async fn while_the_portal_is_switched_off_nobody_is_invited() {
    let (_sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.staff);
    let client = client_with_email(&s, &t, "individual", &email("closed")).await;
    s.staff(&t.admin).set_portal(false).await;
    let before = event_count(s.pool(), t.id).await;
    staff
        .assert_refused(
            Method::POST,
            &format!("/api/v1/clients/{client}/invitations"),
            Some(json!({})),
            (409, "portal_inactive"),
        )
        .await;
    let bulk = staff.bulk_invite(json!({"client_ids": [client]})).await;
    assert!(bulk.invited.is_empty());
    assert_eq!(bulk.skipped.len(), 1);
    assert_eq!(bulk.skipped[0].reason, "portal_inactive");
    assert_eq!(event_count(s.pool(), t.id).await, before);

    s.staff(&t.admin).set_portal(true).await;
    staff.invite(client).await;
}
