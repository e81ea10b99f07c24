//! The HTTP API: routes, the middleware every request passes, and the OpenAPI document.

pub mod auth;
pub mod cors;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod listener;
pub mod named_enums;
pub mod openapi;
pub mod pages;
pub mod parse_refusals;
pub mod png;
pub mod portal_auth;
pub mod portal_view;
pub mod request_shape;
pub mod routes;
pub mod schema;
mod state;

pub use state::{Edge, EdgeState};

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{Problem, PROBLEM_JSON};
use crate::infra::telemetry;
use routes::{
    audit, catalogue, checkpoints, client_items, clients, contracts, events, invitations, items,
    notifications, ops, portal, portal_content, portal_mfa, portal_users, settings, staff, tokens,
    webhooks,
};

/// Every documented route, with its OpenAPI description.
pub fn api_routes() -> OpenApiRouter<Edge> {
    let image_upload = OpenApiRouter::new()
        .routes(routes!(items::set_image, items::get_image))
        .layer(DefaultBodyLimit::max(extract::IMAGE_LIMIT));
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(clients::register_client, clients::list_clients))
        .routes(routes!(clients::change_client, clients::get_client))
        .routes(routes!(clients::archive_client))
        .routes(routes!(clients::unarchive_client))
        .routes(routes!(invitations::invitation_dashboard))
        .routes(routes!(
            invitations::invite_client,
            invitations::list_client_invitations
        ))
        .routes(routes!(invitations::list_invitations))
        .routes(routes!(invitations::revoke_invitation))
        .routes(routes!(invitations::bulk_invite))
        .routes(routes!(
            client_items::assign_item,
            client_items::list_client_items
        ))
        .routes(routes!(client_items::unassign_item))
        .routes(routes!(portal_users::create_portal_user))
        .routes(routes!(portal_users::grant_client_access))
        .routes(routes!(portal_users::revoke_client_access))
        .routes(routes!(portal_users::reset_password))
        .routes(routes!(portal_users::disable_login))
        .routes(routes!(portal_users::enable_login))
        .routes(routes!(portal_users::reset_mfa))
        .routes(routes!(portal_users::unlock_login))
        .routes(routes!(portal_users::resend_activation))
        .routes(routes!(
            portal_users::remove_portal_user,
            portal_users::get_portal_user,
            portal_users::change_portal_user
        ))
        .routes(routes!(items::create_item, catalogue::list_items))
        .routes(routes!(catalogue::get_item, catalogue::change_item))
        .routes(routes!(catalogue::archive_item))
        .routes(routes!(catalogue::unarchive_item))
        .routes(routes!(items::change_price))
        .merge(image_upload)
        .routes(routes!(
            contracts::issue_contract,
            contracts::list_client_contracts
        ))
        .routes(routes!(contracts::void_contract))
        .routes(routes!(contracts::get_contract))
        .routes(routes!(settings::set_portal))
        .routes(routes!(settings::set_checkpoint_email))
        .routes(routes!(notifications::list))
        .routes(routes!(notifications::retry))
        .routes(routes!(settings::get_settings, settings::change_settings))
        .routes(routes!(staff::create_staff_member, staff::list_staff))
        .routes(routes!(staff::get_staff_member, staff::change_staff_member))
        .routes(routes!(staff::disable_staff_member))
        .routes(routes!(staff::enable_staff_member))
        .routes(routes!(tokens::issue_token, tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::change_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::rotate_webhook_secret))
        .routes(routes!(webhooks::send_webhook_test))
        .routes(routes!(webhooks::list_webhook_deliveries))
        .routes(routes!(webhooks::retry_webhook_delivery))
        .routes(routes!(events::read_event_feed))
        .routes(routes!(audit::events))
        .routes(routes!(audit::client_history))
        .routes(routes!(audit::stream_as_of))
        .routes(routes!(audit::export))
        .routes(routes!(audit::verify_chain))
        .routes(routes!(audit::logins))
        .routes(routes!(checkpoints::public_key))
        .routes(routes!(checkpoints::list))
        .routes(routes!(checkpoints::latest))
        .routes(routes!(checkpoints::emails))
        .routes(routes!(checkpoints::verify))
        .routes(routes!(clients::list_notifications))
        .routes(routes!(clients::export_personal_data))
        .routes(routes!(
            clients::set_legal_hold,
            clients::release_legal_hold
        ))
        .routes(routes!(clients::erase_client))
}

/// The Portal API, for the firms' clients (no staff token, no Idempotency-Key handling).
pub fn portal_routes() -> OpenApiRouter<Edge> {
    OpenApiRouter::new()
        .routes(routes!(portal::accept_invitation))
        .routes(routes!(portal::activate))
        .routes(routes!(portal::login))
        .routes(routes!(portal::forgot_password))
        .routes(routes!(portal::forgot_username))
        .routes(routes!(portal::reset_password))
        .routes(routes!(portal::logout))
        .routes(routes!(portal::change_password))
        .routes(routes!(portal::me))
        .routes(routes!(portal_mfa::login_mfa))
        .routes(routes!(portal_mfa::mfa_status))
        .routes(routes!(portal_mfa::start_totp, portal_mfa::remove_totp))
        .routes(routes!(portal_mfa::confirm_totp))
        .routes(routes!(portal_mfa::new_recovery_codes))
        .routes(routes!(portal_mfa::passkey_options))
        .routes(routes!(portal_mfa::add_passkey))
        .routes(routes!(portal_mfa::remove_passkey))
        .routes(routes!(portal_mfa::login_passkey_options))
        .routes(routes!(portal_mfa::login_passkey))
        .routes(routes!(portal_content::client_items))
        .routes(routes!(portal_content::item_image))
        .routes(routes!(portal_content::list_contracts))
        .routes(routes!(portal_content::get_contract))
        .routes(routes!(portal_content::sign_contract))
}

pub fn router(app: Edge) -> Router {
    // Install the recorder before the first request is counted.
    telemetry::prometheus();
    let (api, mut spec) = api_routes().split_for_parts();
    let (portal, portal_spec) = portal_routes().split_for_parts();
    spec.merge(portal_spec);
    openapi::document_errors(&mut spec);
    openapi::document_headers(&mut spec);
    openapi::document_enums(&mut spec);
    let api = api.layer(middleware::from_fn_with_state(
        app.clone(),
        idempotency::middleware,
    ));
    let documented =
        Router::new()
            .merge(api)
            .merge(portal)
            .route_layer(middleware::from_fn_with_state(
                request_shape::QueryParameters::from_document(&spec),
                request_shape::refuse_unknown_query,
            ));
    Router::new()
        .merge(documented)
        .merge(crate::http::pages::routes())
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        // Swagger UI at /docs (assets embedded), reading the document at /openapi.json.
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(|| async {
            Problem::new(StatusCode::NOT_FOUND, "not_found", "no such route")
                .into_response_with(None)
        })
        .layer(DefaultBodyLimit::max(extract::JSON_LIMIT))
        .layer(middleware::from_fn(refuse_nul_in_uri))
        .layer(middleware::from_fn_with_state(app.clone(), fail_fast))
        .layer(middleware::from_fn(telemetry::record_metrics))
        .layer(middleware::map_response(problem_for_bare_errors))
        .layer(middleware::from_fn(request_shape::refuse_oversized))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(telemetry::request_span)
                        .on_request(())
                        .on_response(telemetry::on_response),
                )
                .layer(CatchPanicLayer::custom(|_| {
                    Problem::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_error",
                        "an internal error occurred",
                    )
                    .into_response_with(None)
                })),
        )
        .layer(middleware::from_fn(drop_unusable_request_id))
        .layer(middleware::from_fn_with_state(app.clone(), client_address))
        // Outermost, so a preflight is answered before anything asks for credentials.
        .layer(cors::layer(&app.cors_origins))
        .with_state(app)
}

/// Behind a trusted proxy, the client is the last `X-Forwarded-For` hop (the one our proxy
/// appended; earlier hops are whatever the client claimed). Ignored unless configured.
async fn client_address(
    axum::extract::State(app): axum::extract::State<Edge>,
    mut request: Request,
    next: Next,
) -> Response {
    if app.trust_forwarded_for {
        let last_hop = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|hop| hop.trim().parse::<std::net::IpAddr>().ok());
        if let Some(ip) = last_hop {
            request
                .extensions_mut()
                .insert(extract::ForwardedFor(ip.to_string()));
        }
    }
    next.run(request).await
}

/// While the database is known to be down, every request but `/healthz` answers 503 at
/// once; a response that finds it down marks it so (a probe marks it up again).
async fn fail_fast(
    axum::extract::State(app): axum::extract::State<Edge>,
    request: Request,
    next: Next,
) -> Response {
    if app.db_health.is_down() && request.uri().path() != "/healthz" {
        return axum::response::IntoResponse::into_response(error::AppError::unavailable());
    }
    let response = next.run(request).await;
    if response
        .extensions()
        .get::<error::DatabaseUnavailable>()
        .is_some()
    {
        app.db_health.mark_down(app.pool());
    }
    response
}

/// A NUL character has no place in any path or query parameter (PostgreSQL text cannot hold
/// one): `%00` anywhere in the URI is refused before routing, 400 `malformed_request`.
async fn refuse_nul_in_uri(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let has_nul = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return axum::response::IntoResponse::into_response(error::AppError::Malformed(
            "the address contains a NUL character (%00), which no field may hold".into(),
        ));
    }
    next.run(request).await
}

/// A caller's request id is echoed only if it is short and printable (it goes into logs).
async fn drop_unusable_request_id(mut request: Request, next: Next) -> Response {
    let usable = request
        .headers()
        .get("x-request-id")
        .is_none_or(|v| v.len() <= 128 && v.as_bytes().iter().all(|b| b.is_ascii_graphic()));
    if !usable {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// Errors produced outside our handlers (405, framework rejections) become problem+json too.
async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    // A problem already, or a page that says it for people (the hosted portal pages).
    let has_its_body = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(PROBLEM_JSON.as_bytes())
                || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || has_its_body {
        return response;
    }
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "malformed_request",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    };
    let mut problem = Problem::new(status, code, status.canonical_reason().unwrap_or("error"))
        .into_response_with(None);
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            problem.headers_mut().insert(name, v.clone());
        }
    }
    problem
}

/// How long a graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
