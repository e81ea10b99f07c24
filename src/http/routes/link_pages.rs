//! The pages e-mailed links open (`/portal/{tenant_slug}/accept-invitation|activate|
//! reset-password?token=…`): a small form that posts to the Portal API. A firm with its own
//! portal front end points `PORTAL_PUBLIC_URL` there instead; these make the default work.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

use crate::app::App;
use crate::http::error::{AppError, AppResult};

const TEMPLATE: &str = include_str!("../pages/link.html");

struct Page {
    title: &'static str,
    action: &'static str,
    api_path: &'static str,
    password_field: &'static str,
    password_label: &'static str,
    asks_username: bool,
}

fn page(name: &str) -> Option<Page> {
    Some(match name {
        "accept-invitation" => Page {
            title: "Set up your portal login",
            action: "Create my login",
            api_path: "invitations/accept",
            password_field: "password",
            password_label: "Choose a password",
            asks_username: true,
        },
        "activate" => Page {
            title: "Activate your portal login",
            action: "Activate",
            api_path: "activate",
            password_field: "password",
            password_label: "Choose a password",
            asks_username: false,
        },
        "reset-password" => Page {
            title: "Choose a new password",
            action: "Save the new password",
            api_path: "password/reset",
            password_field: "new_password",
            password_label: "New password",
            asks_username: false,
        },
        _ => return None,
    })
}

pub async fn link_page(
    State(app): State<App>,
    Path((slug, name)): Path<(String, String)>,
) -> AppResult<Response> {
    let page = page(&name).ok_or(AppError::NotFound("page"))?;
    // Only a real firm's slug goes into the page (slugs are lowercase letters, digits and
    // hyphens, so nothing in it needs escaping).
    app.tenant_slugs
        .resolve(app.pool(), &slug)
        .await?
        .ok_or(AppError::NotFound("portal"))?;
    let endpoint = serde_json::to_string(&format!("/portal/v1/{slug}/{}", page.api_path))
        .map_err(AppError::internal)?;
    let html = TEMPLATE
        .replace("{{TITLE}}", page.title)
        .replace("{{ACTION}}", page.action)
        .replace("{{PASSWORD_LABEL}}", page.password_label)
        .replace(
            "{{USERNAME_HIDDEN}}",
            if page.asks_username { "" } else { "hidden" },
        )
        .replace("{{ENDPOINT}}", &endpoint)
        .replace(
            "{{PASSWORD_FIELD}}",
            &format!("\"{}\"", page.password_field),
        );
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    // The token is in this page's URL: never send it on as a Referer, never cache it.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'",
        ),
    );
    Ok(response)
}
