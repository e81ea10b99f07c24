//! Staff commands on portal logins: creation (active or pending), unique usernames, group
//! logins, resets, disable/enable/remove — and at most one login for an individual client.

use crate::common;

use aggregates::portal_user::LoginStatus;
use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn portal_users_are_created_active_or_pending_and_usernames_are_unique() {
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);
    let org = staff
        .register_client("Acme Ltd", "organisation", Some("office@acme.example"))
        .await;

    // Chosen username and a password: active at once.
    let (alice, created) = staff
        .create_portal_user(
            org,
            json!({"email": "alice@acme.example", "username": "Alice.Acme", "password": "a long enough secret"}),
        )
        .await;
    assert_eq!(created.status, LoginStatus::Active);
    assert_eq!(created.username, "Alice.Acme");

    // No username, no password: generated username, activation pending.
    let (bob, created) = staff
        .create_portal_user(org, json!({"email": "bob@acme.example"}))
        .await;
    assert_eq!(created.status, LoginStatus::PendingActivation);
    assert!(created.username.starts_with("bob-"));

    // Same username in another case is taken.
    let path = format!("/api/v1/clients/{org}/portal-users");
    let taken = json!({"email": "a@acme.example", "username": "alice.ACME"});
    staff
        .assert_refused(Method::POST, &path, Some(taken), (409, "username_taken"))
        .await;

    let events = events_of_tenant(s.pool(), t.id).await;
    assert_eq!(types_of(&events, alice), ["PortalUserCreated"]);
    assert_eq!(
        types_of(&events, bob),
        ["PortalUserCreated", "ActivationLinkIssued"]
    );
    assert_eq!(
        types_of(&events, org),
        [
            "ClientRegistered",
            "PortalUserAttached",
            "PortalUserAttached"
        ]
    );

    // The credential exists for Alice only, and nothing secret is in the log.
    let hashes = common::password_hashes(s.pool(), t.id).await;
    assert_eq!(hashes.len(), 1);
    assert!(hashes[0].starts_with("$argon2id$"));
    let log = serde_json::to_string(
        &events
            .iter()
            .map(|e| (&e.payload, &e.metadata))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for secret in ["a long enough secret", "argon2", &hashes[0]] {
        assert!(!log.contains(secret), "{secret} leaked into the event log");
    }
}

#[tokio::test]
async fn a_group_login_reaches_more_clients_but_never_none() {
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);
    let org = staff
        .register_client("Acme Ltd", "organisation", None)
        .await;
    let branch = staff
        .register_client("Acme North", "organisation", None)
        .await;
    let (alice, _) = staff
        .create_portal_user(org, json!({"email": "alice@acme.example"}))
        .await;

    let grant = json!({"client_id": branch});
    staff
        .on_login(alice, "client-access", Some(grant.clone()))
        .await;
    let access = format!("/api/v1/portal-users/{alice}/client-access");
    staff
        .assert_refused(
            Method::POST,
            &access,
            Some(grant),
            (409, "client_access_exists"),
        )
        .await;
    staff
        .ok(Method::DELETE, &format!("{access}/{branch}"), None)
        .await;
    staff
        .assert_refused(
            Method::DELETE,
            &format!("{access}/{org}"),
            None,
            (409, "last_client_access"),
        )
        .await;

    let events = events_of_tenant(s.pool(), t.id).await;
    assert_eq!(
        types_of(&events, alice),
        [
            "PortalUserCreated",
            "ActivationLinkIssued",
            "ClientAccessGranted",
            "ClientAccessRevoked"
        ]
    );
    assert_eq!(
        types_of(&events, branch),
        [
            "ClientRegistered",
            "PortalUserAttached",
            "PortalUserDetached"
        ]
    );
}

#[tokio::test]
async fn resets_disable_enable_and_remove_write_their_events() {
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);
    let org = staff
        .register_client("Acme Ltd", "organisation", None)
        .await;
    let (alice, _) = staff
        .create_portal_user(
            org,
            json!({"email": "alice@acme.example", "username": "Alice.Acme", "password": "a long enough secret"}),
        )
        .await;
    let (bob, _) = staff
        .create_portal_user(org, json!({"email": "bob@acme.example"}))
        .await;

    // Resets, both modes; a short password names its field.
    let reset = |body| Some(body);
    staff
        .on_login(
            alice,
            "password-reset",
            reset(json!({"mode": "email_link"})),
        )
        .await;
    let set = json!({"mode": "set", "new_password": "another long secret"});
    staff.on_login(alice, "password-reset", reset(set)).await;
    let path = format!("/api/v1/portal-users/{alice}/password-reset");
    let short = json!({"mode": "set", "new_password": "short"});
    let (status, problem) = staff.call(Method::POST, &path, Some(short)).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("new_password"))
    );
    staff
        .on_login(bob, "password-reset", reset(json!({"mode": "email_link"})))
        .await;

    // Disable (with or without a body), enable, remove.
    let reason = json!({"reason": "left the company"});
    staff.on_login(alice, "disable", Some(reason)).await;
    let disable = format!("/api/v1/portal-users/{alice}/disable");
    staff
        .assert_refused(
            Method::POST,
            &disable,
            Some(json!({})),
            (409, "already_disabled"),
        )
        .await;
    staff.on_login(alice, "enable", None).await;
    staff.on_login(bob, "disable", None).await;
    staff
        .ok(Method::DELETE, &format!("/api/v1/portal-users/{bob}"), None)
        .await;
    let enable = format!("/api/v1/portal-users/{bob}/enable");
    staff
        .assert_refused(Method::POST, &enable, None, (409, "portal_user_removed"))
        .await;

    let events = events_of_tenant(s.pool(), t.id).await;
    assert_eq!(
        types_of(&events, alice),
        [
            "PortalUserCreated",
            "PasswordResetLinkIssued",
            "PasswordChanged",
            "LoginDisabled",
            "LoginEnabled"
        ]
    );
    assert_eq!(
        types_of(&events, bob),
        [
            "PortalUserCreated",
            "ActivationLinkIssued",
            "ActivationLinkIssued",
            "LoginDisabled",
            "PortalAccessRemoved"
        ]
    );
    assert_eq!(
        types_of(&events, org),
        [
            "ClientRegistered",
            "PortalUserAttached",
            "PortalUserAttached",
            "PortalUserDetached"
        ]
    );
}

#[tokio::test]
async fn an_individual_client_has_at_most_one_portal_user_until_it_is_removed() {
    let (s, t) = Server::with_firm().await;
    let jo = s
        .staff(&t.staff)
        .register_client("Jo", "individual", Some("jo@example.org"))
        .await
        .to_string();
    let first = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{jo}/portal-users"),
            Some(json!({"email": "jo@example.org"})),
        )
        .await;
    s.staff(&t.staff)
        .assert_refused(
            Method::POST,
            &format!("/api/v1/clients/{jo}/portal-users"),
            Some(json!({"email": "jo@example.org"})),
            (409, "individual_client_has_user"),
        )
        .await;
    let before = event_count(s.pool(), t.id).await;
    s.staff(&t.staff)
        .assert_refused(
            Method::POST,
            &format!("/api/v1/clients/{jo}/invitations"),
            Some(json!({})),
            (409, "individual_client_has_user"),
        )
        .await;
    assert_eq!(
        event_count(s.pool(), t.id).await,
        before,
        "refusals write nothing"
    );

    let first = id_of(&first, "id");
    let _ = s
        .staff(&t.staff)
        .ok(
            Method::DELETE,
            &format!("/api/v1/portal-users/{first}"),
            None,
        )
        .await;
    // Removal frees the client: it can be invited again and take a new login.
    let _ = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{jo}/invitations"),
            Some(json!({})),
        )
        .await;
    s.staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{jo}/portal-users"),
            Some(json!({"email": "jo@example.org", "password": "correct horse battery"})),
        )
        .await;
    // An active login blocks invitations.
    s.staff(&t.staff)
        .assert_refused(
            Method::POST,
            &format!("/api/v1/clients/{jo}/invitations"),
            Some(json!({})),
            (409, "client_already_active"),
        )
        .await;
}

#[tokio::test]
async fn staff_see_a_lockout_and_its_reason_and_lift_it() {
    let (s, t) = Server::reading_with_firm().await;
    let staff = s.staff(&t.staff);
    let client = staff
        .register_client("Lockout Ltd", "organisation", None)
        .await;
    let password = "correct horse battery staple";
    let (user, created) = staff
        .create_portal_user(
            client,
            json!({"email": "locked@example.org", "username": "locked-out-lou", "password": password}),
        )
        .await;
    let login = |pw: &'static str| {
        let (s, t) = (&s, &t);
        async move {
            s.http
                .post(format!("{}/portal/v1/{}/login", s.base, t.slug))
                .json(&json!({"username": "locked-out-lou", "password": pw}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..5 {
        assert_eq!(login("wrong wrong wrong").await, 401);
    }
    assert_eq!(login("correct horse battery staple").await, 429);
    let shown = staff
        .get(&format!(
            "/api/v1/portal-users/{user}?min_position={}",
            created.position
        ))
        .await;
    assert_eq!(shown["status"], "locked");
    assert!(shown["locked_until"].is_string(), "{shown}");

    let unlocked = staff
        .ok(
            Method::POST,
            &format!("/api/v1/portal-users/{user}/unlock"),
            None,
        )
        .await;
    assert!(unlocked["position"].is_i64());
    assert_eq!(login("correct horse battery staple").await, 200);
    staff
        .assert_refused(
            Method::POST,
            &format!("/api/v1/portal-users/{user}/unlock"),
            None,
            (409, "not_locked"),
        )
        .await;
    let shown = staff.get(&format!("/api/v1/portal-users/{user}")).await;
    assert_eq!(shown["locked_until"], serde_json::Value::Null);

    // Why it was disabled, while it is.
    let disabled = staff
        .on_login(user, "disable", Some(json!({"reason": "left the company"})))
        .await;
    let shown = staff
        .get(&format!(
            "/api/v1/portal-users/{user}?min_position={}",
            disabled.position
        ))
        .await;
    assert_eq!(shown["disabled_reason"], "left the company");
    let enabled = staff.on_login(user, "enable", None).await;
    let shown = staff
        .get(&format!(
            "/api/v1/portal-users/{user}?min_position={}",
            enabled.position
        ))
        .await;
    assert_eq!(shown["disabled_reason"], serde_json::Value::Null);
}
