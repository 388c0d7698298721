//! The event types a subscription can ask for, and how a set of them is stored (text,
//! comma-separated, in a fixed order).

use poem_openapi::Enum;

use crate::http::field_kinds::{EnumKind, FieldKind, Refusal};

/// What happened.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum EventType {
    /// A note was created.
    #[oai(rename = "note.created")]
    #[serde(rename = "note.created")]
    NoteCreated,
    /// A note was replaced or changed (PUT or PATCH).
    #[oai(rename = "note.updated")]
    #[serde(rename = "note.updated")]
    NoteUpdated,
    /// A note was deleted.
    #[oai(rename = "note.deleted")]
    #[serde(rename = "note.deleted")]
    NoteDeleted,
}

impl EnumKind for EventType {}

impl EventType {
    pub const ALL: [EventType; 3] = [Self::NoteCreated, Self::NoteUpdated, Self::NoteDeleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoteCreated => "note.created",
            Self::NoteUpdated => "note.updated",
            Self::NoteDeleted => "note.deleted",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A non-empty set of event types, as a body field: a JSON array of distinct names.
impl FieldKind for Vec<EventType> {
    const EXPECTED: &'static str = "an array of event types";

    fn from_json(value: serde_json::Value) -> Result<Self, Refusal> {
        let serde_json::Value::Array(items) = value else {
            return Err(Refusal::WrongType);
        };
        if items.is_empty() {
            return Err(Refusal::Invalid("must name at least one event type".into()));
        }
        let mut types = Vec::with_capacity(items.len());
        for item in items {
            let event = item
                .as_str()
                .and_then(EventType::parse)
                .ok_or_else(|| Refusal::Invalid(invalid_item()))?;
            if types.contains(&event) {
                return Err(Refusal::Invalid(format!("names {} twice", event.as_str())));
            }
            types.push(event);
        }
        Ok(types)
    }
}

fn invalid_item() -> String {
    let names: Vec<_> = EventType::ALL
        .iter()
        .map(|t| format!("\"{}\"", t.as_str()))
        .collect();
    format!("each item must be one of {}", names.join(", "))
}

/// The stored form: names in a fixed order, comma-separated.
pub fn store(types: &[EventType]) -> String {
    let mut sorted = types.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let names: Vec<_> = sorted.iter().map(|t| t.as_str()).collect();
    names.join(",")
}

/// The stored form read back; unknown names (none are written) are skipped.
pub fn load(stored: &str) -> Vec<EventType> {
    stored.split(',').filter_map(EventType::parse).collect()
}

/// Whether the stored set holds `event`.
pub fn wants(stored: &str, event: EventType) -> bool {
    stored.split(',').any(|name| name == event.as_str())
}
