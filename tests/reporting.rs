//! Every SQL report in docs/reporting.md, run against data made through the API, with the
//! answers checked — so the documented reports stay true.

mod common;

use common::*;
use portal_accounts::services::contracts::{self, Signature};
use portal_accounts::store::CommandMeta;
use serde_json::json;
use sqlx::Row;

/// The ```sql blocks of the reporting guide, each with the heading above it.
fn documented_reports() -> Vec<(String, String)> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reporting.md")).unwrap();
    let mut reports = Vec::new();
    let mut heading = String::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.to_string();
        } else if line.trim() == "```sql" {
            let sql: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            reports.push((heading.clone(), sql.join("\n")));
        }
    }
    reports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_reports_answer_correctly() {
    let s = Server::start_reading().await;
    let t = s.tenant().await;
    let client = |name: &str, email: Option<&str>| {
        let body = json!({"display_name": name, "kind": "organisation", "email": email});
        let (s, staff) = (&s, &t.staff);
        async move { id_of(&s.post("/api/v1/clients", staff, body).await.1, "id") }
    };
    let acme = client("Acme", Some("a@example.org")).await;
    let birch = client("Birch", Some("b@example.org")).await;
    let _cedar = client("Cedar", Some("c@example.org")).await;
    let _dune = client("Dune", None).await;
    for c in [&acme, &birch] {
        s.post(
            &format!("/api/v1/clients/{c}/invitations"),
            &t.staff,
            json!({}),
        )
        .await;
    }
    let (_, user) = s
        .post(
            &format!("/api/v1/clients/{acme}/portal-users"),
            &t.staff,
            json!({"email": "a@example.org", "password": "a long enough password"}),
        )
        .await;
    let username = id_of(&user, "username");
    let user = uuid::Uuid::try_parse(&id_of(&user, "id")).unwrap();
    for password in ["not the right one", "a long enough password"] {
        let login = json!({"username": username, "password": password});
        s.http
            .post(format!("{}/portal/v1/{}/login", s.base, t.slug))
            .json(&login)
            .send()
            .await
            .unwrap();
    }
    s.post(
        &format!("/api/v1/clients/{birch}/portal-users"),
        &t.staff,
        json!({"email": "b@example.org"}),
    )
    .await;
    let mut items = Vec::new();
    for (sku, price) in [("A", 1000), ("B", 2500)] {
        let (_, item) = s
            .post("/api/v1/items", &t.staff, json!({"sku": sku, "name": sku, "unit_price": {"amount_minor": price, "currency": "GBP"}}))
            .await;
        items.push(id_of(&item, "id"));
    }
    for item in &items {
        s.post(
            &format!("/api/v1/clients/{acme}/items"),
            &t.staff,
            json!({"item_id": item}),
        )
        .await;
    }
    s.post(
        &format!("/api/v1/clients/{birch}/items"),
        &t.staff,
        json!({"item_id": items[1]}),
    )
    .await;
    let mut signed = None;
    for title in ["One", "Two"] {
        let (_, c) = s
            .post(
                &format!("/api/v1/clients/{acme}/contracts"),
                &t.staff,
                json!({"title": title, "body": "Terms"}),
            )
            .await;
        if title == "One" {
            let meta = CommandMeta {
                tenant_id: t.id,
                actor: eventlog::Actor::new(eventlog::ActorKind::PortalUser, Some(user), None),
                via_token: None,
                request_id: "report-test".into(),
                client_ip: Some("127.0.0.1".into()),
                user_agent: None,
                command: "",
            };
            let signature = Signature {
                portal_user_id: user,
                signer_name: aggregates::values::SignerName::parse("A. Acme").unwrap(),
                content_sha256: c["content_sha256"].as_str().unwrap().to_string(),
            };
            let id = uuid::Uuid::try_parse(&id_of(&c, "id")).unwrap();
            signed = Some(
                contracts::sign(&s.app, &meta, id, signature)
                    .await
                    .unwrap()
                    .position,
            );
        }
    }
    let (status, _) = s
        .call(
            reqwest::Method::GET,
            &format!(
                "/api/v1/dashboard/invitations?min_position={}",
                signed.unwrap()
            ),
            &t.staff,
            None,
        )
        .await;
    assert_eq!(status, 200);

    // What the mail consumer makes of the link-issuing events (no sender runs here).
    let notifications = portal_accounts::mail::notifications::Notifications;
    projections::Engine::new(s.pool().clone(), vec![])
        .catch_up(&notifications)
        .await
        .unwrap();

    let reports = documented_reports();
    assert_eq!(reports.len(), 7, "{reports:?}");
    for (name, sql) in &reports {
        let query = sqlx::query(sql);
        let query = if sql.contains("$1") {
            query.bind(t.id)
        } else {
            query
        };
        let rows = query
            .fetch_all(s.pool())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        match name.as_str() {
            "Activation rate per month" => {
                assert_eq!(rows.len(), 1);
                let (created, activated): (i64, i64) =
                    (rows[0].get("logins_created"), rows[0].get("activated"));
                assert_eq!((created, activated), (2, 1));
            }
            "Median time from invitation to activation" => {
                assert_eq!(rows[0].get::<i64, _>("clients"), 1);
            }
            "Not-invited clients per firm" => {
                let ours = rows
                    .iter()
                    .find(|r| r.get::<String, _>("firm") == t.slug)
                    .unwrap();
                assert_eq!(
                    (
                        ours.get::<i64, _>("not_invited"),
                        ours.get::<i64, _>("without_email")
                    ),
                    (2, 1)
                );
            }
            "Items per customer" => {
                let top: (String, i64, i64) = (
                    rows[0].get("customer"),
                    rows[0].get("items"),
                    rows[0].get("total_minor"),
                );
                assert_eq!(top, ("Acme".to_string(), 2, 3500));
                assert_eq!(rows.len(), 4, "every customer, with or without items");
            }
            "Contracts signed per month" => {
                assert_eq!(rows.len(), 1);
                assert_eq!(rows[0].get::<i64, _>("signed"), 1);
            }
            "E-mails not delivered" => {
                let got: Vec<(String, String, i64)> = rows
                    .iter()
                    .map(|r| (r.get("kind"), r.get("status"), r.get("emails")))
                    .collect();
                assert_eq!(
                    got,
                    [
                        ("activation".into(), "pending".into(), 1),
                        ("invitation".into(), "pending".into(), 2)
                    ]
                );
            }
            "Failed logins per day" => {
                assert_eq!(rows.len(), 1);
                let counts: (i64, i64) = (rows[0].get("succeeded"), rows[0].get("failed"));
                assert_eq!(counts, (1, 1));
            }
            other => panic!("a report without a check: {other}"),
        }
    }

    let (status, contract) = s
        .call(
            reqwest::Method::GET,
            "/api/v1/clients?status=active",
            &t.staff,
            None,
        )
        .await;
    assert_eq!(
        (status, contract["items"][0]["id"].as_str()),
        (200, Some(acme.as_str()))
    );
}
