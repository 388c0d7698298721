//! The JSON a client sends and receives for webhook subscriptions and their deliveries.

use std::borrow::Cow;

use poem_openapi::{
    Enum, Object,
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;
use url::Url;

use super::{
    delivery_entity, entity,
    events::{self, EventType},
};
use crate::http::{
    field_kinds::{FieldKind, Refusal},
    json_body::{Fields, FromJsonObject},
    nullable::{Nullable, OrNull},
    timestamp::Timestamp,
};

/// Fields every subscription response has and no request may send.
const SERVER_SET: &[&str] = &["id", "created_at", "updated_at", "secret"];

/// A webhook subscription.
#[derive(Object, serde::Serialize)]
pub struct Webhook {
    /// Assigned by the service.
    pub id: i64,
    /// Where events are sent (as the `url` crate normalises it).
    pub url: String,
    /// The event types sent to it.
    pub events: Vec<EventType>,
    pub description: OrNull<String>,
    /// A disabled subscription is sent nothing (a receiver answering `410 Gone` disables
    /// its subscription).
    pub enabled: bool,
    /// When it was created (UTC, microseconds).
    pub created_at: Timestamp,
    /// When it last changed (UTC, microseconds).
    pub updated_at: Timestamp,
}

impl From<entity::Listed> for Webhook {
    fn from(m: entity::Listed) -> Self {
        Self {
            id: m.id,
            url: m.url,
            events: events::load(&m.events),
            description: m.description.into(),
            enabled: m.enabled,
            created_at: Timestamp(m.created_at),
            updated_at: Timestamp(m.updated_at),
        }
    }
}

impl From<entity::Model> for Webhook {
    fn from(m: entity::Model) -> Self {
        entity::Listed::from(m).into()
    }
}

/// A new subscription, with its signing secret: the only response that shows it.
#[derive(Object, serde::Serialize)]
pub struct CreatedWebhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: OrNull<String>,
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Verifies the signature of every delivery (Standard Webhooks: `whsec_` + base64).
    /// Shown once: keep it now.
    pub secret: String,
}

impl CreatedWebhook {
    pub fn new(m: entity::Model) -> Self {
        let secret = m.secret.clone();
        let w = Webhook::from(m);
        Self {
            id: w.id,
            url: w.url,
            events: w.events,
            description: w.description,
            enabled: w.enabled,
            created_at: w.created_at,
            updated_at: w.updated_at,
            secret,
        }
    }
}

/// A new signing secret. The previous one still signs deliveries for 24 hours (each carries
/// both signatures), so receivers can switch without losing any.
#[derive(Object, serde::Serialize)]
pub struct RotatedSecret {
    /// `whsec_` + base64. Shown once: keep it now.
    pub secret: String,
    /// Until when the previous secret also signs deliveries.
    pub previous_secret_expires_at: Timestamp,
}

/// A subscription to create. Any other field is refused.
#[derive(Object)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    #[oai(validator(min_items = 1, unique_items))]
    pub events: Vec<EventType>,
    pub description: Nullable<Description>,
    /// Defaults to true.
    #[oai(default = "default_enabled")]
    pub enabled: bool,
}

fn default_enabled() -> bool {
    true
}

/// A whole subscription, replacing the stored one (a `description` left out is cleared).
/// Any other field is refused.
#[derive(Object)]
pub struct WebhookReplacement {
    pub url: WebhookUrl,
    #[oai(validator(min_items = 1, unique_items))]
    pub events: Vec<EventType>,
    pub description: Nullable<Description>,
    pub enabled: bool,
}

/// Fields to change; those left out keep their value, a `null` description clears it. Any
/// other field is refused.
#[derive(Object)]
pub struct WebhookChanges {
    pub url: Option<WebhookUrl>,
    #[oai(validator(min_items = 1, unique_items))]
    pub events: Option<Vec<EventType>>,
    pub description: Nullable<Description>,
    pub enabled: Option<bool>,
}

impl FromJsonObject for NewWebhook {
    const READ_ONLY: &'static [&'static str] = SERVER_SET;

    fn from_json_object(fields: &mut Fields) -> Option<Self> {
        let url = fields.field("url", true);
        let events = fields.field("events", true);
        let description = fields.nullable_field("description");
        let enabled = fields.boolean("enabled", false);
        Some(Self {
            url: url?,
            events: events?,
            description,
            enabled: enabled.unwrap_or(true),
        })
    }
}

impl FromJsonObject for WebhookReplacement {
    const READ_ONLY: &'static [&'static str] = SERVER_SET;

    fn from_json_object(fields: &mut Fields) -> Option<Self> {
        let url = fields.field("url", true);
        let events = fields.field("events", true);
        let description = fields.nullable_field("description");
        let enabled = fields.boolean("enabled", true);
        Some(Self {
            url: url?,
            events: events?,
            description,
            enabled: enabled?,
        })
    }
}

impl FromJsonObject for WebhookChanges {
    const READ_ONLY: &'static [&'static str] = SERVER_SET;

    fn from_json_object(fields: &mut Fields) -> Option<Self> {
        Some(Self {
            url: fields.field("url", false),
            events: fields.field("events", false),
            description: fields.nullable_field("description"),
            enabled: fields.boolean("enabled", false),
        })
    }
}

/// A subscription's URL: `http` or `https`, with a host, at most 2048 characters (as the
/// `url` crate normalises it, too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(pub Url);

impl WebhookUrl {
    pub const MAX_CHARS: usize = 2048;

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        if !scheme
            .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
        {
            return Err("must be an http or https URL (http://... or https://...)".to_owned());
        }
        if text.contains(['[', ']', '\\']) {
            return Err(
                "must not contain `[`, `]` or `\\` (name an IPv6 receiver by a DNS name)"
                    .to_owned(),
            );
        }
        let url = Url::parse(text).map_err(|err| format!("is not a valid URL: {err}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".to_owned());
        }
        if url.host().is_none() {
            return Err("must have a host".to_owned());
        }
        if url.as_str().chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters, normalised",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(url))
    }
}

/// A URL with an http or https scheme (case-insensitive) and no `[`, `]` or `\`; the rest is
/// checked by parsing. Brackets are legal around an IPv6 host, but a lone `[` trips clients
/// (schemathesis 4.32 crashes on one in a response, and cannot generate strings for a pattern
/// that allows the bracketed host only): an IPv6 receiver is named by a DNS name.
const URL_PATTERN: &str = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\[\\]\\\\]*$";

impl Type for WebhookUrl {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(webhook-url)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "An http or https URL, at most 2048 characters. Unless the service allows \
                 private networks, its host must not be or resolve to a loopback, private, \
                 link-local, unspecified or multicast address.",
            ),
            format: Some("uri"),
            min_length: Some(8),
            max_length: Some(Self::MAX_CHARS),
            pattern: Some(URL_PATTERN.to_owned()),
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

impl FieldKind for WebhookUrl {
    const EXPECTED: &'static str = "a string";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        match value {
            Value::String(s) => Self::parse(&s).map_err(Refusal::Invalid),
            _ => Err(Refusal::WrongType),
        }
    }
}

// Required by `#[derive(Object)]`; request bodies are read by `FromJsonObject` instead.
impl ParseFromJSON for WebhookUrl {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Self::from_json(value.unwrap_or_default()).map_err(|refusal| match refusal {
            Refusal::WrongType => ParseError::custom("must be a string"),
            Refusal::Invalid(message) => ParseError::custom(message),
        })
    }
}

impl ToJSON for WebhookUrl {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.to_string()))
    }
}

/// A subscription's description: at most 500 characters, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(pub String);

impl Description {
    pub const MAX_CHARS: usize = 500;
}

impl Type for Description {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(webhook-description)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("At most 500 characters, no NUL character."),
            max_length: Some(Self::MAX_CHARS),
            pattern: Some("^[^\\u0000]*$".to_owned()),
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

impl FieldKind for Description {
    const EXPECTED: &'static str = "a string";

    fn from_json(value: Value) -> Result<Self, Refusal> {
        match value {
            Value::String(s) if s.contains('\0') => Err(Refusal::Invalid(
                "must not contain the NUL character (U+0000)".to_owned(),
            )),
            Value::String(s) if s.chars().count() <= Self::MAX_CHARS => Ok(Self(s)),
            Value::String(_) => Err(Refusal::Invalid(format!(
                "must be at most {} characters",
                Self::MAX_CHARS
            ))),
            _ => Err(Refusal::WrongType),
        }
    }
}

impl ParseFromJSON for Description {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Self::from_json(value.unwrap_or_default()).map_err(|refusal| match refusal {
            Refusal::WrongType => ParseError::custom("must be a string"),
            Refusal::Invalid(message) => ParseError::custom(message),
        })
    }
}

impl ToJSON for Description {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// Where a delivery stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet: tried again at `next_attempt_at`.
    Pending,
    /// A 2xx answer.
    Succeeded,
    /// Out of attempts, or refused for good (`410 Gone`): retry it by hand.
    Dead,
}

/// One event sent (or to be sent) to a subscription.
#[derive(Object, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    /// The event's type.
    pub event_type: EventType,
    /// The `webhook-id` header: the same on every attempt.
    pub message_id: String,
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// The HTTP status of the last attempt's answer, if it got one.
    pub last_status: OrNull<i32>,
    /// Why the last attempt failed.
    pub last_error: OrNull<String>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: OrNull<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<delivery_entity::Listed> for Delivery {
    fn from(d: delivery_entity::Listed) -> Self {
        Self {
            id: d.id,
            event_type: EventType::parse(&d.event_type).unwrap_or(crate::notes::api::NOTE_UPDATED),
            message_id: d.message_id,
            status: match d.status.as_str() {
                "succeeded" => DeliveryStatus::Succeeded,
                "dead" => DeliveryStatus::Dead,
                _ => DeliveryStatus::Pending,
            },
            attempts: d.attempts,
            last_status: d.last_status.into(),
            last_error: d.last_error.into(),
            next_attempt_at: d.next_attempt_at.map(Timestamp).into(),
            created_at: Timestamp(d.created_at),
            updated_at: Timestamp(d.updated_at),
        }
    }
}
