//! The JSON a client sends and receives for notes: the response body, the three request
//! bodies and how each is read field by field, and how `text` appears in the spec.

use std::borrow::Cow;

use poem_openapi::{
    Object,
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

use super::{entity, text::NoteText};
use crate::http::{
    json_body::{Fields, FromJsonObject},
    timestamp::Timestamp,
};

/// Fields every note response has and no request may send.
const SERVER_SET: &[&str] = &["id", "created_at", "updated_at"];

/// A stored note.
#[derive(Object, serde::Serialize)]
pub struct Note {
    /// Assigned by the service.
    pub id: i64,
    pub text: String,
    pub completed: bool,
    /// When the note was created (UTC, microseconds).
    pub created_at: Timestamp,
    /// When the note last changed (UTC, microseconds).
    pub updated_at: Timestamp,
}

impl From<entity::Listed> for Note {
    fn from(m: entity::Listed) -> Self {
        Self {
            id: m.id,
            text: m.text,
            completed: m.completed,
            created_at: Timestamp(m.created_at),
            updated_at: Timestamp(m.updated_at),
        }
    }
}

impl From<entity::Model> for Note {
    fn from(m: entity::Model) -> Self {
        Self {
            id: m.id,
            text: m.text,
            completed: m.completed,
            created_at: Timestamp(m.created_at),
            updated_at: Timestamp(m.updated_at),
        }
    }
}

/// A note to create. Any other field is refused.
#[derive(Object)]
pub struct NewNote {
    pub text: NoteText,
    /// Defaults to false.
    #[oai(default)]
    pub completed: bool,
}

/// A whole note, replacing the stored one. Any other field is refused.
#[derive(Object)]
pub struct NoteReplacement {
    pub text: NoteText,
    pub completed: bool,
}

/// Fields to change; those left out keep their value. Any other field is refused.
#[derive(Object)]
pub struct NoteChanges {
    pub text: Option<NoteText>,
    pub completed: Option<bool>,
}

/// Reads `text` and parses it, reporting a refusal as an error on the field.
fn text(fields: &mut Fields, required: bool) -> Option<NoteText> {
    let raw = fields.string("text", required)?;
    NoteText::parse(raw)
        .map_err(|refusal| fields.error("text", refusal.to_string()))
        .ok()
}

impl FromJsonObject for NewNote {
    const READ_ONLY: &'static [&'static str] = SERVER_SET;

    fn from_json_object(fields: &mut Fields) -> Option<Self> {
        let text = text(fields, true);
        let completed = fields.boolean("completed", false);
        Some(Self {
            text: text?,
            completed: completed.unwrap_or(false),
        })
    }
}

impl FromJsonObject for NoteReplacement {
    const READ_ONLY: &'static [&'static str] = SERVER_SET;

    fn from_json_object(fields: &mut Fields) -> Option<Self> {
        let text = text(fields, true);
        let completed = fields.boolean("completed", true);
        Some(Self {
            text: text?,
            completed: completed?,
        })
    }
}

impl FromJsonObject for NoteChanges {
    const READ_ONLY: &'static [&'static str] = SERVER_SET;

    fn from_json_object(fields: &mut Fields) -> Option<Self> {
        Some(Self {
            text: text(fields, false),
            completed: fields.boolean("completed", false),
        })
    }
}

/// At least one character that is not Unicode White_Space (listed one by one, as
/// `char::is_whitespace` has them, so every regex dialect reads the same set), and no NUL.
const TEXT_PATTERN: &str = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\
    \\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000]*$";

impl Type for NoteText {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(note-text)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("Not blank, at most 10000 characters, no NUL character."),
            min_length: Some(1),
            max_length: Some(NoteText::MAX_CHARS),
            pattern: Some(TEXT_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }))
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

// Required by `#[derive(Object)]`; request bodies are read by `FromJsonObject` instead.
impl ParseFromJSON for NoteText {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => NoteText::parse(s).map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for NoteText {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.as_str().to_owned()))
    }
}
