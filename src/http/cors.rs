//! Cross-origin calls from a browser-based staff UI: allowed only from the origins the
//! operator lists (`PORTAL_CORS_ORIGINS`); with none listed, browsers may not call at all.
//! Tokens travel in `Authorization`, never in cookies, so credentials stay off.

use anyhow::{Context, Result};
use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The configured origins, checked: `scheme://host[:port]`, nothing more.
pub fn parse_origins(raw: &[String]) -> Result<Vec<HeaderValue>> {
    raw.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|origin| {
            let uri: axum::http::Uri = origin
                .parse()
                .with_context(|| format!("PORTAL_CORS_ORIGINS: {origin} is not an origin"))?;
            anyhow::ensure!(
                matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.host().is_some()
                    && uri.path_and_query().is_none_or(|p| p.as_str() == "/"),
                "PORTAL_CORS_ORIGINS: {origin} must be scheme://host[:port]"
            );
            HeaderValue::from_str(origin.trim_end_matches('/')).context("PORTAL_CORS_ORIGINS")
        })
        .collect()
}

/// The layer for the staff API: the listed origins, the methods and headers the API uses,
/// and the response headers a UI needs to read.
pub fn layer(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-acting-staff"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::LOCATION,
        ])
        .max_age(std::time::Duration::from_secs(600))
}
