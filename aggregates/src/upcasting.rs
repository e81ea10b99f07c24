//! Upcasters: how an event stored in an older payload shape is lifted to today's shape
//! before an aggregate or a projection sees it. Every reader of the log applies this list.

use cqrs_es::persist::EventUpcaster;

/// All upcasters, oldest first. Empty while every stored event is at version 1.0; when a
/// payload shape changes, bump the event's version and add a
/// `SemanticVersionEventUpcaster` here rather than rewriting history.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    Vec::new()
}
