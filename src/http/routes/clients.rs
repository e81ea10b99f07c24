//! Staff routes for clients, their invitations and the items on their portal.

use aggregates::values::{ClientKind, DisplayName, Email, ExternalRef};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Created, PositionOnly};
use crate::app::App;
use crate::commands::clients::{
    self as service, BulkInvited, BulkSelection, BulkSkipped, NewClient,
};
use crate::error::{AppError, AppResult, Problem};
use crate::http::auth::{Reader, Writer};
use crate::http::extract::{checked, double_option, Checks, JsonBody, PathId, PathIds};
use crate::reads::{self, ClientDetail, ClientItem, ClientSummary, InvitationDashboard};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterClientBody {
    pub display_name: String,
    /// `individual` or `organisation`.
    pub kind: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub external_ref: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/clients", tag = "clients",
    request_body = RegisterClientBody,
    responses((status = 201, body = Created), (status = 422, body = Problem), (status = 400, body = Problem)),
    security(("staff_token" = [])))]
pub async fn register_client(
    State(app): State<App>,
    Writer(meta): Writer,
    JsonBody(body): JsonBody<RegisterClientBody>,
) -> AppResult<(StatusCode, Json<Created>)> {
    let mut v = Checks::default();
    let display_name = v.field("display_name", DisplayName::parse(&body.display_name));
    let kind = v.field("kind", ClientKind::parse(&body.kind));
    let email = v.optional("email", body.email.as_deref(), Email::parse);
    let external_ref = v.optional(
        "external_ref",
        body.external_ref.as_deref(),
        ExternalRef::parse,
    );
    v.finish()?;
    let new = NewClient {
        display_name: checked(display_name),
        kind: checked(kind),
        email: checked(email),
        external_ref: checked(external_ref),
    };
    let done = service::register(&app, &meta, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            id: done.value,
            position: done.position,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeClientBody {
    #[serde(default)]
    pub display_name: Option<String>,
    /// A new address, or `null` to remove it; absent leaves it as it is.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
}

#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "clients",
    params(("id" = Uuid, Path)), request_body = ChangeClientBody,
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn change_client(
    State(app): State<App>,
    Writer(meta): Writer,
    PathId(id): PathId,
    JsonBody(body): JsonBody<ChangeClientBody>,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let display_name = v.optional(
        "display_name",
        body.display_name.as_deref(),
        DisplayName::parse,
    );
    let email = match body.email {
        None => Some(None),
        Some(None) => Some(Some(None)),
        Some(Some(raw)) => v.field("email", Email::parse(&raw)).map(|e| Some(Some(e))),
    };
    v.finish()?;
    let done =
        service::change_details(&app, &meta, id, checked(display_name), checked(email)).await?;
    Ok(Json(done.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationCreated {
    pub invitation_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub position: i64,
}

#[utoipa::path(post, path = "/api/v1/clients/{id}/invitations", tag = "invitations",
    params(("id" = Uuid, Path)),
    responses((status = 201, body = InvitationCreated),
        (status = 409, description = "client_has_no_email, client_already_active, individual_client_has_user", body = Problem),
        (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn invite_client(
    State(app): State<App>,
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

#[utoipa::path(delete, path = "/api/v1/clients/{id}/invitations/current", tag = "invitations",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 409, description = "no_open_invitation", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn revoke_invitation(
    State(app): State<App>,
    Writer(meta): Writer,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(
        service::revoke_invitation(&app, &meta, id).await?.into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInviteBody {
    #[serde(default)]
    pub client_ids: Option<Vec<String>>,
    /// `not_invited`: every client the dashboard counts as not invited.
    #[serde(default)]
    pub filter: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkInviteResult {
    pub invited: Vec<BulkInvited>,
    pub skipped: Vec<BulkSkipped>,
    pub position: i64,
}

const BULK_MAX_IDS: usize = 5_000;

#[utoipa::path(post, path = "/api/v1/invitations/bulk", tag = "invitations",
    request_body = BulkInviteBody,
    responses((status = 200, body = BulkInviteResult), (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn bulk_invite(
    State(app): State<App>,
    Writer(meta): Writer,
    JsonBody(body): JsonBody<BulkInviteBody>,
) -> AppResult<Json<BulkInviteResult>> {
    let selection = match (body.client_ids, body.filter.as_deref()) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > BULK_MAX_IDS {
                return Err(AppError::invalid(
                    "client_ids",
                    format!("must list 1 to {BULK_MAX_IDS} client ids"),
                ));
            }
            let mut v = Checks::default();
            let parsed: Vec<Option<Uuid>> = ids
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    v.field(
                        &format!("client_ids[{i}]"),
                        Uuid::try_parse(s).map_err(|_| "is not a UUID".into()),
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignItemBody {
    pub item_id: String,
}

#[utoipa::path(post, path = "/api/v1/clients/{id}/items", tag = "items",
    params(("id" = Uuid, Path)), request_body = AssignItemBody,
    responses((status = 201, body = PositionOnly), (status = 409, description = "item_already_assigned", body = Problem), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn assign_item(
    State(app): State<App>,
    Writer(meta): Writer,
    PathId(client_id): PathId,
    JsonBody(body): JsonBody<AssignItemBody>,
) -> AppResult<(StatusCode, Json<PositionOnly>)> {
    let item_id = Uuid::try_parse(&body.item_id).map_err(|_| AppError::NotFound("item"))?;
    let done = service::assign_item(&app, &meta, client_id, item_id).await?;
    Ok((StatusCode::CREATED, Json(done.into())))
}

#[utoipa::path(delete, path = "/api/v1/clients/{id}/items/{item_id}", tag = "items",
    params(("id" = Uuid, Path), ("item_id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, description = "unknown client or item_not_assigned", body = Problem)),
    security(("staff_token" = [])))]
pub async fn unassign_item(
    State(app): State<App>,
    Writer(meta): Writer,
    PathIds(client_id, item_id): PathIds,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(
        service::unassign_item(&app, &meta, client_id, item_id)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListClientsQuery {
    /// not_invited, invited, invitation_expired, active or disabled.
    pub status: Option<String>,
    /// Part of the name, e-mail or external reference (case-insensitive).
    pub q: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<String>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// Wait (≤ 5 s) until the read models include this position.
    pub min_position: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientPage {
    pub items: Vec<ClientSummary>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", params(ListClientsQuery),
    responses((status = 200, body = ClientPage), (status = 422, body = Problem), (status = 504, description = "projection_lag", body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_clients(
    State(app): State<App>,
    Reader(staff): Reader,
    Query(q): Query<ListClientsQuery>,
) -> AppResult<Json<ClientPage>> {
    let mut v = Checks::default();
    let min_position = v.field("min_position", parse_position(q.min_position.as_deref()));
    let status = v.optional("status", q.status.as_deref(), |s| {
        reads::CLIENT_STATUSES
            .contains(&s)
            .then(|| s.to_string())
            .ok_or_else(|| format!("must be one of {}", reads::CLIENT_STATUSES.join(", ")))
    });
    let limit = v.field(
        "limit",
        match q.limit.as_deref().map(str::parse::<i64>) {
            None => Ok(50),
            Some(Ok(n)) if (1..=200).contains(&n) => Ok(n),
            _ => Err("must be a whole number from 1 to 200".to_string()),
        },
    );
    let after = v.optional("cursor", q.cursor.as_deref(), |c| {
        reads::decode_cursor(c).ok_or_else(|| "is not a cursor this API gave out".to_string())
    });
    let search = v.optional("q", q.q.as_deref(), |s| {
        (s.chars().count() <= 200)
            .then(|| s.trim().to_string())
            .ok_or_else(|| "must be at most 200 characters".to_string())
    });
    v.finish()?;
    reads::wait_for(app.pool(), checked(min_position)).await?;
    let query = reads::ClientQuery {
        status: checked(status),
        search: checked(search).filter(|s| !s.is_empty()),
        limit: checked(limit),
        after: checked(after),
    };
    let (items, next_cursor) = reads::list_clients(app.pool(), staff.tenant_id, &query).await?;
    Ok(Json(ClientPage { items, next_cursor }))
}

/// `min_position`: absent, or a position ≥ 0.
pub fn parse_position(raw: Option<&str>) -> Result<Option<i64>, String> {
    match raw.map(str::parse::<i64>) {
        None => Ok(None),
        Some(Ok(n)) if n >= 0 => Ok(Some(n)),
        _ => Err("must be a position (a whole number ≥ 0)".into()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MinPosition {
    /// Wait (≤ 5 s) until the read models include this position.
    pub min_position: Option<String>,
}

impl MinPosition {
    pub async fn wait(&self, app: &App) -> AppResult<()> {
        let position = parse_position(self.min_position.as_deref())
            .map_err(|m| AppError::invalid("min_position", m))?;
        reads::wait_for(app.pool(), position).await
    }
}

#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = Uuid, Path), MinPosition),
    responses((status = 200, body = ClientDetail), (status = 404, body = Problem), (status = 504, body = Problem)),
    security(("staff_token" = [])))]
pub async fn get_client(
    State(app): State<App>,
    Reader(staff): Reader,
    PathId(id): PathId,
    Query(q): Query<MinPosition>,
) -> AppResult<Json<ClientDetail>> {
    q.wait(&app).await?;
    let client = reads::client(app.pool(), staff.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound("client"))?;
    Ok(Json(client))
}

#[utoipa::path(get, path = "/api/v1/dashboard/invitations", tag = "invitations", params(MinPosition),
    responses((status = 200, body = InvitationDashboard), (status = 504, body = Problem)),
    security(("staff_token" = [])))]
pub async fn invitation_dashboard(
    State(app): State<App>,
    Reader(staff): Reader,
    Query(q): Query<MinPosition>,
) -> AppResult<Json<InvitationDashboard>> {
    q.wait(&app).await?;
    Ok(Json(reads::dashboard(app.pool(), staff.tenant_id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientItems {
    pub items: Vec<ClientItem>,
}

#[utoipa::path(get, path = "/api/v1/clients/{id}/items", tag = "items", params(("id" = Uuid, Path), MinPosition),
    responses((status = 200, body = ClientItems), (status = 404, body = Problem), (status = 504, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_client_items(
    State(app): State<App>,
    Reader(staff): Reader,
    PathId(id): PathId,
    Query(q): Query<MinPosition>,
) -> AppResult<Json<ClientItems>> {
    q.wait(&app).await?;
    let items = reads::client_items(app.pool(), staff.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound("client"))?;
    Ok(Json(ClientItems { items }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Notifications {
    /// Oldest first. Never carries the link or its token.
    pub items: Vec<reads::Notification>,
}

#[utoipa::path(get, path = "/api/v1/clients/{id}/notifications", tag = "clients", params(("id" = Uuid, Path)),
    responses((status = 200, body = Notifications), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_notifications(
    State(app): State<App>,
    Reader(staff): Reader,
    PathId(id): PathId,
) -> AppResult<Json<Notifications>> {
    let items = reads::notifications(app.pool(), staff.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound("client"))?;
    Ok(Json(Notifications { items }))
}
