//! The one error type of the HTTP edge, and its problem+json (RFC 9457) rendering. The
//! layers below answer with their own errors (`ServiceError`, `ReadError`);
//! only here do they become statuses.

use aggregates::error::RefusalKind;
use aggregates::DomainError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::errors::read::ReadError;
use crate::errors::service::ServiceError;

pub const PROBLEM_JSON: &str = "application/problem+json";

pub use crate::errors::service::FieldError;

/// What an HTTP request can answer besides success: any refusal of the layers below
/// (`Service`), or one only the edge can give (a malformed or oversized body, read models
/// still behind the requested position).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{0}")]
    Malformed(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the read models have not reached position {position} yet; try again")]
    ProjectionLag { position: i64 },
}

/// The edge's names for the layers' refusals, so handlers read `AppError::NotFound("client")`.
#[allow(non_snake_case)]
impl AppError {
    pub fn NotFound(what: &'static str) -> Self {
        ServiceError::NotFound(what).into()
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::invalid(field, message).into()
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ServiceError::internal(e).into()
    }

    pub fn unauthorized() -> Self {
        ServiceError::Unauthorized.into()
    }

    pub fn unavailable() -> Self {
        ServiceError::Unavailable.into()
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        ServiceError::Conflict { code, detail }.into()
    }

    pub fn status(&self) -> StatusCode {
        use ServiceError as S;
        match self {
            Self::Service(e) => match e {
                S::Domain(e) => match e.kind() {
                    RefusalKind::NotFound => StatusCode::NOT_FOUND,
                    RefusalKind::Conflict => StatusCode::CONFLICT,
                    RefusalKind::Gone => StatusCode::GONE,
                },
                S::Validation(_) | S::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                S::BadRequest { .. } => StatusCode::BAD_REQUEST,
                S::Unauthorized
                | S::InvalidCredentials
                | S::InvalidCode
                | S::MfaTokenInvalid
                | S::PasskeyTokenInvalid
                | S::InvalidPasskey => StatusCode::UNAUTHORIZED,
                S::MfaRequired(_) => StatusCode::FORBIDDEN,
                S::LockedOut { .. } | S::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                S::Forbidden { .. } => StatusCode::FORBIDDEN,
                S::NotFound(_) => StatusCode::NOT_FOUND,
                S::Conflict { .. } => StatusCode::CONFLICT,
                S::Unavailable | S::Integrity(_) => StatusCode::SERVICE_UNAVAILABLE,
                S::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ProjectionLag { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn code(&self) -> &'static str {
        use ServiceError as S;
        match self {
            Self::Service(e) => match e {
                S::Domain(e) => e.code(),
                S::Validation(_) => "validation_failed",
                S::Unauthorized => "unauthorized",
                S::InvalidCredentials => "invalid_credentials",
                S::MfaRequired(_) => "mfa_required",
                S::InvalidCode => "invalid_code",
                S::MfaTokenInvalid => "mfa_token_invalid",
                S::PasskeyTokenInvalid => "passkey_token_invalid",
                S::InvalidPasskey => "invalid_passkey",
                S::LockedOut { .. } => "locked_out",
                S::RateLimited { .. } => "rate_limited",
                S::Forbidden { code, .. } | S::Conflict { code, .. } => code,
                S::Unprocessable { code, .. } => code,
                S::BadRequest { code, .. } => code,
                S::NotFound(_) => "not_found",
                S::Unavailable => "database_unavailable",
                S::Integrity(_) => "event_log_integrity",
                S::Internal(_) => "internal_error",
            },
            Self::Malformed(_) => "malformed_request",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::ProjectionLag { .. } => "projection_lag",
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        ServiceError::Domain(e).into()
    }
}

pub use eventlog::is_unavailable;

impl From<ReadError> for AppError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Unavailable => ServiceError::Unavailable.into(),
            ReadError::ProjectionLag { position } => Self::ProjectionLag { position },
            // A position no write has reached: well-formed, but not (yet) a state of the log.
            e @ ReadError::BeyondLog { .. } => ServiceError::Conflict {
                code: "position_not_reached",
                detail: e.to_string(),
            }
            .into(),
            ReadError::Integrity(e) => ServiceError::Integrity(e).into(),
            ReadError::Internal(e) => ServiceError::Internal(e).into(),
        }
    }
}

/// The problem+json body every 4xx and 5xx carries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With `mfa_required`: the single-use token `…/login/mfa` completes (five minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// With `mfa_required`: the second steps this login may use (`totp`, `recovery_code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_: format!(
                "https://portal-accounts.dev/problems/{}",
                code.replace('_', "-")
            ),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            errors: Vec::new(),
            mfa_token: None,
            methods: None,
        }
    }

    pub fn into_response_with(self, extra: Option<(header::HeaderName, HeaderValue)>) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some((name, value)) = extra {
            headers.insert(name, value);
        }
        response
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let unreachable = matches!(self, Self::Service(ServiceError::Unavailable));
        let detail = match &self {
            // Internals stay in the log (with the request id), never in the body.
            Self::Service(ServiceError::Internal(e)) => {
                tracing::error!(error = ?e, "request failed");
                "an internal error occurred; quote the x-request-id when reporting it".to_string()
            }
            Self::Service(ServiceError::Unavailable) => {
                tracing::warn!("database unavailable");
                self.to_string()
            }
            // Which event, in the log line (the request's span names the firm) and the
            // metric; the body says what happened and where, never what the event holds.
            Self::Service(ServiceError::Integrity(e)) => {
                tracing::error!(
                    stream_type = %e.stream_type,
                    stream_id = %e.stream_id,
                    sequence = e.sequence,
                    reason = %e.reason,
                    "event log integrity: a stored event does not decode"
                );
                metrics::counter!("event_log_integrity_failures_total", "stream_type" => e.stream_type.clone())
                    .increment(1);
                format!(
                    "event {} of stream {} in this firm's log cannot be read: the log was altered or is damaged. \
                     Nothing was written. The operator is alerted; quote the x-request-id.",
                    e.sequence, e.stream_id
                )
            }
            other => other.to_string(),
        };
        let mut problem = Problem::new(status, self.code(), detail);
        let retry_after = match self {
            Self::Service(ServiceError::Validation(errors)) => {
                problem.errors = errors;
                None
            }
            Self::Service(ServiceError::MfaRequired(challenge)) => {
                problem.mfa_token = Some(challenge.mfa_token);
                problem.methods = Some(challenge.methods.iter().map(|m| m.to_string()).collect());
                None
            }
            Self::Service(
                ServiceError::LockedOut { retry_after_secs }
                | ServiceError::RateLimited { retry_after_secs },
            ) => Some((
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            )),
            Self::Service(ServiceError::Unavailable) => {
                Some((header::RETRY_AFTER, HeaderValue::from_static("5")))
            }
            _ => None,
        };
        let mut response = problem.into_response_with(retry_after);
        // Only an unreachable database trips the fast failure: an unreadable event is the
        // one firm's stream's, not the database's.
        if unreachable {
            response.extensions_mut().insert(DatabaseUnavailable);
        }
        response
    }
}

/// Marks a response that found the database unreachable (see `http::fail_fast`).
#[derive(Debug, Clone, Copy)]
pub struct DatabaseUnavailable;

pub type AppResult<T> = Result<T, AppError>;
