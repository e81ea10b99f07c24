//! The one error type of the HTTP edge, and its problem+json (RFC 9457) rendering. The
//! layers below answer with their own errors (`ServiceError`, `ReadError`, `StoreError`);
//! only here do they become statuses.

use aggregates::error::RefusalKind;
use aggregates::DomainError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::reads::error::ReadError;
use crate::services::error::ServiceError;
use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

pub use crate::services::error::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("some fields are invalid")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Malformed(String),
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// A portal login refused without saying whether the username exists.
    #[error("the username or password is not correct")]
    InvalidCredentials,
    #[error("too many failed logins; try again later")]
    LockedOut { retry_after_secs: u64 },
    #[error("too many failed attempts from this address; try again later")]
    RateLimited { retry_after_secs: u64 },
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the database is unreachable")]
    Unavailable,
    #[error("the read models have not reached position {position} yet; try again")]
    ProjectionLag { position: i64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Domain(e) => match e.kind() {
                RefusalKind::NotFound => StatusCode::NOT_FOUND,
                RefusalKind::Conflict => StatusCode::CONFLICT,
                RefusalKind::Gone => StatusCode::GONE,
            },
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::LockedOut { .. } | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::ProjectionLag { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Domain(e) => e.code(),
            Self::Validation(_) => "validation_failed",
            Self::Malformed(_) => "malformed_request",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::LockedOut { .. } => "locked_out",
            Self::RateLimited { .. } => "rate_limited",
            Self::Forbidden { code, .. } | Self::Conflict { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unavailable => "database_unavailable",
            Self::ProjectionLag { .. } => "projection_lag",
            Self::Internal(_) => "internal_error",
        }
    }
}

eventlog::database_errors_into!(AppError);
pub use eventlog::is_unavailable;

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as S;
        match e {
            S::Domain(e) => Self::Domain(e),
            S::Validation(errors) => Self::Validation(errors),
            S::Unauthorized => Self::Unauthorized,
            S::InvalidCredentials => Self::InvalidCredentials,
            S::LockedOut { retry_after_secs } => Self::LockedOut { retry_after_secs },
            S::RateLimited { retry_after_secs } => Self::RateLimited { retry_after_secs },
            S::Forbidden { code, detail } => Self::Forbidden { code, detail },
            S::NotFound(what) => Self::NotFound(what),
            S::Conflict { code, detail } => Self::Conflict { code, detail },
            S::Unavailable => Self::Unavailable,
            S::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<ReadError> for AppError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Unavailable => Self::Unavailable,
            ReadError::ProjectionLag { position } => Self::ProjectionLag { position },
            ReadError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
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
        let detail = match &self {
            // Internals stay in the log (with the request id), never in the body.
            Self::Internal(e) => {
                tracing::error!(error = ?e, "request failed");
                "an internal error occurred; quote the x-request-id when reporting it".to_string()
            }
            Self::Unavailable => {
                tracing::warn!("database unavailable");
                self.to_string()
            }
            other => other.to_string(),
        };
        let mut problem = Problem::new(status, self.code(), detail);
        let retry_after = match self {
            Self::Validation(errors) => {
                problem.errors = errors;
                None
            }
            Self::LockedOut { retry_after_secs } => Some((
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            )),
            Self::Unavailable => Some((header::RETRY_AFTER, HeaderValue::from_static("5"))),
            _ => None,
        };
        problem.into_response_with(retry_after)
    }
}

pub type AppResult<T> = Result<T, AppError>;
