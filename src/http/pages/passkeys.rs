//! Passkeys on the pages: the login page's passwordless button, the second step's passkey
//! button, and adding and removing passkeys on the account page. The same-origin script
//! (`templates/portal/passkeys.js`) fetches a ceremony's options from here, runs it in the
//! browser, and posts the answer with the page's own form; everything else is plain forms.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::entry::{login_refused, signed_in};
use super::page::{explain, PostedForm};
use super::signed_in::{factor_change, passkey_rows, path_id};
use crate::errors::service::{ServiceError, ServiceResult};
use crate::http::error::AppError;
use crate::http::portal_auth::anonymous;
use crate::http::routes::portal_mfa::PasskeyOptions;
use crate::http::Edge;
use crate::portal::passkeys::{self, CeremonyStarted};

const SCRIPT: &str = include_str!("../../../templates/portal/passkeys.js");

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// A ceremony's options for the script, or the problem it reports to the person.
fn options(outcome: ServiceResult<CeremonyStarted>) -> Response {
    match outcome {
        Ok(started) => Json(PasskeyOptions::from(started)).into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}

/// The answer a page posts (`credential`, JSON text), or why it cannot be read.
fn posted_credential<T: serde::de::DeserializeOwned>(text: &str) -> ServiceResult<T> {
    if text.is_empty() {
        return Err(ServiceError::Unprocessable {
            code: "invalid_credential",
            detail: "passkeys need a browser that supports them, with JavaScript on".into(),
        });
    }
    serde_json::from_str(text).map_err(|_| ServiceError::InvalidPasskey)
}

/// Options to log in with a passkey: passwordless, or the second step of `mfa_token`.
pub async fn login_options(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let mfa_token = Some(form.take("mfa_token")).filter(|t| !t.is_empty());
    let outcome = async {
        if mfa_token.as_ref().is_some_and(|t| t.len() > 256) {
            return Err(ServiceError::MfaTokenInvalid);
        }
        let rp = app.relying_party()?;
        let scope = &form.firm.tenant.scope;
        passkeys::start_login(&app, &rp, scope, mfa_token.as_deref()).await
    }
    .await;
    options(outcome)
}

/// The authenticator's answer logs in (a session in the cookie), or the login page says why
/// not.
pub async fn login(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let token = form.take("passkey_token");
    let credential = form.take("credential");
    let next = form.take("next");
    let firm = form.firm;
    let next = Some(next).filter(|n| firm.is_own_page(n));
    let meta = firm.tenant.meta(anonymous());
    let outcome = async {
        let credential = posted_credential(&credential)?;
        let rp = app.relying_party()?;
        passkeys::login(&app, &rp, &firm.tenant.scope, &meta, &token, &credential).await
    }
    .await;
    match outcome {
        Ok(session) => signed_in(firm, session, next),
        Err(e) => {
            let explained = explain(&AppError::from(e), &firm.name);
            login_refused(&app, firm, explained, String::new(), next)
        }
    }
}

/// Options to register a passkey for the signed-in login.
pub async fn register_options(State(app): State<Edge>, form: PostedForm) -> Response {
    let user = match super::page::SignedIn::enrolling(form.firm, &app, None).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let outcome = async {
        let rp = app.relying_party()?;
        let session = &user.session;
        passkeys::start_registration(&app, &rp, &session.own_login(), &session.account).await
    }
    .await;
    options(outcome)
}

/// Registers the passkey the browser made; as the first factor, the page shows the
/// recovery codes it brings.
pub async fn add(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let name = form.take("name");
    let token = form.take("passkey_token");
    let credential = form.take("credential");
    factor_change(&app, form.firm, async |app, user, page| {
        let name = passkeys::passkey_name(&name)?;
        let credential = posted_credential(&credential)?;
        let rp = app.relying_party()?;
        let login = user.session.own_login();
        let done = passkeys::finish_registration(app, &rp, &login, &token, name, &credential)
            .await?
            .value;
        page.passkeys = passkey_rows(user).await?;
        if !done.recovery_codes.is_empty() {
            page.recovery_codes_left = done.recovery_codes.len() as u32;
            page.recovery_codes = done.recovery_codes;
        }
        page.enrolment_required = false;
        page.layout.notice = Some(
            "The passkey is added: it can log you in, or stand in for the code after your password."
                .into(),
        );
        Ok(())
    })
    .await
}

pub async fn remove(
    State(app): State<Edge>,
    Path((_slug, id)): Path<(String, String)>,
    form: PostedForm,
) -> Response {
    factor_change(&app, form.firm, async |app, user, page| {
        let id = path_id(&id)?;
        passkeys::remove(app, &user.session.own_login(), id).await?;
        page.passkeys = passkey_rows(user).await?;
        if !page.has_factor() {
            page.recovery_codes_left = 0;
        }
        page.layout.notice = Some("The passkey is removed.".into());
        Ok(())
    })
    .await
}
