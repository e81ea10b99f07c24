//! The pages before signing in: log in and out, forgot password, forgot username, and the
//! pages e-mailed links open (accept an invitation, activate, reset a password). Each
//! answers as the Portal API does: alike for unknown names, with its lockouts and limits.

use std::collections::HashMap;

use aggregates::portal_user::PersonNames;
use aggregates::values::{PersonName, Username};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::page::{explain, with_retry_after, Firm, PostedForm};
use super::views::{DeadLinkPage, ForgotPage, LinkPage, LoginPage, SecondStepPage};
use crate::errors::service::ServiceError;
use crate::http::error::AppError;
use crate::http::extract::{checked, Checks};
use crate::http::portal_auth::anonymous;
use crate::http::Edge;
use crate::portal;
use crate::portal::second_step;
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
    let next = query.get("next").cloned().filter(|n| firm.is_own_page(n));
    let meta = firm.tenant.meta(anonymous());
    let open = match portal::portal_active(&app, &meta).await {
        Ok(open) => open,
        Err(e) => return super::page::error_page(Some(&mut firm), &e.into()),
    };
    let mut layout = firm.layout("Log in", &app);
    layout.notice = notice(query.get("notice"));
    if !open {
        layout.error = Some(closed_text(&firm.name));
    }
    let page = login_page(&app, layout, String::new(), !open, next.unwrap_or_default());
    firm.render(StatusCode::OK, &page)
}

/// The login page with what it shows: the passkey button where the server offers passkeys.
pub(super) fn login_page(
    app: &Edge,
    layout: super::views::Layout,
    username: String,
    closed: bool,
    next: String,
) -> LoginPage {
    LoginPage {
        layout,
        username,
        closed,
        next,
        passkeys: passkeys_offered(app),
    }
}

/// Whether this server can offer passkeys (it is reached by a domain name).
pub(super) fn passkeys_offered(app: &Edge) -> bool {
    app.relying_party().is_ok()
}

/// What the login page says while the firm's portal is switched off (it shows no form).
fn closed_text(firm: &str) -> String {
    format!(
        "{firm}'s client portal is closed just now: nobody can log in until {firm} opens it \
         again. Contact {firm} if you need something in the meantime."
    )
}

pub async fn login(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let username = form.take("username");
    let password = form.take("password");
    let next = form.take("next");
    let mut firm = form.firm;
    let next = Some(next).filter(|n| firm.is_own_page(n));
    let meta = firm.tenant.meta(anonymous());
    let outcome = if username.len() > 256 || password.len() > 1024 {
        Err(ServiceError::InvalidCredentials)
    } else {
        portal::login(&app, &firm.tenant.scope, &meta, &username, password).await
    };
    match outcome {
        Ok(session) => signed_in(firm, session, next),
        Err(ServiceError::MfaRequired(challenge)) => {
            let page = SecondStepPage {
                layout: firm.layout("Two-step login", &app),
                mfa_token: challenge.mfa_token,
                passkey: challenge.methods.contains(&"passkey") && passkeys_offered(&app),
                next: next.unwrap_or_default(),
            };
            firm.render(StatusCode::OK, &page)
        }
        Err(e) => {
            let failed = matches!(e, ServiceError::InvalidCredentials);
            let (status, mut text, retry_after) = explain(&AppError::from(e), &firm.name);
            if failed && username.contains('@') {
                // Alike for every address: an address shared by several logins logs into
                // none of them, which the person cannot otherwise guess.
                text.push_str(SHARED_ADDRESS_HINT);
            }
            login_refused(&app, firm, (status, text, retry_after), username, next)
        }
    }
}

/// The login page again, saying why the attempt was refused (`explain`'s status, text and
/// any `Retry-After`), with what was typed.
pub(super) fn login_refused(
    app: &Edge,
    mut firm: Firm,
    (status, text, retry_after): (StatusCode, String, Option<u64>),
    username: String,
    next: Option<String>,
) -> Response {
    let mut layout = firm.layout("Log in", app);
    layout.error = Some(text);
    let page = login_page(app, layout, username, false, next.unwrap_or_default());
    with_retry_after(firm.render(status, &page), retry_after)
}

/// A new session in the cookie, and on to the page asked for (the account page, to set up
/// a factor, when that is all the session may do).
pub(super) fn signed_in(
    mut firm: Firm,
    session: portal::NewSession,
    next: Option<String>,
) -> Response {
    let to = if session.enrolment_required {
        firm.base() + "/account"
    } else {
        next.unwrap_or_else(|| firm.base() + "/")
    };
    firm.sign_in(session.token, session.expires_at);
    firm.redirect(&to)
}

/// The second step's form: a code completes the login; a wrong one shows the form again
/// (the step stays open until it expires or the lockout says no more).
pub async fn second_step(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let mfa_token = form.take("mfa_token");
    let code = form.take("code");
    let next = form.take("next");
    let passkey = form.take("passkey") == "1";
    let mut firm = form.firm;
    let next = Some(next).filter(|n| firm.is_own_page(n));
    let meta = firm.tenant.meta(anonymous());
    let outcome = if mfa_token.len() > 256 || code.len() > 64 {
        Err(ServiceError::InvalidCode)
    } else {
        second_step::complete(&app, &firm.tenant.scope, &meta, &mfa_token, &code).await
    };
    match outcome {
        Ok(session) => signed_in(firm, session, next),
        Err(ServiceError::InvalidCode) => {
            let mut layout = firm.layout("Two-step login", &app);
            layout.error = Some(
                "That code is not right, or was used already. Try the code the app shows now."
                    .into(),
            );
            let page = SecondStepPage {
                layout,
                mfa_token,
                passkey,
                next: next.unwrap_or_default(),
            };
            firm.render(StatusCode::UNAUTHORIZED, &page)
        }
        Err(e) => {
            let explained = explain(&AppError::from(e), &firm.name);
            login_refused(&app, firm, explained, String::new(), next)
        }
    }
}

const SHARED_ADDRESS_HINT: &str = " If several logins share this e-mail address, log in with \
     your username instead (\"Forgot your username?\" e-mails it to you).";

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
        intro: "Enter your username or your e-mail address. We e-mail a link to choose a new password to the login it belongs to (to each login, when several share the address).",
        field: "username",
        label: "Username or e-mail address",
        autocomplete: "username",
        action: "Send the link",
        sent,
        sent_text: "If that belongs to a login, a link to choose a new password is on its way to the login's e-mail address. The e-mail names the login's username.",
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
            first_name: String::new(),
            last_name: String::new(),
            password_label,
            action,
            done: false,
            done_text,
        }
    }

    /// The kind of password link this page serves (`None`: the invitation).
    fn password_link(self) -> Option<PasswordLink> {
        match self {
            Link::Accept => None,
            Link::Activate => Some(PasswordLink::Activation),
            Link::Reset => Some(PasswordLink::Reset),
        }
    }

    /// Whether the link still works, before any form is shown; for an invitation, the
    /// names its form offers.
    async fn check(self, app: &Edge, firm: &Firm, token: &str) -> Result<PersonNames, AppError> {
        firm.tenant.require_active(app).await?;
        let meta = firm.tenant.meta(anonymous());
        match self.password_link() {
            None => Ok(service::check_invitation(app, &meta, token)
                .await?
                .suggested_names),
            Some(kind) => {
                service::check_password_link(app, &meta, kind, token).await?;
                Ok(PersonNames::default())
            }
        }
    }

    async fn form(self, app: Edge, mut firm: Firm, query: HashMap<String, String>) -> Response {
        let token = query.get("token").cloned().unwrap_or_default();
        match self.check(&app, &firm, &token).await {
            Ok(names) => {
                let mut page = self.page(&mut firm, &app, token);
                page.first_name = text_of(&names.first_name);
                page.last_name = text_of(&names.last_name);
                firm.render(StatusCode::OK, &page)
            }
            Err(e) if e.status() == StatusCode::GONE => dead_link(self, &app, firm),
            Err(e) => super::page::error_page(Some(&mut firm), &e),
        }
    }

    async fn post(self, app: Edge, mut form: PostedForm) -> Response {
        let token = form.take("token");
        let username = form.take("username");
        let first_name = form.take("first_name");
        let last_name = form.take("last_name");
        let password = form.take("password");
        let mut firm = form.firm;
        let meta = firm.tenant.meta(anonymous());
        let outcome: Result<(), AppError> = async {
            firm.tenant.require_active(&app).await?;
            match self.password_link() {
                None => {
                    let acceptance = acceptance(&username, &first_name, &last_name, password)?;
                    service::accept_invitation(&app, &meta, &token, acceptance).await?;
                }
                Some(kind) => {
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
                StatusCode::OK
            }
            Err(e) if e.status() == StatusCode::GONE => return dead_link(self, &app, firm),
            Err(e) => {
                let (status, text, _) = explain(&e, &firm.name);
                page.layout.error = Some(text);
                page.username = username;
                page.first_name = first_name;
                page.last_name = last_name;
                status
            }
        };
        firm.render(status, &page)
    }
}

fn text_of(name: &Option<PersonName>) -> String {
    name.as_ref()
        .map(|n| n.as_str().to_string())
        .unwrap_or_default()
}

/// The accept form's fields as the service takes them: every field's problem at once.
fn acceptance(
    username: &str,
    first_name: &str,
    last_name: &str,
    password: String,
) -> Result<service::Acceptance, AppError> {
    let mut v = Checks::default();
    let username = v.field("username", Username::parse(username));
    let name = |n: &str| (!n.trim().is_empty()).then(|| n.to_string());
    let first = v.optional("first_name", name(first_name).as_deref(), PersonName::parse);
    let last = v.optional("last_name", name(last_name).as_deref(), PersonName::parse);
    v.finish()?;
    Ok(service::Acceptance {
        username: checked(username),
        names: PersonNames {
            first_name: checked(first),
            last_name: checked(last),
        },
        password,
    })
}

/// A used, replaced, expired or made-up link: says so and where to go instead, with no
/// form (410, as the Portal API answers).
fn dead_link(link: Link, app: &Edge, mut firm: Firm) -> Response {
    let text = match link {
        Link::Accept => format!(
            "This invitation link is no longer valid: it was used, replaced or has expired. \
             If you already set up your login, log in. Otherwise ask {} for a new invitation.",
            firm.name
        ),
        Link::Activate => format!(
            "This activation link is no longer valid: it was used, replaced or has expired. \
             If your login is already active, log in. Otherwise ask {} for a new link, or use \
             \"Forgot your password?\" to have one sent.",
            firm.name
        ),
        Link::Reset => "This password link is no longer valid: it was used, replaced or has \
             expired. Ask for a new one with \"Forgot your password?\"."
            .to_string(),
    };
    let page = DeadLinkPage {
        layout: firm.layout("This link is no longer valid", app),
        text,
    };
    firm.render(StatusCode::GONE, &page)
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
