//! `Idempotency-Key` kept in the command's own transaction: duplicates racing each other,
//! a request that dies before its commit, and a client that drops the connection while
//! its command commits — each leaves exactly one effect and one answer.

use crate::common;

use common::*;
use futures::future::join_all;
use portal_accounts::services::clients::{self, NewClient};
use portal_accounts::store::idempotency::{self, Claim};
use reqwest::Method;
use serde_json::{json, Value};

fn registration(name: &str) -> Value {
    json!({"display_name": name, "kind": "organisation"})
}

async fn registered(s: &Server, t: &Tenant, name: &str) -> i64 {
    let events = common::events_of_tenant(s.pool(), t.id).await;
    let named = |e: &&common::Row| {
        e.event_type == "ClientRegistered" && e.payload["ClientRegistered"]["display_name"] == name
    };
    events.iter().filter(named).count() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_racing_each_other_run_once_and_share_one_answer() {
    let (s, t) = Server::with_firm().await;
    let answers = join_all((0..12).map(|_| {
        send(
            s.request(Method::POST, "/api/v1/clients", &t.staff)
                .header("Idempotency-Key", "race-1")
                .json(&registration("Raced")),
        )
    }))
    .await;
    let first = &answers[0];
    assert!(
        answers.iter().all(|a| a == first && a.0 == 201),
        "{answers:?}"
    );
    assert_eq!(registered(&s, &t, "Raced").await, 1);
}

#[tokio::test]
async fn a_request_that_dies_before_its_commit_leaves_no_key_behind() {
    let (s, t) = Server::with_firm().await;
    let body = registration("Died");
    let fingerprint = {
        let mut material = b"POST /api/v1/clients\n".to_vec();
        material.extend_from_slice(&serde_json::to_vec(&body).unwrap());
        s.app.secret.request_fingerprint(&material)
    };
    // The command runs and its transaction is held for the answer — then the process
    // "dies": the held transaction is dropped, as a crash or a restart of PostgreSQL would.
    let claim = Claim {
        tenant_id: t.id,
        key: "died-1".into(),
        fingerprint,
    };
    let meta = portal_accounts::store::CommandMeta {
        tenant_id: t.id,
        actor: eventlog::Actor::system(),
        via_token: None,
        request_id: "died".into(),
        client_ip: None,
        user_agent: None,
        command: "",
    };
    let new = NewClient {
        display_name: aggregates::values::DisplayName::parse("Died").unwrap(),
        kind: aggregates::values::ClientKind::Organisation,
        email: None,
        external_ref: None,
    };
    let (outcome, slot) = idempotency::claimed(claim, clients::register(&s.app, &meta, new)).await;
    assert!(outcome.is_ok());
    let held = slot.lock().unwrap().take_held();
    assert!(held.is_some(), "the first commit waits for its answer");
    drop(held);
    assert_eq!(registered(&s, &t, "Died").await, 0, "nothing committed");

    // The client's retry is not stuck behind the key: it runs, once.
    for _ in 0..2 {
        let (status, _) = send(
            s.request(Method::POST, "/api/v1/clients", &t.staff)
                .header("Idempotency-Key", "died-1")
                .json(&body),
        )
        .await;
        assert_eq!(status, 201);
    }
    assert_eq!(registered(&s, &t, "Died").await, 1);
}

#[tokio::test]
async fn a_client_gone_while_its_command_commits_retries_without_a_second_effect() {
    let (s, t) = Server::with_firm().await;
    let body = registration("Dropped");
    // The client gives up almost at once: the server may have committed, or not.
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(3))
        .build()
        .unwrap();
    let _ = impatient
        .post(format!("{}/api/v1/clients", s.base))
        .bearer_auth(&t.staff)
        .header("Idempotency-Key", "dropped-1")
        .json(&body)
        .send()
        .await;
    // Its retries get one answer, whichever way the first attempt went.
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            send(
                s.request(Method::POST, "/api/v1/clients", &t.staff)
                    .header("Idempotency-Key", "dropped-1")
                    .json(&body),
            )
            .await,
        );
    }
    assert!(
        answers.iter().all(|a| a == &answers[0] && a.0 == 201),
        "{answers:?}"
    );
    assert_eq!(registered(&s, &t, "Dropped").await, 1);
}

#[tokio::test]
async fn a_kept_answer_holding_a_secret_is_replayed_but_never_stored_readable() {
    let (s, t) = Server::with_firm().await;
    let issue = || {
        s.request(Method::POST, "/api/v1/tokens", &t.admin)
            .header("Idempotency-Key", "issue-ci-token")
            .json(&json!({"label": "CI", "role": "staff"}))
    };
    let (status, first) = send(issue()).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = send(issue()).await;
    assert_eq!(status, 201, "{again}");
    let token = first["token"].as_str().unwrap();
    assert_eq!(
        again["token"], token,
        "the same answer, the secret shown again to its caller"
    );
    let kept: Vec<u8> = sqlx::query_scalar(
        "SELECT response_body FROM idempotency_keys WHERE tenant_id = $1 AND key = 'issue-ci-token'",
    )
    .bind(t.id)
    .fetch_one(s.pool())
    .await
    .unwrap();
    let secret = token.rsplit('_').next().unwrap().as_bytes();
    assert!(
        !kept.windows(secret.len()).any(|w| w == secret),
        "the kept answer holds the token readable"
    );
    assert!(
        !String::from_utf8_lossy(&kept).contains("\"token\""),
        "kept sealed"
    );
}
