//! The pages before signing in: log in and out, forgot password, forgot username, and the
//! pages e-mailed links open (accept an invitation, activate, reset a password). Each
//! answers as the Portal API does: alike for unknown names, with its lockouts and limits.

use std::collections::HashMap;

use aggregates::values::Username;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::page::{explain, with_retry_after, Firm, PostedForm};
use super::views::{ForgotPage, LinkPage, LoginPage};
use crate::errors::service::ServiceError;
use crate::http::error::AppError;
use crate::http::portal_auth::anonymous;
use crate::http::Edge;
use crate::portal;
use crate::portal::self_service::{self as service, PasswordLink};

/// Fixed notices a redirect may ask the login page to show (never text from the address).
fn notice(key: Option<&String>) -> Option<String> {
    Some(
        match key?.as_str() {
            "logged_out" => "You have logged out.",
            "logged_out_everywhere" => "You have logged out on every device.",
            "session_ended" => "Your session has ended. Please log in again.",
            _ => return None,
        }
        .to_string(),
    )
}

pub async fn login_form(
    State(app): State<Edge>,
    mut firm: Firm,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut layout = firm.layout("Log in", &app);
    layout.notice = notice(query.get("notice"));
    let page = LoginPage {
        layout,
        username: String::new(),
    };
    firm.render(StatusCode::OK, &page)
}

pub async fn login(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let username = form.take("username");
    let password = form.take("password");
    let mut firm = form.firm;
    let meta = firm.tenant.meta(anonymous());
    let outcome = if username.len() > 256 || password.len() > 1024 {
        Err(ServiceError::InvalidCredentials)
    } else {
        portal::login(&app, &firm.tenant.scope, &meta, &username, password).await
    };
    match outcome {
        Ok(session) => {
            firm.sign_in(session.token, session.expires_at);
            let home = firm.base() + "/";
            firm.redirect(&home)
        }
        Err(e) => {
            let (status, text, retry_after) = explain(&AppError::from(e), &firm.name);
            let mut layout = firm.layout("Log in", &app);
            layout.error = Some(text);
            let page = LoginPage { layout, username };
            with_retry_after(firm.render(status, &page), retry_after)
        }
    }
}

pub async fn logout(State(app): State<Edge>, form: PostedForm) -> Response {
    let mut firm = form.firm;
    if let Some(token) = firm.session_token() {
        if let Ok(session) =
            portal::sessions::authenticate(&firm.tenant.scope, &token, app.clock.now()).await
        {
            if let Err(e) = portal::sessions::logout(&firm.tenant.scope, session).await {
                return super::page::error_page(Some(&mut firm), &e.into());
            }
        }
    }
    firm.sign_out();
    let login = format!("{}/login?notice=logged_out", firm.base());
    firm.redirect(&login)
}

fn forgot_password_page(firm: &mut Firm, app: &Edge, sent: bool) -> ForgotPage {
    ForgotPage {
        layout: firm.layout("Forgot your password?", app),
        page: "forgot-password",
        intro: "Enter your username. If it belongs to a login, we e-mail a link to choose a new password.",
        field: "username",
        label: "Username",
        autocomplete: "username",
        action: "Send the link",
        sent,
        sent_text: "If that username belongs to a login, a link to choose a new password is on its way to the login's e-mail address.",
    }
}

fn forgot_username_page(firm: &mut Firm, app: &Edge, sent: bool) -> ForgotPage {
    ForgotPage {
        layout: firm.layout("Forgot your username?", app),
        page: "forgot-username",
        intro: "Enter your e-mail address. If a login has it, we e-mail you its username.",
        field: "email",
        label: "E-mail address",
        autocomplete: "email",
        action: "E-mail my username",
        sent,
        sent_text: "If a login has that e-mail address, its username is on its way there.",
    }
}

pub async fn forgot_password_form(State(app): State<Edge>, mut firm: Firm) -> Response {
    let page = forgot_password_page(&mut firm, &app, false);
    firm.render(StatusCode::OK, &page)
}

pub async fn forgot_password(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let username = form.take("username");
    let mut firm = form.firm;
    let meta = firm.tenant.meta(anonymous());
    let outcome = service::forgotten(&app, meta, service::Forgotten::Password { username }).await;
    if let Err(e) = outcome {
        return super::page::error_page(Some(&mut firm), &e.into());
    }
    let page = forgot_password_page(&mut firm, &app, true);
    firm.render(StatusCode::ACCEPTED, &page)
}

pub async fn forgot_username_form(State(app): State<Edge>, mut firm: Firm) -> Response {
    let page = forgot_username_page(&mut firm, &app, false);
    firm.render(StatusCode::OK, &page)
}

pub async fn forgot_username(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let email = form.take("email");
    let mut firm = form.firm;
    let meta = firm.tenant.meta(anonymous());
    let outcome = service::forgotten(&app, meta, service::Forgotten::Username { email }).await;
    if let Err(e) = outcome {
        return super::page::error_page(Some(&mut firm), &e.into());
    }
    let page = forgot_username_page(&mut firm, &app, true);
    firm.render(StatusCode::ACCEPTED, &page)
}

/// Which e-mailed link a page serves.
#[derive(Clone, Copy)]
enum Link {
    Accept,
    Activate,
    Reset,
}

impl Link {
    fn page(self, firm: &mut Firm, app: &Edge, token: String) -> LinkPage {
        let (title, page, asks_username, password_label, action, done_text) = match self {
            Link::Accept => (
                "Set up your portal login",
                "accept-invitation",
                true,
                "Choose a password",
                "Create my login",
                "Your login is ready. You can now log in with your username and password.",
            ),
            Link::Activate => (
                "Activate your portal login",
                "activate",
                false,
                "Choose a password",
                "Activate",
                "Your login is active. You can now log in.",
            ),
            Link::Reset => (
                "Choose a new password",
                "reset-password",
                false,
                "New password",
                "Save the new password",
                "Your new password is saved. You can now log in with it.",
            ),
        };
        LinkPage {
            layout: firm.layout(title, app),
            page,
            token,
            asks_username,
            username: String::new(),
            password_label,
            action,
            done: false,
            done_text,
        }
    }

    async fn form(self, app: Edge, mut firm: Firm, query: HashMap<String, String>) -> Response {
        let token = query.get("token").cloned().unwrap_or_default();
        let page = self.page(&mut firm, &app, token);
        firm.render(StatusCode::OK, &page)
    }

    async fn post(self, app: Edge, mut form: PostedForm) -> Response {
        let token = form.take("token");
        let username = form.take("username");
        let password = form.take("password");
        let mut firm = form.firm;
        let meta = firm.tenant.meta(anonymous());
        let outcome: Result<(), AppError> = async {
            firm.tenant.require_active(&app).await?;
            match self {
                Link::Accept => {
                    let chosen = Username::parse(&username)
                        .map_err(|m| ServiceError::invalid("username", m))?;
                    service::accept_invitation(&app, &meta, &token, chosen, password).await?;
                }
                Link::Activate | Link::Reset => {
                    let kind = match self {
                        Link::Activate => PasswordLink::Activation,
                        _ => PasswordLink::Reset,
                    };
                    service::set_password_by_email(&app, &meta, kind, &token, password).await?;
                }
            }
            Ok(())
        }
        .await;
        let mut page = self.page(&mut firm, &app, token);
        let status = match outcome {
            Ok(()) => {
                page.done = true;
                page.layout.notice = Some(page.done_text.to_string());
                StatusCode::OK
            }
            Err(e) => {
                let (status, text, _) = explain(&e, &firm.name);
                page.layout.error = Some(if status == StatusCode::GONE {
                    format!(
                        "This link is no longer valid: it was used, replaced or has expired. Ask {} for a new one.",
                        firm.name
                    )
                } else {
                    text
                });
                page.username = username;
                status
            }
        };
        firm.render(status, &page)
    }
}

pub async fn accept_form(
    State(app): State<Edge>,
    firm: Firm,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    Link::Accept.form(app, firm, query).await
}

pub async fn accept(State(app): State<Edge>, form: PostedForm) -> Response {
    Link::Accept.post(app, form).await
}

pub async fn activate_form(
    State(app): State<Edge>,
    firm: Firm,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    Link::Activate.form(app, firm, query).await
}

pub async fn activate(State(app): State<Edge>, form: PostedForm) -> Response {
    Link::Activate.post(app, form).await
}

pub async fn reset_form(
    State(app): State<Edge>,
    firm: Firm,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    Link::Reset.form(app, firm, query).await
}

pub async fn reset(State(app): State<Edge>, form: PostedForm) -> Response {
    Link::Reset.post(app, form).await
}
