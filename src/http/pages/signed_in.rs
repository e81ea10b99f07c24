//! The pages of a signed-in client: home (their client areas, items with images and
//! prices), contracts, one contract (read and sign), item images, and their account
//! (change password, log out everywhere).

use aggregates::values::{Money, SignerName};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use uuid::Uuid;

use super::page::{error_page, explain, Firm, PostedForm, SignedIn};
use super::views::{
    status_words, AccountPage, ClientArea, ContractPage, ContractRow, ContractsPage, HomePage,
    ItemView, PasskeyRow, TotpSetupView,
};
use crate::errors::service::ServiceError;
use crate::http::error::AppError;
use crate::http::extract::canonical_uuid;
use crate::http::Edge;
use crate::portal;
use crate::portal::factors;

/// A path id that is not a UUID names nothing this user can see.
pub(super) fn path_id(raw: &str) -> Result<Uuid, AppError> {
    canonical_uuid(raw).ok_or(AppError::NotFound("page"))
}

pub async fn home(State(app): State<Edge>, mut user: SignedIn) -> Response {
    let built: Result<HomePage, AppError> = async {
        let clients = user.session.clients(&app).await?;
        let mut areas = Vec::with_capacity(clients.len());
        for client in clients {
            let items = user
                .session
                .items_of(client.id)
                .await?
                .into_iter()
                .map(|item| ItemView {
                    image: item
                        .has_image
                        .then(|| format!("{}/items/{}/image", user.firm.base(), item.item_id)),
                    price: Money {
                        amount_minor: item.unit_price.amount_minor,
                        currency: item.unit_price.currency,
                    }
                    .to_string(),
                    name: item.name,
                    description: item.description.filter(|d| !d.trim().is_empty()),
                })
                .collect();
            areas.push(ClientArea {
                id: client.id,
                name: client.display_name,
                items,
            });
        }
        let waiting: Vec<_> = user
            .session
            .contracts()
            .await?
            .into_iter()
            .filter(|c| c.status == "awaiting_signature")
            .collect();
        let awaiting = waiting.len();
        let awaiting_by_area = if areas.len() > 1 {
            awaiting_by_area(&areas, &waiting)
        } else {
            Vec::new()
        };
        let account = &user.session.account;
        let person = account
            .names
            .full_name()
            .unwrap_or_else(|| account.username.to_string());
        Ok(HomePage {
            layout: user.layout("Your portal", &app),
            person,
            awaiting,
            awaiting_by_area,
            areas,
        })
    }
    .await;
    match built {
        Ok(page) => user.firm.render(StatusCode::OK, &page),
        Err(e) => error_page(Some(&mut user.firm), &e),
    }
}

/// "1 for Acme Ltd", "2 for Acme North": the waiting contracts per client area, in the
/// areas' order, naming only areas with some.
fn awaiting_by_area(
    areas: &[ClientArea],
    waiting: &[crate::reads::contracts::ContractView],
) -> Vec<String> {
    areas
        .iter()
        .filter_map(|area| {
            let n = waiting.iter().filter(|c| c.client_id == area.id).count();
            (n > 0).then(|| format!("{n} for {}", area.name))
        })
        .collect()
}

pub async fn item_image(mut user: SignedIn, Path((_, item)): Path<(String, String)>) -> Response {
    let found = match path_id(&item) {
        Ok(id) => user.session.item_image(id).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "private, max-age=60"),
            ],
            png,
        )
            .into_response(),
        Err(e) => error_page(Some(&mut user.firm), &e),
    }
}

pub async fn contracts(State(app): State<Edge>, mut user: SignedIn) -> Response {
    match user.session.contracts().await {
        Ok(list) => {
            let several_areas = user.session.account.clients.len() > 1;
            let rows = list
                .into_iter()
                .map(|c| ContractRow {
                    id: c.id,
                    area: c.client_display_name,
                    title: c.title,
                    status: status_words(&c.status),
                    issued: c.issued_at.format("%e %B %Y").to_string(),
                })
                .collect();
            let page = ContractsPage {
                layout: user.layout("Contracts", &app),
                rows,
                several_areas,
            };
            user.firm.render(StatusCode::OK, &page)
        }
        Err(e) => error_page(Some(&mut user.firm), &e),
    }
}

/// The contract page, with an error or a notice and the name the form offers.
async fn contract_page(
    app: &Edge,
    user: &mut SignedIn,
    id: Uuid,
    typed_name: Option<String>,
) -> Result<ContractPage, AppError> {
    let contract = user.session.contract(app, id).await?;
    let signed = contract.signed_by.as_ref().map(|name| {
        format!(
            "Signed by {name} on {}.",
            contract
                .signed_at
                .map(|at| at.format("%e %B %Y at %H:%M UTC").to_string())
                .unwrap_or_default()
        )
    });
    let name_on_file = user.session.account.names.full_name().unwrap_or_default();
    Ok(ContractPage {
        layout: user.layout(&contract.title, app),
        id,
        status: status_words(&contract.status),
        can_sign: contract.status == "awaiting_signature",
        area: contract.client_display_name,
        paragraphs: paragraphs(&contract.body),
        content_sha256: contract.content_sha256,
        signed,
        signer_name: typed_name.unwrap_or(name_on_file),
    })
}

/// A contract body as the signer must read it: paragraphs split at blank lines, each
/// keeping its single line breaks ("1. Scope" stays on its own line).
fn paragraphs(body: &str) -> Vec<Vec<String>> {
    let body = body.replace("\r\n", "\n");
    body.split("\n\n")
        .map(|p| {
            p.lines()
                .map(|l| l.trim_end().to_string())
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

pub async fn contract(
    State(app): State<Edge>,
    mut user: SignedIn,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let page = match path_id(&id) {
        Ok(id) => contract_page(&app, &mut user, id, None).await,
        Err(e) => Err(e),
    };
    match page {
        Ok(mut page) => {
            if query.get("notice").map(String::as_str) == Some("signed") {
                page.layout.notice = Some(
                    "Thank you: the contract is signed. A confirmation is on its way by e-mail."
                        .into(),
                );
            }
            user.firm.render(StatusCode::OK, &page)
        }
        Err(e) => error_page(Some(&mut user.firm), &e),
    }
}

pub async fn sign(
    State(app): State<Edge>,
    Path((_, id)): Path<(String, String)>,
    mut form: PostedForm,
) -> Response {
    let typed = form.take("signer_name");
    let agreed = form.field("agree") == "true";
    let content_sha256 = form.take("content_sha256");
    let mut user = match SignedIn::of(form.firm, &app, None).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let id = match path_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(Some(&mut user.firm), &e),
    };
    let outcome: Result<i64, AppError> = async {
        let mut refused = Vec::new();
        if !agreed {
            refused.push(crate::errors::service::FieldError::new(
                "agree",
                "tick the box to agree to the contract before signing",
            ));
        }
        let signer_name = match typed.trim() {
            "" => None,
            name => match SignerName::parse(name) {
                Ok(n) => Some(n),
                Err(m) => {
                    refused.push(crate::errors::service::FieldError::new("signer_name", m));
                    None
                }
            },
        };
        if !refused.is_empty() {
            return Err(ServiceError::Validation(refused).into());
        }
        user.session
            .sign(&app, id, signer_name, &content_sha256)
            .await
    }
    .await;
    match outcome {
        Ok(_) => {
            let to = format!("{}/contracts/{id}?notice=signed", user.firm.base());
            user.firm.redirect(&to)
        }
        Err(e) => {
            let (status, text, _) = explain(&e, &user.firm.name);
            match contract_page(&app, &mut user, id, Some(typed)).await {
                Ok(mut page) => {
                    page.layout.error = Some(text);
                    user.firm.render(status, &page)
                }
                Err(e) => error_page(Some(&mut user.firm), &e),
            }
        }
    }
}

/// The account page as the login's factors stand (its passkeys read now).
async fn account_page(user: &mut SignedIn, app: &Edge) -> Result<AccountPage, AppError> {
    let passkeys = passkey_rows(user).await?;
    let layout = user.layout("Your account", app);
    let session = &user.session;
    let factors = &session.account.factors;
    let (totp, recovery_codes_left) = (factors.totp, factors.recovery_codes_left);
    Ok(AccountPage {
        layout,
        username: session.account.username.to_string(),
        totp,
        recovery_codes_left,
        totp_setup: None,
        recovery_codes: Vec::new(),
        enrolment_required: session.session.enrolment_only && !totp && passkeys.is_empty(),
        passkeys,
        passkeys_offered: super::entry::passkeys_offered(app),
    })
}

/// The signed-in login's passkeys as the account page lists them.
pub(super) async fn passkey_rows(user: &SignedIn) -> Result<Vec<PasskeyRow>, AppError> {
    let session = &user.session;
    let listed =
        portal::passkeys::list(&session.tenant.scope, session.session.portal_user_id).await?;
    Ok(listed.into_iter().map(PasskeyRow::from).collect())
}

pub async fn account(State(app): State<Edge>, firm: Firm) -> Response {
    let path = format!("{}/account", firm.base());
    let mut user = match SignedIn::enrolling(firm, &app, Some(&path)).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match account_page(&mut user, &app).await {
        Ok(page) => user.firm.render(StatusCode::OK, &page),
        Err(e) => error_page(Some(&mut user.firm), &e),
    }
}

/// A second-factor change on the account page: done by `change` with the signed-in user,
/// the page shown again with what it says (or why it was refused).
pub(super) async fn factor_change<F>(app: &Edge, firm: Firm, change: F) -> Response
where
    F: AsyncFnOnce(&Edge, &SignedIn, &mut AccountPage) -> Result<(), AppError>,
{
    let mut user = match SignedIn::enrolling(firm, app, None).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let mut page = match account_page(&mut user, app).await {
        Ok(page) => page,
        Err(e) => return error_page(Some(&mut user.firm), &e),
    };
    match change(app, &user, &mut page).await {
        Ok(()) => user.firm.render(StatusCode::OK, &page),
        Err(e) => {
            let (status, text, _) = explain(&e, &user.firm.name);
            page.layout.error = Some(text);
            user.firm.render(status, &page)
        }
    }
}

pub async fn start_totp(State(app): State<Edge>, form: PostedForm) -> Response {
    factor_change(&app, form.firm, async |app, user, page| {
        let s = &user.session;
        let setup =
            factors::start_totp(app, &s.tenant.scope, &s.account, s.session.portal_user_id).await?;
        page.totp_setup = Some(TotpSetupView::new(setup.secret, setup.otpauth_uri));
        Ok(())
    })
    .await
}

pub async fn confirm_totp(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let code = form.take("code");
    factor_change(&app, form.firm, async |app, user, page| {
        let done = factors::confirm_totp(app, &user.session.own_login(), &code).await?;
        page.totp = true;
        page.enrolment_required = false;
        page.recovery_codes_left = done.value.len() as u32;
        page.recovery_codes = done.value;
        page.layout.notice = Some("Two-step login is on: from now on a code from the app is asked for after your password.".into());
        Ok(())
    })
    .await
}

pub async fn remove_totp(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let code = form.take("code");
    factor_change(&app, form.firm, async |app, user, page| {
        factors::remove_totp(app, &user.session.own_login(), &code).await?;
        page.totp = false;
        page.recovery_codes_left = 0;
        page.layout.notice =
            Some("The authenticator app is removed: your password alone logs you in again.".into());
        Ok(())
    })
    .await
}

pub async fn new_recovery_codes(State(app): State<Edge>, form: PostedForm) -> Response {
    factor_change(&app, form.firm, async |app, user, page| {
        let done = factors::new_recovery_codes(app, &user.session.own_login()).await?;
        page.recovery_codes_left = done.value.len() as u32;
        page.recovery_codes = done.value;
        page.layout.notice = Some("New recovery codes: the old ones no longer work.".into());
        Ok(())
    })
    .await
}

pub async fn change_password(State(app): State<Edge>, mut form: PostedForm) -> Response {
    let current = form.take("current_password");
    let new = form.take("new_password");
    let mut user = match SignedIn::of(form.firm, &app, None).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let session = &user.session;
    let outcome = crate::portal::self_service::change_password(
        &app,
        &session.meta(),
        &session.tenant.scope,
        &session.session,
        &session.account.username,
        current,
        new,
    )
    .await;
    let mut page = match account_page(&mut user, &app).await {
        Ok(page) => page,
        Err(e) => return error_page(Some(&mut user.firm), &e),
    };
    let status = match outcome {
        Ok(_) => {
            page.layout.notice = Some(
                "Your password is changed. Every other session of your login has ended.".into(),
            );
            StatusCode::OK
        }
        Err(e) => {
            let (status, text, _) = explain(&e.into(), &user.firm.name);
            page.layout.error = Some(text);
            status
        }
    };
    user.firm.render(status, &page)
}

pub async fn logout_everywhere(State(app): State<Edge>, form: PostedForm) -> Response {
    let mut user = match SignedIn::of(form.firm, &app, None).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let ended = portal::sessions::logout_everywhere(
        &user.session.tenant.scope,
        user.session.session.portal_user_id,
    )
    .await;
    if let Err(e) = ended {
        return error_page(Some(&mut user.firm), &e.into());
    }
    let mut firm: Firm = user.firm;
    firm.sign_out();
    let login = format!("{}/login?notice=logged_out_everywhere", firm.base());
    firm.redirect(&login)
}
