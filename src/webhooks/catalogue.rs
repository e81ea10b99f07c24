//! The integration catalogue, version 1: which domain events become public messages, under
//! which type, with which `data` (`docs/events.md`). A stable schema of its own — ids and
//! states, never a secret and never a personal field (names, addresses, usernames, typed
//! signatures, IP addresses): a receiver that needs a name reads it from the API, where
//! erasure and tenancy are enforced. The same messages go to webhooks and the pull feed.

use aggregates::client::{ClientEvent, ClientEventKind as C, RevocationReason};
use aggregates::contract::{ContractEvent, ContractEventKind as K};
use aggregates::events::{AnyEvent, EventKind};
use aggregates::portal_user::{Origin, PasswordMethod, PortalUserEvent, PortalUserEventKind as U};
use chrono::{DateTime, SecondsFormat, Utc};
use eventlog::{DecodeError, Envelope};
use serde_json::{json, Value};
use uuid::Uuid;

/// A public message: its type and the fields particular to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub event_type: &'static str,
    pub data: Value,
}

/// The id of the message an event at `position` becomes: the same for every endpoint,
/// every attempt and the feed, so one event never travels under two ids.
pub fn message_id(position: i64) -> String {
    format!("msg_{position}")
}

/// The body a receiver gets: `{"type", "timestamp", "data": {…, "position", "tenant_id"}}`.
pub fn body(event_type: &str, occurred_at: DateTime<Utc>, data: &Value) -> Value {
    json!({
        "type": event_type,
        "timestamp": occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "data": data,
    })
}

/// The message an event becomes, with `position` and `tenant_id` in its data; `None` for
/// events outside the catalogue (staff, tenant settings, e-mail links, webhooks).
pub fn message_of(event: &Envelope) -> Result<Option<Message>, DecodeError> {
    let id = event.stream_uuid()?;
    let Some((event_type, mut data)) = public(&event.event, id) else {
        return Ok(None);
    };
    data["position"] = json!(event.global_position);
    data["tenant_id"] = json!(event.tenant.uuid());
    Ok(Some(Message { event_type, data }))
}

fn public(event: &AnyEvent, id: Uuid) -> Option<(&'static str, Value)> {
    match event {
        AnyEvent::Client(e) => client(e, id),
        AnyEvent::PortalUser(e) => portal_user(e, id),
        AnyEvent::Contract(e) => contract(e, id),
        AnyEvent::Item(_) | AnyEvent::Tenant(_) | AnyEvent::StaffMember(_) => None,
        AnyEvent::Webhook(_) => None,
    }
}

fn client(e: &ClientEvent, client_id: Uuid) -> Option<(&'static str, Value)> {
    use ClientEvent as E;
    Some(match e {
        E::ClientRegistered { kind, email, .. } => (
            "client.registered",
            json!({"client_id": client_id, "kind": kind, "has_email": email.is_some()}),
        ),
        E::ClientRenamed { .. } => (
            "client.updated",
            json!({"client_id": client_id, "changed": ["display_name"]}),
        ),
        E::ClientEmailChanged { .. } => (
            "client.updated",
            json!({"client_id": client_id, "changed": ["email"]}),
        ),
        E::ClientInvited {
            invitation_id,
            expires_at,
            ..
        } => (
            "client.invited",
            json!({"client_id": client_id, "invitation_id": invitation_id, "expires_at": expires_at}),
        ),
        E::InvitationRevoked {
            invitation_id,
            reason,
        } => (
            "invitation.revoked",
            json!({
                "client_id": client_id,
                "invitation_id": invitation_id,
                "reason": match reason {
                    RevocationReason::Revoked => "revoked",
                    RevocationReason::Replaced => "replaced",
                },
            }),
        ),
        E::InvitationAccepted {
            invitation_id,
            portal_user_id,
        } => (
            "invitation.accepted",
            json!({"client_id": client_id, "invitation_id": invitation_id, "portal_user_id": portal_user_id}),
        ),
        E::ItemAssigned { item_id } => (
            "item.assigned",
            json!({"client_id": client_id, "item_id": item_id}),
        ),
        E::ItemUnassigned { item_id } => (
            "item.unassigned",
            json!({"client_id": client_id, "item_id": item_id}),
        ),
        E::ClientArchived {} => ("client.archived", json!({"client_id": client_id})),
        E::ClientErased { .. } => ("client.erased", json!({"client_id": client_id})),
        E::ClientUnarchived {} => ("client.unarchived", json!({"client_id": client_id})),
        // The reason is staff's free text about a dispute: it stays in the audit trail.
        E::LegalHoldSet { .. } => (
            "client.legal_hold_changed",
            json!({"client_id": client_id, "held": true}),
        ),
        E::LegalHoldReleased { .. } => (
            "client.legal_hold_changed",
            json!({"client_id": client_id, "held": false}),
        ),
        // The login's own events say it (portal_user.access_granted / revoked).
        E::PortalUserAttached { .. } | E::PortalUserDetached { .. } => return None,
    })
}

fn portal_user(e: &PortalUserEvent, user_id: Uuid) -> Option<(&'static str, Value)> {
    use PortalUserEvent as E;
    let user = |extra: Value| {
        let mut data = json!({"portal_user_id": user_id});
        if let (Value::Object(data), Value::Object(extra)) = (&mut data, extra) {
            data.extend(extra);
        }
        data
    };
    Some(match e {
        E::PortalUserCreated {
            client_id,
            origin,
            activated,
            ..
        } => (
            "portal_user.created",
            user(json!({
                "client_id": client_id,
                "origin": match origin {
                    Origin::Staff => "staff",
                    Origin::Invitation { .. } => "invitation",
                },
                "status": if *activated { "active" } else { "pending_activation" },
            })),
        ),
        E::PortalUserRenamed { .. } => ("portal_user.updated", user(json!({"changed": ["name"]}))),
        E::PortalUserEmailChanged { .. } => {
            ("portal_user.updated", user(json!({"changed": ["email"]})))
        }
        E::PortalUserActivated { .. } => ("portal_user.activated", user(json!({}))),
        E::PasswordChanged {
            method: PasswordMethod::ResetLink,
        } => ("password.reset_completed", user(json!({}))),
        E::PasswordChanged { method } => (
            "password.changed",
            user(json!({"method": match method {
                PasswordMethod::SetByStaff => "set_by_staff",
                PasswordMethod::ActivationLink => "activation_link",
                PasswordMethod::ChangedByUser => "changed_by_user",
                PasswordMethod::ResetLink => "reset_link",
            }})),
        ),
        E::ClientAccessGranted { client_id } => (
            "portal_user.access_granted",
            user(json!({"client_id": client_id})),
        ),
        E::ClientAccessRevoked { client_id } => (
            "portal_user.access_revoked",
            user(json!({"client_id": client_id})),
        ),
        E::LoginDisabled { .. } => ("portal_user.disabled", user(json!({}))),
        E::LoginEnabled {} => ("portal_user.enabled", user(json!({}))),
        E::LoginUnlocked {} => ("portal_user.unlocked", user(json!({}))),
        E::PortalAccessRemoved { client_ids } => (
            "portal_user.removed",
            user(json!({"client_ids": client_ids})),
        ),
        E::SecondFactorAdded { method } => (
            "portal_user.mfa_changed",
            user(json!({"change": "factor_added", "method": method.as_str()})),
        ),
        E::SecondFactorRemoved { method } => (
            "portal_user.mfa_changed",
            user(json!({"change": "factor_removed", "method": method.as_str()})),
        ),
        E::PasskeyAdded { passkey_id } => (
            "portal_user.mfa_changed",
            user(json!({"change": "factor_added", "method": "passkey", "passkey_id": passkey_id})),
        ),
        E::PasskeyRemoved { passkey_id } => (
            "portal_user.mfa_changed",
            user(
                json!({"change": "factor_removed", "method": "passkey", "passkey_id": passkey_id}),
            ),
        ),
        E::SecondFactorsReset { .. } => {
            ("portal_user.mfa_changed", user(json!({"change": "reset"})))
        }
        // Recovery codes are a detail of logging in, like the logins themselves.
        E::RecoveryCodesIssued { .. } | E::RecoveryCodeUsed { .. } => return None,
        // E-mail links and reminders: their tokens are secrets, their sending is mail's.
        E::UsernameReminderIssued {}
        | E::ActivationLinkIssued { .. }
        | E::PasswordResetLinkIssued { .. } => return None,
    })
}

fn contract(e: &ContractEvent, contract_id: Uuid) -> Option<(&'static str, Value)> {
    use ContractEvent as E;
    Some(match e {
        E::ContractIssued {
            client_id,
            content_sha256,
            ..
        } => (
            "contract.issued",
            json!({"contract_id": contract_id, "client_id": client_id, "content_sha256": content_sha256}),
        ),
        E::ContractSigned {
            portal_user_id,
            content_sha256,
            signed_at,
            ..
        } => (
            "contract.signed",
            json!({
                "contract_id": contract_id,
                "portal_user_id": portal_user_id,
                "content_sha256": content_sha256,
                "signed_at": signed_at,
            }),
        ),
        E::ContractVoided { .. } => ("contract.voided", json!({"contract_id": contract_id})),
        E::SignatureRequested { .. } => return None,
    })
}

/// The stored event types (`ClientInvited`, …) that become messages of the given public
/// types; every catalogued event type for `None` (the feed's `types` filter, as SQL).
pub fn stored_types_for(public_types: Option<&[String]>) -> Vec<&'static str> {
    CATALOGUED
        .iter()
        .filter(|(_, public)| {
            public_types.is_none_or(|wanted| public.iter().any(|p| wanted.iter().any(|w| w == p)))
        })
        .map(|(kind, _)| kind.name())
        .collect()
}

/// Each event kind the catalogue reads, with the public types it can become.
pub const CATALOGUED: &[(EventKind, &[&str])] = &[
    (
        EventKind::Client(C::ClientRegistered),
        &["client.registered"],
    ),
    (EventKind::Client(C::ClientRenamed), &["client.updated"]),
    (
        EventKind::Client(C::ClientEmailChanged),
        &["client.updated"],
    ),
    (EventKind::Client(C::ClientInvited), &["client.invited"]),
    (
        EventKind::Client(C::InvitationRevoked),
        &["invitation.revoked"],
    ),
    (
        EventKind::Client(C::InvitationAccepted),
        &["invitation.accepted"],
    ),
    (EventKind::Client(C::ItemAssigned), &["item.assigned"]),
    (EventKind::Client(C::ItemUnassigned), &["item.unassigned"]),
    (EventKind::Client(C::ClientArchived), &["client.archived"]),
    (EventKind::Client(C::ClientErased), &["client.erased"]),
    (
        EventKind::Client(C::ClientUnarchived),
        &["client.unarchived"],
    ),
    (
        EventKind::Client(C::LegalHoldSet),
        &["client.legal_hold_changed"],
    ),
    (
        EventKind::Client(C::LegalHoldReleased),
        &["client.legal_hold_changed"],
    ),
    (
        EventKind::PortalUser(U::PortalUserCreated),
        &["portal_user.created"],
    ),
    (
        EventKind::PortalUser(U::PortalUserRenamed),
        &["portal_user.updated"],
    ),
    (
        EventKind::PortalUser(U::PortalUserEmailChanged),
        &["portal_user.updated"],
    ),
    (
        EventKind::PortalUser(U::PortalUserActivated),
        &["portal_user.activated"],
    ),
    (
        EventKind::PortalUser(U::PasswordChanged),
        &["password.changed", "password.reset_completed"],
    ),
    (
        EventKind::PortalUser(U::ClientAccessGranted),
        &["portal_user.access_granted"],
    ),
    (
        EventKind::PortalUser(U::ClientAccessRevoked),
        &["portal_user.access_revoked"],
    ),
    (
        EventKind::PortalUser(U::LoginDisabled),
        &["portal_user.disabled"],
    ),
    (
        EventKind::PortalUser(U::LoginEnabled),
        &["portal_user.enabled"],
    ),
    (
        EventKind::PortalUser(U::LoginUnlocked),
        &["portal_user.unlocked"],
    ),
    (
        EventKind::PortalUser(U::PortalAccessRemoved),
        &["portal_user.removed"],
    ),
    (
        EventKind::PortalUser(U::SecondFactorAdded),
        &["portal_user.mfa_changed"],
    ),
    (
        EventKind::PortalUser(U::SecondFactorRemoved),
        &["portal_user.mfa_changed"],
    ),
    (
        EventKind::PortalUser(U::PasskeyAdded),
        &["portal_user.mfa_changed"],
    ),
    (
        EventKind::PortalUser(U::PasskeyRemoved),
        &["portal_user.mfa_changed"],
    ),
    (
        EventKind::PortalUser(U::SecondFactorsReset),
        &["portal_user.mfa_changed"],
    ),
    (EventKind::Contract(K::ContractIssued), &["contract.issued"]),
    (EventKind::Contract(K::ContractSigned), &["contract.signed"]),
    (EventKind::Contract(K::ContractVoided), &["contract.voided"]),
];

#[cfg(test)]
mod tests {
    use super::*;
    use aggregates::webhook::EVENT_TYPES;

    #[test]
    fn the_table_names_stored_events_and_exactly_the_published_types() {
        let kinds = aggregates::events::all_event_type_names();
        assert!(kinds.contains(&"WebhookCreated"));
        let mut published: Vec<&str> = Vec::new();
        for (kind, public) in CATALOGUED {
            assert!(kinds.contains(&kind.name()));
            published.extend(public.iter());
        }
        published.sort();
        published.dedup();
        let mut listed = EVENT_TYPES.to_vec();
        listed.sort();
        assert_eq!(published, listed);
    }

    #[test]
    fn filtering_by_public_type_names_the_stored_types() {
        let reset = ["password.reset_completed".to_string()];
        assert_eq!(stored_types_for(Some(&reset)), ["PasswordChanged"]);
        assert_eq!(stored_types_for(None).len(), CATALOGUED.len());
    }
}
