//! The Portal API after login: a client's items and their pictures, its contracts, and
//! signing them.

use aggregates::values::SignerName;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::error::{AppError, AppResult, Problem};
use crate::http::extract::{checked, Checks, JsonBody};
use crate::http::portal_auth::PortalSession;
use crate::http::portal_view::PortalContract;
use crate::http::Edge;
use crate::reads::{contracts::ContractView, items::ClientItem};

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct PortalItems {
    pub items: Vec<ClientItem>,
}

/// A path id that is not a UUID names nothing this user can see.
fn path_uuid(raw: &str, what: &'static str) -> AppResult<Uuid> {
    crate::http::extract::canonical_uuid(raw).ok_or(AppError::NotFound(what))
}

/// The items on one of the login's client areas
#[utoipa::path(get, path = "/portal/v1/{tenant_slug}/clients/{client_id}/items", tag = "portal",
    params(("tenant_slug" = String, Path), ("client_id" = Uuid, Path)),
    responses((status = 200, body = PortalItems),
        (status = 404, description = "not a client this login reaches", body = Problem)),
    security(("portal_session" = [])))]
pub async fn client_items(
    session: PortalSession,
    Path(path): Path<(String, String)>,
) -> AppResult<Json<PortalItems>> {
    let client_id = path_uuid(&path.1, "client")?;
    let items = session.items_of(client_id).await?;
    Ok(Json(PortalItems { items }))
}

/// An item's image, for an item on the login's portal
#[utoipa::path(get, path = "/portal/v1/{tenant_slug}/items/{item_id}/image", tag = "portal",
    params(("tenant_slug" = String, Path), ("item_id" = Uuid, Path)),
    responses((status = 200, content_type = "image/png", body = crate::http::schema::PngBody),
        (status = 404, description = "no image, or not an item on a client this login reaches", body = Problem)),
    security(("portal_session" = [])))]
pub async fn item_image(
    session: PortalSession,
    Path(path): Path<(String, String)>,
) -> AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let item_id = path_uuid(&path.1, "item")?;
    let png = session.item_image(item_id).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/png"),
            (axum::http::header::CACHE_CONTROL, "private, max-age=60"),
        ],
        png,
    )
        .into_response())
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct PortalContracts {
    /// Awaiting signature and signed contracts of every client this login reaches.
    pub items: Vec<ContractView>,
}

/// The login's contracts, awaiting and signed
#[utoipa::path(get, path = "/portal/v1/{tenant_slug}/contracts", tag = "portal",
    params(("tenant_slug" = String, Path)),
    responses((status = 200, body = PortalContracts), (status = 401, body = Problem)),
    security(("portal_session" = [])))]
pub async fn list_contracts(session: PortalSession) -> AppResult<Json<PortalContracts>> {
    Ok(Json(PortalContracts {
        items: session.contracts().await?,
    }))
}

/// One contract with its text
#[utoipa::path(get, path = "/portal/v1/{tenant_slug}/contracts/{id}", tag = "portal", operation_id = "portal_get_contract",
    params(("tenant_slug" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = PortalContract), (status = 404, body = Problem)),
    security(("portal_session" = [])))]
pub async fn get_contract(
    State(app): State<Edge>,
    session: PortalSession,
    Path(path): Path<(String, String)>,
) -> AppResult<Json<PortalContract>> {
    let id = path_uuid(&path.1, "contract")?;
    Ok(Json(session.contract(&app, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// The name the signer types, recorded with the signature. Left out, the login's full
    /// name on file is used (409 `signer_name_required` when it has none).
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::signer_name_or_null)]
    pub signer_name: Option<String>,
    /// The `content_sha256` of the contract as shown to the signer.
    #[schema(schema_with = crate::http::schema::any_text)]
    pub content_sha256: String,
    /// Must be `true`: the signer agrees to the contract.
    #[schema(schema_with = crate::http::schema::must_be_true)]
    pub agree: bool,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Signed {
    pub position: i64,
}

/// Sign a contract as shown (SignContract)
#[utoipa::path(post, path = "/portal/v1/{tenant_slug}/contracts/{id}/sign", tag = "portal",
    params(("tenant_slug" = String, Path), ("id" = Uuid, Path)), request_body = SignBody,
    responses((status = 200, body = Signed),
        (status = 409, description = "content_changed, contract_already_signed, contract_voided, signer_name_required", body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("portal_session" = [])))]
pub async fn sign_contract(
    State(app): State<Edge>,
    session: PortalSession,
    Path(path): Path<(String, String)>,
    JsonBody(body): JsonBody<SignBody>,
) -> AppResult<Json<Signed>> {
    let id = path_uuid(&path.1, "contract")?;
    let mut v = Checks::default();
    let signer_name = v.optional(
        "signer_name",
        body.signer_name.as_deref(),
        SignerName::parse,
    );
    let agreed = v.field(
        "agree",
        if body.agree {
            Ok(())
        } else {
            Err("must be true to sign".to_string())
        },
    );
    v.finish()?;
    checked(agreed);
    let position = session
        .sign(&app, id, checked(signer_name), &body.content_sha256)
        .await?;
    Ok(Json(Signed { position }))
}
