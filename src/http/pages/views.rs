//! The pages' templates (`templates/portal/`, checked at compile time) and what each shows.

use askama::Template;

/// The frame of every page: the firm, where its pages live, the title, the form token.
pub struct Layout {
    pub firm: String,
    /// `/portal/{slug}`, without a trailing slash.
    pub base: String,
    pub title: String,
    pub csrf: String,
    pub signed_in: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    /// What was typed, shown again after a failure (never the password).
    pub username: String,
    /// The firm's portal is switched off: the page says so and shows no form.
    pub closed: bool,
    /// The page of this firm to return to after logging in (checked same-origin), or "".
    pub next: String,
    /// The server can offer passkeys (it has a domain name): the passkey button is shown.
    pub passkeys: bool,
}

/// "Forgot password" and "forgot username": one field, answered alike whatever was typed.
#[derive(Template)]
#[template(path = "portal/forgot.html")]
pub struct ForgotPage {
    pub layout: Layout,
    pub page: &'static str,
    pub intro: &'static str,
    pub field: &'static str,
    pub label: &'static str,
    pub autocomplete: &'static str,
    pub action: &'static str,
    pub sent: bool,
    pub sent_text: &'static str,
}

/// The pages e-mailed links open: accept an invitation, activate, reset a password.
#[derive(Template)]
#[template(path = "portal/link.html")]
pub struct LinkPage {
    pub layout: Layout,
    pub page: &'static str,
    pub token: String,
    pub asks_username: bool,
    pub username: String,
    /// The accept form's names: typed, or suggested from an individual client's name.
    pub first_name: String,
    pub last_name: String,
    pub password_label: &'static str,
    pub action: &'static str,
    pub done: bool,
    pub done_text: &'static str,
}

/// A used, replaced, expired or made-up e-mailed link: what happened and where to go.
#[derive(Template)]
#[template(path = "portal/dead_link.html")]
pub struct DeadLinkPage {
    pub layout: Layout,
    pub text: String,
}

pub struct ItemView {
    pub name: String,
    pub description: Option<String>,
    pub price: String,
    /// The image's address, when the item has one.
    pub image: Option<String>,
}

pub struct ClientArea {
    pub id: uuid::Uuid,
    pub name: String,
    pub items: Vec<ItemView>,
}

#[derive(Template)]
#[template(path = "portal/home.html")]
pub struct HomePage {
    pub layout: Layout,
    pub person: String,
    pub awaiting: usize,
    /// With several client areas: how many wait in each ("1 for Acme Ltd"), else empty.
    pub awaiting_by_area: Vec<String>,
    pub areas: Vec<ClientArea>,
}

pub struct ContractRow {
    pub id: uuid::Uuid,
    pub title: String,
    /// The client area the contract is for.
    pub area: String,
    pub status: &'static str,
    pub issued: String,
}

#[derive(Template)]
#[template(path = "portal/contracts.html")]
pub struct ContractsPage {
    pub layout: Layout,
    pub rows: Vec<ContractRow>,
    /// The login reaches several client areas: each row names its own.
    pub several_areas: bool,
}

#[derive(Template)]
#[template(path = "portal/contract.html")]
pub struct ContractPage {
    pub layout: Layout,
    pub id: uuid::Uuid,
    /// The client area the contract is for.
    pub area: String,
    pub status: &'static str,
    /// Blank-line separated paragraphs, each as its lines (single line breaks are kept).
    pub paragraphs: Vec<Vec<String>>,
    pub content_sha256: String,
    /// "Signed by … on …", once signed.
    pub signed: Option<String>,
    pub can_sign: bool,
    /// The name the form offers: what was typed, or the name on file.
    pub signer_name: String,
}

#[derive(Template)]
#[template(path = "portal/account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub username: String,
    /// An authenticator app is set up.
    pub totp: bool,
    pub recovery_codes_left: u32,
    /// The key being set up, shown until it is confirmed.
    pub totp_setup: Option<TotpSetupView>,
    /// Recovery codes just issued, shown this once.
    pub recovery_codes: Vec<String>,
    /// The firm requires a second step and this login has none yet.
    pub enrolment_required: bool,
    /// The login's passkeys, oldest first.
    pub passkeys: Vec<PasskeyRow>,
    /// The server can offer passkeys (it has a domain name).
    pub passkeys_offered: bool,
}

impl AccountPage {
    /// Whether the login has any second factor (recovery codes then stand in for them).
    pub fn has_factor(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }
}

/// A passkey as the account page lists it.
pub struct PasskeyRow {
    pub id: uuid::Uuid,
    pub name: String,
    pub added: String,
    pub last_used: Option<String>,
}

impl From<crate::portal::passkeys::PasskeyListed> for PasskeyRow {
    fn from(p: crate::portal::passkeys::PasskeyListed) -> Self {
        let day = |at: chrono::DateTime<chrono::Utc>| at.format("%-d %B %Y").to_string();
        Self {
            id: p.id,
            name: p.name,
            added: day(p.created_at),
            last_used: p.last_used_at.map(day),
        }
    }
}

/// A key being set up, as the account page shows it: typed, opened, or scanned.
pub struct TotpSetupView {
    /// Base32, for typing into the app.
    pub secret: String,
    pub otpauth_uri: String,
    /// The address as a QR code: an inline `<svg>` (markup the server made, no script).
    pub qr_svg: String,
}

impl TotpSetupView {
    pub fn new(secret: String, otpauth_uri: String) -> Self {
        let qr_svg = qr_svg(&otpauth_uri);
        Self {
            secret,
            otpauth_uri,
            qr_svg,
        }
    }
}

/// `text` as a QR code in SVG, to stand inline in a page (named for screen readers).
fn qr_svg(text: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(text.as_bytes()) else {
        return String::new();
    };
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    // Inline markup takes the element alone, without the XML declaration before it.
    let element = svg.find("<svg").map_or("", |at| &svg[at..]);
    element.replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code of the key, for the authenticator app to scan\" ",
        1,
    )
}

/// The second step of a login: a code from the authenticator app or a recovery code.
#[derive(Template)]
#[template(path = "portal/second_step.html")]
pub struct SecondStepPage {
    pub layout: Layout,
    pub mfa_token: String,
    /// The login has a passkey (and the server can offer them): the passkey button is shown.
    pub passkey: bool,
    pub next: String,
}

#[derive(Template)]
#[template(path = "portal/message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub text: String,
    /// Where to go next: (address, words).
    pub link: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "portal/not_found.html")]
pub struct NotFoundPage;

/// A contract's status as the client reads it.
pub fn status_words(status: &str) -> &'static str {
    match status {
        "awaiting_signature" => "Waiting for your signature",
        "signed" => "Signed",
        "voided" => "Withdrawn",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_qr_code_is_one_named_svg_element() {
        let svg = super::qr_svg("otpauth://totp/Firm:jo?secret=GEZDGNBVGY3TQOJQ&issuer=Firm");
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label="),
            "{svg:.80}"
        );
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
    }
}
