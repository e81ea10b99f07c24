//! The rows the commands write beside their events (`store::SideWrite`), one file per
//! feature's tables: a new feature adds its rows here, not in `store/`.

pub mod erasure;
mod factors;
mod item_images;
mod logins;
mod staff;
mod tenants;
mod webhooks;

pub use factors::{
    ConfirmTotp, DeletePasskey, DeletePasskeys, DeleteTotp, EndChallenges, InsertPasskey,
    LiftEnrolmentOnly, ReplaceRecoveryCodes,
};
pub use item_images::ItemImage;
pub use logins::{ClearLoginThrottle, Credential, EndOtherSessions, EndSessions};
pub use staff::{RevokeToken, StaffMember, StaffToken};
pub use tenants::{CheckpointRecipient, Tenant};
pub use webhooks::{DeleteWebhook, NewWebhook, RotateWebhookSecret, Webhook};
