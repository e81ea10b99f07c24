//! One readable sentence per event, for the audit history ("what changed").

use serde_json::Value;

fn field<'a>(payload: &'a Value, name: &str) -> &'a str {
    payload.get(name).and_then(Value::as_str).unwrap_or("?")
}

fn money(v: &Value) -> String {
    let minor = v
        .get("amount_minor")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let currency = v.get("currency").and_then(Value::as_str).unwrap_or("?");
    format!("{currency} {}.{:02}", minor / 100, (minor % 100).abs())
}

fn optional(payload: &Value, name: &str, none: &str) -> String {
    payload
        .get(name)
        .and_then(Value::as_str)
        .map_or_else(|| none.to_string(), str::to_owned)
}

pub fn summary(event_type: &str, p: &Value) -> String {
    match event_type {
        "ClientRegistered" => format!(
            "Client \"{}\" registered ({}), e-mail {}",
            field(p, "display_name"),
            field(p, "kind"),
            optional(p, "email", "none")
        ),
        "ClientRenamed" => format!("Client renamed to \"{}\"", field(p, "display_name")),
        "ClientEmailChanged" => format!(
            "Client e-mail changed to {}",
            optional(p, "email", "none (removed)")
        ),
        "ClientInvited" => format!(
            "Invitation {} sent to {}, valid until {}",
            field(p, "invitation_id"),
            field(p, "email"),
            field(p, "expires_at")
        ),
        "InvitationRevoked" => format!(
            "Invitation {} {}",
            field(p, "invitation_id"),
            match field(p, "reason") {
                "replaced" => "replaced by a newer one",
                _ => "revoked by staff",
            }
        ),
        "InvitationAccepted" => format!(
            "Invitation {} accepted; portal user {} created",
            field(p, "invitation_id"),
            field(p, "portal_user_id")
        ),
        "PortalUserAttached" => format!(
            "Portal user {} given access to this client",
            field(p, "portal_user_id")
        ),
        "PortalUserDetached" => format!(
            "Portal user {} no longer reaches this client",
            field(p, "portal_user_id")
        ),
        "ItemAssigned" => format!("Item {} put on the client's portal", field(p, "item_id")),
        "ItemUnassigned" => format!(
            "Item {} removed from the client's portal",
            field(p, "item_id")
        ),
        "PortalUserCreated" => {
            let how = if p.get("activated").and_then(Value::as_bool) == Some(true) {
                "active"
            } else {
                "pending activation"
            };
            let via = p
                .pointer("/origin/via")
                .and_then(Value::as_str)
                .unwrap_or("staff");
            format!(
                "Portal login \"{}\" created for client {} ({how}, by {via}), e-mail {}",
                field(p, "username"),
                field(p, "client_id"),
                field(p, "email")
            )
        }
        "ActivationLinkIssued" => format!(
            "Activation link sent, valid until {}",
            field(p, "expires_at")
        ),
        "PortalUserActivated" => {
            format!("Login activated ({})", field(p, "method").replace('_', " "))
        }
        "PasswordChanged" => format!(
            "Password changed ({})",
            field(p, "method").replace('_', " ")
        ),
        "PasswordResetLinkIssued" => format!(
            "Password reset link sent, valid until {}",
            field(p, "expires_at")
        ),
        "ClientAccessGranted" => format!("Login given access to client {}", field(p, "client_id")),
        "ClientAccessRevoked" => {
            format!("Login's access to client {} revoked", field(p, "client_id"))
        }
        "LoginDisabled" => format!(
            "Login disabled (reason: {})",
            optional(p, "reason", "none given")
        ),
        "LoginEnabled" => "Login enabled again".to_string(),
        "PortalAccessRemoved" => "Portal access removed; the username stays reserved".to_string(),
        "ItemCreated" => format!(
            "Item {} \"{}\" created at {}",
            field(p, "sku"),
            field(p, "name"),
            money(&p["unit_price"])
        ),
        "ItemPriceChanged" => format!(
            "Price changed from {} to {}",
            money(&p["previous"]),
            money(&p["unit_price"])
        ),
        "ItemImageSet" => format!("Image set (sha256 {})", field(p, "sha256")),
        "ContractIssued" => format!(
            "Contract \"{}\" issued to client {} (content sha256 {})",
            field(p, "title"),
            field(p, "client_id"),
            field(p, "content_sha256")
        ),
        "ContractVoided" => format!(
            "Contract voided (reason: {})",
            optional(p, "reason", "none given")
        ),
        "ContractSigned" => format!(
            "Contract signed by \"{}\" (portal user {}) at {} from {}",
            field(p, "signer_name"),
            field(p, "portal_user_id"),
            field(p, "signed_at"),
            optional(p, "ip", "unknown address")
        ),
        "TenantCreated" => format!(
            "Firm \"{}\" created as {}",
            field(p, "name"),
            field(p, "slug")
        ),
        "PortalActivationChanged" => {
            let state = if p.get("active").and_then(Value::as_bool) == Some(true) {
                "on"
            } else {
                "off"
            };
            format!("Portal switched {state}")
        }
        "StaffTokenIssued" => format!(
            "Staff token {} issued with role {} ({})",
            field(p, "token_id"),
            field(p, "role"),
            optional(p, "label", "no label")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sentences_name_what_changed() {
        let price = json!({"unit_price": {"amount_minor": 27550, "currency": "GBP"}, "previous": {"amount_minor": 25000, "currency": "GBP"}});
        assert_eq!(
            summary("ItemPriceChanged", &price),
            "Price changed from GBP 250.00 to GBP 275.50"
        );
        assert_eq!(
            summary("LoginDisabled", &json!({"reason": null})),
            "Login disabled (reason: none given)"
        );
        assert_eq!(summary("SomethingNew", &json!({})), "SomethingNew");
    }
}
