//! Staff routes for clients, their invitations and the items on their portal.

use aggregates::values::{ClientKind, DisplayName, Email, ExternalRef};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Created, MinPosition, Page, PositionOnly};
use aggregates::ids::ClientId;

use crate::http::auth::{Reader, Writer};
use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{checked, double_option, Checks, JsonBody, PathId};
use crate::http::Edge;
use crate::reads::clients::{ClientDetail, ClientSummary};
use crate::reads::{self, notifications::Notification};
use crate::services::clients::{self as service, NewClient};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterClientBody {
    #[schema(schema_with = crate::http::schema::display_name)]
    pub display_name: String,
    /// `individual` or `organisation`.
    #[schema(schema_with = crate::http::schema::client_kind)]
    pub kind: String,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::email_or_null)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::external_ref_or_null)]
    pub external_ref: Option<String>,
}

/// Register a client
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients",
    request_body = RegisterClientBody,
    responses((status = 201, body = Created), (status = 422, body = Problem), (status = 400, body = Problem)),
    security(("staff_token" = [])))]
pub async fn register_client(
    State(app): State<Edge>,
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
    Ok((StatusCode::CREATED, Json(Created::from(done))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeClientBody {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::display_name_or_null)]
    pub display_name: Option<String>,
    /// A new address, or `null` to remove it; absent leaves it as it is.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = crate::http::schema::email_or_null)]
    pub email: Option<Option<String>>,
}

/// Change a client's name or e-mail address
#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "clients",
    params(("id" = Uuid, Path)), request_body = ChangeClientBody,
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem), (status = 422, body = Problem), (status = 409, description = "client_archived", body = Problem)),
    security(("staff_token" = [])))]
pub async fn change_client(
    State(app): State<Edge>,
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
    let change = service::ClientChange {
        display_name: checked(display_name),
        email: checked(email),
    };
    let done = service::change_details(&app, &meta, id, change).await?;
    Ok(Json(done.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListClientsQuery {
    /// not_invited, invited, invitation_expired, active or disabled.
    #[param(schema_with = crate::http::schema::client_status)]
    pub status: Option<String>,
    /// Part of the name, e-mail, external reference, or a login's username or e-mail
    /// (case-insensitive), at most 200 characters.
    #[param(schema_with = crate::http::schema::short_text)]
    pub q: Option<String>,
    /// `true`: the archived clients; absent or `false`: the others.
    #[param(schema_with = crate::http::schema::boolean_text)]
    pub archived: Option<String>,
    /// `false`: only clients without an e-mail address (who cannot be invited); `true`:
    /// only those with one.
    #[param(schema_with = crate::http::schema::boolean_text)]
    pub has_email: Option<String>,
}

super::list_page!(ClientPage of ClientSummary);

/// List clients by status, search and page
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", params(ListClientsQuery, Page, MinPosition),
    responses((status = 200, body = ClientPage), (status = 422, body = Problem), (status = 504, description = "projection_lag", body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_clients(
    State(app): State<Edge>,
    Reader(staff): Reader,
    Query(q): Query<ListClientsQuery>,
    Query(page): Query<Page>,
    Query(wait): Query<MinPosition>,
) -> AppResult<Json<ClientPage>> {
    let mut v = Checks::default();
    let page = page.check(&wait, &mut v);
    let status = v.optional(
        "status",
        q.status.as_deref(),
        super::one_of(reads::clients::CLIENT_STATUSES),
    );
    let search = v.optional("q", q.q.as_deref(), super::search_text);
    let archived = v.optional("archived", q.archived.as_deref(), super::true_or_false);
    let has_email = v.optional("has_email", q.has_email.as_deref(), super::true_or_false);
    v.finish()?;
    super::wait_until(&app, checked(page.min_position)).await?;
    let query = reads::clients::ClientQuery {
        status: checked(status),
        search: checked(search).flatten(),
        limit: checked(page.limit),
        after: checked(page.after),
        archived: checked(archived).unwrap_or(false),
        has_email: checked(has_email),
    };
    let (items, next_cursor) = reads::clients::list(&staff.scope, &query).await?;
    Ok(Json(ClientPage { items, next_cursor }))
}

/// Get a client with its portal logins
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = Uuid, Path), MinPosition),
    responses((status = 200, body = ClientDetail), (status = 404, body = Problem), (status = 504, body = Problem)),
    security(("staff_token" = [])))]
pub async fn get_client(
    State(app): State<Edge>,
    Reader(staff): Reader,
    PathId(id): PathId,
    Query(q): Query<MinPosition>,
) -> AppResult<Json<ClientDetail>> {
    q.wait(&app).await?;
    let client = reads::clients::client(&staff.scope, ClientId::from_uuid(id))
        .await?
        .ok_or(AppError::NotFound("client"))?;
    Ok(Json(client))
}

/// Archive a client (out of lists and counts)
#[utoipa::path(post, path = "/api/v1/clients/{id}/archive", tag = "clients",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem),
        (status = 409, description = "client_has_active_logins, client_archived", body = Problem)),
    security(("staff_token" = [])))]
pub async fn archive_client(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(
        service::set_archived(&app, &meta, id, true).await?.into(),
    ))
}

/// Bring an archived client back
#[utoipa::path(post, path = "/api/v1/clients/{id}/unarchive", tag = "clients",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PositionOnly), (status = 404, body = Problem),
        (status = 409, description = "client_erased", body = Problem)),
    security(("staff_token" = [])))]
pub async fn unarchive_client(
    State(app): State<Edge>,
    Writer(meta): Writer,
    PathId(id): PathId,
) -> AppResult<Json<PositionOnly>> {
    Ok(Json(
        service::set_archived(&app, &meta, id, false).await?.into(),
    ))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Notifications {
    /// Oldest first. Never carries the link or its token.
    pub items: Vec<Notification>,
}

/// The e-mails sent to a client and its logins
#[utoipa::path(get, path = "/api/v1/clients/{id}/notifications", tag = "clients", params(("id" = Uuid, Path)),
    responses((status = 200, body = Notifications), (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn list_notifications(
    Reader(staff): Reader,
    PathId(id): PathId,
) -> AppResult<Json<Notifications>> {
    let items = reads::notifications::of_client(&staff.scope, ClientId::from_uuid(id))
        .await?
        .ok_or(AppError::NotFound("client"))?;
    Ok(Json(Notifications { items }))
}

/// Everything held about a client and its logins (a subject access request)
#[utoipa::path(get, path = "/api/v1/clients/{id}/personal-data", tag = "clients",
    operation_id = "export_personal_data", params(("id" = Uuid, Path)),
    responses((status = 200, body = crate::reads::personal_data::PersonalData,
                description = "one document; docs/privacy.md names every part"),
        (status = 403, description = "forbidden: admins only", body = Problem),
        (status = 404, body = Problem)),
    security(("staff_token" = [])))]
pub async fn export_personal_data(
    State(app): State<Edge>,
    crate::http::auth::AdminReader(staff): crate::http::auth::AdminReader,
    PathId(id): PathId,
) -> AppResult<Json<crate::reads::personal_data::PersonalData>> {
    let client = ClientId::from_uuid(id);
    let document = reads::personal_data::of_client(&staff.scope, client, app.clock.now())
        .await?
        .ok_or(AppError::NotFound("client"))?;
    // Who read a person's data is itself worth keeping (the export changes nothing, so it
    // is not an event).
    let (staff_id, token_id) = (staff.actor.id, staff.token_id);
    tracing::info!(client_id = %id, ?staff_id, %token_id, "personal data exported");
    Ok(Json(document))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldBody {
    /// Why (recorded in the audit trail): e.g. "tax dispute with HMRC, keep until settled".
    #[schema(schema_with = crate::http::schema::reason)]
    pub reason: String,
}

/// Sets (`held`) or releases a hold for the reason given (422 without one).
async fn legal_hold(
    app: &Edge,
    meta: &crate::store::CommandMeta,
    id: uuid::Uuid,
    body: &LegalHoldBody,
    held: bool,
) -> AppResult<Json<PositionOnly>> {
    let mut v = Checks::default();
    let reason = v.field("reason", aggregates::values::Reason::parse(&body.reason));
    v.finish()?;
    let done = service::set_legal_hold(app, meta, id, held, checked(reason)).await?;
    Ok(Json(done.into()))
}

/// Put a client's records on legal hold (admin)
#[utoipa::path(post, path = "/api/v1/clients/{id}/legal-hold", tag = "clients",
    operation_id = "set_legal_hold", params(("id" = Uuid, Path)), request_body = LegalHoldBody,
    responses((status = 200, body = PositionOnly),
        (status = 403, description = "forbidden: admins only", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "legal_hold_exists", body = Problem),
        (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn set_legal_hold(
    State(app): State<Edge>,
    crate::http::auth::Admin(meta): crate::http::auth::Admin,
    PathId(id): PathId,
    JsonBody(body): JsonBody<LegalHoldBody>,
) -> AppResult<Json<PositionOnly>> {
    legal_hold(&app, &meta, id, &body, true).await
}

/// Release a client's records from legal hold (admin)
#[utoipa::path(delete, path = "/api/v1/clients/{id}/legal-hold", tag = "clients",
    operation_id = "release_legal_hold", params(("id" = Uuid, Path)), request_body = LegalHoldBody,
    responses((status = 200, body = PositionOnly),
        (status = 403, description = "forbidden: admins only", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "no_legal_hold", body = Problem),
        (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn release_legal_hold(
    State(app): State<Edge>,
    crate::http::auth::Admin(meta): crate::http::auth::Admin,
    PathId(id): PathId,
    JsonBody(body): JsonBody<LegalHoldBody>,
) -> AppResult<Json<PositionOnly>> {
    legal_hold(&app, &meta, id, &body, false).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    /// Why (recorded in the audit trail, so no personal data): e.g. "erasure request of
    /// 2026-11-30, ticket 4411".
    #[schema(schema_with = crate::http::schema::reason)]
    pub reason: String,
}

/// Erase a client's personal data and its logins' (admin)
///
/// Destroys the keys their personal fields in events are sealed with, ends and disables
/// their logins, and scrubs the read models, login history and e-mail log. The events stay,
/// chained, with `"[erased]"` in their personal fields. Not undone.
#[utoipa::path(post, path = "/api/v1/clients/{id}/erase", tag = "clients",
    operation_id = "erase_client", params(("id" = Uuid, Path)), request_body = EraseBody,
    responses((status = 200, body = crate::services::erasure::Erasure),
        (status = 403, description = "forbidden: admins only", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "legal_hold, client_erased", body = Problem),
        (status = 422, body = Problem)),
    security(("staff_token" = [])))]
pub async fn erase_client(
    State(app): State<Edge>,
    crate::http::auth::Admin(meta): crate::http::auth::Admin,
    PathId(id): PathId,
    JsonBody(body): JsonBody<EraseBody>,
) -> AppResult<Json<crate::services::erasure::Erasure>> {
    let mut v = Checks::default();
    let reason = v.field("reason", aggregates::values::Reason::parse(&body.reason));
    v.finish()?;
    let done = crate::services::erasure::erase(&app, &meta, id, checked(reason)).await?;
    Ok(Json(done))
}
