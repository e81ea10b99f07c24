//! The e-mails themselves: plain text and HTML bodies for each kind, with a one-time link
//! rebuilt from the notification's link id and the server secret (the link is never
//! stored), or a plain link to the firm's portal pages.

use anyhow::Context;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;
use uuid::Uuid;

use super::notifications::kind;
use crate::portal::self_service::purpose;
use crate::security::{LinkRef, ServerSecret};

/// A notification as the sender claims it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub kind: String,
    pub to_address: String,
    pub recipient_name: String,
    pub username: Option<String>,
    /// The one-time link's stream and id, for the link kinds.
    pub link_stream_id: Option<Uuid>,
    pub link_id: Option<Uuid>,
    pub link_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The contract a contract e-mail is about.
    pub contract_id: Option<Uuid>,
    /// What the text names beyond the recipient (a contract's title and content hash).
    pub details: sqlx::types::Json<serde_json::Value>,
    pub attempts: i32,
    /// For an invitation or activation: the titles of the documents waiting for the
    /// client's signature (the first few).
    pub waiting_documents: Vec<String>,
}

impl Due {
    fn detail(&self, key: &str) -> String {
        self.details
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

pub struct Composer {
    pub secret: ServerSecret,
    /// Base of the links, without a trailing slash.
    pub public_url: String,
    /// Sender address; the firm's name is shown as the sender's name.
    pub from_address: String,
}

impl Composer {
    /// The address a notification's button leads to.
    fn link(&self, due: &Due) -> anyhow::Result<String> {
        let portal = format!("{}/portal/{}", self.public_url, due.tenant_slug);
        let (purpose, page) = match due.kind.as_str() {
            kind::INVITATION => (purpose::INVITATION, "accept-invitation"),
            kind::ACTIVATION => (purpose::ACTIVATION, "activate"),
            kind::PASSWORD_RESET => (purpose::RESET, "reset-password"),
            kind::CONTRACT_TO_SIGN | kind::CONTRACT_SIGNED => {
                let id = due
                    .contract_id
                    .context("a contract e-mail without its contract")?;
                return Ok(format!("{portal}/contracts/{id}"));
            }
            kind::USERNAME_REMINDER => return Ok(format!("{portal}/login")),
            kind::SECURITY_NOTICE => return Ok(format!("{portal}/account")),
            // Where the staff UI reads the endpoint (its delivery log is under it).
            kind::WEBHOOK_DISABLED => {
                let id = due.detail("webhook_id");
                return Ok(format!(
                    "{}/api/v1/webhooks/{id}/deliveries",
                    self.public_url
                ));
            }
            other => anyhow::bail!("unknown notification kind {other}"),
        };
        let (Some(stream_id), Some(link_id)) = (due.link_stream_id, due.link_id) else {
            anyhow::bail!("a {} e-mail without its link", due.kind);
        };
        let token = self
            .secret
            .link_token(purpose, due.tenant_id, LinkRef { stream_id, link_id });
        Ok(format!("{portal}/{page}?token={token}"))
    }

    pub fn message(&self, due: &Due) -> anyhow::Result<Message> {
        let link = self.link(due)?;
        let mut text = Text::for_kind(due);
        if let Some(waiting) = waiting_line(due) {
            text.intro.push(' ');
            text.intro.push_str(&waiting);
        }
        if matches!(due.kind.as_str(), kind::INVITATION | kind::ACTIVATION) {
            // Where to log in afterwards: the firm's portal address, to bookmark.
            text.expiry.push_str(&format!(
                " Afterwards you log in at {}/portal/{}/login",
                self.public_url, due.tenant_slug
            ));
        }
        let from = Mailbox::new(Some(due.tenant_name.clone()), self.from_address.parse()?);
        let to = Mailbox::new(None, due.to_address.parse()?);
        let html = format!(
            "<!doctype html><html><body style=\"font-family: sans-serif\">\
             <p>{greeting}</p><p>{intro}</p>\
             <p><a href=\"{link}\" style=\"display:inline-block;padding:10px 16px;background:#1d4ed8;color:#fff;text-decoration:none;border-radius:4px\">{action}</a></p>\
             <p>{expiry}</p><p style=\"color:#666\">{ignore}</p></body></html>",
            greeting = escape(&text.greeting),
            intro = escape(&text.intro),
            link = escape(&link),
            action = escape(text.action),
            expiry = escape(&text.expiry),
            ignore = escape(text.ignore),
        );
        let plain = format!(
            "{}\n\n{}\n\n{}:\n{link}\n\n{}\n\n{}\n",
            text.greeting, text.intro, text.action, text.expiry, text.ignore
        );
        Ok(Message::builder()
            .from(from)
            .to(to)
            .subject(text.subject)
            // The same id on every attempt: a message sent twice (a crash between the SMTP
            // server's OK and our record of it) can be recognised as one.
            .message_id(Some(format!("<{}@portal-accounts>", due.id)))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .header(ContentTransferEncoding::QuotedPrintable)
                            .body(plain),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .header(ContentTransferEncoding::QuotedPrintable)
                            .body(html),
                    ),
            )
            .map(|mut m| {
                m.headers_mut().insert_raw(HeaderValue::new(
                    HeaderName::new_from_ascii_str("X-Portal-Notification"),
                    due.kind.clone(),
                ));
                m
            })?)
    }
}

struct Text {
    subject: String,
    greeting: String,
    intro: String,
    action: &'static str,
    /// For how long the link works, or another line under the button.
    expiry: String,
    ignore: &'static str,
}

impl Text {
    fn for_kind(due: &Due) -> Self {
        let firm = &due.tenant_name;
        let (greeting, until) = (greeting(due), until(due));
        let username = due.username.as_deref().unwrap_or_default();
        match due.kind.as_str() {
            kind::INVITATION => Self {
                subject: format!("{firm} invites you to your client portal"),
                greeting,
                intro: format!(
                    "{firm} has set up a client portal for you. Follow the link to choose your username and password."
                ),
                action: "Accept the invitation",
                expiry: format!("The link works once and until {until}."),
                ignore: "If you were not expecting this e-mail, you can ignore it.",
            },
            kind::ACTIVATION => Self {
                subject: format!("Activate your {firm} portal login"),
                greeting,
                intro: format!(
                    "{firm} has created a portal login for you{}. Follow the link to choose your password.",
                    due.username
                        .as_deref()
                        .map(|u| format!(" with the username {u}"))
                        .unwrap_or_default()
                ),
                action: "Activate your login",
                expiry: format!("The link works once and until {until}."),
                ignore: "If you were not expecting this e-mail, you can ignore it.",
            },
            kind::CONTRACT_TO_SIGN => Self {
                subject: format!("{firm} asks you to sign: {}", due.detail("title")),
                greeting,
                intro: format!(
                    "{firm} has sent you \"{}\" to read and sign in your client portal.",
                    due.detail("title")
                ),
                action: "Read and sign",
                expiry: format!("Log in as {username} to sign it."),
                ignore: "If you were not expecting this e-mail, contact the firm before signing.",
            },
            kind::CONTRACT_SIGNED => Self {
                subject: format!("You signed: {}", due.detail("title")),
                greeting,
                intro: format!(
                    "You signed \"{}\" for {firm} as \"{}\" at {}. The signed text has the SHA-256 fingerprint {}.",
                    due.detail("title"),
                    due.detail("signer_name"),
                    due.detail("signed_at"),
                    due.detail("content_sha256"),
                ),
                action: "See the signed contract",
                expiry: "Keep this e-mail as your confirmation.".to_string(),
                ignore: "If you did not sign this, contact the firm at once.",
            },
            kind::WEBHOOK_DISABLED => Self {
                subject: format!("{firm}: a webhook was disabled after three days of failures"),
                greeting,
                intro: format!(
                    "Every attempt to deliver messages to the webhook endpoint {} failed for about three days, so it was disabled. Messages of events from now on are not queued for it; the event feed still has them.",
                    due.detail("url")
                ),
                action: "See its delivery log",
                expiry: "Fix the receiver, then enable the endpoint again (PATCH with \"enabled\": true) and send its failed messages again.".to_string(),
                ignore: "You receive this as an admin of the firm's portal.",
            },
            kind::SECURITY_NOTICE => {
                let what = match due.detail("change").as_str() {
                    "totp_added" => "An authenticator app was set up as a second step for",
                    "totp_removed" => "The authenticator app was removed from",
                    "passkey_added" => "A passkey was added to",
                    "passkey_removed" => "A passkey was removed from",
                    _ => "Every second step (authenticator app, passkeys and recovery codes) was removed by the firm from",
                };
                Self {
                    subject: format!("Security notice: your {firm} portal login"),
                    greeting,
                    intro: format!("{what} your {firm} portal login {username}."),
                    action: "Review your login",
                    expiry: "If this was you, there is nothing to do.".to_string(),
                    ignore: "If this was not you, change your password at once and contact the firm.",
                }
            }
            kind::USERNAME_REMINDER => Self {
                subject: format!("Your {firm} portal username"),
                greeting,
                intro: format!(
                    "You asked for the username of your {firm} portal login. It is: {username}"
                ),
                action: "Log in",
                expiry: "If you have forgotten your password too, use \"Forgot password\" on the login page.".to_string(),
                ignore: "If you did not ask for this, you can ignore this e-mail.",
            },
            _ => Self {
                subject: format!("Reset your {firm} portal password"),
                greeting,
                intro: format!(
                    "A password reset was requested for your {firm} portal login {username}. Follow the link to choose a new password."
                ),
                action: "Choose a new password",
                expiry: format!(
                    "The link works once, until {until}, and stops working if a newer one is sent."
                ),
                ignore: "If you did not ask for this, ignore this e-mail: your password stays as it is.",
            },
        }
    }
}

/// What an invitation or activation says of the documents waiting to be signed.
fn waiting_line(due: &Due) -> Option<String> {
    let titles = &due.waiting_documents;
    let onboarding = matches!(due.kind.as_str(), kind::INVITATION | kind::ACTIVATION);
    if !onboarding || titles.is_empty() {
        return None;
    }
    let named = titles
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let what = if titles.len() == 1 {
        "a document is"
    } else {
        "documents are"
    };
    Some(format!(
        "Once you are in, {what} waiting for your signature: {named}."
    ))
}

/// "Hello Jo," or, with no name on record, "Hello,".
fn greeting(due: &Due) -> String {
    if due.recipient_name.is_empty() {
        "Hello,".to_string()
    } else {
        format!("Hello {},", due.recipient_name)
    }
}

/// When the e-mail's link stops working, in words (empty for e-mails without one).
fn until(due: &Due) -> String {
    due.link_expires_at
        .map(|at| at.format("%e %B %Y, %H:%M UTC").to_string())
        .unwrap_or_default()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_html_and_the_link_verifies() {
        let secret =
            ServerSecret::from_config(Some(&"k".repeat(32)), std::path::Path::new("/nonexistent"))
                .unwrap();
        let composer = Composer {
            secret: secret.clone(),
            public_url: "http://portal.example".into(),
            from_address: "portal@example.com".into(),
        };
        let due = Due {
            id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            tenant_slug: "acme".into(),
            tenant_name: "Acme & Co".into(),
            kind: kind::INVITATION.into(),
            to_address: "zoe@example.com".into(),
            recipient_name: "<b>Zoë</b>".into(),
            username: None,
            link_stream_id: Some(Uuid::now_v7()),
            link_id: Some(Uuid::now_v7()),
            link_expires_at: Some(chrono::Utc::now()),
            contract_id: None,
            details: Default::default(),
            attempts: 0,
            waiting_documents: vec!["Engagement <letter>".into()],
        };
        let raw = String::from_utf8(composer.message(&due).unwrap().formatted()).unwrap();
        let unfolded = raw.replace("=\r\n", "");
        let html = &unfolded[unfolded.find("text/html").expect("an HTML part")..];
        assert!(!html.contains("<b>Z"), "unescaped name in {html}");
        assert!(html.contains("&lt;b&gt;Z"), "escaped name in {html}");
        assert!(
            html.contains("waiting for your signature: &quot;Engagement &lt;letter&gt;&quot;"),
            "the waiting document named in {html}"
        );
        let token = secret.link_token(
            purpose::INVITATION,
            due.tenant_id,
            LinkRef {
                stream_id: due.link_stream_id.unwrap(),
                link_id: due.link_id.unwrap(),
            },
        );
        assert!(unfolded.contains(&token), "link token missing");
        assert!(raw.contains(&format!("<{}@portal-accounts>", due.id)));
    }
}
