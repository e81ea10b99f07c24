//! Who a portal request is for: the tenant named by the `{tenant_slug}` in its path (with
//! its portal on or off), and, on routes behind a login, the portal user of the bearer
//! session token.

use aggregates::portal_user::{Account, PortalUser};
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use uuid::Uuid;

use super::auth::bearer;
use super::extract::Origin;
use eventlog::{Actor, ActorKind};

use crate::auth::TenantScope;
use crate::http::error::{AppError, AppResult};
use crate::http::Edge;
use crate::portal::{self, portal_inactive, SessionUser};
use crate::store::CommandMeta;

/// The firm whose portal a request addresses.
#[derive(Debug, Clone)]
pub struct PortalTenant {
    pub scope: TenantScope,
    pub origin: Origin,
}

impl PortalTenant {
    pub fn id(&self) -> Uuid {
        self.scope.id()
    }

    /// Metadata for a command started from the portal by `actor`.
    pub fn meta(&self, actor: Actor) -> CommandMeta {
        CommandMeta {
            tenant_id: self.scope.id(),
            actor,
            via_token: None,
            request_id: self.origin.request_id.clone(),
            client_ip: self.origin.client_ip.clone(),
            user_agent: self.origin.user_agent.clone(),
            command: "",
        }
    }

    /// Refuses while the firm has its portal switched off (the login itself checks this
    /// in its own query, and records the refusal).
    pub async fn require_active(&self, app: &Edge) -> AppResult<()> {
        if portal::portal_active(app, &self.meta(anonymous())).await? {
            Ok(())
        } else {
            Err(portal_inactive().into())
        }
    }
}

impl FromRequestParts<Edge> for PortalTenant {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(|_| AppError::NotFound("portal"))?;
        let slug = params
            .iter()
            .find(|(name, _)| *name == "tenant_slug")
            .map(|(_, value)| value.to_string())
            .ok_or(AppError::NotFound("portal"))?;
        let scope = app
            .auth
            .portal_scope(&slug)
            .await?
            .ok_or(AppError::NotFound("portal"))?;
        tracing::Span::current().record("tenant", tracing::field::display(scope.id()));
        Ok(Self {
            scope,
            origin: Origin::from_parts(parts),
        })
    }
}

/// A portal visitor not (yet) known as a login: someone following an e-mailed link, or
/// logging in.
pub fn anonymous() -> Actor {
    Actor::new(ActorKind::PortalUser, None, None)
}

/// A logged-in portal user whose login is still usable, with its account as of now.
pub struct PortalSession {
    pub tenant: PortalTenant,
    pub session: SessionUser,
    pub account: Account,
}

impl PortalSession {
    pub fn meta(&self) -> CommandMeta {
        self.tenant.meta(Actor::new(
            ActorKind::PortalUser,
            Some(self.session.portal_user_id),
            Some(self.account.username.to_string()),
        ))
    }

    /// The login as the owner of its second factors (`portal::factors`).
    pub fn own_login(&self) -> crate::portal::factors::OwnLogin<'_> {
        crate::portal::factors::OwnLogin {
            meta: self.meta(),
            scope: &self.tenant.scope,
            portal_user_id: self.session.portal_user_id,
        }
    }

    /// Whether this login reaches the client's portal area (access is read from the log,
    /// so a revoked access stops working at once).
    pub fn reaches(&self, client_id: Uuid) -> bool {
        self.account.can_act_for(client_id)
    }
}

impl PortalSession {
    /// The session a token names, if it is open and its login can still log in: the one
    /// check behind the Portal API's bearer token and the portal pages' cookie.
    pub async fn for_token(app: &Edge, tenant: PortalTenant, token: &str) -> AppResult<Self> {
        let session = portal::sessions::authenticate(&tenant.scope, token, app.clock.now()).await?;
        tenant.require_active(app).await?;
        let user = app
            .store
            .reader(&tenant.meta(anonymous()))
            .load::<PortalUser>(session.portal_user_id)
            .await?;
        // Disabling or removing a login ends its sessions in the same commit; this is the
        // belt to those braces.
        let account = user
            .state
            .account
            .filter(Account::can_log_in)
            .ok_or(AppError::unauthorized())?;
        Ok(Self {
            tenant,
            session,
            account,
        })
    }
}

impl PortalSession {
    /// Refuses a session that may only set up a second factor (the firm requires one).
    pub fn require_enrolled(self) -> AppResult<Self> {
        if self.session.enrolment_only {
            return Err(enrolment_required());
        }
        Ok(self)
    }
}

/// 403 `mfa_enrolment_required`: what a session that may only set up a factor gets elsewhere.
pub fn enrolment_required() -> AppError {
    crate::errors::service::ServiceError::Forbidden {
        code: "mfa_enrolment_required",
        detail: "the firm requires a second factor: set one up (…/mfa/totp) before anything else"
            .into(),
    }
    .into()
}

/// Every signed-in route but the few a session that may only set up a factor reaches
/// (`EnrollingSession`) takes this: such a session is refused here.
impl FromRequestParts<Edge> for PortalSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        EnrollingSession::from_request_parts(parts, app)
            .await?
            .0
            .require_enrolled()
    }
}

/// A signed-in session that may be one that can only set up a second factor: for the
/// `…/mfa…` routes, `…/me` and `…/logout`.
pub struct EnrollingSession(pub PortalSession);

impl FromRequestParts<Edge> for EnrollingSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> AppResult<Self> {
        let tenant = PortalTenant::from_request_parts(parts, app).await?;
        let token = bearer(parts).ok_or(AppError::unauthorized())?.to_string();
        Ok(Self(PortalSession::for_token(app, tenant, &token).await?))
    }
}
