//! Every SQL report in docs/reporting.md, run against data made through the API, with the
//! answers checked — so the documented reports stay true.

use crate::common;
use reqwest::Method;

use common::*;
use portal_accounts::services::contracts::{self, Signature};
use portal_accounts::store::CommandMeta;
use serde_json::json;
use sqlx::Row;

/// A connection as the firm's reporting role, made by the same code as
/// `portal-accounts reporting grant`, through the URL it prints.
async fn reporting_connection(s: &Server, t: &Tenant) -> sqlx::PgPool {
    let connect = s.pool().connect_options();
    let grant = portal_accounts::runtime::reporting::grant(s.pool(), &connect, &t.slug)
        .await
        .unwrap();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&grant.url)
        .await
        .unwrap_or_else(|e| panic!("connecting as {}: {e}", grant.role))
}

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
    let (s, t) = Server::reading_with_firm().await;
    let staff = s.staff(&t.staff);
    let client = |name: &'static str, email: Option<&'static str>| {
        staff.register_client(name, "organisation", email)
    };
    let acme = client("Acme", Some("a@example.org")).await;
    let birch = client("Birch", Some("b@example.org")).await;
    let _cedar = client("Cedar", Some("c@example.org")).await;
    let _dune = client("Dune", None).await;
    for c in [acme, birch] {
        staff.invite(c).await;
    }
    let user = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{acme}/portal-users"),
            Some(json!({"email": "a@example.org", "password": "a long enough password"})),
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
    s.staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{birch}/portal-users"),
            Some(json!({"email": "b@example.org"})),
        )
        .await;
    let mut items = Vec::new();
    for (sku, price, currency) in [("A", 1000, "GBP"), ("B", 2500, "GBP"), ("C", 900, "EUR")] {
        let item = s.staff(&t.staff).ok(Method::POST, "/api/v1/items", Some(json!({"sku": sku, "name": sku, "unit_price": {"amount_minor": price, "currency": currency}}))).await;
        items.push(id_of(&item, "id"));
    }
    // A's price changes after this moment: the report "at a date" asks about it.
    let before_change = chrono::Utc::now();
    let _ = s
        .staff(&t.staff)
        .ok(
            reqwest::Method::PUT,
            &format!("/api/v1/items/{}/price", items[0]),
            Some(json!({"unit_price": {"amount_minor": 1200, "currency": "GBP"}})),
        )
        .await;
    for item in &items {
        s.staff(&t.staff)
            .ok(
                Method::POST,
                &format!("/api/v1/clients/{acme}/items"),
                Some(json!({"item_id": item})),
            )
            .await;
    }
    s.staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{birch}/items"),
            Some(json!({"item_id": items[1]})),
        )
        .await;
    let mut signed = None;
    for title in ["One", "Two"] {
        let c = s
            .staff(&t.staff)
            .ok(
                Method::POST,
                &format!("/api/v1/clients/{acme}/contracts"),
                Some(json!({"title": title, "body": "Terms"})),
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
                signer_name: Some(aggregates::values::SignerName::parse("A. Acme").unwrap()),
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
    let _ = s
        .staff(&t.staff)
        .ok(
            reqwest::Method::GET,
            &format!(
                "/api/v1/dashboard/invitations?min_position={}",
                signed.unwrap()
            ),
            None,
        )
        .await;

    // What the mail consumer makes of the link-issuing events (no sender runs here).
    let notifications = portal_accounts::mail::notifications::Notifications {
        keys: s.app.keys().clone(),
    };
    projections::Engine::new(s.pool().clone(), s.app.keys().clone(), vec![])
        .catch_up(&notifications)
        .await
        .unwrap();

    // Every report runs as the firm's reporting role: no tenant filter of its own.
    let analyst = reporting_connection(&s, &t).await;
    let reports = documented_reports();
    assert_eq!(reports.len(), 11, "{reports:?}");
    for (name, sql) in &reports {
        let query = sqlx::query(sql);
        let query = if sql.contains("$1") {
            query.bind(before_change)
        } else {
            query
        };
        let rows = query
            .fetch_all(&analyst)
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
            "Not-invited clients" => {
                let counts: (i64, i64) = (rows[0].get("not_invited"), rows[0].get("without_email"));
                assert_eq!(counts, (2, 1));
            }
            "Items per customer" => {
                let got: Vec<(String, Option<String>, i64, i64)> = rows
                    .iter()
                    .map(|r| {
                        (
                            r.get("customer"),
                            r.get("currency"),
                            r.get("items"),
                            r.get("total_minor"),
                        )
                    })
                    .collect();
                let gbp = |c: &str, n, total| (c.to_string(), Some("GBP".to_string()), n, total);
                assert_eq!(got[0], gbp("Acme", 2, 3700), "today's prices, pounds only");
                assert!(
                    got.contains(&("Acme".into(), Some("EUR".into()), 1, 900)),
                    "{got:?}"
                );
                assert!(got.contains(&gbp("Birch", 1, 2500)));
                assert_eq!(
                    got.len(),
                    5,
                    "every customer, one row per currency: {got:?}"
                );
            }
            "Price of every item at a date" => {
                let got: Vec<(String, i64, String)> = rows
                    .iter()
                    .map(|r| (r.get("sku"), r.get("amount_minor"), r.get("currency")))
                    .collect();
                assert_eq!(
                    got,
                    [
                        ("A".into(), 1000, "GBP".into()),
                        ("B".into(), 2500, "GBP".into()),
                        ("C".into(), 900, "EUR".into())
                    ],
                    "A's price before it changed"
                );
            }
            "Invitation funnel by week" => {
                assert_eq!(rows.len(), 1);
                let funnel: (i64, i64, i64) = (
                    rows[0].get("sent"),
                    rows[0].get("still_open"),
                    rows[0].get("accepted"),
                );
                assert_eq!(funnel, (2, 2, 0));
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
                        ("contract_signed".into(), "pending".into(), 1),
                        ("contract_to_sign".into(), "pending".into(), 2),
                        ("invitation".into(), "pending".into(), 2)
                    ]
                );
            }
            "Logins of the last 30 days by how they were completed" => {
                let counts: (i64, i64, i64, i64) = (
                    rows[0].get("password_only"),
                    rows[0].get("with_a_second_step"),
                    rows[0].get("by_recovery_code"),
                    rows[0].get("by_passkey"),
                );
                assert_eq!(counts, (1, 0, 0, 0));
            }
            "Active logins with a second factor" => {
                let counts: (i64, i64, i64, i64) = (
                    rows[0].get("with_an_app"),
                    rows[0].get("with_a_passkey"),
                    rows[0].get("few_codes_left"),
                    rows[0].get("logins"),
                );
                assert_eq!(counts, (0, 0, 0, 1));
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
        (200, Some(acme.to_string().as_str()))
    );
}

/// Everything a firm's reporting tables hold, a row or more of each.
async fn populate(s: &Server, t: &Tenant) -> i64 {
    let staff = s.staff(&t.staff);
    let client = staff
        .register_client("Isolated", "organisation", Some("i@example.org"))
        .await;
    staff.invite(client).await;
    let (_, user) = staff
        .create_portal_user(
            client,
            json!({"email": "u@example.org", "password": "a long enough password"}),
        )
        .await;
    let login = json!({"username": user.username, "password": "a long enough password"});
    s.http
        .post(format!("{}/portal/v1/{}/login", s.base, t.slug))
        .json(&login)
        .send()
        .await
        .unwrap();
    let item = staff.create_item("ISO", "Isolated item", 100).await;
    staff.assign_item(client, item).await;
    let issued = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{client}/contracts"),
            Some(json!({"title": "Terms", "body": "Terms."})),
        )
        .await;
    issued["position"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporting_role_sees_only_its_firm_reads_no_secret_and_cannot_write() {
    use portal_accounts::runtime::reporting::{TABLES, VIEWS};
    let s = Server::start_reading().await;
    let (ours, theirs) = (s.tenant().await, s.tenant().await);
    populate(&s, &ours).await;
    let newest = populate(&s, &theirs).await;
    let _ = s
        .staff(&theirs.staff)
        .ok(
            reqwest::Method::GET,
            &format!("/api/v1/dashboard/invitations?min_position={newest}"),
            None,
        )
        .await;
    let notifications = portal_accounts::mail::notifications::Notifications {
        keys: s.app.keys().clone(),
    };
    projections::Engine::new(s.pool().clone(), s.app.keys().clone(), vec![])
        .catch_up(&notifications)
        .await
        .unwrap();
    let analyst = reporting_connection(&s, &ours).await;
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reporting.md")).unwrap();

    for relation in TABLES.iter().chain(VIEWS) {
        let count = |sql: String, pool: sqlx::PgPool| async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .bind(ours.id)
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        };
        let seen = count(
            format!("SELECT count(*) FROM {relation} WHERE $1::uuid IS NOT NULL"),
            analyst.clone(),
        )
        .await;
        let foreign = count(
            format!("SELECT count(*) FROM {relation} WHERE tenant_id <> $1"),
            analyst.clone(),
        )
        .await;
        let own = count(
            format!("SELECT count(*) FROM {relation} WHERE tenant_id = $1"),
            s.pool().clone(),
        )
        .await;
        assert!(own > 0, "{relation} has rows of ours to compare");
        assert_eq!(
            (seen, foreign),
            (own, 0),
            "{relation}: all of ours, none of theirs"
        );
        // The guide documents every column of it.
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
        )
        .bind(relation)
        .fetch_all(s.pool())
        .await
        .unwrap();
        assert!(
            doc.contains(relation),
            "{relation} is not in docs/reporting.md"
        );
        for column in columns {
            assert!(
                doc.contains(&column),
                "{relation}.{column} is not in docs/reporting.md"
            );
        }
    }

    let refused = |sql: &'static str| {
        let analyst = analyst.clone();
        async move {
            let e = sqlx::query(sql).execute(&analyst).await.err();
            let text = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                text.contains("permission denied") || text.contains("read-only"),
                "{sql} was not refused: {text}"
            );
        }
    };
    for sql in [
        "SELECT 1 FROM events LIMIT 1",
        "SELECT 1 FROM tenants LIMIT 1",
        "SELECT 1 FROM staff_members LIMIT 1",
        "SELECT 1 FROM reporting_roles LIMIT 1",
        "SELECT 1 FROM audit_chain_heads LIMIT 1",
        "SELECT 1 FROM item_images LIMIT 1",
        "SELECT 1 FROM secrets.portal_credentials LIMIT 1",
        "SELECT 1 FROM secrets.portal_sessions LIMIT 1",
        "SELECT 1 FROM secrets.staff_tokens LIMIT 1",
        "SELECT 1 FROM secrets.idempotency_keys LIMIT 1",
        "SELECT username_key FROM portal_logins LIMIT 1",
        "SELECT link_id FROM notifications LIMIT 1",
        "SELECT key FROM portal_login_throttle LIMIT 1",
        "INSERT INTO rm_items (tenant_id, item_id, sku, name, amount_minor, currency, created_at, last_position) VALUES (gen_random_uuid(), gen_random_uuid(), 'x', 'x', 1, 'GBP', now(), 0)",
        "UPDATE rm_clients SET display_name = 'changed'",
        "DELETE FROM rm_contracts",
    ] {
        refused(sql).await;
    }

    // A new grant gives a new password: the old one no longer works, nor a wrong one.
    let connect = s.pool().connect_options();
    let grant = portal_accounts::runtime::reporting::grant(s.pool(), &connect, &ours.slug)
        .await
        .unwrap();
    let url = grant.url;
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    let wrong = url.replace(password, "not-the-password");
    assert!(
        sqlx::PgPool::connect(&wrong).await.is_err(),
        "a password is required"
    );
    sqlx::PgPool::connect(&url).await.unwrap();

    // Revoked: the role is gone, and its URL connects no more.
    assert!(
        portal_accounts::runtime::reporting::revoke(s.pool(), &ours.slug)
            .await
            .unwrap()
    );
    assert!(sqlx::PgPool::connect(&url).await.is_err());
}
