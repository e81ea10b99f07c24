//! The names and addresses behind a batch of owed e-mails, read from the log once per
//! firm: the clients' names, the logins' addresses and names, the contracts' titles.

use std::collections::{BTreeSet, HashMap};

use aggregates::client::{ClientEvent, ClientEventKind as C};
use aggregates::contract::{ContractEvent, ContractEventKind as K};
use aggregates::events::{AnyEvent, EventKind};
use aggregates::ids::TenantId;
use aggregates::portal_user::{PersonNames, PortalUserEvent, PortalUserEventKind as U};
use eventlog::Envelope;
use projections::ProjectionError;
use sqlx::PgConnection;
use uuid::Uuid;

/// What a login's e-mail needs from its stream: where it belongs, its address and names
/// as they stood when the batch was read.
pub(super) struct Login {
    pub(super) client_id: Uuid,
    pub(super) email: String,
    pub(super) username: String,
    pub(super) names: PersonNames,
}

/// What a contract's e-mails name.
pub(super) struct ContractFacts {
    pub(super) title: String,
    pub(super) content_sha256: String,
}

/// The names and addresses behind a batch's e-mails, read from the log per tenant.
#[derive(Default)]
pub(super) struct Recipients {
    pub(super) client_names: HashMap<Uuid, String>,
    logins: HashMap<Uuid, Login>,
    contracts: HashMap<Uuid, ContractFacts>,
}

impl Recipients {
    pub(super) fn login(&self, id: Uuid) -> Result<&Login, ProjectionError> {
        self.logins
            .get(&id)
            .ok_or_else(|| missing("PortalUserCreated", id))
    }

    pub(super) fn contract(&self, id: Uuid) -> Result<&ContractFacts, ProjectionError> {
        self.contracts
            .get(&id)
            .ok_or_else(|| missing("ContractIssued", id))
    }

    pub(super) async fn of(
        tx: &mut PgConnection,
        keys: &eventlog::DataKeys,
        events: &[&Envelope],
    ) -> Result<Self, ProjectionError> {
        let mut streams: HashMap<TenantId, BTreeSet<Uuid>> = HashMap::new();
        for event in events {
            let of_tenant = streams.entry(event.tenant).or_default();
            of_tenant.insert(event.stream_uuid()?);
            // Contract e-mails go to logins: their streams are read too.
            match &event.event {
                AnyEvent::Contract(ContractEvent::SignatureRequested { portal_user_ids }) => {
                    of_tenant.extend(portal_user_ids.iter().copied());
                }
                AnyEvent::Contract(ContractEvent::ContractSigned { portal_user_id, .. }) => {
                    of_tenant.insert(*portal_user_id);
                }
                _ => {}
            }
        }
        let kinds: [EventKind; 6] = [
            C::ClientRegistered.into(),
            C::ClientRenamed.into(),
            U::PortalUserCreated.into(),
            U::PortalUserRenamed.into(),
            U::PortalUserEmailChanged.into(),
            K::ContractIssued.into(),
        ];
        let mut found = Self::default();
        for (tenant, ids) in streams {
            let ids: Vec<Uuid> = ids.into_iter().collect();
            for e in
                eventlog::queries::events_of_kinds(&mut *tx, keys, tenant, &ids, &kinds).await?
            {
                found.learn(e.stream_id, e.event);
            }
        }
        Ok(found)
    }

    /// Takes in what one event says of a name, a login or a contract (events come in
    /// stream order: the last name wins).
    fn learn(&mut self, stream_id: Uuid, event: AnyEvent) {
        match event {
            AnyEvent::Client(
                ClientEvent::ClientRegistered { display_name, .. }
                | ClientEvent::ClientRenamed { display_name },
            ) => {
                self.client_names
                    .insert(stream_id, display_name.to_string());
            }
            AnyEvent::PortalUser(PortalUserEvent::PortalUserCreated {
                client_id,
                username,
                email,
                first_name,
                last_name,
                ..
            }) => {
                let login = Login {
                    client_id,
                    email: email.as_str().to_string(),
                    username: username.as_str().to_string(),
                    names: PersonNames {
                        first_name,
                        last_name,
                    },
                };
                self.logins.insert(stream_id, login);
            }
            AnyEvent::PortalUser(PortalUserEvent::PortalUserRenamed {
                first_name,
                last_name,
            }) => {
                if let Some(login) = self.logins.get_mut(&stream_id) {
                    login.names = PersonNames {
                        first_name,
                        last_name,
                    };
                }
            }
            AnyEvent::PortalUser(PortalUserEvent::PortalUserEmailChanged { email }) => {
                if let Some(login) = self.logins.get_mut(&stream_id) {
                    login.email = email.as_str().to_string();
                }
            }
            AnyEvent::Contract(ContractEvent::ContractIssued {
                title,
                content_sha256,
                ..
            }) => {
                let facts = ContractFacts {
                    title: title.as_str().to_string(),
                    content_sha256,
                };
                self.contracts.insert(stream_id, facts);
            }
            _ => {}
        }
    }
}

fn missing(event: &str, stream: Uuid) -> ProjectionError {
    ProjectionError::Sql(sqlx::Error::Protocol(format!("no {event} for {stream}")))
}
