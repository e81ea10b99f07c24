//! Who an event's command came from, as stored in its metadata: `"actor": {"kind", "id",
//! "name"}` plus `"via_token"` where a token was used. Events from before staff members
//! stored the actor as a string (`staff_token:<id>`, `portal_user:<id>`, `operator`, …);
//! `Actor::of_metadata` reads both, so old events still read correctly.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Staff,
    PortalUser,
    Operator,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::PortalUser => "portal_user",
            Self::Operator => "operator",
            Self::System => "system",
        }
    }
}

/// A person or process behind a command, with the name it had at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<Uuid>,
    pub name: Option<String>,
}

impl Actor {
    pub fn new(kind: ActorKind, id: Option<Uuid>, name: Option<String>) -> Self {
        Self { kind, id, name }
    }

    pub fn operator() -> Self {
        Self::new(ActorKind::Operator, None, None)
    }

    pub fn system() -> Self {
        Self::new(ActorKind::System, None, None)
    }

    /// `kind:id`, or the kind alone: the compact form the audit API's `actor` field shows.
    pub fn reference(&self) -> String {
        match self.id {
            Some(id) => format!("{}:{id}", self.kind.as_str()),
            None => self.kind.as_str().to_string(),
        }
    }

    /// The actor and the token used, read from an event's metadata in either form.
    pub fn of_metadata(metadata: &Value) -> Option<(Self, Option<Uuid>)> {
        let via_token = metadata
            .get("via_token")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::try_parse(s).ok());
        match metadata.get("actor")? {
            Value::String(legacy) => Some(Self::upcast(legacy)),
            object => serde_json::from_value(object.clone())
                .ok()
                .map(|actor| (actor, via_token)),
        }
    }

    /// An actor string from before staff members (metadata version 1).
    fn upcast(legacy: &str) -> (Self, Option<Uuid>) {
        let (kind, id) = legacy.split_once(':').unwrap_or((legacy, ""));
        let id = Uuid::try_parse(id).ok();
        match kind {
            // The token was the only name there was.
            "staff_token" => (Self::new(ActorKind::Staff, None, None), id),
            "portal_user" | "portal_link" | "portal" => {
                (Self::new(ActorKind::PortalUser, id, None), None)
            }
            "operator" => (Self::operator(), None),
            _ => (Self::system(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_object_form_and_upcasts_old_strings() {
        let id = Uuid::now_v7();
        let token = Uuid::now_v7();
        let new =
            json!({"actor": {"kind": "staff", "id": id, "name": "Sam Clerk"}, "via_token": token});
        let (actor, via) = Actor::of_metadata(&new).unwrap();
        assert_eq!(actor.name.as_deref(), Some("Sam Clerk"));
        assert_eq!((actor.id, via), (Some(id), Some(token)));
        assert_eq!(actor.reference(), format!("staff:{id}"));

        let old = json!({"actor": format!("staff_token:{token}")});
        let (actor, via) = Actor::of_metadata(&old).unwrap();
        assert_eq!(
            (actor.kind, actor.id, via),
            (ActorKind::Staff, None, Some(token))
        );
        let old = json!({"actor": format!("portal_user:{id}")});
        assert_eq!(Actor::of_metadata(&old).unwrap().0.id, Some(id));
        let old = json!({"actor": "operator"});
        assert_eq!(
            Actor::of_metadata(&old).unwrap().0.kind,
            ActorKind::Operator
        );
    }
}
