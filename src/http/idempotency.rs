//! `Idempotency-Key` on POSTs: the first request with a key runs and its answer is kept; a
//! repeat with the same key and the same request gets that answer again and runs nothing;
//! a repeat with a different request is refused (422). The key and the answer commit in the
//! command's own transaction (`store::idempotency`), so no crash or dropped connection can
//! leave a command that landed without its answer, or a key stuck with none; a duplicate
//! running at the same time waits for the first and gets its answer. A kept answer may hold
//! a secret shown once (an API token, a webhook's signing secret), so it is stored sealed
//! under the server's key, bound to its firm and key.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::Row;
use uuid::Uuid;

use super::auth::{authenticate, Purpose};
use crate::http::error::{AppError, PROBLEM_JSON};
use crate::http::Edge;
use crate::sealing::SealingKey;
use crate::store::idempotency::{self, Claim};

const HEADER: &str = "idempotency-key";
/// Bodies are buffered to hash them; nothing larger than the largest route accepts.
const BUFFER_LIMIT: usize = super::extract::IMAGE_LIMIT + 1024;

pub async fn middleware(State(app): State<Edge>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key(HEADER) {
        return next.run(request).await;
    }
    match run(&app, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn run(app: &Edge, request: Request, next: Next) -> Result<Response, Response> {
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

    // A key that already has its answer is answered at once.
    if let Some(done) = replay(app, staff.tenant_id(), &key, &fingerprint).await {
        return Err(done);
    }
    let claim = Claim {
        tenant_id: staff.tenant_id(),
        key: key.clone(),
        fingerprint: fingerprint.clone(),
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    let (response, slot) = idempotency::claimed(claim, next.run(request)).await;
    let (taken, held, committed_early) = {
        let mut state = slot.lock().expect("idempotency slot");
        (state.taken, state.take_held(), state.committed_early)
    };
    if taken {
        // A duplicate ran first (or at the same time): its answer is this one's.
        return Err(replay(app, staff.tenant_id(), &key, &fingerprint)
            .await
            .unwrap_or_else(|| {
                AppError::conflict(
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still running; retry it",
                )
                .into_response()
            }));
    }
    let (mut head, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let answer = Answer {
        tenant_id: staff.tenant_id(),
        key: &key,
        fingerprint: &fingerprint,
        status: head.status,
        body: &body,
    };
    if let Err(e) = record(app, answer, held, committed_early).await {
        tracing::error!(error = %e, "the command's commit with its idempotent answer failed");
        return Err(AppError::from(e).into_response());
    }
    head.headers
        .insert("idempotent-replayed", HeaderValue::from_static("false"));
    Ok(Response::from_parts(head, Body::from(body)))
}

/// A command's answer, to keep under its key.
struct Answer<'a> {
    tenant_id: Uuid,
    key: &'a str,
    fingerprint: &'a [u8],
    status: StatusCode,
    body: &'a [u8],
}

/// Keeps the answer under its key: in the command's own transaction when it is held open
/// (both commit together; if this commit fails nothing happened and the client may retry),
/// else on its own.
async fn record(
    app: &Edge,
    answer: Answer<'_>,
    held: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
    committed_early: bool,
) -> Result<(), sqlx::Error> {
    let status = i32::from(answer.status.as_u16());
    let (key, tenant_id) = (answer.key, answer.tenant_id);
    let sealed = sealing_key(app).seal(answer.body, &bound_to(tenant_id, key));
    let body = sealed.as_slice();
    match held {
        Some(mut tx) => {
            store_answer(&mut tx, key, tenant_id, status, body).await?;
            tx.commit().await?;
            eventlog::wake::notify_appended();
            Ok(())
        }
        // Nothing committed (refused, or nothing to change): keep a 4xx answer; a 5xx
        // decided nothing, so the retry runs for real.
        None if answer.status.is_server_error() => Ok(()),
        None if committed_early => {
            let mut conn = app.pool().acquire().await?;
            store_answer(&mut conn, key, tenant_id, status, body).await
        }
        None => sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status_code, response_body, completed_at)
             VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(key)
        .bind(answer.fingerprint)
        .bind(status)
        .bind(body)
        .execute(app.pool())
        .await
        .map(drop),
    }
}

/// The key kept answers are sealed under.
fn sealing_key(app: &Edge) -> SealingKey {
    SealingKey::of(&app.secret, "idempotent-answer")
}

/// What a kept answer is bound to: its firm and key (a sealed answer moved to another
/// key's row does not open).
fn bound_to(tenant_id: Uuid, key: &str) -> Vec<u8> {
    [tenant_id.as_bytes().as_slice(), key.as_bytes()].concat()
}

/// Puts the answer on the key's row.
async fn store_answer(
    conn: &mut sqlx::PgConnection,
    key: &str,
    tenant_id: Uuid,
    status: i32,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $3, response_body = $4, completed_at = now()
          WHERE tenant_id = $1 AND key = $2",
    )
    .bind(tenant_id)
    .bind(key)
    .bind(status)
    .bind(body)
    .execute(conn)
    .await
    .map(drop)
}

/// The kept answer of a key, if it has one (or a refusal when the key was used for another
/// request); `None` when the key is new.
async fn replay(app: &Edge, tenant_id: Uuid, key: &str, fingerprint: &[u8]) -> Option<Response> {
    let row = sqlx::query("SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE tenant_id = $1 AND key = $2")
        .bind(tenant_id)
        .bind(key)
        .fetch_optional(app.pool())
        .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return None,
        Err(e) => return Some(AppError::from(e).into_response()),
    };
    let stored_hash: Vec<u8> = row.get("request_hash");
    if stored_hash != fingerprint {
        return Some(
            AppError::invalid(
                "Idempotency-Key",
                "was already used for a different request",
            )
            .into_response(),
        );
    }
    let status: Option<i32> = row.get("status_code");
    let sealed: Option<Vec<u8>> = row.get("response_body");
    // An answer this server's key does not open (kept before answers were sealed, or under
    // another server secret) is as lost as none.
    let body = sealed.and_then(|b| sealing_key(app).open(&b, &bound_to(tenant_id, key)));
    let (Some(status), Some(body)) = (status, body) else {
        // Only a request that committed more than once (a bulk invitation) can leave its
        // key without an answer, if it died before keeping it.
        return Some(
            AppError::conflict(
                "idempotency_outcome_unknown",
                "the request with this Idempotency-Key changed data but its answer was lost; \
                 read the current state instead of retrying",
            )
            .into_response(),
        );
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
    Some(response)
}
