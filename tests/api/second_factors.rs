//! Second factors over HTTP: an authenticator app set up and confirmed with codes computed
//! here (RFC 6238 written out in `common::totp`), the login's second step, a code accepted
//! once, recovery codes used up, wrong codes locking, staff's reset, the firm's `required`
//! policy, security e-mails, and refusals that write nothing.

use crate::common;

use chrono::Duration;
use common::portal_flow::*;
use common::totp::code_at;
use common::{event_count, Server, Tenant};
use reqwest::Method;
use serde_json::json;

/// A login with a confirmed authenticator app: (session, secret, recovery codes); staff
/// read models have caught up with it.
async fn with_totp(s: &Server, t: &Tenant, username: &str) -> (String, String, Vec<String>) {
    let session = session(s, t, username, PASSWORD).await;
    let portal = s.portal(&t.slug);
    let me = portal.signed_in(&session);
    let setup = me.start_totp().await;
    assert!(setup.otpauth_uri.starts_with("otpauth://totp/"));
    assert!(setup.otpauth_uri.contains(&setup.secret));
    let codes = me
        .confirm_totp(&code_at(&setup.secret, s.app.clock.now()))
        .await;
    common::wait_for_position(s.pool(), codes.position, std::time::Duration::from_secs(30)).await;
    (session, setup.secret, codes.recovery_codes)
}

#[test]
fn the_test_authenticator_gives_the_rfc_6238_vector() {
    // "12345678901234567890" in base32; at 59 s the eight-digit code is 94287082.
    let at = chrono::DateTime::from_timestamp(59, 0).unwrap();
    assert_eq!(code_at("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", at), "287082");
}

#[tokio::test]
async fn an_app_code_completes_a_login_once_and_recovery_codes_are_used_up() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (_client, user, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let (_session, secret, codes) = with_totp(&s, &t, &username).await;
    assert_eq!(codes.len(), 10);
    let portal = s.portal(&t.slug);

    // Confirming spent the code of this step: the next login takes the next step's code.
    s.app.clock.advance(Duration::seconds(30));
    let (token, methods) = second_step(&s, &t, &username).await;
    assert_eq!(methods, json!(["totp", "recovery_code"]));
    let code = code_at(&secret, s.app.clock.now());
    let signed_in = portal.login_mfa(&token, &code).await;
    let me = portal.signed_in(&signed_in.session_token).me().await;
    assert_eq!(me.portal_user_id, user.uuid());

    // The token is single use, and the same code is not accepted twice.
    let (status, body) = portal.try_login_mfa(&token, &code).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("mfa_token_invalid"))
    );
    let (token, _) = second_step(&s, &t, &username).await;
    let (status, body) = portal.try_login_mfa(&token, &code).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("invalid_code")),
        "a replay"
    );

    // A recovery code works once (typed loosely), and is gone after.
    portal.login_mfa(&token, &codes[0].to_uppercase()).await;
    let (token, _) = second_step(&s, &t, &username).await;
    let (status, body) = portal.try_login_mfa(&token, &codes[0]).await;
    assert_eq!((status, body["code"].clone()), (401, json!("invalid_code")));
    let status = portal.signed_in(&signed_in.session_token).mfa().await;
    assert_eq!((status.totp, status.recovery_codes_left), (true, 9));

    // New codes replace the old: an unused old one stops working.
    let fresh = portal
        .signed_in(&signed_in.session_token)
        .new_recovery_codes()
        .await;
    let (status, _) = portal.try_login_mfa(&token, &codes[1]).await;
    assert_eq!(status, 401);
    portal.login_mfa(&token, &fresh.recovery_codes[0]).await;

    // An expired second step is refused.
    let (token, _) = second_step(&s, &t, &username).await;
    s.app.clock.advance(Duration::minutes(6));
    let code = code_at(&secret, s.app.clock.now());
    let (status, body) = portal.try_login_mfa(&token, &code).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("mfa_token_invalid"))
    );

    // The history says how each login was completed.
    let methods: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT method FROM portal_logins WHERE tenant_id = $1 AND portal_user_id = $2
            AND outcome = 'succeeded' ORDER BY id",
    )
    .bind(t.id)
    .bind(user.uuid())
    .fetch_all(s.pool())
    .await
    .unwrap();
    let methods: Vec<&str> = methods.iter().map(|m| m.as_deref().unwrap()).collect();
    assert_eq!(
        methods,
        ["password", "totp", "recovery_code", "recovery_code"]
    );

    // The factor events and the second steps' history rows chain like any other: once the
    // sealer has reached them, the firm's chains verify.
    let auditor = s.staff(&t.auditor);
    let logins: i64 = sqlx::query_scalar("SELECT count(*) FROM portal_logins WHERE tenant_id = $1")
        .bind(t.id)
        .fetch_one(s.pool())
        .await
        .unwrap();
    let limit = std::time::Duration::from_secs(30);
    let verified = common::eventually("the sealer to reach every row", limit, || async {
        let v = auditor.verify_chain().await;
        let rows = v.logins.as_ref().map_or(0, |l| l.checked);
        (v.unsealed == 0 && rows == logins).then_some(v)
    })
    .await;
    assert!(verified.ok, "{:?}", verified.problem);
    assert!(verified.logins.unwrap().ok);

    // How a login was completed is in the chain: changing it afterwards is found.
    common::tamper(
        &s,
        "UPDATE portal_logins SET method = 'password'
          WHERE id = (SELECT max(id) FROM portal_logins WHERE tenant_id = $1 AND method = 'totp')",
        t.id,
    )
    .await;
    let logins = auditor.verify_chain().await.logins.unwrap();
    assert!(!logins.ok, "an altered method breaks the login chain");
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (_client, _user, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let (_session, secret, _codes) = with_totp(&s, &t, &username).await;
    let portal = s.portal(&t.slug);
    let (token, _) = second_step(&s, &t, &username).await;
    // The default policy locks after five failures.
    for n in 0..5 {
        let (status, body) = portal.try_login_mfa(&token, "000000").await;
        assert_eq!(
            (status, body["code"].clone()),
            (401, json!("invalid_code")),
            "try {n}"
        );
    }
    s.app.clock.advance(Duration::seconds(30));
    let (status, body) = portal
        .try_login_mfa(&token, &code_at(&secret, s.app.clock.now()))
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (429, json!("locked_out")),
        "{body}"
    );
    let (status, _) = login(&s, &t, &username, PASSWORD).await;
    assert_eq!(status, 429, "the password is locked out with it");
}

#[tokio::test]
async fn removing_the_app_needs_its_code_and_staff_reset_ends_sessions() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (_client, user, username, address) = invited_and_accepted(&s, &sink, &t).await;
    let (session, secret, _codes) = with_totp(&s, &t, &username).await;
    let portal = s.portal(&t.slug);
    let me = portal.signed_in(&session);

    let before = event_count(s.pool(), t.id).await;
    let (status, body) = me
        .call(
            Method::DELETE,
            "/portal/v1/{tenant_slug}/mfa/totp",
            &[],
            Some(json!({"code": "123"})),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (422, json!("invalid_code")));
    let (status, body) = me
        .call(Method::POST, "/portal/v1/{tenant_slug}/mfa/totp", &[], None)
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("second_factor_exists"))
    );
    assert_eq!(
        event_count(s.pool(), t.id).await,
        before,
        "refusals write nothing"
    );

    s.app.clock.advance(Duration::seconds(30));
    me.remove_totp(&code_at(&secret, s.app.clock.now())).await;
    let status = me.mfa().await;
    assert_eq!((status.totp, status.recovery_codes_left), (false, 0));
    session_of(&s, &t, &username).await;

    // Set up again; staff reset it for a lost phone.
    let (session, _, _) = with_totp(&s, &t, &username).await;
    let staff = s.staff(&t.staff);
    let path = format!("/api/v1/portal-users/{user}");
    let shown = staff.ok(Method::GET, &path, None).await;
    assert_eq!(
        shown["mfa"],
        json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10})
    );
    let (status, body) = staff
        .call(
            Method::POST,
            &format!("{path}/mfa/reset"),
            Some(json!({"reason": " "})),
        )
        .await;
    assert_eq!(status, 422, "a reason is required: {body}");
    let reason = json!({"reason": "lost phone; identity checked by a call"});
    let reset = staff.on_login(user, "mfa-reset", Some(reason)).await;
    let (status, _) = portal
        .signed_in(&session)
        .call(Method::GET, "/portal/v1/{tenant_slug}/me", &[], None)
        .await;
    assert_eq!(status, 401, "the reset ends the login's sessions");
    session_of(&s, &t, &username).await;
    let position = reset.position;
    let shown = staff
        .ok(
            Method::GET,
            &format!("{path}?min_position={position}"),
            None,
        )
        .await;
    assert_eq!(shown["mfa"]["totp"], json!(false));
    let (status, body) = staff
        .call(
            Method::POST,
            &format!("{path}/mfa/reset"),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("no_second_factor"))
    );

    // Each change e-mailed the login: added, removed, added, reset.
    let notices = sink.wait_for(&address, 5).await;
    let subjects: Vec<String> = notices
        .iter()
        .filter_map(|m| m.header("Subject"))
        .filter(|s| s.starts_with("Security notice"))
        .collect();
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    let last = &notices.last().unwrap().text;
    assert!(last.contains("removed by the firm"), "{last}");

    // The audit trail names who reset it and why, and holds no secret.
    let events = common::events_of_tenant(s.pool(), t.id).await;
    let reset_event = events
        .iter()
        .find(|e| e.event_type == "SecondFactorsReset")
        .expect("the reset is an event");
    assert_eq!(
        reset_event.payload["SecondFactorsReset"]["reason"],
        json!("lost phone; identity checked by a call")
    );
    assert_eq!(reset_event.metadata["actor"]["kind"], json!("staff"));
    let all =
        serde_json::to_string(&events.iter().map(|e| &e.payload).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains(&secret), "no TOTP secret in any event");
}

/// Logs in with the password alone (no factor): a session.
async fn session_of(s: &Server, t: &Tenant, username: &str) -> String {
    session(s, t, username, PASSWORD).await
}

#[tokio::test]
async fn under_a_required_policy_a_login_without_a_factor_may_only_set_one_up() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (client, _user, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let staff = s.staff(&t.admin);
    let settings = staff
        .ok(
            Method::PATCH,
            "/api/v1/settings",
            Some(json!({"mfa": "required"})),
        )
        .await;
    assert_eq!(settings["mfa"], json!("required"));
    let (status, body) = staff
        .call(
            Method::PATCH,
            "/api/v1/settings",
            Some(json!({"mfa": "always"})),
        )
        .await;
    assert_eq!((status, common::field_names(&body)), (422, vec!["mfa"]));

    let portal = s.portal(&t.slug);
    let issued = portal.login(&username, PASSWORD).await;
    assert!(issued.enrolment_required);
    let me = portal.signed_in(&issued.session_token);
    let items = format!("/portal/v1/{{tenant_slug}}/clients/{client}/items");
    let (status, body) = me.call(Method::GET, &items, &[], None).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("mfa_enrolment_required"))
    );
    me.me().await;

    let setup = me.start_totp().await;
    me.confirm_totp(&code_at(&setup.secret, s.app.clock.now()))
        .await;
    let (status, _) = me.call(Method::GET, &items, &[], None).await;
    assert_eq!(
        status, 200,
        "a confirmed factor lifts the restriction on this session"
    );
    second_step(&s, &t, &username).await;
}

#[tokio::test]
async fn bad_second_step_input_is_refused_clearly() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (_client, _user, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let other = Server::start_with(common::app(s.pool().clone())).await;
    let other_firm = other.tenant().await;
    let (_session, secret, _codes) = with_totp(&s, &t, &username).await;
    let (token, _) = second_step(&s, &t, &username).await;
    let code = || code_at(&secret, s.app.clock.now());
    let portal = s.portal(&t.slug);
    let oversized = "x".repeat(300);
    for (mfa_token, code, expected) in [
        ("", "123456", "mfa_token_invalid"),
        ("pmf_nonsense", "123456", "mfa_token_invalid"),
        (oversized.as_str(), "123456", "invalid_code"),
    ] {
        let (status, body) = portal.try_login_mfa(mfa_token, code).await;
        assert_eq!(
            (status, body["code"].clone()),
            (401, json!(expected)),
            "{mfa_token:.20}"
        );
    }
    // Another firm's portal does not know this firm's second step.
    let (status, body) = s
        .portal(&other_firm.slug)
        .try_login_mfa(&token, &code())
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("mfa_token_invalid"))
    );
    let (status, body) = portal
        .call(
            Method::POST,
            "/portal/v1/{tenant_slug}/login/mfa",
            &[],
            Some(json!({"mfa_token": token})),
        )
        .await;
    assert_eq!(status, 400, "a missing code: {body}");
    // Confirming without a started set-up, or with a wrong code, says so.
    let fresh = session_for_new_login(&s, &sink, &t).await;
    let me = portal.signed_in(&fresh);
    let confirm = "/portal/v1/{tenant_slug}/mfa/totp/confirm";
    let (status, body) = me
        .call(Method::POST, confirm, &[], Some(json!({"code": "123456"})))
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("no_totp_enrolment"))
    );
    me.start_totp().await;
    let (status, body) = me
        .call(Method::POST, confirm, &[], Some(json!({"code": "12x456"})))
        .await;
    assert_eq!((status, body["code"].clone()), (422, json!("invalid_code")));
    let (status, body) = me
        .call(
            Method::POST,
            "/portal/v1/{tenant_slug}/mfa/recovery-codes",
            &[],
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("no_second_factor"))
    );
    // The right token still works after all that (with the next step's code: confirming
    // spent this one's).
    s.app.clock.advance(Duration::seconds(30));
    portal.login_mfa(&token, &code()).await;
}

async fn session_for_new_login(s: &Server, sink: &common::smtp::SmtpSink, t: &Tenant) -> String {
    let (_client, _user, username, _) = invited_and_accepted(s, sink, t).await;
    session(s, t, &username, PASSWORD).await
}
