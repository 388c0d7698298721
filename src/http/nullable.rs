//! Fields that may be `null`. In a request body, a [`Nullable`]: in a merge patch (RFC 7396)
//! `null` clears a field and leaving it out keeps it; in a create or replace body both mean
//! "no value". In a response, an [`OrNull`]: always sent, `null` when empty. The spec marks
//! both `nullable`.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A field that may be left out, be `null`, or hold a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Nullable<T> {
    /// Not in the body: a patch keeps the stored value.
    #[default]
    Absent,
    /// `null`: a patch clears the stored value.
    Null,
    Value(T),
}

impl<T> Nullable<T> {
    /// For a create or replace body, where left out and `null` both mean no value.
    pub fn into_option(self) -> Option<T> {
        match self {
            Self::Value(value) => Some(value),
            Self::Absent | Self::Null => None,
        }
    }

    /// For a patch: `None` keeps the stored value, `Some(None)` clears it.
    pub fn into_change(self) -> Option<Option<T>> {
        match self {
            Self::Absent => None,
            Self::Null => Some(None),
            Self::Value(value) => Some(Some(value)),
        }
    }

    /// Parses a value with a rule type (`Title::parse`); `null` and absent stay as they are.
    pub fn try_map<U, E>(self, parse: impl FnOnce(T) -> Result<U, E>) -> Result<Nullable<U>, E> {
        Ok(match self {
            Self::Absent => Nullable::Absent,
            Self::Null => Nullable::Null,
            Self::Value(value) => Nullable::Value(parse(value)?),
        })
    }
}

/// `T`'s schema, marked `nullable`.
fn nullable_schema<T: Type>() -> MetaSchemaRef {
    match T::schema_ref() {
        MetaSchemaRef::Inline(mut schema) => {
            schema.nullable = true;
            MetaSchemaRef::Inline(schema)
        }
        // OpenAPI 3.0 ignores siblings of `$ref`: wrap it to say `nullable`.
        reference => MetaSchemaRef::Inline(Box::new(MetaSchema {
            all_of: vec![reference],
            nullable: true,
            ..MetaSchema::ANY
        })),
    }
}

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = false;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("nullable({})", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        nullable_schema::<T>()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        match self {
            Self::Value(value) => value.as_raw_value(),
            Self::Absent | Self::Null => None,
        }
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match self {
            Self::Value(value) => value.raw_element_iter(),
            Self::Absent | Self::Null => Box::new(std::iter::empty()),
        }
    }
}

// Required by `#[derive(Object)]`; request bodies are read by `FromJsonObject` instead.
impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Ok(Self::Absent),
            Some(Value::Null) => Ok(Self::Null),
            Some(value) => T::parse_from_json(Some(value))
                .map(Self::Value)
                .map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<Value> {
        match self {
            Self::Absent => None,
            Self::Null => Some(Value::Null),
            Self::Value(value) => value.to_json(),
        }
    }
}

/// A response field that is always sent: its value, or `null` (`Option<T>` would leave the
/// field out of the schema's `required`). `OrNull<String>` is `type: string, nullable: true`
/// and required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrNull<T>(pub Option<T>);

impl<T> From<Option<T>> for OrNull<T> {
    fn from(value: Option<T>) -> Self {
        Self(value)
    }
}

impl<T: Type> Type for OrNull<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("or_null({})", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        nullable_schema::<T>()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }
}

// Required by `#[derive(Object)]`.
impl<T: ParseFromJSON> ParseFromJSON for OrNull<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Option::<T>::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl<T: ToJSON> ToJSON for OrNull<T> {
    fn to_json(&self) -> Option<Value> {
        Some(
            self.0
                .as_ref()
                .and_then(ToJSON::to_json)
                .unwrap_or(Value::Null),
        )
    }
}

impl<T: serde::Serialize> serde::Serialize for OrNull<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_says_nullable() {
        let MetaSchemaRef::Inline(schema) = Nullable::<String>::schema_ref() else {
            panic!("an inline schema");
        };
        assert!(schema.nullable);
        assert_eq!(schema.ty, "string");
    }

    #[test]
    fn patch_and_create_read_it_differently() {
        assert_eq!(Nullable::<i32>::Absent.into_change(), None);
        assert_eq!(Nullable::<i32>::Null.into_change(), Some(None));
        assert_eq!(Nullable::Value(3).into_change(), Some(Some(3)));
        assert_eq!(Nullable::<i32>::Null.into_option(), None);
        assert_eq!(Nullable::Value(3).into_option(), Some(3));
    }

    #[derive(poem_openapi::Object, serde::Serialize)]
    struct Tag {
        name: String,
        color: OrNull<String>,
        #[oai(nullable)]
        note: Option<String>,
    }

    #[test]
    fn a_response_field_or_null_is_required_and_nullable() {
        let mut registry = Registry::new();
        <Tag as Type>::register(&mut registry);
        let schema = &registry.schemas["Tag"];
        // `Option<T>` marked `nullable` drops out of `required`, though it is always sent.
        assert_eq!(schema.required, ["name", "color"]);
        let color = schema.properties.iter().find(|(name, _)| *name == "color");
        let Some((_, MetaSchemaRef::Inline(color))) = color else {
            panic!("an inline schema for color");
        };
        assert_eq!((color.ty, color.nullable), ("string", true));

        let empty = Tag {
            name: "a".to_owned(),
            color: OrNull(None),
            note: None,
        };
        let expected = serde_json::json!({"name": "a", "color": null, "note": null});
        assert_eq!(serde_json::to_value(&empty).ok(), Some(expected.clone()));
        assert_eq!(empty.to_json(), Some(expected));
        let red = OrNull(Some("red".to_owned()));
        assert_eq!(red.to_json(), Some(Value::String("red".to_owned())));
    }
}
