//! One readable sentence per event, for the audit history ("what changed"). Matches on the
//! domain's typed events: a renamed field or a new event fails to compile here.

use aggregates::client::{ClientEvent, RevocationReason};
use aggregates::contract::ContractEvent;
use aggregates::events::AnyEvent;
use aggregates::item::ItemEvent;
use aggregates::portal_user::{Origin, PasswordMethod, PersonNames, PortalUserEvent};
use aggregates::staff_member::StaffMemberEvent;
use aggregates::tenant::{TenantEvent, TokenHolder};
use aggregates::values::{Money, Reason};
use aggregates::webhook::WebhookEvent;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

fn money(m: &Money) -> String {
    m.to_string()
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn or<T: std::fmt::Display>(value: Option<&T>, none: &str) -> String {
    value.map_or_else(|| none.to_string(), T::to_string)
}

fn reason(r: &Option<Reason>) -> String {
    or(r.as_ref(), "none given")
}

fn method(m: PasswordMethod) -> &'static str {
    match m {
        PasswordMethod::SetByStaff => "set by staff",
        PasswordMethod::ResetLink => "reset link",
        PasswordMethod::ActivationLink => "activation link",
        PasswordMethod::ChangedByUser => "changed by the user, signed in",
    }
}

pub fn summary(event: &AnyEvent) -> String {
    match event {
        AnyEvent::Client(e) => client(e),
        AnyEvent::PortalUser(e) => portal_user(e),
        AnyEvent::Item(e) => item(e),
        AnyEvent::Contract(e) => contract(e),
        AnyEvent::Tenant(e) => tenant(e),
        AnyEvent::StaffMember(e) => staff_member(e),
        AnyEvent::Webhook(e) => webhook(e),
    }
}

fn client(e: &ClientEvent) -> String {
    use ClientEvent as E;
    match e {
        E::ClientRegistered {
            display_name,
            kind,
            email,
            ..
        } => format!(
            "Client \"{display_name}\" registered ({}), e-mail {}",
            kind.as_str(),
            or(email.as_ref(), "none")
        ),
        E::ClientRenamed { display_name } => format!("Client renamed to \"{display_name}\""),
        E::ClientEmailChanged { email } => format!(
            "Client e-mail changed to {}",
            or(email.as_ref(), "none (removed)")
        ),
        E::ClientInvited {
            invitation_id,
            email,
            expires_at,
        } => format!(
            "Invitation {invitation_id} sent to {email}, valid until {}",
            time(expires_at)
        ),
        E::InvitationRevoked {
            invitation_id,
            reason,
        } => format!(
            "Invitation {invitation_id} {}",
            match reason {
                RevocationReason::Replaced => "replaced by a newer one",
                RevocationReason::Revoked => "revoked by staff",
            }
        ),
        E::InvitationAccepted {
            invitation_id,
            portal_user_id,
        } => format!("Invitation {invitation_id} accepted; portal user {portal_user_id} created"),
        E::PortalUserAttached { portal_user_id } => {
            format!("Portal user {portal_user_id} given access to this client")
        }
        E::PortalUserDetached { portal_user_id } => {
            format!("Portal user {portal_user_id} no longer reaches this client")
        }
        E::ItemAssigned { item_id } => format!("Item {item_id} put on the client's portal"),
        E::ItemUnassigned { item_id } => format!("Item {item_id} removed from the client's portal"),
        E::ClientArchived {} => "Client archived (out of lists and counts)".to_string(),
        E::ClientUnarchived {} => "Client brought back from the archive".to_string(),
        E::LegalHoldSet { reason } => format!("Records put on legal hold (reason: {reason})"),
        E::LegalHoldReleased { reason } => {
            format!("Legal hold on the records released (reason: {reason})")
        }
        E::ClientErased { reason } => {
            format!("Personal data of the client and its logins erased (reason: {reason})")
        }
    }
}

fn portal_user(e: &PortalUserEvent) -> String {
    use PortalUserEvent as E;
    match e {
        E::PortalUserCreated {
            client_id,
            username,
            email,
            first_name,
            last_name,
            origin,
            activated,
        } => {
            let names = PersonNames {
                first_name: first_name.clone(),
                last_name: last_name.clone(),
            };
            let named = names
                .full_name()
                .map(|n| format!(" for {n}"))
                .unwrap_or_default();
            let how = if *activated {
                "active"
            } else {
                "pending activation"
            };
            let via = match origin {
                Origin::Staff => "staff",
                Origin::Invitation { .. } => "invitation",
            };
            format!(
                "Portal login \"{username}\"{named} created for client {client_id} ({how}, by {via}), e-mail {email}"
            )
        }
        E::PortalUserRenamed {
            first_name,
            last_name,
        } => {
            let names = PersonNames {
                first_name: first_name.clone(),
                last_name: last_name.clone(),
            };
            match names.full_name() {
                Some(n) => format!("Login's name set to \"{n}\""),
                None => "Login's name removed".to_string(),
            }
        }
        E::PortalUserEmailChanged { email } => format!("Login's e-mail address changed to {email}"),
        E::UsernameReminderIssued {} => "Username e-mailed to the login's address".to_string(),
        E::ActivationLinkIssued { expires_at, .. } => {
            format!("Activation link sent, valid until {}", time(expires_at))
        }
        E::PortalUserActivated { method: m } => format!("Login activated ({})", method(*m)),
        E::PasswordChanged { method: m } => format!("Password changed ({})", method(*m)),
        E::PasswordResetLinkIssued { expires_at, .. } => {
            format!("Password reset link sent, valid until {}", time(expires_at))
        }
        E::ClientAccessGranted { client_id } => {
            format!("Login given access to client {client_id}")
        }
        E::ClientAccessRevoked { client_id } => {
            format!("Login's access to client {client_id} revoked")
        }
        E::LoginDisabled { reason: r } => format!("Login disabled (reason: {})", reason(r)),
        E::LoginEnabled {} => "Login enabled again".to_string(),
        E::LoginUnlocked {} => "Lockout after failed logins lifted by staff".to_string(),
        E::PortalAccessRemoved { .. } => {
            "Portal access removed; the username stays reserved".to_string()
        }
        E::SecondFactorAdded { method } => {
            format!("Second factor set up: {}", factor(*method))
        }
        E::SecondFactorRemoved { method } => {
            format!("Second factor removed: {}", factor(*method))
        }
        E::PasskeyAdded { passkey_id } => format!("Passkey {passkey_id} registered"),
        E::PasskeyRemoved { passkey_id } => format!("Passkey {passkey_id} removed"),
        E::SecondFactorsReset { reason: r } => {
            format!("Every second factor and recovery code removed by staff (reason: {r})")
        }
        E::RecoveryCodesIssued { count } => format!("{count} new recovery codes issued"),
        E::RecoveryCodeUsed { left } => format!("Recovery code used to log in ({left} left)"),
    }
}

fn factor(method: aggregates::portal_user::FactorMethod) -> &'static str {
    match method {
        aggregates::portal_user::FactorMethod::Totp => "authenticator app",
        aggregates::portal_user::FactorMethod::Passkey => "passkey",
    }
}

fn item(e: &ItemEvent) -> String {
    match e {
        ItemEvent::ItemCreated {
            sku,
            name,
            unit_price,
        } => format!(
            "Item {} \"{name}\" created at {}",
            sku.as_str(),
            money(unit_price)
        ),
        ItemEvent::ItemPriceChanged {
            unit_price,
            previous,
        } => format!(
            "Price changed from {} to {}",
            money(previous),
            money(unit_price)
        ),
        ItemEvent::ItemImageSet { sha256, .. } => format!("Image set (sha256 {sha256})"),
        ItemEvent::ItemRenamed { name } => format!("Item renamed to \"{name}\""),
        ItemEvent::ItemDescriptionChanged { description } => format!(
            "Item description {}",
            description
                .as_ref()
                .map_or("removed".to_string(), |d| format!("set to \"{d}\""))
        ),
        ItemEvent::ItemArchived {} => "Item archived: no longer put on new portals".to_string(),
        ItemEvent::ItemUnarchived {} => "Item taken out of the archive".to_string(),
    }
}

fn contract(e: &ContractEvent) -> String {
    match e {
        ContractEvent::ContractIssued {
            client_id,
            title,
            content_sha256,
            ..
        } => format!(
            "Contract \"{title}\" issued to client {client_id} (content sha256 {content_sha256})"
        ),
        ContractEvent::SignatureRequested { portal_user_ids } => format!(
            "Signature requested by e-mail from portal user{} {}",
            if portal_user_ids.len() == 1 { "" } else { "s" },
            portal_user_ids
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ContractEvent::ContractVoided { reason: r } => {
            format!("Contract voided (reason: {})", reason(r))
        }
        ContractEvent::ContractSigned {
            portal_user_id,
            signer_name,
            signed_at,
            ip,
            ..
        } => format!(
            "Contract signed by \"{signer_name}\" (portal user {portal_user_id}) at {} from {}",
            time(signed_at),
            or(ip.as_ref(), "unknown address")
        ),
    }
}

fn tenant(e: &TenantEvent) -> String {
    match e {
        TenantEvent::TenantCreated { slug, name } => format!("Firm \"{name}\" created as {slug}"),
        TenantEvent::PortalActivationChanged { active } => {
            format!("Portal switched {}", if *active { "on" } else { "off" })
        }
        TenantEvent::StaffTokenIssued {
            token_id,
            role,
            label,
            holder,
            expires_at,
        } => {
            let holder = match holder {
                TokenHolder::Member { staff_id } => format!("for staff member {staff_id}"),
                TokenHolder::Service => "for a service".to_string(),
                TokenHolder::Unnamed => "for no named person".to_string(),
            };
            let until = expires_at.as_ref().map_or("no expiry".to_string(), time);
            format!(
                "Staff token {token_id} issued {holder} with role {} ({}), valid until {until}",
                role.as_str(),
                or(label.as_ref(), "no label")
            )
        }
        TenantEvent::StaffTokenRevoked { token_id } => format!("Staff token {token_id} revoked"),
        TenantEvent::PortalPoliciesChanged { policies: p } => format!(
            "Portal policies set: invitations last {} days, sessions {} hours; {} failed logins lock a login for {} minutes",
            p.invitation_ttl_days, p.session_hours, p.lockout_failures, p.lockout_minutes
        ),
        TenantEvent::CheckpointRecipientChanged { email: Some(email) } => {
            format!("Signed audit checkpoints e-mailed to {email} from now on")
        }
        TenantEvent::CheckpointRecipientChanged { email: None } => {
            "Signed audit checkpoints no longer e-mailed".to_string()
        }
    }
}

fn staff_member(e: &StaffMemberEvent) -> String {
    use StaffMemberEvent as E;
    match e {
        E::StaffMemberCreated { name, email, role } => format!(
            "Staff member \"{name}\" ({email}) added with role {}",
            role.as_str()
        ),
        E::StaffMemberRenamed { name } => format!("Staff member renamed to \"{name}\""),
        E::StaffMemberEmailChanged { email } => format!("Staff member's e-mail changed to {email}"),
        E::StaffMemberRoleChanged { role } => {
            format!("Staff member's role changed to {}", role.as_str())
        }
        E::StaffMemberDisabled {} => "Staff member disabled; their tokens stop working".to_string(),
        E::StaffMemberEnabled {} => "Staff member enabled again".to_string(),
    }
}

fn webhook(e: &WebhookEvent) -> String {
    use WebhookEvent as E;
    match e {
        E::WebhookCreated {
            url, event_types, ..
        } => format!(
            "Webhook to {} added for {}",
            url.as_str(),
            event_types.as_slice().join(", ")
        ),
        E::WebhookUrlChanged { url } => format!("Webhook now sends to {}", url.as_str()),
        E::WebhookEventTypesChanged { event_types } => {
            format!("Webhook now sends {}", event_types.as_slice().join(", "))
        }
        E::WebhookDescriptionChanged { description } => {
            format!("Webhook described as \"{}\"", or(description.as_ref(), ""))
        }
        E::WebhookDisabled { reason } => format!("Webhook disabled ({})", reason.as_str()),
        E::WebhookEnabled {} => "Webhook enabled again".to_string(),
        E::WebhookSecretRotated {
            previous_valid_until,
        } => format!(
            "Webhook signing secret rotated; the previous one signs until {}",
            time(previous_valid_until)
        ),
        E::WebhookDeleted {} => "Webhook deleted".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decoded(stream_type: &str, payload: serde_json::Value) -> AnyEvent {
        AnyEvent::decode(stream_type, payload).unwrap()
    }

    #[test]
    fn sentences_name_what_changed() {
        let price = json!({"ItemPriceChanged": {"unit_price": {"amount_minor": 27550, "currency": "GBP"}, "previous": {"amount_minor": 25000, "currency": "GBP"}}});
        assert_eq!(
            summary(&decoded("item", price)),
            "Price changed from GBP 250.00 to GBP 275.50"
        );
        let disabled = json!({"LoginDisabled": {"reason": null}});
        assert_eq!(
            summary(&decoded("portal_user", disabled)),
            "Login disabled (reason: none given)"
        );
        let created = json!({"PortalUserCreated": {"client_id": "0195a6a0-0000-7000-8000-000000000001",
            "username": "jo", "email": "jo@example.org", "origin": {"via": "staff"}, "activated": false}});
        assert_eq!(
            summary(&decoded("portal_user", created)),
            "Portal login \"jo\" created for client 0195a6a0-0000-7000-8000-000000000001 (pending activation, by staff), e-mail jo@example.org"
        );
    }
}
