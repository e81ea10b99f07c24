//! Hosted portal pages, per firm under `/portal/{tenant_slug}/`: server-rendered HTML forms
//! (askama templates; the one script runs passkey ceremonies) over the same services as the
//! Portal API, with the session in an HttpOnly cookie and an anti-forgery token in every
//! form.

mod entry;
mod page;
mod passkeys;
mod signed_in;
mod views;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};

use crate::http::Edge;

const STYLESHEET: &str = include_str!("../../../templates/portal/portal.css");

/// Every page route; merged into the server's router.
pub fn routes() -> Router<Edge> {
    let page = "/portal/{tenant_slug}";
    Router::new()
        .route(&format!("{page}/"), get(signed_in::home))
        .route(
            &format!("{page}/login"),
            get(entry::login_form).post(entry::login),
        )
        .route(&format!("{page}/logout"), post(entry::logout))
        .route(
            &format!("{page}/forgot-password"),
            get(entry::forgot_password_form).post(entry::forgot_password),
        )
        .route(
            &format!("{page}/forgot-username"),
            get(entry::forgot_username_form).post(entry::forgot_username),
        )
        .route(
            &format!("{page}/accept-invitation"),
            get(entry::accept_form).post(entry::accept),
        )
        .route(
            &format!("{page}/activate"),
            get(entry::activate_form).post(entry::activate),
        )
        .route(
            &format!("{page}/reset-password"),
            get(entry::reset_form).post(entry::reset),
        )
        .route(&format!("{page}/contracts"), get(signed_in::contracts))
        .route(
            &format!("{page}/contracts/{{id}}"),
            get(signed_in::contract),
        )
        .route(
            &format!("{page}/contracts/{{id}}/sign"),
            post(signed_in::sign),
        )
        .route(
            &format!("{page}/items/{{item_id}}/image"),
            get(signed_in::item_image),
        )
        .route(&format!("{page}/account"), get(signed_in::account))
        .route(
            &format!("{page}/account/password"),
            post(signed_in::change_password),
        )
        .route(
            &format!("{page}/account/logout-everywhere"),
            post(signed_in::logout_everywhere),
        )
        .route(&format!("{page}/account/totp"), post(signed_in::start_totp))
        .route(
            &format!("{page}/account/totp/confirm"),
            post(signed_in::confirm_totp),
        )
        .route(
            &format!("{page}/account/totp/remove"),
            post(signed_in::remove_totp),
        )
        .route(
            &format!("{page}/account/recovery-codes"),
            post(signed_in::new_recovery_codes),
        )
        .route(
            &format!("{page}/login/second-step"),
            post(entry::second_step),
        )
        .route(
            &format!("{page}/login/passkey/options"),
            post(passkeys::login_options),
        )
        .route(&format!("{page}/login/passkey"), post(passkeys::login))
        .route(
            &format!("{page}/account/passkeys/options"),
            post(passkeys::register_options),
        )
        .route(&format!("{page}/account/passkeys"), post(passkeys::add))
        .route(
            &format!("{page}/account/passkeys/{{id}}/remove"),
            post(passkeys::remove),
        )
        .route(&format!("{page}/{{page}}"), get(unknown_page))
        .route(page, get(to_home))
        .layer(middleware::map_response(security_headers))
        .route("/portal/assets/portal.css", get(stylesheet))
        .route("/portal/assets/passkeys.js", get(passkeys::script))
}

/// `/portal/acme` → `/portal/acme/`.
async fn to_home(Path(slug): Path<String>) -> Redirect {
    Redirect::permanent(&format!("/portal/{}/", urlencode(&slug)))
}

async fn unknown_page() -> Response {
    page::not_found()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// What every page carries: a strict CSP (scripts, styles, images and requests only from
/// here — the one script is the passkey ceremony's — forms only to here), no framing, no sniffing, no Referer (link pages hold a token
/// in their address), and no caching of pages with personal data.
async fn security_headers(mut response: Response) -> Response {
    let not_modified = response.status() == StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !not_modified && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Percent-encodes a path segment (a slug as typed in an address may hold anything).
fn urlencode(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}
