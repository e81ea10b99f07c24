//! `Idempotency-Key` on POSTs: the first request with a key runs and its answer is kept; a
//! repeat with the same key and the same request gets that answer again and runs nothing.
//! A repeat with a different request is refused (422), one that overlaps a request still
//! running waits for nothing and gets 409.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::Row;
use uuid::Uuid;

use super::auth::{authenticate, Purpose};
use crate::app::App;
use crate::http::error::{AppError, PROBLEM_JSON};

const HEADER: &str = "idempotency-key";
/// Bodies are buffered to hash them; nothing larger than the largest route accepts.
const BUFFER_LIMIT: usize = super::extract::IMAGE_LIMIT + 1024;

pub async fn middleware(State(app): State<App>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key(HEADER) {
        return next.run(request).await;
    }
    match run(&app, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn run(app: &App, request: Request, next: Next) -> Result<Response, Response> {
    let key = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or_else(|| {
            AppError::invalid("Idempotency-Key", "must be 1 to 255 printable characters")
                .into_response()
        })?;

    let (parts, body) = request.into_parts();
    // Without valid credentials there is no tenant to keep the key under: let the route
    // answer 401 as usual.
    let Ok(staff) = authenticate(app, &parts, Purpose::Read).await else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let bytes = to_bytes(body, BUFFER_LIMIT).await.map_err(|_| {
        AppError::PayloadTooLarge {
            limit: BUFFER_LIMIT,
        }
        .into_response()
    })?;
    let fingerprint = {
        let mut material = format!("{} {}\n", parts.method, parts.uri).into_bytes();
        material.extend_from_slice(&bytes);
        app.secret.request_fingerprint(&material)
    };

    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, key) DO NOTHING",
    )
    .bind(staff.tenant_id())
    .bind(&key)
    .bind(&fingerprint)
    .execute(app.pool())
    .await
    .map_err(|e| AppError::from(e).into_response())?
    .rows_affected()
        == 1;

    if !claimed {
        return Err(replay(app, staff.tenant_id(), &key, &fingerprint).await);
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (mut head, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let outcome = if head.status.is_server_error() {
        // Nothing was decided: free the key so the client's retry runs for real.
        sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2")
            .bind(staff.tenant_id())
            .bind(&key)
            .execute(app.pool())
            .await
    } else {
        sqlx::query(
            "UPDATE idempotency_keys SET status_code = $3, response_body = $4, completed_at = now()
              WHERE tenant_id = $1 AND key = $2",
        )
        .bind(staff.tenant_id())
        .bind(&key)
        .bind(i32::from(head.status.as_u16()))
        .bind(body.as_ref())
        .execute(app.pool())
        .await
    };
    if let Err(e) = outcome {
        tracing::error!(error = %e, "could not record the idempotent response");
    }
    head.headers
        .insert("idempotent-replayed", HeaderValue::from_static("false"));
    Ok(Response::from_parts(head, Body::from(body)))
}

async fn replay(app: &App, tenant_id: Uuid, key: &str, fingerprint: &[u8]) -> Response {
    let row = sqlx::query("SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE tenant_id = $1 AND key = $2")
        .bind(tenant_id)
        .bind(key)
        .fetch_optional(app.pool())
        .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => {
            return AppError::conflict(
                "idempotency_key_in_use",
                "a request with this Idempotency-Key just finished failing; retry it",
            )
            .into_response()
        }
        Err(e) => return AppError::from(e).into_response(),
    };
    let stored_hash: Vec<u8> = row.get("request_hash");
    if stored_hash != fingerprint {
        return AppError::invalid(
            "Idempotency-Key",
            "was already used for a different request",
        )
        .into_response();
    }
    let status: Option<i32> = row.get("status_code");
    let body: Option<Vec<u8>> = row.get("response_body");
    let (Some(status), Some(body)) = (status, body) else {
        return AppError::conflict(
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed",
        )
        .into_response();
    };
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let content_type = if status.is_client_error() {
        PROBLEM_JSON
    } else {
        "application/json"
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
