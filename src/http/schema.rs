//! The published schema of each input value, for `#[schema(schema_with = …)]` and
//! `#[param(schema_with = …)]`: the domain's rules (`aggregates::values::rules`) and lists,
//! so `/openapi.json` promises exactly what the handlers accept. Each value comes in two
//! forms: as is, and `…_or_null` for optional fields, where `null` means "not given".

use aggregates::values::{
    rules, ContractBody, ContractTitle, DisplayName, ExternalRef, ItemDescription, ItemName, Label,
    Money, PersonName, Reason, SignerName,
};
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder};

use serde_json::Value;
use utoipa::openapi::schema::{
    KnownFormat, Object, ObjectBuilder, OneOfBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{RefOr, Schema};

/// Page sizes of lists: 1 to this.
pub const MAX_PAGE: i64 = 200;
/// Page sizes of the audit and invitation logs: 1 to this.
pub const MAX_LONG_PAGE: i64 = 1000;
/// Filters matched exactly (stream ids, event types): at most this many characters.
pub const MAX_SHORT_TEXT: usize = 200;
/// Clients one bulk invitation may name (their ids fit well inside the body limit).
pub const MAX_BULK_IDS: usize = 1000;
/// Token lifetimes: 1 to this many days.
pub const MAX_TOKEN_DAYS: i64 = 365;
/// The spelling of a UUID this API accepts: lower- or upper-case hex, hyphenated.
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// A list cursor (`next_cursor`): the hex of the last row's sort text, a dot, its id.
pub const CURSOR_PATTERN: &str =
    "^(?:[0-9a-f]{2})*\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

fn string(pattern: &str, max_chars: Option<usize>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .max_length(max_chars)
}

fn strings_of(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
}

fn nullable(builder: ObjectBuilder, enumerated: Option<&[&str]>) -> Object {
    let builder = builder.schema_type(SchemaType::from_iter([Type::String, Type::Null]));
    match enumerated {
        Some(values) => builder
            .enum_values(Some(
                values.iter().map(|v| Value::from(*v)).chain([Value::Null]),
            ))
            .build(),
        None => builder.build(),
    }
}

/// Declares `name()` and `name_or_null()` for a string value.
macro_rules! string_value {
    ($($(#[$doc:meta])* $name:ident, $or_null:ident => $build:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name() -> Object {
                $build.build()
            }
            $(#[$doc])*
            pub fn $or_null() -> Object {
                nullable($build, None)
            }
        )*
    };
}

/// Declares `name()` and `name_or_null()` for a value from a fixed list.
macro_rules! enum_value {
    ($($(#[$doc:meta])* $name:ident, $or_null:ident => $values:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name() -> Object {
                strings_of($values).build()
            }
            $(#[$doc])*
            pub fn $or_null() -> Object {
                nullable(ObjectBuilder::new(), Some($values))
            }
        )*
    };
}

string_value! {
    /// A client's name: 1–200 characters, not blank, no control characters.
    display_name, display_name_or_null => string(rules::TEXT, Some(DisplayName::MAX_CHARS));
    /// The firm's reference for a client.
    external_ref, external_ref_or_null => string(rules::TEXT, Some(ExternalRef::MAX_CHARS));
    /// An item's name.
    item_name, item_name_or_null => string(rules::TEXT, Some(ItemName::MAX_CHARS));
    /// An item's description.
    item_description, item_description_or_null =>
        string(rules::TEXT, Some(ItemDescription::MAX_CHARS));
    /// A contract's title.
    contract_title, contract_title_or_null => string(rules::TEXT, Some(ContractTitle::MAX_CHARS));
    /// A contract's text (several lines).
    contract_body, contract_body_or_null =>
        string(rules::MULTILINE_TEXT, Some(ContractBody::MAX_CHARS));
    /// The name a signer types.
    signer_name, signer_name_or_null => string(rules::TEXT, Some(SignerName::MAX_CHARS));
    /// A person's name.
    person_name, person_name_or_null => string(rules::TEXT, Some(PersonName::MAX_CHARS));
    /// Why staff did something (shown to auditors).
    reason, reason_or_null => string(rules::TEXT, Some(Reason::MAX_CHARS));
    /// An e-mail address (ASCII; international domains in `xn--` form).
    /// (No `format: email`: surrounding space is allowed, and trimmed, which that format
    /// does not allow.)
    email, email_or_null => string(rules::EMAIL, Some(rules::EMAIL_MAX_CHARS));
    /// A new portal username.
    username, username_or_null => string(rules::USERNAME, None);
    /// A product code.
    sku, sku_or_null => string(rules::SKU, None);
    /// A new password: 12–256 characters. Also refused (422): a password containing the
    /// username, or one character repeated — rules a schema cannot state.
    password, password_or_null => string(rules::ANY_TEXT, Some(256)).min_length(Some(12));
    /// What a token is for.
    label, label_or_null => string(rules::TEXT, Some(Label::MAX_CHARS));
    /// An exact filter value: anything but NUL, at most 200 characters.
    short_text, short_text_or_null => string(rules::ANY_TEXT, Some(MAX_SHORT_TEXT));
    /// Free text (search terms, login names, tokens): anything but NUL.
    any_text, any_text_or_null => string(rules::ANY_TEXT, None);
    /// A UUID, hyphenated.
    uuid_text, uuid_text_or_null => string(UUID_PATTERN, None)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    /// `next_cursor` of the page before.
    cursor, cursor_or_null => string(CURSOR_PATTERN, None);
    /// An RFC 3339 time.
    date_time, date_time_or_null => ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)));
}

/// A webhook URL: `https://` (or `http://` where private targets are allowed), a host, no
/// credentials. Also refused (422 `webhook_url_not_allowed`): a host that is not public or
/// does not resolve — what DNS answers, which a schema cannot state.
pub fn webhook_url() -> Object {
    string(
        r"^https?://[^\s@/?#]+([/?#]\S*)?$",
        Some(aggregates::webhook::URL_MAX),
    )
    .build()
}

/// The event types a webhook subscribes to: catalogue types (docs/events.md), or `*` alone.
pub fn webhook_event_types() -> utoipa::openapi::schema::Array {
    let mut types = aggregates::webhook::EVENT_TYPES.to_vec();
    types.push("*");
    ArrayBuilder::new()
        .items(strings_of(&types).build())
        .min_items(Some(1))
        .build()
}

/// A comma-separated list of catalogue types, or `*` (the feed's `types`).
pub fn event_type_list() -> Object {
    let one = aggregates::webhook::EVENT_TYPES
        .iter()
        .map(|t| t.replace('.', "\\."))
        .collect::<Vec<_>>()
        .join("|");
    string(&format!("^(\\*|({one})(,({one}))*)$"), None).build()
}

enum_value! {
    /// `true` or `false`.
    boolean_text, boolean_text_or_null => &["true", "false"];
    /// Which clients a bulk invitation takes: `not_invited`.
    bulk_filter, bulk_filter_or_null => &["not_invited"];
}

pub use crate::http::named_enums::{
    client_kind, client_kind_or_null, client_status, client_status_or_null, currency,
    currency_or_null, delivery_status, delivery_status_or_null, invitation_state,
    invitation_state_or_null, notification_kind, notification_kind_or_null, notification_status,
    notification_status_or_null, staff_role, staff_role_or_null,
};

fn whole_number(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
}

/// An amount in the currency's minor unit.
pub fn amount_minor() -> Object {
    whole_number(0, Money::MAX_MINOR).build()
}

/// Declares `name()` for a nullable whole-number policy within its domain bounds.
macro_rules! policy_value {
    ($($(#[$doc:meta])* $name:ident => $bound:path;)*) => {
        $(
            $(#[$doc])*
            pub fn $name() -> Object {
                whole_number($bound.min, $bound.max)
                    .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
                    .build()
            }
        )*
    };
}

policy_value! {
    /// Days an invitation stays usable.
    invitation_ttl_days_or_null => aggregates::policies::INVITATION_TTL_DAYS;
    /// Hours a portal session lasts.
    session_hours_or_null => aggregates::policies::SESSION_HOURS;
    /// Failed logins in 15 minutes that lock a login.
    lockout_failures_or_null => aggregates::policies::LOCKOUT_FAILURES;
    /// Minutes a locked login stays locked.
    lockout_minutes_or_null => aggregates::policies::LOCKOUT_MINUTES;
    /// Days after archiving that a client is erased (`null`: never).
    retention_days_or_null => aggregates::policies::ERASE_ARCHIVED_AFTER_DAYS;
}

/// A token's lifetime in days, or `null` for the default.
pub fn expiry_days_or_null() -> Object {
    whole_number(1, MAX_TOKEN_DAYS)
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .build()
}

/// `true`, the only value that signs.
pub fn must_be_true() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// The bulk invitation body: `{"client_ids": [...]}` or `{"filter": "not_invited"}`.
pub fn bulk_invite_body() -> RefOr<Schema> {
    let null = || ObjectBuilder::new().schema_type(Type::Null);
    let by_ids = ObjectBuilder::new()
        .property(
            "client_ids",
            ArrayBuilder::new()
                .items(uuid_text())
                .min_items(Some(1))
                .max_items(Some(MAX_BULK_IDS)),
        )
        .property("filter", null())
        .required("client_ids")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    let by_filter = ObjectBuilder::new()
        .property("filter", bulk_filter())
        .property("client_ids", null())
        .required("filter")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    RefOr::T(Schema::OneOf(
        OneOfBuilder::new()
            .item(by_ids)
            .item(by_filter)
            .description(Some(
                "Either `client_ids` (1–1000 ids) or `filter` (`not_invited`), not both.",
            ))
            .build(),
    ))
}

/// A staff password reset: `{"mode": "email_link"}` or `{"mode": "set", "new_password"}`.
pub fn password_reset_body() -> RefOr<Schema> {
    let by_link = ObjectBuilder::new()
        .property("mode", strings_of(&["email_link"]))
        .property("new_password", ObjectBuilder::new().schema_type(Type::Null))
        .required("mode")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    let by_staff = ObjectBuilder::new()
        .property("mode", strings_of(&["set"]))
        .property("new_password", password())
        .required("mode")
        .required("new_password")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    RefOr::T(Schema::OneOf(
        OneOfBuilder::new()
            .item(by_link)
            .item(by_staff)
            .description(Some(
                "`email_link`: the user gets a link (a pending user a new activation link); \
                 `set`: staff give the new password.",
            ))
            .build(),
    ))
}

/// A position in the log (query parameter): a whole number ≥ 0.
pub fn position() -> Object {
    whole_number(0, i64::MAX).build()
}

/// A page size (query parameter): 1–200.
pub fn page_size() -> Object {
    whole_number(1, MAX_PAGE).build()
}

/// A place in a chain or the log: a whole number ≥ 1.
pub fn chain_place() -> Object {
    whole_number(1, i64::MAX).build()
}

/// Seconds a long poll may wait: 0–30.
pub fn wait_seconds() -> Object {
    whole_number(0, 30).build()
}

/// A page size of a log (query parameter): 1–1000.
pub fn long_page_size() -> Object {
    whole_number(1, MAX_LONG_PAGE).build()
}

/// A position or an RFC 3339 time (`as_of`).
pub fn position_or_time() -> RefOr<Schema> {
    RefOr::T(Schema::OneOf(
        OneOfBuilder::new()
            .item(position())
            .item(date_time())
            .build(),
    ))
}

/// A PNG image as a body (up or down): a binary string, not an array of numbers.
pub struct PngBody;

impl utoipa::PartialSchema for PngBody {
    fn schema() -> RefOr<Schema> {
        binary("image/png")
    }
}

impl utoipa::ToSchema for PngBody {}

/// The export's body: lines of JSON, one event each.
pub struct NdjsonBody;

impl utoipa::PartialSchema for NdjsonBody {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .content_media_type("application/x-ndjson")
                .description(Some("one JSON object per line"))
                .build(),
        ))
    }
}

impl utoipa::ToSchema for NdjsonBody {}

fn binary(media_type: &str) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .content_media_type(media_type)
            .build(),
    ))
}
