//! A webhook endpoint of a firm: where the firm's other systems want to hear about changes
//! (a URL and the public event types it subscribes to), enabled or disabled (by staff, by
//! the receiver answering 410, or by failing throughout the retry schedule), its signing
//! secret rotated, and finally deleted. The secret itself never enters an event: the event
//! says only that it was rotated and until when the previous one still signs.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, IntoStaticStr, VariantArray};

use crate::values::Label;
use crate::{DomainError, EVENT_VERSION};

/// The public event types of the integration catalogue (`docs/events.md`), version 1. A
/// webhook subscribes to some of them or to all (`*`); the feed filters by them.
pub const EVENT_TYPES: &[&str] = &[
    "client.registered",
    "client.updated",
    "client.invited",
    "invitation.revoked",
    "invitation.accepted",
    "client.archived",
    "client.erased",
    "client.unarchived",
    "client.legal_hold_changed",
    "item.assigned",
    "item.unassigned",
    "portal_user.created",
    "portal_user.updated",
    "portal_user.activated",
    "portal_user.disabled",
    "portal_user.enabled",
    "portal_user.unlocked",
    "portal_user.mfa_changed",
    "portal_user.removed",
    "portal_user.access_granted",
    "portal_user.access_revoked",
    "password.changed",
    "password.reset_completed",
    "contract.issued",
    "contract.signed",
    "contract.voided",
];

/// The type of the message `POST /api/v1/webhooks/{id}/test` sends; not from the log.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// Longest accepted URL.
pub const URL_MAX: usize = 2048;

/// An endpoint's URL as given: absolute `http(s)://`, no credentials, no blanks. Whether
/// the firm may send to it (https, public addresses) is the delivery policy's question,
/// asked at creation and again at each delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let url = raw.trim();
        if url.len() > URL_MAX {
            return Err("a webhook URL is at most 2048 characters");
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or("a webhook URL starts with https://")?;
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("a webhook URL has no blanks or control characters");
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err("a webhook URL names a host");
        }
        if authority.contains('@') {
            return Err("a webhook URL carries no user name or password");
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an endpoint subscribes to: every type, or a non-empty set of catalogue types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventTypes(Vec<String>);

impl EventTypes {
    /// `["*"]` or known catalogue types (duplicates dropped, order kept); an unknown type
    /// is named in the error.
    pub fn parse(given: &[String]) -> Result<Self, String> {
        if given.is_empty() {
            return Err("event_types names at least one type, or \"*\"".into());
        }
        if given.iter().any(|t| t == "*") {
            return match given.len() {
                1 => Ok(Self(vec!["*".into()])),
                _ => Err("\"*\" stands alone in event_types".into()),
            };
        }
        let mut types: Vec<String> = Vec::new();
        for t in given {
            if !EVENT_TYPES.contains(&t.as_str()) {
                return Err(format!("unknown event type {t:?}; see docs/events.md"));
            }
            if !types.contains(t) {
                types.push(t.clone());
            }
        }
        Ok(Self(types))
    }

    pub fn all() -> Self {
        Self(vec!["*".into()])
    }

    /// Whether a message of public type `event_type` goes to this subscription.
    pub fn includes(&self, event_type: &str) -> bool {
        self.0.iter().any(|t| t == "*" || t == event_type)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Why an endpoint was disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// A staff member switched it off.
    Staff,
    /// The receiver answered 410 Gone: it asked not to be called again.
    Gone,
    /// Every attempt of a message failed throughout the retry schedule.
    Failing,
}

impl DisabledReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Gone => "gone",
            Self::Failing => "failing",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookCommand {
    Create {
        url: WebhookUrl,
        event_types: EventTypes,
        description: Option<Label>,
    },
    /// Changes what is given; what equals the current value writes nothing.
    Change {
        url: Option<WebhookUrl>,
        event_types: Option<EventTypes>,
        description: Option<Label>,
    },
    Disable {
        reason: DisabledReason,
    },
    Enable,
    /// A new secret was made (kept outside the log); the previous one keeps signing until
    /// `previous_valid_until`.
    RotateSecret {
        previous_valid_until: DateTime<Utc>,
    },
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumDiscriminants)]
#[strum_discriminants(name(WebhookEventKind), derive(Hash, IntoStaticStr, VariantArray))]
pub enum WebhookEvent {
    WebhookCreated {
        url: WebhookUrl,
        event_types: EventTypes,
        description: Option<Label>,
    },
    WebhookUrlChanged {
        url: WebhookUrl,
    },
    WebhookEventTypesChanged {
        event_types: EventTypes,
    },
    WebhookDescriptionChanged {
        description: Option<Label>,
    },
    WebhookDisabled {
        reason: DisabledReason,
    },
    WebhookEnabled {},
    WebhookSecretRotated {
        previous_valid_until: DateTime<Utc>,
    },
    WebhookDeleted {},
}

impl DomainEvent for WebhookEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }
    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub url: WebhookUrl,
    pub event_types: EventTypes,
    pub description: Option<Label>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub endpoint: Option<Endpoint>,
    pub disabled: Option<DisabledReason>,
    pub deleted: bool,
}

crate::domain_aggregate!(Webhook, "webhook", WebhookCommand, WebhookEvent);

impl Webhook {
    async fn decide(
        &mut self,
        command: WebhookCommand,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        use WebhookCommand as C;
        use WebhookEvent as E;
        let Some(endpoint) = self.endpoint.clone() else {
            let C::Create {
                url,
                event_types,
                description,
            } = command
            else {
                return Err(DomainError::NotFound("webhook"));
            };
            let created = E::WebhookCreated {
                url,
                event_types,
                description,
            };
            sink.write(created, self).await;
            return Ok(());
        };
        if self.deleted {
            return Err(DomainError::NotFound("webhook"));
        }
        match command {
            C::Create { .. } => return Err(DomainError::AlreadyExists("webhook")),
            C::Change {
                url,
                event_types,
                description,
            } => {
                if let Some(url) = url.filter(|u| *u != endpoint.url) {
                    sink.write(E::WebhookUrlChanged { url }, self).await;
                }
                if let Some(event_types) = event_types.filter(|t| *t != endpoint.event_types) {
                    sink.write(E::WebhookEventTypesChanged { event_types }, self)
                        .await;
                }
                if let Some(description) =
                    description.filter(|d| Some(d) != endpoint.description.as_ref())
                {
                    let description = Some(description);
                    sink.write(E::WebhookDescriptionChanged { description }, self)
                        .await;
                }
            }
            // A second reason to disable changes nothing: the first one is what staff see.
            C::Disable { .. } if self.disabled.is_some() => {
                return Err(DomainError::WebhookAlreadyDisabled)
            }
            C::Disable { reason } => sink.write(E::WebhookDisabled { reason }, self).await,
            C::Enable if self.disabled.is_none() => return Err(DomainError::WebhookNotDisabled),
            C::Enable => sink.write(E::WebhookEnabled {}, self).await,
            C::RotateSecret {
                previous_valid_until,
            } => {
                let rotated = E::WebhookSecretRotated {
                    previous_valid_until,
                };
                sink.write(rotated, self).await
            }
            C::Delete => sink.write(E::WebhookDeleted {}, self).await,
        }
        Ok(())
    }

    fn evolve(&mut self, event: WebhookEvent) {
        use WebhookEvent as E;
        match event {
            E::WebhookCreated {
                url,
                event_types,
                description,
            } => {
                self.endpoint = Some(Endpoint {
                    url,
                    event_types,
                    description,
                })
            }
            E::WebhookUrlChanged { url } => {
                if let Some(e) = self.endpoint.as_mut() {
                    e.url = url;
                }
            }
            E::WebhookEventTypesChanged { event_types } => {
                if let Some(e) = self.endpoint.as_mut() {
                    e.event_types = event_types;
                }
            }
            E::WebhookDescriptionChanged { description } => {
                if let Some(e) = self.endpoint.as_mut() {
                    e.description = description;
                }
            }
            E::WebhookDisabled { reason } => self.disabled = Some(reason),
            E::WebhookEnabled {} => self.disabled = None,
            E::WebhookSecretRotated { .. } => {}
            E::WebhookDeleted {} => self.deleted = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Check;
    use cqrs_es::test::TestFramework;

    type Given = TestFramework<Webhook>;
    use WebhookCommand as C;
    use WebhookEvent as E;

    fn url(u: &str) -> WebhookUrl {
        WebhookUrl::parse(u).unwrap()
    }
    fn types(t: &[&str]) -> EventTypes {
        EventTypes::parse(&t.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }
    fn created() -> E {
        E::WebhookCreated {
            url: url("https://hooks.example.com/portal"),
            event_types: types(&["client.invited"]),
            description: None,
        }
    }

    #[test]
    fn a_url_is_absolute_without_credentials() {
        assert!(WebhookUrl::parse("https://hooks.example.com/a?b=c").is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/").is_ok());
        for bad in [
            "ftp://x.example",
            "hooks.example.com",
            "https://",
            "https:///path",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/a b",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad} accepted");
        }
        let long = format!("https://x.example/{}", "a".repeat(URL_MAX));
        assert!(WebhookUrl::parse(&long).is_err());
    }

    #[test]
    fn event_types_are_the_catalogue_or_everything() {
        assert!(types(&["*"]).includes("contract.signed"));
        let some = types(&["client.invited", "client.invited", "contract.signed"]);
        assert_eq!(some.as_slice(), ["client.invited", "contract.signed"]);
        assert!(some.includes("contract.signed") && !some.includes("client.registered"));
        assert!(EventTypes::parse(&[]).is_err());
        assert!(EventTypes::parse(&["client.nope".into()]).is_err());
        assert!(EventTypes::parse(&["*".into(), "client.invited".into()]).is_err());
    }

    #[tokio::test]
    async fn an_endpoint_is_created_once() {
        let create = C::Create {
            url: url("https://hooks.example.com/portal"),
            event_types: types(&["client.invited"]),
            description: None,
        };
        Given::creates_once(create, created(), "webhook").await;
    }

    #[tokio::test]
    async fn a_change_writes_only_what_differs() {
        Given::writes(
            vec![created()],
            C::Change {
                url: Some(url("https://hooks.example.com/portal")),
                event_types: Some(types(&["*"])),
                description: None,
            },
            vec![E::WebhookEventTypesChanged {
                event_types: types(&["*"]),
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn disabling_names_why_and_happens_once() {
        Given::writes(
            vec![created()],
            C::Disable {
                reason: DisabledReason::Gone,
            },
            vec![E::WebhookDisabled {
                reason: DisabledReason::Gone,
            }],
        )
        .await;
        let disabled = E::WebhookDisabled {
            reason: DisabledReason::Failing,
        };
        Given::refuses(
            vec![created(), disabled.clone()],
            C::Disable {
                reason: DisabledReason::Staff,
            },
            DomainError::WebhookAlreadyDisabled,
        )
        .await;
        Given::writes(
            vec![created(), disabled],
            C::Enable,
            vec![E::WebhookEnabled {}],
        )
        .await;
        Given::refuses(vec![created()], C::Enable, DomainError::WebhookNotDisabled).await;
    }

    #[tokio::test]
    async fn a_deleted_endpoint_takes_no_more_commands() {
        Given::writes(vec![created()], C::Delete, vec![E::WebhookDeleted {}]).await;
        Given::refuses(
            vec![created(), E::WebhookDeleted {}],
            C::Enable,
            DomainError::NotFound("webhook"),
        )
        .await;
        Given::refuses(vec![], C::Delete, DomainError::NotFound("webhook")).await;
    }
}
