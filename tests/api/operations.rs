//! Operations endpoints, the OpenAPI document, and the event table's compatibility with
//! postgres-es.

use crate::common;

use common::*;
use cqrs_es::persist::PersistedEventRepository;
use postgres_es::PostgresEventRepository;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn health_readiness_metrics_and_docs() {
    let s = Server::start().await;
    let get = |path: &str| s.http.get(format!("{}{path}", s.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");

    let t = s.tenant().await;
    let _ = s
        .post(
            "/api/v1/clients",
            &t.staff,
            json!({"display_name": "M", "kind": "individual"}),
        )
        .await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total{"), "{metrics}");
    assert!(metrics.contains(r#"route="/api/v1/clients""#), "{metrics}");
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );

    // Swagger UI from inside the binary, pointed at our document.
    let docs = get("/docs/").await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
    let init = get("/docs/swagger-initializer.js").await.unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/openapi.json"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let s = Server::start().await;
    let spec = s.get_json("/openapi.json").await;
    // Every error is documented as problem+json; staff routes document 401 and 403.
    let register = &spec["paths"]["/api/v1/clients"]["post"]["responses"];
    for status in ["400", "401", "403", "422", "503"] {
        assert!(
            register[status]["content"]["application/problem+json"].is_object(),
            "{status}: {register}"
        );
        assert!(register[status]["content"]["application/json"].is_null());
    }
    let login = &spec["paths"]["/portal/v1/{tenant_slug}/login"]["post"]["responses"];
    assert!(
        login["404"].is_object() && login["429"].is_object(),
        "{login}"
    );
    let expected = [
        ("post", "/api/v1/clients"),
        ("patch", "/api/v1/clients/{id}"),
        ("post", "/api/v1/clients/{id}/invitations"),
        ("delete", "/api/v1/clients/{id}/invitations/current"),
        ("post", "/api/v1/invitations/bulk"),
        ("post", "/api/v1/clients/{id}/portal-users"),
        ("post", "/api/v1/portal-users/{id}/client-access"),
        (
            "delete",
            "/api/v1/portal-users/{id}/client-access/{client_id}",
        ),
        ("post", "/api/v1/portal-users/{id}/password-reset"),
        ("post", "/api/v1/portal-users/{id}/disable"),
        ("post", "/api/v1/portal-users/{id}/enable"),
        ("delete", "/api/v1/portal-users/{id}"),
        ("post", "/api/v1/items"),
        ("put", "/api/v1/items/{id}/price"),
        ("put", "/api/v1/items/{id}/image"),
        ("get", "/api/v1/items/{id}/image"),
        ("post", "/api/v1/clients/{id}/items"),
        ("delete", "/api/v1/clients/{id}/items/{item_id}"),
        ("post", "/api/v1/clients/{id}/contracts"),
        ("post", "/api/v1/contracts/{id}/void"),
        ("put", "/api/v1/settings/portal"),
        ("get", "/api/v1/clients"),
        ("get", "/api/v1/clients/{id}"),
        ("get", "/api/v1/portal-users/{id}"),
        ("patch", "/api/v1/portal-users/{id}"),
        ("get", "/api/v1/dashboard/invitations"),
        ("get", "/api/v1/clients/{id}/items"),
        ("get", "/api/v1/contracts/{id}"),
        ("get", "/api/v1/audit/events"),
        ("get", "/api/v1/audit/clients/{id}/history"),
        ("get", "/api/v1/audit/streams/{stream_type}/{stream_id}"),
        ("get", "/api/v1/audit/export"),
        ("get", "/api/v1/audit/verify"),
        ("get", "/api/v1/audit/logins"),
        ("get", "/api/v1/clients/{id}/notifications"),
        ("post", "/portal/v1/{tenant_slug}/invitations/accept"),
        ("post", "/portal/v1/{tenant_slug}/activate"),
        ("post", "/portal/v1/{tenant_slug}/login"),
        ("post", "/portal/v1/{tenant_slug}/password/forgot"),
        ("post", "/portal/v1/{tenant_slug}/username/forgot"),
        ("post", "/portal/v1/{tenant_slug}/password/reset"),
        ("post", "/portal/v1/{tenant_slug}/logout"),
        ("get", "/portal/v1/{tenant_slug}/me"),
        ("get", "/portal/v1/{tenant_slug}/clients/{client_id}/items"),
        ("get", "/portal/v1/{tenant_slug}/contracts"),
        ("get", "/portal/v1/{tenant_slug}/contracts/{id}"),
        ("post", "/portal/v1/{tenant_slug}/contracts/{id}/sign"),
    ];
    for (method, path) in expected {
        let op = &spec["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing from /openapi.json");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["staff_token"]["scheme"],
        "bearer"
    );
    assert!(spec["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn postgres_es_reads_the_streams_we_write() {
    let (s, t) = Server::with_firm().await;
    let client = s
        .staff(&t.staff)
        .register_client("Jo", "individual", Some("jo@example.org"))
        .await
        .to_string();
    let _ = s
        .staff(&t.staff)
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{client}/invitations"),
            Some(json!({})),
        )
        .await;

    let repo = PostgresEventRepository::new(s.pool().clone());
    let events = repo
        .get_events::<aggregates::client::Client>(&client)
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["ClientRegistered", "ClientInvited"]);
    assert_eq!(events[1].sequence, 2);
    let decoded: aggregates::client::ClientEvent =
        serde_json::from_value(events[0].payload.clone()).unwrap();
    assert!(matches!(
        decoded,
        aggregates::client::ClientEvent::ClientRegistered { .. }
    ));
}

#[tokio::test]
async fn the_event_log_refuses_updates_and_deletes() {
    let (s, t) = Server::with_firm().await;
    let update = sqlx::query("UPDATE events SET payload = '{}' WHERE tenant_id = $1")
        .bind(t.id)
        .execute(s.pool())
        .await;
    assert!(update.is_err());
    let delete = sqlx::query("DELETE FROM events WHERE tenant_id = $1")
        .bind(t.id)
        .execute(s.pool())
        .await;
    assert!(delete.is_err());
    assert!(event_count(s.pool(), t.id).await > 0);
}

#[tokio::test]
async fn an_unreachable_database_answers_503_with_retry_after() {
    let dead = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(3))
        .connect_lazy("postgres://nobody@127.0.0.1:1/nothing")
        .unwrap();
    let s = Server::start_with(app(dead)).await;
    let (_, token) = portal_accounts::security::new_staff_token();
    let response = s
        .request(Method::POST, "/api/v1/clients", &token)
        .json(&json!({"display_name": "X", "kind": "individual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "database_unavailable");
    assert!(
        !problem["detail"].as_str().unwrap().contains("127.0.0.1"),
        "no internals in the body"
    );
    // Known down now: the next requests answer at once, not after the pool's 3 s timeout.
    let started = std::time::Instant::now();
    s.staff(&token)
        .assert_refused(
            Method::GET,
            "/api/v1/clients",
            None,
            (503, "database_unavailable"),
        )
        .await;
    assert_eq!(s.get_status("/readyz").await, 503);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "failing fast took {:?}",
        started.elapsed()
    );
    assert_eq!(
        s.http
            .get(format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn once_the_database_answers_again_requests_are_served_again() {
    let (s, t) = Server::with_firm().await;
    // As if a request had just found the database unreachable.
    s.app.db_health.mark_down(s.pool());
    let (status, _) = s.call(Method::GET, "/api/v1/clients", &t.staff, None).await;
    assert_eq!(status, 503);
    // The probe finds it answering and lets requests through again.
    let answered = || async {
        let (status, _) = s.call(Method::GET, "/api/v1/clients", &t.staff, None).await;
        (status == 200).then_some(())
    };
    eventually(
        "requests let through again",
        std::time::Duration::from_secs(10),
        answered,
    )
    .await;
}
