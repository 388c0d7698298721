//! Body fields that accept `null`. In a merge patch (RFC 7396) `null` clears a field and
//! leaving it out keeps it; in a create or replace body both mean "no value". The spec
//! marks such a field `nullable`.

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

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = false;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("nullable({})", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
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
}
