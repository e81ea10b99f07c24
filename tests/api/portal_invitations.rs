//! Invitations end to end: the e-mail link, accepting, logging in, items and signing; every
//! refused invitation token answered alike; a taken username leaves the invitation usable.

use crate::common;

use common::portal_flow::*;
use common::smtp::Mail;
use common::{eventually, id_of, send, Tenant};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn a_client_follows_the_invitation_email_logs_in_sees_items_and_signs() {
    let (sink, s, t) = mailing(|_| {}).await;
    let to = email("flow");
    let client = client_with_email(&s, &t, "individual", &to).await;
    let item = s
        .staff(&t.staff)
        .create_item("BOOK-1", "Bookkeeping", 4500)
        .await
        .to_string();
    s.staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{client}/items"),
            Some(json!({"item_id": item})),
        )
        .await;
    let contract = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{client}/contracts"),
            Some(json!({"title": "Engagement letter", "body": "We keep your books."})),
        )
        .await;
    let contract_id = id_of(&contract, "id");
    let content_sha256 = id_of(&contract, "content_sha256");
    invite(&s, &t, client).await;

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

    // The link opens a hosted page (served here, as PORTAL_PUBLIC_URL is this server) whose
    // form posts back to it; the token must not leak onwards as a Referer.
    let page = s.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"/portal/{}/accept-invitation\"", t.slug)),
        "{html}"
    );
    let unknown = s
        .http
        .get(format!("{}/portal/no-such-firm/activate", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("Page not found"));

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

    let signed_in = s.portal(&t.slug);
    let signed_in = signed_in.signed_in(&token);
    let limit = Duration::from_secs(10);
    let items = eventually("the item on the client's portal", limit, || async {
        let items = signed_in.client_items(client).await.items;
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(items[0].sku, "BOOK-1");
    assert_eq!(items[0].unit_price.amount_minor, 4500);

    // The item's picture, for this login; none for an item on nobody's portal here.
    let png = portal_accounts::http::png::tiny_png();
    let staff = s.staff(&t.staff);
    staff.set_image(item.parse().unwrap(), png.clone()).await;
    assert_eq!(signed_in.item_image(item.parse().unwrap()).await, png);
    let other = staff.create_item("OTHER-1", "Not yours", 100).await;
    staff.set_image(other, png.clone()).await;
    let template = "/portal/v1/{tenant_slug}/items/{item_id}/image";
    let (status, _) = signed_in.call(Method::GET, template, &[&other], None).await;
    assert_eq!(status, 404);

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

    // The invitation, then the signature's confirmation (the contract was issued before the
    // client had a login, so nobody was asked by e-mail to sign it).
    let log = notifications_until(&s, &t, client, |n| {
        n.len() == 2 && n.iter().all(|x| x["status"] == "sent")
    })
    .await;
    let kinds: Vec<&str> = log.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["invitation", "contract_signed"]);
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
    let (sink, s, t) = mailing(|_| {}).await;
    let other = s.tenant().await;
    let to = email("tok");
    let client = client_with_email(&s, &t, "organisation", &to).await;

    invite(&s, &t, client).await;
    let first = sink.wait_for(&to, 1).await[0].token();
    invite(&s, &t, client).await;
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
    let _ = s
        .staff(&t.staff)
        .ok(
            Method::DELETE,
            &format!("/api/v1/clients/{client}/invitations/current"),
            None,
        )
        .await;
    assert_eq!(accept(second, &t).await.0, 410);

    // Expired.
    invite(&s, &t, client).await;
    let third = sink.wait_for(&to, 3).await[2].token();
    s.app
        .clock
        .advance(s.app.limits.invitation_ttl + chrono::Duration::seconds(1));
    let (status, body) = accept(third, &t).await;
    assert_eq!(
        (status, body["code"].clone()),
        (410, json!("invitation_invalid"))
    );
}

#[tokio::test]
async fn a_taken_username_leaves_the_invitation_usable_and_reset_links_expire() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (_, _, taken, first_to) = invited_and_accepted(&s, &sink, &t).await;

    let to = email("second");
    let client = client_with_email(&s, &t, "individual", &to).await;
    invite(&s, &t, client).await;
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

    s.portal(&t.slug).forgot_password(&taken).await;
    let reset = sink.wait_for(&first_to, 2).await[1].token();
    s.app
        .clock
        .advance(s.app.limits.reset_ttl + chrono::Duration::seconds(1));
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
