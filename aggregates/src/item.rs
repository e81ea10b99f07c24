//! An item (product) a firm can put on customers' portals: its SKU, name, current price and
//! image. The image bytes live outside the log; the event records their SHA-256.

use cqrs_es::event_sink::EventSink;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, IntoStaticStr, VariantArray};

use crate::values::{ItemDescription, ItemName, Money, Sku};
use crate::{DomainError, EVENT_VERSION};

#[derive(Debug, Clone, PartialEq)]
pub enum ItemCommand {
    Create {
        sku: Sku,
        name: ItemName,
        unit_price: Money,
    },
    ChangePrice {
        unit_price: Money,
    },
    SetImage {
        sha256: String,
        size_bytes: u64,
    },
    /// Changes what is given; what equals the current value writes nothing.
    Describe {
        name: Option<ItemName>,
        /// `Some(None)` removes the description.
        description: Option<Option<ItemDescription>>,
    },
    Archive,
    Unarchive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumDiscriminants)]
#[strum_discriminants(name(ItemEventKind), derive(Hash, IntoStaticStr, VariantArray))]
pub enum ItemEvent {
    ItemCreated {
        sku: Sku,
        name: ItemName,
        unit_price: Money,
    },
    ItemPriceChanged {
        unit_price: Money,
        previous: Money,
    },
    ItemImageSet {
        sha256: String,
        size_bytes: u64,
        content_type: String,
    },
    ItemRenamed {
        name: ItemName,
    },
    ItemDescriptionChanged {
        description: Option<ItemDescription>,
    },
    ItemArchived {},
    ItemUnarchived {},
}

impl DomainEvent for ItemEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }
    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemDetails {
    pub sku: Sku,
    pub name: ItemName,
    pub unit_price: Money,
    pub image_sha256: Option<String>,
    #[serde(default)]
    pub description: Option<ItemDescription>,
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub details: Option<ItemDetails>,
}

impl Item {
    pub fn exists(&self) -> bool {
        self.details.is_some()
    }

    /// Whether the item may be put on a client's portal now: it exists and is not archived.
    pub fn ensure_assignable(&self) -> Result<(), DomainError> {
        match &self.details {
            None => Err(DomainError::NotFound("item")),
            Some(d) if d.archived => Err(DomainError::ItemArchived),
            Some(_) => Ok(()),
        }
    }
}

crate::domain_aggregate!(Item, "item", ItemCommand, ItemEvent);

impl Item {
    async fn decide(
        &mut self,
        command: ItemCommand,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        match (command, self.details.clone()) {
            (ItemCommand::Create { .. }, Some(_)) => Err(DomainError::AlreadyExists("item")),
            (
                ItemCommand::Create {
                    sku,
                    name,
                    unit_price,
                },
                None,
            ) => {
                let created = ItemEvent::ItemCreated {
                    sku,
                    name,
                    unit_price,
                };
                sink.write(created, self).await;
                Ok(())
            }
            (_, None) => Err(DomainError::NotFound("item")),
            (ItemCommand::ChangePrice { unit_price }, Some(details)) => {
                // A price list in one currency per item: reports never add EUR to GBP.
                if unit_price.currency != details.unit_price.currency {
                    return Err(DomainError::CurrencyMismatch);
                }
                if unit_price != details.unit_price {
                    let changed = ItemEvent::ItemPriceChanged {
                        unit_price,
                        previous: details.unit_price,
                    };
                    sink.write(changed, self).await;
                }
                Ok(())
            }
            (ItemCommand::SetImage { sha256, size_bytes }, Some(details)) => {
                if details.image_sha256.as_deref() != Some(sha256.as_str()) {
                    let set = ItemEvent::ItemImageSet {
                        sha256,
                        size_bytes,
                        content_type: "image/png".into(),
                    };
                    sink.write(set, self).await;
                }
                Ok(())
            }
            (ItemCommand::Describe { name, description }, Some(details)) => {
                if let Some(name) = name.filter(|n| *n != details.name) {
                    sink.write(ItemEvent::ItemRenamed { name }, self).await;
                }
                if let Some(description) = description.filter(|d| *d != details.description) {
                    let changed = ItemEvent::ItemDescriptionChanged { description };
                    sink.write(changed, self).await;
                }
                Ok(())
            }
            (ItemCommand::Archive, Some(details)) => {
                if !details.archived {
                    sink.write(ItemEvent::ItemArchived {}, self).await;
                }
                Ok(())
            }
            (ItemCommand::Unarchive, Some(details)) => {
                if details.archived {
                    sink.write(ItemEvent::ItemUnarchived {}, self).await;
                }
                Ok(())
            }
        }
    }

    fn evolve(&mut self, event: ItemEvent) {
        match event {
            ItemEvent::ItemCreated {
                sku,
                name,
                unit_price,
            } => {
                self.details = Some(ItemDetails {
                    sku,
                    name,
                    unit_price,
                    image_sha256: None,
                    description: None,
                    archived: false,
                })
            }
            ItemEvent::ItemPriceChanged { unit_price, .. } => {
                if let Some(d) = self.details.as_mut() {
                    d.unit_price = unit_price;
                }
            }
            ItemEvent::ItemImageSet { sha256, .. } => {
                if let Some(d) = self.details.as_mut() {
                    d.image_sha256 = Some(sha256);
                }
            }
            ItemEvent::ItemRenamed { name } => {
                if let Some(d) = self.details.as_mut() {
                    d.name = name;
                }
            }
            ItemEvent::ItemDescriptionChanged { description } => {
                if let Some(d) = self.details.as_mut() {
                    d.description = description;
                }
            }
            ItemEvent::ItemArchived {} | ItemEvent::ItemUnarchived {} => {
                if let Some(d) = self.details.as_mut() {
                    d.archived = matches!(event, ItemEvent::ItemArchived {});
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Check;
    use cqrs_es::test::TestFramework;

    type Given = TestFramework<Item>;

    fn gbp(n: i64) -> Money {
        Money::parse(n, "GBP").unwrap()
    }
    fn created() -> ItemEvent {
        ItemEvent::ItemCreated {
            sku: Sku::parse("TAX-RET").unwrap(),
            name: ItemName::parse("Tax return").unwrap(),
            unit_price: gbp(25000),
        }
    }

    #[tokio::test]
    async fn a_price_change_records_the_previous_price() {
        Given::writes(
            vec![created()],
            ItemCommand::ChangePrice {
                unit_price: gbp(27500),
            },
            vec![ItemEvent::ItemPriceChanged {
                unit_price: gbp(27500),
                previous: gbp(25000),
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn the_same_price_or_image_again_writes_nothing() {
        Given::writes(
            vec![created()],
            ItemCommand::ChangePrice {
                unit_price: gbp(25000),
            },
            vec![],
        )
        .await;
        Given::writes(
            vec![
                created(),
                ItemEvent::ItemImageSet {
                    sha256: "ab".into(),
                    size_bytes: 3,
                    content_type: "image/png".into(),
                },
            ],
            ItemCommand::SetImage {
                sha256: "ab".into(),
                size_bytes: 3,
            },
            vec![],
        )
        .await;
    }

    #[tokio::test]
    async fn a_price_stays_in_the_items_currency() {
        Given::refuses(
            vec![created()],
            ItemCommand::ChangePrice {
                unit_price: Money::parse(25000, "EUR").unwrap(),
            },
            DomainError::CurrencyMismatch,
        )
        .await;
    }

    #[tokio::test]
    async fn renaming_and_describing_write_only_what_changes() {
        let description = ItemDescription::parse("Your annual return, filed.").unwrap();
        Given::writes(
            vec![created()],
            ItemCommand::Describe {
                name: Some(ItemName::parse("Tax return").unwrap()),
                description: Some(Some(description.clone())),
            },
            vec![ItemEvent::ItemDescriptionChanged {
                description: Some(description),
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn an_archived_item_cannot_be_assigned_until_unarchived() {
        Given::writes(
            vec![created()],
            ItemCommand::Archive,
            vec![ItemEvent::ItemArchived {}],
        )
        .await;
        let mut item = Item::default();
        item.evolve(created());
        assert_eq!(item.ensure_assignable(), Ok(()));
        item.evolve(ItemEvent::ItemArchived {});
        assert_eq!(item.ensure_assignable(), Err(DomainError::ItemArchived));
        Given::writes(
            vec![created(), ItemEvent::ItemArchived {}],
            ItemCommand::Archive,
            vec![],
        )
        .await;
        Given::writes(
            vec![created(), ItemEvent::ItemArchived {}],
            ItemCommand::Unarchive,
            vec![ItemEvent::ItemUnarchived {}],
        )
        .await;
    }

    #[tokio::test]
    async fn unknown_items_are_not_found() {
        Given::refuses(
            vec![],
            ItemCommand::ChangePrice { unit_price: gbp(1) },
            DomainError::NotFound("item"),
        )
        .await;
    }
}
