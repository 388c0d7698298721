//! The event types a subscription can ask for, and how a set of them is stored (text,
//! comma-separated, in a fixed order).

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

use crate::http::field_kinds::{EnumKind, FieldKind, Refusal};

/// What happened: `note.created`. Each resource declares its own (`EventType::new`, in its
/// API module) and lists them once in [`RESOURCES`]; that list is what subscriptions may
/// ask for, and the spec's `enum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventType(&'static str);

/// Every resource's event types, a line per resource.
const RESOURCES: &[&[EventType]] = &[
    &crate::notes::api::EVENTS,
    // A new resource: `&crate::things::api::EVENTS,` on a line here.
];

impl EnumKind for EventType {}

impl EventType {
    /// `resource.happened`: lower case, as subscribers match it exactly.
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// Every event type, in the order of [`RESOURCES`].
    pub fn all() -> impl Iterator<Item = EventType> {
        RESOURCES.iter().flat_map(|types| types.iter().copied())
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::all().find(|t| t.as_str() == name)
    }
}

/// In the order of [`RESOURCES`]: a stored set and a response list them so.
impl Ord for EventType {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let position = |t: &Self| Self::all().position(|known| known == *t);
        (position(self), self.0).cmp(&(position(other), other.0))
    }
}

impl PartialOrd for EventType {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Type for EventType {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "EventType".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |_| MetaSchema {
            description: Some("What happened."),
            enum_items: Self::all().map(|t| Value::from(t.as_str())).collect(),
            ..MetaSchema::new("string")
        });
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for EventType {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(name) => Self::parse(&name).ok_or_else(|| ParseError::custom(invalid())),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for EventType {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.as_str()))
    }
}

impl serde::Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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

fn invalid() -> String {
    let names: Vec<_> = EventType::all()
        .map(|t| format!("\"{}\"", t.as_str()))
        .collect();
    format!("must be one of {}", names.join(", "))
}

fn invalid_item() -> String {
    format!("each item {}", invalid())
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
