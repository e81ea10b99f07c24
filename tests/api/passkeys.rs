//! Passkeys over HTTP with a software authenticator (webauthn-authenticator-rs's
//! `SoftPasskey`, which signs as a browser's authenticator would for the origin given):
//! registered with a name, used as the login's second step, counted and refused when an
//! answer does not verify, removed, reset by staff, and refusals that write nothing. The
//! passwordless login with a discoverable passkey runs in Chromium (`portal_pages`), as the
//! soft authenticator keeps no discoverable credentials.

use crate::common;

use common::portal_flow::*;
use common::{event_count, Server, Tenant};
use portal_accounts::http::routes::portal_mfa::PasskeyOptions;
use reqwest::Method;
use serde_json::{json, Value};
use url::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

/// A person's authenticator, answering for the server's origin.
struct Authenticator {
    device: WebauthnAuthenticator<SoftPasskey>,
    origin: Url,
}

impl Authenticator {
    fn for_server(s: &Server) -> Self {
        Self {
            // `true`: it reports the person verified (a PIN or a fingerprint).
            device: WebauthnAuthenticator::new(SoftPasskey::new(true)),
            origin: Url::parse(s.app.public_url.as_deref().unwrap()).unwrap(),
        }
    }

    /// `navigator.credentials.create()`: the new credential as `toJSON()` gives it.
    fn create(&mut self, options: &PasskeyOptions) -> Value {
        let options: CreationChallengeResponse =
            serde_json::from_value(json!({"publicKey": options.public_key})).unwrap();
        let credential = self
            .device
            .do_registration(self.origin.clone(), options)
            .unwrap();
        serde_json::to_value(credential).unwrap()
    }

    /// `navigator.credentials.get()`: the signed answer as `toJSON()` gives it.
    fn get(&mut self, options: &PasskeyOptions) -> Value {
        let options: RequestChallengeResponse =
            serde_json::from_value(json!({"publicKey": options.public_key})).unwrap();
        let answer = self
            .device
            .do_authentication(self.origin.clone(), options)
            .unwrap();
        serde_json::to_value(answer).unwrap()
    }
}

/// A firm on a server its clients reach as http://localhost (passkeys need a domain name),
/// with a signed-in login: (sink, server, firm, login's id, username, address, session).
struct Setup {
    sink: common::smtp::SmtpSink,
    s: Server,
    t: Tenant,
    user: aggregates::ids::PortalUserId,
    username: String,
    address: String,
    session: String,
}

async fn setup() -> Setup {
    let (sink, s, t) = mailing_at("localhost", |_| {}).await;
    let (_client, user, username, address) = invited_and_accepted(&s, &sink, &t).await;
    let session = session(&s, &t, &username, PASSWORD).await;
    Setup {
        sink,
        s,
        t,
        user,
        username,
        address,
        session,
    }
}

/// Registers a passkey from `device` under `name` for the login of `session` in the firm
/// `slug`: its id and any recovery codes.
async fn register(
    s: &Server,
    (slug, session): (&str, &str),
    device: &mut Authenticator,
    name: &str,
) -> (uuid::Uuid, Vec<String>) {
    let me = s.portal(slug).signed_in(session);
    let options = me.passkey_options().await;
    let credential = device.create(&options);
    let added = me
        .add_passkey(&options.passkey_token, name, credential)
        .await;
    common::wait_for_position(s.pool(), added.position, std::time::Duration::from_secs(30)).await;
    (added.id, added.recovery_codes)
}

/// One number about the login, from `sql` over `$1` (its firm) and `$2` (its id).
async fn of_login<T>(x: &Setup, sql: &str) -> T
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    sqlx::query_scalar(sql)
        .bind(x.t.id)
        .bind(x.user.uuid())
        .fetch_one(x.s.pool())
        .await
        .unwrap()
}

async fn login_methods(x: &Setup) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT outcome, method FROM portal_logins
          WHERE tenant_id = $1 AND portal_user_id = $2 ORDER BY id",
    )
    .bind(x.t.id)
    .bind(x.user.uuid())
    .fetch_all(x.s.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_passkey_is_registered_with_a_name_and_completes_the_second_step_once() {
    let x = setup().await;
    let mut laptop = Authenticator::for_server(&x.s);
    let portal = x.s.portal(&x.t.slug);
    let me = portal.signed_in(&x.session);

    let options = me.passkey_options().await;
    assert_eq!(options.public_key["rp"]["id"], json!("localhost"));
    assert_eq!(
        options.public_key["authenticatorSelection"]["residentKey"],
        json!("preferred")
    );
    assert!(options.public_key["challenge"].as_str().unwrap().len() >= 43);
    let credential = laptop.create(&options);
    let added = me
        .add_passkey(&options.passkey_token, "  Work laptop ", credential.clone())
        .await;
    assert_eq!(
        added.recovery_codes.len(),
        10,
        "the first factor brings codes"
    );
    let (status, body) = me
        .try_add_passkey(&options.passkey_token, "Again", credential)
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("passkey_token_invalid")),
        "a ceremony answers once"
    );
    let mfa = me.mfa().await;
    assert_eq!(mfa.passkeys.len(), 1);
    assert_eq!(
        (mfa.passkeys[0].name.as_str(), mfa.passkeys[0].id, mfa.totp),
        ("Work laptop", added.id, false)
    );
    assert!(mfa.passkeys[0].last_used_at.is_none());

    // The password now asks for the second step, which the passkey completes.
    let (mfa_token, methods) = second_step(&x.s, &x.t, &x.username).await;
    assert_eq!(methods, json!(["passkey", "recovery_code"]));
    let options = portal.login_passkey_options(Some(&mfa_token)).await;
    let allowed = options.public_key["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    let answer = laptop.get(&options);
    let (status, signed_in) = portal
        .try_login_passkey(&options.passkey_token, answer.clone())
        .await;
    assert_eq!(status, 200, "{signed_in}");
    let token = signed_in["session_token"].as_str().unwrap();
    assert_eq!(
        portal.signed_in(token).me().await.portal_user_id,
        x.user.uuid()
    );
    let (status, body) = portal
        .try_login_passkey(&options.passkey_token, answer)
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("passkey_token_invalid"))
    );
    let (status, body) = portal.try_login_passkey_options(Some(&mfa_token)).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("mfa_token_invalid")),
        "the second step was completed"
    );
    assert!(me.mfa().await.passkeys[0].last_used_at.is_some());
    let history = login_methods(&x).await;
    assert_eq!(
        history.last().unwrap(),
        &("succeeded".to_string(), Some("passkey".to_string()))
    );

    // Staff see how many passkeys the login has; the login was e-mailed about it.
    let staff = x.s.staff(&x.t.staff);
    let shown = staff
        .ok(
            Method::GET,
            &format!("/api/v1/portal-users/{}", x.user),
            None,
        )
        .await;
    assert_eq!(
        shown["mfa"],
        json!({"totp": false, "passkeys": 1, "recovery_codes_left": 10})
    );
    let mails = x.sink.wait_for(&x.address, 2).await;
    let notice = &mails.last().unwrap().text;
    assert!(notice.contains("A passkey was added to"), "{notice}");

    // The event names the passkey by id only; reporting counts it.
    let events = common::events_of_tenant(x.s.pool(), x.t.id).await;
    let event = events
        .iter()
        .find(|e| e.event_type == "PasskeyAdded")
        .expect("the registration is an event");
    assert_eq!(
        event.payload,
        json!({"PasskeyAdded": {"passkey_id": added.id}})
    );
    let counted: i32 = of_login(
        &x,
        "SELECT passkeys FROM rm_portal_users WHERE tenant_id = $1 AND portal_user_id = $2",
    )
    .await;
    assert_eq!(counted, 1);
}

#[tokio::test]
async fn an_answer_that_does_not_verify_is_counted_and_bad_input_writes_nothing() {
    let x = setup().await;
    let mut phone = Authenticator::for_server(&x.s);
    let portal = x.s.portal(&x.t.slug);
    let me = portal.signed_in(&x.session);
    let before = event_count(x.s.pool(), x.t.id).await;

    // Refusals of a registration: a bad name, a malformed credential, an unknown token.
    let options = me.passkey_options().await;
    let credential = phone.create(&options);
    let (status, body) = me
        .try_add_passkey(&options.passkey_token, " ", credential.clone())
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (422, json!("validation_failed")),
        "{body}"
    );
    let (status, body) = me
        .try_add_passkey(&options.passkey_token, "Phone", json!({"id": "x"}))
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (422, json!("invalid_credential")),
        "{body}"
    );
    let (status, body) = me
        .try_add_passkey("ppk_nothing_here", "Phone", credential.clone())
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("passkey_token_invalid"))
    );
    assert_eq!(
        event_count(x.s.pool(), x.t.id).await,
        before,
        "nothing written"
    );

    // The ceremony was not spent by the refusals: it still registers the passkey.
    let added = me
        .add_passkey(&options.passkey_token, "Phone", credential)
        .await;
    common::wait_for_position(
        x.s.pool(),
        added.position,
        std::time::Duration::from_secs(30),
    )
    .await;

    // A signature that does not verify is refused and counted like a wrong password.
    let (mfa_token, _) = second_step(&x.s, &x.t, &x.username).await;
    let options = portal.login_passkey_options(Some(&mfa_token)).await;
    let mut answer = phone.get(&options);
    // Another firm's portal does not know this firm's ceremony (and leaves it unspent).
    let other = x.s.tenant().await;
    let (status, body) =
        x.s.portal(&other.slug)
            .try_login_passkey(&options.passkey_token, answer.clone())
            .await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("passkey_token_invalid"))
    );
    let signature = answer["response"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    answer["response"]["signature"] = json!(format!("{flipped}{}", &signature[1..]));
    let (status, body) = portal
        .try_login_passkey(&options.passkey_token, answer)
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("invalid_passkey")),
        "{body}"
    );
    let history = login_methods(&x).await;
    assert_eq!(history.last().unwrap().0, "invalid_passkey");
    let failures: i32 = of_login(
        &x,
        "SELECT failures FROM portal_login_throttle WHERE tenant_id = $1 AND portal_user_id = $2",
    )
    .await;
    assert_eq!(failures, 1, "counted toward the lockout");

    // Removing: someone else's or an unknown id is not found; the own passkey goes, and
    // with the last factor the recovery codes.
    let (status, _) = me.try_remove_passkey(uuid::Uuid::now_v7()).await;
    assert_eq!(status, 404);
    let (status, body) = me.try_remove_passkey(added.id).await;
    assert_eq!(status, 200, "{body}");
    let mfa = me.mfa().await;
    assert_eq!((mfa.passkeys.len(), mfa.recovery_codes_left), (0, 0));
    session(&x.s, &x.t, &x.username, PASSWORD).await;
}

#[tokio::test]
async fn another_logins_or_another_firms_passkey_does_not_answer_a_second_step() {
    let x = setup().await;
    let mut own = Authenticator::for_server(&x.s);
    register(&x.s, (&x.t.slug, &x.session), &mut own, "Own").await;
    // A login of another firm on the same server, with a passkey of its own.
    let other_firm = x.s.tenant().await;
    let (_c, _user, other_name, _a) = invited_and_accepted(&x.s, &x.sink, &other_firm).await;
    let other_session = session(&x.s, &other_firm, &other_name, PASSWORD).await;
    let mut theirs = Authenticator::for_server(&x.s);
    let their_login = (other_firm.slug.as_str(), other_session.as_str());
    register(&x.s, their_login, &mut theirs, "Theirs").await;

    // The other login's answer to its own second step, sent to this login's ceremony: the
    // challenge and the credential are not this login's.
    let (their_step, _) = second_step(&x.s, &other_firm, &other_name).await;
    let their_options =
        x.s.portal(&other_firm.slug)
            .login_passkey_options(Some(&their_step))
            .await;
    let their_answer = theirs.get(&their_options);
    let (step, _) = second_step(&x.s, &x.t, &x.username).await;
    let portal = x.s.portal(&x.t.slug);
    let options = portal.login_passkey_options(Some(&step)).await;
    let (status, body) = portal
        .try_login_passkey(&options.passkey_token, their_answer)
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("invalid_passkey")),
        "{body}"
    );
    // And this login's answer does not open the other firm's login either.
    let (their_step, _) = second_step(&x.s, &other_firm, &other_name).await;
    let their_portal = x.s.portal(&other_firm.slug);
    let their_options = their_portal.login_passkey_options(Some(&their_step)).await;
    let (step, _) = second_step(&x.s, &x.t, &x.username).await;
    let own_answer = own.get(&portal.login_passkey_options(Some(&step)).await);
    let (status, body) = their_portal
        .try_login_passkey(&their_options.passkey_token, own_answer)
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("invalid_passkey")),
        "{body}"
    );
}

#[tokio::test]
async fn staff_reset_removes_the_passkeys_and_a_server_without_a_domain_offers_none() {
    let x = setup().await;
    let mut key = Authenticator::for_server(&x.s);
    register(&x.s, (&x.t.slug, &x.session), &mut key, "Security key").await;
    let staff = x.s.staff(&x.t.staff);
    let reason = json!({"reason": "lost the key; identity checked by a call"});
    staff.on_login(x.user, "mfa-reset", Some(reason)).await;
    let kept: i64 = of_login(
        &x,
        "SELECT count(*) FROM portal_passkeys WHERE tenant_id = $1 AND portal_user_id = $2",
    )
    .await;
    assert_eq!(kept, 0, "the reset removes the keys with the factor");
    session(&x.s, &x.t, &x.username, PASSWORD).await;

    // Reached by an IP address only, the server has no relying party id to offer.
    let s = Server::start().await;
    let t = s.tenant().await;
    let (status, body) = s.portal(&t.slug).try_login_passkey_options(None).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("passkeys_unavailable")),
        "{body}"
    );
}
