//! Staff commands on clients over HTTP against PostgreSQL: register, change, invite (one
//! and in bulk), the portal switch; each writes the events it should, with metadata, and
//! answers with the position of its last event.

use crate::common;

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
        assert_eq!(m["actor"]["kind"], "staff", "{m}");
        assert_eq!(m["actor"]["name"], "test", "{m}");
        assert!(m["via_token"].as_str().is_some(), "{m}");
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

#[tokio::test]
async fn invitations_are_listed_per_client_and_by_state() {
    let s = Server::start_reading().await;
    let t = s.tenant().await;
    let staff = s.staff(&t.staff);
    let twice = staff
        .register_client("Invited Twice", "individual", Some("twice@client.test"))
        .await;
    let first = staff.invite(twice).await;
    let second = staff.invite(twice).await;
    staff.revoke_invitation(twice).await;
    let once = staff
        .register_client("Invited Once", "individual", Some("once@client.test"))
        .await;
    let pending = staff.invite(once).await;
    let wait = format!("min_position={}", pending.position);

    let history = staff.client_invitations(twice, &wait).await.items;
    let got: Vec<_> = history
        .iter()
        .map(|i| (i.invitation_id, i.state.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (second.invitation_id, "revoked"),
            (first.invitation_id, "replaced"),
        ],
        "newest first"
    );
    assert!(history[0].revoked_at.is_some());
    assert_eq!(history[0].email, "twice@client.test");

    let by_state = |state: &'static str| {
        let staff = &staff;
        async move {
            let listed = staff.invitations(&format!("state={state}")).await;
            listed
                .items
                .iter()
                .map(|i| i.invitation_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by_state("pending").await, [pending.invitation_id]);
    assert_eq!(by_state("replaced").await, [first.invitation_id]);
    let (status, problem) = staff
        .call(Method::GET, "/api/v1/invitations?state=lost", None)
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("state"))
    );
    let unknown = format!("/api/v1/clients/{}/invitations", uuid::Uuid::now_v7());
    assert_eq!(staff.refused(Method::GET, &unknown, None).await.0, 404);
}

#[tokio::test]
async fn an_archived_client_leaves_lists_and_counts_and_takes_no_commands() {
    let s = Server::start_reading().await;
    let t = s.tenant().await;
    let staff = s.staff(&t.staff);
    let real = staff
        .register_client("Real Client", "organisation", Some("real@example.org"))
        .await;
    let fake = staff
        .register_client(
            "Test Client (FAKE)",
            "organisation",
            Some("fake@example.org"),
        )
        .await;
    let invited = staff.invite(fake).await;
    let counts = |position: i64| {
        let staff = s.staff(&t.staff);
        async move {
            staff
                .get(&format!(
                    "/api/v1/dashboard/invitations?min_position={position}"
                ))
                .await
        }
    };
    let before = counts(invited.position).await;
    assert_eq!(
        (before["total_clients"].as_i64(), before["invited"].as_i64()),
        (Some(2), Some(1))
    );

    let archived = staff
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{fake}/archive"),
            None,
        )
        .await;
    let position = archived["position"].as_i64().unwrap();
    let after = counts(position).await;
    assert_eq!(
        (after["total_clients"].as_i64(), after["invited"].as_i64()),
        (Some(1), Some(0))
    );
    let listed = staff
        .get(&format!("/api/v1/clients?min_position={position}"))
        .await;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [real.to_string()]);
    let archive = staff.get("/api/v1/clients?archived=true").await;
    assert_eq!(archive["items"][0]["id"], json!(fake.to_string()));
    assert_eq!(archive["items"][0]["archived"], true);
    // Its invitation was revoked with it: the link no longer lets anyone in.
    let invitations = staff
        .get(&format!(
            "/api/v1/clients/{fake}/invitations?min_position={position}"
        ))
        .await;
    assert_eq!(invitations["items"][0]["state"], "revoked");

    for (path, body) in [
        (format!("/api/v1/clients/{fake}/invitations"), None),
        (
            format!("/api/v1/clients/{fake}/portal-users"),
            Some(json!({"email": "x@example.org"})),
        ),
        (
            format!("/api/v1/clients/{fake}/contracts"),
            Some(json!({"title": "Letter of engagement", "body": "Terms."})),
        ),
    ] {
        assert_eq!(
            staff.refused(Method::POST, &path, body).await,
            (409, "client_archived".to_string()),
            "{path}"
        );
    }

    // A client someone can log in for is not archived.
    let (_, _) = staff
        .create_portal_user(
            real,
            json!({"email": "real@example.org", "password": "a long enough passphrase"}),
        )
        .await;
    assert_eq!(
        staff
            .refused(
                Method::POST,
                &format!("/api/v1/clients/{real}/archive"),
                None
            )
            .await,
        (409, "client_has_active_logins".to_string())
    );

    let back = staff
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{fake}/unarchive"),
            None,
        )
        .await;
    let counted = counts(back["position"].as_i64().unwrap()).await;
    assert_eq!(counted["total_clients"].as_i64(), Some(2));
}

#[tokio::test]
async fn clients_are_found_by_their_logins_and_filtered_by_email() {
    let s = Server::start_reading().await;
    let t = s.tenant().await;
    let staff = s.staff(&t.staff);
    let with_login = staff
        .register_client(
            "Example Holdings",
            "organisation",
            Some("office@holdings.example"),
        )
        .await;
    let no_email = staff
        .register_client("Paper Only Ltd", "organisation", None)
        .await;
    let (_, user) = staff
        .create_portal_user(
            with_login,
            json!({"email": "hannah.smith@mail.example", "username": "hsmith-portal"}),
        )
        .await;
    let position = user.position;
    let ids = |page: serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    for q in ["hsmith", "HANNAH.SMITH@mail"] {
        let found = staff
            .get(&format!("/api/v1/clients?q={q}&min_position={position}"))
            .await;
        assert_eq!(ids(found), [with_login.to_string()], "{q}");
    }
    let without = staff.get("/api/v1/clients?has_email=false").await;
    assert_eq!(ids(without), [no_email.to_string()]);
    let with = staff.get("/api/v1/clients?has_email=true").await;
    assert_eq!(ids(with), [with_login.to_string()]);
}
