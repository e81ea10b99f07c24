//! Invitations: invite a client (again), revoke, invite many at once, and the invitation
//! dashboard ("82 clients not invited").

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{parse_position, MinPosition, PositionOnly};

use crate::http::auth::{Reader, Writer};
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{canonical_uuid, checked, Checks, JsonBody, PathId};
use crate::http::schema::{MAX_BULK_IDS, MAX_LONG_PAGE};
use crate::http::Edge;
use aggregates::ids::ClientId;

use crate::reads::clients::InvitationDashboard;
use crate::reads::invitations::{self, InvitationView};
use crate::reads::{self};
use crate::services::clients::{self as service, BulkInvited, BulkSelection, BulkSkipped};

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct InvitationCreated {
    pub invitation_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub position: i64,
}

/// Invite a client to the portal (InviteClient)
#[utoipa::path(post, path = "/api/v1/clients/{id}/invitations", tag = "invitations",
    params(("id" = Uuid, Path)),
    responses((status = 201, body = InvitationCreated),
        (status = 409, description = "client_has_no_email, client_already_active, individual_client_has_user, portal_inactive", body = Problem),
        (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn invite_client(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
) -> AppResult<(StatusCode, Json<InvitationCreated>)> {
    let done = service::invite(&app, &meta, id).await?;
    let body = InvitationCreated {
        invitation_id: done.value.invitation_id,
        expires_at: done.value.expires_at,
        position: done.position,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Revoke a client's open invitation
#[utoipa::path(delete, path = "/api/v1/clients/{id}/invitations/current", tag = "invitations",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 409, description = "no_open_invitation", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn revoke_invitation(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(
        service::revoke_invitation(&app, &meta, id).await?.into(),
    ))
}

/// Either `client_ids` (1–1000 ids) or `filter` (`not_invited`: every client the
/// dashboard counts as not invited), not both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkInviteBody {
    #[serde(default)]
    pub client_ids: Option<Vec<String>>,
    #[serde(default)]
    pub filter: Option<String>,
}

impl utoipa::PartialSchema for BulkInviteBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        crate::http::schema::bulk_invite_body()
    }
}

impl ToSchema for BulkInviteBody {}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct BulkInviteResult {
    pub invited: Vec<BulkInvited>,
    pub skipped: Vec<BulkSkipped>,
    pub position: i64,
}

/// Invite many clients, or every client not invited
#[utoipa::path(post, path = "/api/v1/invitations/bulk", tag = "invitations",
    request_body = BulkInviteBody,
    responses((status = 200, body = BulkInviteResult), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn bulk_invite(
    State(app): State<Edge>,
    Writer(meta): Writer,
    JsonBody(body): JsonBody<BulkInviteBody>,
) -> AppResult<Json<BulkInviteResult>> {
    let selection = match (body.client_ids, body.filter.as_deref()) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > MAX_BULK_IDS {
                return Err(AppError::invalid(
                    "client_ids",
                    format!("must list 1 to {MAX_BULK_IDS} client ids"),
                ));
            }
            let mut v = Checks::default();
            let parsed: Vec<Option<Uuid>> = ids
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    v.field(
                        &format!("client_ids[{i}]"),
                        canonical_uuid(s).ok_or_else(|| "is not a UUID".into()),
                    )
                })
                .collect();
            v.finish()?;
            BulkSelection::Ids(parsed.into_iter().map(checked).collect())
        }
        (None, Some("not_invited")) => BulkSelection::NotInvited,
        (None, Some(_)) => return Err(AppError::invalid("filter", "must be \"not_invited\"")),
        _ => {
            return Err(AppError::invalid(
                "client_ids",
                "give either client_ids or filter, not both",
            ))
        }
    };
    let done = service::bulk_invite(&app, &meta, selection).await?;
    Ok(Json(BulkInviteResult {
        invited: done.value.invited,
        skipped: done.value.skipped,
        position: done.position,
    }))
}

/// Invitation dashboard counts
#[utoipa::path(get, path = "/api/v1/dashboard/invitations", tag = "invitations", params(MinPosition),
    responses((status = 200, body = InvitationDashboard), (status = 504, body = Problem)),
    security(("staff_token" = [])))]
pub async fn invitation_dashboard(
    State(app): State<Edge>,
    Reader(staff): Reader,
    Query(q): Query<MinPosition>,
) -> AppResult<Json<InvitationDashboard>> {
    q.wait(&app).await?;
    Ok(Json(reads::clients::dashboard(&staff.scope).await?))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Invitations {
    pub items: Vec<InvitationView>,
}

/// A client's invitation history
#[utoipa::path(get, path = "/api/v1/clients/{id}/invitations", tag = "invitations",
    params(("id" = Uuid, Path), MinPosition),
    responses((status = 200, body = Invitations), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_client_invitations(
    State(app): State<Edge>,
    Reader(staff): Reader,
    PathId(id): PathId,
    Query(wait): Query<MinPosition>,
) -> AppResult<Json<Invitations>> {
    wait.wait(&app).await?;
    let items = invitations::of_client(&staff.scope, ClientId::from_uuid(id), app.clock.now())
        .await?
        .ok_or(AppError::NotFound("client"))?;
    Ok(Json(Invitations { items }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct InvitationsQuery {
    /// pending, expired, accepted, revoked or replaced; absent: all.
    #[param(schema_with = crate::http::schema::invitation_state)]
    pub state: Option<String>,
    /// 1–1000, default 100 (newest first).
    #[param(schema_with = crate::http::schema::long_page_size)]
    pub limit: Option<String>,
    /// Wait (≤ 5 s) until the read models include this position.
    #[param(schema_with = crate::http::schema::position)]
    pub min_position: Option<String>,
}

/// The firm's invitations by state
#[utoipa::path(get, path = "/api/v1/invitations", tag = "invitations", params(InvitationsQuery),
    responses((status = 200, body = Invitations), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_invitations(
    State(app): State<Edge>,
    Reader(staff): Reader,
    Query(q): Query<InvitationsQuery>,
) -> AppResult<Json<Invitations>> {
    let mut v = Checks::default();
    let min_position = v.field("min_position", parse_position(q.min_position.as_deref()));
    let state = v.optional(
        "state",
        q.state.as_deref(),
        super::one_of(invitations::STATES),
    );
    let limit = v.field(
        "limit",
        super::page_size(q.limit.as_deref(), 100, MAX_LONG_PAGE),
    );
    v.finish()?;
    super::wait_until(&app, checked(min_position)).await?;
    let state = checked(state);
    let items = invitations::of_firm(
        &staff.scope,
        state.as_deref(),
        checked(limit),
        app.clock.now(),
    )
    .await?;
    Ok(Json(Invitations { items }))
}
