//! Staff extractors: the bearer token of a request, authenticated by `auth::staff`, and the
//! role a route requires.

use aggregates::tenant::StaffRole;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::extract::Origin;
use crate::http::error::{AppError, AppResult};
use crate::http::Edge;
use crate::store::CommandMeta;

pub use crate::auth::staff::{Purpose, Staff};

/// The metadata of a command a staff request runs: the person, and the token used.
pub fn staff_meta(staff: &Staff, origin: Origin) -> CommandMeta {
    CommandMeta {
        tenant_id: staff.tenant_id(),
        actor: staff.actor.clone(),
        via_token: Some(staff.token_id),
        request_id: origin.request_id,
        client_ip: origin.client_ip,
        user_agent: origin.user_agent,
        command: "",
    }
}

/// The bearer token of a request, if it carries one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A reader's scope reads from the read pool (the replica, when there is one); its token
/// was checked on the primary.
fn for_reading(app: &Edge, mut staff: Staff) -> Staff {
    staff.scope = staff.scope.reading_from(app.reads.pool());
    staff
}

/// The person a service token's request names.
pub const ACTING_STAFF: &str = "x-acting-staff";

/// The staff request, authenticated; its tenant goes on the request's span.
pub async fn authenticate(app: &Edge, parts: &Parts, purpose: Purpose) -> AppResult<Staff> {
    let token = bearer(parts).ok_or(AppError::unauthorized())?;
    let acting = match parts.headers.get(ACTING_STAFF) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| AppError::NotFound("staff member"))?,
        ),
        None => None,
    };
    let staff = crate::auth::staff::authenticate(&app.auth, token, acting, purpose).await?;
    tracing::Span::current().record("tenant", tracing::field::display(staff.tenant_id()));
    Ok(staff)
}

/// A caller allowed to run staff commands (admin or staff), with the command's metadata.
pub struct Writer(pub CommandMeta);

impl FromRequestParts<Edge> for Writer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        let staff = authenticate(app, parts, Purpose::Command).await?;
        staff.allow(&[StaffRole::Admin, StaffRole::Staff])?;
        Ok(Self(staff_meta(&staff, Origin::from_parts(parts))))
    }
}

/// A caller allowed to act (admin or staff) on state kept beside the log (no event, so no
/// command metadata): the person and their firm's scope on the primary.
pub struct Acting(pub Staff);

impl FromRequestParts<Edge> for Acting {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        let staff = authenticate(app, parts, Purpose::Command).await?;
        staff.allow(&[StaffRole::Admin, StaffRole::Staff])?;
        Ok(Self(staff))
    }
}

/// A caller allowed to change tenant settings (admin only).
pub struct Admin(pub CommandMeta);

impl FromRequestParts<Edge> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        let staff = authenticate(app, parts, Purpose::Command).await?;
        staff.allow(&[StaffRole::Admin])?;
        Ok(Self(staff_meta(&staff, Origin::from_parts(parts))))
    }
}

/// Any authenticated staff token (every role may read read models).
pub struct Reader(pub Staff);

impl FromRequestParts<Edge> for Reader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        Ok(Self(for_reading(
            app,
            authenticate(app, parts, Purpose::Read).await?,
        )))
    }
}

/// A caller allowed to read the audit routes (auditor or admin).
pub struct Auditor(pub Staff);

impl FromRequestParts<Edge> for Auditor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        let staff = authenticate(app, parts, Purpose::Read).await?;
        staff.allow(&[StaffRole::Admin, StaffRole::Auditor])?;
        Ok(Self(for_reading(app, staff)))
    }
}

/// An admin reading what only admins see (webhook endpoints and their delivery logs), on
/// the primary: a just-created endpoint is there at once.
pub struct AdminReader(pub Staff);

impl FromRequestParts<Edge> for AdminReader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        let staff = authenticate(app, parts, Purpose::Read).await?;
        staff.allow(&[StaffRole::Admin])?;
        Ok(Self(staff))
    }
}

/// A reader of the integration event feed (admin, staff or auditor).
pub struct FeedReader(pub Staff);

impl FromRequestParts<Edge> for FeedReader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        let staff = authenticate(app, parts, Purpose::Read).await?;
        staff.allow(&[StaffRole::Admin, StaffRole::Staff, StaffRole::Auditor])?;
        Ok(Self(for_reading(app, staff)))
    }
}
