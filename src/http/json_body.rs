//! A JSON request body extractor that tells malformed JSON (400) from well-formed JSON that
//! fails validation (422, naming every bad field), and refuses fields it does not know.

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::Type,
};
use serde_json::{Map, Value};

use super::{
    error::{ApiError, FieldError},
    field_kinds::{FieldKind, Refusal},
    nullable::Nullable,
};

/// A type built from a JSON object by hand, so that every problem is reported by field name.
pub trait FromJsonObject: Sized {
    /// Fields a client sees in responses but may never send (e.g. `id`): sending one is
    /// refused with a message saying the server sets it.
    const READ_ONLY: &'static [&'static str] = &[];

    fn from_json_object(fields: &mut Fields) -> Option<Self>;
}

/// The fields of a JSON object being validated; collects one error per bad field.
pub struct Fields {
    object: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn take(&mut self, name: &str, required: bool) -> Option<Value> {
        let value = self.object.remove(name);
        if value.is_none() && required {
            self.error(name, "is required");
        }
        value
    }

    /// A field of one of the kinds in `field_kinds` (`fields.field::<i64>("parent_id", true)`);
    /// a refusal is reported on the field.
    pub fn field<T: FieldKind>(&mut self, name: &str, required: bool) -> Option<T> {
        let value = self.take(name, required)?;
        self.read(name, value, false)
    }

    /// A field of one of the kinds that may also be `null` (RFC 7396: `null` clears it in a
    /// patch); a refusal is reported on the field (which then counts as absent).
    pub fn nullable_field<T: FieldKind>(&mut self, name: &str) -> Nullable<T> {
        match self.object.remove(name) {
            None => Nullable::Absent,
            Some(Value::Null) => Nullable::Null,
            Some(value) => self
                .read(name, value, true)
                .map_or(Nullable::Absent, Nullable::Value),
        }
    }

    fn read<T: FieldKind>(&mut self, name: &str, value: Value, nullable: bool) -> Option<T> {
        let got = kind(&value);
        match T::from_json(value) {
            Ok(value) => Some(value),
            Err(Refusal::WrongType) => {
                let or_null = if nullable { " or null" } else { "" };
                self.error(name, format!("must be {}{or_null}, not {got}", T::EXPECTED));
                None
            }
            Err(Refusal::Invalid(message)) => {
                self.error(name, message);
                None
            }
        }
    }

    pub fn string(&mut self, name: &str, required: bool) -> Option<String> {
        self.field(name, required)
    }

    /// A string that may also be `null` (RFC 7396: `null` clears it in a patch).
    pub fn nullable_string(&mut self, name: &str) -> Nullable<String> {
        self.nullable_field(name)
    }

    /// A nullable string parsed by a rule type (`fields.nullable("title", Title::parse)`); a
    /// refusal is reported on the field (which then counts as absent).
    pub fn nullable<T, E: std::fmt::Display>(
        &mut self,
        name: &str,
        parse: impl FnOnce(String) -> Result<T, E>,
    ) -> Nullable<T> {
        self.nullable_string(name)
            .try_map(parse)
            .unwrap_or_else(|refusal| {
                self.error(name, refusal.to_string());
                Nullable::Absent
            })
    }

    pub fn boolean(&mut self, name: &str, required: bool) -> Option<bool> {
        self.field(name, required)
    }

    /// Every field not taken is an error: read-only ones and unknown ones alike.
    fn finish(mut self, read_only: &[&str]) -> Vec<FieldError> {
        let rest = std::mem::take(&mut self.object);
        for name in rest.keys() {
            if read_only.contains(&name.as_str()) {
                self.error(name, "is set by the server and cannot be sent");
            } else {
                self.error(name, "is not a known field");
            }
        }
        self.errors
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON request body of type `T` (documented with `T`'s schema), validated field by field.
pub struct ValidatedJson<T>(pub T);

impl<T: FromJsonObject> ValidatedJson<T> {
    pub(super) fn parse(data: &[u8]) -> Result<T, ApiError> {
        if data.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::MalformedJson("the body is empty".to_owned()));
        }
        let value: Value =
            serde_json::from_slice(data).map_err(|err| ApiError::MalformedJson(err.to_string()))?;
        let Value::Object(object) = value else {
            return Err(ApiError::Validation(vec![FieldError::new(
                "",
                format!("the body must be a JSON object, not {}", kind(&value)),
            )]));
        };
        let mut fields = Fields {
            object,
            errors: Vec::new(),
        };
        let parsed = T::from_json_object(&mut fields);
        let errors = fields.finish(T::READ_ONLY);
        match parsed {
            Some(value) if errors.is_empty() => Ok(value),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// `application/json` or any `application/*+json` (e.g. `application/merge-patch+json`).
fn is_json(content_type: &str) -> bool {
    content_type.parse::<mime::Mime>().is_ok_and(|m| {
        m.type_() == mime::APPLICATION
            && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
    })
}

impl<'a, T: Type + FromJsonObject + Send> ApiExtractor<'a> for ValidatedJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if is_json(ct) => {}
            got => {
                return Err(ApiError::UnsupportedMediaType {
                    got: got.map(str::to_owned),
                }
                .into());
            }
        }
        let data = body
            .take()?
            .into_vec()
            .await
            .map_err(|err| ApiError::MalformedJson(err.to_string()))?;
        Ok(Self(Self::parse(&data)?))
    }
}
