//! The one error type every aggregate refuses a command with, and how it is classified.

/// How a refusal should be reported: the HTTP edge maps each to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The thing addressed does not exist (for this tenant).
    NotFound,
    /// A business rule forbids the command in the current state.
    Conflict,
    /// A one-time token or link is no longer usable.
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("a portal policy is out of its bounds")]
    PolicyOutOfBounds,
    #[error("the client is archived")]
    ClientArchived,
    #[error("the portal login is not locked")]
    NotLocked,
    #[error("the portal login is not activated yet")]
    NotActivated,
    #[error("the client still has an active portal login")]
    ClientHasActiveLogins,
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    #[error("the client has no email address to send an invitation to")]
    ClientHasNoEmail,
    #[error("the client already has an active portal login")]
    ClientAlreadyActive,
    #[error("the client has no open invitation")]
    NoOpenInvitation,
    #[error("the invitation is not valid")]
    InvitationInvalid,
    #[error("an individual client can have only one portal user")]
    IndividualClientHasUser,
    #[error("the item is already on this client's portal")]
    ItemAlreadyAssigned,
    #[error("the item is not on this client's portal")]
    ItemNotAssigned,
    #[error("the username is already taken")]
    UsernameTaken,
    #[error("an item with this SKU already exists")]
    SkuTaken,
    #[error("the portal user's access has been removed")]
    PortalUserRemoved,
    #[error("the portal login is already disabled")]
    AlreadyDisabled,
    #[error("the portal login is not disabled")]
    NotDisabled,
    #[error("the portal user already has access to this client")]
    ClientAccessExists,
    #[error("the portal user has no access to this client")]
    ClientAccessNotFound,
    #[error("a portal user must keep access to at least one client")]
    LastClientAccess,
    #[error("the portal user is already active")]
    AlreadyActive,
    #[error("the activation link is not valid")]
    ActivationInvalid,
    #[error("the password reset link is not valid")]
    ResetLinkInvalid,
    #[error("the contract is already signed")]
    ContractAlreadySigned,
    #[error("the contract has been voided")]
    ContractVoided,
    #[error("the contract's content has changed since it was shown")]
    ContentChanged,
    #[error("the staff member is already disabled")]
    StaffMemberAlreadyDisabled,
    #[error("the staff member is not disabled")]
    StaffMemberNotDisabled,
    #[error("the item is archived: it cannot be put on a portal")]
    ItemArchived,
    #[error("a new price must be in the item's currency")]
    CurrencyMismatch,
    #[error("this login has no name on file: the signer must type their name")]
    SignerNameRequired,
    #[error("the firm's client portal is switched off: an invitation link could not be used")]
    PortalInactive,
    #[error("the portal login is not waiting for activation")]
    NotPending,
    #[error("the webhook is already disabled")]
    WebhookAlreadyDisabled,
    #[error("the webhook is not disabled")]
    WebhookNotDisabled,
    #[error("this second factor is already set up")]
    SecondFactorExists,
    #[error("this second factor is not set up")]
    SecondFactorNotFound,
    #[error("the portal login has no second factor")]
    NoSecondFactor,
    #[error("this login already has as many passkeys as it may have: remove one first")]
    TooManyPasskeys,
    #[error("the client's records are already on legal hold")]
    LegalHoldExists,
    #[error("the client's records are not on legal hold")]
    NoLegalHold,
    #[error("the client's records are on legal hold: release the hold before erasing")]
    UnderLegalHold,
    #[error("the client's personal data has been erased")]
    ClientErased,
}

impl DomainError {
    /// Stable snake_case word for machines (problem+json `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::PolicyOutOfBounds => "policy_out_of_bounds",
            Self::ClientArchived => "client_archived",
            Self::NotLocked => "not_locked",
            Self::NotActivated => "not_activated",
            Self::ClientHasActiveLogins => "client_has_active_logins",
            Self::AlreadyExists(_) => "already_exists",
            Self::ClientHasNoEmail => "client_has_no_email",
            Self::ClientAlreadyActive => "client_already_active",
            Self::NoOpenInvitation => "no_open_invitation",
            Self::InvitationInvalid => "invitation_invalid",
            Self::IndividualClientHasUser => "individual_client_has_user",
            Self::ItemAlreadyAssigned => "item_already_assigned",
            Self::ItemNotAssigned => "item_not_assigned",
            Self::UsernameTaken => "username_taken",
            Self::SkuTaken => "sku_taken",
            Self::PortalUserRemoved => "portal_user_removed",
            Self::AlreadyDisabled => "already_disabled",
            Self::NotDisabled => "not_disabled",
            Self::ClientAccessExists => "client_access_exists",
            Self::ClientAccessNotFound => "client_access_not_found",
            Self::LastClientAccess => "last_client_access",
            Self::AlreadyActive => "already_active",
            Self::ActivationInvalid => "activation_invalid",
            Self::ResetLinkInvalid => "reset_link_invalid",
            Self::ContractAlreadySigned => "contract_already_signed",
            Self::ContractVoided => "contract_voided",
            Self::ContentChanged => "content_changed",
            Self::StaffMemberAlreadyDisabled => "already_disabled",
            Self::StaffMemberNotDisabled => "not_disabled",
            Self::ItemArchived => "item_archived",
            Self::CurrencyMismatch => "currency_mismatch",
            Self::SignerNameRequired => "signer_name_required",
            Self::PortalInactive => "portal_inactive",
            Self::NotPending => "not_pending",
            Self::WebhookAlreadyDisabled => "already_disabled",
            Self::WebhookNotDisabled => "not_disabled",
            Self::SecondFactorExists => "second_factor_exists",
            Self::SecondFactorNotFound => "second_factor_not_found",
            Self::NoSecondFactor => "no_second_factor",
            Self::TooManyPasskeys => "too_many_passkeys",
            Self::LegalHoldExists => "legal_hold_exists",
            Self::NoLegalHold => "no_legal_hold",
            Self::UnderLegalHold => "legal_hold",
            Self::ClientErased => "client_erased",
        }
    }

    pub fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound(_)
            | Self::ItemNotAssigned
            | Self::ClientAccessNotFound
            | Self::SecondFactorNotFound => RefusalKind::NotFound,
            Self::InvitationInvalid | Self::ActivationInvalid | Self::ResetLinkInvalid => {
                RefusalKind::Gone
            }
            _ => RefusalKind::Conflict,
        }
    }
}
