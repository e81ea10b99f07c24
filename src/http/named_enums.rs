//! The published lists of values (roles, statuses, kinds), each one schema under its own
//! name in `components/schemas`, referred to by every request field, query parameter and
//! response field that takes it — so a generated client has one `Role`, not a copy per
//! field. `RESPONSE_FIELDS` names the response fields (their structs live in layers below
//! the edge and know no schema).

use aggregates::tenant::StaffRole;
use aggregates::values::{ClientKind, ISO_4217};
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{Ref, RefOr, Schema};

use crate::reads::{clients::CLIENT_STATUSES, invitations::STATES};

/// A portal login's status.
pub const PORTAL_USER_STATUSES: &[&str] = &[
    "pending_activation",
    "active",
    "disabled",
    "locked",
    "removed",
];
/// A contract's status.
pub const CONTRACT_STATUSES: &[&str] = &["awaiting_signature", "signed", "voided"];
/// A staff member's status.
pub const STAFF_STATUSES: &[&str] = &["active", "disabled"];
/// Whom a token acts for.
pub const TOKEN_HOLDERS: &[&str] = &["member", "service", "unnamed"];
/// A webhook delivery's status.
pub const DELIVERY_STATUSES: &[&str] = &["pending", "delivered", "failed"];
/// Why a webhook endpoint was disabled.
pub const DISABLED_REASONS: &[&str] = &["staff", "gone", "failing"];

fn null() -> Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

/// Declares `name()` (a reference to the component) and `name_or_null()` for each list,
/// and `components()`, every list as its component.
macro_rules! named_enums {
    ($($(#[$doc:meta])* $name:ident, $or_null:ident => $component:literal, $values:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name() -> Ref {
                Ref::from_schema_name($component)
            }
            $(#[$doc])*
            pub fn $or_null() -> Schema {
                Schema::OneOf(OneOfBuilder::new().item($name()).item(null()).build())
            }
        )*

        /// Every named list, as `components/schemas` holds it.
        pub fn components() -> Vec<(&'static str, RefOr<Schema>)> {
            vec![$((
                $component,
                RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some($values.iter().copied()))
                        .build(),
                )),
            )),*]
        }
    };
}

named_enums! {
    /// ISO 4217 currency code.
    currency, currency_or_null => "Currency", ISO_4217;
    /// `individual` or `organisation`.
    client_kind, client_kind_or_null => "ClientKind", ClientKind::NAMES;
    /// A staff role.
    staff_role, staff_role_or_null => "Role", StaffRole::NAMES;
    /// An e-mail's delivery status.
    notification_status, notification_status_or_null => "NotificationStatus",
        crate::reads::notifications::STATUSES;
    /// What an e-mail is for.
    notification_kind, notification_kind_or_null => "NotificationKind",
        crate::reads::notifications::KINDS;
    /// A client's portal status.
    client_status, client_status_or_null => "ClientStatus", CLIENT_STATUSES;
    /// An invitation's state.
    invitation_state, invitation_state_or_null => "InvitationState", STATES;
    /// A webhook delivery's status.
    delivery_status, delivery_status_or_null => "DeliveryStatus", DELIVERY_STATUSES;
    /// A portal login's status.
    portal_user_status, portal_user_status_or_null => "PortalUserStatus", PORTAL_USER_STATUSES;
    /// A contract's status.
    contract_status, contract_status_or_null => "ContractStatus", CONTRACT_STATUSES;
    /// A staff member's status.
    staff_status, staff_status_or_null => "StaffStatus", STAFF_STATUSES;
    /// Whom a token acts for.
    token_holder, token_holder_or_null => "TokenHolder", TOKEN_HOLDERS;
    /// Why a webhook endpoint was disabled.
    disabled_reason, disabled_reason_or_null => "WebhookDisabledReason", DISABLED_REASONS;
    /// Whether the firm's portal logins must have a second factor.
    mfa_policy, mfa_policy_or_null => "MfaPolicy", aggregates::policies::MfaPolicy::NAMES;
}

/// Response fields that take a named list: (schema, property, list, nullable).
pub const RESPONSE_FIELDS: &[(&str, &str, &str, bool)] = &[
    ("ClientSummary", "kind", "ClientKind", false),
    ("ClientSummary", "status", "ClientStatus", false),
    ("PortalUserBrief", "status", "PortalUserStatus", false),
    ("PortalUserDetail", "status", "PortalUserStatus", false),
    ("PortalUserCreated", "status", "PortalUserStatus", false),
    ("InvitationView", "state", "InvitationState", false),
    ("ContractView", "status", "ContractStatus", false),
    ("PortalContract", "status", "ContractStatus", false),
    ("Notification", "kind", "NotificationKind", false),
    ("Notification", "status", "NotificationStatus", false),
    ("CheckpointEmail", "status", "NotificationStatus", false),
    ("StaffMemberView", "role", "Role", false),
    ("StaffMemberView", "status", "StaffStatus", false),
    ("TokenView", "role", "Role", false),
    ("TokenView", "holder", "TokenHolder", false),
    ("DeliveryView", "status", "DeliveryStatus", false),
    (
        "WebhookView",
        "disabled_reason",
        "WebhookDisabledReason",
        true,
    ),
    ("Price", "currency", "Currency", false),
    ("Settings", "mfa", "MfaPolicy", false),
];

/// Points each of `RESPONSE_FIELDS` at its list (keeping its description); the fields it
/// did not find, as `Schema.property` (a renamed struct or field: a test fails on any).
pub fn refer_response_fields(
    schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for &(schema, property, list, nullable) in RESPONSE_FIELDS {
        let field = match schemas.get_mut(schema) {
            Some(RefOr::T(Schema::Object(object))) => object.properties.get_mut(property),
            _ => None,
        };
        let Some(field) = field else {
            missing.push(format!("{schema}.{property}"));
            continue;
        };
        let description = match field {
            RefOr::T(Schema::Object(o)) => o.description.clone(),
            _ => None,
        };
        let mut reference = Ref::from_schema_name(list);
        reference.description = description.unwrap_or_default();
        *field = if nullable {
            RefOr::T(Schema::OneOf(
                OneOfBuilder::new().item(reference).item(null()).build(),
            ))
        } else {
            RefOr::Ref(reference)
        };
    }
    missing
}
