//! What every page handler stands on: the firm a page belongs to, its anti-forgery cookie
//! and token, a posted form (refused without its token), the signed-in user behind the
//! session cookie, and errors told as pages.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::views::{Layout, MessagePage, NotFoundPage};
use crate::errors::service::ServiceError;
use crate::http::error::AppError;
use crate::http::portal_auth::{PortalSession, PortalTenant};
use crate::http::Edge;
use crate::security::new_csrf_cookie_value;

const CSRF_COOKIE: &str = "portal_csrf";
const SESSION_COOKIE: &str = "portal_session";

/// The firm a page belongs to, with its name, and the browser's cookies for it.
pub struct Firm {
    pub tenant: PortalTenant,
    pub slug: String,
    pub name: String,
    pub jar: CookieJar,
    /// Whether cookies are marked `Secure` (the server is reached over https).
    secure: bool,
    /// The service's time (`App::clock`), which session lifetimes count in.
    clock: crate::infra::clock::Clock,
}

impl FromRequestParts<Edge> for Firm {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> Result<Self, Response> {
        let tenant = PortalTenant::from_request_parts(parts, app)
            .await
            .map_err(|e| error_page(None, &e))?;
        let (slug, name): (String, String) =
            sqlx::query_as("SELECT slug, name FROM tenants WHERE id = $1")
                .bind(tenant.id())
                .fetch_optional(tenant.scope.pool())
                .await
                .map_err(|e| error_page(None, &AppError::from(ServiceError::from(e))))?
                .ok_or_else(not_found)?;
        let jar = CookieJar::from_headers(&parts.headers);
        Ok(Self {
            tenant,
            slug,
            name,
            jar,
            secure: app.serves_https(),
            clock: app.clock.clone(),
        })
    }
}

impl Firm {
    pub fn base(&self) -> String {
        format!("/portal/{}", self.slug)
    }

    /// Whether `path` is one of this firm's own pages, safe to send a browser back to
    /// after logging in: a plain path under the firm's base (no scheme, host, `//`,
    /// backslash, dot segment or control character that could lead elsewhere).
    pub fn is_own_page(&self, path: &str) -> bool {
        let base = self.base() + "/";
        path.starts_with(&base)
            && path.len() <= 512
            && !path.contains("//")
            && !path.contains('\\')
            && !path.split(['/', '?', '#']).any(|s| s == "." || s == "..")
            && path.chars().all(|c| c.is_ascii_graphic())
    }

    /// A cookie for this firm's pages only.
    fn cookie(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .path(self.base())
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build()
    }

    /// The page frame for `title`, with a form token (setting the CSRF cookie when the
    /// browser has none yet).
    pub fn layout(&mut self, title: &str, app: &Edge) -> Layout {
        let value = match self.jar.get(CSRF_COOKIE) {
            Some(c) => c.value().to_string(),
            None => {
                let value = new_csrf_cookie_value();
                let jar = std::mem::take(&mut self.jar);
                self.jar = jar.add(self.cookie(CSRF_COOKIE, value.clone()));
                value
            }
        };
        Layout {
            firm: self.name.clone(),
            base: self.base(),
            title: title.to_string(),
            csrf: app.secret.csrf_token(self.tenant.id(), &value),
            signed_in: false,
            notice: None,
            error: None,
        }
    }

    /// Starts a session in this browser, for as long as the session lasts.
    pub fn sign_in(&mut self, token: String, expires_at: chrono::DateTime<chrono::Utc>) {
        let mut cookie = self.cookie(SESSION_COOKIE, token);
        let seconds = (expires_at - self.clock.now()).num_seconds().max(0);
        cookie.set_max_age(time::Duration::seconds(seconds));
        let jar = std::mem::take(&mut self.jar);
        self.jar = jar.add(cookie);
    }

    /// Forgets the session cookie.
    pub fn sign_out(&mut self) {
        let jar = std::mem::take(&mut self.jar);
        self.jar = jar.remove(Cookie::build(SESSION_COOKIE).path(self.base()));
    }

    pub fn session_token(&self) -> Option<String> {
        self.jar.get(SESSION_COOKIE).map(|c| c.value().to_string())
    }

    /// A rendered page with this firm's cookies.
    pub fn render(self, status: StatusCode, page: &impl Template) -> Response {
        match page.render() {
            Ok(html) => (status, self.jar, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "a portal page did not render");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    /// A redirect after a post (303: the browser follows with GET), with the cookies.
    pub fn redirect(self, to: &str) -> Response {
        (self.jar, Redirect::to(to)).into_response()
    }
}

/// A posted form whose anti-forgery token matched the browser's cookie.
pub struct PostedForm {
    pub firm: Firm,
    fields: HashMap<String, String>,
}

impl PostedForm {
    pub fn field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn take(&mut self, name: &str) -> String {
        self.fields.remove(name).unwrap_or_default()
    }
}

impl FromRequest<Edge> for PostedForm {
    type Rejection = Response;

    async fn from_request(request: Request, app: &Edge) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let mut firm = Firm::from_request_parts(&mut parts, app).await?;
        let request = Request::from_parts(parts, body);
        let fields = Form::<HashMap<String, String>>::from_request(request, app)
            .await
            .ok()
            .map(|Form(fields)| fields)
            .filter(|fields| fields.values().all(|v| readable(v)));
        let Some(fields) = fields else {
            let page = firm.message(app, "Form not understood", FORM_NOT_UNDERSTOOD, None);
            return Err(firm.render(StatusCode::BAD_REQUEST, &page));
        };
        let cookie = firm.jar.get(CSRF_COOKIE).map(|c| c.value().to_string());
        let presented = fields.get("csrf").map(String::as_str).unwrap_or_default();
        let genuine = cookie
            .is_some_and(|value| app.secret.csrf_matches(firm.tenant.id(), &value, presented));
        if !genuine {
            tracing::warn!("portal form refused: missing or wrong anti-forgery token");
            let again = Some((firm.base() + "/", "Start again".to_string()));
            let page = firm.message(app, "This form has expired", FORM_EXPIRED, again);
            return Err(firm.render(StatusCode::FORBIDDEN, &page));
        }
        Ok(Self { firm, fields })
    }
}

/// The longest field any page form has a use for (a password is at most 1,024 characters).
const FIELD_MAX_CHARS: usize = 4096;

/// A field the services can take: not absurdly long, and no NUL (PostgreSQL text cannot
/// hold one; the JSON API's schema refuses it the same way).
fn readable(value: &str) -> bool {
    value.chars().count() <= FIELD_MAX_CHARS && !value.contains('\0')
}

const FORM_NOT_UNDERSTOOD: &str = "The form could not be read. Go back and try again.";
const FORM_EXPIRED: &str = "This form was not sent from this portal, or it has expired. \
     Go back, reload the page and try again.";

/// The user behind the browser's session cookie; a visitor without one is sent to log in.
pub struct SignedIn {
    pub firm: Firm,
    pub session: PortalSession,
}

impl SignedIn {
    /// `requested`: the page asked for, to come back to after logging in (GET pages). A
    /// session that may only set up a second factor is sent to the account page.
    pub async fn of(firm: Firm, app: &Edge, requested: Option<&str>) -> Result<Self, Response> {
        let user = Self::enrolling(firm, app, requested).await?;
        if user.session.session.enrolment_only {
            let account = format!("{}/account", user.firm.base());
            return Err(user.firm.redirect(&account));
        }
        Ok(user)
    }

    /// Like `of`, but a session that may only set up a second factor is let in too (the
    /// account page, where that is done).
    pub async fn enrolling(
        mut firm: Firm,
        app: &Edge,
        requested: Option<&str>,
    ) -> Result<Self, Response> {
        let Some(token) = firm.session_token() else {
            let login = format!("{}/login{}", firm.base(), return_to(requested));
            return Err(firm.redirect(&login));
        };
        match PortalSession::for_token(app, firm.tenant.clone(), &token).await {
            Ok(session) => Ok(Self { firm, session }),
            Err(AppError::Service(ServiceError::Unauthorized)) => {
                firm.sign_out();
                let login = format!(
                    "{}/login?notice=session_ended{}",
                    firm.base(),
                    return_to(requested).replacen('?', "&", 1)
                );
                Err(firm.redirect(&login))
            }
            Err(e) => Err(error_page(Some(&mut firm), &e)),
        }
    }

    /// The page frame, marked as signed in (navigation and the logout button).
    pub fn layout(&mut self, title: &str, app: &Edge) -> Layout {
        Layout {
            signed_in: true,
            ..self.firm.layout(title, app)
        }
    }
}

/// The login page's `next` for a page asked for (nothing for the home page or none).
fn return_to(requested: Option<&str>) -> String {
    match requested {
        Some(path) if !path.ends_with('/') => format!(
            "?next={}",
            form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        ),
        _ => String::new(),
    }
}

impl FromRequestParts<Edge> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Edge) -> Result<Self, Response> {
        let firm = Firm::from_request_parts(parts, app).await?;
        let requested = parts.uri.path_and_query().map(|p| p.as_str().to_string());
        Self::of(firm, app, requested.as_deref()).await
    }
}

impl Firm {
    /// A page that only says something, with an optional link onwards.
    pub fn message(
        &mut self,
        app: &Edge,
        title: &str,
        text: &str,
        link: Option<(String, String)>,
    ) -> MessagePage {
        MessagePage {
            layout: self.layout(title, app),
            text: text.to_string(),
            link,
        }
    }
}

/// The page for an unknown firm or page.
pub fn not_found() -> Response {
    let html = NotFoundPage.render().unwrap_or_default();
    (StatusCode::NOT_FOUND, Html(html)).into_response()
}

/// What a refusal says to a person, and its status; `Retry-After` for limits.
pub fn explain(e: &AppError, firm_name: &str) -> (StatusCode, String, Option<u64>) {
    let status = e.status();
    let text = match e {
        AppError::Service(ServiceError::InvalidCredentials) => {
            "The username or password is not right.".to_string()
        }
        AppError::Service(ServiceError::LockedOut { retry_after_secs }) => {
            return (
                status,
                format!(
                    "Too many failed attempts: this login is locked for now. Try again in {}.",
                    minutes(*retry_after_secs)
                ),
                Some(*retry_after_secs),
            )
        }
        AppError::Service(ServiceError::RateLimited { retry_after_secs }) => {
            return (
                status,
                format!(
                    "Too many failed attempts from your network. Try again in {}.",
                    minutes(*retry_after_secs)
                ),
                Some(*retry_after_secs),
            )
        }
        AppError::Service(ServiceError::Forbidden { code, .. }) if *code == "login_disabled" => {
            format!("This login has been disabled. Contact {firm_name} to have it enabled.")
        }
        AppError::Service(ServiceError::Forbidden { code, .. }) if *code == "portal_inactive" => {
            format!("{firm_name}'s client portal is switched off just now.")
        }
        AppError::Service(ServiceError::Validation(fields)) => fields
            .iter()
            .map(|f| format!("{}: {}.", label(&f.field), f.message))
            .collect::<Vec<_>>()
            .join(" "),
        AppError::Service(ServiceError::Unavailable) => {
            "The portal cannot be reached just now. Try again in a minute.".to_string()
        }
        AppError::Service(ServiceError::Internal(_)) => {
            "Something went wrong on our side. Try again later.".to_string()
        }
        other => sentence(&other.to_string()),
    };
    (status, text, None)
}

/// A field's name as a person reads it.
fn label(field: &str) -> &str {
    match field {
        "username" => "Username",
        "password" | "new_password" => "Password",
        "current_password" => "Current password",
        "signer_name" => "Your name",
        "agree" => "Agreement",
        other => other,
    }
}

fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

fn minutes(seconds: u64) -> String {
    match seconds.div_ceil(60) {
        1 => "a minute".to_string(),
        n => format!("{n} minutes"),
    }
}

/// A refusal as a page of its own (when there is no form to show it on).
pub fn error_page(firm: Option<&mut Firm>, e: &AppError) -> Response {
    if e.status() == StatusCode::NOT_FOUND {
        return not_found();
    }
    let Some(firm) = firm else {
        let (status, text, _) = explain(e, "The firm");
        return (status, text).into_response();
    };
    let (status, text, retry_after) = explain(e, &firm.name);
    let title = if status.is_server_error() {
        "Something went wrong"
    } else {
        "That did not work"
    };
    let html = MessagePage {
        layout: Layout {
            firm: firm.name.clone(),
            base: firm.base(),
            title: title.to_string(),
            csrf: String::new(),
            signed_in: false,
            notice: None,
            error: None,
        },
        text,
        link: Some((firm.base() + "/", "Back to the portal".to_string())),
    }
    .render()
    .unwrap_or_default();
    with_retry_after((status, Html(html)).into_response(), retry_after)
}

/// Adds `Retry-After` to a limit's answer.
pub fn with_retry_after(mut response: Response, seconds: Option<u64>) -> Response {
    if let Some(seconds) = seconds {
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}
