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
    let assigned = staff.assign_item(client, item).await;
    // The portal reads the item lists' read model: wait until it has the assignment.
    common::wait_for_position(s.pool(), assigned.position, Duration::from_secs(30)).await;
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

/// Each seed portal's own workflows, staff side then client side, as their help pages tell
/// them (seeds 000–004 in `../shared/seeds/`).
mod each_seed {
    use super::*;
    use aggregates::ids::ClientId;
    use common::portal_flow::{email, mailing, PASSWORD};
    use common::{wait_for_position, Tenant};

    const WAIT: Duration = Duration::from_secs(10);

    /// Waits until the read models have caught up with the firm's last event.
    async fn settled(s: &Server, t: &Tenant) {
        let last: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(global_position), 0) FROM events WHERE tenant_id = $1",
        )
        .bind(t.id)
        .fetch_one(s.pool())
        .await
        .unwrap();
        wait_for_position(s.pool(), last, WAIT).await;
    }

    /// 000 (imPowr partner portal): the portal is activated before anyone is invited; a
    /// contract template waits for a signer who must sign in first.
    #[tokio::test]
    async fn activate_the_portal_then_a_contract_waits_for_its_signer() {
        let (sink, s, t) = mailing(|_| {}).await;
        let (staff, admin) = (s.staff(&t.staff), s.staff(&t.admin));
        let to = email("partner");
        let partner = staff
            .register_client("Pat Partner", "individual", Some(&to))
            .await;
        admin.set_portal(false).await;
        let path = format!("/api/v1/clients/{partner}/invitations");
        staff
            .assert_refused(
                Method::POST,
                &path,
                Some(json!({})),
                (409, "portal_inactive"),
            )
            .await;
        admin.set_portal(true).await;

        let issued = staff
            .ok(
                Method::POST,
                &format!("/api/v1/clients/{partner}/contracts"),
                Some(json!({"title": "Partner agreement", "body": "Terms."})),
            )
            .await;
        assert_eq!(issued["awaiting_login"], json!(true));
        settled(&s, &t).await;
        staff.invite(partner).await;
        let invitation = sink.wait_for(&to, 1).await.remove(0);
        assert!(
            invitation.text.contains("\"Partner agreement\""),
            "{}",
            invitation.text
        );

        // The partner signs in and signs, under the name the invitation's client gave.
        let portal = s.portal(&t.slug);
        portal
            .accept_invitation(&invitation.token(), "pat.partner", PASSWORD)
            .await;
        let token = portal.login("pat.partner", PASSWORD).await.session_token;
        let me = portal.signed_in(&token);
        let waiting = eventually("the agreement on the portal", WAIT, || async {
            me.contracts().await.items.into_iter().next()
        })
        .await;
        assert_eq!(waiting.client_display_name, "Pat Partner");
        let id = aggregates::ids::ContractId::from_uuid(waiting.id);
        let body = json!({"content_sha256": waiting.content_sha256, "agree": true});
        me.sign(id, body).await;
        let signed = eventually("the signature", WAIT, || async {
            staff.contract(id, "").await.signature
        })
        .await;
        assert_eq!(signed.signer_name, "Pat Partner");
    }

    /// 001 (M-Power): logins for customers, an activation e-mailed again, a password reset,
    /// a login disabled and enabled, products with images and prices put on and taken off
    /// a portal, and a customer with branches.
    #[tokio::test]
    async fn logins_products_and_branches_for_a_distributor() {
        let (sink, s, t) = mailing(|_| {}).await;
        let staff = s.staff(&t.staff);
        let portal = s.portal(&t.slug);
        let buyer = email("buyer");
        let head = staff
            .register_client("Northwind Ltd", "organisation", Some(&email("nw")))
            .await;
        let branch = staff
            .register_client("Northwind Leeds", "organisation", Some(&email("leeds")))
            .await;
        let body = json!({"email": buyer, "username": "nw.buyer", "first_name": "Nia"});
        let (user, _) = staff.create_portal_user(head, body).await;
        sink.wait_for(&buyer, 1).await;
        staff.on_login(user, "activation", None).await;
        let fresh = sink.wait_for(&buyer, 2).await.remove(1);
        assert!(fresh.text.contains("Hello Nia,"), "{}", fresh.text);
        portal.activate(&fresh.token(), PASSWORD).await;

        // Branches: one login reaches both areas.
        staff
            .on_login(user, "client-access", Some(json!({"client_id": branch})))
            .await;
        let item = staff.create_item("WIDGET-9", "Widget", 950).await;
        staff
            .set_image(item, portal_accounts::http::png::tiny_png())
            .await;
        staff.assign_item(branch, item).await;
        staff.change_price(item, 1_050).await;
        settled(&s, &t).await;
        let token = portal.login("nw.buyer", PASSWORD).await.session_token;
        let me = portal.signed_in(&token);
        assert_eq!(me.me().await.clients.len(), 2);
        let items = me.client_items(branch).await.items;
        assert_eq!(items[0].unit_price.amount_minor, 1_050);
        assert!(me.client_items(head).await.items.is_empty());
        staff.unassign_item(branch, item).await;
        settled(&s, &t).await;
        assert!(me.client_items(branch).await.items.is_empty());

        // A forgotten password, reset from the e-mail; a disabled login cannot log in.
        portal.forgot_password("nw.buyer").await;
        let reset = sink.wait_for(&buyer, 3).await.remove(2);
        portal
            .reset_password(&reset.token(), "another long password")
            .await;
        staff
            .on_login(user, "disable", Some(json!({"reason": "left the company"})))
            .await;
        let (status, refused) = portal.try_login("nw.buyer", "another long password").await;
        assert_eq!(
            (status, refused["code"].clone()),
            (403, json!("login_disabled"))
        );
        staff.on_login(user, "enable", None).await;
        portal.login("nw.buyer", "another long password").await;
    }

    /// 002 (Procentive): staff turn the module on and test it as a client, who registers,
    /// logs in, and forgets first the username and then the password.
    #[tokio::test]
    async fn a_test_client_registers_logs_in_and_recovers_the_login() {
        let (sink, s, t) = mailing(|_| {}).await;
        let staff = s.staff(&t.staff);
        let portal = s.portal(&t.slug);
        let to = email("fake");
        let fake = staff
            .register_client("Fake Client", "individual", Some(&to))
            .await;
        staff.invite(fake).await;
        let invitation = sink.wait_for(&to, 1).await.remove(0);
        portal
            .accept_invitation(&invitation.token(), "fake.client", PASSWORD)
            .await;
        settled(&s, &t).await;
        portal.forgot_username(&to).await;
        let reminder = sink.wait_for(&to, 2).await.remove(1);
        assert!(reminder.text.contains("fake.client"), "{}", reminder.text);
        assert!(
            reminder.text.contains("Hello Fake Client,"),
            "{}",
            reminder.text
        );
        portal.forgot_password(&to).await;
        let reset = sink.wait_for(&to, 3).await.remove(2);
        portal
            .reset_password(&reset.token(), "a new long password")
            .await;
        portal.login(&to, "a new long password").await;
    }

    /// 003 (Practice Manager Document Hub): a group portal login reaches several client
    /// areas; an individual client has one portal user, an organisation several.
    #[tokio::test]
    async fn group_logins_and_one_user_per_individual() {
        let (_sink, s, t) = mailing(|_| {}).await;
        let staff = s.staff(&t.staff);
        let person = staff
            .register_client("Ivy Individual", "individual", Some(&email("ivy")))
            .await;
        let firm = staff
            .register_client("Oak Partners", "organisation", Some(&email("oak")))
            .await;
        let login = |address: String| json!({"email": address, "password": PASSWORD});
        let (ivy, _) = staff.create_portal_user(person, login(email("ivy1"))).await;
        let path = format!("/api/v1/clients/{person}/portal-users");
        staff
            .assert_refused(
                Method::POST,
                &path,
                Some(login(email("ivy2"))),
                (409, "individual_client_has_user"),
            )
            .await;
        staff.create_portal_user(firm, login(email("oak1"))).await;
        let (second, created) = staff.create_portal_user(firm, login(email("oak2"))).await;
        staff
            .on_login(ivy, "client-access", Some(json!({"client_id": firm})))
            .await;
        settled(&s, &t).await;
        let detail = staff.client(firm).await;
        assert_eq!(detail.portal_users.len(), 3, "two users and a group login");
        assert!(detail.portal_users.iter().any(|u| u.id == second.uuid()));
        let token = s.portal(&t.slug).login(&created.username, PASSWORD).await;
        assert_eq!(
            s.portal(&t.slug)
                .signed_in(&token.session_token)
                .me()
                .await
                .clients
                .len(),
            1
        );
    }

    /// 004 (Engager): invite clients one by one or in bulk, and remind those who never
    /// logged in (the client list shows who has).
    #[tokio::test]
    async fn invite_in_bulk_and_remind_whoever_never_logged_in() {
        let (sink, s, t) = mailing(|_| {}).await;
        let staff = s.staff(&t.staff);
        let mut clients: Vec<(ClientId, String)> = Vec::new();
        for name in ["Ada", "Ben", "Cy"] {
            let to = email(name);
            let id = staff
                .register_client(&format!("{name} Client"), "individual", Some(&to))
                .await;
            clients.push((id, to));
        }
        let ids: Vec<ClientId> = clients.iter().map(|c| c.0).collect();
        let bulk = staff.bulk_invite(json!({"client_ids": ids})).await;
        assert_eq!(bulk.invited.len(), 3);
        let (ada, ada_to) = &clients[0];
        let invitation = sink.wait_for(ada_to, 1).await.remove(0);
        let portal = s.portal(&t.slug);
        portal
            .accept_invitation(&invitation.token(), "ada.c", PASSWORD)
            .await;
        settled(&s, &t).await;
        portal.login("ada.c", PASSWORD).await;

        // Who never logged in: reminded with a fresh invitation.
        let listed = staff.list_clients("").await.items;
        let never: Vec<_> = listed
            .iter()
            .filter(|c| c.last_login_at.is_none())
            .map(|c| ClientId::from_uuid(c.id))
            .collect();
        assert_eq!(never.len(), 2, "{listed:?}");
        assert!(listed
            .iter()
            .any(|c| c.id == ada.uuid() && c.last_login_at.is_some()));
        for client in never {
            staff.invite(client).await;
        }
        for (client, to) in &clients[1..] {
            assert_eq!(sink.wait_for(to, 2).await.len(), 2, "{client} reminded");
        }
    }
}
