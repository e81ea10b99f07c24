//! What a command (or a login) can answer besides success: the domain's refusals and the
//! service's own. No HTTP here: `http::error` maps each to a status and a problem+json.

use aggregates::DomainError;

/// One invalid input field and why.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("some fields are invalid")]
    Validation(Vec<FieldError>),
    /// The request lacks something it must carry (a header, say).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
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
    /// A right password for a login with a second factor: the second step is owed.
    #[error(
        "this login needs a second step: a code from the authenticator app or a recovery code"
    )]
    MfaRequired(MfaChallenge),
    /// A wrong, reused or malformed second-step code (counted like a wrong password).
    #[error("the code is not correct")]
    InvalidCode,
    /// An `mfa_token` that is unknown, expired or used.
    #[error("the second step has expired or was already completed; log in again")]
    MfaTokenInvalid,
    /// A `passkey_token` that is unknown, expired, used or someone else's.
    #[error("the passkey request has expired or was already used; start again")]
    PasskeyTokenInvalid,
    /// An authenticator's answer that does not verify, or a passkey this firm does not know.
    #[error("the passkey could not be verified")]
    InvalidPasskey,
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// Well-formed, but refused for what it says (a URL the server may not send to).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    #[error("the database is unreachable")]
    Unavailable,
    /// A stored event of the streams involved does not decode: the log was altered or
    /// holds what this code cannot read (docs/decisions.md, "An unreadable event").
    #[error("an event of this firm's log cannot be read")]
    Integrity(#[source] eventlog::DecodeError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// The second step a login is owed: its single-use token and the methods it may use.
/// `Debug` leaves the token out, so no log line can hold it.
#[derive(Clone)]
pub struct MfaChallenge {
    pub mfa_token: String,
    pub methods: Vec<&'static str>,
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

impl ServiceError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }
}

eventlog::database_errors_into!(ServiceError);
