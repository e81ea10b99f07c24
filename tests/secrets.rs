//! No password, password hash, session token, link token, link, TOTP key, recovery code,
//! second-step token or passkey ceremony (token or challenge) appears in any event payload,
//! event metadata, notification row or log line — checked by running every portal flow
//! with debug logging captured, then scanning everything for every secret used.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::smtp::SmtpSink;
use common::{id_of, send, Server};
use reqwest::Method;
use serde_json::json;
use url::Url;
use uuid::Uuid;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;

/// Every log line of this test process, as JSON, spans included.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_events_metadata_notifications_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .init();

    let sink = SmtpSink::start().await;
    // Reached as http://localhost, so that it offers passkeys.
    let app = common::app(common::fresh_database().await);
    let s = Server::start_mailing_at(app, &sink.url(), "localhost").await;
    let t = s.tenant().await;
    let mut secrets: Vec<String> = Vec::new();
    let portal = |path: &str| format!("{}/portal/v1/{}{path}", s.base, t.slug);

    // Invitation → accept.
    let to = format!("secret-{}@client.test", Uuid::now_v7().simple());
    let staff = s.staff(&t.staff);
    let client = staff
        .register_client("Sam Secret", "organisation", Some(&to))
        .await;
    staff.invite(client).await;
    let invitation = sink.wait_for(&to, 1).await.remove(0);
    let first_password = "first secret passphrase 1";
    let (status, _) = send(s.http.post(portal("/invitations/accept")).json(&json!({
        "token": invitation.token(), "username": "sam.secret", "password": first_password
    })))
    .await;
    assert_eq!(status, 201);
    secrets.extend([invitation.token(), invitation.link(), first_password.into()]);

    // Login, a wrong password, forgot → reset.
    let (_, session) = send(s.http.post(portal("/login")).json(&json!({
        "username": "sam.secret", "password": first_password
    })))
    .await;
    secrets.push(id_of(&session, "session_token"));
    let wrong = "typed the wrong secret";
    send(
        s.http
            .post(portal("/login"))
            .json(&json!({"username": "sam.secret", "password": wrong})),
    )
    .await;
    secrets.push(wrong.into());
    send(
        s.http
            .post(portal("/password/forgot"))
            .json(&json!({"username": "sam.secret"})),
    )
    .await;
    let reset = sink.wait_for(&to, 2).await.remove(1);
    let second_password = "second secret passphrase 2";
    let (status, _) = send(s.http.post(portal("/password/reset")).json(&json!({
        "token": reset.token(), "new_password": second_password
    })))
    .await;
    assert_eq!(status, 200);
    secrets.extend([reset.token(), reset.link(), second_password.into()]);

    // A staff-made login: activation link; and a password staff type.
    let made = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{client}/portal-users"),
            Some(json!({"email": to, "username": "sam.second"})),
        )
        .await;
    let activation = sink.wait_for(&to, 3).await.remove(2);
    let third_password = "third secret passphrase 3";
    let (status, _) = send(s.http.post(portal("/activate")).json(&json!({
        "token": activation.token(), "password": third_password
    })))
    .await;
    assert_eq!(status, 200);
    let staff_password = "staff typed secret 4";
    let _ = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/portal-users/{}/password-reset", id_of(&made, "id")),
            Some(json!({"mode": "set", "new_password": staff_password})),
        )
        .await;
    let (_, staff_made_session) = send(s.http.post(portal("/login")).json(&json!({
        "username": "sam.second", "password": staff_password
    })))
    .await;
    secrets.extend([
        activation.token(),
        activation.link(),
        third_password.into(),
        staff_password.into(),
        id_of(&staff_made_session, "session_token"),
        t.staff.clone(),
    ]);

    // Staff tokens of every kind: a personal one issued over the API and a service token
    // acting for a named person; their secrets and stored hashes must not leak either.
    let admin = s.staff(&t.admin);
    let member = admin
        .add_member("Pat Secret", "pat@firm.example", "staff")
        .await;
    let (_, personal) = admin
        .issue_token(json!({"label": "laptop", "staff_id": member}))
        .await;
    let (_, service) = admin.issue_token(json!({"label": "staff UI"})).await;
    let (status, _) = send(
        s.request(Method::POST, "/api/v1/clients", &service)
            .header("x-acting-staff", member.to_string())
            .json(&json!({"display_name": "Via Service", "kind": "organisation"})),
    )
    .await;
    assert_eq!(status, 201);
    let _ = s
        .staff(&personal)
        .ok(Method::GET, "/api/v1/clients", None)
        .await;
    let token_hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT token_hash FROM staff_tokens WHERE tenant_id = $1")
            .bind(t.id)
            .fetch_all(s.pool())
            .await
            .unwrap();
    secrets.extend([personal, service, t.admin.clone()]);
    secrets.extend(token_hashes.iter().map(hex::encode));
    // An authenticator app and recovery codes on the second login, then a login through
    // the second step with a recovery code.
    let second = s.portal(&t.slug);
    let second_session = id_of(&staff_made_session, "session_token");
    let me = second.signed_in(&second_session);
    let setup = me.start_totp().await;
    let codes = me
        .confirm_totp(&common::totp::code_at(&setup.secret, s.app.clock.now()))
        .await;
    let (status, challenge) = second.try_login("sam.second", staff_password).await;
    assert_eq!(status, 403, "{challenge}");
    let mfa_token = id_of(&challenge, "mfa_token");
    second.login_mfa(&mfa_token, &codes.recovery_codes[0]).await;
    secrets.extend([setup.secret.clone(), setup.otpauth_uri.clone(), mfa_token]);
    secrets.extend(codes.recovery_codes.iter().cloned());
    // A passkey on the same login (a software authenticator), then a login with it as the
    // second step.
    let mut device = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let origin = Url::parse(s.app.public_url.as_deref().unwrap()).unwrap();
    let register = me.passkey_options().await;
    let options = serde_json::from_value(json!({"publicKey": register.public_key})).unwrap();
    let credential = device.do_registration(origin.clone(), options).unwrap();
    let credential = serde_json::to_value(credential).unwrap();
    me.add_passkey(&register.passkey_token, "Phone", credential)
        .await;
    let (_, challenge) = second.try_login("sam.second", staff_password).await;
    let passkey_step = id_of(&challenge, "mfa_token");
    let sign = second.login_passkey_options(Some(&passkey_step)).await;
    let options = serde_json::from_value(json!({"publicKey": sign.public_key})).unwrap();
    let answer = serde_json::to_value(device.do_authentication(origin, options).unwrap()).unwrap();
    let (status, body) = second.try_login_passkey(&sign.passkey_token, answer).await;
    assert_eq!(status, 200, "{body}");
    for ceremony in [&register, &sign] {
        secrets.push(ceremony.passkey_token.clone());
        secrets.push(
            ceremony.public_key["challenge"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    secrets.push(passkey_step);
    // The security notices of the new factors are sent (so their rows are in the log below).
    sink.wait_for(&to, 5).await;

    let hashes = common::password_hashes(s.pool(), t.id).await;
    assert_eq!(hashes.len(), 2);
    for hash in hashes {
        // The whole PHC string and its hash part alone.
        secrets.push(hash.rsplit('$').next().unwrap().to_string());
        secrets.push(hash);
    }

    let events = common::events_of_tenant(s.pool(), t.id).await;
    let notifications: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(n)::text FROM notifications n WHERE tenant_id = $1")
            .bind(t.id)
            .fetch_all(s.pool())
            .await
            .unwrap();
    let (_, log_api) = s
        .call(
            Method::GET,
            &format!("/api/v1/clients/{client}/notifications"),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(
        notifications.len(),
        5,
        "three links and two security notices"
    );
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.lines().count() > 50, "logs were captured");
    assert!(
        logged.contains("/portal/v1/"),
        "request spans were captured"
    );

    for secret in &secrets {
        for event in &events {
            assert!(
                !event.payload.to_string().contains(secret.as_str()),
                "secret in payload of {}",
                event.event_type
            );
            assert!(
                !event.metadata.to_string().contains(secret.as_str()),
                "secret in metadata of {}",
                event.event_type
            );
        }
        for row in &notifications {
            assert!(!row.contains(secret.as_str()), "secret in notification row");
        }
        assert!(
            !log_api.to_string().contains(secret.as_str()),
            "secret in notification log"
        );
        if let Some(line) = logged.lines().find(|l| l.contains(secret.as_str())) {
            panic!("secret in log line: {line}");
        }
    }
}
