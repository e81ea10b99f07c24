//! Erasure over HTTP: a client with a login, a signed contract, e-mails and login history
//! is erased; afterwards a dump of the whole database holds none of its personal data, the
//! audit chain, a checkpoint signed before and the offline export still verify, and its
//! neighbour in the firm and another firm are untouched. Refusals write nothing.

use crate::common;

use common::portal_flow::*;
use common::{eventually, Server, Tenant};
use portal_accounts::audit::checkpoint::Checkpoint;
use portal_accounts::audit::offline::verify_export;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// A portal request from the client's own browser: an address and a user agent that no
/// other request of the test uses, so a dump can be searched for them.
async fn from_browser(
    s: &Server,
    t: &Tenant,
    browser: &Browser,
    method: Method,
    path: &str,
    session: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = s
        .http
        .request(method, format!("{}/portal/v1/{}{path}", s.base, t.slug))
        .header("x-forwarded-for", &browser.ip)
        .header("user-agent", &browser.agent)
        .json(&body);
    if let Some(token) = session {
        req = req.bearer_auth(token);
    }
    common::send(req).await
}

struct Browser {
    ip: String,
    agent: String,
}

/// Everything personal the test gave one client: what must be gone after its erasure.
struct Personal {
    client: aggregates::ids::ClientId,
    login_id: aggregates::ids::PortalUserId,
    name: String,
    signer: String,
    username: String,
    address: String,
    browser: Browser,
    session: String,
}

/// A client invited, accepted, logged in once wrongly and once rightly from its browser,
/// with a contract it signed from there.
async fn a_client_with_history(
    s: &Server,
    sink: &common::smtp::SmtpSink,
    t: &Tenant,
    n: u8,
) -> Personal {
    let (client, login_id, username, address) = invited_and_accepted(s, sink, t).await;
    let word = ["Alpha", "Bravo", "Charlie"][usize::from(n / 10 - 1)];
    let (name, signer) = (format!("Erin {word} Ltd"), format!("Hannah {word}"));
    s.staff(&t.admin)
        .change_client(client, json!({"display_name": name}))
        .await;
    let browser = Browser {
        ip: format!("203.0.113.{n}"),
        agent: format!("ErasureBrowser/{}", Uuid::now_v7().simple()),
    };
    let login =
        |password: &'static str| json!({"username": username.clone(), "password": password});
    let (status, _) =
        from_browser(s, t, &browser, Method::POST, "/login", None, login("wrong")).await;
    assert_eq!(status, 401);
    let (status, body) = from_browser(
        s,
        t,
        &browser,
        Method::POST,
        "/login",
        None,
        login(PASSWORD),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let session = body["session_token"].as_str().unwrap().to_string();
    let staff = s.staff(&t.admin);
    let (contract, sha) = staff.issue_contract(client, "Engagement letter").await;
    let path = format!("/contracts/{contract}/sign");
    let sign = json!({"content_sha256": sha, "agree": true, "signer_name": signer});
    let (status, body) =
        from_browser(s, t, &browser, Method::POST, &path, Some(&session), sign).await;
    assert_eq!(status, 200, "{body}");
    Personal {
        client,
        login_id,
        name,
        signer,
        username,
        address,
        browser,
        session,
    }
}

/// `pg_dump` of the server's whole database, as text.
fn dump(s: &Server) -> String {
    let options = s.pool().connect_options();
    let bin = portal_accounts::runtime::embedded_pg::find_bin_dir().unwrap();
    let host = match options.get_socket() {
        Some(dir) => dir.display().to_string(),
        None => options.get_host().to_string(),
    };
    let out = std::process::Command::new(bin.join("pg_dump"))
        .args(["--host", &host, "--port", &options.get_port().to_string()])
        .args(["--username", options.get_username()])
        .args(["--dbname", options.get_database().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn holds(dump: &str, who: &Personal) -> Vec<String> {
    [
        &who.name,
        &who.signer,
        &who.username,
        &who.address,
        &who.browser.ip,
        &who.browser.agent,
    ]
    .into_iter()
    .filter(|value| dump.contains(value.as_str()))
    .cloned()
    .collect()
}

#[tokio::test]
async fn an_erased_client_leaves_no_personal_data_and_a_chain_that_verifies() {
    let (sink, s, t) = mailing(|app| app.trust_forwarded_for = true).await;
    let admin = s.staff(&t.admin);
    let gone = a_client_with_history(&s, &sink, &t, 10).await;
    let kept = a_client_with_history(&s, &sink, &t, 20).await;
    let other = s.tenant().await;
    let elsewhere = a_client_with_history(&s, &sink, &other, 30).await;
    eventually("the signatures in the read models", WAIT, || async {
        let history = admin.client_history(gone.client, "").await;
        let signed = history
            .events
            .iter()
            .any(|e| e.event_type == "ContractSigned");
        signed.then_some(())
    })
    .await;
    // The events already hold no personal field in the clear.
    let before = dump(&s);
    let in_log: Vec<&str> = before
        .lines()
        .filter(|l| l.contains("PortalUserCreated") || l.contains("ContractSigned"))
        .collect();
    assert!(!in_log.is_empty());
    for line in in_log {
        assert!(!line.contains(&gone.username), "sealed in the log: {line}");
        assert!(
            !line.contains(&gone.browser.agent),
            "sealed in the log: {line}"
        );
    }
    let checkpoint: Checkpoint = serde_json::from_value(s.checkpoint_now(&t, None).await).unwrap();

    // Refused, nothing written: under a hold, without a reason, by staff, another firm's
    // or an unknown id.
    let (status, hold) = admin.legal_hold(gone.client, true, "dispute").await;
    assert_eq!(status, 200, "{hold}");
    let events = common::event_count(s.pool(), t.id).await;
    let (status, body) = admin.erase(gone.client, "asked to be forgotten").await;
    assert_eq!((status, body["code"].clone()), (409, json!("legal_hold")));
    let (status, _) = admin.legal_hold(gone.client, false, "settled").await;
    assert_eq!(status, 200);
    let events = events + 1;
    let (status, body) = admin.erase(gone.client, " ").await;
    assert_eq!(
        (status, body["code"].clone()),
        (422, json!("validation_failed"))
    );
    let (status, _) = s.staff(&t.staff).erase(gone.client, "asked").await;
    assert_eq!(status, 403);
    assert_eq!(
        s.staff(&other.admin).erase(gone.client, "asked").await.0,
        404
    );
    let unknown = aggregates::ids::ClientId::from_uuid(Uuid::now_v7());
    assert_eq!(admin.erase(unknown, "asked").await.0, 404);
    assert_eq!(common::event_count(s.pool(), t.id).await, events);

    let (status, erased) = admin
        .erase(gone.client, "erasure request, ticket 4411")
        .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["plaintext_events"], json!(0));
    let position = erased["position"].as_i64().unwrap();
    let (status, body) = admin.erase(gone.client, "again").await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("client_erased"))
    );
    // Nothing more is written about the client or its login.
    let rename = json!({"display_name": "Someone New"});
    let path = format!("/api/v1/clients/{}", gone.client);
    let (status, body) = admin.call(Method::PATCH, &path, Some(rename)).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("client_erased"))
    );
    let path = format!("/api/v1/portal-users/{}/disable", gone.login_id);
    let (status, body) = admin.call(Method::POST, &path, Some(json!({}))).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("client_erased"))
    );
    assert_eq!(common::event_count(s.pool(), t.id).await, events + 1);
    common::wait_for_position(s.pool(), position, WAIT).await;

    // Staff see the client erased, its login nameless and unusable.
    let detail = admin.client(gone.client).await;
    assert!(detail.erased && detail.erased_at.is_some());
    assert_eq!(detail.client.display_name, "[erased]");
    assert_eq!(detail.client.email, None);
    assert!(detail.portal_users.iter().all(|u| u.username == "[erased]"));
    let (status, _) = login(&s, &t, &gone.username, PASSWORD).await;
    assert_eq!(status, 401);
    let (status, _) = portal(&s, &t, Method::GET, "/me", Some(&gone.session), None).await;
    assert_eq!(status, 401);

    // Auditors still see every event, its personal fields erased; the chain verifies.
    let history = admin.client_history(gone.client, "").await;
    let registered = history
        .events
        .iter()
        .find(|e| e.event_type == "ClientRegistered")
        .unwrap();
    assert_eq!(registered.payload["display_name"], json!("[erased]"));
    let signed = history
        .events
        .iter()
        .find(|e| e.event_type == "ContractSigned")
        .unwrap();
    assert_eq!(signed.payload["signer_name"], json!("[erased]"));
    assert_eq!(signed.client_ip.as_deref(), Some("[erased]"));
    assert!(history
        .events
        .iter()
        .any(|e| e.event_type == "ClientErased"));
    let auditor = s.staff(&t.auditor);
    let replayed = auditor.stream_as_of("client", gone.client.uuid(), "").await;
    assert_eq!(replayed.state["profile"]["display_name"], json!("[erased]"));
    s.checkpoint_now(&t, None).await;
    let verified = auditor.verify_chain().await;
    assert!(verified.ok, "{verified:?}");
    for side in [&verified.logins, &verified.notifications] {
        let side = side.as_ref().unwrap();
        assert!(side.ok, "{side:?}");
    }
    let verdict = auditor
        .verify_checkpoint(serde_json::to_value(&checkpoint).unwrap())
        .await;
    assert!(verdict.ok, "{verdict:?}");
    let export = auditor.export_text("").await;
    let public = s.app.audit_key.public_key();
    let report = verify_export(export.as_bytes(), Some((&checkpoint, &public))).unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert!(!export.contains(&gone.username) && !export.contains(&gone.address));

    // Nothing of it is left anywhere in the database; the others are as they were.
    let after = dump(&s);
    assert_eq!(holds(&after, &gone), Vec::<String>::new());
    for (firm, untouched) in [(&t, &kept), (&other, &elsewhere)] {
        let staff = s.staff(&firm.admin);
        let detail = staff.client(untouched.client).await;
        assert!(!detail.erased);
        assert_eq!(detail.client.display_name, untouched.name);
        assert_eq!(
            detail.client.email.as_deref(),
            Some(untouched.address.as_str())
        );
        assert_eq!(detail.portal_users[0].username, untouched.username);
        let (status, _) = login(&s, firm, &untouched.username, PASSWORD).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn a_new_master_key_rewraps_every_data_key_and_the_old_one_is_no_longer_needed() {
    use eventlog::{DataKeys, MasterKey};
    let pool = common::fresh_database().await;
    let (old_key, new_key) = (
        MasterKey::from_bytes(&[1; 32]),
        MasterKey::from_bytes(&[2; 32]),
    );
    let keys = |masters: Vec<MasterKey>| DataKeys::new(pool.clone(), masters, [7; 32]);
    let (tenant, subject) = (Uuid::now_v7(), Uuid::now_v7());
    let mut sealed = json!({"ClientRenamed": {"display_name": "Jo Rotated"}});
    keys(vec![old_key.clone()])
        .seal_payload(tenant, subject, None, &mut sealed)
        .await
        .unwrap();
    assert!(!sealed.to_string().contains("Jo Rotated"));

    let rotating = keys(vec![new_key.clone(), old_key.clone()]);
    assert_eq!(rotating.rewrap_all().await.unwrap(), 1);
    assert_eq!(rotating.rewrap_all().await.unwrap(), 0);
    let open_with = |masters| {
        let mut payload = sealed.clone();
        let keys = keys(masters);
        async move {
            keys.open_all(&mut [&mut payload]).await.unwrap();
            payload["ClientRenamed"]["display_name"].clone()
        }
    };
    assert_eq!(open_with(vec![new_key]).await, json!("Jo Rotated"));
    assert_eq!(open_with(vec![old_key]).await, json!("[erased]"));
}

#[tokio::test]
async fn archived_clients_are_erased_by_the_system_once_the_firms_retention_runs_out() {
    let (s, t) = Server::reading_with_firm().await;
    let admin = s.staff(&t.admin);
    let sweep = || portal_accounts::services::erasure::sweep_retention(&s.app);

    // Out of bounds or not a number: refused, nothing changes.
    for bad in [json!(0), json!(3651), json!("30"), json!(1.5)] {
        let (status, _) = admin
            .call(
                Method::PATCH,
                "/api/v1/settings",
                Some(json!({"erase_archived_after_days": bad})),
            )
            .await;
        assert!(matches!(status, 400 | 422), "{bad}: {status}");
    }
    assert_eq!(admin.settings().await.erase_archived_after_days, None);
    let set = admin
        .change_settings(json!({"erase_archived_after_days": 30}))
        .await;
    assert_eq!(set.erase_archived_after_days, Some(30));
    let unchanged = admin.change_settings(json!({"session_hours": 9})).await;
    assert_eq!(unchanged.erase_archived_after_days, Some(30));

    let register = |name: &'static str| admin.register_client(name, "organisation", None);
    let (due, held, active, back) = (
        register("Former Due Ltd").await,
        register("Former Held Ltd").await,
        register("Current Ltd").await,
        register("Returned Ltd").await,
    );
    for client in [due, held, back] {
        admin.archive_client(client).await;
    }
    admin.unarchive_client(back).await;
    assert_eq!(admin.legal_hold(held, true, "dispute").await.0, 200);
    // Another firm without retention keeps its archived client.
    let other = s.tenant().await;
    let theirs = s
        .staff(&other.admin)
        .register_client("Their Former Ltd", "organisation", None)
        .await;
    s.staff(&other.admin).archive_client(theirs).await;

    assert_eq!(sweep().await.unwrap(), 0, "nothing is due yet");
    s.app.clock.advance(chrono::Duration::days(31));
    assert_eq!(sweep().await.unwrap(), 1);
    assert_eq!(sweep().await.unwrap(), 0, "erased once");

    let events = common::events_of_tenant(s.pool(), t.id).await;
    let erasures: Vec<&common::Row> = events
        .iter()
        .filter(|e| e.event_type == "ClientErased")
        .collect();
    assert_eq!(erasures.len(), 1);
    assert_eq!(erasures[0].aggregate_id, due.to_string());
    assert_eq!(erasures[0].metadata["actor"]["kind"], json!("system"));
    let position = erasures[0].position;
    common::wait_for_position(s.pool(), position, WAIT).await;
    assert!(admin.client(due).await.erased);
    for kept in [held, active, back] {
        assert!(!admin.client(kept).await.erased);
    }
    assert!(!s.staff(&other.admin).client(theirs).await.erased);

    // Released from the hold, the held client is erased by the next sweep; turned off, none.
    assert_eq!(admin.legal_hold(held, false, "settled").await.0, 200);
    let off = admin
        .change_settings(json!({"erase_archived_after_days": null}))
        .await;
    assert_eq!(off.erase_archived_after_days, None);
    assert_eq!(sweep().await.unwrap(), 0);
    admin
        .change_settings(json!({"erase_archived_after_days": 30}))
        .await;
    assert_eq!(sweep().await.unwrap(), 1);
}
