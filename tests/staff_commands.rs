//! End to end over HTTP against PostgreSQL: every staff command route writes the events it
//! should, with metadata, and answers with the position of its last event.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn registering_changing_and_inviting_a_client() {
    let s = Server::start().await;
    let t = s.tenant().await;

    let (status, created) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": " Jo Smith ", "kind": "individual", "email": "jo@example.org", "external_ref": "PM-1"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let client = id_of(&created, "id");

    let (status, changed) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/clients/{client}"),
            &t.staff,
            Some(json!({"display_name": "Jo Smith-Jones"})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert!(changed["position"].as_i64().unwrap() > created["position"].as_i64().unwrap());

    let (status, invited) = s
        .post(
            &format!("/api/v1/clients/{client}/invitations"),
            &t.staff,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    let first_invitation = id_of(&invited, "invitation_id");
    assert!(invited["expires_at"].as_str().unwrap().ends_with('Z'));

    // Inviting again replaces the first invitation.
    let (status, again) = s
        .post(
            &format!("/api/v1/clients/{client}/invitations"),
            &t.staff,
            json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/clients/{client}/invitations/current"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/clients/{client}/invitations/current"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("no_open_invitation"))
    );

    // Clearing the email makes the client uninvitable.
    let (status, _) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/clients/{client}"),
            &t.staff,
            Some(json!({"email": null})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .post(
            &format!("/api/v1/clients/{client}/invitations"),
            &t.staff,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("client_has_no_email"))
    );

    let events = events_of_tenant(s.pool(), t.id).await;
    let client_events: Vec<&str> = events
        .iter()
        .filter(|e| e.aggregate_id == client)
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        client_events,
        [
            "ClientRegistered",
            "ClientRenamed",
            "ClientInvited",
            "InvitationRevoked",
            "ClientInvited",
            "InvitationRevoked",
            "ClientEmailChanged"
        ]
    );
    let registered = events
        .iter()
        .find(|e| e.event_type == "ClientRegistered")
        .unwrap();
    assert_eq!(
        registered.payload["ClientRegistered"]["display_name"],
        "Jo Smith"
    );
    assert_eq!(
        registered.payload["ClientRegistered"]["external_ref"],
        "PM-1"
    );
    let replaced = events
        .iter()
        .find(|e| e.event_type == "InvitationRevoked")
        .unwrap();
    assert_eq!(
        replaced.payload["InvitationRevoked"]["invitation_id"],
        first_invitation
    );
    assert_eq!(replaced.payload["InvitationRevoked"]["reason"], "replaced");
    let second_invite = events
        .iter()
        .filter(|e| e.event_type == "ClientInvited")
        .nth(1)
        .unwrap();
    assert_eq!(
        again["position"].as_i64(),
        Some(second_invite.position),
        "position of the command's last event"
    );

    // Every event carries who, where and why.
    for e in events.iter().filter(|e| e.aggregate_type == "client") {
        let m = &e.metadata;
        assert_eq!(m["tenant_id"], t.id.to_string());
        assert!(
            m["actor"].as_str().unwrap().starts_with("staff_token:"),
            "{m}"
        );
        assert!(!m["request_id"].as_str().unwrap().is_empty());
        assert_eq!(m["client_ip"], "127.0.0.1");
        assert!(m["command"].as_str().unwrap().len() > 3);
        assert!(m.get("user_agent").is_some());
    }
    let invite_meta = &events
        .iter()
        .find(|e| e.event_type == "ClientInvited")
        .unwrap()
        .metadata;
    assert_eq!(invite_meta["command"], "InviteClient");
}

#[tokio::test]
async fn portal_users_from_creation_to_removal() {
    let s = Server::start().await;
    let t = s.tenant().await;
    let (_, org) = s
        .post("/api/v1/clients", &t.staff, json!({"display_name": "Acme Ltd", "kind": "organisation", "email": "office@acme.example"}))
        .await;
    let org = id_of(&org, "id");
    let (_, branch) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Acme North", "kind": "organisation"}),
        )
        .await;
    let branch = id_of(&branch, "id");

    // Chosen username and a password: active at once.
    let (status, alice) = s
        .post(
            &format!("/api/v1/clients/{org}/portal-users"),
            &t.staff,
            json!({"email": "alice@acme.example", "username": "Alice.Acme", "password": "a long enough secret"}),
        )
        .await;
    assert_eq!(status, 201, "{alice}");
    assert_eq!(alice["status"], "active");
    assert_eq!(alice["username"], "Alice.Acme");
    let alice = id_of(&alice, "id");

    // No username, no password: generated username, activation pending.
    let (status, bob) = s
        .post(
            &format!("/api/v1/clients/{org}/portal-users"),
            &t.staff,
            json!({"email": "bob@acme.example"}),
        )
        .await;
    assert_eq!(status, 201, "{bob}");
    assert_eq!(bob["status"], "pending_activation");
    assert!(bob["username"].as_str().unwrap().starts_with("bob-"));
    let bob = id_of(&bob, "id");

    // Same username in another case is taken.
    let (status, problem) = s
        .post(
            &format!("/api/v1/clients/{org}/portal-users"),
            &t.staff,
            json!({"email": "a@acme.example", "username": "alice.ACME"}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("username_taken"))
    );

    // Group login: Alice reaches the branch too, then not.
    let (status, _) = s
        .post(
            &format!("/api/v1/portal-users/{alice}/client-access"),
            &t.staff,
            json!({"client_id": branch}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .post(
            &format!("/api/v1/portal-users/{alice}/client-access"),
            &t.staff,
            json!({"client_id": branch}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("client_access_exists"))
    );
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/portal-users/{alice}/client-access/{branch}"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/portal-users/{alice}/client-access/{org}"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("last_client_access"))
    );

    // Resets, both modes.
    let (status, _) = s
        .post(
            &format!("/api/v1/portal-users/{alice}/password-reset"),
            &t.staff,
            json!({"mode": "email_link"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(
            &format!("/api/v1/portal-users/{alice}/password-reset"),
            &t.staff,
            json!({"mode": "set", "new_password": "another long secret"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .post(
            &format!("/api/v1/portal-users/{alice}/password-reset"),
            &t.staff,
            json!({"mode": "set", "new_password": "short"}),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("new_password"))
    );
    let (status, _) = s
        .post(
            &format!("/api/v1/portal-users/{bob}/password-reset"),
            &t.staff,
            json!({"mode": "email_link"}),
        )
        .await;
    assert_eq!(status, 200);

    // Disable, enable, remove.
    let (status, _) = s
        .post(
            &format!("/api/v1/portal-users/{alice}/disable"),
            &t.staff,
            json!({"reason": "left the company"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .post(
            &format!("/api/v1/portal-users/{alice}/disable"),
            &t.staff,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("already_disabled"))
    );
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/portal-users/{alice}/enable"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/portal-users/{bob}/disable"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200, "disable takes no body");
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/portal-users/{bob}"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .call(
            Method::POST,
            &format!("/api/v1/portal-users/{bob}/enable"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("portal_user_removed"))
    );

    let events = events_of_tenant(s.pool(), t.id).await;
    let alice_events: Vec<&str> = events
        .iter()
        .filter(|e| e.aggregate_id == alice)
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        alice_events,
        [
            "PortalUserCreated",
            "ClientAccessGranted",
            "ClientAccessRevoked",
            "PasswordResetLinkIssued",
            "PasswordChanged",
            "LoginDisabled",
            "LoginEnabled"
        ]
    );
    let bob_events: Vec<&str> = events
        .iter()
        .filter(|e| e.aggregate_id == bob)
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        bob_events,
        [
            "PortalUserCreated",
            "ActivationLinkIssued",
            "ActivationLinkIssued",
            "LoginDisabled",
            "PortalAccessRemoved"
        ]
    );
    let org_events: Vec<&str> = events
        .iter()
        .filter(|e| e.aggregate_id == org)
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        org_events,
        [
            "ClientRegistered",
            "PortalUserAttached",
            "PortalUserAttached",
            "PortalUserDetached"
        ]
    );

    // The credential exists for Alice only, and nothing secret is in the log.
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT password_hash FROM portal_credentials WHERE tenant_id = $1")
            .bind(t.id)
            .fetch_all(s.pool())
            .await
            .unwrap();
    assert_eq!(hashes.len(), 1);
    assert!(hashes[0].starts_with("$argon2id$"));
    let log = serde_json::to_string(
        &events
            .iter()
            .map(|e| (&e.payload, &e.metadata))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for secret in [
        "a long enough secret",
        "another long secret",
        "argon2",
        &hashes[0],
    ] {
        assert!(!log.contains(secret), "{secret} leaked into the event log");
    }
}

#[tokio::test]
async fn an_individual_client_has_at_most_one_portal_user_until_it_is_removed() {
    let s = Server::start().await;
    let t = s.tenant().await;
    let (_, jo) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Jo", "kind": "individual", "email": "jo@example.org"}),
        )
        .await;
    let jo = id_of(&jo, "id");
    let (status, first) = s
        .post(
            &format!("/api/v1/clients/{jo}/portal-users"),
            &t.staff,
            json!({"email": "jo@example.org"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, problem) = s
        .post(
            &format!("/api/v1/clients/{jo}/portal-users"),
            &t.staff,
            json!({"email": "jo@example.org"}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("individual_client_has_user"))
    );
    let before = event_count(s.pool(), t.id).await;
    let (status, problem) = s
        .post(
            &format!("/api/v1/clients/{jo}/invitations"),
            &t.staff,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("individual_client_has_user"))
    );
    assert_eq!(
        event_count(s.pool(), t.id).await,
        before,
        "refusals write nothing"
    );

    let first = id_of(&first, "id");
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/portal-users/{first}"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);
    // Removal frees the client: it can be invited again and take a new login.
    let (status, _) = s
        .post(
            &format!("/api/v1/clients/{jo}/invitations"),
            &t.staff,
            json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, second) = s
        .post(
            &format!("/api/v1/clients/{jo}/portal-users"),
            &t.staff,
            json!({"email": "jo@example.org", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    // An active login blocks invitations.
    let (status, problem) = s
        .post(
            &format!("/api/v1/clients/{jo}/invitations"),
            &t.staff,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("client_already_active"))
    );
}

#[tokio::test]
async fn items_prices_images_and_assignment() {
    let s = Server::start().await;
    let t = s.tenant().await;
    let (_, client) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Acme", "kind": "organisation"}),
        )
        .await;
    let client = id_of(&client, "id");
    let (status, item) = s
        .post("/api/v1/items", &t.staff, json!({"sku": "TAX-RET", "name": "Tax return", "unit_price": {"amount_minor": 25000, "currency": "GBP"}}))
        .await;
    assert_eq!(status, 201, "{item}");
    let item = id_of(&item, "id");
    let (status, problem) = s
        .post("/api/v1/items", &t.staff, json!({"sku": "tax-ret", "name": "Dup", "unit_price": {"amount_minor": 1, "currency": "GBP"}}))
        .await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("sku_taken")));

    let (status, _) = s
        .call(
            Method::PUT,
            &format!("/api/v1/items/{item}/price"),
            &t.staff,
            Some(json!({"unit_price": {"amount_minor": 27500, "currency": "GBP"}})),
        )
        .await;
    assert_eq!(status, 200);

    let png = portal_accounts::http::png::tiny_png();
    let put_image = |body: Vec<u8>, content_type: &'static str| {
        s.request(
            Method::PUT,
            &format!("/api/v1/items/{item}/image"),
            &t.staff,
        )
        .header("content-type", content_type)
        .body(body)
    };
    let (status, _) = send(put_image(png.clone(), "image/png")).await;
    assert_eq!(status, 200);
    let image = s
        .request(
            Method::GET,
            &format!("/api/v1/items/{item}/image"),
            &t.reporting,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(image.bytes().await.unwrap().to_vec(), png);
    let (status, problem) = send(put_image(b"GIF89a not a png".to_vec(), "image/png")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (status, _) = send(put_image(vec![0; 2 * 1024 * 1024 + 1], "image/png")).await;
    assert_eq!(status, 413);

    let (status, _) = s
        .post(
            &format!("/api/v1/clients/{client}/items"),
            &t.staff,
            json!({"item_id": item}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, problem) = s
        .post(
            &format!("/api/v1/clients/{client}/items"),
            &t.staff,
            json!({"item_id": item}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("item_already_assigned"))
    );
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/clients/{client}/items/{item}"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/clients/{client}/items/{item}"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("item_not_assigned"))
    );

    let events = events_of_tenant(s.pool(), t.id).await;
    let types: Vec<&str> = events
        .iter()
        .skip(1)
        .filter(|e| e.aggregate_type != "tenant")
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "ClientRegistered",
            "ItemCreated",
            "ItemPriceChanged",
            "ItemImageSet",
            "ItemAssigned",
            "ItemUnassigned"
        ]
    );
    let changed = events
        .iter()
        .find(|e| e.event_type == "ItemPriceChanged")
        .unwrap();
    assert_eq!(
        changed.payload["ItemPriceChanged"]["previous"]["amount_minor"],
        25000
    );
    let image_set = events
        .iter()
        .find(|e| e.event_type == "ItemImageSet")
        .unwrap();
    assert_eq!(image_set.payload["ItemImageSet"]["size_bytes"], png.len());
}

#[tokio::test]
async fn contracts_are_issued_and_voided() {
    let s = Server::start().await;
    let t = s.tenant().await;
    let (_, client) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "Jo", "kind": "individual"}),
        )
        .await;
    let client = id_of(&client, "id");
    let (status, contract) = s
        .post(
            &format!("/api/v1/clients/{client}/contracts"),
            &t.staff,
            json!({"title": "Letter of engagement", "body": "We will do your books.\nFees: £100."}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    let expected = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(
            "Letter of engagement\nWe will do your books.\nFees: £100.".as_bytes(),
        ))
    };
    assert_eq!(contract["content_sha256"], expected);
    let id = id_of(&contract, "id");
    let (status, _) = s
        .post(
            &format!("/api/v1/contracts/{id}/void"),
            &t.staff,
            json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = s
        .post(&format!("/api/v1/contracts/{id}/void"), &t.staff, json!({}))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("contract_voided"))
    );
}

#[tokio::test]
async fn the_portal_switch_is_for_admins() {
    let s = Server::start().await;
    let t = s.tenant().await;
    let (status, problem) = s
        .call(
            Method::PUT,
            "/api/v1/settings/portal",
            &t.staff,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("forbidden_role"))
    );
    let (status, _) = s
        .call(
            Method::PUT,
            "/api/v1/settings/portal",
            &t.admin,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200);
    let events = events_of_tenant(s.pool(), t.id).await;
    let last = events.last().unwrap();
    assert_eq!(
        (
            last.event_type.as_str(),
            &last.payload["PortalActivationChanged"]["active"]
        ),
        ("PortalActivationChanged", &json!(false))
    );
}

#[tokio::test]
async fn bulk_invitations_by_ids_and_by_filter() {
    let s = Server::start().await;
    let t = s.tenant().await;
    let mut with_email = Vec::new();
    for i in 0..5 {
        let (_, c) = s
            .post("/api/v1/clients", &t.staff, json!({"display_name": format!("C{i}"), "kind": "individual", "email": format!("c{i}@example.org")}))
            .await;
        with_email.push(id_of(&c, "id"));
    }
    let (_, no_email) = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "No mail", "kind": "individual"}),
        )
        .await;
    let no_email = id_of(&no_email, "id");
    let unknown = uuid::Uuid::now_v7().to_string();

    let (status, result) = s
        .post(
            "/api/v1/invitations/bulk",
            &t.staff,
            json!({"client_ids": [with_email[0], with_email[1], no_email, unknown]}),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["invited"].as_array().unwrap().len(), 2);
    let reasons: Vec<(&str, &str)> = result["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["client_id"].as_str().unwrap(),
                s["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (no_email.as_str(), "no_email"),
            (unknown.as_str(), "not_found")
        ]
    );

    let (status, result) = s
        .post(
            "/api/v1/invitations/bulk",
            &t.staff,
            json!({"filter": "not_invited"}),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    let invited: Vec<&str> = result["invited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        invited,
        &with_email[2..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()[..]
    );
    let skipped: Vec<&str> = result["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["already_invited", "already_invited", "no_email"]);

    let invitations: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'ClientInvited'",
    )
    .bind(t.id)
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(invitations, 5);
}
