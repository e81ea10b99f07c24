//! Portal users as people: names given by staff (greeting e-mails, signing), an e-mail
//! address staff can change, logging in by that address, and "forgot username".

use crate::common;

use common::portal_flow::{login, mailing, portal, staff_get, PASSWORD};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn staff_name_a_login_change_its_address_and_the_e_mails_follow() {
    let (sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.staff);
    let first = common::portal_flow::email("first");
    let client = staff
        .register_client("Mary Jones Ltd", "organisation", Some(&first))
        .await;
    let (user, created) = staff
        .create_portal_user(
            client,
            json!({"email": first, "first_name": "Mary", "last_name": "Jones"}),
        )
        .await;
    let activation = sink.wait_for(&first, 1).await.remove(0);
    assert!(
        activation.text.contains("Hello Mary Jones,"),
        "{}",
        activation.text
    );
    let detail = staff_get(
        &s,
        &t.staff,
        &format!(
            "/api/v1/portal-users/{user}?min_position={}",
            created.position
        ),
    )
    .await;
    assert_eq!(
        (&detail["first_name"], &detail["last_name"]),
        (&json!("Mary"), &json!("Jones"))
    );

    // PATCH: a new last name, the first name removed, a new address; what is left out stays.
    let second = common::portal_flow::email("second");
    let changed = staff
        .ok(
            Method::PATCH,
            &format!("/api/v1/portal-users/{user}"),
            Some(json!({"first_name": null, "last_name": "Jones-Smith", "email": second})),
        )
        .await;
    let detail = staff_get(
        &s,
        &t.staff,
        &format!(
            "/api/v1/portal-users/{user}?min_position={}",
            changed["position"]
        ),
    )
    .await;
    assert_eq!(detail["first_name"], json!(null), "{detail}");
    assert_eq!(detail["last_name"], "Jones-Smith");
    assert_eq!(detail["email"], json!(second));
    // The same values again write nothing.
    let again = staff
        .ok(
            Method::PATCH,
            &format!("/api/v1/portal-users/{user}"),
            Some(json!({"last_name": "Jones-Smith"})),
        )
        .await;
    assert_eq!(again["position"], changed["position"]);
    // Bad values are refused together, and nothing is written.
    let before = common::event_count(s.pool(), t.id).await;
    let fields = s
        .staff(&t.staff)
        .invalid_fields(
            Method::PATCH,
            &format!("/api/v1/portal-users/{user}"),
            Some(json!({"first_name": "", "email": "not-an-address"})),
        )
        .await;
    assert_eq!(fields, ["first_name", "email"]);
    assert_eq!(common::event_count(s.pool(), t.id).await, before);

    // The next e-mail (a reset link) goes to the new address, greeting the new name.
    staff
        .on_login(user, "password-reset", Some(json!({"mode": "email_link"})))
        .await;
    let reset = sink.wait_for(&second, 1).await.remove(0);
    assert!(reset.text.contains("Hello Jones-Smith,"), "{}", reset.text);
    assert_eq!(sink.mails_to(&first).len(), 1);
}

#[tokio::test]
async fn a_login_by_its_e_mail_address_and_a_username_reminder() {
    let (sink, s, t) = mailing(|_| {}).await;
    let staff = s.staff(&t.staff);
    let shared = common::portal_flow::email("shared");
    let alone = common::portal_flow::email("alone");
    let mut usernames = vec![];
    let mut last = (None, json!(null));
    for (n, address) in [&alone, &shared, &shared].into_iter().enumerate() {
        let client = staff
            .register_client(&format!("Client {n}"), "organisation", Some(address))
            .await;
        let (user, created) = staff
            .create_portal_user(client, json!({"email": address, "password": PASSWORD}))
            .await;
        usernames.push(created.username.clone());
        last = (Some(user), created.position.into());
    }
    // Logins by address are proposed by a read model: wait until it has every login.
    staff_get(
        &s,
        &t.staff,
        &format!(
            "/api/v1/portal-users/{}?min_position={}",
            last.0.unwrap(),
            last.1
        ),
    )
    .await;
    // One active login of that address: the address logs in (any case).
    let (status, body) = login(&s, &t, &alone.to_uppercase(), PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // Two logins share an address: it names none of them, and answers like a wrong password.
    let (status, body) = login(&s, &t, &shared, PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (status, body) = login(&s, &t, &alone, "a wrong password here").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    // "Forgot username": 202 always; each login of the address gets its username.
    for address in [shared.as_str(), "nobody@client.test"] {
        let (status, _) = portal(
            &s,
            &t,
            Method::POST,
            "/username/forgot",
            None,
            Some(json!({"email": address})),
        )
        .await;
        assert_eq!(status, 202);
    }
    let reminders = sink.wait_for(&shared, 2).await;
    let reminders: Vec<_> = reminders
        .iter()
        .filter(|m| m.header("X-Portal-Notification").as_deref() == Some("username_reminder"))
        .collect();
    assert_eq!(reminders.len(), 2);
    for username in &usernames[1..] {
        assert!(
            reminders.iter().any(|m| m.text.contains(username.as_str())),
            "{username} not reminded"
        );
    }
    assert!(reminders[0]
        .link()
        .ends_with(&format!("/portal/{}/login", t.slug)));
    assert!(sink.mails_to("nobody@client.test").is_empty());
}
