//! A contract issued to a client for signature: its exact content (hashed), and whether it
//! was signed — by whom, when, from where — or voided.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strum::{EnumDiscriminants, IntoStaticStr, VariantArray};
use uuid::Uuid;

use crate::values::{ContractBody, ContractTitle, Reason, SignerName};
use crate::{DomainError, EVENT_VERSION};

/// SHA-256 (hex) over the title, a line feed, and the body: what a signer agrees to.
pub fn content_sha256(title: &ContractTitle, body: &ContractBody) -> String {
    let mut hasher = Sha256::new();
    hasher.update(title.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(body.as_str().as_bytes());
    hex::encode(hasher.finalize())
}

#[derive(Debug, Clone, PartialEq)]
pub enum ContractCommand {
    /// IssueContract. `client_archived` is read from the client's stream by the caller.
    Issue {
        client_id: Uuid,
        title: ContractTitle,
        body: ContractBody,
        client_archived: bool,
        /// The portal users who can act for the client now: each is asked by e-mail to sign.
        signers: Vec<Uuid>,
    },
    Void {
        reason: Option<Reason>,
    },
    /// SignContract, from the portal. `content_sha256` is what the signer was shown.
    Sign {
        portal_user_id: Uuid,
        /// The name typed by the signer, if any.
        signer_name: Option<SignerName>,
        /// The login's full name on file, if it has one: the signer name when none is typed.
        name_on_file: Option<SignerName>,
        content_sha256: String,
        signed_at: DateTime<Utc>,
        ip: Option<String>,
        user_agent: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumDiscriminants)]
#[strum_discriminants(name(ContractEventKind), derive(Hash, IntoStaticStr, VariantArray))]
pub enum ContractEvent {
    ContractIssued {
        client_id: Uuid,
        title: ContractTitle,
        body: ContractBody,
        content_sha256: String,
    },
    /// The client's portal users were asked by e-mail to sign.
    SignatureRequested {
        portal_user_ids: Vec<Uuid>,
    },
    ContractVoided {
        reason: Option<Reason>,
    },
    ContractSigned {
        portal_user_id: Uuid,
        signer_name: SignerName,
        content_sha256: String,
        signed_at: DateTime<Utc>,
        ip: Option<String>,
        user_agent: Option<String>,
    },
}

impl DomainEvent for ContractEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }
    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    AwaitingSignature,
    Signed,
    Voided,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedContract {
    pub client_id: Uuid,
    pub content_sha256: String,
    pub status: ContractStatus,
    /// Who signed and when, once signed.
    #[serde(default)]
    pub signed: Option<(SignerName, DateTime<Utc>)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    pub issued: Option<IssuedContract>,
}

crate::domain_aggregate!(Contract, "contract", ContractCommand, ContractEvent);

impl Contract {
    async fn decide(
        &mut self,
        command: ContractCommand,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        if let ContractCommand::Issue {
            client_id,
            title,
            body,
            client_archived,
            signers,
        } = command
        {
            if self.issued.is_some() {
                return Err(DomainError::AlreadyExists("contract"));
            }
            if client_archived {
                return Err(DomainError::ClientArchived);
            }
            let content_sha256 = content_sha256(&title, &body);
            let issued = ContractEvent::ContractIssued {
                client_id,
                title,
                body,
                content_sha256,
            };
            sink.write(issued, self).await;
            if !signers.is_empty() {
                let asked = ContractEvent::SignatureRequested {
                    portal_user_ids: signers,
                };
                sink.write(asked, self).await;
            }
            return Ok(());
        }
        let contract = self
            .issued
            .clone()
            .ok_or(DomainError::NotFound("contract"))?;
        match contract.status {
            ContractStatus::Signed => return Err(DomainError::ContractAlreadySigned),
            ContractStatus::Voided => return Err(DomainError::ContractVoided),
            ContractStatus::AwaitingSignature => {}
        }
        let event = match command {
            ContractCommand::Issue { .. } => unreachable!("handled above"),
            ContractCommand::Void { reason } => ContractEvent::ContractVoided { reason },
            ContractCommand::Sign {
                portal_user_id,
                signer_name,
                name_on_file,
                content_sha256,
                signed_at,
                ip,
                user_agent,
            } => {
                if content_sha256 != contract.content_sha256 {
                    return Err(DomainError::ContentChanged);
                }
                let signer_name = signer_name
                    .or(name_on_file)
                    .ok_or(DomainError::SignerNameRequired)?;
                ContractEvent::ContractSigned {
                    portal_user_id,
                    signer_name,
                    content_sha256,
                    signed_at,
                    ip,
                    user_agent,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn evolve(&mut self, event: ContractEvent) {
        match event {
            ContractEvent::ContractIssued {
                client_id,
                content_sha256,
                ..
            } => {
                self.issued = Some(IssuedContract {
                    client_id,
                    content_sha256,
                    status: ContractStatus::AwaitingSignature,
                    signed: None,
                })
            }
            ContractEvent::SignatureRequested { .. } => {}
            ContractEvent::ContractVoided { .. } => self.set_status(ContractStatus::Voided),
            ContractEvent::ContractSigned {
                signer_name,
                signed_at,
                ..
            } => {
                self.set_status(ContractStatus::Signed);
                if let Some(c) = self.issued.as_mut() {
                    c.signed = Some((signer_name, signed_at));
                }
            }
        }
    }
}

impl Contract {
    fn set_status(&mut self, status: ContractStatus) {
        if let Some(c) = self.issued.as_mut() {
            c.status = status;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Check;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    type Given = TestFramework<Contract>;

    fn title() -> ContractTitle {
        ContractTitle::parse("Letter of engagement").unwrap()
    }
    /// Issue of client 1's contract `title()`/`body()`.
    fn issue(client_archived: bool, signers: Vec<Uuid>) -> ContractCommand {
        ContractCommand::Issue {
            client_id: Uuid::from_u128(1),
            title: title(),
            body: body(),
            client_archived,
            signers,
        }
    }
    fn body() -> ContractBody {
        ContractBody::parse("We will prepare your tax return.").unwrap()
    }
    fn issued() -> ContractEvent {
        ContractEvent::ContractIssued {
            client_id: Uuid::from_u128(1),
            title: title(),
            body: body(),
            content_sha256: content_sha256(&title(), &body()),
        }
    }
    fn sign(hash: String) -> ContractCommand {
        ContractCommand::Sign {
            portal_user_id: Uuid::from_u128(2),
            signer_name: Some(SignerName::parse("Jo Smith").unwrap()),
            name_on_file: None,
            content_sha256: hash,
            signed_at: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
            ip: Some("127.0.0.1".into()),
            user_agent: None,
        }
    }
    fn signed() -> ContractEvent {
        match sign(content_sha256(&title(), &body())) {
            ContractCommand::Sign {
                portal_user_id,
                signer_name,
                content_sha256,
                signed_at,
                ip,
                user_agent,
                ..
            } => ContractEvent::ContractSigned {
                portal_user_id,
                signer_name: signer_name.unwrap(),
                content_sha256,
                signed_at,
                ip,
                user_agent,
            },
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_hash_covers_title_and_body() {
        let other = ContractTitle::parse("Other").unwrap();
        assert_ne!(
            content_sha256(&title(), &body()),
            content_sha256(&other, &body())
        );
        assert_eq!(content_sha256(&title(), &body()).len(), 64);
    }

    #[tokio::test]
    async fn issuing_records_the_content_hash() {
        Given::writes(vec![], issue(false, vec![]), vec![issued()]).await;
        Given::writes(
            vec![],
            issue(false, vec![Uuid::from_u128(2)]),
            vec![
                issued(),
                ContractEvent::SignatureRequested {
                    portal_user_ids: vec![Uuid::from_u128(2)],
                },
            ],
        )
        .await;
        Given::refuses(vec![], issue(true, vec![]), DomainError::ClientArchived).await;
    }

    #[tokio::test]
    async fn signing_needs_the_current_content_hash() {
        Given::refuses(
            vec![issued()],
            sign("0".repeat(64)),
            DomainError::ContentChanged,
        )
        .await;
        Given::writes(
            vec![issued()],
            sign(content_sha256(&title(), &body())),
            vec![signed()],
        )
        .await;
    }

    #[tokio::test]
    async fn the_signer_name_defaults_to_the_name_on_file() {
        let hash = content_sha256(&title(), &body());
        let untyped = |name_on_file: Option<&str>| ContractCommand::Sign {
            portal_user_id: Uuid::from_u128(2),
            signer_name: None,
            name_on_file: name_on_file.map(|n| SignerName::parse(n).unwrap()),
            content_sha256: hash.clone(),
            signed_at: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
            ip: Some("127.0.0.1".into()),
            user_agent: None,
        };
        Given::writes(vec![issued()], untyped(Some("Jo Smith")), vec![signed()]).await;
        Given::refuses(
            vec![issued()],
            untyped(None),
            DomainError::SignerNameRequired,
        )
        .await;
    }

    #[tokio::test]
    async fn a_signed_contract_cannot_be_voided_or_signed_again() {
        Given::refuses(
            vec![issued(), signed()],
            ContractCommand::Void { reason: None },
            DomainError::ContractAlreadySigned,
        )
        .await;
        Given::refuses(
            vec![issued(), signed()],
            sign(content_sha256(&title(), &body())),
            DomainError::ContractAlreadySigned,
        )
        .await;
    }

    #[tokio::test]
    async fn a_voided_contract_cannot_be_signed() {
        Given::refuses(
            vec![issued(), ContractEvent::ContractVoided { reason: None }],
            sign(content_sha256(&title(), &body())),
            DomainError::ContractVoided,
        )
        .await;
    }
}
