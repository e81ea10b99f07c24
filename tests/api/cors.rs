//! A browser-based staff UI may call the API only from the origins configured
//! (`PORTAL_CORS_ORIGINS`); with none configured, from none.

use crate::common;

use common::*;
use reqwest::Method;

const UI: &str = "https://staff.example.com";

async fn preflight(s: &Server, origin: &str) -> reqwest::Response {
    s.http
        .request(Method::OPTIONS, format!("{}/api/v1/clients", s.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key, x-acting-staff",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_configured_origins_may_call_from_a_browser() {
    let mut app = app(pool().await);
    app.cors_origins = portal_accounts::http::cors::parse_origins(&[UI.to_string()]).unwrap();
    let s = Server::start_with(app).await;
    let t = s.tenant().await;

    let allowed = preflight(&s, UI).await;
    assert!(allowed.status().is_success());
    assert_eq!(allowed.headers()["access-control-allow-origin"], UI);
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("x-acting-staff"));

    let refused = preflight(&s, "https://evil.example.net").await;
    assert!(!refused
        .headers()
        .contains_key("access-control-allow-origin"));

    let read = s
        .request(Method::GET, "/api/v1/clients", &t.staff)
        .header("origin", UI)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["access-control-allow-origin"], UI);
    assert!(read.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("x-request-id"));
}

#[tokio::test]
async fn with_no_origins_configured_no_browser_may_call() {
    let s = Server::start().await;
    let response = preflight(&s, UI).await;
    assert!(!response
        .headers()
        .contains_key("access-control-allow-origin"));
    assert!(portal_accounts::http::cors::parse_origins(&["not an origin".into()]).is_err());
    assert!(
        portal_accounts::http::cors::parse_origins(&["https://x.example/path".into()]).is_err()
    );
}
