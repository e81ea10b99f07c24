//! Staff commands on clients over HTTP against PostgreSQL: register, change, invite (one
//! and in bulk), the portal switch; each writes the events it should, with metadata, and
//! answers with the position of its last event.

use crate::common;

use aggregates::ids::ClientId;
use common::*;
use portal_accounts::http::routes::clients::ClientPage;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn registering_changing_and_inviting_a_client() {
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);

    let body = json!({"display_name": " Jo Smith ", "kind": "individual",
                      "email": "jo@example.org", "external_ref": "PM-1"});
    let created = staff.register(body).await;
    let id = ClientId::from_uuid(created.id);
    let client = created.id.to_string();
    let changed = staff
        .change_client(id, json!({"display_name": "Jo Smith-Jones"}))
        .await;
    assert!(changed.position > created.position);

    let invited = staff.invite(id).await;
    let first_invitation = invited.invitation_id.to_string();
    assert!(invited.expires_at > chrono::Utc::now());

    // Inviting again replaces the first invitation.
    let again = staff.invite(id).await;
    staff.revoke_invitation(id).await;
    let current = format!("/api/v1/clients/{client}/invitations/current");
    staff
        .assert_refused(Method::DELETE, &current, None, (409, "no_open_invitation"))
        .await;

    // Clearing the email makes the client uninvitable.
    staff.change_client(id, json!({"email": null})).await;
    let invite = format!("/api/v1/clients/{client}/invitations");
    staff
        .assert_refused(
            Method::POST,
            &invite,
            Some(json!({})),
            (409, "client_has_no_email"),
        )
        .await;

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
        again.position, second_invite.position,
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
    let (s, t) = Server::with_firm().await;
    let off = Some(json!({"active": false}));
    let staff = s.staff(&t.staff);
    staff
        .assert_refused(
            Method::PUT,
            "/api/v1/settings/portal",
            off,
            (403, "forbidden_role"),
        )
        .await;
    s.staff(&t.admin).set_portal(false).await;
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
    let (s, t) = Server::with_firm().await;
    let staff = s.staff(&t.staff);
    let mut with_email = Vec::new();
    for i in 0..5 {
        let (name, email) = (format!("C{i}"), format!("c{i}@example.org"));
        let client = staff.register_client(&name, "individual", Some(&email));
        with_email.push(client.await.uuid());
    }
    let no_email = staff.register_client("No mail", "individual", None).await;
    let no_email = no_email.uuid();
    let unknown = uuid::Uuid::now_v7();

    let ids = [with_email[0], with_email[1], no_email, unknown];
    let result = staff.bulk_invite(json!({"client_ids": ids})).await;
    assert_eq!(result.invited.len(), 2);
    let reasons: Vec<_> = result
        .skipped
        .iter()
        .map(|s| (s.client_id, s.reason.as_ref()))
        .collect();
    assert_eq!(reasons, [(no_email, "no_email"), (unknown, "not_found")]);

    let result = staff.bulk_invite(json!({"filter": "not_invited"})).await;
    let invited: Vec<_> = result.invited.iter().map(|i| i.client_id).collect();
    assert_eq!(invited, with_email[2..]);
    let skipped: Vec<_> = result.skipped.iter().map(|s| s.reason.as_ref()).collect();
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
    let (s, t) = Server::reading_with_firm().await;
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
    let (s, t) = Server::reading_with_firm().await;
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
            let wait = format!("min_position={position}");
            let counted = staff.invitation_dashboard(&wait).await;
            (counted.total_clients, counted.invited)
        }
    };
    assert_eq!(counts(invited.position).await, (2, 1));

    let position = staff.archive_client(fake).await.position;
    assert_eq!(counts(position).await, (1, 0));
    let wait = format!("min_position={position}");
    let listed = staff.list_clients(&wait).await;
    let ids: Vec<_> = listed.items.iter().map(|c| c.id).collect();
    assert_eq!(ids, [real.uuid()]);
    let archive = staff.list_clients("archived=true").await;
    assert_eq!(
        (archive.items[0].id, archive.items[0].archived),
        (fake.uuid(), true)
    );
    // Its invitation was revoked with it: the link no longer lets anyone in.
    let invitations = staff.client_invitations(fake, &wait).await;
    assert_eq!(invitations.items[0].state, "revoked");

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
    let login = json!({"email": "real@example.org", "password": "a long enough passphrase"});
    staff.create_portal_user(real, login).await;
    let archive = format!("/api/v1/clients/{real}/archive");
    staff
        .assert_refused(
            Method::POST,
            &archive,
            None,
            (409, "client_has_active_logins"),
        )
        .await;

    let back = staff.unarchive_client(fake).await;
    assert_eq!(counts(back.position).await.0, 2);
}

#[tokio::test]
async fn clients_are_found_by_their_logins_and_filtered_by_email() {
    let (s, t) = Server::reading_with_firm().await;
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
    let ids = |page: ClientPage| -> Vec<_> { page.items.iter().map(|c| c.id).collect() };
    for q in ["hsmith", "HANNAH.SMITH@mail"] {
        let query = format!("q={q}&min_position={}", user.position);
        let found = staff.list_clients(&query).await;
        assert_eq!(ids(found), [with_login.uuid()], "{q}");
    }
    let without = staff.list_clients("has_email=false").await;
    assert_eq!(ids(without), [no_email.uuid()]);
    let with = staff.list_clients("has_email=true").await;
    assert_eq!(ids(with), [with_login.uuid()]);
}
