//! Audit checkpoint routes (auditor and admin): the audit key's public half, the firm's
//! signed checkpoints, what became of their e-mails to the firm's auditor, and checking a
//! kept checkpoint against today's log.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::checkpoint::{self, Checkpoint, Verdict};
use crate::http::auth::Auditor;
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{canonical_uuid, checked, Checks, JsonBody};
use crate::http::schema::MAX_PAGE;
use crate::http::Edge;

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct PublicKey {
    /// Always `ed25519`.
    pub algorithm: std::borrow::Cow<'static, str>,
    /// First 16 hex digits of SHA-256 of the public key.
    pub key_id: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
}

/// The audit key's public half, for checking signed checkpoints
#[utoipa::path(get, path = "/api/v1/audit/public-key", tag = "audit",
    responses((status = 200, body = PublicKey)),
    security(("staff_token" = [])))]
pub async fn public_key(State(app): State<Edge>, _auditor: Auditor) -> Json<PublicKey> {
    Json(PublicKey {
        algorithm: "ed25519".into(),
        key_id: app.audit_key.key_id(),
        public_key: app.audit_key.public_key_base64(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CheckpointsQuery {
    /// 1–200, default 50 (newest first).
    #[param(schema_with = crate::http::schema::page_size)]
    pub limit: Option<String>,
}

impl CheckpointsQuery {
    fn limit(&self) -> AppResult<i64> {
        super::page_size(self.limit.as_deref(), 50, MAX_PAGE)
            .map_err(|m| AppError::invalid("limit", m))
    }
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Checkpoints {
    pub items: Vec<Checkpoint>,
}

/// List the firm's signed checkpoints
#[utoipa::path(get, path = "/api/v1/audit/checkpoints", tag = "audit", operation_id = "list_checkpoints", params(CheckpointsQuery),
    responses((status = 200, body = Checkpoints)),
    security(("staff_token" = [])))]
pub async fn list(
    Auditor(staff): Auditor,
    Query(q): Query<CheckpointsQuery>,
) -> AppResult<Json<Checkpoints>> {
    let limit = q.limit()?;
    Ok(Json(Checkpoints {
        items: checkpoint::list(&staff.scope, limit).await?,
    }))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct CheckpointEmails {
    pub items: Vec<crate::mail::checkpoint_mail::CheckpointEmail>,
}

/// The e-mails of the firm's checkpoints to the address named in its settings
/// (`PUT /api/v1/settings/audit`), newest checkpoint first.
#[utoipa::path(get, path = "/api/v1/audit/checkpoints/emails", tag = "audit", params(CheckpointsQuery),
    responses((status = 200, body = CheckpointEmails)),
    security(("staff_token" = [])))]
pub async fn emails(
    Auditor(staff): Auditor,
    Query(q): Query<CheckpointsQuery>,
) -> AppResult<Json<CheckpointEmails>> {
    let limit = q.limit()?;
    Ok(Json(CheckpointEmails {
        items: crate::mail::checkpoint_mail::list(&staff.scope, limit).await?,
    }))
}

/// The firm's latest signed checkpoint
#[utoipa::path(get, path = "/api/v1/audit/checkpoints/latest", tag = "audit",
    responses((status = 200, body = Checkpoint), (status = 404, description = "no checkpoint yet", body = Problem)),
    security(("staff_token" = [])))]
pub async fn latest(Auditor(staff): Auditor) -> AppResult<Json<Checkpoint>> {
    checkpoint::list(&staff.scope, 1)
        .await?
        .pop()
        .map(Json)
        .ok_or(AppError::NotFound("checkpoint"))
}

/// A checkpoint as kept by an auditor.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointBody {
    #[schema(schema_with = crate::http::schema::uuid_text)]
    pub tenant_id: String,
    #[serde(deserialize_with = "crate::http::extract::whole_number")]
    #[schema(schema_with = crate::http::schema::chain_place)]
    pub chain_seq: i64,
    #[serde(deserialize_with = "crate::http::extract::whole_number")]
    #[schema(schema_with = crate::http::schema::chain_place)]
    pub position: i64,
    #[schema(schema_with = crate::http::schema::any_text)]
    pub head_hash: String,
    #[schema(schema_with = crate::http::schema::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::http::schema::any_text)]
    pub key_id: String,
    #[schema(schema_with = crate::http::schema::any_text)]
    pub signature: String,
}

/// Check a signed checkpoint against the log
#[utoipa::path(post, path = "/api/v1/audit/checkpoints/verify", tag = "audit",
    request_body = CheckpointBody,
    responses((status = 200, body = Verdict), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn verify(
    State(app): State<Edge>,
    Auditor(staff): Auditor,
    JsonBody(body): JsonBody<CheckpointBody>,
) -> AppResult<Json<Verdict>> {
    let mut v = Checks::default();
    let tenant_id = v.field(
        "tenant_id",
        canonical_uuid(&body.tenant_id).ok_or_else(|| "must be a UUID".to_string()),
    );
    for (field, value) in [("chain_seq", body.chain_seq), ("position", body.position)] {
        v.field(
            field,
            (value >= 1)
                .then_some(())
                .ok_or_else(|| "must be a whole number ≥ 1".to_string()),
        );
    }
    let created_at = v.field(
        "created_at",
        DateTime::parse_from_rfc3339(&body.created_at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| "must be an RFC 3339 time".to_string()),
    );
    v.finish()?;
    let kept = Checkpoint {
        tenant_id: checked(tenant_id),
        chain_seq: body.chain_seq,
        position: body.position,
        head_hash: body.head_hash,
        created_at: checked(created_at),
        key_id: body.key_id,
        signature: body.signature,
    };
    Ok(Json(
        checkpoint::verify(&staff.scope, &app.audit_key, &kept).await?,
    ))
}
