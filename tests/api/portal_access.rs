//! What a logged-in portal user reaches: only its own clients, signing only what it was
//! shown; bad portal input gets clear errors.

use crate::common;

use aggregates::ids::ContractId;
use common::portal_flow::*;
use common::send;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn a_portal_user_reaches_only_its_own_clients_and_signs_only_what_it_was_shown() {
    let (sink, s, t) = mailing(|_| {}).await;
    let (mine, user, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let theirs = client_with_email(&s, &t, "organisation", &email("other")).await;
    let token = session(&s, &t, &username, PASSWORD).await;

    let (their_contract, their_hash) = issue_contract(&s, &t, theirs, "Theirs").await;
    let (my_contract, my_hash) = issue_contract(&s, &t, mine, "Mine").await;
    let (voided, voided_hash) = issue_contract(&s, &t, mine, "Withdrawn").await;
    s.staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/contracts/{voided}/void"),
            Some(json!({})),
        )
        .await;

    let sign = |contract: ContractId, hash: String| {
        let path = format!("/contracts/{contract}/sign");
        let (s, t, token) = (&s, &t, token.clone());
        async move {
            let body = json!({"signer_name": "Me", "content_sha256": hash, "agree": true});
            portal(s, t, Method::POST, &path, Some(&token), Some(body)).await
        }
    };
    assert_eq!(
        portal(
            &s,
            &t,
            Method::GET,
            &format!("/clients/{theirs}/items"),
            Some(&token),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        portal(
            &s,
            &t,
            Method::GET,
            &format!("/contracts/{their_contract}"),
            Some(&token),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(sign(their_contract, their_hash).await.0, 404);
    assert_eq!(
        portal(
            &s,
            &t,
            Method::GET,
            "/clients/not-a-uuid/items",
            Some(&token),
            None
        )
        .await
        .0,
        404
    );

    let (status, body) = sign(my_contract, "0".repeat(64)).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("content_changed"))
    );
    let (status, body) = portal(
        &s,
        &t,
        Method::POST,
        &format!("/contracts/{my_contract}/sign"),
        Some(&token),
        Some(json!({"signer_name": "Me", "content_sha256": my_hash, "agree": false})),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["field"].clone()),
        (422, json!("agree"))
    );
    let (status, signed) = sign(my_contract, my_hash.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(sign(my_contract, my_hash).await.0, 409, "already signed");

    // Staff see the client's contracts, and the signed one with its text and signature.
    let staff = s.staff(&t.staff);
    let wait = format!("min_position={}", signed["position"]);
    let listed = staff
        .get(&format!("/api/v1/clients/{mine}/contracts?{wait}"))
        .await;
    let titles: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "{listed}");
    assert!(titles.contains(&"Mine") && titles.contains(&"Withdrawn"));
    let detail = staff
        .get(&format!("/api/v1/contracts/{my_contract}?{wait}"))
        .await;
    assert_eq!(
        (&detail["status"], &detail["body"]),
        (&json!("signed"), &json!("Terms."))
    );
    let signature = &detail["signature"];
    assert_eq!(
        (
            &signature["signer_name"],
            &signature["username"],
            &signature["portal_user_id"]
        ),
        (&json!("Me"), &json!(username), &json!(user))
    );
    assert_eq!(signature["ip"], "127.0.0.1");
    // (This test client sends no User-Agent: the field is there, empty.)
    assert!(signature["signed_at"].is_string() && signature.get("user_agent").is_some());
    let unsigned = staff.get(&format!("/api/v1/contracts/{voided}")).await;
    assert_eq!(unsigned["signature"], Value::Null);
    let unknown = format!("/api/v1/clients/{}/contracts", Uuid::now_v7());
    assert_eq!(staff.refused(Method::GET, &unknown, None).await.0, 404);
    assert_eq!(sign(voided, voided_hash).await.0, 409, "voided");

    // A group login reaches a second client once staff grant it.
    s.staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/portal-users/{user}/client-access"),
            Some(json!({"client_id": theirs})),
        )
        .await;
    let (_, me) = portal(&s, &t, Method::GET, "/me", Some(&token), None).await;
    assert_eq!(me["clients"].as_array().unwrap().len(), 2, "{me}");
    assert_eq!(
        portal(
            &s,
            &t,
            Method::GET,
            &format!("/contracts/{their_contract}"),
            Some(&token),
            None
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn bad_portal_input_gets_clear_errors() {
    let (_sink, s, t) = mailing(|_| {}).await;
    let post = |path: &str, body: &str| {
        s.http
            .post(format!("{}/portal/v1/{}{path}", s.base, t.slug))
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    for (path, body, status) in [
        ("/login", "{not json", 400),
        ("/login", r#"{"username": 1, "password": "x"}"#, 400),
        ("/login", r#"{"username": "a"}"#, 400),
        (
            "/invitations/accept",
            r#"{"token": "x", "username": "ab", "password": "y"}"#,
            422,
        ),
        ("/password/forgot", r#"{"user": "x"}"#, 400),
        (
            "/password/reset",
            r#"{"token": "x", "new_password": "long enough password"}"#,
            410,
        ),
        ("/logout", "", 401),
    ] {
        let (got, body) = send(post(path, body)).await;
        assert_eq!(got, status, "{path}: {body}");
    }
    let (status, body) = send(
        s.http
            .post(format!("{}/portal/v1/no-such-firm/login", s.base))
            .json(&json!({"username": "a", "password": "b"})),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (404, json!("not_found")));
    let (status, _) = send(
        s.http
            .get(format!("{}/portal/v1/{}/me", s.base, t.slug))
            .bearer_auth("pss_nonsense"),
    )
    .await;
    assert_eq!(status, 401);
}
