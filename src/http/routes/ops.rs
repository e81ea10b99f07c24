//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document and a
//! browsable page of it.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::http::error::{is_unavailable, AppError, Problem};
use crate::http::Edge;
use crate::infra::pool::migrations_applied;

/// The process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and every migration is applied.
pub async fn readyz(State(app): State<Edge>) -> Response {
    match migrations_applied(app.pool()).await {
        Ok(true) => Json(json!({"status": "ready"})).into_response(),
        Err(e) if is_unavailable(&e) => AppError::unavailable().into_response(),
        // No migrations table yet, or not every migration applied.
        Ok(false) | Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "migrations_pending",
            "migrations are not all applied",
        )
        .into_response_with(Some((
            header::RETRY_AFTER,
            header::HeaderValue::from_static("5"),
        ))),
    }
}

pub async fn metrics(State(app): State<Edge>) -> Response {
    // Projection positions are read at scrape time, so they are right whichever replica runs
    // the projections.
    match projections::engine::status(app.pool()).await {
        Ok(all) => {
            for p in all {
                let name = p.name.clone();
                metrics::gauge!("projection_position", "projection" => name.clone())
                    .set(p.position as f64);
                metrics::gauge!("projection_lag_positions", "projection" => name.clone())
                    .set(p.lag as f64);
                metrics::gauge!("projection_failed_events", "projection" => name)
                    .set(p.failures as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "projection status unavailable for /metrics"),
    }
    match crate::audit::seal::backlog(app.pool()).await {
        Ok((unsealed, lag_seconds)) => {
            metrics::gauge!("audit_unsealed_events").set(unsealed as f64);
            metrics::gauge!("audit_seal_lag_seconds").set(lag_seconds);
        }
        Err(e) => tracing::warn!(error = %e, "seal backlog unavailable for /metrics"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::infra::telemetry::prometheus().render(),
    )
        .into_response()
}
